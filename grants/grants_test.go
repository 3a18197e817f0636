package grants

import (
	"slices"
	"testing"
)

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		line   string
		scope  string
		privs  []string
		role   bool
		ignore bool
	}{
		// MariaDB 10.11.19, SHOW GRANTS as printed here (pair.sh servers, users made by hand).
		{line: "GRANT ALL PRIVILEGES ON *.* TO `fwd`@`%` IDENTIFIED BY PASSWORD '*54E37444D6D8BAEA0453E932514675A6C3F0D0DD' WITH GRANT OPTION",
			scope: "*.*", privs: []string{"ALL PRIVILEGES"}},
		{line: "GRANT SELECT, INSERT, UPDATE, DELETE, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*7B9EBEED26AA52ED10C0F549FA863F13C39E0209'",
			scope: "*.*", privs: []string{"SELECT", "INSERT", "UPDATE", "DELETE", "REPLICATION SLAVE", "REPLICATION CLIENT"}},
		{line: "GRANT USAGE ON *.* TO `dbu`@`%` IDENTIFIED BY PASSWORD '*7B9EBEED26AA52ED10C0F549FA863F13C39E0209'",
			scope: "*.*", privs: []string{"USAGE"}},
		{line: "GRANT ALL PRIVILEGES ON `fwdtest`.* TO `dbu`@`%`", scope: "`fwdtest`.*", privs: []string{"ALL PRIVILEGES"}},
		{line: "GRANT SELECT (`v`), INSERT ON `fwdtest`.`t` TO `dbu`@`%`", scope: "`fwdtest`.`t`", privs: []string{"SELECT", "INSERT"}},
		{line: "GRANT SELECT, READ_ONLY ADMIN ON *.* TO `roadm`@`%` IDENTIFIED BY PASSWORD '*7B9EBEED26AA52ED10C0F549FA863F13C39E0209'",
			scope: "*.*", privs: []string{"SELECT", "READ ONLY ADMIN"}},
		{line: "GRANT `r1` TO `rl`@`%`", role: true},
		{line: "SET DEFAULT ROLE `r1` FOR `rl`@`%`", ignore: true},
		{line: "GRANT PROXY ON ``@`%` TO `root`@`127.0.0.1` WITH GRANT OPTION", scope: "``@`%`", privs: []string{"PROXY"}},
		// MySQL 8 (Oracle's "Default MySQL Privileges" page, shortened): dynamic privileges
		// come on their own line, comma-separated without spaces.
		{line: "GRANT SELECT, INSERT, UPDATE, DELETE, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `User001`@`%` WITH GRANT OPTION",
			scope: "*.*", privs: []string{"SELECT", "INSERT", "UPDATE", "DELETE", "REPLICATION SLAVE", "REPLICATION CLIENT"}},
		{line: "GRANT APPLICATION_PASSWORD_ADMIN,AUDIT_ADMIN,BACKUP_ADMIN,CONNECTION_ADMIN ON *.* TO `User001`@`%`",
			scope: "*.*", privs: []string{"APPLICATION PASSWORD ADMIN", "AUDIT ADMIN", "BACKUP ADMIN", "CONNECTION ADMIN"}},
		// A user whose name contains " ON " and " TO ".
		{line: "GRANT SELECT ON `a on b`.* TO `x to y`@`%`", scope: "`a on b`.*", privs: []string{"SELECT"}},
	} {
		g, ok := ParseLine(tc.line)
		if ok == tc.ignore {
			t.Errorf("%q: ok=%v", tc.line, ok)
			continue
		}
		if g.Role != tc.role || g.Scope != tc.scope || !slices.Equal(g.Privs, tc.privs) {
			t.Errorf("%q:\n got %+v\nwant scope %q privs %q role %v", tc.line, g, tc.scope, tc.privs, tc.role)
		}
	}
}

func TestGrants(t *testing.T) {
	gs := Parse([]string{
		"GRANT USAGE ON *.* TO `dbu`@`%` IDENTIFIED BY PASSWORD '*7B9EBEED26AA52ED10C0F549FA863F13C39E0209'",
		"GRANT ALL PRIVILEGES ON `fwdtest`.* TO `dbu`@`%`",
		"GRANT SELECT (`v`), INSERT ON `fwdtest`.`t` TO `dbu`@`%`",
	})
	if gs.HasGlobal("SELECT") || gs.HasRoles() {
		t.Fatal("no global SELECT, no roles")
	}
	if got := gs.Scopes("SELECT"); !slices.Equal(got, []string{"`fwdtest`.*", "`fwdtest`.`t`"}) {
		t.Fatalf("SELECT scopes %q", got)
	}
	if got := gs.Scopes("REPLICATION SLAVE"); len(got) != 0 {
		t.Fatalf("REPLICATION SLAVE scopes %q", got)
	}
	all := Parse([]string{"GRANT ALL PRIVILEGES ON *.* TO `fwd`@`%` WITH GRANT OPTION"})
	for _, p := range []string{"select", "READ_ONLY ADMIN", "REPLICATION CLIENT", "BINLOG MONITOR", "SUPER"} {
		if !all.HasGlobal(p) {
			t.Errorf("ALL PRIVILEGES lacks %s", p)
		}
	}
}

func TestSuperLike(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  bool
	}{
		{"all privileges on *.*", []string{"GRANT ALL PRIVILEGES ON *.* TO `fwd`@`%` IDENTIFIED BY PASSWORD '*54E37444D6D8BAEA0453E932514675A6C3F0D0DD' WITH GRANT OPTION"}, true},
		{"ALL on *.*", []string{"GRANT ALL ON *.* TO 'u'@'%'"}, true},
		{"SUPER among others", []string{"GRANT USAGE ON *.* TO `u`@`%`", "GRANT SELECT, SUPER, PROCESS ON *.* TO `u`@`%`"}, true},
		{"MariaDB CONNECTION ADMIN", []string{"GRANT CONNECTION ADMIN ON *.* TO `u`@`%`"}, true},
		{"MySQL CONNECTION_ADMIN", []string{"GRANT SELECT ON *.* TO `u`@`%`", "GRANT BACKUP_ADMIN,CONNECTION_ADMIN ON *.* TO `u`@`%`"}, true},
		{"all privileges on one database", []string{"GRANT USAGE ON *.* TO `dbu`@`%`", "GRANT ALL PRIVILEGES ON `fwdtest`.* TO `dbu`@`%`"}, false},
		{"SUPER cannot be on a table", []string{"GRANT SELECT ON `db`.`super` TO `u`@`%`"}, false},
		{"database named super", []string{"GRANT ALL PRIVILEGES ON `super`.* TO `u`@`%`"}, false},
		{"user named SUPER", []string{"GRANT SELECT ON *.* TO `SUPER`@`%`"}, false},
		{"host with CONNECTION ADMIN", []string{"GRANT USAGE ON *.* TO `u`@`connection admin`"}, false},
		{"quoted database on *", []string{"GRANT ALL PRIVILEGES ON `*`.* TO `u`@`%`"}, false},
		{"a role alone: its grants are not printed", []string{"GRANT USAGE ON *.* TO `rl`@`%`", "GRANT `admin_role` TO `rl`@`%`"}, false},
		{"an active role's grants", []string{"GRANT USAGE ON *.* TO `rl`@`%`", "GRANT `admin_role` TO `rl`@`%`", "GRANT SUPER ON *.* TO `admin_role`"}, true},
		{"SET DEFAULT ROLE", []string{"SET DEFAULT ROLE `super` FOR `u`@`%`"}, false},
		{"proxy grant", []string{"GRANT PROXY ON ``@`%` TO `root`@`127.0.0.1` WITH GRANT OPTION"}, false},
		{"none", nil, false},
	} {
		if got := SuperLike(tc.lines); got != tc.want {
			t.Errorf("%s: SuperLike(%q) = %v", tc.name, tc.lines, got)
		}
	}
}
