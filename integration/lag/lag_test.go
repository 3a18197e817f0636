// Package lag proves the read-consistency contract (a SESSION or GLOBAL
// read never sees data older than it was promised) under real
// replication lag: a toxiproxy link with a latency toxic sits between the
// replica's replication connection and the writer of a private MariaDB
// pair, and an in-process fwdproxy serves read-after-write trials.
//
//	go test ./integration/lag/                                  # ~1,000 trials per level
//	FWDPROXY_SOAK_TRIALS=10000 go test -count=1 -timeout 30m ./integration/lag/
//	go test -bench . -run NONE ./integration/lag/               # docs/consistency.md figures
package lag

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"

	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/integration/pair/pairproxy"
	"github.com/fwdproxy/fwdproxy/proxy"
)

const (
	testDB = "fwdlag"
	// rows in table t; each concurrent worker owns one row.
	tableRows = 1000
	// SoakEnv sets the read-after-write trials per lag level and mode.
	SoakEnv       = "FWDPROXY_SOAK_TRIALS"
	defaultTrials = 1000
)

var (
	thePair *pair.Pair
	link    *toxiproxy.Proxy
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) (code int) {
	start := time.Now()
	p, err := pair.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, "lag: cannot start a MariaDB pair:", err)
		return 1
	}
	thePair = p
	defer func() {
		if err := p.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "lag:", err)
			code = 1
		}
	}()
	if err := setUp(p); err != nil {
		fmt.Fprintln(os.Stderr, "lag:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "lag: pair and latency link ready in %s (replication via %s)\n", time.Since(start).Round(time.Millisecond), link.Listen)
	defer func() {
		// Back to a direct link, caught up, and clean: nothing was
		// written to the replica.
		if err := tearDown(p); err != nil {
			fmt.Fprintln(os.Stderr, "lag:", err)
			code = 1
		}
	}()
	code = m.Run()
	closeBench()
	return code
}

func setUp(p *pair.Pair) error {
	for _, addr := range []string{p.WriterAddr, p.ReaderAddr} {
		db, err := p.RootDB(addr)
		if err != nil {
			return err
		}
		// Up to 200 sessions each hold a reader and a writer connection.
		_, err = db.Exec("SET GLOBAL max_connections = 1000")
		db.Close()
		if err != nil {
			return err
		}
	}
	var vals []string
	for i := 1; i <= tableRows; i++ {
		vals = append(vals, fmt.Sprintf("(%d,0)", i))
	}
	if err := p.CreateTables(testDB, "CREATE TABLE t (id INT PRIMARY KEY, v BIGINT NOT NULL)",
		"INSERT INTO t VALUES "+strings.Join(vals, ",")); err != nil {
		return err
	}

	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	link = toxiproxy.NewProxy(srv, "replication", "127.0.0.1:0", p.WriterAddr)
	if err := link.Start(); err != nil {
		return fmt.Errorf("toxiproxy: %w", err)
	}
	if _, err := link.Toxics.AddToxicJson(strings.NewReader(
		`{"name":"lag","type":"` + lagToxicName + `","stream":"downstream","toxicity":1}`)); err != nil {
		return fmt.Errorf("toxiproxy: %w", err)
	}
	host, port, err := splitAddr(link.Listen)
	if err != nil {
		return err
	}
	if err := p.SetMaster(host, port); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.WaitReplicated(ctx)
}

func tearDown(p *pair.Pair) error {
	if link == nil {
		return nil
	}
	defer link.Stop()
	setLag(0)
	host, port, err := splitAddr(p.WriterAddr)
	if err != nil {
		return err
	}
	if err := p.SetMaster(host, port); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitReplicated(ctx); err != nil {
		return err
	}
	return p.CheckReplicaClean()
}

func splitAddr(addr string) (string, int, error) {
	h, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	return h, port, err
}

// setLag sets the writer -> replica latency of the replication link.
func setLag(d time.Duration) { linkLatency.Store(int64(d)) }

// The link's latency toxic. Toxiproxy's own "latency" toxic is changed
// with UpdateToxicJson, which decodes the new attributes into the struct
// its running stubs read (a data race); this one reads an atomic instead.
const lagToxicName = "fwdproxy_lag"

var linkLatency atomic.Int64 // time.Duration

type lagToxic struct{}

func init() { toxics.Register(lagToxicName, new(lagToxic)) }

func (*lagToxic) GetBufferSize() int { return 1024 }

// Pipe delays each chunk until linkLatency after it was read from the
// writer, as toxiproxy's latency toxic does.
func (*lagToxic) Pipe(stub *toxics.ToxicStub) {
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			if sleep := time.Duration(linkLatency.Load()) - time.Since(c.Timestamp); sleep > 0 {
				t := time.NewTimer(sleep)
				select {
				case <-t.C:
				case <-stub.Interrupt:
					t.Stop()
					stub.Output <- c // do not drop data
					return
				}
			}
			stub.Output <- c
		}
	}
}

// caughtUp waits until the replica has everything the writer has, so a
// measurement does not inherit the previous one's backlog.
func caughtUp(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := thePair.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
}

// startProxy runs a proxy in this process in front of the pair.
func startProxy(t testing.TB, mutate func(*proxy.Config)) (*proxy.Server, string) {
	t.Helper()
	return pairproxy.Start(t, thePair, pairproxy.Configure(manySessions, mutate), pairproxy.CheckClean())
}

// newProxy is startProxy for the benchmarks' shared proxy, which closeBench closes.
func newProxy() (*proxy.Server, string, error) {
	cfg := pairproxy.Config(thePair)
	manySessions(&cfg)
	return pairproxy.Serve(cfg, nil)
}

// manySessions allows up to 200 concurrent forwarding sessions (writer
// max_connections is 1000 here).
func manySessions(cfg *proxy.Config) { cfg.WriterMaxConnectionsPct = 90 }

// dsn is the privileged test user (ALL PRIVILEGES) at addr, text protocol.
func dsn(addr string) string {
	return pair.DSN(addr, thePair.User, thePair.Password, testDB) + "&interpolateParams=true"
}

// sessions opens n client connections through the proxy at addr, each set
// to level ("" leaves the default).
func sessions(t testing.TB, addr string, n int, level string) []*sql.Conn {
	t.Helper()
	cs, closeAll, err := openSessions(addr, n, level)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeAll)
	return cs
}

// openSessions opens n pinned connections; closeAll really closes them
// (sql.Conn.Close only returns a connection to its pool).
func openSessions(addr string, n int, level string) (cs []*sql.Conn, closeAll func(), err error) {
	db, err := sql.Open("mysql", dsn(addr))
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	closeAll = func() {
		for _, c := range cs {
			if c != nil {
				c.Close()
			}
		}
		db.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs = make([]*sql.Conn, n)
	for i := range cs {
		c, err := db.Conn(ctx)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("session %d through the proxy: %w", i, err)
		}
		cs[i] = c
		if level != "" {
			if _, err := c.ExecContext(ctx, "SET aurora_replica_read_consistency = '"+level+"'"); err != nil {
				closeAll()
				return nil, nil, err
			}
		}
	}
	return cs, closeAll, nil
}

func writerDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", pair.DSN(thePair.WriterAddr, thePair.User, thePair.Password, testDB)+"&interpolateParams=true")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// stat reads one SHOW STATUS figure of srv through its metrics API.
func stat(t testing.TB, srv *proxy.Server, name string) uint64 {
	t.Helper()
	for _, r := range srv.Metrics.StatusRows() {
		if r[0] == name {
			n, err := strconv.ParseUint(r[1], 10, 64)
			if err != nil {
				t.Fatalf("%s = %q", name, r[1])
			}
			return n
		}
	}
	t.Fatalf("no status row %s", name)
	return 0
}

// showStatus reads a figure as a client sees it: SHOW GLOBAL STATUS
// through the proxy, on a connection of its own (level left empty).
func showStatus(t testing.TB, c *sql.Conn, name string) uint64 {
	t.Helper()
	var k, v string
	if err := c.QueryRowContext(context.Background(), "SHOW GLOBAL STATUS LIKE '"+name+"'").Scan(&k, &v); err != nil {
		t.Fatalf("SHOW GLOBAL STATUS LIKE '%s': %v", name, err)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("%s = %q", name, v)
	}
	return n
}

// rowValue reads t.v of row id on the writer: the truth.
func rowValue(t testing.TB, w *sql.DB, id int) int64 {
	t.Helper()
	var v int64
	if err := w.QueryRow("SELECT v FROM t WHERE id = ?", id).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func trialsPerLevel(t testing.TB) int {
	n := defaultTrials
	if s := os.Getenv(SoakEnv); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("%s=%q: want a positive number", SoakEnv, s)
		}
		n = v
	}
	return n
}

// concurrency spreads trials over sessions so that a level takes about ten
// lag periods: 1,000 trials -> 100 sessions, 10,000 -> 200.
func concurrency(trials int) int {
	return max(20, min(200, trials/10))
}

type result struct {
	trials, stale, errs int
	firstErr            error
	elapsed             time.Duration
}

// readAfterWrite runs trials read-after-write trials spread over the
// sessions: UPDATE t SET v=v+1 WHERE id=<own row> through the proxy, then
// at once SELECT v of that row. A read that returns less than the value
// just written is stale. direct makes the write on the writer with a
// client of its own instead (another client's write, for GLOBAL).
func readAfterWrite(t testing.TB, cs []*sql.Conn, trials int, direct *sql.DB) result {
	t.Helper()
	return spreadTrials(t, len(cs), 1, trials, func(ctx context.Context, k, id int) (int64, error) {
		c := cs[k]
		var err error
		if direct != nil {
			_, err = direct.ExecContext(ctx, "UPDATE t SET v = v + 1 WHERE id = ?", id)
		} else {
			_, err = c.ExecContext(ctx, "UPDATE t SET v = v + 1 WHERE id = ?", id)
		}
		if err != nil {
			return 0, fmt.Errorf("UPDATE row %d: %w", id, err)
		}
		var got int64
		if err := c.QueryRowContext(ctx, "SELECT v FROM t WHERE id = ?", id).Scan(&got); err != nil {
			return 0, fmt.Errorf("SELECT row %d: %w", id, err)
		}
		return got, nil
	})
}

// spreadTrials runs trials trials spread over workers goroutines, worker k
// on row firstRow+k alone. trial adds 1 to the row's v and returns the v it
// then reads: less than it wrote is a stale read, more than was ever
// written fails the trials, as an error does.
func spreadTrials(t testing.TB, workers, firstRow, trials int, trial func(ctx context.Context, k, id int) (int64, error)) result {
	t.Helper()
	w := writerDB(t)
	var stale, errs atomic.Int64
	var errOnce sync.Once
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for k := 0; k < workers; k++ {
		n := trials / workers
		if k < trials%workers {
			n++
		}
		id := firstRow + k
		want := rowValue(t, w, id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				got, err := trial(context.Background(), k, id)
				if err == nil && got > want+1 {
					err = fmt.Errorf("row %d: read %d, only %d written", id, got, want+1)
				}
				if err != nil {
					errs.Add(1)
					errOnce.Do(func() { firstErr = err })
					return
				}
				want++
				if got < want {
					stale.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return result{trials: trials, stale: int(stale.Load()), errs: int(errs.Load()), firstErr: firstErr, elapsed: time.Since(start)}
}

// TestReadAfterWriteUnderLag: at 50, 200 and 1000 ms of replication lag,
// SESSION and GLOBAL never read stale, EVENTUAL does (the lag is real).
func TestReadAfterWriteUnderLag(t *testing.T) {
	trials := trialsPerLevel(t)
	n := concurrency(trials)
	_, addr := startProxy(t, nil)
	for _, lag := range []time.Duration{50 * time.Millisecond, 200 * time.Millisecond, time.Second} {
		t.Run(fmt.Sprintf("lag=%v", lag), func(t *testing.T) {
			setLag(lag)
			defer setLag(0)
			for _, level := range []string{"EVENTUAL", "SESSION", "GLOBAL"} {
				t.Run(level, func(t *testing.T) {
					caughtUp(t)
					cs := sessions(t, addr, n, level)
					r := readAfterWrite(t, cs, trials, nil)
					t.Logf("lag %v, %s: %d trials over %d sessions in %v: %d stale, %d errors",
						lag, level, r.trials, len(cs), r.elapsed.Round(time.Millisecond), r.stale, r.errs)
					if r.errs > 0 {
						t.Fatalf("%d trials failed; first: %v", r.errs, r.firstErr)
					}
					if level == "EVENTUAL" {
						if r.stale == 0 {
							t.Errorf("EVENTUAL read no stale value in %d trials at %v lag: is the lag real?", r.trials, lag)
						}
					} else if r.stale != 0 {
						t.Errorf("%s read %d stale values in %d trials", level, r.stale, r.trials)
					}
				})
			}
		})
	}
}

// TestReadAfterWriteWithPushTracking: the same trials at 200 ms with the
// binlog tracker running. It advances Applied, and a read that Applied
// covers skips its wait, so a tracker that ran ahead of the reader would
// show here as stale reads.
func TestReadAfterWriteWithPushTracking(t *testing.T) {
	trials := trialsPerLevel(t)
	n := concurrency(trials)
	srv, addr := startProxy(t, func(c *proxy.Config) { c.PushTracking = true })
	setLag(200 * time.Millisecond)
	defer setLag(0)
	for _, level := range []string{"SESSION", "GLOBAL"} {
		t.Run(level, func(t *testing.T) {
			caughtUp(t)
			cs := sessions(t, addr, n, level)
			pair.WaitUntil(t, "push_tracking", "running", func() string { return srv.Status().PushTracking })
			r := readAfterWrite(t, cs, trials, nil)
			t.Logf("lag 200ms, %s, push tracking: %d trials over %d sessions in %v: %d stale, %d errors",
				level, r.trials, len(cs), r.elapsed.Round(time.Millisecond), r.stale, r.errs)
			if r.errs > 0 {
				t.Fatalf("%d trials failed; first: %v", r.errs, r.firstErr)
			}
			if r.stale != 0 {
				t.Errorf("%s read %d stale values in %d trials", level, r.stale, r.trials)
			}
		})
	}
}

// TestGlobalSeesOtherClientsWrites: a write made directly on the writer by
// another client is visible to the next GLOBAL read through the proxy.
func TestGlobalSeesOtherClientsWrites(t *testing.T) {
	setLag(200 * time.Millisecond)
	defer setLag(0)
	caughtUp(t)
	_, addr := startProxy(t, nil)
	direct := writerDB(t)
	cs := sessions(t, addr, 20, "GLOBAL")
	r := readAfterWrite(t, cs, 200, direct)
	t.Logf("GLOBAL after direct writer writes, lag 200ms: %d trials in %v, %d stale", r.trials, r.elapsed.Round(time.Millisecond), r.stale)
	if r.errs > 0 {
		t.Fatalf("%d trials failed; first: %v", r.errs, r.firstErr)
	}
	if r.stale != 0 {
		t.Errorf("GLOBAL missed %d of %d writes made directly on the writer", r.stale, r.trials)
	}
	// The same with EVENTUAL is stale: the check above is not vacuous.
	caughtUp(t)
	ev := sessions(t, addr, 20, "EVENTUAL")
	if r := readAfterWrite(t, ev, 100, direct); r.errs > 0 || r.stale == 0 {
		t.Errorf("EVENTUAL after direct writes: %d stale, %d errors (%v): want stale reads", r.stale, r.errs, r.firstErr)
	}
}

// TestSessionWaitsOnlyForItsOwnWrites: with lag, a SESSION read waits only
// when the session has a write the reader is not known to have, and only
// the first read after a write waits.
func TestSessionWaitsOnlyForItsOwnWrites(t *testing.T) {
	setLag(time.Second)
	defer setLag(0)
	caughtUp(t)
	srv, addr := startProxy(t, nil)
	cs := sessions(t, addr, 3, "SESSION")
	writerSess, idle, reader := cs[0], cs[1], cs[2]
	admin := sessions(t, addr, 1, "")[0] // SHOW GLOBAL STATUS as a client sees it
	ctx := context.Background()
	waits := func() uint64 { return showStatus(t, admin, "Aurora_fwd_replica_read_wait_count") }
	w := writerDB(t)

	// A session that wrote nothing reads without waiting, even right after
	// another session's write.
	base := waits()
	if _, err := writerSess.ExecContext(ctx, "UPDATE t SET v = v + 1 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	var v int64
	start := time.Now()
	if err := idle.QueryRowContext(ctx, "SELECT v FROM t WHERE id = 1").Scan(&v); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if got := waits(); got != base {
		t.Errorf("a SESSION read of a session that wrote nothing waited (read_wait_count %d -> %d, took %v)", base, got, took)
	}

	// Only the first read after a write waits: 3 reads, 1 wait, all fresh.
	want := rowValue(t, w, 2) + 1
	base = waits()
	if _, err := reader.ExecContext(ctx, "UPDATE t SET v = v + 1 WHERE id = 2"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := reader.QueryRowContext(ctx, "SELECT v FROM t WHERE id = 2").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != want {
			t.Errorf("read %d after the write: v=%d, want %d", i+1, v, want)
		}
	}
	if got := waits(); got != base+1 {
		t.Errorf("3 reads after one write: read_wait_count grew by %d, want 1", got-base)
	}

	// A session whose own writes the reader already has does not wait for
	// another session's newer write.
	base = waits()
	if _, err := writerSess.ExecContext(ctx, "UPDATE t SET v = v + 1 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	if err := reader.QueryRowContext(ctx, "SELECT v FROM t WHERE id = 2").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if got := waits(); got != base {
		t.Errorf("a SESSION read waited for another session's write (read_wait_count %d -> %d)", base, got)
	}
	// The writing session itself does wait, and sees its writes.
	if err := writerSess.QueryRowContext(ctx, "SELECT v FROM t WHERE id = 1").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if want := rowValue(t, w, 1); v != want {
		t.Errorf("writer session read v=%d, want %d", v, want)
	}
	if got := waits(); got != base+1 {
		t.Errorf("the writing session's read: read_wait_count grew by %d, want 1", got-base)
	}
	if d := stat(t, srv, "Aurora_fwd_replica_read_wait_duration"); d == 0 {
		t.Errorf("Aurora_fwd_replica_read_wait_duration is 0 after waits of ~1s")
	}
}

// TestReadWaitTimeout: with 1000 ms of lag and a 100 ms read-wait-timeout,
// action "error" fails the read with 3024 and action "writer" serves it,
// fresh, from the writer; both are counted.
func TestReadWaitTimeout(t *testing.T) {
	setLag(time.Second)
	defer setLag(0)
	w := writerDB(t)
	for _, action := range []string{"error", "writer"} {
		t.Run(action, func(t *testing.T) {
			caughtUp(t)
			srv, addr := startProxy(t, func(c *proxy.Config) {
				c.ReadWaitTimeout = 100 * time.Millisecond
				c.ReadWaitTimeoutAction = action
			})
			ctx := context.Background()
			for i, level := range []string{"SESSION", "GLOBAL"} {
				c := sessions(t, addr, 1, level)[0]
				id := 10 + i
				if _, err := c.ExecContext(ctx, "UPDATE t SET v = v + 1 WHERE id = ?", id); err != nil {
					t.Fatal(err)
				}
				want := rowValue(t, w, id)
				var v int64
				start := time.Now()
				err := c.QueryRowContext(ctx, "SELECT v FROM t WHERE id = ?", id).Scan(&v)
				took := time.Since(start)
				switch action {
				case "error":
					var me *mysql.MySQLError
					if !errors.As(err, &me) || me.Number != 3024 {
						t.Fatalf("%s read past the timeout: err=%v v=%d (took %v), want error 3024", level, err, v, took)
					}
					t.Logf("%s: %v", level, me)
				case "writer":
					if err != nil {
						t.Fatalf("%s read past the timeout: %v", level, err)
					}
					if v != want {
						t.Fatalf("%s read served after the timeout: v=%d, want %d (fresh, from the writer)", level, v, want)
					}
				}
			}
			errN := stat(t, srv, "Fwdproxy_read_wait_timeouts_error")
			wrN := stat(t, srv, "Fwdproxy_read_wait_timeouts_writer")
			if action == "error" && (errN != 2 || wrN != 0) || action == "writer" && (errN != 0 || wrN != 2) {
				t.Errorf("timeouts counted: error=%d writer=%d after 2 with action %s", errN, wrN, action)
			}
		})
	}
}

// SET @v = (SELECT …) reads tables like a SELECT: under SESSION and GLOBAL
// it waits, so it sees the session's own write through a 500 ms lag; under
// EVENTUAL it reads the stale replica (which shows the lag is real).
func TestSetWithSubqueryWaits(t *testing.T) {
	setLag(500 * time.Millisecond)
	defer setLag(0)
	caughtUp(t)
	_, addr := startProxy(t, nil)
	w := writerDB(t)
	ctx := context.Background()
	for _, level := range []string{"SESSION", "GLOBAL", "EVENTUAL"} {
		c := sessions(t, addr, 1, level)[0]
		want := rowValue(t, w, 3) + 1
		if _, err := c.ExecContext(ctx, "UPDATE t SET v = v + 1 WHERE id = 3"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ExecContext(ctx, "SET @seen = (SELECT v FROM t WHERE id = 3)"); err != nil {
			t.Fatal(err)
		}
		var got int64
		if err := c.QueryRowContext(ctx, "SELECT @seen").Scan(&got); err != nil {
			t.Fatal(err)
		}
		switch {
		case level != "EVENTUAL" && got != want:
			t.Errorf("%s: SET @seen = (SELECT …) after the session's write saw %d, want %d", level, got, want)
		case level == "EVENTUAL" && got == want:
			t.Errorf("EVENTUAL: the subquery saw the new value through a 500 ms lag; the test proves nothing")
		}
	}
}

// TestReaderKilledDuringWait: the session's reader connection is killed while a SESSION read
// waits on it (as a switchover that demotes the reader's server kills its connections). The
// read gets 1158 (lost connection) and the session ends, so the client reconnects; it used to stay open with the
// dead connection and answer every later read with that error.
func TestReaderKilledDuringWait(t *testing.T) {
	_, addr := startProxy(t, nil)
	caughtUp(t)
	c := sessions(t, addr, 1, "SESSION")[0]
	root, err := thePair.RootDB(thePair.ReaderAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	setLag(3 * time.Second)
	defer setLag(0)
	ctx := context.Background()
	if _, err := c.ExecContext(ctx, "UPDATE t SET v = v + 1 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	killed := make(chan error, 1)
	go func() {
		// The waiting connection is the one running MASTER_GTID_WAIT.
		var id int64
		err := errors.New("no connection waits on the reader")
		for i := 0; i < 100 && err != nil; i++ {
			time.Sleep(20 * time.Millisecond)
			err = root.QueryRow("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '%MASTER_GTID_WAIT%' AND ID <> CONNECTION_ID()").Scan(&id)
		}
		if err == nil {
			_, err = root.Exec(fmt.Sprintf("KILL %d", id))
		}
		killed <- err
	}()
	var v int
	err = c.QueryRowContext(ctx, "SELECT v FROM t WHERE id = 1").Scan(&v)
	if kerr := <-killed; kerr != nil {
		t.Fatalf("killing the waiting reader connection: %v", kerr)
	}
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1158 {
		t.Fatalf("the read whose reader connection was killed: %v, want 1158", err)
	}
	setLag(0)
	caughtUp(t)
	err = c.QueryRowContext(ctx, "SELECT v FROM t WHERE id = 1").Scan(&v)
	if errors.As(err, &me) || err == nil {
		t.Errorf("the next read of that session: %v, want the connection closed (the session ended)", err)
	}
}
