package integration

import (
	"strconv"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/fwdproxy/fwdproxy/proxy"
)

// readWaits is the proxy's count of reads that waited for the reader.
func readWaits(t *testing.T, srv *proxy.Server) uint64 {
	t.Helper()
	for _, r := range srv.Metrics.StatusRows() {
		if r[0] == "Aurora_fwd_replica_read_wait_count" {
			n, err := strconv.ParseUint(r[1], 10, 64)
			if err != nil {
				t.Fatalf("%s = %q", r[0], r[1])
			}
			return n
		}
	}
	t.Fatal("no Aurora_fwd_replica_read_wait_count")
	return 0
}

// TestSessionScopeUserAcrossResetAndChangeUser: with --session-scope user
// and the replica a second behind, a SESSION read waits for the user's
// writes made on another connection and before a COM_RESET_CONNECTION;
// COM_CHANGE_USER moves the session to the new user's writes. With the
// connection scope the same reads make no wait (the writes are not the
// connection's, or the reset forgot them).
func TestSessionScopeUserAcrossResetAndChangeUser(t *testing.T) {
	table(t, "scope1")
	delayReplica(t, 1)
	users := func(c *proxy.Config) {
		c.DefaultConsistency = "SESSION"
		c.Users[thePair.RootUser] = thePair.RootPassword
	}
	srv, addr := startServer(t, func(c *proxy.Config) { users(c); c.SessionScope = "user" })
	count := func(c *client.Conn, v int) string {
		return rawValue(t, c, "SELECT COUNT(*) FROM scope1 WHERE v = "+strconv.Itoa(v))
	}

	a := rawConn(t, addr)
	if v := rawValue(t, a, "SELECT @@fwdproxy_session_scope"); v != "user" {
		t.Fatalf("@@fwdproxy_session_scope = %q with --session-scope user", v)
	}
	rawExec(t, a, "INSERT INTO scope1 (v) VALUES (10)")
	sendCmd(t, a, gmysql.COM_RESET_CONNECTION)
	wantOKPkt(t, readPkt(t, a), "COM_RESET_CONNECTION")
	if v := rawValue(t, a, "SELECT @@fwdproxy_session_scope"); v != "user" {
		t.Errorf("@@fwdproxy_session_scope after COM_RESET_CONNECTION = %q, want user", v)
	}
	if n := count(a, 10); n != "1" {
		t.Errorf("after COM_RESET_CONNECTION, the user's own write is not read (count %s)", n)
	}

	// Another connection of the user writes; this one reads it.
	b := rawConn(t, addr)
	rawExec(t, b, "INSERT INTO scope1 (v) VALUES (11)")
	if n := count(a, 11); n != "1" {
		t.Errorf("a write on another connection of the user is not read (count %s)", n)
	}

	// Changed to root, the session waits for root's writes, not fwd's.
	if err := changeUser(t, a, thePair.RootUser, thePair.RootPassword); err != nil {
		t.Fatalf("change user to %s: %v", thePair.RootUser, err)
	}
	rawExec(t, b, "INSERT INTO scope1 (v) VALUES (12)")
	base := readWaits(t, srv)
	count(a, 12)
	if got := readWaits(t, srv); got != base {
		t.Errorf("after COM_CHANGE_USER to %s, a read waited for %s's write (waits %d -> %d)", thePair.RootUser, thePair.User, base, got)
	}
	rawExec(t, a, "INSERT INTO scope1 (v) VALUES (13)")
	sendCmd(t, a, gmysql.COM_RESET_CONNECTION)
	wantOKPkt(t, readPkt(t, a), "COM_RESET_CONNECTION")
	if n := count(a, 13); n != "1" {
		t.Errorf("%s's write before COM_RESET_CONNECTION is not read (count %s)", thePair.RootUser, n)
	}
	// And back: fwd's set still has what fwd wrote.
	if err := changeUser(t, a, thePair.User, thePair.Password); err != nil {
		t.Fatalf("change user back: %v", err)
	}
	rawExec(t, b, "INSERT INTO scope1 (v) VALUES (14)")
	if n := count(a, 14); n != "1" {
		t.Errorf("after COM_CHANGE_USER back to %s, its write on another connection is not read (count %s)", thePair.User, n)
	}

	// The connection scope, as before: no wait for another connection's
	// write, nor for the connection's own write before a reset.
	srvC, addrC := startServer(t, users)
	c, d := rawConn(t, addrC), rawConn(t, addrC)
	if v := rawValue(t, c, "SELECT @@fwdproxy_session_scope"); v != "connection" {
		t.Fatalf("@@fwdproxy_session_scope = %q by default", v)
	}
	rawExec(t, d, "INSERT INTO scope1 (v) VALUES (20)")
	base = readWaits(t, srvC)
	stale := count(c, 20) != "1"
	rawExec(t, c, "INSERT INTO scope1 (v) VALUES (21)")
	sendCmd(t, c, gmysql.COM_RESET_CONNECTION)
	wantOKPkt(t, readPkt(t, c), "COM_RESET_CONNECTION")
	stale2 := count(c, 21) != "1"
	if got := readWaits(t, srvC); got != base {
		t.Errorf("at the connection scope, reads waited for writes not the session's (waits %d -> %d)", base, got)
	}
	t.Logf("connection scope: the other connection's write stale: %v; the own write before the reset stale: %v", stale, stale2)
}

// TestSessionScopeSet: SET fwdproxy_session_scope per session, read back,
// its global value is the flag's, bad values get 1231, prepared reads see
// the current value; a session that moves to the user scope brings its
// earlier writes, so another session of the user waits for them.
func TestSessionScopeSet(t *testing.T) {
	table(t, "scope2")
	delayReplica(t, 1)
	srv, addr := startServer(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	w, r := conn(t, addr, ""), conn(t, addr, "")
	ps, err := r.PrepareContext(ctx, "SELECT @@fwdproxy_session_scope")
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	exec(t, w, "INSERT INTO scope2 (v) VALUES (30)") // at the connection scope
	exec(t, w, "SET fwdproxy_session_scope = 'USER'")
	exec(t, r, "SET SESSION fwdproxy_session_scope = user")
	base := readWaits(t, srv) // the first read of r from here waits for w's write, once
	for q, want := range map[string]string{
		"SELECT @@fwdproxy_session_scope":         "user",
		"SELECT @@session.fwdproxy_session_scope": "user",
		"SELECT @@GLOBAL.fwdproxy_session_scope":  "connection",
	} {
		if got := one(t, r, q); got != want {
			t.Errorf("%s = %q, want %q", q, got, want)
		}
	}
	var got string
	if err := ps.QueryRowContext(ctx).Scan(&got); err != nil || got != "user" {
		t.Errorf("prepared SELECT @@fwdproxy_session_scope = %q, %v; want user", got, err)
	}
	var name, val string
	if err := r.QueryRowContext(ctx, "SHOW VARIABLES LIKE 'fwdproxy_session_scope'").Scan(&name, &val); err != nil || val != "user" {
		t.Errorf("SHOW VARIABLES LIKE 'fwdproxy_session_scope' = %q %q, %v", name, val, err)
	}
	if _, err := r.ExecContext(ctx, "SET fwdproxy_session_scope = 'pool'"); errCode(err) != 1231 {
		t.Errorf("SET fwdproxy_session_scope = 'pool': %v, want 1231", err)
	}
	if got := one(t, r, "SELECT @@fwdproxy_session_scope"); got != "user" {
		t.Errorf("after a refused SET, @@fwdproxy_session_scope = %q, want user", got)
	}
	if n := one(t, r, "SELECT COUNT(*) FROM scope2 WHERE v = 30"); n != "1" {
		t.Errorf("the write w made before it joined the user scope is not read (count %s)", n)
	}
	if got := readWaits(t, srv); got != base+1 {
		t.Errorf("the reads after another session's write waited %d times, want 1", got-base)
	}
	exec(t, r, "SET fwdproxy_session_scope = 'connection'")
	exec(t, w, "INSERT INTO scope2 (v) VALUES (31)")
	base = readWaits(t, srv)
	one(t, r, "SELECT COUNT(*) FROM scope2 WHERE v = 31")
	if got := readWaits(t, srv); got != base {
		t.Errorf("back at the connection scope, a read waited for another session's write (waits %d -> %d)", base, got)
	}
}
