package proxy_test

// The client limits (docs/operations.md) against scripted backends: each
// refuses with MariaDB's code and words, counts, and leaves the proxy
// serving. integration/limits_test.go runs them on the binary and MariaDB.

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/fwdproxy/fwdproxy/proxy"
	fb "github.com/fwdproxy/fwdproxy/proxy/internal/fakebackend"
)

// figure is one Fwdproxy_* row of SHOW STATUS.
func figure(r *rig, name string) string {
	for _, row := range r.srv.Metrics.StatusRows() {
		if row[0] == name {
			return row[1]
		}
	}
	return "no row " + name
}

// eventually polls cond, for what the proxy does after the client saw the
// end of its connection; it fails the test if cond never holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

// login logs in once as user and reports the error.
func login(r *rig, user, password string) error {
	db, err := sql.Open("mysql", user+":"+password+"@tcp("+r.addr+")/")
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := db.Conn(context.Background())
	if err != nil {
		return err
	}
	return c.Close()
}

// greeted connects and reads the proxy's initial handshake.
func greeted(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	hdr := make([]byte, 4)
	if _, err := io.ReadFull(c, hdr); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16)); err != nil {
		t.Fatal(err)
	}
	return c
}

// A client that sends nothing, or stops in the middle of its handshake
// response, is disconnected after --handshake-timeout.
func TestHandshakeTimeout(t *testing.T) {
	r := startRig(t, func(c *proxy.Config) { c.HandshakeTimeout = 100 * time.Millisecond })
	probes := r.reader.Accepted() // the proxy's own, at start
	for name, send := range map[string][]byte{"silent": nil, "stalled": {0x40, 0, 0, 1, 0x0d, 0xa2}} {
		c := greeted(t, r.addr)
		if _, err := c.Write(send); err != nil {
			t.Fatal(err)
		}
		// The deadline only keeps a proxy that never closes from hanging
		// the test; the assertion is the end of the stream.
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Errorf("%s: the proxy did not close the connection: %v", name, err)
		}
	}
	eventually(t, "two handshake timeouts counted", func() bool { return figure(r, "Fwdproxy_limited_handshake_timeout") == "2" })
	if got := r.reader.Accepted() - probes; got != 0 {
		t.Errorf("the reader got %d connections for clients that never logged in", got)
	}
}

// Beyond --max-client-connections, logged in or not, a client gets 1040
// in place of the handshake, as from MariaDB; a freed slot serves again.
func TestClientConnectionCap(t *testing.T) {
	r := startRig(t, func(c *proxy.Config) { c.MaxClientConnections = 2 })
	r.client(t, "")
	handshaking := greeted(t, r.addr)
	wantErr(t, login(r, "app", "secret"), 1040, "Too many connections")
	if got := figure(r, "Fwdproxy_limited_max_client_connections"); got != "1" {
		t.Errorf("Fwdproxy_limited_max_client_connections = %s", got)
	}
	handshaking.Close()
	eventually(t, "a login after a slot was freed", func() bool { return login(r, "app", "secret") == nil })
}

// The file descriptors ran out: Serve logs, counts, pauses and accepts
// again, and the next client logs in.
func TestAcceptErrorsDoNotStopServing(t *testing.T) {
	var ln *emfileListener
	r := startRigOn(t, nil, func(l net.Listener) net.Listener {
		ln = &emfileListener{Listener: l}
		ln.fails.Store(3)
		return ln
	})
	if err := login(r, "app", "secret"); err != nil {
		t.Fatalf("login after EMFILE: %v", err)
	}
	if got := figure(r, "Fwdproxy_accept_errors"); got != "3" {
		t.Errorf("Fwdproxy_accept_errors = %s, want 3", got)
	}
}

// emfileListener fails its first accepts as a process out of descriptors.
type emfileListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// An unknown user gets what a wrong password gets, word for word, with the
// client named by its host as MariaDB names it.
func TestUnknownUserIsAWrongPassword(t *testing.T) {
	r := startRig(t, nil)
	wantErr(t, login(r, "nosuch", "secret"), 1045, "Access denied for user 'nosuch'@'127.0.0.1' (using password: YES)")
	wantErr(t, login(r, "app", "wrong"), 1045, "Access denied for user 'app'@'127.0.0.1' (using password: YES)")
	wantErr(t, login(r, "nosuch", ""), 1045, "Access denied for user 'nosuch'@'127.0.0.1' (using password: NO)")
}

// --max-connect-errors failed logins in a row block the address with 1129
// (a success in between starts the count again); SIGHUP unblocks it.
func TestFailedLoginsBlockTheAddress(t *testing.T) {
	var cfg proxy.Config
	r := startRig(t, func(c *proxy.Config) { c.MaxConnectErrors = 3; cfg = *c })
	for i := 0; i < 2; i++ {
		wantErr(t, login(r, "app", "wrong"), 1045, "")
	}
	if err := login(r, "app", "secret"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		wantErr(t, login(r, "nosuch", "wrong"), 1045, "")
	}
	wantErr(t, login(r, "app", "secret"), 1129,
		"Host '127.0.0.1' is blocked because of many connection errors; unblock with a reload of fwdproxy (SIGHUP), or wait 5m0s")
	if a, b := figure(r, "Fwdproxy_hosts_blocked"), figure(r, "Fwdproxy_limited_host_blocked"); a != "1" || b != "1" {
		t.Errorf("Fwdproxy_hosts_blocked = %s, Fwdproxy_limited_host_blocked = %s", a, b)
	}
	if err := r.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if err := login(r, "app", "secret"); err != nil {
		t.Fatalf("after the reload: %v", err)
	}
}

// A connection has three failed COM_CHANGE_USER; the next gets MariaDB's
// 1047 whatever the password, and the connection still serves. The
// failures count against the address too. (MariaDB's pause of a second
// after each failure is off here.)
func TestChangeUserTries(t *testing.T) {
	defer proxy.SetChangeUserPause(0)()
	r := startRig(t, func(c *proxy.Config) { c.MaxConnectErrors = 3 })
	c, err := client.ConnectWithTimeout(r.addr, "app", "secret", "", 5*time.Second, func(c *client.Conn) error {
		c.UnsetCapability(gmysql.CLIENT_DEPRECATE_EOF)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 3; i++ {
		if err := changeUser(c, "app", "guess"); err == nil || !strings.Contains(err.Error(), "ERROR 1045 (28000): Access denied for user 'app'@'127.0.0.1' (using password: YES)") {
			t.Fatalf("guess %d: %v", i+1, err)
		}
	}
	if err := changeUser(c, "app", "secret"); err == nil || !strings.Contains(err.Error(), "ERROR 1047 (08S01): Unknown command") {
		t.Fatalf("the fourth COM_CHANGE_USER: %v", err)
	}
	if err := c.Ping(); err != nil {
		t.Fatalf("the connection after the refusal: %v", err)
	}
	if got := figure(r, "Fwdproxy_limited_change_user"); got != "1" {
		t.Errorf("Fwdproxy_limited_change_user = %s", got)
	}
	wantErr(t, login(r, "app", "secret"), 1129, "Host '127.0.0.1' is blocked")
}

// changeUser sends COM_CHANGE_USER and answers the proxy's auth switch.
func changeUser(c *client.Conn, user, password string) error {
	pkt := append([]byte{0x11}, user...)
	pkt = append(pkt, 0, 0, 0, 33, 0) // user NUL, no auth data, no database, charset
	pkt = append(pkt, gmysql.AUTH_NATIVE_PASSWORD...)
	pkt = append(pkt, 0)
	c.ResetSequence()
	if err := c.WritePacket(append(make([]byte, 4), pkt...)); err != nil {
		return err
	}
	res, err := c.ReadPacket()
	if err != nil {
		return err
	}
	if res[0] == 0xfe { // auth switch: plugin NUL salt NUL
		salt := res[1+len(gmysql.AUTH_NATIVE_PASSWORD)+1:]
		h1 := sha1.Sum([]byte(password))
		h2 := sha1.Sum(h1[:])
		k := sha1.Sum(append(append([]byte{}, salt[:len(salt)-1]...), h2[:]...))
		for i := range h1 {
			h1[i] ^= k[i]
		}
		if err := c.WritePacket(append(make([]byte, 4), h1[:]...)); err != nil {
			return err
		}
		if res, err = c.ReadPacket(); err != nil {
			return err
		}
	}
	if res[0] == 0xff {
		return c.HandleErrorPacket(res)
	}
	return nil
}

// A command bigger than --max-allowed-packet gets 1153 and is skipped, the
// session goes on.
func TestMaxAllowedPacket(t *testing.T) {
	r := startRig(t, func(c *proxy.Config) { c.MaxPacket = 1024 })
	r.reader.On("SELECT 1", one("1", 1))
	c := r.client(t, "")
	_, err := c.ExecContext(context.Background(), "SELECT '"+strings.Repeat("x", 2000)+"'")
	wantErr(t, err, 1153, "Got a packet bigger than 'max_allowed_packet' bytes")
	if got := query(t, c, "SELECT 1"); got[0][0] != "1" {
		t.Errorf("after 1153: %v", got)
	}
	if got := figure(r, "Fwdproxy_limited_max_allowed_packet"); got != "1" {
		t.Errorf("Fwdproxy_limited_max_allowed_packet = %s", got)
	}
}

// SIGTERM's drain: the transaction open at the start finishes and commits;
// a session without one gets 1053 for its next command, and so does a new
// transaction inside the open one; then Shutdown returns.
func TestDrainFinishesOpenTransactions(t *testing.T) {
	r := startRig(t, nil)
	r.writer.On("INSERT INTO t VALUES (1)", fb.OK{AffectedRows: 1})
	r.writer.On("COMMIT", fb.OK{GTID: "0-1-11"})
	tx, idle := r.client(t, ""), r.client(t, "")
	exec(t, tx, "BEGIN")
	exec(t, tx, "INSERT INTO t VALUES (1)")
	m := r.mark()
	done := drain(t, r)
	_, err := idle.ExecContext(context.Background(), "BEGIN")
	wantErr(t, err, 1053, "Server shutdown in progress")
	_, err = tx.ExecContext(context.Background(), "BEGIN")
	wantErr(t, err, 1053, "Server shutdown in progress")
	exec(t, tx, "COMMIT")
	<-done
	r.expect(t, m, []string{"COMMIT"}, nil)
	if got := figure(r, "Fwdproxy_limited_shutdown"); got != "2" {
		t.Errorf("Fwdproxy_limited_shutdown = %s", got)
	}
}

// drain starts r's Shutdown and returns once the drain began (the listener
// closed); done closes when Shutdown returns.
func drain(t *testing.T, r *rig) (done chan struct{}) {
	t.Helper()
	done = make(chan struct{})
	go func() {
		r.srv.Shutdown()
		close(done)
	}()
	eventually(t, "the listener closed", func() bool {
		c, err := net.Dial("tcp", r.addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	return done
}

// The drain ends a COMMIT AND CHAIN or ROLLBACK AND CHAIN as it ends a
// plain COMMIT: the transaction ends, no new one starts, and the session's
// next statement gets 1053. Before, the chain opened a new transaction and
// the drain waited on it.
func TestDrainEndsChain(t *testing.T) {
	for _, verb := range []string{"COMMIT", "ROLLBACK"} {
		t.Run(verb, func(t *testing.T) {
			r := startRig(t, func(c *proxy.Config) { c.ShutdownTimeout = 5 * time.Second })
			r.writer.On("INSERT INTO t VALUES (1)", fb.OK{AffectedRows: 1})
			r.writer.On("COMMIT", fb.OK{GTID: "0-1-11"})
			r.writer.On("ROLLBACK", fb.OK{})
			tx := r.client(t, "")
			exec(t, tx, "BEGIN")
			exec(t, tx, "INSERT INTO t VALUES (1)")
			m := r.mark()
			done := drain(t, r)
			exec(t, tx, verb+" AND CHAIN")
			_, err := tx.ExecContext(context.Background(), "INSERT INTO t VALUES (1)")
			wantErr(t, err, 1053, "Server shutdown in progress")
			<-done
			if got := r.writer.Since(m.w); !matches(got, []string{verb}) {
				t.Errorf("the writer received %q, want only %s", got, verb)
			}
		})
	}
}
