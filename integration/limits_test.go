package integration

// Writer-side limits: idle timeout, connection cap and the runtime switch,
// with the Aurora_fwd_* figures that count them; then the client limits.

import (
	"bufio"
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"net"
	osexec "os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/fwdproxy/fwdproxy/integration/pair"
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

// The client limits of the binary (docs/operations.md), against MariaDB:
// each refuses with MariaDB's code and words and leaves the proxy serving.

// tryLogin logs in once through addr as user and reports the error.
func tryLogin(addr, user, password string) error {
	db, err := sql.Open("mysql", pair.DSN(addr, user, password, testDB))
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	return c.Close()
}

// Silent clients and clients that stop mid-handshake are disconnected
// after --handshake-timeout; before, 3,000 stayed open.
func TestLimitHandshakeTimeout(t *testing.T) {
	// Abandoned handshakes count as failed logins, and every client here is
	// 127.0.0.1: no blocking.
	_, addr := startBinary(t, "--handshake-timeout", "1s", "--max-connect-errors", "0")
	var conns []net.Conn
	for i := 0; i < 200; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if i%2 == 1 { // half a handshake response
			_, _ = c.Write([]byte{0x40, 0, 0, 1, 0x0d, 0xa2})
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		// The deadline keeps a proxy that never closes from hanging the
		// test; the assertion is the end of the stream.
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("connection %d still open: %v", i, err)
		}
	}
	if n := status(t, addr, "Fwdproxy_limited_handshake_timeout"); n != 200 {
		t.Errorf("Fwdproxy_limited_handshake_timeout = %d, want 200", n)
	}
}

// One client beyond --max-client-connections gets MariaDB's 1040.
func TestLimitClientConnections(t *testing.T) {
	_, addr := startBinary(t, "--max-client-connections", "3")
	a, err := sql.Open("mysql", pair.DSN(addr, thePair.User, thePair.Password, testDB))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Ping(); err != nil {
		t.Fatal(err)
	}
	conn(t, addr, "")
	conn(t, addr, "")
	wantErr(t, tryLogin(addr, thePair.User, thePair.Password), 1040, "Too many connections")
	a.Close()
	for i := 0; i < 100; i++ { // the proxy sees the close after the client
		if err = tryLogin(addr, thePair.User, thePair.Password); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("after a client left: %v", err)
	}
}

// Out of file descriptors, the proxy keeps running: it backs off, counts,
// and accepts again once clients leave. Before, EMFILE ended the process.
func TestLimitFileDescriptors(t *testing.T) {
	// The held connections end as abandoned handshakes, which count as
	// failed logins of 127.0.0.1: no blocking here.
	cmd, addr := startBinary(t, "--handshake-timeout", "60s", "--max-connect-errors", "0")
	conn(t, addr, "") // a session holds its descriptors across it
	out, err := osexec.Command("prlimit", "--pid", strconv.Itoa(cmd.Process.Pid), "--nofile=64:64").CombinedOutput()
	if err != nil {
		t.Skipf("prlimit cannot lower the proxy's descriptor limit: %v %s", err, out)
	}
	var held []net.Conn
	for i := 0; i < 100; i++ { // beyond 64: the last ones wait in the backlog
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		held = append(held, c)
	}
	// The proxy answers the first ones with its handshake, up to the limit;
	// the last connection gets none while the others are held.
	last := held[len(held)-1]
	_ = last.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := last.Read(make([]byte, 1)); err == nil {
		t.Fatalf("the 100th connection was served under a limit of 64 descriptors")
	}
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the proxy is gone: %v", err)
	}
	for _, c := range held {
		c.Close()
	}
	c := conn(t, addr, "")
	if v := one(t, c, "SELECT 1"); v != "1" {
		t.Fatalf("SELECT 1 = %q", v)
	}
	if n := status(t, addr, "Fwdproxy_accept_errors"); n < 1 {
		t.Errorf("Fwdproxy_accept_errors = %d", n)
	}
}

// xs reads as n bytes of 'x'.
type xs int

func (n *xs) Read(p []byte) (int, error) {
	if *n <= 0 {
		return 0, io.EOF
	}
	k := min(len(p), int(*n))
	for i := range p[:k] {
		p[i] = 'x'
	}
	*n -= xs(k)
	return k, nil
}

// bigQuery sends SELECT LENGTH('xxx…') of size bytes in MySQL packets
// streamed from a small buffer, and returns the answer's first packet.
func bigQuery(c *client.Conn, size int) ([]byte, error) {
	prefix, suffix := "\x03SELECT LENGTH('", "')"
	filler := xs(size - len(prefix) - len(suffix))
	r := io.MultiReader(strings.NewReader(prefix), &filler, strings.NewReader(suffix))
	w := bufio.NewWriterSize(c.Conn.Conn, 1<<20)
	seq := uint8(0)
	for left := size; ; seq++ {
		n := min(left, 1<<24-1)
		if _, err := w.Write([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}); err != nil {
			return nil, err
		}
		if _, err := io.CopyN(w, r, int64(n)); err != nil {
			return nil, err
		}
		left -= n
		if n < 1<<24-1 {
			break
		}
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	c.Conn.Sequence = seq + 1
	return c.ReadPacket()
}

// Commands bigger than --max-allowed-packet (16 MiB by default) get 1153
// and cost the proxy little memory: before, three 200 MB queries took it to
// 2 GB of RSS.
func TestLimitMaxAllowedPacket(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 600 MB")
	}
	cmd, addr := startBinary(t)
	one(t, conn(t, addr, ""), "SELECT 1")
	before, peakRSS := sampleRSS(t, cmd.Process.Pid)
	errs := make(chan error, 3)
	for _, c := range []*client.Conn{rawConn(t, addr), rawConn(t, addr), rawConn(t, addr)} {
		go func() {
			p, err := bigQuery(c, 200<<20)
			if err == nil {
				if p[0] != 0xff {
					err = fmt.Errorf("a 200 MB query was not refused: % x", p[:min(len(p), 16)])
				} else if e := c.HandleErrorPacket(p).Error(); e != "ERROR 1153 (08S01): Got a packet bigger than 'max_allowed_packet' bytes" {
					err = fmt.Errorf("got %s", e)
				} else if _, err = c.Execute("SELECT 1"); err != nil {
					err = fmt.Errorf("the session after 1153: %v", err)
				}
			}
			errs <- err
		}()
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	peak := peakRSS()
	growth := peak - before
	t.Logf("three 200 MB queries: RSS before %d kB, peak %d kB, growth %d kB", before, peak, growth)
	// Each session holds at most the limit of its command (16 MiB, and a
	// quarter more of buffer slack) before it skips the rest.
	if growth > 3*32*1024 {
		t.Errorf("RSS grew %d kB", growth)
	}
	if n := status(t, addr, "Fwdproxy_limited_max_allowed_packet"); n != 3 {
		t.Errorf("Fwdproxy_limited_max_allowed_packet = %d", n)
	}
}

// loginErr is the error of one go-sql-driver login to addr.
func loginErr(t *testing.T, addr, user, password string) string {
	t.Helper()
	err := tryLogin(addr, user, password)
	if err == nil {
		t.Fatalf("%s:%s logged in to %s", user, password, addr)
	}
	return err.Error()
}

// An unknown user gets what a wrong password gets, word for word, and both
// are what MariaDB answers. Before, an unknown user got 1449, "The user
// specified as a definer … does not exist".
func TestLimitLoginErrorsAreMariaDBs(t *testing.T) {
	_, addr := startBinary(t)
	for _, c := range []struct{ user, password string }{{"nosuchuser", "x"}, {thePair.User, "wrong"}, {"nosuchuser", ""}} {
		got, want := loginErr(t, addr, c.user, c.password), loginErr(t, thePair.WriterAddr, c.user, c.password)
		if got != want {
			t.Errorf("%s:%s: the proxy says %q, MariaDB %q", c.user, c.password, got, want)
		}
	}
}

// --max-connect-errors failed logins in a row block the client address with
// MariaDB's 1129; SIGHUP unblocks it. Before, 2,947 failed logins a second
// were possible from one client.
func TestLimitFailedLoginsBlockTheAddress(t *testing.T) {
	cmd, addr := startBinary(t, "--max-connect-errors", "10")
	// startBinary's probe of the port sent nothing, which does not count;
	// a login starts the count again anyway.
	if err := tryLogin(addr, thePair.User, thePair.Password); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		wantErr(t, tryLogin(addr, thePair.User, fmt.Sprint("guess", i)), 1045, "")
	}
	err := tryLogin(addr, thePair.User, thePair.Password)
	wantErr(t, err, 1129, "Host '127.0.0.1' is blocked because of many connection errors; unblock with a reload of fwdproxy (SIGHUP), or wait 5m0s")
	_ = cmd.Process.Signal(syscall.SIGHUP)
	for i := 0; i < 100 && err != nil; i++ {
		time.Sleep(20 * time.Millisecond)
		err = tryLogin(addr, thePair.User, thePair.Password)
	}
	if err != nil {
		t.Fatalf("after SIGHUP: %v", err)
	}
	if n := status(t, addr, "Fwdproxy_hosts_blocked"); n != 1 {
		t.Errorf("Fwdproxy_hosts_blocked = %d", n)
	}
}

// changeUserErr sends COM_CHANGE_USER (an unknown client plugin, so that
// MariaDB too asks for a scramble of a fresh salt) and returns its error.
func changeUserErr(c *client.Conn, user, password string) string {
	pkt := append([]byte{0x11}, user...)
	pkt = append(pkt, 0, 0, 0, 33, 0) // user NUL, no auth data, no database, charset
	pkt = append(pkt, "fwdproxy_test_plugin"...)
	pkt = append(pkt, 0, 0) // plugin NUL, no connection attributes
	c.ResetSequence()
	if err := c.WritePacket(append(make([]byte, 4), pkt...)); err != nil {
		return err.Error()
	}
	res, err := c.ReadPacket()
	if err != nil {
		return err.Error()
	}
	if res[0] == 0xfe { // auth switch: plugin NUL salt NUL
		rest := res[1:]
		salt := rest[bytes.IndexByte(rest, 0)+1:]
		if err := c.WritePacket(append(make([]byte, 4), scramble(bytes.TrimSuffix(salt, []byte{0}), password)...)); err != nil {
			return err.Error()
		}
		if res, err = c.ReadPacket(); err != nil {
			return err.Error()
		}
	}
	if res[0] == 0xff {
		return c.HandleErrorPacket(res).Error()
	}
	return "OK"
}

// Three failed COM_CHANGE_USER on a connection (a success between them does
// not start the count again), and the next gets 1047 whatever the password:
// MariaDB's rule, with MariaDB's words, and the connection still serves.
// Before, 13,853 guesses a second went through one connection.
func TestLimitChangeUserTries(t *testing.T) {
	_, addr := startBinary(t)
	var got, want []string
	for _, a := range []string{addr, thePair.WriterAddr} {
		c := rawConn(t, a)
		out := &got
		if a != addr {
			out = &want
		}
		for _, p := range []string{"guess1", thePair.Password, "guess2", "guess3", thePair.Password} {
			*out = append(*out, changeUserErr(c, thePair.User, p))
		}
		if _, err := c.Execute("SELECT 1"); err != nil {
			t.Errorf("%s: the connection after the refusals: %v", a, err)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the proxy answered\n  %s\nMariaDB\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if !strings.Contains(got[len(got)-1], "1047") {
		t.Errorf("the fourth failure got %s", got[len(got)-1])
	}
}

// SIGTERM drains: a transaction open at the signal commits; a session
// without one gets MariaDB's 1053 for its BEGIN; no new client gets in;
// then the process exits 0. Before, sessions kept opening transactions
// during the drain and 35 were cut in the middle of one.
func TestLimitDrainOnSIGTERM(t *testing.T) {
	table(t, "drain1")
	cmd, addr := startBinary(t, "--default-consistency", "SESSION")
	tx, idle := conn(t, addr, ""), conn(t, addr, "")
	exec(t, tx, "BEGIN")
	exec(t, tx, "INSERT INTO drain1 (v) VALUES (900)")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	var err error
	for i := 0; i < 100; i++ { // the listener closes when the drain starts
		var c net.Conn
		if c, err = net.Dial("tcp", addr); err != nil {
			break
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	if err == nil {
		t.Fatal("still accepting clients after SIGTERM")
	}
	wantErr(t, errOf(idle, "BEGIN"), 1053, "Server shutdown in progress")
	exec(t, tx, "INSERT INTO drain1 (v) VALUES (901)")
	exec(t, tx, "COMMIT")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if n := count(t, writerDB(t), "SELECT COUNT(*) FROM drain1 WHERE v IN (900, 901)"); n != 2 {
		t.Fatalf("the transaction open at SIGTERM has %d of its 2 rows", n)
	}
}
