// Package soak runs many client sessions through a fwdproxy binary built
// with the race detector, in front of a real MariaDB pair, for minutes:
// reads, forwarded writes, transactions, prepared statements and clients
// that vanish mid-way. It asserts no error beyond the expected ones, every
// acknowledged write on the writer (and no rolled-back one), a clean
// replica, no data race, and the proxy's goroutines, descriptors and
// memory back near their baseline once every session has ended.
//
// It is not part of `make test`: it runs when FWDPROXY_SOAK is set, as
// `make soak` does (which starts a pair sized for it), and skips
// otherwise.
//
//	make soak
//	FWDPROXY_SOAK=1 FWDPROXY_SOAK_SESSIONS=100 FWDPROXY_SOAK_DURATION=30s go test -v -run TestSoak ./integration/soak/
package soak

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/fwdproxy/fwdproxy/integration/pair"
)

// The environment: FWDPROXY_SOAK turns the soak on; the others size it.
const (
	envSoak     = "FWDPROXY_SOAK"
	envSessions = "FWDPROXY_SOAK_SESSIONS" // concurrent sessions (1000)
	envDuration = "FWDPROXY_SOAK_DURATION" // how long they run (5m)
	envWarmup   = "FWDPROXY_SOAK_WARMUP"   // the warm-up wave before the baseline (30s)
	envBin      = "FWDPROXY_SOAK_BIN"      // a -race fwdproxy binary (else built here)
	testDB      = "fwdsoak"
	hotRows     = 16 // rows every session updates: lock waits and deadlocks
)

// Tolerances for "back to baseline" once every session has ended: the
// proxy keeps nothing per session, so goroutines and descriptors must
// come back to within a handful (an admin API connection, the writer
// position connection), and the Go heap in use (after a forced GC) to
// within a few MiB. RSS follows the highest heap, not the current one:
// the race detector's shadow of heap memory is not given back when the
// heap shrinks, and the Go runtime returns freed pages only gradually; so
// RSS may end up to a quarter (at least 64 MiB) above a baseline taken
// after a wave as large as the soak's.
const (
	tolGoroutines = 5
	tolFDs        = 5
	tolHeapKB     = 16 << 10
	tolRSSMinKB   = 64 << 10
)

func tolRSSKB(base figures) int { return max(tolRSSMinKB, base.rssKB/4) }

// expected are the errors a client may get in this workload, and why.
var expected = map[uint16]string{
	1213: "deadlock: transactions update two hot rows in either order",
	1205: "lock wait timeout on a hot row",
}

var thePair *pair.Pair

func TestMain(m *testing.M) {
	if os.Getenv(envSoak) == "" {
		os.Exit(m.Run()) // TestSoak skips and says why
	}
	if os.Getenv(pair.EnvVar) == "" {
		// A private pair, sized for the sessions.
		for _, v := range []string{"PAIR_WRITER_EXTRA_CNF", "PAIR_REPLICA_EXTRA_CNF"} {
			if os.Getenv(v) == "" {
				os.Setenv(v, "max_connections=2000")
			}
		}
	}
	p, err := pair.Get()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	thePair = p
	code := m.Run()
	if err := p.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		code = 1
	}
	os.Exit(code)
}

func TestSoak(t *testing.T) {
	if os.Getenv(envSoak) == "" {
		t.Skipf("the soak runs only when %s is set (make soak): 1,000 sessions for 5 minutes through a -race proxy against a MariaDB pair", envSoak)
	}
	sessions := envInt(t, envSessions, 1000)
	duration := durationEnv(t, envDuration, 5*time.Minute)
	warmup := durationEnv(t, envWarmup, 30*time.Second)
	checkCapacity(t, sessions)
	setUpTables(t)

	px := startProxy(t)
	fresh := px.sample(t)
	// The baseline is taken after a warm-up wave at full concurrency:
	// what the Go runtime and the race detector keep once they have held
	// that many sessions (the race detector's per-goroutine state is not
	// given back) counts in it, and whatever grows after it is the
	// proxy's.
	warm := newTally()
	runWave(px, warm, sessions, warmup)
	px.waitIdle(t)
	base := px.sample(t)
	t.Logf("fresh process: %s; after a %s warm-up wave of %d sessions (the baseline): %s", fresh, warmup, sessions, base)
	t.Logf("load before: %s", loadavg())

	tl := newTally()
	stopSampling := px.sampleEvery(time.Second)
	elapsed := runWave(px, tl, sessions, duration)
	peak := stopSampling()
	t.Logf("load after: %s", loadavg())

	px.waitIdle(t)
	after := px.waitBaseline(t, base)
	t.Logf("warm-up: %s", warm.summary())
	t.Logf("%d sessions in parallel for %s: %s", sessions, elapsed.Round(time.Second), tl.summary())
	t.Logf("goroutines, fds, RSS: baseline %s; peak %s; after %s", base, peak, after)

	var problems []string
	for _, x := range []*tally{warm, tl} {
		for k, n := range x.errs {
			code, _ := strconv.Atoi(strings.Fields(k)[0])
			if _, ok := expected[uint16(code)]; !ok {
				problems = append(problems, fmt.Sprintf("%d × %s (first: %s)", n, k, x.firstMsg[k]))
			}
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Errorf("unexpected error: %s", p)
	}
	if !backToBase(base, after) {
		t.Errorf("not back to baseline (tolerance +%d goroutines, +%d fds, +%d MiB heap, +%d MiB RSS): baseline %s, after %s",
			tolGoroutines, tolFDs, tolHeapKB>>10, tolRSSKB(base)>>10, base, after)
		if b, err := px.get("/debug/pprof/goroutine?debug=1"); err == nil {
			t.Logf("the proxy's goroutines:\n%s", b[:min(len(b), 8000)])
		}
	}
	checkWrites(t, warm, tl)
	px.stop(t)
	if err := thePair.WaitReplicated(context.Background()); err != nil {
		t.Error(err)
	}
	if err := thePair.CheckReplicaClean(); err != nil {
		t.Error(err)
	}
}

// runWave runs sessions workers for d, each one session after another,
// their logins spread over the first ten seconds (or d, if shorter).
func runWave(px *proxyProc, tl *tally, sessions int, d time.Duration) time.Duration {
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for i := 1; i <= sessions; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.Int64N(int64(min(d, 10*time.Second)))))
			w := &worker{px: px, tl: tl, rng: rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))}
			for time.Now().Before(end) {
				w.session(end)
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

func durationEnv(t *testing.T, name string, def time.Duration) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a duration", name, s)
	}
	return d
}

// checkCapacity fails early when the pair or this process cannot hold
// the sessions: each has a reader connection and may hold a writer one.
func checkCapacity(t *testing.T, sessions int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(4*sessions+100) {
		t.Fatalf("ulimit -n is %d: the proxy needs 3 descriptors a session, this process 1 (want %d)", lim.Cur, 4*sessions+100)
	}
	for name, addr := range map[string]string{"writer": thePair.WriterAddr, "replica": thePair.ReaderAddr} {
		db, err := thePair.RootDB(addr)
		if err != nil {
			t.Fatal(err)
		}
		var mc int
		if err := db.QueryRow("SELECT @@GLOBAL.max_connections").Scan(&mc); err != nil {
			t.Fatal(err)
		}
		if mc < sessions+100 {
			t.Fatalf("the %s's max_connections is %d, want %d or more: start the pair with PAIR_WRITER_EXTRA_CNF and PAIR_REPLICA_EXTRA_CNF=max_connections=2000 (make soak does)",
				name, mc, sessions+100)
		}
	}
}

func setUpTables(t *testing.T) {
	hot := make([]string, hotRows)
	for i := range hot {
		hot[i] = fmt.Sprintf("(%d, 0)", i)
	}
	if err := thePair.CreateTables(testDB,
		"CREATE TABLE soak_rows (id BIGINT PRIMARY KEY, sess INT NOT NULL, v VARCHAR(64) NOT NULL, KEY (sess)) ENGINE=InnoDB",
		"CREATE TABLE soak_hot (id INT PRIMARY KEY, n BIGINT NOT NULL) ENGINE=InnoDB",
		"INSERT INTO soak_hot VALUES "+strings.Join(hot, ", "),
	); err != nil {
		t.Fatal(err)
	}
}

// proxyProc is the fwdproxy process under test.
type proxyProc struct {
	cmd          *osexec.Cmd
	addr, admin  string
	log          string // its output: JSON log lines and the race detector's reports
	samples      chan figures
	httpc        *http.Client
	done         chan error
	stopSampling chan struct{}
}

// raceBinary is FWDPROXY_SOAK_BIN, which must be a -race build, or a
// fresh -race build.
func raceBinary(t *testing.T) string {
	bin := os.Getenv(envBin)
	if bin == "" {
		bin = pair.Build(t, "-race")
	}
	out, err := osexec.Command("go", "version", "-m", bin).Output()
	if err != nil || !strings.Contains(string(out), "-race=true") {
		t.Fatalf("%s is not a -race build (go version -m: %v)", bin, err)
	}
	return bin
}

func startProxy(t *testing.T) *proxyProc {
	px := &proxyProc{addr: pair.FreeAddr(t), admin: pair.FreeAddr(t), log: filepath.Join(t.TempDir(), "fwdproxy.log"),
		httpc: &http.Client{Timeout: 30 * time.Second}, done: make(chan error, 1)}
	logf, err := os.Create(px.log)
	if err != nil {
		t.Fatal(err)
	}
	px.cmd = osexec.Command(raceBinary(t), "serve", "--listen", px.addr, "--admin", px.admin,
		"--writer", thePair.WriterAddr, "--reader", thePair.ReaderAddr,
		"--user", thePair.User+":"+thePair.Password,
		"--default-consistency", "EVENTUAL",
		"--writer-max-connections-pct", "60", // every session may hold a writer connection
		"--read-wait-timeout", "60s", // a SESSION read waits out any lag this machine has
		"--admin-pprof", // a forced GC before each baseline sample; goroutine dumps
		"--log-level", "warn", "--log-format", "json")
	px.cmd.Stdout, px.cmd.Stderr = logf, logf
	px.cmd.Env = append(os.Environ(), "GORACE=halt_on_error=0")
	if err := px.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { px.done <- px.cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		_ = px.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("proxy log: %s", px.log)
			if b, err := os.ReadFile(px.log); err == nil {
				t.Logf("last of it:\n%s", b[max(0, len(b)-8000):])
			}
		}
	})
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", px.addr); err == nil {
			c.Close()
			break
		}
		if i == 600 {
			t.Fatal("the proxy does not listen")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return px
}

// stop ends the proxy with SIGTERM and checks its exit and its log: no
// data race, nothing at error level.
func (px *proxyProc) stop(t *testing.T) {
	_ = px.cmd.Process.Signal(syscall.SIGTERM)
	err := <-px.done
	b, rerr := os.ReadFile(px.log)
	if rerr != nil {
		t.Fatal(rerr)
	}
	log := string(b)
	if n := strings.Count(log, "WARNING: DATA RACE"); n > 0 {
		i := strings.Index(log, "WARNING: DATA RACE")
		t.Errorf("%d data races; the first:\n%s", n, log[i:min(len(log), i+6000)])
	}
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(nil, 1<<20)
	levels := map[string]int{}
	for sc.Scan() {
		l := sc.Text()
		for _, lv := range []string{"warn", "error", "dpanic", "panic", "fatal"} {
			if strings.Contains(l, `"level":"`+lv+`"`) {
				levels[lv]++
				if lv != "warn" && levels[lv] <= 3 {
					t.Errorf("the proxy logged: %s", l)
				}
			}
		}
	}
	t.Logf("proxy log lines by level: %v", levels)
	if err != nil {
		t.Errorf("the proxy exited with %v", err)
	}
}

func (px *proxyProc) connect(t *testing.T) *client.Conn {
	c, err := px.dial()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (px *proxyProc) dial() (*client.Conn, error) {
	return client.ConnectWithTimeout(px.addr, thePair.User, thePair.Password, testDB, time.Minute, func(c *client.Conn) error {
		// Bounds every read and write: a hang is an error, not a stuck soak.
		c.ReadTimeout, c.WriteTimeout = 2*time.Minute, 2*time.Minute
		return nil
	})
}

// figures are the proxy process's goroutines, descriptors and memory.
type figures struct {
	goroutines, fds, rssKB, heapKB int
}

func (f figures) String() string {
	return fmt.Sprintf("%d goroutines, %d fds, %.1f MiB RSS (Go heap in use %.1f MiB)",
		f.goroutines, f.fds, float64(f.rssKB)/1024, float64(f.heapKB)/1024)
}

// sample reads the figures after a garbage collection, so that the heap
// in use is what is live.
func (px *proxyProc) sample(t *testing.T) figures {
	if _, err := px.get("/debug/pprof/heap?gc=1"); err != nil {
		t.Fatal(err)
	}
	f, err := px.read()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (px *proxyProc) read() (figures, error) {
	var f figures
	pid := px.cmd.Process.Pid
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return f, err
	}
	f.fds = len(ents)
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return f, err
	}
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f.rssKB, _ = strconv.Atoi(strings.Fields(v)[0])
		}
	}
	g, err := px.metric("go_goroutines")
	f.goroutines = int(g)
	if err != nil {
		return f, err
	}
	h, err := px.metric("go_memstats_heap_inuse_bytes")
	f.heapKB = int(h) >> 10
	return f, err
}

func (px *proxyProc) get(path string) ([]byte, error) {
	resp, err := px.httpc.Get("http://" + px.admin + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// metric reads one unlabelled figure from the admin API's /metrics.
func (px *proxyProc) metric(name string) (float64, error) {
	resp, err := px.httpc.Get("http://" + px.admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("/metrics has no %s (%v)", name, sc.Err())
}

// sampleEvery samples in the background; the returned func stops it and
// returns the peak of each figure.
func (px *proxyProc) sampleEvery(d time.Duration) func() figures {
	stop, res := make(chan struct{}), make(chan figures)
	go func() {
		var peak figures
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				res <- peak
				return
			case <-tick.C:
				if f, err := px.read(); err == nil {
					peak = figures{max(peak.goroutines, f.goroutines), max(peak.fds, f.fds), max(peak.rssKB, f.rssKB), max(peak.heapKB, f.heapKB)}
				}
			}
		}
	}()
	return func() figures { close(stop); return <-res }
}

// waitIdle waits until the proxy has no client session open.
func (px *proxyProc) waitIdle(t *testing.T) {
	for i := 0; ; i++ {
		n, err := px.metric("fwdproxy_client_connections_open")
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if i == 1200 {
			t.Fatalf("%v client sessions still open a minute after the last client left", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitBaseline waits (up to three minutes: the Go runtime returns freed
// memory to the system in the background) for the figures to come back
// within tolerance of base, and returns the last sample.
func (px *proxyProc) waitBaseline(t *testing.T, base figures) figures {
	var f figures
	for i := 0; i < 180; i++ {
		f = px.sample(t)
		if i%30 == 0 {
			t.Logf("%3ds after the last session: %s", i, f)
		}
		if backToBase(base, f) {
			break
		}
		time.Sleep(time.Second)
	}
	return f
}

func backToBase(base, f figures) bool {
	return f.goroutines <= base.goroutines+tolGoroutines && f.fds <= base.fds+tolFDs &&
		f.heapKB <= base.heapKB+tolHeapKB && f.rssKB <= base.rssKB+tolRSSKB(base)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// tally is what every session did, merged as sessions end.
type tally struct {
	mu       sync.Mutex
	ops      map[string]int // by kind
	ends     map[string]int // sessions by how they ended
	errs     map[string]int // by "code text"
	firstMsg map[string]string
	acked    map[int64]struct{} // committed and acknowledged: must be on the writer
	absent   map[int64]struct{} // rolled back: must not be
	unknown  int                // cut off before the answer: either
	stale    int                // SESSION reads that missed the session's own write
	sessions int
}

func newTally() *tally {
	return &tally{ops: map[string]int{}, ends: map[string]int{}, errs: map[string]int{}, firstMsg: map[string]string{},
		acked: map[int64]struct{}{}, absent: map[int64]struct{}{}}
}

func (tl *tally) merge(s *sessionTally) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if s.connected {
		tl.sessions++
	}
	for k, n := range s.ends {
		tl.ends[k] += n
	}
	for k, n := range s.ops {
		tl.ops[k] += n
	}
	for k, n := range s.errs {
		tl.errs[k] += n
		if _, ok := tl.firstMsg[k]; !ok {
			tl.firstMsg[k] = s.firstMsg[k]
		}
	}
	for _, id := range s.acked {
		tl.acked[id] = struct{}{}
	}
	for _, id := range s.absent {
		tl.absent[id] = struct{}{}
	}
	tl.unknown += s.unknown
}

func (tl *tally) summary() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	total := 0
	var kinds []string
	for k, n := range tl.ops {
		total += n
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	var ends []string
	for k, n := range tl.ends {
		ends = append(ends, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(ends)
	var errs []string
	for k, n := range tl.errs {
		errs = append(errs, fmt.Sprintf("%s: %d", k, n))
	}
	sort.Strings(errs)
	if len(errs) == 0 {
		errs = []string{"none"}
	}
	return fmt.Sprintf("%d sessions (ended: %s), %d operations (%s); errors: %s; writes acknowledged %d, rolled back %d, outcome unknown %d",
		tl.sessions, strings.Join(ends, ", "), total, strings.Join(kinds, ", "), strings.Join(errs, ", "), len(tl.acked), len(tl.absent), tl.unknown)
}

// checkWrites reads the writer directly: every acknowledged id is there,
// no rolled-back one is.
func checkWrites(t *testing.T, tallies ...*tally) {
	acked, absent := map[int64]struct{}{}, map[int64]struct{}{}
	for _, tl := range tallies {
		for id := range tl.acked {
			acked[id] = struct{}{}
		}
		for id := range tl.absent {
			absent[id] = struct{}{}
		}
	}
	w, err := thePair.WriterDB(testDB)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rows, err := w.Query("SELECT id FROM soak_rows")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	have := map[int64]struct{}{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		have[id] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var missing, present []int64
	for id := range acked {
		if _, ok := have[id]; !ok {
			missing = append(missing, id)
		}
	}
	for id := range absent {
		if _, ok := have[id]; ok {
			present = append(present, id)
		}
	}
	t.Logf("on the writer: %d rows; %d acknowledged writes checked, %d missing; %d rolled-back writes checked, %d present",
		len(have), len(acked), len(missing), len(absent), len(present))
	if len(missing) > 0 {
		t.Errorf("acknowledged writes missing on the writer: %v", first(missing))
	}
	if len(present) > 0 {
		t.Errorf("rolled-back writes present on the writer: %v", first(present))
	}
}

func first(ids []int64) []int64 {
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids[:min(len(ids), 20)]
}

// nextID numbers the rows every session writes.
var nextID atomic.Int64

// sessionTally is one session's part of the tally.
type sessionTally struct {
	connected bool
	ends      map[string]int // how the session ended
	ops       map[string]int
	errs      map[string]int
	firstMsg  map[string]string
	acked     []int64
	absent    []int64
	unknown   int
}

// worker runs one session after another until the end.
type worker struct {
	px  *proxyProc
	tl  *tally
	rng *rand.Rand
}

// sess is one client session and what it did.
type sess struct {
	*sessionTally
	w       *worker
	c       *client.Conn
	id      int
	session bool // at consistency SESSION: reads must see its own writes
	ins     *client.Stmt
	sel     *client.Stmt
	broken  bool // the connection failed: the session is over
}

var sessionIDs atomic.Int64

func (w *worker) session(end time.Time) {
	s := &sess{w: w, id: int(sessionIDs.Add(1)), sessionTally: &sessionTally{
		ops: map[string]int{}, ends: map[string]int{}, errs: map[string]int{}, firstMsg: map[string]string{}}}
	defer w.tl.merge(s.sessionTally)
	c, err := w.px.dial()
	if err != nil {
		s.fail("connect", err)
		time.Sleep(time.Second)
		return
	}
	s.c = c
	s.connected = true
	if s.session = w.rng.IntN(2) == 0; s.session {
		s.exec("set", "SET aurora_replica_read_consistency = 'SESSION'")
	}
	n := 10 + w.rng.IntN(90)
	for i := 0; i < n && !s.broken && time.Now().Before(end); i++ {
		time.Sleep(200*time.Millisecond + time.Duration(w.rng.Int64N(int64(1600*time.Millisecond))))
		switch r := w.rng.IntN(100); {
		case r < 30:
			s.read()
		case r < 50:
			s.write()
		case r < 70:
			s.transaction()
		case r < 90:
			s.prepared()
		default:
			s.hot()
		}
	}
	if s.broken {
		s.ends["connection lost"]++
		c.Close()
		return
	}
	if w.rng.IntN(100) < 30 {
		s.abrupt()
		return
	}
	for _, st := range []*client.Stmt{s.ins, s.sel} {
		if st != nil {
			_ = st.Close()
		}
	}
	s.ends["quit"]++
	_ = c.Close()
}

// fail counts an error; an error that is not the server's ends the
// session.
func (s *sess) fail(op string, err error) {
	var me *mysql.MyError
	k := op + ": "
	if errors.As(err, &me) {
		k = fmt.Sprintf("%d %s", me.Code, op)
	} else {
		s.broken = true
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			k += "timeout"
		case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF):
			k += "connection lost"
		default:
			k += "client error"
		}
		k = "0 " + k // not a server error: never expected
	}
	s.errs[k]++
	if _, ok := s.firstMsg[k]; !ok {
		s.firstMsg[k] = err.Error()
	}
}

func (s *sess) exec(op, q string, args ...any) (*mysql.Result, bool) {
	r, err := s.c.Execute(q, args...)
	if err != nil {
		s.fail(op, err)
		return nil, false
	}
	s.ops[op]++
	return r, true
}

func (s *sess) newID() int64 { return nextID.Add(1) }

// read: a point read, a count, or a hot row; at SESSION, the session's
// last write must be visible.
func (s *sess) read() {
	switch s.w.rng.IntN(3) {
	case 0:
		if len(s.acked) > 0 {
			id := s.acked[len(s.acked)-1]
			r, ok := s.exec("read", "SELECT v FROM soak_rows WHERE id = ?", id)
			if ok && s.session && r.RowNumber() != 1 {
				s.errs["0 stale read at SESSION"]++
				s.firstMsg["0 stale read at SESSION"] = fmt.Sprintf("id %d not visible to its own session", id)
			}
			return
		}
		s.exec("read", "SELECT COUNT(*) FROM soak_rows WHERE sess = ?", s.id)
	case 1:
		s.exec("read", "SELECT COUNT(*) FROM soak_rows WHERE sess = ?", s.id)
	default:
		s.exec("read", "SELECT n FROM soak_hot WHERE id = ?", s.w.rng.IntN(hotRows))
	}
}

// write: an autocommit insert, forwarded.
func (s *sess) write() {
	id := s.newID()
	if _, ok := s.exec("write", fmt.Sprintf("INSERT INTO soak_rows (id, sess, v) VALUES (%d, %d, 'w')", id, s.id)); ok {
		s.acked = append(s.acked, id)
	}
}

// transaction: inserts, a read, sometimes hot rows (in either order),
// then COMMIT or, one time in five, ROLLBACK.
func (s *sess) transaction() {
	if _, ok := s.exec("begin", "BEGIN"); !ok {
		return
	}
	var pending []int64
	abort := func() {
		// Rolled back by the error, by ROLLBACK, or by the connection's end.
		s.absent = append(s.absent, pending...)
		if !s.broken {
			s.exec("rollback", "ROLLBACK")
		}
	}
	for k := 1 + s.w.rng.IntN(3); k > 0; k-- {
		id := s.newID()
		pending = append(pending, id)
		if _, ok := s.exec("tx insert", "INSERT INTO soak_rows (id, sess, v) VALUES (?, ?, 'tx')", id, s.id); !ok {
			abort()
			return
		}
	}
	if _, ok := s.exec("tx read", "SELECT COUNT(*) FROM soak_rows WHERE sess = ?", s.id); !ok {
		abort()
		return
	}
	if s.w.rng.IntN(4) == 0 {
		a, b := s.w.rng.IntN(hotRows), s.w.rng.IntN(hotRows)
		for _, h := range []int{a, b} {
			if _, ok := s.exec("tx hot", "UPDATE soak_hot SET n = n + 1 WHERE id = ?", h); !ok {
				abort()
				return
			}
		}
	}
	if s.w.rng.IntN(5) == 0 {
		if _, ok := s.exec("rollback", "ROLLBACK"); ok {
			s.absent = append(s.absent, pending...)
		} else if s.broken {
			s.absent = append(s.absent, pending...)
		}
		return
	}
	if _, err := s.c.Execute("COMMIT"); err != nil {
		s.fail("commit", err)
		s.unknown += len(pending)
		return
	}
	s.ops["commit"]++
	s.acked = append(s.acked, pending...)
}

// prepared: a binary-protocol insert and read; now and then the
// statements are closed and prepared again.
func (s *sess) prepared() {
	var err error
	if s.ins == nil || s.w.rng.IntN(10) == 0 {
		for _, st := range []*client.Stmt{s.ins, s.sel} {
			if st != nil {
				_ = st.Close()
			}
		}
		s.ins, s.sel = nil, nil
		if s.ins, err = s.c.Prepare("INSERT INTO soak_rows (id, sess, v) VALUES (?, ?, ?)"); err != nil {
			s.fail("prepare", err)
			return
		}
		if s.sel, err = s.c.Prepare("SELECT v FROM soak_rows WHERE id = ?"); err != nil {
			s.fail("prepare", err)
			return
		}
		s.ops["prepare"] += 2
	}
	id := s.newID()
	if _, err := s.ins.Execute(id, s.id, "ps"); err != nil {
		s.fail("execute insert", err)
		return
	}
	s.ops["execute insert"]++
	s.acked = append(s.acked, id)
	r, err := s.sel.Execute(id)
	if err != nil {
		s.fail("execute read", err)
		return
	}
	s.ops["execute read"]++
	if s.session && r.RowNumber() != 1 {
		s.errs["0 stale read at SESSION"]++
		s.firstMsg["0 stale read at SESSION"] = fmt.Sprintf("id %d not visible to its own session (prepared)", id)
	}
}

// hot: an autocommit update of a row every session updates.
func (s *sess) hot() {
	s.exec("hot update", "UPDATE soak_hot SET n = n + 1 WHERE id = ?", s.w.rng.IntN(hotRows))
}

// abrupt ends the session without COM_QUIT, in one of four ways.
func (s *sess) abrupt() {
	raw := s.c.Conn.Conn
	switch s.w.rng.IntN(4) {
	case 0:
		s.ends["abrupt: idle"]++
	case 1: // inside a transaction that wrote: it must be rolled back
		id := s.newID()
		if _, ok := s.exec("begin", "BEGIN"); ok {
			if _, ok := s.exec("tx insert", "INSERT INTO soak_rows (id, sess, v) VALUES (?, ?, 'cut')", id, s.id); ok {
				s.absent = append(s.absent, id)
			} else {
				s.unknown++
			}
		}
		s.ends["abrupt: in transaction"]++
	case 2: // an insert sent, its answer not waited for
		id := s.newID()
		s.c.ResetSequence()
		_ = s.c.WritePacket(append([]byte{0, 0, 0, 0, mysql.COM_QUERY}, fmt.Sprintf("INSERT INTO soak_rows (id, sess, v) VALUES (%d, %d, 'sent')", id, s.id)...))
		s.unknown++
		s.ends["abrupt: mid-write"]++
	default: // a read running on the reader
		s.c.ResetSequence()
		_ = s.c.WritePacket(append([]byte{0, 0, 0, 0, mysql.COM_QUERY}, "SELECT SLEEP(0.5), COUNT(*) FROM soak_rows"...))
		s.ends["abrupt: mid-read"]++
	}
	raw.Close()
}
