package proxy_test

// Unit tests of the proxy's forwarding, transactions, consistency waits and
// relay with scripted backends (proxy/internal/fakebackend): a real Server
// between a real client (go-sql-driver) and a fake writer and reader, at
// the protocol level only, so they hold whatever the package's insides
// become. Each test says what each backend must receive and what the
// client gets; integration/ runs the same paths against MariaDB.

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/proxy"
	fb "github.com/fwdproxy/fwdproxy/proxy/internal/fakebackend"
)

// rig is a proxy in front of a fake writer and a fake reader.
type rig struct {
	srv            *proxy.Server
	addr           string
	writer, reader *fb.Server
}

// trackingSetup is what the proxy runs on every new writer connection.
var trackingSetup = consistency.MariaDB.TrackingSetupSQL()[0]

// startRig starts the backends and a proxy at consistency EVENTUAL; at the
// end of the test it fails if a backend got a statement nobody scripted.
func startRig(t *testing.T, mutate func(*proxy.Config)) *rig {
	t.Helper()
	return newRig(t, rigOptions{mutate: mutate})
}

// startRigOn is startRig with the proxy's listener wrapped by wrap.
func startRigOn(t *testing.T, mutate func(*proxy.Config), wrap func(net.Listener) net.Listener) *rig {
	t.Helper()
	return newRig(t, rigOptions{mutate: mutate, wrap: wrap})
}

// rigOptions are what newRig changes from startRig's rig.
type rigOptions struct {
	fake   fb.Config                       // both backends'
	mutate func(*proxy.Config)             // the proxy's settings
	log    *zap.Logger                     // the proxy's log (nil: none)
	wrap   func(net.Listener) net.Listener // the proxy's listener (nil: as it is)
	stray  time.Duration                   // how often the proxy looks for stray GTIDs (0: never)
	// script scripts the backends before the proxy starts, for what the
	// proxy asks on its own from its start (the stray check).
	script func(*rig)
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	r := &rig{writer: fb.Start(t, o.fake), reader: fb.Start(t, o.fake)}
	// The proxy sizes its writer connection cap from this.
	r.writer.On("SELECT @@GLOBAL.max_connections", fb.Rows{Columns: []string{"@@GLOBAL.max_connections"}, Values: [][]any{{151}}})
	// The greeting's collation is the reader's.
	r.reader.On("SELECT ID FROM information_schema.COLLATIONS WHERE COLLATION_NAME = @@GLOBAL.collation_server",
		fb.Rows{Columns: []string{"ID"}, Values: [][]any{{8}}})
	if o.script != nil {
		o.script(r)
	}
	cfg := proxy.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.Admin = ""
	cfg.Writer, cfg.Reader = r.writer.Addr(), r.reader.Addr()
	cfg.Users = map[string]string{"app": "secret"}
	cfg.ProxyUser = "app"
	cfg.DefaultConsistency = "EVENTUAL"
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	srv, err := proxy.NewServer(cfg, o.log, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy.SetStrayEvery(srv, o.stray)
	proxy.SetInstanceCountEvery(srv, 0) // its GET_LOCK would be a statement nobody scripted
	proxy.SetWatchOneReader(srv, false) // so would the one reader's watch
	r.srv, r.addr = srv, ln.Addr().String()
	if o.wrap != nil {
		ln = o.wrap(ln)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		for name, b := range map[string]*fb.Server{"writer": r.writer, "reader": r.reader} {
			if u := b.Unscripted(); len(u) > 0 {
				t.Errorf("the %s got statements nobody scripted: %q", name, u)
			}
		}
	})
	return r
}

// client opens one client connection through the proxy (database/sql
// pinned to one connection, so that session state holds).
func (r *rig) client(t *testing.T, params string) *sql.Conn {
	t.Helper()
	db, err := sql.Open("mysql", "app:secret@tcp("+r.addr+")/?"+params)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// marks are the backends' log positions, taken before a step.
type marks struct{ w, r int }

func (r *rig) mark() marks { return marks{r.writer.Mark(), r.reader.Mark()} }

// expect checks what each backend received since m. A wanted statement
// ending in "*" matches any that starts with what comes before it (a wait
// statement names the time left).
func (r *rig) expect(t *testing.T, m marks, writer, reader []string) {
	t.Helper()
	if got := r.writer.Since(m.w); !matches(got, writer) {
		t.Errorf("the writer received\n  %q\nwant\n  %q", got, writer)
	}
	if got := r.reader.Since(m.r); !matches(got, reader) {
		t.Errorf("the reader received\n  %q\nwant\n  %q", got, reader)
	}
}

func matches(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i, w := range want {
		if p, ok := strings.CutSuffix(w, "*"); ok && strings.HasPrefix(got[i], p) {
			continue
		}
		if got[i] != w {
			return false
		}
	}
	return true
}

func exec(t *testing.T, c *sql.Conn, q string, args ...any) sql.Result {
	t.Helper()
	res, err := c.ExecContext(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res
}

// query returns every row of q as text ("NULL" for NULL).
func query(t *testing.T, c *sql.Conn, q string, args ...any) [][]string {
	t.Helper()
	rows, err := c.QueryContext(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	out, err := scanAll(rows)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

func scanAll(rows *sql.Rows) ([][]string, error) {
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = "NULL"
			if v.Valid {
				row[i] = v.String
			}
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// wantErr checks that err is the server error code whose message
// contains msg.
func wantErr(t *testing.T, err error, code uint16, msg string) {
	t.Helper()
	var me *gomysql.MySQLError
	if !errors.As(err, &me) {
		t.Fatalf("got %v, want error %d", err, code)
	}
	if me.Number != code || !strings.Contains(me.Message, msg) {
		t.Errorf("got error %d %q, want %d containing %q", me.Number, me.Message, code, msg)
	}
}

// one is a one-column, one-row result.
func one(col string, v any) fb.Rows { return fb.Rows{Columns: []string{col}, Values: [][]any{{v}}} }

// An autocommit write goes to the writer alone, with no transaction
// around it, and the client gets the writer's figures.
func TestFakeAutocommitWrite(t *testing.T) {
	r := startRig(t, nil)
	r.writer.On("INSERT INTO t VALUES (1)", fb.OK{AffectedRows: 1, InsertID: 5, GTID: "0-1-10"})
	r.writer.On("SELECT LAST_INSERT_ID()", one("LAST_INSERT_ID()", 5))
	r.reader.On("SELECT v FROM t", one("v", "on reader"))
	c := r.client(t, "")
	m := r.mark()
	res := exec(t, c, "INSERT INTO t VALUES (1)")
	if n, _ := res.RowsAffected(); n != 1 {
		t.Errorf("affected rows %d", n)
	}
	if id, _ := res.LastInsertId(); id != 5 {
		t.Errorf("insert id %d", id)
	}
	// LAST_INSERT_ID() answers where the insert ran; a plain read is the
	// reader's again.
	if got := query(t, c, "SELECT LAST_INSERT_ID()"); got[0][0] != "5" {
		t.Errorf("LAST_INSERT_ID() = %v", got)
	}
	if got := query(t, c, "SELECT v FROM t"); got[0][0] != "on reader" {
		t.Errorf("read got %v", got)
	}
	r.expect(t, m, []string{trackingSetup, "INSERT INTO t VALUES (1)", "SELECT LAST_INSERT_ID()"}, []string{"SELECT v FROM t"})
}

// withLevel sets the sessions' default consistency.
func withLevel(level string) func(*proxy.Config) {
	return func(c *proxy.Config) { c.DefaultConsistency = level }
}

// A forwarded transaction: its writes open a transaction on the writer,
// its reads (at SESSION) see it there, and COMMIT ends it there. The
// reader hears nothing of it: its START TRANSACTION waited for a read
// that never came.
func TestFakeTransactionForwarded(t *testing.T) {
	r := startRig(t, withLevel("SESSION"))
	r.writer.On("INSERT INTO t VALUES (2)", fb.OK{AffectedRows: 1})
	r.writer.On("SELECT v FROM t", one("v", "on writer"))
	r.writer.On("COMMIT", fb.OK{GTID: "0-1-11"})
	c := r.client(t, "")
	m := r.mark()
	exec(t, c, "BEGIN")
	exec(t, c, "INSERT INTO t VALUES (2)")
	if got := query(t, c, "SELECT v FROM t"); got[0][0] != "on writer" {
		t.Errorf("read in the transaction got %v", got)
	}
	exec(t, c, "COMMIT")
	r.expect(t, m, []string{trackingSetup, "START TRANSACTION", "INSERT INTO t VALUES (2)", "SELECT v FROM t", "COMMIT"}, nil)
}

// At EVENTUAL, reads in a forwarded transaction stay on the reader, in a
// transaction of its own that COMMIT ends too.
func TestFakeTransactionEventualReads(t *testing.T) {
	r := startRig(t, nil)
	r.writer.On("UPDATE t SET v = 3", fb.OK{AffectedRows: 1})
	r.reader.On("SELECT v FROM t", one("v", "on reader"))
	c := r.client(t, "")
	m := r.mark()
	exec(t, c, "START TRANSACTION")
	if got := query(t, c, "SELECT v FROM t"); got[0][0] != "on reader" {
		t.Errorf("read got %v", got)
	}
	exec(t, c, "UPDATE t SET v = 3")
	exec(t, c, "COMMIT")
	// The reader's COMMIT is sent without waiting for its answer: the read
	// after it makes sure it has arrived.
	query(t, c, "SELECT v FROM t")
	r.expect(t, m,
		[]string{trackingSetup, "START TRANSACTION", "UPDATE t SET v = 3", "COMMIT"},
		[]string{"START TRANSACTION", "SELECT v FROM t", "COMMIT", "SELECT v FROM t"})
}

// ROLLBACK ends the writer's transaction; the next write runs in
// autocommit, with no transaction around it.
func TestFakeRollback(t *testing.T) {
	r := startRig(t, nil)
	r.writer.On("DELETE FROM t", fb.OK{AffectedRows: 4})
	r.writer.On("INSERT INTO t VALUES (4)", fb.OK{AffectedRows: 1, GTID: "0-1-12"})
	c := r.client(t, "")
	m := r.mark()
	exec(t, c, "BEGIN")
	if n, _ := exec(t, c, "DELETE FROM t").RowsAffected(); n != 4 {
		t.Errorf("affected rows %d", n)
	}
	exec(t, c, "ROLLBACK")
	exec(t, c, "INSERT INTO t VALUES (4)")
	r.expect(t, m, []string{trackingSetup, "START TRANSACTION", "DELETE FROM t", "ROLLBACK", "INSERT INTO t VALUES (4)"}, nil)
}

// A COMMIT the writer refuses is the client's error.
func TestFakeCommitFails(t *testing.T) {
	r := startRig(t, nil)
	r.writer.On("UPDATE t SET v = 5", fb.OK{AffectedRows: 1})
	r.writer.On("COMMIT", fb.Err{Code: 1213, State: "40001", Message: "Deadlock found when trying to get lock; try restarting transaction"})
	r.reader.On("SELECT v FROM t", one("v", "x"))
	c := r.client(t, "")
	m := r.mark()
	exec(t, c, "BEGIN")
	query(t, c, "SELECT v FROM t")
	exec(t, c, "UPDATE t SET v = 5")
	_, err := c.ExecContext(context.Background(), "COMMIT")
	wantErr(t, err, 1213, "Deadlock")
	// The reader's part only read: it is committed without waiting, before
	// the writer's outcome is known. The read after it makes sure it arrived.
	query(t, c, "SELECT v FROM t")
	r.expect(t, m,
		[]string{trackingSetup, "START TRANSACTION", "UPDATE t SET v = 5", "COMMIT"},
		[]string{"START TRANSACTION", "SELECT v FROM t", "COMMIT", "SELECT v FROM t"})
}

// autocommit=0 is one long transaction: the writer gets an explicit one.
func TestFakeAutocommitOff(t *testing.T) {
	r := startRig(t, nil)
	r.writer.On("INSERT INTO t VALUES (6)", fb.OK{AffectedRows: 1})
	c := r.client(t, "")
	m := r.mark()
	exec(t, c, "SET autocommit = 0")
	exec(t, c, "INSERT INTO t VALUES (6)")
	exec(t, c, "COMMIT")
	exec(t, c, "SET autocommit = 1")
	r.expect(t, m,
		[]string{trackingSetup, "START TRANSACTION", "INSERT INTO t VALUES (6)", "COMMIT"},
		[]string{"SET autocommit = 0", "SET autocommit = 1"})
}

// What the client set on its session since the writer last saw it, the
// writer gets before the next statement forwarded there; a user variable
// travels with the statement that uses it.
func TestFakeSessionStateCarried(t *testing.T) {
	r := startRig(t, nil)
	r.reader.On("SELECT @`x`", one("@`x`", "7"))
	r.writer.On("INSERT INTO t VALUES (1)", fb.OK{AffectedRows: 1})
	r.writer.On("INSERT INTO t VALUES (@x)", fb.OK{AffectedRows: 1})
	c := r.client(t, "")
	m := r.mark()
	exec(t, c, "INSERT INTO t VALUES (1)") // the writer connection opens
	exec(t, c, "SET time_zone = '+00:00'")
	exec(t, c, "USE app")
	exec(t, c, "SET @x = 7")
	exec(t, c, "INSERT INTO t VALUES (@x)")
	r.expect(t, m,
		[]string{trackingSetup, "INSERT INTO t VALUES (1)", "USE `app`", "SET time_zone = '+00:00'", "SET @`x` = CONVERT(X'37' USING utf8mb4)", "INSERT INTO t VALUES (@x)"},
		[]string{"SET time_zone = '+00:00'", "USE app", "SET @x = 7", "SELECT @`x`"})
}

// SESSION consistency: a read after a write first waits on the reader for
// the GTID the writer's OK reported; once that is known applied, reads
// go straight through.
func TestFakeSessionWait(t *testing.T) {
	r := startRig(t, withLevel("SESSION"))
	r.writer.On("INSERT INTO t VALUES (7)", fb.OK{AffectedRows: 1, GTID: "0-1-42"})
	r.reader.OnPrefix("SELECT MASTER_GTID_WAIT('0-1-42', ", one("w", 0))
	r.reader.On("SELECT v FROM t", one("v", "fresh"))
	c := r.client(t, "")
	m := r.mark()
	query(t, c, "SELECT v FROM t") // nothing written yet: no wait
	exec(t, c, "INSERT INTO t VALUES (7)")
	if got := query(t, c, "SELECT v FROM t"); got[0][0] != "fresh" {
		t.Errorf("read got %v", got)
	}
	query(t, c, "SELECT v FROM t")
	r.expect(t, m, []string{trackingSetup, "INSERT INTO t VALUES (7)"},
		[]string{"SELECT v FROM t", "SELECT MASTER_GTID_WAIT('0-1-42', *", "SELECT v FROM t", "SELECT v FROM t"})
}

// A wait that times out is error 3024, or with --read-wait-timeout-action
// writer, a read served by the writer.
func TestFakeSessionWaitTimesOut(t *testing.T) {
	for _, action := range []string{"error", "writer"} {
		t.Run(action, func(t *testing.T) {
			r := startRig(t, func(c *proxy.Config) {
				c.DefaultConsistency = "SESSION"
				c.ReadWaitTimeoutAction = action
			})
			r.writer.On("INSERT INTO t VALUES (8)", fb.OK{AffectedRows: 1, GTID: "0-1-43"})
			r.writer.On("SELECT v FROM t", one("v", "on writer"))
			r.reader.OnPrefix("SELECT MASTER_GTID_WAIT('0-1-43', ", one("w", -1)) // -1: timed out
			c := r.client(t, "")
			exec(t, c, "INSERT INTO t VALUES (8)")
			rows, err := c.QueryContext(context.Background(), "SELECT v FROM t")
			if action == "error" {
				wantErr(t, err, 3024, "did not reach the required GTID position")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			if got, err := scanAll(rows); err != nil || got[0][0] != "on writer" {
				t.Errorf("read got %v, %v", got, err)
			}
		})
	}
}

// GLOBAL consistency waits for the writer's position at the read's arrival,
// read on the proxy's own writer connection.
func TestFakeGlobalWait(t *testing.T) {
	r := startRig(t, withLevel("GLOBAL"))
	r.writer.On("SELECT @@GLOBAL.gtid_binlog_pos", one("@@GLOBAL.gtid_binlog_pos", "0-1-50"))
	r.reader.OnPrefix("SELECT MASTER_GTID_WAIT('0-1-50', ", one("w", 0))
	r.reader.On("SELECT v FROM t", one("v", "fresh"))
	c := r.client(t, "")
	m := r.mark()
	if got := query(t, c, "SELECT v FROM t"); got[0][0] != "fresh" {
		t.Errorf("read got %v", got)
	}
	r.expect(t, m, []string{"SELECT @@GLOBAL.gtid_binlog_pos"}, []string{"SELECT MASTER_GTID_WAIT('0-1-50', *", "SELECT v FROM t"})
}

const terminated = "Forwarded connection on Writer terminated; try restarting transaction"

// A writer connection lost while it holds the client's transaction: the
// next statement gets the terminated error, once; the session then starts
// clean on a new writer connection.
func TestFakeWriterLostInTransaction(t *testing.T) {
	r := startRig(t, nil)
	r.writer.On("INSERT INTO t VALUES (9)", fb.OK{AffectedRows: 1})
	r.writer.On("UPDATE t SET v = 9", fb.OK{AffectedRows: 1})
	c := r.client(t, "")
	exec(t, c, "BEGIN")
	exec(t, c, "INSERT INTO t VALUES (9)")
	r.writer.CloseConns() // the writer restarts; the transaction is gone
	m := r.mark()
	_, err := c.ExecContext(context.Background(), "UPDATE t SET v = 9")
	wantErr(t, err, 1105, terminated)
	exec(t, c, "UPDATE t SET v = 9")
	r.expect(t, m, []string{trackingSetup, "UPDATE t SET v = 9"}, nil)
}

// A writer that goes away in the middle of a forwarded statement of a
// transaction: that statement gets the terminated error.
func TestFakeWriterHangsUpMidStatement(t *testing.T) {
	r := startRig(t, nil)
	r.writer.On("INSERT INTO t VALUES (10)", fb.OK{AffectedRows: 1})
	r.writer.On("UPDATE t SET v = 10", fb.Hangup{})
	r.writer.On("UPDATE t SET v = 10", fb.OK{AffectedRows: 1})
	c := r.client(t, "")
	exec(t, c, "BEGIN")
	exec(t, c, "INSERT INTO t VALUES (10)")
	_, err := c.ExecContext(context.Background(), "UPDATE t SET v = 10")
	wantErr(t, err, 1105, terminated)
	m := r.mark()
	exec(t, c, "UPDATE t SET v = 10") // autocommit again, on a new connection
	r.expect(t, m, []string{trackingSetup, "UPDATE t SET v = 10"}, nil)
}

// Outside a transaction a writer connection that closed while idle is
// replaced without an error.
func TestFakeWriterLostIdle(t *testing.T) {
	r := startRig(t, nil)
	r.writer.On("INSERT INTO t VALUES (11)", fb.OK{AffectedRows: 1})
	c := r.client(t, "")
	exec(t, c, "INSERT INTO t VALUES (11)")
	before := r.writer.Accepted()
	r.writer.CloseConns()
	exec(t, c, "INSERT INTO t VALUES (11)")
	if n := r.writer.Accepted(); n != before+1 {
		t.Errorf("writer connections: %d, then %d", before, n)
	}
}

// Turning forwarding off cancels the forwarded transactions that are
// open: the session's next statement gets the terminated error.
func TestFakeForwardingSwitchedOff(t *testing.T) {
	r := startRig(t, nil)
	r.writer.On("INSERT INTO t VALUES (12)", fb.OK{AffectedRows: 1})
	c := r.client(t, "")
	exec(t, c, "BEGIN")
	exec(t, c, "INSERT INTO t VALUES (12)")
	r.srv.SetForwarding(false)
	if st := r.srv.ForwardingStatus(); st != proxy.FwdDisabled {
		t.Errorf("status %q", st)
	}
	_, err := c.ExecContext(context.Background(), "INSERT INTO t VALUES (12)")
	wantErr(t, err, 1105, terminated)
	_, err = c.ExecContext(context.Background(), "INSERT INTO t VALUES (12)")
	wantErr(t, err, 1290, "--read-only")
}

// With forwarding off the reader answers reads and writes get the
// replica's 1290; the consistency level cannot be set. In a forwarding
// session what forwarding never runs gets 1235. None of them reaches a
// backend.
func TestFakeRejections(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*proxy.Config)
		sql    string
		code   uint16
		msg    string
	}{
		{"off/write", func(c *proxy.Config) { c.Forwarding = false }, "INSERT INTO t VALUES (13)", 1290, "--read-only"},
		{"off/ddl", func(c *proxy.Config) { c.Forwarding = false }, "CREATE TABLE t2 (a INT)", 1290, "--read-only"},
		{"off/level", func(c *proxy.Config) { c.Forwarding = false }, "SET aurora_replica_read_consistency = 'SESSION'", 1238, "read only variable"},
		{"session off/write", withLevel(""), "UPDATE t SET v = 1", 1290, "--read-only"},
		{"on/ddl", nil, "CREATE TABLE t2 (a INT)", 1235, "with write forwarding"},
		{"on/lock", nil, "LOCK TABLES t WRITE", 1235, "with write forwarding"},
		{"on/savepoint", nil, "SAVEPOINT a", 1235, "with write forwarding"},
		{"read only tx", nil, "START TRANSACTION READ ONLY; INSERT INTO t VALUES (13)", 1792, "READ ONLY transaction"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRig(t, tc.mutate)
			c := r.client(t, "multiStatements=true")
			m := r.mark()
			_, err := c.ExecContext(context.Background(), tc.sql)
			wantErr(t, err, tc.code, tc.msg)
			r.expect(t, m, nil, nil)
		})
	}
	r := startRig(t, func(c *proxy.Config) { c.Forwarding = false })
	r.reader.On("SELECT v FROM t", one("v", "read"))
	if got := query(t, r.client(t, ""), "SELECT v FROM t"); got[0][0] != "read" {
		t.Errorf("read with forwarding off got %v", got)
	}
}

// Past --writer-max-connections-pct of the writer's max_connections a
// session that needs the writer gets 1040.
func TestFakeWriterConnectionCap(t *testing.T) {
	r := startRig(t, func(c *proxy.Config) { c.WriterMaxConnectionsPct = 1 }) // 1% of 151: one session
	r.writer.On("INSERT INTO t VALUES (14)", fb.OK{AffectedRows: 1})
	first, second := r.client(t, ""), r.client(t, "")
	exec(t, first, "INSERT INTO t VALUES (14)")
	m := r.mark()
	_, err := second.ExecContext(context.Background(), "INSERT INTO t VALUES (14)")
	wantErr(t, err, 1040, "Not enough connections on writer")
	exec(t, first, "INSERT INTO t VALUES (14)") // the first keeps its connection
	r.expect(t, m, []string{"INSERT INTO t VALUES (14)"}, nil)
}

// A writer that cannot be reached is the client's 1105.
func TestFakeWriterUnreachable(t *testing.T) {
	r := startRig(t, nil)
	c := r.client(t, "")
	r.writer.Close()
	_, err := c.ExecContext(context.Background(), "INSERT INTO t VALUES (15)")
	wantErr(t, err, 1105, "Failed to send write forwarding request to writer")
}

// BEGIN inside a transaction commits it first; WITH CONSISTENT SNAPSHOT
// opens the reader's transaction at once; COMMIT AND CHAIN opens the next
// one; ROLLBACK RELEASE ends the session.
func TestFakeTransactionStatements(t *testing.T) {
	r := startRig(t, nil)
	r.writer.On("INSERT INTO t VALUES (20)", fb.OK{AffectedRows: 1})
	r.reader.On("SELECT v FROM t", one("v", "r"))
	c := r.client(t, "")
	m := r.mark()
	exec(t, c, "BEGIN")
	exec(t, c, "INSERT INTO t VALUES (20)")
	exec(t, c, "START TRANSACTION WITH CONSISTENT SNAPSHOT") // commits the first
	exec(t, c, "INSERT INTO t VALUES (20)")
	exec(t, c, "COMMIT AND CHAIN")
	query(t, c, "SELECT v FROM t")
	// The first BEGIN's START TRANSACTION, which waited for the reader's
	// first statement, never reaches it (the snapshot's would only commit
	// it); the reader's COMMIT is sent without waiting for its answer, and
	// the chained transaction starts at once.
	r.expect(t, m,
		[]string{trackingSetup, "START TRANSACTION", "INSERT INTO t VALUES (20)", "COMMIT",
			"START TRANSACTION", "INSERT INTO t VALUES (20)", "COMMIT"},
		[]string{"START TRANSACTION WITH CONSISTENT SNAPSHOT", "COMMIT", "START TRANSACTION", "SELECT v FROM t"})
	exec(t, c, "ROLLBACK RELEASE")
	if _, err := c.ExecContext(context.Background(), "DO 1"); err == nil {
		t.Error("the session lives on after ROLLBACK RELEASE")
	}
}

// The session's isolation level goes to the reader; a forwarded statement
// runs at the writer's REPEATABLE READ, and SHOW WARNINGS says so.
func TestFakeIsolationWarning(t *testing.T) {
	r := startRig(t, nil)
	r.writer.On("INSERT INTO t VALUES (21)", fb.OK{AffectedRows: 1})
	c := r.client(t, "")
	m := r.mark()
	exec(t, c, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
	exec(t, c, "INSERT INTO t VALUES (21)")
	got := query(t, c, "SHOW WARNINGS")
	if len(got) != 1 || got[0][1] != "1105" || !strings.Contains(got[0][2], "REPEATABLE READ") {
		t.Errorf("SHOW WARNINGS got %q", got)
	}
	r.expect(t, m, []string{trackingSetup, "INSERT INTO t VALUES (21)"},
		[]string{"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"})
}

// The proxy's own variables: the level can be changed within its rules,
// and a read-only session refuses writes.
func TestFakeSessionSettings(t *testing.T) {
	r := startRig(t, nil)
	r.writer.On("INSERT INTO t VALUES (22)", fb.OK{AffectedRows: 1})
	c := r.client(t, "")
	m := r.mark()
	for _, tc := range []struct {
		sql  string
		code uint16
		msg  string
	}{
		{"SET aurora_replica_read_consistency = 'sometimes'", 1231, "can't be set to the value of 'sometimes'"},
		{"SET aurora_fwd_writer_idle_timeout = 5", 1238, "read only variable"},
		{"SET GLOBAL max_connections = 5", 1227, "SUPER"},
	} {
		_, err := c.ExecContext(context.Background(), tc.sql)
		wantErr(t, err, tc.code, tc.msg)
	}
	exec(t, c, "SET aurora_replica_read_consistency = 'GLOBAL'")
	if got := query(t, c, "SELECT @@aurora_replica_read_consistency"); got[0][0] != "GLOBAL" {
		t.Errorf("level %q", got)
	}
	exec(t, c, "BEGIN")
	exec(t, c, "INSERT INTO t VALUES (22)")
	_, err := c.ExecContext(context.Background(), "SET aurora_replica_read_consistency = ''")
	wantErr(t, err, 1766, "ongoing transaction")
	_, err = c.ExecContext(context.Background(), "SET SESSION tx_read_only = 1")
	wantErr(t, err, 1568, "in progress")
	exec(t, c, "COMMIT")
	exec(t, c, "SET SESSION tx_read_only = 1")
	_, err = c.ExecContext(context.Background(), "INSERT INTO t VALUES (22)")
	wantErr(t, err, 1792, "READ ONLY transaction")
	r.expect(t, m, []string{trackingSetup, "START TRANSACTION", "INSERT INTO t VALUES (22)", "COMMIT"}, nil)
}

// SET sql_mode changes how the proxy reads statements: it reads the mode
// back from the reader.
func TestFakeSQLMode(t *testing.T) {
	r := startRig(t, nil)
	r.reader.On("SELECT @@SESSION.sql_mode", one("@@SESSION.sql_mode", "ANSI_QUOTES,STRICT_TRANS_TABLES"))
	r.reader.On(`SELECT "a;b" FROM t`, one("a;b", "x"))
	c := r.client(t, "multiStatements=true")
	m := r.mark()
	exec(t, c, "SET sql_mode = 'ANSI_QUOTES,STRICT_TRANS_TABLES'")
	// With ANSI_QUOTES "a;b" is a name, and its ; does not split the batch.
	if got := query(t, c, `SELECT "a;b" FROM t`); got[0][0] != "x" {
		t.Errorf("got %q", got)
	}
	r.expect(t, m, nil, []string{"SET sql_mode = 'ANSI_QUOTES,STRICT_TRANS_TABLES'", "SELECT @@SESSION.sql_mode", `SELECT "a;b" FROM t`})
}

// SET @v = LAST_INSERT_ID() after a forwarded insert evaluates on the
// writer, where the value is, and the variable is copied to the reader.
func TestFakeSetFromWriter(t *testing.T) {
	r := startRig(t, nil)
	r.writer.On("INSERT INTO t VALUES (NULL)", fb.OK{AffectedRows: 1, InsertID: 33})
	r.writer.On("SELECT @`id`", one("@`id`", "33"))
	c := r.client(t, "")
	m := r.mark()
	exec(t, c, "INSERT INTO t VALUES (NULL)")
	exec(t, c, "SET @id = LAST_INSERT_ID()")
	r.expect(t, m,
		[]string{trackingSetup, "INSERT INTO t VALUES (NULL)", "SET @id = LAST_INSERT_ID()", "SELECT @`id`"},
		[]string{"SET @`id` = CONVERT(X'3333' USING utf8mb4)"})
}
