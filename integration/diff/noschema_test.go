package diff

import (
	"strings"
	"testing"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
)

// brief is an answer on one line: ERR code and message, OK and the
// affected rows, or the rows.
func brief(f fields) string {
	var rows []string
	var cur []string
	curRow := ""
	for _, x := range f {
		switch {
		case strings.HasSuffix(x.name, "err.code"):
			return "ERR " + x.value + " " + value(f, strings.TrimSuffix(x.name, "code")+"message")
		case strings.Contains(x.name, ".row") && strings.Contains(x.name, ".c"):
			row := x.name[:strings.LastIndex(x.name, ".c")]
			if row != curRow && cur != nil {
				rows = append(rows, strings.Join(cur, ","))
				cur = nil
			}
			curRow = row
			cur = append(cur, x.value)
		}
	}
	if cur != nil {
		rows = append(rows, strings.Join(cur, ","))
	}
	if len(rows) == 0 {
		return "OK " + value(f, "r0.ok.affected_rows")
	}
	return strings.Join(rows, " | ")
}

// answer runs sql on c and returns brief's line.
func answer(t *testing.T, c *rawClient, sql string) string {
	t.Helper()
	if err := c.command(append([]byte{gmysql.COM_QUERY}, sql...)); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	f, err := c.readResponse(textResult, nil)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return brief(f)
}

// With CLIENT_NO_SCHEMA MariaDB drops the schema of every db.table and
// db.table.column (not of db.f() or CALL db.p()), for the connection's
// life (COM_CHANGE_USER keeps it). Through the proxy a client that
// negotiated it gets what the server gives it: the flag reaches both
// backends, and the proxy routes by the names the server reads (a
// temporary table by another database's name is still the temporary
// table, so the write to it stays on the reader).
func TestNoSchemaAsTheServer(t *testing.T) {
	h := newHarness(t)
	const ns2 = "fwdns2"
	if err := thePair.CreateDatabase(ns2); err != nil {
		t.Fatal(err)
	}
	h.execAll(t, []string{
		"CREATE OR REPLACE TABLE t (v VARCHAR(10))", "INSERT INTO t VALUES ('diff')",
		"CREATE OR REPLACE TABLE fwdns2.t (v VARCHAR(10), w INT)", "INSERT INTO fwdns2.t VALUES ('ns2', 2)",
		"CREATE OR REPLACE TABLE `tables` (x INT)", "INSERT INTO `tables` VALUES (42)",
		"CREATE OR REPLACE FUNCTION fwdns2.f() RETURNS VARCHAR(10) DETERMINISTIC RETURN 'ns2f'",
	})
	flag := uint32(gmysql.CLIENT_NO_SCHEMA)
	r := rawDial(t, thePair.ReaderAddr, baseCaps|flag)
	p := rawDial(t, h.proxyAddr, baseCaps|flag)
	if p.caps&flag == 0 {
		t.Fatal("the proxy does not offer CLIENT_NO_SCHEMA")
	}
	if got := answer(t, r, "SELECT * FROM fwdns2.t"); got != `"diff"` {
		t.Fatalf("the reader reads fwdns2.t as %s; this test expects the current database's t", got)
	}
	reads := []string{
		"SELECT * FROM fwdns2.t", "SELECT * FROM nosuch.t", "SELECT fwdns2.t.v FROM fwdns2.t",
		"SELECT * FROM information_schema.tables", "SELECT * FROM mysql.user", "SELECT fwdns2.f()",
		"SHOW CREATE TABLE fwdns2.t", "SELECT * FROM information_schema.global_status",
		"PREPARE s FROM 'SELECT * FROM fwdns2.t'", "EXECUTE s",
		// MariaDB reads information_schema for these itself, by names the
		// flag strips too: 1146 (fwddiff.COLUMNS, SESSION_VARIABLES,
		// SESSION_STATUS), from the proxy as from the server.
		"SHOW COLUMNS FROM fwdns2.t", "SHOW VARIABLES LIKE 'aurora%'", "SHOW STATUS LIKE 'Com_select'",
	}
	for _, q := range reads {
		if want, got := answer(t, r, q), answer(t, p, q); got != want {
			t.Errorf("%s: proxy %s, reader %s", q, got, want)
		}
	}
	// A write goes where the writer itself puts it: the current database.
	for _, q := range []string{"INSERT INTO fwdns2.t (v) VALUES ('w')", "UPDATE nosuch.t SET v = 'w2' WHERE v = 'w'"} {
		if got := answer(t, p, q); got != "OK 1" {
			t.Errorf("%s: %s", q, got)
		}
	}
	// A temporary table shadowing t, made and written by other names.
	for _, x := range [][2]string{
		{"CREATE TEMPORARY TABLE nosuch.t (v VARCHAR(10))", "OK 0"},
		{"INSERT INTO other.t VALUES ('tmp')", "OK 1"},
		{"SELECT * FROM zz.t", `"tmp"`},
	} {
		if got := answer(t, p, x[0]); got != x[1] {
			t.Errorf("%s: %s, want %s", x[0], got, x[1])
		}
	}
	var here, there string
	if err := h.writer.QueryRow("SELECT (SELECT GROUP_CONCAT(v ORDER BY v) FROM t), (SELECT GROUP_CONCAT(v) FROM fwdns2.t)").Scan(&here, &there); err != nil {
		t.Fatal(err)
	}
	if here != "diff,w2" || there != "ns2" {
		t.Errorf("on the writer t is %q, fwdns2.t %q; want \"diff,w2\" and \"ns2\"", here, there)
	}
	// The flag outlives COM_CHANGE_USER and COM_RESET_CONNECTION, on the
	// server and through the proxy: it is the connection's.
	h.execAll(t, nil) // the reader has the writes above
	q := "SELECT COUNT(*) FROM fwdns2.t"
	for _, cmd := range []string{"COM_CHANGE_USER", "COM_RESET_CONNECTION"} {
		for _, c := range []*rawClient{r, p} {
			var err error
			if cmd == "COM_CHANGE_USER" {
				err = c.changeUser(thePair.User, thePair.Password, testDB)
			} else if err = c.command([]byte{gmysql.COM_RESET_CONNECTION}); err == nil {
				_, err = c.readResponse(textResult, nil)
			}
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
		}
		if want, got := answer(t, r, q), answer(t, p, q); got != want || want != `"2"` {
			t.Errorf("after %s %s: proxy %s, reader %s (want 2: the current database's t)", cmd, q, got, want)
		}
	}
}
