package integration

// Issue 12, against the pair through the fwdproxy binary: one test for each
// place where a prepared statement (binary COM_STMT_PREPARE/EXECUTE, or SQL
// PREPARE … FROM / EXECUTE) was routed differently from its text form, and
// for COMMIT /* RELEASE */. Each compares with what the server itself does,
// or, where only the proxy knows the statement, with the text form through
// the proxy. The proxy runs with the pair's ALL PRIVILEGES user (who could
// write to the read_only replica); startBinary checks afterwards that
// nothing did.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"
)

// errText names a server error by its code, from either client.
func errText(err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return fmt.Sprintf("error %d: %s", me.Number, me.Message)
	}
	var ge *gmysql.MyError
	if asMyError(err, &ge) {
		return fmt.Sprintf("error %d: %s", ge.Code, ge.Message)
	}
	return err.Error()
}

// valueOrErr is a one-value read as a comparable string: the value, or the error.
func valueOrErr(c interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, q string, args ...any) string {
	var v sql.NullString
	if err := c.QueryRowContext(ctx, q, args...).Scan(&v); err != nil {
		return errText(err)
	}
	return v.String
}

// 1. A binary prepared CREATE TEMPORARY TABLE makes the table on the reader
// with forwarding off (not 1290) and on (not on the writer), so that the
// next text read finds it.
func TestRoutePreparedCreateTemporaryTable(t *testing.T) {
	// createThenRead prepares and executes the CREATE, then reads the table
	// in the text protocol: "server id: rows", or the error.
	createThenRead := func(c *client.Conn) string {
		st, err := c.Prepare("CREATE TEMPORARY TABLE rt_tmp (id INT)")
		if err != nil {
			return "prepare: " + errText(err)
		}
		defer st.Close()
		if _, err := st.Execute(); err != nil {
			return "execute: " + errText(err)
		}
		r, err := c.Execute("SELECT @@server_id, COUNT(*) FROM rt_tmp")
		if err != nil {
			return "text SELECT: " + errText(err)
		}
		return fmt.Sprintf("%v: %v rows", r.Values[0][0].Value(), r.Values[0][1].Value())
	}
	if got := createThenRead(rawConn(t, thePair.WriterAddr)); got != "1: 0 rows" {
		t.Fatalf("on the server itself: %s", got)
	}
	for _, tc := range []struct {
		name, level string
		flags       []string
	}{
		{"forwarding off in the session", "", nil},
		{"forwarding off in the proxy", "", []string{"--forwarding", "disabled"}},
		{"forwarding on", "SESSION", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startBinary(t, tc.flags...)
			c := rawConn(t, addr)
			if tc.level != "" {
				rawExec(t, c, "SET aurora_replica_read_consistency = '"+tc.level+"'")
			}
			// As on the server, but on the reader (server 2).
			if got := createThenRead(c); got != "2: 0 rows" {
				t.Errorf("prepared CREATE TEMPORARY TABLE, then a text read: %s; want 2: 0 rows", got)
			}
		})
	}
}

// 2. A binary prepared SELECT … FOR UPDATE with forwarding off runs on the
// reader like its text form (not 1792 from the reader's guard).
func TestRoutePreparedLockingReadForwardingOff(t *testing.T) {
	table(t, "rt_lock")
	const prepared = "SELECT @@server_id FROM rt_lock WHERE id = ? FOR UPDATE"
	if got := valueOrErr(writerDB(t), prepared, 1); got != "1" {
		t.Fatalf("on the server itself: %s", got)
	}
	for name, flags := range map[string][]string{
		"forwarding off in the session": nil,
		"forwarding off in the proxy":   {"--forwarding", "disabled", "--default-consistency", "SESSION"},
	} {
		t.Run(name, func(t *testing.T) {
			_, addr := startBinary(t, flags...)
			c := conn(t, addr, "")
			text := valueOrErr(c, "SELECT @@server_id FROM rt_lock WHERE id = 1 FOR UPDATE")
			if text != "2" {
				t.Fatalf("text form: %s, want the reader (2)", text)
			}
			if got := valueOrErr(c, prepared, 1); got != text {
				t.Errorf("prepared %s: %s; the text form ran on the reader (%s)", prepared, got, text)
			}
		})
	}
}

// 3. Inside a forwarded transaction, a prepared read of a temporary table
// reads it on the reader, where it lives, as the text form does (not 1146 on
// the writer; not 1243 for SQL EXECUTE).
func TestRoutePreparedTempReadInForwardedTransaction(t *testing.T) {
	table(t, "rt_txn")
	// reads returns what the text, binary and SQL-prepared reads of the
	// temporary table see once the transaction has written.
	reads := func(t *testing.T, c *sql.Conn) []string {
		exec(t, c, "CREATE TEMPORARY TABLE rt_txn_tmp (v INT)")
		exec(t, c, "INSERT INTO rt_txn_tmp VALUES (7)")
		exec(t, c, "BEGIN")
		exec(t, c, "INSERT INTO rt_txn (v) VALUES (30)")
		if id := one(t, c, "SELECT @@server_id"); id != "1" {
			t.Fatalf("the transaction's reads run on server %s after its write, want the writer (1)", id)
		}
		got := []string{
			"text " + valueOrErr(c, "SELECT v FROM rt_txn_tmp"),
			"binary " + valueOrErr(c, "SELECT v FROM rt_txn_tmp WHERE v = ?", 7),
		}
		if err := errOf(c, "PREPARE rt_s FROM 'SELECT v FROM rt_txn_tmp'"); err != nil {
			got = append(got, "PREPARE "+errText(err))
		} else {
			got = append(got, "EXECUTE "+valueOrErr(c, "EXECUTE rt_s"))
		}
		exec(t, c, "ROLLBACK")
		return got
	}
	server := reads(t, conn(t, thePair.WriterAddr, ""))
	if fmt.Sprint(server) != "[text 7 binary 7 EXECUTE 7]" {
		t.Fatalf("on the server itself: %v", server)
	}
	_, addr := startBinary(t, "--default-consistency", "SESSION")
	if got := reads(t, conn(t, addr, "")); fmt.Sprint(got) != fmt.Sprint(server) {
		t.Errorf("reads of a temporary table in a forwarded transaction: %q, want %q (as the server itself)", got, server)
	}
}

// 4. A binary prepared SELECT LAST_INSERT_ID() after a forwarded INSERT
// returns that INSERT's id, as on the server (not the reader's 0).
func TestRoutePreparedLastInsertID(t *testing.T) {
	table(t, "rt_lid")
	// insertThenAsk returns the INSERT's id from its OK packet and what the
	// prepared SELECT LAST_INSERT_ID() answers next.
	insertThenAsk := func(t *testing.T, c *client.Conn) (ok uint64, prepared string) {
		id := rawExec(t, c, "INSERT INTO rt_lid (v) VALUES (40)").InsertId
		st, err := c.Prepare("SELECT LAST_INSERT_ID()")
		if err != nil {
			return id, "prepare: " + errText(err)
		}
		defer st.Close()
		r, err := st.Execute()
		if err != nil {
			return id, "execute: " + errText(err)
		}
		return id, resultValue(t, r, "prepared SELECT LAST_INSERT_ID()")
	}
	if id, got := insertThenAsk(t, rawConn(t, thePair.WriterAddr)); got != fmt.Sprint(id) {
		t.Fatalf("on the server itself: insert id %d, then LAST_INSERT_ID() %s", id, got)
	}
	_, addr := startBinary(t, "--default-consistency", "SESSION")
	if id, got := insertThenAsk(t, rawConn(t, addr)); got != fmt.Sprint(id) || id == 0 {
		t.Errorf("a forwarded INSERT got id %d, then a prepared SELECT LAST_INSERT_ID() answered %s", id, got)
	}
}

// 5. SET aurora_replica_read_consistency as a binary prepared statement or
// through PREPARE … FROM / EXECUTE sets the level as its text form does
// (not 1193 from the reader, which has no such variable).
func TestRoutePreparedSetConsistency(t *testing.T) {
	const set = "SET aurora_replica_read_consistency = 'SESSION'"
	_, addr := startBinary(t)
	for _, tc := range []struct {
		name string
		run  func(c *sql.Conn) error
	}{
		{"text, for comparison", func(c *sql.Conn) error { return errOf(c, set) }},
		{"binary prepared", func(c *sql.Conn) error { return prepErrOf(c, set) }},
		{"PREPARE … FROM, EXECUTE", func(c *sql.Conn) error {
			if err := errOf(c, "PREPARE rt_set FROM \""+set+"\""); err != nil {
				return err
			}
			return errOf(c, "EXECUTE rt_set")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := conn(t, addr, "")
			if err := tc.run(c); err != nil {
				t.Fatalf("%s: %s", set, errText(err))
			}
			if v := one(t, c, "SELECT @@aurora_replica_read_consistency"); v != "SESSION" {
				t.Errorf("after %s the level is %q", set, v)
			}
		})
	}
}

// 6. A comment that says RELEASE does not make COMMIT close the session: on
// the server the session goes on, and so it must through the proxy.
func TestRouteCommitReleaseInComment(t *testing.T) {
	table(t, "rt_rel")
	w := writerDB(t)
	for _, tc := range []struct {
		name, addr string
		v          int
	}{
		{"the server itself", thePair.WriterAddr, 60},
		{"through the proxy", "", 61},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr
			if addr == "" {
				_, addr = startBinary(t, "--default-consistency", "SESSION")
			}
			c := conn(t, addr, "")
			exec(t, c, "SET @rt_keep = 6")
			exec(t, c, "BEGIN")
			exec(t, c, fmt.Sprintf("INSERT INTO rt_rel (v) VALUES (%d)", tc.v))
			exec(t, c, "COMMIT /* RELEASE */")
			if n := count(t, w, fmt.Sprintf("SELECT COUNT(*) FROM rt_rel WHERE v = %d", tc.v)); n != 1 {
				t.Errorf("COMMIT /* RELEASE */ did not commit: %d rows", n)
			}
			if v := valueOrErr(c, "SELECT @rt_keep"); v != "6" {
				t.Errorf("after COMMIT /* RELEASE */ the session is gone: SELECT @rt_keep gives %s", v)
			}
		})
	}
}

// The proxy's own variables and status, decided by route: SHOW VARIABLES
// (whole or LIKE one of them) lists the reader's rows and the proxy's; a
// LIKE that matches none of them is the reader's answer unchanged; SHOW
// STATUS and the status tables gain the Aurora_fwd_* rows; a SELECT of own
// variables only is the proxy's answer, and one mixing them with the
// server's is rewritten for the reader.
func TestRouteOwnVariablesAndStatus(t *testing.T) {
	_, addr := startBinary(t, "--default-consistency", "SESSION")
	c := rawConn(t, addr)
	d := rawConn(t, thePair.ReaderAddr)
	names := func(c *client.Conn, q string) map[string]string {
		t.Helper()
		r, err := c.Execute(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		m := map[string]string{}
		for i := range r.Values {
			n, _ := r.GetString(i, 0)
			v, _ := r.GetString(i, 1)
			m[n] = v
		}
		return m
	}
	all, server := names(c, "SHOW GLOBAL VARIABLES"), names(d, "SHOW GLOBAL VARIABLES")
	// The proxy's seven: three aurora_…, the two fwdproxy_… of causal
	// tokens, the session scope (the flag's value, globally) and the
	// failures on demand.
	_, tok := all["fwdproxy_causal_token"]
	_, after := all["fwdproxy_read_after"]
	inject, hasInject := all["fwdproxy_inject_fault"]
	if len(all) != len(server)+7 || !tok || !after || !hasInject || inject != "" || all["fwdproxy_session_scope"] != "connection" || all["aurora_replica_read_consistency"] != "SESSION" || all["version"] != server["version"] {
		t.Errorf("SHOW GLOBAL VARIABLES: %d rows (server %d), aurora_replica_read_consistency=%q, version=%q (server %q)",
			len(all), len(server), all["aurora_replica_read_consistency"], all["version"], server["version"])
	}
	if got := names(c, "SHOW VARIABLES LIKE 'aurora_fwd%'"); len(got) != 2 {
		t.Errorf("SHOW VARIABLES LIKE 'aurora_fwd%%': %v", got)
	}
	if got, want := names(c, "SHOW VARIABLES LIKE 'max_connections'"), names(d, "SHOW VARIABLES LIKE 'max_connections'"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("SHOW VARIABLES LIKE 'max_connections': %v, server %v", got, want)
	}
	if got := names(c, "SHOW STATUS LIKE 'Aurora_fwd_writer_dml_stmt_count'"); len(got) != 1 {
		t.Errorf("SHOW STATUS LIKE 'Aurora_fwd_writer_dml_stmt_count': %v", got)
	}
	if got := names(c, "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.`GLOBAL_STATUS` WHERE VARIABLE_NAME = 'Aurora_fwd_writer_dml_stmt_count'"); len(got) != 1 {
		t.Errorf("status table: %v", got)
	}
	r, err := c.Execute("SELECT @@aurora_replica_read_consistency AS c, @@global.aurora_fwd_writer_idle_timeout")
	if err != nil || len(r.Values) != 1 {
		t.Fatalf("SELECT own vars: %v %v", r, err)
	}
	if v, _ := r.GetString(0, 0); v != "SESSION" {
		t.Errorf("SELECT @@aurora_replica_read_consistency: %q", v)
	}
	r, err = c.Execute("SELECT CONCAT(@@aurora_replica_read_consistency, '/', @@server_id)")
	if err != nil {
		t.Fatalf("mixed SELECT: %v", err)
	}
	if v, _ := r.GetString(0, 0); v != "SESSION/2" {
		t.Errorf("mixed SELECT: %q, want SESSION/2 (rewritten, run on the reader)", v)
	}
	// The session's access mode is the client's, not the reader guard's,
	// in text and prepared reads.
	accessMode := func() string {
		t.Helper()
		r, err := c.Execute("SELECT @@tx_read_only, @@session.tx_read_only + 0")
		if err != nil {
			t.Fatalf("SELECT @@tx_read_only: %v", err)
		}
		a, _ := r.GetString(0, 0)
		b, _ := r.GetString(0, 1)
		st, err := c.Prepare("SELECT @@tx_read_only")
		if err != nil {
			t.Fatalf("prepare: %v", err)
		}
		defer st.Close()
		pr, err := st.Execute()
		if err != nil {
			t.Fatalf("execute: %v", err)
		}
		p, _ := pr.GetString(0, 0)
		return a + b + p
	}
	if got := accessMode(); got != "000" {
		t.Errorf("access mode read through the proxy: %q, want 000 as the server says", got)
	}
	if _, err := c.Execute("SET SESSION TRANSACTION READ ONLY"); err != nil {
		t.Fatal(err)
	}
	if got := accessMode(); got != "111" {
		t.Errorf("access mode after SET SESSION TRANSACTION READ ONLY: %q, want 111", got)
	}
}

// SET sql_log_bin = 0 is refused with 1227 in every session: with
// forwarding on it was carried to the writer, whose forwarded writes then
// reached no replica.
func TestRouteSQLLogBinRefused(t *testing.T) {
	_, addr := startBinary(t, "--default-consistency", "SESSION")
	c := rawConn(t, addr)
	if _, err := c.Execute("CREATE TABLE IF NOT EXISTS rt_logbin (id INT PRIMARY KEY)"); err == nil {
		t.Fatal("DDL through the proxy succeeded")
	}
	w := rawConn(t, thePair.WriterAddr)
	if _, err := w.Execute("CREATE TABLE IF NOT EXISTS rt_logbin (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	waitReplicated(t)
	for _, q := range []string{"SET sql_log_bin = 0", "SET SESSION sql_log_bin = OFF, @a = 1", "SET STATEMENT sql_log_bin = 0 FOR INSERT INTO rt_logbin VALUES (0)"} {
		if _, err := c.Execute(q); err == nil || !strings.Contains(errText(err), "error 1227") {
			t.Errorf("%s: %v, want 1227", q, err)
		}
	}
	id := time.Now().UnixNano() % 1e9 // a row no earlier run wrote
	if _, err := c.Execute(fmt.Sprintf("INSERT INTO rt_logbin VALUES (%d)", id)); err != nil {
		t.Fatal(err)
	}
	// A SESSION read waits for the insert's GTID: the writer logged it.
	r, err := c.Execute(fmt.Sprintf("SELECT COUNT(*) FROM rt_logbin WHERE id = %d", id))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := r.GetInt(0, 0); n != 1 {
		t.Errorf("the replica has %d rows of the forwarded insert, want 1", n)
	}
}

// 8. A prepared statement resolves its names in the database that was
// current at PREPARE, as on the server, also when the proxy prepares it on
// the other backend later (here: on the writer, once a transaction has
// written), and when prepared inside such a transaction.
func TestRoutePreparedNamesResolveInPrepareDatabase(t *testing.T) {
	scratchDatabase(t, "rt_dba")
	scratchDatabase(t, "rt_dbb")
	w := writerDB(t)
	for _, q := range []string{
		"CREATE TABLE rt_dba.t (v VARCHAR(8))", "INSERT INTO rt_dba.t VALUES ('a')",
		"CREATE TABLE rt_dbb.t (v VARCHAR(8))", "INSERT INTO rt_dbb.t VALUES ('b')",
		"CREATE TABLE rt_dbb.w (v INT)",
	} {
		if _, err := w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	waitReplicated(t)
	reads := func(t *testing.T, c *sql.Conn) []string {
		var got []string
		exec(t, c, "USE rt_dba")
		early, err := c.PrepareContext(ctx, "SELECT v FROM t")
		if err != nil {
			t.Fatal(err)
		}
		defer early.Close()
		exec(t, c, "PREPARE rt_early FROM 'SELECT v FROM t'")
		exec(t, c, "BEGIN")
		exec(t, c, "INSERT INTO rt_dbb.w VALUES (1)")
		inTx, err := c.PrepareContext(ctx, "SELECT v FROM t")
		if err != nil {
			t.Fatal(err)
		}
		defer inTx.Close()
		exec(t, c, "PREPARE rt_intx FROM 'SELECT v FROM t'")
		exec(t, c, "USE rt_dbb")
		var v string
		if err := early.QueryRowContext(ctx).Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, "binary-in-tx "+v, "EXECUTE-in-tx "+one(t, c, "EXECUTE rt_early"))
		exec(t, c, "ROLLBACK")
		if err := inTx.QueryRowContext(ctx).Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, "binary-after "+v, "EXECUTE-after "+one(t, c, "EXECUTE rt_intx"))
		return got
	}
	server := reads(t, conn(t, thePair.WriterAddr, ""))
	want := "[binary-in-tx a EXECUTE-in-tx a binary-after a EXECUTE-after a]"
	if fmt.Sprint(server) != want {
		t.Fatalf("on the server itself: %v, want %s", server, want)
	}
	_, addr := startBinary(t, "--default-consistency", "SESSION")
	if got := reads(t, conn(t, addr, "")); fmt.Sprint(got) != fmt.Sprint(server) {
		t.Errorf("prepared statements through the proxy: %q, want %q (as the server itself)", got, server)
	}
}
