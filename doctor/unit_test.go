package doctor

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/writerlocks"
)

func TestVersionAtLeast(t *testing.T) {
	for _, tc := range []struct {
		v        string
		maj, min int
		want     bool
	}{
		{"10.11.19-MariaDB-0+deb12u1-log", 10, 11, true},
		{"10.11.19-MariaDB-0+deb12u1-log", 10, 12, false},
		{"10.6.16-MariaDB", 10, 11, false},
		{"10.6.16-MariaDB", 10, 5, true},
		{"11.4.2-MariaDB", 10, 11, true},
		{"8.0.36", 8, 0, true},
		{"junk", 1, 0, false},
	} {
		if got := versionAtLeast(tc.v, tc.maj, tc.min); got != tc.want {
			t.Errorf("versionAtLeast(%q, %d, %d) = %v", tc.v, tc.maj, tc.min, got)
		}
	}
}

func TestUserSpec(t *testing.T) {
	for in, want := range map[string]string{"fwd@%": "'fwd'@'%'", "a@b@10.0.0.1": "'a@b'@'10.0.0.1'", "o'k@%": `'o\'k'@'%'`, "": "'<user>'@'%'"} {
		if got := userSpec(in); got != want {
			t.Errorf("userSpec(%q) = %s, want %s", in, got, want)
		}
	}
}

// --- MySQL 8 -----------------------------------------------------------------
//
// No MySQL server can run on the development machines, so these answers are not
// recorded: they are written from the MySQL 8.0 Reference Manual (the SHOW REPLICA
// STATUS example in 19.1.7.1 "Checking Replication Status", variable names and values
// from the server system variable reference) and Oracle's "Default MySQL Privileges"
// SHOW GRANTS example. They exercise the MySQL branches; docker-compose.yml is where
// a real MySQL pair runs.

func rows(cols []string, vals ...[]string) *Rows {
	r := &Rows{Columns: cols}
	for _, v := range vals {
		row := make([]*string, len(v))
		for i := range v {
			if v[i] != "NULL" {
				s := v[i]
				row[i] = &s
			}
		}
		r.Values = append(r.Values, row)
	}
	return r
}

func mysqlVars(over map[string]string) *Rows {
	vars := map[string]string{
		"binlog_expire_logs_seconds": "2592000", "binlog_format": "ROW", "binlog_row_image": "FULL",
		"binlog_row_metadata": "FULL", "enforce_gtid_consistency": "ON", "expire_logs_days": "0",
		"gtid_mode": "ON", "log_bin": "ON", "log_replica_updates": "ON", "log_slave_updates": "ON",
		"max_connections": "151", "read_only": "OFF", "server_id": "1",
		"server_uuid": "73f86016-978b-11ee-ade5-8d2a2a562feb", "session_track_gtids": "OFF",
		"session_track_system_variables": "time_zone,autocommit,character_set_client,character_set_results,character_set_connection",
		"super_read_only":                "OFF",
	}
	for k, v := range over {
		if v == "" {
			delete(vars, k)
		} else {
			vars[k] = v
		}
	}
	var vals [][]string
	for _, k := range varNames {
		if v, ok := vars[k]; ok {
			vals = append(vals, []string{k, v})
		}
	}
	return rows([]string{"Variable_name", "Value"}, vals...)
}

var replicaStatusCols = []string{"Replica_IO_State", "Source_Host", "Source_User", "Source_Port", "Replica_IO_Running",
	"Replica_SQL_Running", "Last_Errno", "Last_Error", "Seconds_Behind_Source", "Last_IO_Errno", "Last_IO_Error",
	"Last_SQL_Errno", "Last_SQL_Error", "Source_Server_Id", "Source_UUID", "Auto_Position"}

func replicaStatus(over map[string]string) *Rows {
	v := map[string]string{"Replica_IO_State": "Waiting for source to send event", "Source_Host": "127.0.0.1",
		"Source_User": "root", "Source_Port": "13000", "Replica_IO_Running": "Yes", "Replica_SQL_Running": "Yes",
		"Last_Errno": "0", "Last_Error": "", "Seconds_Behind_Source": "0", "Last_IO_Errno": "0", "Last_IO_Error": "",
		"Last_SQL_Errno": "0", "Last_SQL_Error": "", "Source_Server_Id": "1",
		"Source_UUID": "73f86016-978b-11ee-ade5-8d2a2a562feb", "Auto_Position": "1"}
	for k, x := range over {
		v[k] = x
	}
	row := make([]string, len(replicaStatusCols))
	for i, c := range replicaStatusCols {
		row[i] = v[c]
	}
	return rows(replicaStatusCols, row)
}

type mysqlSetup struct {
	writerVars, replicaVars map[string]string
	replicaStatus           map[string]string
	grants                  []string
}

func (m mysqlSetup) run(t *testing.T, maxLag time.Duration) *Report {
	t.Helper()
	ident := rows([]string{"@@version", "@@version_comment", "CURRENT_USER()"}, []string{"8.0.36", "MySQL Community Server - GPL", "app@%"})
	grants := m.grants
	if grants == nil {
		grants = []string{"GRANT SELECT, INSERT, UPDATE, DELETE, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `app`@`%`"}
	}
	g := rows([]string{"Grants for app@%"})
	for _, l := range grants {
		g.Values = append(g.Values, []*string{&l})
	}
	rv := map[string]string{"server_id": "2", "server_uuid": "8a94f357-aab4-11df-86ab-c80aa9429562", "read_only": "ON", "super_read_only": "ON"}
	for k, v := range m.replicaVars {
		rv[k] = v
	}
	wlog := []Exchange{
		{Query: identSQL, Rows: ident},
		{Query: varsSQL(), Rows: mysqlVars(m.writerVars)},
		{Query: "SHOW GRANTS", Rows: g},
		{Query: "SET SESSION session_track_gtids = OWN_GTID", Rows: &Rows{}},
		{Query: "SELECT @@SESSION.session_track_gtids", Rows: rows([]string{"@@SESSION.session_track_gtids"}, []string{"OWN_GTID"})},
		{Query: writerlocks.HoldersSQL(), Rows: rows([]string{"kind", "id", "USER", "HOST"})},
	}
	rlog := []Exchange{
		{Query: identSQL, Rows: ident},
		{Query: varsSQL(), Rows: mysqlVars(rv)},
		{Query: "SHOW GRANTS", Rows: g},
		{Query: "SHOW REPLICA STATUS", Rows: replicaStatus(m.replicaStatus)},
	}
	ctx := context.Background()
	w := NewServer(ctx, "writer", "writer:3306", NewReplay(wlog), nil)
	r := NewServer(ctx, "replica", "replica:3306", NewReplay(rlog), nil)
	if w.Flavor != consistency.MySQL || r.Flavor != consistency.MySQL {
		t.Fatalf("flavor %v %v", w.Flavor, r.Flavor)
	}
	return Run(ctx, w, r, Options{MaxLag: maxLag})
}

func TestMySQLHealthy(t *testing.T) {
	checkReport(t, docCase{name: "mysql-healthy"}, mysqlSetup{}.run(t, 5*time.Second))
	rep := mysqlSetup{}.run(t, 5*time.Second)
	for _, c := range []string{"gtid_mode", "enforce_gtid_consistency", "binlog_row_metadata", "log_replica_updates", "super_read_only", "server_uuid", "source"} {
		if len(rep.Find(c)) == 0 {
			t.Errorf("no %s result", c)
		}
	}
}

func TestMySQLBroken(t *testing.T) {
	rep := mysqlSetup{
		writerVars: map[string]string{"gtid_mode": "OFF_PERMISSIVE", "enforce_gtid_consistency": "WARN", "binlog_row_metadata": "MINIMAL",
			"max_connections": "5", "binlog_expire_logs_seconds": "3600"},
		replicaVars: map[string]string{"super_read_only": "OFF", "log_replica_updates": "OFF", "log_slave_updates": "OFF",
			"server_uuid": "73f86016-978b-11ee-ade5-8d2a2a562feb"},
		replicaStatus: map[string]string{"Replica_SQL_Running": "No", "Last_SQL_Errno": "1062", "Last_SQL_Error": "Duplicate entry", "Seconds_Behind_Source": "NULL"},
		grants: []string{
			"GRANT SELECT, INSERT, UPDATE, DELETE, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `app`@`%`",
			"GRANT CONNECTION_ADMIN ON *.* TO `app`@`%`",
		},
	}.run(t, 5*time.Second)
	checkReport(t, docCase{name: "mysql-broken", want: []wantResult{
		{Fail, "writer", "gtid_mode", "gtid_mode=OFF_PERMISSIVE",
			[]string{"SET PERSIST enforce_gtid_consistency = ON;", "SET PERSIST gtid_mode = ON_PERMISSIVE;", "SET PERSIST gtid_mode = ON;"}},
		{Fail, "writer", "enforce_gtid_consistency", "enforce_gtid_consistency=WARN", []string{"SET PERSIST enforce_gtid_consistency = ON;"}},
		{Warn, "writer", "binlog_row_metadata", "binlog_row_metadata=MINIMAL", []string{"SET PERSIST binlog_row_metadata = 'FULL';"}},
		{Warn, "replica", "log_replica_updates", "log_replica_updates=OFF", []string{"SET PERSIST_ONLY log_replica_updates = ON;"}},
		{Fail, "replica", "replication", "Replica_IO_Running=Yes, Replica_SQL_Running=No", []string{"START REPLICA;"}},
		{Fail, "replica", "replication_error", "Last_SQL_Errno=1062: Duplicate entry", []string{"STOP REPLICA;", "START REPLICA;"}},
		{Info, "replica", "lag", "Seconds_Behind_Source=NULL", nil},
		{Fail, "replica", "super_read_only", "super_read_only=OFF", []string{"SET PERSIST super_read_only = ON;"}},
		{Warn, "replica", "read_only_bypass", "app@% has CONNECTION_ADMIN", []string{"SET PERSIST super_read_only = ON;"}},
		{Warn, "writer", "binlog_retention", "purged after 1h0m0s", []string{"SET PERSIST binlog_expire_logs_seconds = 259200;"}},
		{Fail, "pair", "server_uuid", "both have server_uuid 73f86016", nil},
		{Fail, "writer", "max_connections", "max_connections=5: at most 0 sessions forward", []string{"SET PERSIST max_connections = 151;"}},
	}}, rep)
}

// Replication from the wrong server, and lag above --max-lag, on MySQL.
func TestMySQLWrongSourceAndLag(t *testing.T) {
	rep := mysqlSetup{replicaStatus: map[string]string{"Source_Server_Id": "7", "Seconds_Behind_Source": "12"}}.run(t, 5*time.Second)
	checkReport(t, docCase{name: "mysql-source", want: []wantResult{
		{Fail, "replica", "source", "replicates from server_id 7, but --writer writer:3306 is server_id 1",
			[]string{"STOP REPLICA;", "CHANGE REPLICATION SOURCE TO SOURCE_HOST='writer', SOURCE_PORT=3306, SOURCE_USER='repl', SOURCE_PASSWORD='<repl password>', SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1;", "START REPLICA;"}},
		{Fail, "replica", "lag", "Seconds_Behind_Source=12, above --max-lag 5s",
			[]string{"STOP REPLICA SQL_THREAD;", "SET PERSIST replica_parallel_workers = 4;", "START REPLICA SQL_THREAD;"}},
	}}, rep)
}

// The advice for a server that refuses the login (1045) depends on whether
// the other server accepted the same --user; the other server is still checked.
func TestAccessDeniedAdvice(t *testing.T) {
	denied := func(pw string) *ErrRecord {
		return &ErrRecord{Number: 1045, SQLState: "28000", Message: "Access denied for user 'fwd'@'127.0.0.1' (using password: " + pw + ")"}
	}
	compare := "on both servers, compare: SELECT user, host, plugin, authentication_string FROM mysql.user WHERE user = 'fwd';"
	for _, tc := range []struct {
		name            string
		writer, replica *ErrRecord
		want            []wantResult
	}{
		{"replica only", nil, denied("YES"), []wantResult{
			{Fail, "replica", "connect", "the same --user logs in to the writer, so the account or its password differs here", []string{compare}}}},
		{"writer only", denied("YES"), nil, []wantResult{
			{Fail, "writer", "connect", "the same --user logs in to the replica", []string{compare}}}},
		{"both", denied("YES"), denied("YES"), []wantResult{
			{Fail, "writer", "connect", "the password in --user is wrong, or no account matches", []string{"check the password: --user NAME:PASSWORD"}},
			{Fail, "replica", "connect", "the password in --user is wrong, or no account matches", []string{"check the password: --user NAME:PASSWORD"}}}},
		{"no password", nil, denied("NO"), []wantResult{
			{Fail, "replica", "connect", "no password was given", []string{"--user NAME:PASSWORD"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := LoadRecording("testdata/mariadb-healthy.json")
			if err != nil {
				t.Fatal(err)
			}
			rec.WriterConnectError, rec.ReplicaConnectError = tc.writer, tc.replica
			rep := replay(t, rec, Options{MaxLag: 5 * time.Second})
			want := tc.want
			if tc.replica == nil { // the healthy recording's one WARN
				want = append(want, wantResult{Warn, "replica", "read_only_bypass", "", nil})
			}
			checkReport(t, docCase{name: tc.name, want: want}, rep)
			for _, r := range rep.Find("connect") {
				if len(r.Fix) > 0 && strings.Contains(r.Fix[0], "CREATE USER") {
					t.Errorf("%s connect: CREATE USER offered as the first remedy: %q", r.Server, r.Fix)
				}
				for _, f := range r.Fix {
					if strings.Contains(f, "CREATE USER") && !strings.Contains(f, "CREATE USER 'fwd'@'%'") {
						t.Errorf("%s connect: CREATE USER does not name the denied user: %q", r.Server, f)
					}
				}
			}
			var b strings.Builder
			if err := rep.WriteJSON(&b); err != nil || !strings.Contains(b.String(), `"status": "FAIL"`) {
				t.Fatalf("json: %v\n%s", err, b.String())
			}
		})
	}
}

// The instances that share a writer, as its lock holders and process list show them.
func TestInstances(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		rows *Rows
		want string
	}{
		{rows([]string{"kind", "id", "USER", "HOST"}), "no fwdproxy instance uses this writer"},
		{rows([]string{"kind", "id", "USER", "HOST"},
			[]string{"forwarding_off", "41", "fwd", "10.0.0.7:51200"},
			[]string{"instance", "40", "fwd", "10.0.0.7:51190"},
			[]string{"instance", "52", "fwd", "10.0.0.8:40400"}),
			"2 fwdproxy instances use this writer: fwd@10.0.0.7:51190 (connection 40), fwd@10.0.0.8:40400 (connection 52); unless all run with --shared-writer-limits each allows the whole writer connection cap; " +
				"forwarding is switched off for all of them, held by fwd@10.0.0.7:51200 (connection 41)"},
	} {
		w := &Server{Role: "writer", Q: NewReplay([]Exchange{{Query: writerlocks.HoldersSQL(), Rows: tc.rows}}), Flavor: consistency.MariaDB}
		got := CheckInstances(ctx, &Env{W: w})
		if len(got) != 1 || got[0].Status != Info || !strings.Contains(got[0].Detail, tc.want) {
			t.Errorf("got %+v, want INFO %q", got, tc.want)
		}
	}
}

func TestCheckAccounts(t *testing.T) {
	hash := "*54E37444D6D8BAEA0453E932514675A6C3F0D0DD"
	for _, tc := range []struct {
		name   string
		flavor consistency.Flavor
		log    []Exchange
		want   []wantResult
	}{
		{"mysql", consistency.MySQL, []Exchange{{Query: "SELECT User, Host, plugin, authentication_string, account_locked FROM mysql.user",
			Rows: rows([]string{"User", "Host", "plugin", "authentication_string", "account_locked"},
				[]string{"app", "%", "mysql_native_password", hash, "N"}, []string{"new", "%", "caching_sha2_password", "$A$005$x", "N"})}},
			[]wantResult{
				{Pass, "writer", "accounts", "app@% reads mysql.user: 2 accounts, 1 with a mysql_native_password hash", nil},
				{Info, "writer", "accounts_plaintext", "'new'@'%' (caching_sha2_password)", nil},
			}},
		{"mariadb without the privilege", consistency.MariaDB, []Exchange{{Query: "SELECT User, Host, Priv FROM mysql.global_priv",
			Error: &ErrRecord{Number: 1142, Message: "SELECT command denied to user 'app'@'127.0.0.1' for table `mysql`.`global_priv`"}}},
			[]wantResult{{Fail, "writer", "accounts", "app@% cannot read mysql.global_priv", []string{"GRANT SELECT ON mysql.global_priv TO 'app'@'%';"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &Server{Role: "writer", User: "app@%", Q: NewReplay(tc.log), Flavor: tc.flavor}
			got := CheckAccounts(context.Background(), &Env{W: w, Opt: Options{Accounts: true}})
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v", got)
			}
			for i, wr := range tc.want {
				g := got[i]
				if g.Status != wr.status || g.Check != wr.check || !strings.Contains(g.Detail, wr.detail) || wr.fix != nil && !slices.Equal(g.Fix, wr.fix) {
					t.Errorf("result %d = %+v, want %+v", i, g, wr)
				}
			}
		})
	}
}
