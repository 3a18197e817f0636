package integration

// Writer-side limits: idle timeout, connection cap and the runtime switch,
// with the Aurora_fwd_* figures that count them.

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fwdproxy/fwdproxy/proxy"
)

// status reads one SHOW GLOBAL STATUS value through the proxy.
func status(t *testing.T, addr, name string) int {
	t.Helper()
	c := conn(t, addr, "")
	var k, v string
	if err := c.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE '"+name+"'").Scan(&k, &v); err != nil {
		t.Fatalf("SHOW GLOBAL STATUS LIKE '%s': %v", name, err)
	}
	n, _ := strconv.Atoi(v)
	return n
}

func TestWriterIdleTimeout(t *testing.T) {
	table(t, "idle1")
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION"; c.WriterIdleTimeout = 1 })
	c := conn(t, addr, "")
	exec(t, c, "BEGIN")
	exec(t, c, "INSERT INTO idle1 (v) VALUES (500)")
	time.Sleep(2500 * time.Millisecond)
	err := errOf(c, "INSERT INTO idle1 (v) VALUES (501)")
	if err == nil || !strings.Contains(err.Error(), "Forwarded connection on Writer terminated; try restarting transaction") {
		t.Fatalf("after the idle timeout: %v", err)
	}
	// The connection stays usable and the transaction state is cleared.
	if v := one(t, c, "SELECT @@in_transaction"); v != "0" {
		t.Errorf("reader still in a transaction")
	}
	exec(t, c, "INSERT INTO idle1 (v) VALUES (502)")
	w := writerDB(t)
	if n := count(t, w, "SELECT COUNT(*) FROM idle1 WHERE v IN (500, 501)"); n != 0 {
		t.Errorf("the timed-out transaction left %d rows", n)
	}
	if n := count(t, w, "SELECT COUNT(*) FROM idle1 WHERE v = 502"); n != 1 {
		t.Errorf("statement after the error did not run")
	}
	if n := status(t, addr, "Aurora_fwd_writer_errors_session_timeout"); n < 1 {
		t.Errorf("Aurora_fwd_writer_errors_session_timeout = %d", n)
	}
	if n := status(t, addr, "Aurora_fwd_replica_errors_session_terminated"); n < 1 {
		t.Errorf("Aurora_fwd_replica_errors_session_terminated = %d", n)
	}
}

func TestWriterConnectionCap(t *testing.T) {
	table(t, "cap1")
	t.Run("pct 1 allows one session", func(t *testing.T) {
		// floor(151 * 1 / 100) = 1 session may hold a writer connection.
		addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION"; c.WriterMaxConnectionsPct = 1 })
		a, b := conn(t, addr, ""), conn(t, addr, "")
		exec(t, a, "INSERT INTO cap1 (v) VALUES (1)")
		wantErr(t, errOf(b, "INSERT INTO cap1 (v) VALUES (2)"), 1040, "Not enough connections on writer to handle your request")
		if v := one(t, b, "SELECT COUNT(*) FROM cap1"); v == "" {
			t.Error("reads must keep working")
		}
		if n := status(t, addr, "Aurora_fwd_replica_errors_session_limit"); n != 1 {
			t.Errorf("Aurora_fwd_replica_errors_session_limit = %d", n)
		}
		if n := status(t, addr, "Aurora_fwd_replica_open_sessions"); n != 1 {
			t.Errorf("Aurora_fwd_replica_open_sessions = %d", n)
		}
	})
	t.Run("pct 0 refuses every forwarded write", func(t *testing.T) {
		addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION"; c.WriterMaxConnectionsPct = 0 })
		c := conn(t, addr, "")
		wantErr(t, errOf(c, "INSERT INTO cap1 (v) VALUES (3)"), 1040, "")
	})
}

func TestForwardingSwitchCancelsTransactions(t *testing.T) {
	table(t, "sw1")
	srv, addr := startServer(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := conn(t, addr, "")
	exec(t, c, "BEGIN")
	exec(t, c, "INSERT INTO sw1 (v) VALUES (600)")
	if st := srv.ForwardingStatus(); st != "enabled" {
		t.Fatalf("status %s", st)
	}
	srv.SetForwarding(false)
	if st := srv.ForwardingStatus(); st != "disabled" {
		t.Fatalf("status after the cancelled transactions %s", st)
	}
	err := errOf(c, "COMMIT")
	if err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Fatalf("COMMIT after disabling: %v", err)
	}
	if n := count(t, writerDB(t), "SELECT COUNT(*) FROM sw1 WHERE v = 600"); n != 0 {
		t.Fatal("cancelled transaction committed")
	}
	wantErr(t, errOf(c, "INSERT INTO sw1 (v) VALUES (601)"), 1290, "")
	srv.SetForwarding(true)
	exec(t, c, "INSERT INTO sw1 (v) VALUES (602)")
}

func TestStatusVariables(t *testing.T) {
	table(t, "st1")
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := conn(t, addr, "")
	exec(t, c, "INSERT INTO st1 (v) VALUES (1)")
	one(t, c, "SELECT v FROM st1 WHERE id = 1 FOR UPDATE")
	rows, err := c.QueryContext(ctx, "SHOW STATUS LIKE 'Aurora_fwd%'")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var k, v string
		_ = rows.Scan(&k, &v)
		got[k] = v
	}
	rows.Close()
	for _, n := range []string{"replica_dml_stmt_count", "replica_dml_stmt_duration", "replica_select_stmt_count", "replica_read_wait_count",
		"replica_read_wait_duration", "replica_open_sessions", "replica_errors_session_limit", "replica_errors_session_terminated",
		"replica_errors_rpc_timeout", "writer_dml_stmt_count", "writer_dml_stmt_duration", "writer_select_stmt_count",
		"writer_select_stmt_duration", "writer_open_sessions", "writer_errors_session_timeout", "writer_errors_session_limit",
		"writer_errors_rpc_timeout", "replica_select_stmt_duration"} {
		if _, ok := got["Aurora_fwd_"+n]; !ok {
			t.Errorf("missing Aurora_fwd_%s", n)
		}
	}
	if got["Aurora_fwd_replica_dml_stmt_count"] != "1" || got["Aurora_fwd_replica_select_stmt_count"] != "1" {
		t.Errorf("counts: %v", got)
	}
	// The reader's own status rows are merged in.
	var k, v string
	if err := c.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Uptime'").Scan(&k, &v); err != nil || v == "" {
		t.Errorf("reader status rows: %v", err)
	}
}
