// Package failure injects backend failures under an in-process fwdproxy:
// the writer killed and restarted mid-transaction, the writer unreachable
// (a toxiproxy link switched off or black-holed), the reader down, and a
// fake writer that answers garbage or closes mid-result. None of them may
// crash the proxy, hang a client, half-commit a transaction, or leak
// goroutines or file descriptors.
//
// These tests kill servers, so TestMain always starts a private pair (never
// the shared $FWDPROXY_PAIR_ENV one) and stops it at the end.
//
// Each scenario runs in a child process (this test binary again, with
// -test.run naming it): a proxy panic then fails that scenario with the
// panic's text instead of killing the whole run before the pair is stopped,
// and the goroutine and descriptor counts of the leak check belong to that
// scenario alone. The parent revives both servers after every child.
//
//	go test -count=1 ./integration/failure/
package failure

import (
	"bufio"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"

	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/integration/pair/pairproxy"
	"github.com/fwdproxy/fwdproxy/proxy"
	"github.com/fwdproxy/fwdproxy/writerlocks"
)

const (
	testDB = "fwdfail"

	// childEnv marks a child process that runs one scenario; pairEnvVar
	// gives it the parent's pair.env.
	childEnv   = "FWDPROXY_FAILURE_CHILD"
	pairEnvVar = "FWDPROXY_FAILURE_PAIR_ENV"

	// The errors of docs/compatibility.md ("Writer-side limits and
	// failures"), both code 1105 (HY000).
	msgUnreachable = "Failed to send write forwarding request to writer"
	msgTerminated  = "Forwarded connection on Writer terminated; try restarting transaction"
	// Past --forward-timeout (3 s here, startProxy) with no answer from the
	// writer: a statement that cannot commit has its connection closed; one
	// that may commit gets 1158 only when the connection fails.
	msgTimeoutRolledBack = "Forwarded connection on Writer terminated; try restarting transaction " +
		"(no answer within --forward-timeout 3s: the writer rolls the transaction back)"
	msgMayHaveCommitted = "Lost connection to writer during query; the statement may have committed"

	// hangBound bounds a statement against an unreachable writer (the
	// proxy's dial timeout is 5 s; its TCP_USER_TIMEOUT 10 s).
	hangBound = 15 * time.Second
	// quickBound bounds a statement whose failure needs no waiting at all
	// (a refused or closed connection, a garbage answer).
	quickBound = 5 * time.Second
	// settle is how long the leak check polls for the counts to come back.
	settle = 5 * time.Second
	// Leak check slack, allowed only once settle has passed: a goroutine or
	// descriptor the runtime or a library may start or open lazily.
	goroutineSlack = 1
	fdSlack        = 1
)

var thePair *pair.Pair

func inChild() bool { return os.Getenv(childEnv) != "" }

func TestMain(m *testing.M) {
	// The driver logs dropped connections, which these tests make on purpose.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	if inChild() {
		os.Exit(childMain(m))
	}
	os.Exit(parentMain(m))
}

func parentMain(m *testing.M) (code int) {
	start := time.Now()
	p, err := pair.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, "failure: cannot start a private MariaDB pair:", err)
		return 1
	}
	thePair = p
	defer func() {
		t0 := time.Now()
		if err := p.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "failure:", err)
			code = 1
		}
		fmt.Fprintf(os.Stderr, "failure: private pair stopped in %s\n", time.Since(t0).Round(time.Millisecond))
	}()
	if err := p.CreateDatabase(testDB); err != nil {
		fmt.Fprintln(os.Stderr, "failure:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "failure: private pair ready in %s (%s)\n", time.Since(start).Round(time.Millisecond), p.Dir)
	code = m.Run()
	// Whatever the scenarios did, the pair must be whole again, caught up
	// and clean: nothing was written to the replica.
	if err := reviveBoth(); err != nil {
		fmt.Fprintln(os.Stderr, "failure:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitReplicated(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "failure:", err)
		code = 1
	}
	if err := p.CheckReplicaClean(); err != nil {
		fmt.Fprintln(os.Stderr, "failure: replica is not clean:", err)
		code = 1
	}
	return code
}

func childMain(m *testing.M) int {
	p, err := pair.Load(os.Getenv(pairEnvVar))
	if err != nil {
		fmt.Fprintln(os.Stderr, "failure child:", err)
		return 1
	}
	thePair = p
	// Let the runtime open what it opens once (the network poller, exec's
	// plumbing) before any leak check takes its baseline.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
		}
		ln.Close()
	}
	_ = exec.Command("true").Run()
	code := m.Run()
	_ = p.Stop() // a loaded pair: this only closes the helper connections
	return code
}

// ---------------------------------------------------------------------------
// Child processes

// isolated runs the calling test (or subtest) in a child process unless this
// is the child; it reports true in the parent, which must then return.
func isolated(t *testing.T, timeout time.Duration) bool {
	t.Helper()
	if inChild() {
		return false
	}
	runChild(t, timeout)
	return true
}

func runChild(t *testing.T, timeout time.Duration) {
	t.Helper()
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+strings.Join(parts, "/"),
		"-test.v", "-test.count=1", "-test.timeout="+timeout.String())
	cmd.Env = append(os.Environ(), childEnv+"=1", pairEnvVar+"="+filepath.Join(thePair.Dir, "pair.env"))
	start := time.Now()
	out, err := cmd.CombinedOutput()
	text := string(out)
	t.Logf("child %s ran %s:\n%s", t.Name(), time.Since(start).Round(time.Millisecond), excerpt(text))
	switch {
	case strings.Contains(text, "panic: test timed out"):
		t.Errorf("the scenario did not finish within %s: something hangs (goroutine dump above)", timeout)
	case strings.Contains(text, "panic: "):
		t.Errorf("the proxy CRASHED: %s", panicSummary(text))
	case err != nil:
		t.Errorf("scenario failed (%v); its log is above", err)
	case !strings.Contains(text, "--- PASS: "+t.Name()):
		t.Errorf("the child did not run %s", t.Name())
	}
	// A scenario may have died with a server down: bring both back.
	if err := reviveBoth(); err != nil {
		t.Fatal(err)
	}
}

// excerpt keeps a child's log readable: the start and the end.
func excerpt(s string) string {
	const head, tail = 6 << 10, 14 << 10
	if len(s) <= head+tail {
		return s
	}
	return s[:head] + fmt.Sprintf("\n[... %d bytes ...]\n", len(s)-head-tail) + s[len(s)-tail:]
}

// panicSummary is the panic line and the top frames of the panicking
// goroutine, as "function (file:line)".
func panicSummary(s string) string {
	lines := strings.Split(s[strings.Index(s, "panic: "):], "\n")
	out := []string{lines[0]}
	for j := 1; j+1 < len(lines) && len(out) < 5; j++ {
		fn, loc := lines[j], strings.TrimSpace(lines[j+1])
		if strings.HasPrefix(fn, "goroutine ") && len(out) > 1 {
			break
		}
		if strings.HasPrefix(loc, "/") && strings.Contains(loc, ".go:") && !strings.HasPrefix(fn, "\t") {
			if i := strings.LastIndex(fn, "("); i > 0 {
				fn = fn[:i]
			}
			if i := strings.Index(loc, " +0x"); i > 0 {
				loc = loc[:i]
			}
			out = append(out, fn+" ("+loc+")")
			j++
		}
	}
	return strings.Join(out, "\n\t")
}

// ---------------------------------------------------------------------------
// The pair's servers

func pairScript() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "pair.sh")
}

// pairCmd runs `pair.sh kill|revive DIR writer|replica`.
func pairCmd(verb, name string) error {
	out, err := exec.Command("bash", pairScript(), verb, thePair.Dir, name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pair.sh %s %s: %w\n%s", verb, name, err, out)
	}
	return nil
}

func reviveBoth() error {
	for _, n := range []string{"writer", "replica"} {
		if err := pairCmd("revive", n); err != nil {
			return err
		}
	}
	return nil
}

func mustPair(t *testing.T, verb, name string) {
	t.Helper()
	start := time.Now()
	if err := pairCmd(verb, name); err != nil {
		t.Fatal(err)
	}
	t.Logf("pair.sh %s %s: %s", verb, name, time.Since(start).Round(time.Millisecond))
}

func waitReplicated(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := thePair.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
}

// ---------------------------------------------------------------------------
// Leak check

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func fdList() string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var b strings.Builder
	for _, e := range ents {
		l, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		fmt.Fprintf(&b, "\t%s -> %s\n", e.Name(), l)
	}
	return b.String()
}

// leakCheck takes the baseline now and, when the test ends (after every
// other cleanup: clients, proxy, fakes, links), waits up to settle for the
// goroutine and descriptor counts to come back to it (then allows the slack).
// Call it first.
func leakCheck(t *testing.T) {
	t.Helper()
	g0, f0 := runtime.NumGoroutine(), openFDs()
	t.Cleanup(func() {
		_ = thePair.Stop() // the helper connections it caches
		deadline := time.Now().Add(settle)
		for {
			g, f := runtime.NumGoroutine(), openFDs()
			late := time.Now().After(deadline)
			if (g <= g0 && f <= f0) || (late && g <= g0+goroutineSlack && f <= f0+fdSlack) {
				t.Logf("leak check: goroutines %d -> %d, fds %d -> %d", g0, g, f0, f)
				return
			}
			if late {
				var stacks strings.Builder
				_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
				t.Errorf("LEAK after the scenario: goroutines %d -> %d, open fds %d -> %d (after %s)\nfds:\n%s\ngoroutines:\n%s",
					g0, g, f0, f, settle, fdList(), stacks.String())
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// ---------------------------------------------------------------------------
// Proxy and clients

// startProxy runs a proxy in this process with the pair's reader and the
// given writer address, SESSION consistency by default.
func startProxy(t *testing.T, writer string) (*proxy.Server, string) {
	t.Helper()
	return startProxyWith(t, writer, nil)
}

// startProxyWith is startProxy with its settings changed by mutate.
func startProxyWith(t *testing.T, writer string, mutate func(*proxy.Config)) (*proxy.Server, string) {
	t.Helper()
	return pairproxy.Start(t, thePair, pairproxy.Configure(func(cfg *proxy.Config) {
		cfg.Writer = writer
		cfg.DefaultConsistency = "SESSION"
		cfg.PushTracking = true // the tracker must survive the failures too
		// What an operator sets to bound a writer that stops answering while
		// its TCP stack still acknowledges (a hung server, a black hole).
		cfg.ForwardTimeout = 3 * time.Second
	}, mutate), pairproxy.CloseWithin(10*time.Second))
}

func dsn(addr string) string {
	return pair.DSN(addr, thePair.User, thePair.Password, testDB)
}

// client opens one client connection through the proxy.
func client(t *testing.T, addr string) *pinned {
	t.Helper()
	c, err := dial(addr, 10*time.Second)
	if err != nil {
		t.Fatalf("connect through the proxy: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dial opens one connection (database/sql pinned to it) within d; closing
// the returned conn closes its pool too.
func dial(addr string, d time.Duration) (*pinned, error) {
	db, err := sql.Open("mysql", dsn(addr))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &pinned{Conn: c, db: db}, nil
}

type pinned struct {
	*sql.Conn
	db *sql.DB
}

func (p *pinned) Close() error {
	p.Conn.Close()
	return p.db.Close()
}

// backendDB opens a pool to the writer or the reader directly, closed when
// the test ends.
func backendDB(t *testing.T, addr string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, q string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// table creates a fresh table on the writer and waits for the replica.
func table(t *testing.T, name string) {
	t.Helper()
	w := backendDB(t, thePair.WriterAddr)
	mustExec(t, w, "DROP TABLE IF EXISTS "+name)
	mustExec(t, w, "CREATE TABLE "+name+" (id INT PRIMARY KEY, v INT)")
	waitReplicated(t)
}

// ids lists a table's ids in order, straight from a server.
func ids(t *testing.T, addr, name string) string {
	t.Helper()
	db := backendDB(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var s sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT GROUP_CONCAT(id ORDER BY id) FROM "+name).Scan(&s); err != nil {
		t.Fatalf("ids of %s at %s: %v", name, addr, err)
	}
	return s.String
}

// outcome is what a statement through the proxy did, and how fast.
type outcome struct {
	err   error
	took  time.Duration
	bound time.Duration
}

func (o outcome) String() string {
	if o.err == nil {
		return fmt.Sprintf("OK after %s", o.took.Round(time.Millisecond))
	}
	return fmt.Sprintf("%v after %s", o.err, o.took.Round(time.Millisecond))
}

func (o outcome) hung() bool {
	return errors.Is(o.err, context.DeadlineExceeded) || o.took >= o.bound
}

type conner interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// run executes q, giving up after bound (the client then drops the connection).
func run(c conner, q string, bound time.Duration) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	start := time.Now()
	_, err := c.ExecContext(ctx, q)
	return outcome{err, time.Since(start), bound}
}

// read runs a one-value query, giving up after bound.
func read(c conner, q string, bound time.Duration) (string, outcome) {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	start := time.Now()
	var v sql.NullString
	err := c.QueryRowContext(ctx, q).Scan(&v)
	return v.String, outcome{err, time.Since(start), bound}
}

func wantOK(t *testing.T, what string, o outcome) {
	t.Helper()
	if o.err != nil {
		t.Errorf("%s: want success, got %s", what, o)
	} else {
		t.Logf("%s: %s", what, o)
	}
}

// wantErr asserts a MySQL error with code and one of msgs, in time.
func wantErr(t *testing.T, what string, o outcome, code uint16, msgs ...string) {
	t.Helper()
	if o.hung() {
		t.Errorf("%s: no answer within %s (hang): %v", what, o.bound, o.err)
		return
	}
	var me *mysql.MySQLError
	if !errors.As(o.err, &me) {
		t.Errorf("%s: want MySQL error %d %q, got %s", what, code, msgs, o)
		return
	}
	ok := me.Number == code
	if ok && len(msgs) > 0 {
		ok = false
		for _, m := range msgs {
			ok = ok || me.Message == m
		}
	}
	if !ok {
		t.Errorf("%s: want error %d %q, got %d %q", what, code, msgs, me.Number, me.Message)
		return
	}
	t.Logf("%s: %s", what, o)
}

// wantFailedInTime asserts an error of any kind (a MySQL error or a closed
// connection), but not a hang.
func wantFailedInTime(t *testing.T, what string, o outcome) {
	t.Helper()
	switch {
	case o.hung():
		t.Errorf("%s: no answer within %s (hang): %v", what, o.bound, o.err)
	case o.err == nil:
		t.Errorf("%s: want an error, got success", what)
	default:
		t.Logf("%s: %s", what, o)
	}
}

func isConnGone(err error) bool {
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// ---------------------------------------------------------------------------
// Scenario 1: the writer killed mid-transaction, then restarted

func TestWriterKilledAndRestarted(t *testing.T) {
	if isolated(t, 60*time.Second) {
		return
	}
	leakCheck(t)
	table(t, "wk")
	_, addr := startProxy(t, thePair.WriterAddr)
	var (
		tx       = client(t, addr) // in a transaction; learns while the writer is down
		txLate   = client(t, addr) // in a transaction; first statement after the restart
		inFlight = client(t, addr) // in a transaction; a statement runs when the writer dies
		auto     = client(t, addr) // autocommit, idle writer connection; writes while down
		autoLate = client(t, addr) // autocommit, idle writer connection; writes after the restart
	)
	mustExec(t, auto, "INSERT INTO wk VALUES (100, 0)")
	mustExec(t, autoLate, "INSERT INTO wk VALUES (200, 0)")
	for c, base := range map[conner]int{tx: 0, txLate: 10, inFlight: 20} {
		mustExec(t, c, "BEGIN")
		mustExec(t, c, fmt.Sprintf("INSERT INTO wk VALUES (%d, 0)", base+1))
		mustExec(t, c, fmt.Sprintf("INSERT INTO wk VALUES (%d, 0)", base+2))
	}
	slow := make(chan outcome, 1)
	go func() { slow <- run(inFlight, "INSERT INTO wk SELECT 23, SLEEP(5)", hangBound) }()
	time.Sleep(700 * time.Millisecond) // the INSERT ... SLEEP is running on the writer

	mustPair(t, "kill", "writer")

	// The statement in flight and the next statement of an open transaction
	// get the terminated error; ROLLBACK then clears the state (the error
	// is reported once, as a deadlock's would be); reads keep working.
	wantErr(t, "statement in flight when the writer died", <-slow, 1105, msgTerminated)
	wantOK(t, "ROLLBACK after that error", run(inFlight, "ROLLBACK", quickBound))
	wantErr(t, "INSERT in a transaction, writer down", run(tx, "INSERT INTO wk VALUES (3, 0)", hangBound), 1105, msgTerminated)
	wantOK(t, "ROLLBACK after the terminated error", run(tx, "ROLLBACK", quickBound))
	if _, o := read(tx, "SELECT COUNT(*) FROM wk", quickBound); o.err != nil {
		t.Errorf("a read with the writer down: %s", o)
	}
	// No transaction open: the writer is simply unreachable.
	wantErr(t, "autocommit INSERT on the dead writer connection", run(auto, "INSERT INTO wk VALUES (101, 0)", hangBound), 1105, msgUnreachable)
	wantErr(t, "autocommit INSERT, writer still down", run(auto, "INSERT INTO wk VALUES (102, 0)", hangBound), 1105, msgUnreachable)

	mustPair(t, "revive", "writer")

	// Killed under an open transaction that had not noticed: its next
	// statement (COMMIT) gets the terminated error, nothing is committed.
	wantErr(t, "COMMIT of a transaction the restart cancelled", run(txLate, "COMMIT", hangBound), 1105, msgTerminated)
	// An autocommit session whose idle writer connection died in the
	// restart: nothing was lost, so its write should just work.
	lateAuto := run(autoLate, "INSERT INTO wk VALUES (201, 0)", hangBound)
	wantOK(t, "autocommit INSERT after the restart, stale writer connection", lateAuto)

	// Later statements work on the same client connections.
	for c, q := range map[conner]string{
		tx:       "INSERT INTO wk VALUES (4, 0)",
		txLate:   "INSERT INTO wk VALUES (13, 0)",
		inFlight: "INSERT INTO wk VALUES (24, 0)",
		auto:     "INSERT INTO wk VALUES (103, 0)",
		autoLate: "INSERT INTO wk VALUES (202, 0)",
	} {
		wantOK(t, q+" on the same connection after the restart", run(c, q, hangBound))
	}
	mustExec(t, tx, "BEGIN")
	mustExec(t, tx, "INSERT INTO wk VALUES (5, 0)")
	mustExec(t, tx, "INSERT INTO wk VALUES (6, 0)")
	mustExec(t, tx, "COMMIT")

	// Nothing half-committed: none of the killed transactions' rows, none of
	// the failed statements' rows.
	want := "4,5,6,13,24,100,103,200,202"
	if lateAuto.err == nil {
		want = "4,5,6,13,24,100,103,200,201,202"
	}
	if got := ids(t, thePair.WriterAddr, "wk"); got != want {
		t.Errorf("writer rows after the crash: got %s, want %s", got, want)
	}
	// The replica's IO thread reconnected by itself (MASTER_CONNECT_RETRY=1).
	waitReplicated(t)
	if got := ids(t, thePair.ReaderAddr, "wk"); got != want {
		t.Errorf("replica rows: got %s, want %s", got, want)
	}
	// Reads after SESSION writes see them (the GTIDs after the restart).
	if v, o := read(tx, "SELECT COUNT(*) FROM wk WHERE id IN (5, 6)", quickBound); o.err != nil || v != "2" {
		t.Errorf("read-your-writes after the restart: %q %s", v, o)
	}
}

// ---------------------------------------------------------------------------
// Scenario 2: the writer unreachable behind a toxiproxy link

func TestWriterUnreachable(t *testing.T) {
	if isolated(t, 80*time.Second) {
		return
	}
	leakCheck(t)
	table(t, "wu")
	tox := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	link := toxiproxy.NewProxy(tox, "writer", "127.0.0.1:0", thePair.WriterAddr)
	if err := link.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(link.Stop)
	srv, addr := startProxy(t, link.Listen)

	a := client(t, addr) // autocommit, with an idle writer connection
	b := client(t, addr) // a transaction open on the writer
	mustExec(t, a, "INSERT INTO wu VALUES (1, 0)")
	mustExec(t, b, "BEGIN")
	mustExec(t, b, "INSERT INTO wu VALUES (2, 0)")

	t.Run("link down", func(t *testing.T) {
		link.Stop() // refuses new connections, closes the open ones
		o := run(a, "INSERT INTO wu VALUES (10, 0)", hangBound)
		var me *mysql.MySQLError
		if errors.As(o.err, &me) && me.Number == 1158 && me.Message == msgMayHaveCommitted {
			// Sent before the proxy saw the close (a loaded machine delays
			// it): the proxy cannot tell it never reached the writer.
			t.Logf("autocommit INSERT, its writer connection closed: raced the close: %s", o)
		} else {
			wantErr(t, "autocommit INSERT, its writer connection closed", o, 1105, msgUnreachable)
		}
		wantErr(t, "autocommit INSERT, writer refused", run(a, "INSERT INTO wu VALUES (11, 0)", hangBound), 1105, msgUnreachable)
		wantErr(t, "INSERT in a transaction", run(b, "INSERT INTO wu VALUES (12, 0)", hangBound), 1105, msgTerminated)
		wantOK(t, "ROLLBACK after the terminated error", run(b, "ROLLBACK", quickBound))
		c := client(t, addr) // logs in through the reader while the writer is away
		wantErr(t, "first write of a new session", run(c, "INSERT INTO wu VALUES (13, 0)", hangBound), 1105, msgUnreachable)
		for name, s := range map[string]conner{"a": a, "b": b, "c": c} {
			if v, o := read(s, "SELECT COUNT(*) FROM wu", quickBound); o.err != nil || v != "1" {
				t.Errorf("session %s: a read with the writer unreachable: %q %s", name, v, o)
			}
		}
		if err := link.Start(); err != nil {
			t.Fatal(err)
		}
		for i, s := range []conner{a, b, c} {
			q := fmt.Sprintf("INSERT INTO wu VALUES (%d, 0)", 20+i)
			wantOK(t, q+" once the link is back", run(s, q, hangBound))
		}
	})

	t.Run("link black-holed", func(t *testing.T) {
		g := client(t, addr) // a transaction open on the writer when the link goes silent
		mustExec(t, g, "BEGIN")
		mustExec(t, g, "INSERT INTO wu VALUES (32, 0)")
		// A timeout toxic with timeout 0 drops every byte both ways and
		// keeps the connections open: the writer is gone without a reset,
		// as behind a partition (except that the local end still ACKs).
		for _, stream := range []string{"upstream", "downstream"} {
			if _, err := link.Toxics.AddToxicJson(strings.NewReader(fmt.Sprintf(
				`{"name":"hole_%s","type":"timeout","stream":%q,"toxicity":1,"attributes":{"timeout":0}}`, stream, stream))); err != nil {
				t.Fatal(err)
			}
		}
		d := client(t, addr) // a session that has no writer connection yet
		e := client(t, addr) // a reader-only session
		onOpen := make(chan outcome, 1)
		go func() { onOpen <- run(a, "INSERT INTO wu VALUES (30, 0)", 2*hangBound) }()
		var onNew outcome
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); onNew = run(d, "INSERT INTO wu VALUES (31, 0)", hangBound) }()
		time.Sleep(500 * time.Millisecond)
		if _, o := read(e, "SELECT COUNT(*) FROM wu", quickBound); o.err != nil {
			t.Errorf("a read while the writer is black-holed: %s", o)
		}
		// In a transaction the statement cannot commit: past the timeout
		// the proxy closes its connection, which rolls the transaction back.
		wantErr(t, "INSERT in a transaction on an established writer connection", run(g, "INSERT INTO wu VALUES (33, 0)", hangBound),
			1105, msgTimeoutRolledBack)
		wantOK(t, "ROLLBACK after that error", run(g, "ROLLBACK", quickBound))
		wg.Wait()
		if onNew.hung() {
			t.Errorf("BUG: the first forwarded INSERT of a session got no answer within %s: the writer's TCP connect succeeded but "+
				"its greeting never came, and the 5 s dial timeout does not cover the handshake (proxy/backend.go dialBackend: "+
				"go-mysql's ConnectWithDialer uses ctx for the dial only)", hangBound)
		} else {
			wantErr(t, "first INSERT of a session", onNew, 1105, msgUnreachable)
			if onNew.took > 8*time.Second {
				t.Logf("note: that took %s, not the proxy's 5 s dial timeout: the writer's connect_timeout (10 s) "+
					"ended the handshake nobody completed", onNew.took.Round(time.Millisecond))
			}
		}
		// An autocommit INSERT could commit whenever a silent writer gets
		// it, so no answer is true until the writer (here the link) says
		// something: the client waits, whatever --forward-timeout says.
		waitRPCTimeouts(t, srv, 2)
		select {
		case o := <-onOpen:
			t.Errorf("an autocommit INSERT was answered while the writer was silent (%s): "+
				"it could still have committed later", o)
			onOpen <- o
		default:
		}
		// Heal: dropping the toxics closes the black-holed connections,
		// which frees any session stuck on them.
		for _, stream := range []string{"upstream", "downstream"} {
			if err := link.Toxics.RemoveToxic(context.Background(), "hole_"+stream); err != nil {
				t.Fatal(err)
			}
		}
		link.Stop()
		o := <-onOpen
		wantErr(t, "autocommit INSERT on an established writer connection, once the link closes", o, 1158, msgMayHaveCommitted)
		if err := link.Start(); err != nil {
			t.Fatal(err)
		}
		f := client(t, addr)
		wantOK(t, "INSERT of a new session once the link heals", run(f, "INSERT INTO wu VALUES (40, 0)", hangBound))
		wantOK(t, "INSERT on the black-holed session's connection once healed", run(a, "INSERT INTO wu VALUES (41, 0)", hangBound))
	})

	// The statements that were dropped on the way never ran.
	if got, want := ids(t, thePair.WriterAddr, "wu"), "1,20,21,22,40,41"; got != want {
		t.Errorf("writer rows: got %s, want %s", got, want)
	}
}

// ---------------------------------------------------------------------------
// Scenario 2b: --forward-timeout, with the writer slow or stopped (SIGSTOP)

// TestForwardTimeout checks every answer a forwarded statement past
// --forward-timeout gets against what the writer has once it runs again:
// interrupted (1317) or rolled back (the terminated error) means the row
// never appears; success means it is there; 1158 ("may have committed")
// allows either. A statement that may commit is never answered while the
// writer is stopped. How long each client waited is logged, not asserted.
func TestForwardTimeout(t *testing.T) {
	if isolated(t, 150*time.Second) {
		return
	}
	leakCheck(t)
	table(t, "ft")
	w := backendDB(t, thePair.WriterAddr)
	mustExec(t, w, "INSERT INTO ft VALUES (1, 0)")
	srv, addr := startProxy(t, thePair.WriterAddr) // --forward-timeout 3s
	const slow = 60 * time.Second                  // a bound that only catches a hang
	var promises []promise

	t.Run("slow statements on a running writer", func(t *testing.T) {
		c := client(t, addr)
		o := run(c, "UPDATE ft SET v = v + 1 + SLEEP(30) WHERE id = 1", slow)
		wantErr(t, "autocommit UPDATE ... SLEEP(30)", o, 1317)
		t.Logf("timing: the client waited %s for the kill of an autocommit UPDATE (--forward-timeout 3s)", o.took.Round(time.Millisecond))
		if v := value(t, w, "SELECT v FROM ft WHERE id = 1"); v != "0" {
			t.Errorf("the interrupted UPDATE changed the row: v = %s", v)
		}
		o = run(c, "INSERT INTO ft SELECT 2, SLEEP(30)", slow)
		wantErr(t, "autocommit INSERT ... SELECT SLEEP(30)", o, 1317)
		promises = append(promises, promise{2, o, false})
		t.Logf("timing: the client waited %s for the kill of an autocommit INSERT", o.took.Round(time.Millisecond))

		// In a transaction the kill interrupts the statement only; the
		// transaction and the session go on, and the next statement is not
		// hit by the KILL.
		mustExec(t, c, "BEGIN")
		mustExec(t, c, "INSERT INTO ft VALUES (3, 0)")
		o = run(c, "INSERT INTO ft SELECT 4, SLEEP(30)", slow)
		wantErr(t, "INSERT ... SELECT SLEEP(30) in a transaction", o, 1317)
		promises = append(promises, promise{4, o, false})
		t.Logf("timing: the client waited %s for the kill of an INSERT in a transaction", o.took.Round(time.Millisecond))
		wantOK(t, "the next INSERT of that transaction", run(c, "INSERT INTO ft VALUES (5, 0)", quickBound))
		o = run(c, "COMMIT", quickBound)
		wantOK(t, "its COMMIT", o)
		promises = append(promises, promise{3, o, true}, promise{5, o, true})
	})

	t.Run("writer stopped under a transaction", func(t *testing.T) {
		c := client(t, addr)
		mustExec(t, c, "BEGIN")
		mustExec(t, c, "INSERT INTO ft VALUES (10, 0)")
		// The first statement of a transaction travels with its START
		// TRANSACTION; d's writer connection is open, its transaction not yet.
		d := client(t, addr)
		mustExec(t, d, "INSERT INTO ft VALUES (14, 0)")
		promises = append(promises, promise{14, outcome{}, true})
		mustExec(t, d, "BEGIN")
		thaw := freezeWriter(t)
		o := run(c, "INSERT INTO ft VALUES (11, 0)", slow)
		wantErr(t, "INSERT in a transaction, writer stopped", o, 1105, msgTimeoutRolledBack)
		t.Logf("timing: the client waited %s (--forward-timeout 3s plus the KILL's grace)", o.took.Round(time.Millisecond))
		promises = append(promises, promise{10, o, false}, promise{11, o, false})
		wantOK(t, "ROLLBACK after that error", run(c, "ROLLBACK", quickBound))
		o = run(d, "INSERT INTO ft VALUES (12, 0)", slow)
		wantErr(t, "first INSERT of a transaction, writer stopped", o, 1105, msgTimeoutRolledBack)
		t.Logf("timing: the client waited %s", o.took.Round(time.Millisecond))
		promises = append(promises, promise{12, o, false})
		wantOK(t, "ROLLBACK after that error", run(d, "ROLLBACK", quickBound))
		thaw()
		wantOK(t, "an INSERT of the same session once the writer runs", run(c, "INSERT INTO ft VALUES (13, 0)", hangBound))
		promises = append(promises, promise{13, outcome{}, true})
	})

	// A statement that may commit: the client waits for the writer.
	stoppedUnder := func(t *testing.T, what string, c conner, q string, id int) {
		t.Helper()
		before := rpcTimeouts(srv)
		thaw := freezeWriter(t)
		answer := make(chan outcome, 1)
		go func() { answer <- run(c, q, slow) }()
		waitRPCTimeouts(t, srv, before+1)
		time.Sleep(3 * time.Second) // past the KILL's grace: what the proxy would answer, it has
		select {
		case o := <-answer:
			t.Errorf("%s: answered while the writer was stopped (%s), but it could still commit later", what, o)
			answer <- o
		default:
		}
		thaw()
		o := <-answer
		t.Logf("timing: %s: answered %s (the writer was stopped for about 5 s)", what, o)
		var me *mysql.MySQLError
		switch {
		case o.err == nil:
			promises = append(promises, promise{id, o, true})
		case errors.As(o.err, &me) && me.Number == 1317:
			promises = append(promises, promise{id, o, false})
		case errors.As(o.err, &me) && me.Number == 1158 && me.Message == msgMayHaveCommitted:
			t.Logf("%s: %s, either fate is allowed", what, o)
		default:
			t.Errorf("%s: want success, 1317 or 1158 %q, got %s", what, msgMayHaveCommitted, o)
		}
	}
	t.Run("writer stopped under an autocommit INSERT", func(t *testing.T) {
		c := client(t, addr)
		mustExec(t, c, "INSERT INTO ft VALUES (20, 0)") // its writer connection is open
		promises = append(promises, promise{20, outcome{}, true})
		stoppedUnder(t, "autocommit INSERT, writer stopped", c, "INSERT INTO ft VALUES (21, 0)", 21)
	})
	t.Run("writer stopped under a COMMIT", func(t *testing.T) {
		c := client(t, addr)
		mustExec(t, c, "BEGIN")
		mustExec(t, c, "INSERT INTO ft VALUES (30, 0)")
		stoppedUnder(t, "COMMIT, writer stopped", c, "COMMIT", 30)
	})

	// Every promise holds on the writer, once nothing of the sessions above
	// runs there any more (a rolled-back connection may still be leaving).
	waitWriterQuiet(t, w)
	have := "," + ids(t, thePair.WriterAddr, "ft") + ","
	for _, p := range promises {
		if got := strings.Contains(have, fmt.Sprintf(",%d,", p.id)); got != p.present {
			t.Errorf("row %d: the client was told %s, but the writer has it: %v", p.id, p.told, got)
		}
	}
	t.Logf("writer rows: %s", strings.Trim(have, ","))
	waitReplicated(t)
}

// A client's KILL QUERY of a forwarded statement goes over the proxy's
// control connection to the writer, open since the session's writer
// connection: it reaches a writer that stopped answering and runs when the
// writer resumes. Before, KILL QUERY dialled a fresh connection, which
// waited in the stopped writer's handshake and gave up: the statement ran
// on to its end (SLEEP returns 0 then; interrupted, 1317 or 1).
func TestClientKillQueryStoppedWriter(t *testing.T) {
	if isolated(t, 150*time.Second) {
		return
	}
	table(t, "kq")
	// A forward timeout that never fires here: it keeps the control
	// connection open from the writer connection's start.
	_, addr := startProxyWith(t, thePair.WriterAddr, func(c *proxy.Config) { c.ForwardTimeout = 10 * time.Minute })
	c, k := client(t, addr), client(t, addr)
	id, o := read(c, "SELECT CONNECTION_ID()", quickBound)
	wantOK(t, "CONNECTION_ID()", o)
	mustExec(t, c, "BEGIN")
	mustExec(t, c, "INSERT INTO kq VALUES (1, 0)") // SESSION: the transaction's reads now run on the writer
	w := backendDB(t, thePair.WriterAddr)
	processes := func(where string) string {
		return value(t, w, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '"+thePair.User+"' AND "+where)
	}
	// Not counted: the connection that holds the instance's lock (fwdproxy_instance_N).
	pair.WaitUntil(t, "the proxy's control connection on the writer", "1", func() string {
		return processes("DB IS NULL AND COMMAND = 'Sleep' AND ID NOT IN (SELECT id FROM (" + writerlocks.HoldersSQL() + ") h)")
	})
	type answer struct {
		v string
		o outcome
	}
	slept := make(chan answer, 1)
	go func() {
		v, o := read(c, "SELECT SLEEP(60)", 90*time.Second)
		slept <- answer{v, o}
	}()
	pair.WaitUntil(t, "SLEEP(60) running on the writer", "1", func() string {
		return processes("INFO = 'SELECT SLEEP(60)'")
	})
	thaw := freezeWriter(t)
	wantOK(t, "KILL QUERY with the writer stopped", run(k, "KILL QUERY "+id, 30*time.Second))
	thaw()
	a := <-slept
	var me *mysql.MySQLError
	interrupted := a.o.err == nil && a.v == "1" || errors.As(a.o.err, &me) && me.Number == 1317
	if !interrupted {
		t.Errorf("SELECT SLEEP(60): %q, %s: the KILL QUERY never reached the writer", a.v, a.o)
	}
	mustExec(t, c, "ROLLBACK")
	waitReplicated(t)
}

// promise is what a client was told about row id: present or not.
type promise struct {
	id      int
	told    outcome
	present bool
}

func value(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	var v sql.NullString
	if err := db.QueryRow(q).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v.String
}

// freezeWriter stops the writer's mariadbd with SIGSTOP: its TCP stack
// still accepts and acknowledges, the server answers nothing. The returned
// function (also run at cleanup) resumes it.
func freezeWriter(t *testing.T) func() {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(thePair.Dir, "writer", "mariadbd.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// The signal stops the threads one by one: wait for all of them, so
	// that nothing sent from now on gets an answer.
	pair.WaitUntil(t, "threads of the writer still running", "0", func() string {
		return strconv.Itoa(runningThreads(pid))
	})
	var once sync.Once
	thaw := func() {
		once.Do(func() {
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT to the writer: %v", err)
			}
		})
	}
	t.Cleanup(thaw)
	return thaw
}

// runningThreads counts the threads of pid not stopped by a signal.
func runningThreads(pid int) int {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return -1
	}
	n := 0
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			continue // the thread ended
		}
		// pid (comm) state ...: comm may hold anything but the last ')'.
		if i := strings.LastIndexByte(string(b), ')'); i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
			n++
		}
	}
	return n
}

func rpcTimeouts(srv *proxy.Server) int {
	for _, r := range srv.Metrics.StatusRows() {
		if r[0] == "Aurora_fwd_writer_errors_rpc_timeout" {
			n, _ := strconv.Atoi(r[1])
			return n
		}
	}
	return -1
}

// waitRPCTimeouts waits until the proxy has counted n forward timeouts.
func waitRPCTimeouts(t *testing.T, srv *proxy.Server, n int) {
	t.Helper()
	pair.WaitUntil(t, "Aurora_fwd_writer_errors_rpc_timeout", "reached", func() string {
		if rpcTimeouts(srv) >= n {
			return "reached"
		}
		return strconv.Itoa(rpcTimeouts(srv))
	})
}

// waitWriterQuiet waits until no connection of the test user runs a
// statement on the writer.
func waitWriterQuiet(t *testing.T, w *sql.DB) {
	t.Helper()
	pair.WaitUntil(t, "running statements of "+thePair.User+" on the writer", "0", func() string {
		return value(t, w, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '"+thePair.User+
			"' AND COMMAND NOT IN ('Sleep', 'Binlog Dump') AND ID <> CONNECTION_ID()")
	})
}

// ---------------------------------------------------------------------------
// Scenario 3: the reader down

func TestReaderDown(t *testing.T) {
	if isolated(t, 60*time.Second) {
		return
	}
	leakCheck(t)
	table(t, "rd")
	srv, addr := startProxy(t, thePair.WriterAddr)
	a := client(t, addr)
	mustExec(t, a, "INSERT INTO rd VALUES (1, 0)")
	if _, o := read(a, "SELECT COUNT(*) FROM rd", quickBound); o.err != nil {
		t.Fatalf("read before the failure: %s", o)
	}
	b := client(t, addr)
	pair.WaitUntil(t, "push_tracking", "running", func() string { return srv.Status().PushTracking }) // SESSION sessions want it

	mustPair(t, "kill", "replica")

	// An existing session: its next read fails, fast.
	_, o := read(a, "SELECT COUNT(*) FROM rd", hangBound)
	wantFailedInTime(t, "read of an existing session, reader down", o)
	_, o = read(a, "SELECT 1", hangBound)
	if o.hung() {
		t.Errorf("the next statement of that session hangs: %s", o)
	} else {
		t.Logf("next statement of that session: %s", o)
	}
	// A forwarded write does not need the reader; it may work or fail, but
	// must not hang.
	if o := run(b, "INSERT INTO rd VALUES (2, 0)", hangBound); o.hung() {
		t.Errorf("a write of an existing session with the reader down hangs: %s", o)
	} else {
		t.Logf("write of an existing session, reader down: %s", o)
	}

	// New connections get a clear error at once, and keep being accepted.
	for i := 0; i < 3; i++ {
		start := time.Now()
		c, err := dial(addr, hangBound)
		took := time.Since(start)
		if err == nil {
			c.Close()
			t.Errorf("login %d with the reader down succeeded", i)
			continue
		}
		var me *mysql.MySQLError
		switch {
		case took >= quickBound:
			t.Errorf("login %d with the reader down took %s: %v", i, took, err)
		case !errors.As(err, &me):
			t.Errorf("login %d with the reader down: want a MySQL error, got %v", i, err)
		default:
			t.Logf("login %d with the reader down: %v after %s", i, err, took.Round(time.Millisecond))
		}
	}

	mustPair(t, "revive", "replica")
	waitReplicated(t)
	// The binlog tracker died with the reader; SESSION sessions still exist,
	// so it is started again.
	pair.WaitUntil(t, "push_tracking", "running", func() string { return srv.Status().PushTracking })
	c := client(t, addr)
	wantOK(t, "INSERT of a new session once the reader is back", run(c, "INSERT INTO rd VALUES (3, 0)", hangBound))
	if v, o := read(c, "SELECT COUNT(*) FROM rd WHERE id = 3", hangBound); o.err != nil || v != "1" {
		t.Errorf("read-your-write of a new session once the reader is back: %q %s", v, o)
	}
}

// ---------------------------------------------------------------------------
// Scenario 4: a writer that answers garbage

// faultMarker in a statement makes the fake writer misbehave on it.
const faultMarker = "/*fault*/"

var garbageModes = []struct{ name, doc string }{
	{"garbage-then-close", "an answer whose first byte is none of OK/ERR/EOF/LOCAL INFILE, then EOF"},
	{"truncated-then-close", "a packet header announcing 200 bytes, 20 bytes, then EOF"},
	{"close-mid-columns", "column count 2, one column definition, then EOF"},
	{"close-mid-rows", "a result set cut after its first row"},
	{"empty-packet", "a zero-length packet as the answer"},
	{"short-eof", "a result set whose final EOF packet is 1 byte long"},
	{"bad-greeting", "new writer connections a greeting whose version string never ends"},
	{"no-greeting", "nothing on new writer connections: TCP accepts, no greeting ever comes"},
	{"empty-packet-to-setup", "a zero-length packet as the answer to the proxy's own set-up statement on a new writer connection"},
}

// newConnFault: the mode breaks new writer connections, not statements.
func newConnFault(mode string) bool {
	return mode == "bad-greeting" || mode == "no-greeting" || mode == "empty-packet-to-setup"
}

func TestGarbageWriter(t *testing.T) {
	for _, m := range garbageModes {
		t.Run(m.name, func(t *testing.T) {
			if !inChild() {
				t.Parallel()
			}
			if isolated(t, 40*time.Second) {
				return
			}
			t.Logf("the fake writer sends %s", m.doc)
			garbageScenario(t, m.name)
		})
	}
}

func garbageScenario(t *testing.T, mode string) {
	leakCheck(t)
	fake := newFakeWriter(t, mode)
	_, addr := startProxy(t, fake.addr())

	// b holds a writer connection from before the fault.
	b := client(t, addr)
	wantOK(t, "a write through the fake writer", run(b, "INSERT INTO t VALUES (1)", quickBound))
	fake.faulty.Store(true)

	a := client(t, addr)
	q, bound := "INSERT INTO t VALUES (2) "+faultMarker, quickBound
	if newConnFault(mode) {
		q = "INSERT INTO t VALUES (2)"
	}
	if mode == "no-greeting" {
		bound = hangBound // the proxy's dial timeout is 5 s
	}
	o := run(a, q, bound)
	if mode == "short-eof" {
		// A 1-byte EOF (pre-4.1 form) is repaired into a whole one: the
		// client (go-sql-driver panics on a short one) sees a clean result.
		wantOK(t, "a result whose final EOF is 1 byte", o)
		return
	}
	if mode == "no-greeting" && o.hung() {
		t.Errorf("BUG: a new writer connection that never gets its greeting hangs the session (no answer within %s): "+
			"the 5 s timeout of proxy/backend.go dialBackend covers the TCP connect only, go-mysql's ConnectWithDialer "+
			"reads the handshake without any deadline", bound)
	} else {
		wantFailedInTime(t, "the statement the writer answers with garbage", o)
	}
	fake.release() // frees sessions stuck on a silent connection
	var me *mysql.MySQLError
	if errors.As(o.err, &me) && (me.Number == 1105 && (me.Message == msgTerminated || me.Message == msgUnreachable) ||
		me.Number == 1158 && me.Message == msgMayHaveCommitted) {
		// A clean error: the session must go on.
		_, o2 := read(a, "SELECT 1", quickBound)
		wantOK(t, "a read on the same session after the error", o2)
	} else if !isConnGone(o.err) && !o.hung() {
		t.Errorf("unexpected error for the garbage answer: %s", o)
	}

	// Other sessions, old and new, go on.
	_, o = read(b, "SELECT 1", quickBound)
	wantOK(t, "a read of another session", o)
	wantOK(t, "a write of another session (its writer connection predates the fault)", run(b, "INSERT INTO t VALUES (3)", quickBound))
	c := client(t, addr)
	_, o = read(c, "SELECT 1", quickBound)
	wantOK(t, "a read of a new session", o)
	if newConnFault(mode) {
		wantErr(t, "a write of a new session (its writer connection fails)", run(c, "INSERT INTO t VALUES (4)", hangBound), 1105, msgUnreachable)
	} else {
		wantOK(t, "a write of a new session", run(c, "INSERT INTO t VALUES (4)", quickBound))
	}
}

// fakeWriter speaks just enough of the server side of the MySQL protocol for
// the proxy's writer connections: a handshake, OK for every statement, the
// max_connections probe, and the chosen misbehaviour for statements carrying
// faultMarker (or, for bad-greeting, for every new connection) once faulty.
type fakeWriter struct {
	ln     net.Listener
	mode   string
	faulty atomic.Bool
	nextID atomic.Uint32

	mu       sync.Mutex
	closed   bool
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
	released chan struct{} // closed: silent connections give up
	once     sync.Once
}

func newFakeWriter(t *testing.T, mode string) *fakeWriter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeWriter{ln: ln, mode: mode, conns: map[net.Conn]struct{}{}, released: make(chan struct{})}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *fakeWriter) addr() string { return f.ln.Addr().String() }

// release ends the connections the fake keeps silent, and keeps new ones
// from staying silent.
func (f *fakeWriter) release() { f.once.Do(func() { close(f.released) }) }

func (f *fakeWriter) close() {
	f.release()
	f.mu.Lock()
	f.closed = true
	f.ln.Close()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *fakeWriter) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			c.Close()
			return
		}
		f.conns[c] = struct{}{}
		f.wg.Add(1)
		f.mu.Unlock()
		go func() {
			defer f.wg.Done()
			f.serve(c)
			f.mu.Lock()
			delete(f.conns, c)
			f.mu.Unlock()
			c.Close()
		}()
	}
}

// Capability flags of the fake's greeting.
const (
	capLongPassword    = 1 << 0
	capFoundRows       = 1 << 1
	capLongFlag        = 1 << 2
	capConnectWithDB   = 1 << 3
	capIgnoreSpace     = 1 << 8
	capProtocol41      = 1 << 9
	capLocalFiles      = 1 << 7
	capTransactions    = 1 << 13
	capSecureConn      = 1 << 15
	capMultiStatements = 1 << 16
	capMultiResults    = 1 << 17
	capPSMultiResults  = 1 << 18
	capPluginAuth      = 1 << 19
	capSessionTrack    = 1 << 23
)

func (f *fakeWriter) serve(c net.Conn) {
	r := bufio.NewReader(c)
	if f.faulty.Load() && f.mode == "bad-greeting" {
		_ = writePkt(c, 0, append([]byte{10}, "10.11.0-MariaDB-fake"...)) // no NUL, nothing after
		return
	}
	if f.faulty.Load() && f.mode == "no-greeting" {
		<-f.released
		return
	}
	if writePkt(c, 0, greeting(f.nextID.Add(1))) != nil {
		return
	}
	if _, err := readPkt(r); err != nil { // the handshake response; any password will do
		return
	}
	if writePkt(c, 2, okPayload(0)) != nil {
		return
	}
	for {
		p, err := readPkt(r)
		if err != nil || len(p) == 0 || p[0] == 0x01 { // COM_QUIT
			return
		}
		q := ""
		if p[0] == 0x03 {
			q = string(p[1:])
		}
		switch {
		case strings.Contains(q, "max_connections"):
			err = writePkts(c, 1, []byte{1}, columnDef("@@GLOBAL.max_connections"), eofPayload(), lenenc(nil, "151"), eofPayload())
		case f.mode == "empty-packet-to-setup" && f.faulty.Load() && strings.Contains(q, "session_track_system_variables"):
			_ = writePkt(c, 1, nil)
			return
		case strings.Contains(q, faultMarker) && f.faulty.Load():
			f.misbehave(c)
			return
		default:
			err = writePkt(c, 1, okPayload(1))
		}
		if err != nil {
			return
		}
	}
}

func (f *fakeWriter) misbehave(c net.Conn) {
	switch f.mode {
	case "garbage-then-close":
		_ = writePkt(c, 1, []byte("\x42\x13\x37 this is not a MySQL answer \xfe\xff"))
	case "truncated-then-close":
		_, _ = c.Write(append([]byte{200, 0, 0, 1}, strings.Repeat("x", 20)...))
	case "close-mid-columns":
		_ = writePkts(c, 1, []byte{2}, columnDef("a"))
	case "close-mid-rows":
		_ = writePkts(c, 1, []byte{1}, columnDef("a"), eofPayload(), lenenc(nil, "1"))
	case "empty-packet":
		_ = writePkt(c, 1, nil)
	case "short-eof":
		_ = writePkts(c, 1, []byte{1}, columnDef("a"), eofPayload(), lenenc(nil, "1"), []byte{0xfe})
	}
}

func greeting(id uint32) []byte {
	caps := uint32(capLongPassword | capFoundRows | capLongFlag | capConnectWithDB | capIgnoreSpace | capProtocol41 |
		capLocalFiles | capTransactions | capSecureConn | capMultiStatements | capMultiResults | capPSMultiResults |
		capPluginAuth | capSessionTrack)
	b := []byte{10}
	b = append(b, "10.11.0-MariaDB-fake\x00"...)
	b = binary.LittleEndian.AppendUint32(b, id)
	b = append(b, "abcdefgh\x00"...) // scramble, part 1
	b = binary.LittleEndian.AppendUint16(b, uint16(caps))
	b = append(b, 0x21)                             // utf8mb3_general_ci
	b = binary.LittleEndian.AppendUint16(b, 0x0002) // autocommit
	b = binary.LittleEndian.AppendUint16(b, uint16(caps>>16))
	b = append(b, 21)                    // scramble length
	b = append(b, make([]byte, 10)...)   // reserved
	b = append(b, "ijklmnopqrst\x00"...) // scramble, part 2
	return append(b, "mysql_native_password\x00"...)
}

func okPayload(affected byte) []byte {
	// OK, affected rows, insert id 0, status autocommit, no warnings, no info.
	return []byte{0x00, affected, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00}
}

func eofPayload() []byte { return []byte{0xfe, 0x00, 0x00, 0x02, 0x00} }

func columnDef(name string) []byte {
	var b []byte
	for _, s := range []string{"def", "", "", "", name, ""} {
		b = lenenc(b, s)
	}
	b = append(b, 0x0c, 0x21, 0x00)                      // fixed part length, character set
	b = binary.LittleEndian.AppendUint32(b, 21)          // column length
	return append(b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00) // LONGLONG, flags, decimals, filler
}

func lenenc(b []byte, s string) []byte {
	return append(append(b, byte(len(s))), s...) // short strings only
}

func writePkt(w io.Writer, seq byte, payload []byte) error {
	n := len(payload)
	_, err := w.Write(append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...))
	return err
}

func writePkts(w io.Writer, seq byte, payloads ...[]byte) error {
	var buf []byte
	for i, p := range payloads {
		n := len(p)
		buf = append(buf, byte(n), byte(n>>8), byte(n>>16), seq+byte(i))
		buf = append(buf, p...)
	}
	_, err := w.Write(buf)
	return err
}

func readPkt(r *bufio.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	p := make([]byte, int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16)
	_, err := io.ReadFull(r, p)
	return p, err
}
