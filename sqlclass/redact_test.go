package sqlclass

import "testing"

func TestRedactPasswords(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"SELECT 'secret' FROM t WHERE password = 'x'", "SELECT 'secret' FROM t WHERE password = 'x'"},
		{"CREATE USER 'bob'@'%' IDENTIFIED BY 'hunter2'", "CREATE USER 'bob'@'%' IDENTIFIED BY '<redacted>'"},
		{"create user bob identified by \"hunter2\"", "create user bob identified by '<redacted>'"},
		{"ALTER USER bob@'%' IDENTIFIED BY 'it''s' PASSWORD EXPIRE", "ALTER USER bob@'%' IDENTIFIED BY '<redacted>' PASSWORD EXPIRE"},
		{"ALTER USER bob IDENTIFIED VIA ed25519 USING PASSWORD('p\\'q')", "ALTER USER bob IDENTIFIED VIA ed25519 USING PASSWORD('<redacted>')"},
		{"GRANT ALL ON *.* TO bob IDENTIFIED BY PASSWORD '*ABC'", "GRANT ALL ON *.* TO bob IDENTIFIED BY PASSWORD '<redacted>'"},
		{"SET PASSWORD FOR 'bob'@'%' = PASSWORD('hunter2')", "SET PASSWORD FOR '<redacted>'@'%' = PASSWORD('<redacted>')"},
		{"SET PASSWORD = 'hunter2'", "SET PASSWORD = '<redacted>'"},
		{"SET @password = 'x'", "SET @password = 'x'"},
		{"SET PASSWORD = 'a'; SELECT 'b'", "SET PASSWORD = '<redacted>'; SELECT 'b'"},
		{"/*!80000 CREATE USER bob IDENTIFIED BY 'hunter2' */", "         CREATE USER bob IDENTIFIED BY '<redacted>'   "},
		{"CREATE USER bob /* IDENTIFIED BY 'c' */ IDENTIFIED BY 'hunter2'", "CREATE USER bob /* IDENTIFIED BY 'c' */ IDENTIFIED BY '<redacted>'"},
	} {
		got, changed := RedactPasswords(c.in, Options{})
		if got != c.want || changed != (c.in != c.want) {
			t.Errorf("RedactPasswords(%q) = %q, %v; want %q", c.in, got, changed, c.want)
		}
	}
}
