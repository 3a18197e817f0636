package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/writers"
)

// writerCheckEvery is how often the candidates are asked who the writer
// is; a writer error that signals a move asks at once.
const writerCheckEvery = 500 * time.Millisecond

// killWriterChange is the writerLife reason of a connection closed because
// the writer moved.
const killWriterChange int32 = 100

// writerWatch follows which of several --writer candidates is the writer.
// Each round asks every candidate (and the reader, whose replication votes
// in a tie) and lets writers.Pick decide; between rounds the answer stands.
// With one candidate there is no watch: the writer is --writer, as always.
type writerWatch struct {
	srv        *Server
	candidates []string
	voters     []string
	kick       chan struct{}

	mu      sync.Mutex
	current string        // the writer now; "" while no candidate qualifies
	last    string        // the last writer there was, for the next change's From
	round   uint64        // completed rounds
	notify  chan struct{} // closed and replaced after every round
	lostAt  time.Time     // when the writer went ("" since then); zero while there is one
	changes []WriterChange
	losses  []writerLoss  // what the new writer held, by change (losttail.go)
	gen     atomic.Uint64 // the last change's writerLoss.gen; written with mu held
	seen    []writers.Observation
	probes  map[string]*client.Conn

	changeCount prometheus.Counter
	held        prometheus.Counter
	heldWait    prometheus.Histogram
	errs        *prometheus.CounterVec
	lostCount   *prometheus.CounterVec
	closed      chan struct{}
}

// WriterChange is one change of writer, for /status.
type WriterChange struct {
	From string    `json:"from"`
	To   string    `json:"to"`
	Lost time.Time `json:"lost"` // when the old writer stopped qualifying (or the signal came)
	At   time.Time `json:"at"`   // when the new one was found
	// FirstWrite is when a forwarded statement first succeeded on the new
	// writer: the disruption clients saw ends there.
	FirstWrite *time.Time `json:"first_write,omitempty"`
	// LostGTIDs are the GTIDs wait targets named that the new writer did
	// not hold (the old writer's un-replicated tail), as sessions and
	// tokens found them; reads no longer wait for them.
	LostGTIDs string `json:"lost_gtids,omitempty"`

	gen  uint64          // writerLoss.gen
	lost consistency.Set // LostGTIDs
}

// WriterStatus is the writer part of /status with several candidates.
type WriterStatus struct {
	Current    string            `json:"current"`
	Candidates []CandidateStatus `json:"candidates"`
	Changes    []WriterChange    `json:"changes"`
	LostSince  *time.Time        `json:"lost_since,omitempty"`
}

// CandidateStatus is what a candidate said in the last round.
type CandidateStatus struct {
	Addr        string `json:"addr"`
	Reachable   bool   `json:"reachable"`
	ReadOnly    bool   `json:"read_only"`
	Replicating bool   `json:"replicating"`
	ServerID    uint32 `json:"server_id"`
}

func newWriterWatch(s *Server, candidates []string) *writerWatch {
	w := &writerWatch{
		srv: s, candidates: candidates, kick: make(chan struct{}, 1),
		notify: make(chan struct{}), probes: map[string]*client.Conn{}, closed: make(chan struct{}),
		changeCount: prometheus.NewCounter(prometheus.CounterOpts{Name: "fwdproxy_writer_changes_total",
			Help: "Changes of writer among the --writer candidates"}),
		held: prometheus.NewCounter(prometheus.CounterOpts{Name: "fwdproxy_writer_change_held_total",
			Help: "Forwarded statements held while no candidate qualified as the writer"}),
		heldWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fwdproxy_writer_change_held_seconds",
			Help: "How long held statements waited for a writer", Buckets: heldBuckets}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fwdproxy_writer_change_errors_total",
			Help: "Client errors caused by a writer change, by kind"}, []string{"kind"}),
		lostCount: newLostCounter(),
	}
	if r := s.conf().Reader; r != "" && !contains(candidates, r) {
		w.voters = []string{r}
	}
	for _, c := range []prometheus.Collector{w.changeCount, w.held, w.heldWait, w.errs, w.lostCount} {
		_ = s.Metrics.Registry().Register(c)
	}
	w.check() // the first answer before the first client
	w.mu.Lock()
	w.changes = nil // finding the first writer is no change
	w.mu.Unlock()
	return w // NewServer starts w.loop once the server is complete
}

var heldBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Error kinds a writer change causes, as counted.
const (
	changeErrTerminated = "terminated"      // an open transaction ended
	changeErrUnknown    = "outcome_unknown" // a sent statement's connection broke
	changeErrNoWriter   = "no_writer"       // no writer within --writer-change-wait
)

func (w *writerWatch) countErr(kind string) { w.errs.WithLabelValues(kind).Inc() }

func (w *writerWatch) loop() {
	t := time.NewTicker(writerCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-w.closed:
			return
		case <-t.C:
		case <-w.kick:
		}
		w.check()
	}
}

func (w *writerWatch) close() {
	select {
	case <-w.closed:
	default:
		close(w.closed)
	}
	w.mu.Lock()
	for a, c := range w.probes {
		c.Close()
		delete(w.probes, a)
	}
	w.mu.Unlock()
}

// writer is the current writer, "" while none qualifies.
func (w *writerWatch) writer() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current
}

// suspect says a forwarded statement saw a sign that addr may no longer be
// the writer (1290, a refused connection, a broken one): a round starts now,
// and suspect returns when it has answered (or ctx ends).
func (w *writerWatch) suspect(ctx context.Context, addr string) {
	w.mu.Lock()
	r, ch := w.round, w.notify
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	for {
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
		w.mu.Lock()
		// The round that was running when the signal came may have asked
		// before it: wait for one that started after.
		done := w.round >= r+2 || w.current != addr
		ch = w.notify
		w.mu.Unlock()
		if done {
			return
		}
	}
}

// await returns the writer and the change that made it the writer,
// waiting up to --writer-change-wait while none qualifies. held says the
// statement had to wait.
func (w *writerWatch) await() (addr string, gen uint64, held bool) {
	deadline := time.Now().Add(w.srv.conf().WriterChangeWait)
	start := time.Now()
	for {
		w.mu.Lock()
		cur, gen, ch := w.current, w.gen.Load(), w.notify
		w.mu.Unlock()
		if cur != "" {
			if held {
				w.heldWait.Observe(time.Since(start).Seconds())
			}
			return cur, gen, held
		}
		if !held {
			held = true
			w.held.Inc()
		}
		left := time.Until(deadline)
		if left <= 0 {
			w.heldWait.Observe(time.Since(start).Seconds())
			return "", 0, true
		}
		t := time.NewTimer(left)
		select {
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
}

// check runs one round: ask everyone, pick, and act on a change.
func (w *writerWatch) check() {
	obs := w.observe(w.candidates)
	votes := w.observe(w.voters)
	d := writers.Pick(obs, votes)
	if len(d.Contenders) > 1 {
		w.srv.log.Warn("several writer candidates are writable; the replicas' choice wins",
			zap.Strings("writable", d.Contenders), zap.String("chosen", d.Writer))
	}
	w.srv.readerIsWriter.Store(readerIsWriter(w.srv.conf().Reader, d.Writer, obs, votes))
	w.mu.Lock()
	before, last := w.current, w.last
	w.mu.Unlock()
	var executed string
	known := false
	// Another server than the last writer: the first writer found loses
	// nothing, nor does the same one back after it did not answer for a
	// while (it holds what it committed, also what its connections that
	// lived through the gap commit after this look).
	if d.Writer != "" && d.Writer != before && last != "" && d.Writer != last {
		executed, known = w.executedOn(d.Writer)
	}
	w.mu.Lock()
	prev := w.current
	w.current = d.Writer
	w.seen = obs
	now := time.Now()
	switch {
	case d.Writer == prev:
	case d.Writer == "":
		w.lostAt = now
		w.srv.log.Warn("no writer candidate qualifies: forwarded statements wait for one", zap.String("was", prev))
	default:
		lost := w.lostAt
		if lost.IsZero() {
			lost = now
		}
		w.changes = append(w.changes, WriterChange{From: w.last, To: d.Writer, Lost: lost, At: now})
		if len(w.changes) > 20 {
			w.changes = w.changes[1:]
		}
		w.last, w.lostAt = d.Writer, time.Time{}
		w.changeCount.Inc()
		if known {
			w.recordLoss(d.Writer, executed)
		}
		if prev == "" && w.last == "" {
			w.srv.log.Info("writer found", zap.String("writer", d.Writer))
		} else {
			w.srv.log.Warn("writer changed", zap.String("from", w.changes[len(w.changes)-1].From), zap.String("to", d.Writer))
		}
	}
	if w.last == "" {
		w.last = d.Writer
	}
	w.round++
	close(w.notify)
	w.notify = make(chan struct{})
	w.mu.Unlock()
	if d.Writer != prev {
		w.srv.writerMoved()
	}
}

// readerIsWriter: the (one) reader is the writer, as after a switchover
// that promoted it: named as the chosen candidate, or the same server_id.
func readerIsWriter(reader, writer string, obs, votes []writers.Observation) bool {
	if reader == "" || writer == "" {
		return false
	}
	if reader == writer {
		return true
	}
	for _, o := range obs {
		if o.Addr == writer {
			for _, v := range votes {
				if v.Addr == reader && v.Reachable && v.ServerID == o.ServerID {
					return true
				}
			}
		}
	}
	return false
}

// firstWrite notes a forwarded statement that succeeded on addr.
func (w *writerWatch) firstWrite(addr string) {
	w.mu.Lock()
	if n := len(w.changes); n > 0 && w.changes[n-1].To == addr && w.changes[n-1].FirstWrite == nil {
		t := time.Now()
		w.changes[n-1].FirstWrite = &t
	}
	w.mu.Unlock()
}

// status is the watch's part of /status.
func (w *writerWatch) status() *WriterStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := &WriterStatus{Current: w.current, Changes: append([]WriterChange(nil), w.changes...)}
	for _, o := range w.seen {
		st.Candidates = append(st.Candidates, CandidateStatus{Addr: o.Addr, Reachable: o.Reachable,
			ReadOnly: o.ReadOnly, Replicating: o.Replicating, ServerID: o.ServerID})
	}
	if !w.lostAt.IsZero() {
		t := w.lostAt
		st.LostSince = &t
	}
	return st
}

// observe asks the servers at addrs, all at once.
func (w *writerWatch) observe(addrs []string) []writers.Observation {
	out := make([]writers.Observation, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = w.observeOne(a)
		}()
	}
	wg.Wait()
	return out
}

func (w *writerWatch) observeOne(addr string) writers.Observation {
	o := writers.Observation{Addr: addr}
	c, err := w.probe(addr)
	if err == nil {
		err = askCandidate(c, &o)
	}
	if err != nil {
		w.mu.Lock()
		if w.probes[addr] == c {
			delete(w.probes, addr)
		}
		w.mu.Unlock()
		if c != nil {
			c.Close()
		}
		return writers.Observation{Addr: addr}
	}
	o.Reachable = true
	return o
}

// probe is the watch's own connection to addr, kept between rounds.
func (w *writerWatch) probe(addr string) (*client.Conn, error) {
	w.mu.Lock()
	c := w.probes[addr]
	w.mu.Unlock()
	if c != nil {
		return c, nil
	}
	user, pass := w.srv.proxyUser()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	d := &net.Dialer{Timeout: time.Second}
	tlsCfg := w.srv.conf().BackendTLS
	c, err := client.ConnectWithDialer(ctx, "", addr, user, pass, "", d.DialContext, func(c *client.Conn) error {
		c.BufferSize = 4 << 10
		if tlsCfg != nil {
			c.SetTLSConfig(probeTLS(tlsCfg, addr))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.probes[addr] = c
	w.mu.Unlock()
	return c, nil
}

func probeTLS(cfg *tls.Config, addr string) *tls.Config {
	if cfg.ServerName != "" || cfg.InsecureSkipVerify {
		return cfg
	}
	cfg = cfg.Clone()
	cfg.ServerName, _, _ = net.SplitHostPort(addr)
	return cfg
}

// askCandidate fills o from the server: read_only (on MySQL also set by
// super_read_only), server id, and its replication channels, as the
// server's flavour lists them.
func askCandidate(c *client.Conn, o *writers.Observation) error {
	_ = c.SetDeadline(time.Now().Add(time.Second))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	r, err := c.Execute("SELECT @@GLOBAL.read_only, @@server_id, VERSION()")
	if err != nil {
		return err
	}
	ro, _ := r.GetString(0, 0)
	id, _ := r.GetString(0, 1)
	version, _ := r.GetString(0, 2)
	o.ReadOnly = ro == "1" || strings.EqualFold(ro, "ON")
	n, _ := strconv.ParseUint(id, 10, 32)
	o.ServerID = uint32(n)
	fl := consistency.DetectFlavor(version)
	r, err = c.Execute(fl.ReplicationSQL())
	if err != nil {
		return err
	}
	for i := range r.RowNumber() {
		running, source := fl.ReplicationChannel(func(name string) string {
			v, _ := r.GetStringByName(i, name)
			return v
		})
		o.Replicating = o.Replicating || running
		if source != 0 {
			o.MasterIDs = append(o.MasterIDs, source)
		}
	}
	return nil
}
