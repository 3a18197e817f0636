package integration

// GET /sessions and POST /sessions/ID/kill with real clients.

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/fwdproxy/fwdproxy/proxy"
)

// sessionsNow is GET /sessions.
func sessionsNow(t *testing.T, srv *proxy.Server) []proxy.SessionStatus {
	t.Helper()
	code, body := get(t, srv.AdminHandler(), "GET", "/sessions", "")
	var out []proxy.SessionStatus
	if err := json.Unmarshal([]byte(body), &out); err != nil || code != 200 {
		t.Fatalf("/sessions %d %s", code, body)
	}
	return out
}

// byReaderThread finds the session whose CONNECTION_ID() (its reader's
// thread, outside a forwarded transaction) is id.
func byReaderThread(t *testing.T, list []proxy.SessionStatus, id string) proxy.SessionStatus {
	t.Helper()
	for _, s := range list {
		if strconv.Itoa(int(s.ReaderThread)) == id {
			return s
		}
	}
	t.Fatalf("no session with reader thread %s in %+v", id, list)
	return proxy.SessionStatus{}
}

// clientHostOf is the host of a /sessions client address.
func clientHostOf(hostPort string) string {
	h, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return hostPort
	}
	return h
}

// onWriter says the writer still has a thread of that id.
func onWriter(t *testing.T, thread uint32) bool {
	return count(t, writerDB(t), fmt.Sprintf("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %d", thread)) > 0
}

// waitGoneFromWriter waits (up to 10 s) for a writer thread to end.
func waitGoneFromWriter(t *testing.T, thread uint32) {
	t.Helper()
	for i := 0; i < 200 && onWriter(t, thread); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if onWriter(t, thread) {
		t.Fatalf("writer thread %d still there after the kill", thread)
	}
}

func TestSessionsListAndKill(t *testing.T) {
	table(t, "sess1")
	srv, addr := startServer(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	h := srv.AdminHandler()

	idle := conn(t, addr, "")
	exec(t, idle, "SET aurora_replica_read_consistency = 'EVENTUAL'")
	one(t, idle, "SELECT COUNT(*) FROM sess1")
	idleID := one(t, idle, "SELECT CONNECTION_ID()")

	tx := conn(t, addr, "")
	exec(t, tx, "BEGIN")
	txID := one(t, tx, "SELECT CONNECTION_ID()")
	exec(t, tx, "INSERT INTO sess1 (v) VALUES (77)")

	list := sessionsNow(t, srv)
	if len(list) != 2 {
		t.Fatalf("%d sessions, want 2: %+v", len(list), list)
	}
	a, b := byReaderThread(t, list, idleID), byReaderThread(t, list, txID)
	t.Logf("idle: %+v", a)
	t.Logf("in a transaction: %+v", b)
	if a.User != thePair.User || a.DB != testDB || a.Consistency != "EVENTUAL" || a.Reader != thePair.ReaderAddr ||
		a.Writer != "" || a.InTx || a.State != "idle" || a.Statements != 3 || clientHostOf(a.Client) != "127.0.0.1" {
		t.Errorf("idle session: %+v", a)
	}
	if b.Consistency != "SESSION" || b.Writer != thePair.WriterAddr || b.WriterThread == 0 || !b.InTx || b.Statements != 3 {
		t.Errorf("session in a transaction: %+v", b)
	}

	// Killing the one in a transaction: its writer work is rolled back, the
	// client's next statement fails, the other session goes on.
	if code, body := get(t, h, "POST", fmt.Sprintf("/sessions/%d/kill", b.ID), ""); code != 200 {
		t.Fatalf("kill: %d %s", code, body)
	}
	waitGoneFromWriter(t, b.WriterThread)
	if n := count(t, writerDB(t), "SELECT COUNT(*) FROM sess1 WHERE v = 77"); n != 0 {
		t.Fatalf("the killed session's insert is on the writer (%d rows)", n)
	}
	if err := errOf(tx, "SELECT 1"); err == nil {
		t.Fatal("the killed session still answers")
	} else {
		t.Logf("killed session's next statement: %v", err)
	}
	if v := one(t, idle, "SELECT 5"); v != "5" {
		t.Fatalf("the other session: %q", v)
	}
	if code, _ := get(t, h, "POST", "/sessions/999999/kill", ""); code != 404 {
		t.Errorf("kill of no session: %d", code)
	}
	if code, _ := get(t, h, "POST", "/sessions/x/kill", ""); code != 404 {
		t.Errorf("kill of a bad id: %d", code)
	}

	// Killing one whose forwarded statement runs: it is stopped on the
	// writer and never commits.
	busy := conn(t, addr, "")
	busyID := one(t, busy, "SELECT CONNECTION_ID()")
	done := make(chan error, 1)
	go func() {
		_, err := busy.ExecContext(ctx, "INSERT INTO sess1 (v) SELECT 88 FROM (SELECT SLEEP(20)) x")
		done <- err
	}()
	var c proxy.SessionStatus
	for i := 0; i < 200; i++ {
		c = byReaderThread(t, sessionsNow(t, srv), busyID)
		if c.State == "running" && c.WriterThread != 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c.State != "running" || c.WriterThread == 0 {
		t.Fatalf("the forwarded INSERT never showed as running: %+v", c)
	}
	if count(t, writerDB(t), fmt.Sprintf("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %d AND INFO LIKE 'INSERT%%'", c.WriterThread)) != 1 {
		t.Fatalf("writer thread %d does not run the INSERT", c.WriterThread)
	}
	if code, body := get(t, h, "POST", fmt.Sprintf("/sessions/%d/kill", c.ID), ""); code != 200 {
		t.Fatalf("kill: %d %s", code, body)
	}
	err := <-done
	if err == nil {
		t.Fatal("the killed INSERT succeeded")
	}
	t.Logf("killed INSERT: %v", err)
	waitGoneFromWriter(t, c.WriterThread)
	if n := count(t, writerDB(t), "SELECT COUNT(*) FROM sess1 WHERE v = 88"); n != 0 {
		t.Fatalf("the killed INSERT committed (%d rows)", n)
	}
	if n := len(sessionsNow(t, srv)); n != 1 {
		t.Fatalf("%d sessions after the kills, want 1", n)
	}
}
