package consistency

// Push tracking of what the reader has applied: a binlog listener on the
// reader itself. A replica with log_slave_updates writes every transaction
// it applies to its own binlog under the writer's GTID, so a binlog dump
// from the replica tells the proxy, transaction by transaction, what it has
// applied. Each batch of arrived transactions is then confirmed with one
// server-side wait on the tracker's own connection before Applied moves:
// a binlog event can reach a dump thread before its rows are visible.
// This is the one piece of the package that talks to a server.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// TrackerConfig says how to reach the reader. The user needs REPLICATION
// SLAVE (MySQL: REPLICATION SLAVE and REPLICATION CLIENT); the reader needs
// log_bin and log_slave_updates (MySQL: log_replica_updates).
type TrackerConfig struct {
	Flavor   Flavor // MariaDB or MySQL
	Host     string
	Port     uint16
	User     string
	Password string
	TLS      *tls.Config
	// ServerID is the id the listener registers with; it must differ from
	// every server's and every other listener's. 0 picks one at random in
	// [1e6, 2e9).
	ServerID uint32
	// Heartbeat is how often the reader sends a heartbeat when idle
	// (default 1s); a connection silent for 3 heartbeats counts as dead.
	Heartbeat time.Duration
	// Unconfirmed advances Applied as soon as a transaction's commit event
	// arrives. It is unsafe, for measurements only: a server publishes
	// binlog events to dump threads after writing its binlog and before
	// the storage engine commit makes the rows visible, so the event can
	// precede visibility (measured on MariaDB 10.11 with 16 concurrent
	// writers: 65 of 4,800 rows not yet visible when notified). By default
	// each batch of arrived transactions is confirmed first with one
	// MASTER_GTID_WAIT / WAIT_FOR_EXECUTED_GTID_SET on the tracker's own
	// reader connection (what server-side waits compare against, updated
	// after the commit), shared by every transaction that arrived meanwhile.
	Unconfirmed bool
	// ReadEvery paces the binlog stream: at most one read from the socket
	// per interval, so a busy writer's events arrive in batches (0: read as
	// they come). The server sends an event at a time; paced, a batch costs
	// one wake-up and one confirming wait (under oltp_read_write the
	// tracker's own goroutines went from 13.5% to about 5% of the proxy's
	// CPU, though the proxy's total per query did not drop measurably). A
	// quiet stream is read at once: pacing only delays a read that follows
	// another closely.
	ReadEvery time.Duration
	// ConfirmTimeout bounds one confirming wait (default 1s); a wait that
	// times out is retried, it does not stop the tracker.
	ConfirmTimeout time.Duration
}

// ErrTrackerStopped is what Start returns for a tracker that was closed.
var ErrTrackerStopped = errors.New("binlog tracker stopped")

// BinlogTracker follows the reader's binlog and advances an Applied.
// If the stream fails it logs why and stops for good (Running turns
// false); Applied keeps what it learned, and callers fall back to waits
// on the server.
type BinlogTracker struct {
	cfg     TrackerConfig
	applied *Applied
	logf    func(string, ...any)

	syncer    *replication.BinlogSyncer
	confirmer *client.Conn // confirming mode only

	// Event state; touched only by the stream goroutine (HandleEvent).
	ev eventState

	// Confirming mode: what arrived and awaits confirmation.
	pmu     sync.Mutex
	pending Set
	kick    chan struct{}

	running   atomic.Bool
	txns      atomic.Uint64 // commits seen
	stopOnce  sync.Once
	closeOnce sync.Once
	wg        sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc
}

// eventState is the per-transaction state machine over binlog events.
type eventState struct {
	cur        Set  // GTID of the open event group; nil outside one
	standalone bool // MariaDB FL_STANDALONE: the next statement ends the group
	began      bool // a BEGIN query opened the group (MySQL, and MariaDB to non-GTID slaves)
	ownServer  uint32
	ownUUID    [16]byte
	hasUUID    bool
}

func NewBinlogTracker(cfg TrackerConfig, applied *Applied, log func(string, ...any)) *BinlogTracker {
	if cfg.Flavor == nil {
		cfg.Flavor = MariaDB
	}
	if cfg.ServerID == 0 {
		cfg.ServerID = uint32(1_000_000 + rand.IntN(2_000_000_000-1_000_000))
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Second
	}
	if cfg.ConfirmTimeout <= 0 {
		cfg.ConfirmTimeout = time.Second
	}
	if log == nil {
		log = func(string, ...any) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &BinlogTracker{
		cfg: cfg, applied: applied, logf: log,
		kick: make(chan struct{}, 1),
		ctx:  ctx, cancel: cancel,
	}
}

func (t *BinlogTracker) addr() string {
	if t.cfg.Port == 0 {
		return t.cfg.Host // a Unix socket path
	}
	return net.JoinHostPort(t.cfg.Host, strconv.Itoa(int(t.cfg.Port)))
}

func (t *BinlogTracker) connect(ctx context.Context) (*client.Conn, error) {
	return client.ConnectWithContext(ctx, t.addr(), t.cfg.User, t.cfg.Password, "", 10*time.Second,
		func(c *client.Conn) error {
			if t.cfg.TLS != nil {
				c.SetTLSConfig(t.cfg.TLS)
			}
			return nil
		})
}

// Start checks the reader, seeds Applied with its applied position and
// starts following its binlog from its current end. An error means no
// tracking (nothing is left running); the proxy keeps server-side waits.
func (t *BinlogTracker) Start(ctx context.Context) (err error) {
	if t.ctx.Err() != nil {
		return ErrTrackerStopped
	}
	c, err := t.connect(ctx)
	if err != nil {
		return fmt.Errorf("binlog tracker: connect %s: %w", t.addr(), err)
	}
	defer func() {
		if err != nil && c != nil {
			c.Close()
		}
	}()
	binlogPos, appliedPos, err := t.probe(c)
	if err != nil {
		return fmt.Errorf("binlog tracker: %s: %w", t.addr(), err)
	}
	start, err := gmysql.ParseGTIDSet(t.cfg.Flavor.Name(), binlogPos)
	if err != nil {
		return fmt.Errorf("binlog tracker: start position %q: %w", binlogPos, err)
	}
	// The applied position is confirmed like a binlog event (committed is
	// not yet visible, see confirmLoop) once the loops run.
	startApplied, _ := t.cfg.Flavor.ParseSet(appliedPos)
	if !t.cfg.Unconfirmed {
		t.confirmer = c // keeps the probe's connection for confirming waits
	} else {
		c.Close()
		c = nil
	}

	t.syncer = replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID:         t.cfg.ServerID,
		Flavor:           t.cfg.Flavor.Name(),
		Host:             t.cfg.Host,
		Port:             t.cfg.Port,
		User:             t.cfg.User,
		Password:         t.cfg.Password,
		TLSConfig:        t.cfg.TLS,
		Localhost:        "fwdproxy",
		HeartbeatPeriod:  t.cfg.Heartbeat,
		ReadTimeout:      3 * t.cfg.Heartbeat,
		DisableRetrySync: true,
		DiscardGTIDSet:   true,
		Logger:           slog.New(slog.NewTextHandler(logWriter{t.logf}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		// Row images are not needed: skip decoding them.
		RowsEventDecodeFunc:     func(*replication.RowsEvent, []byte) error { return nil },
		SynchronousEventHandler: t,
		Dialer:                  t.dial,
	})
	streamer, err := t.syncer.StartSyncGTID(start)
	if err != nil {
		t.syncer.Close()
		t.syncer = nil
		t.confirmer = nil
		return fmt.Errorf("binlog tracker: binlog dump from %s at %q: %w", t.addr(), binlogPos, err)
	}
	t.running.Store(true)
	t.wg.Add(1)
	go t.watch(streamer)
	if !t.cfg.Unconfirmed {
		t.wg.Add(1)
		go t.confirmLoop()
	}
	if !isEmpty(startApplied) {
		t.committed(startApplied)
	}
	t.logf("binlog tracker: following %s from %s (server id %d, unconfirmed %v)", t.addr(), binlogPos, t.cfg.ServerID, t.cfg.Unconfirmed)
	return nil
}

// probe checks the reader's settings and reads its binlog end and applied
// position, and its own identity (to ignore its local transactions).
func (t *BinlogTracker) probe(c *client.Conn) (binlogPos, appliedPos string, err error) {
	r, err := c.Execute("SHOW GLOBAL VARIABLES WHERE Variable_name IN " +
		"('log_bin', 'log_slave_updates', 'log_replica_updates', 'server_id', 'server_uuid')")
	if err != nil {
		return "", "", err
	}
	vars := map[string]string{}
	for i := 0; i < r.RowNumber(); i++ {
		k, _ := r.GetString(i, 0)
		v, _ := r.GetString(i, 1)
		vars[strings.ToLower(k)] = v
	}
	if !isOn(vars["log_bin"]) {
		return "", "", errors.New("log_bin is OFF")
	}
	if !isOn(vars["log_slave_updates"]) && !isOn(vars["log_replica_updates"]) {
		return "", "", errors.New("log_slave_updates is OFF: the binlog would not show replicated transactions")
	}
	if id, err := strconv.ParseUint(vars["server_id"], 10, 32); err == nil {
		t.ev.ownServer = uint32(id)
	}
	if u, ok := parseUUID(vars["server_uuid"]); ok {
		t.ev.ownUUID, t.ev.hasUUID = u, true
	}
	// The reader's binlog end is what the flavour reads as a writer's
	// position; what it applied, what waits compare against.
	if binlogPos, err = firstValue(c, t.cfg.Flavor.WriterPositionSQL()); err != nil {
		return "", "", err
	}
	if appliedPos, err = firstValue(c, t.cfg.Flavor.ReaderPositionSQL()); err != nil {
		return "", "", err
	}
	return binlogPos, appliedPos, nil
}

func firstValue(c *client.Conn, q string) (string, error) {
	r, err := c.Execute(q)
	if err != nil {
		return "", err
	}
	v, _ := r.GetString(0, 0)
	return strings.TrimSpace(v), nil
}

func isOn(v string) bool { return strings.EqualFold(v, "ON") || v == "1" }

// HandleEvent is called by the syncer for every event, in binlog order, on
// its stream goroutine. It implements replication.EventHandler.
func (t *BinlogTracker) HandleEvent(e *replication.BinlogEvent) error {
	if g := t.ev.next(e, t.cfg.Flavor); g != nil {
		t.txns.Add(1)
		t.committed(g)
	}
	return nil
}

// committed handles one finished transaction.
func (t *BinlogTracker) committed(g Set) {
	if t.cfg.Unconfirmed {
		t.applied.Advance(g)
		return
	}
	t.pmu.Lock()
	if t.pending == nil {
		t.pending = g
	} else {
		t.pending = t.pending.Union(g)
	}
	t.pmu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// next advances the state machine; it returns the GTID of a transaction
// whose commit event this is, else nil.
//
// MariaDB: a GTID event opens a group (it stands for BEGIN); the group ends
// with an XID event, a COMMIT/ROLLBACK query (non-transactional engines),
// XA PREPARE, or, for a standalone group (DDL), its one statement.
// MySQL: GTID, then either BEGIN … XID/COMMIT or one DDL statement.
// A new GTID event also ends a group left open (defensive: groups never
// interleave in a binlog).
func (s *eventState) next(e *replication.BinlogEvent, f Flavor) Set {
	switch ev := e.Event.(type) {
	case *replication.MariadbGTIDEvent:
		prev := s.cur
		s.cur, s.standalone, s.began = nil, ev.IsStandalone(), false
		if s.ownServer == 0 || ev.GTID.ServerID != s.ownServer {
			s.cur = mariadbSet{g: []MariaDBGTID{{Domain: ev.GTID.DomainID, Server: ev.GTID.ServerID, Seq: ev.GTID.SequenceNumber}}}
		}
		return prev
	case *replication.GtidTaggedLogEvent:
		return s.mysqlGTID(&ev.GTIDEvent)
	case *replication.GTIDEvent:
		return s.mysqlGTID(ev)
	case *replication.XIDEvent:
		return s.end()
	case *replication.QueryEvent:
		return s.query(ev.Query, f)
	case *replication.TransactionPayloadEvent:
		var out Set
		for _, inner := range ev.Events {
			if g := s.next(inner, f); g != nil {
				out = unionSet(out, g)
			}
		}
		return out
	}
	if e.Header != nil && e.Header.EventType == replication.XA_PREPARE_LOG_EVENT {
		return s.end()
	}
	return nil
}

func (s *eventState) mysqlGTID(ev *replication.GTIDEvent) Set {
	prev := s.cur
	s.cur, s.standalone, s.began = nil, false, false
	if len(ev.SID) != 16 || ev.GNO <= 0 {
		return prev // anonymous transaction (GTID_MODE off): nothing to track
	}
	var u [16]byte
	copy(u[:], ev.SID)
	if s.hasUUID && u == s.ownUUID {
		return prev
	}
	g := uint64(ev.GNO)
	s.cur = mysqlSet{t: []mysqlTSID{{uuid: u, tag: strings.ToLower(ev.Tag.String()), iv: []gnoInterval{{g, g}}}}}
	return prev
}

func (s *eventState) end() Set {
	g := s.cur
	s.cur, s.standalone, s.began = nil, false, false
	return g
}

func (s *eventState) query(q []byte, f Flavor) Set {
	if s.cur == nil {
		return nil
	}
	w := firstWords(q)
	switch {
	case w == "BEGIN" || w == "START TRANSACTION" || w == "XA START" || w == "XA BEGIN":
		s.began = true
		return nil
	case w == "COMMIT" || w == "ROLLBACK" || w == "XA COMMIT" || w == "XA ROLLBACK" || w == "XA PREPARE":
		return s.end()
	case s.standalone:
		return s.end()
	case f.Name() != "mariadb" && !s.began:
		return s.end() // MySQL DDL: GTID then the statement, no BEGIN
	}
	return nil // a statement inside the group (statement-based logging)
}

// firstWords upper-cases the first word of a query, or the first two when
// the first is XA or START, skipping leading spaces and comments: enough to
// recognise transaction control.
func firstWords(q []byte) string {
	i := 0
	for i < len(q) {
		if isSpace(q[i]) {
			i++
			continue
		}
		if i+1 < len(q) && q[i] == '/' && q[i+1] == '*' {
			end := strings.Index(string(q[i+2:]), "*/")
			if end < 0 {
				return ""
			}
			i += end + 4
			continue
		}
		break
	}
	var b []byte
	for n := 0; n < 2 && i < len(q); n++ {
		j := i
		for j < len(q) && !isSpace(q[j]) && q[j] != ';' && q[j] != '\'' && q[j] != '(' {
			j++
		}
		if j == i {
			break
		}
		if n > 0 {
			b = append(b, ' ')
		}
		b = append(b, strings.ToUpper(string(q[i:j]))...)
		if n == 0 && string(b) != "XA" && string(b) != "START" {
			break
		}
		i = j
		for i < len(q) && isSpace(q[i]) {
			i++
		}
	}
	return string(b)
}

func unionSet(a, b Set) Set {
	if a == nil {
		return b
	}
	return a.Union(b)
}

// confirmLoop turns pending (arrived) transactions into Applied, one
// server-side wait per batch, on the tracker's own reader connection.
func (t *BinlogTracker) confirmLoop() {
	defer t.wg.Done()
	defer t.confirmer.Close()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-t.kick:
		}
		for {
			t.pmu.Lock()
			target := t.pending
			t.pmu.Unlock()
			if target == nil || t.applied.Covers(target) {
				break
			}
			r, err := t.confirmer.Execute(t.cfg.Flavor.WaitSQL(target, t.cfg.ConfirmTimeout))
			if err != nil {
				t.stop(fmt.Errorf("confirming wait: %w", err))
				return
			}
			v, _ := r.GetString(0, 0)
			isNull, _ := r.IsNull(0, 0)
			ok, werr := t.cfg.Flavor.WaitDone(v, isNull)
			if werr != nil {
				t.stop(fmt.Errorf("confirming wait: %w", werr))
				return
			}
			if ok {
				t.applied.Advance(target)
			}
			if t.ctx.Err() != nil {
				return
			}
		}
	}
}

// watch waits for the stream to end. With a synchronous handler no event
// comes through the streamer; only its error does.
func (t *BinlogTracker) watch(s *replication.BinlogStreamer) {
	defer t.wg.Done()
	_, err := s.GetEvent(t.ctx)
	if t.ctx.Err() != nil {
		return // Close
	}
	if err == nil {
		err = errors.New("unexpected event on the streamer")
	}
	t.stop(err)
}

// stop marks the tracker stopped after a failure (once) and logs why.
func (t *BinlogTracker) stop(err error) {
	if t.markStopped() {
		t.logf("binlog tracker: stopped, falling back to server-side waits: %v", err)
		// Closing the syncer waits for its stream goroutine, which may be
		// the one calling here: do it on another goroutine, counted in wg
		// so that Close waits for it.
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.shutdown()
		}()
	}
}

// markStopped records the end; true for the first caller only.
func (t *BinlogTracker) markStopped() bool {
	first := false
	t.stopOnce.Do(func() {
		first = true
		t.running.Store(false)
	})
	return first
}

func (t *BinlogTracker) shutdown() {
	t.cancel()
	if t.syncer != nil {
		t.syncer.Close() // idempotent
	}
}

// Close stops tracking and waits for the tracker's goroutines. Applied
// keeps what it learned.
func (t *BinlogTracker) Close() {
	t.closeOnce.Do(func() {
		t.markStopped()
		t.shutdown()
		t.wg.Wait()
	})
}

// Running reports whether Applied is being advanced by the tracker.
func (t *BinlogTracker) Running() bool { return t.running.Load() }

// Transactions is the number of commits the tracker has seen.
func (t *BinlogTracker) Transactions() uint64 { return t.txns.Load() }

// ServerID is the id the tracker registers with on the reader.
func (t *BinlogTracker) ServerID() uint32 { return t.cfg.ServerID }

func (t *BinlogTracker) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil || t.cfg.ReadEvery <= 0 {
		return c, err
	}
	return &pacedConn{Conn: c, every: t.cfg.ReadEvery}, nil
}

// pacedConn reads at most once per interval (TrackerConfig.ReadEvery).
// go-mysql reads through a 64 KiB buffer, so one read takes the whole batch.
type pacedConn struct {
	net.Conn
	every time.Duration
	last  time.Time
}

func (c *pacedConn) Read(p []byte) (int, error) {
	if d := c.every - time.Since(c.last); d > 0 {
		time.Sleep(d)
	}
	n, err := c.Conn.Read(p)
	c.last = time.Now()
	return n, err
}

// logWriter hands go-mysql's warnings to the tracker's log function.
type logWriter struct{ logf func(string, ...any) }

func (w logWriter) Write(p []byte) (int, error) {
	w.logf("binlog tracker: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}
