package proxy

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/readers"
)

// readerSet is the reader endpoint of several --reader: the monitor's view
// of each reader, which package readers places reads by. With one reader
// there is none, and the proxy runs exactly as before.
type readerSet struct {
	// nodes only grows (SIGHUP adds readers, and marks those it drops
	// removed), so a session's index into it stays valid.
	nodes atomic.Pointer[[]*readerNode]
	grow  sync.Mutex // serialises updates of nodes

	mu      sync.Mutex
	samples []readers.Sample // the writer's positions over time, for lag
	epoch   time.Time

	// until: for the set that only watches one --reader, the monitor runs
	// while /status is read, up to this Unix time in ms; 0 for always.
	until    atomic.Int64
	sampling atomic.Bool // sampleWriter runs
}

// watchFor is how long one reader stays watched after a GET /status.
const watchFor = time.Minute

// watched says the monitor of rs runs on.
func (rs *readerSet) watched() bool {
	u := rs.until.Load()
	return u == 0 || time.Now().UnixMilli() < u
}

// readerNode is one reader: what the monitor last saw and its counters.
type readerNode struct {
	idx     int
	addr    string
	applied *consistency.Applied

	healthy atomic.Bool
	// removed: a reload dropped it; it takes no new sessions or reads, and
	// its sessions move off when they are free to.
	removed  atomic.Bool
	watching atomic.Bool      // its watchReader runs
	state    atomic.Value     // string: up, down, stopped (replication), writable, lagging
	lagMs    atomic.Int64     // the highest of recent: what Pick and /status see
	recent   [lagWindow]int64 // lag at the last checks (watchReader's alone)
	checks   int
	// sessions and running (reads running on it now) are gauges; the rest count.
	sessions, running, reads, waits, moves atomic.Int64
	// joining and leaving: sessions connecting to it and moving off it,
	// which placement counts at once (see reserve).
	joining, leaving atomic.Int64
}

// monitorEvery is how often the writer's position is read, and each reader
// on average (at jittered times).
const monitorEvery = 200 * time.Millisecond

// lagWindow is how many checks a reader's lag is the highest of (5 s at
// monitorEvery). The lag is measured against the writer's positions sampled
// every monitorEvery, so a reader less than that behind shows it at only some
// checks: one 50 ms behind shows 0 at three checks in four, and must not look
// caught up between them. Its lag shows in full at once and fades in 5 s.
const lagWindow = 25

// samplesKept bounds the lag history (a minute at monitorEvery).
const samplesKept = 300

func newReaderSet(addrs []string, f consistency.Flavor) *readerSet {
	rs := &readerSet{epoch: time.Now()}
	rs.nodes.Store(&[]*readerNode{})
	for _, a := range addrs {
		rs.add(a, f)
	}
	return rs
}

// add appends a reader and returns it.
func (rs *readerSet) add(addr string, f consistency.Flavor) *readerNode {
	old := rs.all()
	n := &readerNode{idx: len(old), addr: addr, applied: consistency.NewApplied(f)}
	n.state.Store("down")
	next := append(old[:len(old):len(old)], n)
	rs.nodes.Store(&next)
	return n
}

// all is every reader, removed ones included; node is one of them.
func (rs *readerSet) all() []*readerNode     { return *rs.nodes.Load() }
func (rs *readerSet) node(i int) *readerNode { return rs.all()[i] }

// update makes addrs the readers: new ones are added (a removed one comes
// back), those not in addrs are removed. It returns the readers to watch.
func (rs *readerSet) update(addrs []string, f consistency.Flavor) []*readerNode {
	rs.grow.Lock()
	defer rs.grow.Unlock()
	var started []*readerNode
	for _, a := range addrs {
		i := slices.IndexFunc(rs.all(), func(n *readerNode) bool { return n.addr == a })
		if i < 0 {
			started = append(started, rs.add(a, f))
		} else if rs.node(i).removed.Swap(false) {
			started = append(started, rs.node(i))
		}
	}
	for _, n := range rs.all() {
		if !slices.Contains(addrs, n.addr) {
			n.removed.Store(true)
		}
	}
	return started
}

func (rs *readerSet) nowMs() int64 { return time.Since(rs.epoch).Milliseconds() }

// view is what Pick needs of every reader now.
func (rs *readerSet) view() []readers.Reader {
	nodes := rs.all()
	out := make([]readers.Reader, len(nodes))
	for i, n := range nodes {
		out[i] = readers.Reader{Healthy: n.healthy.Load() && !n.removed.Load(), Applied: n.applied.Get(), LagMs: n.lagMs.Load(),
			Sessions: int(n.sessions.Load() + n.joining.Load() - n.leaving.Load()), Running: int(n.running.Load())}
	}
	return out
}

// reserve counts a session on reader to, and off reader from (-1: none),
// while it connects: placement sees it at once, not after the dial, so
// that sessions placed meanwhile (a pool's logins, the sessions that
// settled together) do not all pick the same reader and move on together
// at the next check. done ends it, after attachReader and detachReader
// have counted the session where it ended up.
func (rs *readerSet) reserve(to, from int) (done func()) {
	rs.node(to).joining.Add(1)
	if from >= 0 {
		rs.node(from).leaving.Add(1)
	}
	return func() {
		rs.node(to).joining.Add(-1)
		if from >= 0 {
			rs.node(from).leaving.Add(-1)
		}
	}
}

func (rs *readerSet) addSample(pos consistency.Set) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if k := len(rs.samples); k > 0 && rs.samples[k-1].Pos.Contains(pos) {
		return // nothing new committed: the oldest sample of a position keeps its time
	}
	rs.samples = append(rs.samples, readers.Sample{AtMs: rs.nowMs(), Pos: pos})
	if len(rs.samples) > samplesKept {
		rs.samples = rs.samples[len(rs.samples)-samplesKept:]
	}
}

func (rs *readerSet) lag(applied consistency.Set) int64 {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return readers.Lag(rs.samples, applied, rs.nowMs())
}

// monitor starts the background checks of rs: the writer's position, and
// each reader's reachability, replication threads, read_only and position.
func (s *Server) monitor(rs *readerSet) {
	if rs.sampling.CompareAndSwap(false, true) {
		go s.sampleWriter(rs)
	}
	for _, n := range rs.all() {
		s.startWatch(rs, n)
	}
}

// startWatch starts n's watchReader unless it runs.
func (s *Server) startWatch(rs *readerSet, n *readerNode) {
	if n.watching.CompareAndSwap(false, true) {
		go s.watchReader(rs, n)
	}
}

// sampleWriter samples the writer's position: the current writer, which a
// writer change moves (the former one lags behind it as a replica).
func (s *Server) sampleWriter(rs *readerSet) {
	var c *backend
	var addr string
	defer func() { c.close(); rs.sampling.Store(false) }()
	for !s.closed.Load() && rs.watched() {
		if now := s.writerAddr(); c != nil && now != addr {
			c.close()
			c = nil
		}
		if c == nil {
			user, pass := s.proxyUser()
			addr = s.writerAddr()
			c, _ = dialBackend(context.Background(), "writer", dialParams{addr: addr, user: user, password: pass, tls: s.conf().BackendTLS, timeout: time.Second})
		}
		if c != nil {
			res, err := c.exec(s.flavor.WriterPositionSQL())
			if err != nil {
				c.close()
				c = nil
			} else if v, ok := res.value(); ok {
				if pos, err := s.flavor.ParseSet(v.s); err == nil {
					rs.addSample(pos)
				}
			}
		}
		time.Sleep(monitorEvery)
	}
}

// replicationRunningSQL is one row: read_only, the applied position, and
// whether both replication threads run.
func (s *Server) replicationRunningSQL() string {
	pos := strings.TrimPrefix(s.flavor.ReaderPositionSQL(), "SELECT ")
	running := "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SLAVE_RUNNING')"
	if s.flavor.Name() == "mysql" {
		running = "IF((SELECT COUNT(*) FROM performance_schema.replication_connection_status WHERE SERVICE_STATE = 'ON') > 0" +
			" AND (SELECT COUNT(*) FROM performance_schema.replication_applier_status WHERE SERVICE_STATE = 'ON') > 0, 'ON', 'OFF')"
	}
	return "SELECT @@GLOBAL.read_only, " + pos + ", " + running
}

func (s *Server) watchReader(rs *readerSet, n *readerNode) {
	var c *backend
	defer func() {
		c.close()
		n.watching.Store(false)
		if n.removed.Load() {
			n.state.Store("removed")
			n.healthy.Store(false)
			s.log.Info("reader removed", zap.String("reader", n.addr))
		} else if !s.closed.Load() && rs.watched() {
			s.startWatch(rs, n) // a reload brought it back as this one ended
		}
	}()
	q := s.replicationRunningSQL()
	for !s.closed.Load() && !n.removed.Load() && rs.watched() {
		state := "down"
		if c == nil {
			user, pass := s.proxyUser()
			c, _ = dialBackend(context.Background(), "reader", dialParams{addr: n.addr, user: user, password: pass, tls: s.conf().BackendTLS, timeout: time.Second})
		}
		if c != nil {
			res, err := c.exec(q)
			switch {
			case err != nil:
				c.close()
				c = nil
			case len(res.rows) == 1 && len(res.rows[0]) == 3:
				row := res.rows[0]
				if pos, err := s.flavor.ParseSet(row[1].s); err == nil {
					n.applied.Advance(pos)
				}
				// The bound applies to the lag now, so that a reader that
				// has caught up takes reads again at once; placement sees
				// the window's highest.
				lag := rs.lag(n.applied.Get())
				n.noteLag(lag)
				bound := int64(s.conf().MaxReaderLag)
				switch {
				case row[0].s != "1" && !strings.EqualFold(row[0].s, "ON"):
					state = "writable"
				case !strings.EqualFold(row[2].s, "ON"):
					state = "stopped"
				case bound > 0 && lag > bound:
					state = "lagging"
				default:
					state = "up"
				}
			}
		}
		if old := n.state.Swap(state); old != state {
			s.log.Info("reader state", zap.String("reader", n.addr), zap.String("from", old.(string)), zap.String("to", state))
		}
		n.healthy.Store(state == "up")
		// Checks at jittered times: at a fixed period they would keep one
		// phase to the writer's samples, and a lag below monitorEvery would
		// show as that phase (or as 0) at every check.
		time.Sleep(monitorEvery/2 + rand.N(monitorEvery))
	}
}

// noteLag records the lag of one check; lagMs is the highest of the window.
func (n *readerNode) noteLag(ms int64) {
	n.recent[n.checks%lagWindow] = ms
	n.checks++
	n.lagMs.Store(slices.Max(n.recent[:]))
}

// errNoReader is the no-reader policy "error": no reader qualifies, and
// the read fails at once rather than after the wait timeout.
func errNoReader() *sqlError {
	return &sqlError{3024, "HY000", "Query execution was interrupted: no reader is healthy (replication stopped, lagging past max-reader-lag, or unreachable)"}
}

// ReaderStatus is one reader in GET /status (several --reader only).
type ReaderStatus struct {
	Addr     string `json:"addr"`
	State    string `json:"state"` // up, down, stopped, writable, lagging, removed (by a reload; listed while sessions are on it)
	LagMs    int64  `json:"lag_ms"`
	Sessions int64  `json:"sessions"`
	Reads    int64  `json:"reads"`
	Waits    int64  `json:"waits"`
	Moves    int64  `json:"moves"` // sessions that moved to it
}

func (rs *readerSet) status() []ReaderStatus {
	if rs == nil {
		return nil
	}
	out := []ReaderStatus{}
	for _, n := range rs.all() {
		if n.removed.Load() && n.sessions.Load() == 0 {
			continue // gone
		}
		out = append(out, ReaderStatus{Addr: n.addr, State: n.state.Load().(string), LagMs: n.lagMs.Load(),
			Sessions: n.sessions.Load(), Reads: n.reads.Load(), Waits: n.waits.Load(), Moves: n.moves.Load()})
	}
	return out
}

// ReaderHealth is the one --reader's state and lag in GET /status, as the
// monitor of several readers measures them (ReaderStatus's first fields).
type ReaderHealth struct {
	State string `json:"state"`
	LagMs int64  `json:"lag_ms"`
}

// health is the one reader's state and lag, and keeps it watched for
// watchFor: the monitor costs the backends a query each every
// monitorEvery, which a proxy nobody looks at need not pay.
func (s *Server) health() *ReaderHealth {
	rs := s.readerWatch
	if rs == nil || !s.watchOne {
		return nil
	}
	rs.until.Store(time.Now().Add(watchFor).UnixMilli())
	s.monitor(rs)
	n := rs.node(0)
	return &ReaderHealth{State: n.state.Load().(string), LagMs: n.lagMs.Load()}
}

// readerCollector exports the readers' figures on /metrics, labelled by address.
type readerCollector struct{ rs *readerSet }

var (
	descReaderUp       = prometheus.NewDesc("fwdproxy_reader_healthy", "1 when the reader takes new reads", []string{"reader", "state"}, nil)
	descReaderLag      = prometheus.NewDesc("fwdproxy_reader_lag_milliseconds", "replication lag from GTID positions over time", []string{"reader"}, nil)
	descReaderSessions = prometheus.NewDesc("fwdproxy_reader_sessions", "sessions on the reader", []string{"reader"}, nil)
	descReaderReads    = prometheus.NewDesc("fwdproxy_reader_reads_total", "reads served by the reader (each counted once, where it ran)", []string{"reader"}, nil)
	descReaderWaits    = prometheus.NewDesc("fwdproxy_reader_waits_total", "reads that waited on the reader", []string{"reader"}, nil)
	descReaderMoves    = prometheus.NewDesc("fwdproxy_reader_moves_total", "sessions that moved to the reader", []string{"reader"}, nil)
)

func (c readerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReaderUp, descReaderLag, descReaderSessions, descReaderReads, descReaderWaits, descReaderMoves} {
		ch <- d
	}
}

func (c readerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.rs.status() {
		up := 0.0
		if st.State == "up" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descReaderUp, prometheus.GaugeValue, up, st.Addr, st.State)
		ch <- prometheus.MustNewConstMetric(descReaderLag, prometheus.GaugeValue, float64(st.LagMs), st.Addr)
		ch <- prometheus.MustNewConstMetric(descReaderSessions, prometheus.GaugeValue, float64(st.Sessions), st.Addr)
		ch <- prometheus.MustNewConstMetric(descReaderReads, prometheus.CounterValue, float64(st.Reads), st.Addr)
		ch <- prometheus.MustNewConstMetric(descReaderWaits, prometheus.CounterValue, float64(st.Waits), st.Addr)
		ch <- prometheus.MustNewConstMetric(descReaderMoves, prometheus.CounterValue, float64(st.Moves), st.Addr)
	}
}
