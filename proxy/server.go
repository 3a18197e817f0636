package proxy

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	gmserver "github.com/go-mysql-org/go-mysql/server"
	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/accounts"
	"github.com/fwdproxy/fwdproxy/capture"
	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/faults"
	"github.com/fwdproxy/fwdproxy/metrics"
	"github.com/fwdproxy/fwdproxy/proxy/proxyproto"
	"github.com/fwdproxy/fwdproxy/proxy/wire"
	"github.com/fwdproxy/fwdproxy/route"
)

// Forwarding status values, as Aurora reports GlobalWriteForwardingStatus.
// Aurora also has "enabling"; here forwarding is on the moment it is
// switched on, so that state never occurs.
const (
	FwdDisabled  = "disabled"
	FwdEnabled   = "enabled"
	FwdDisabling = "disabling"
)

// Server accepts clients and runs one session per connection.
type Server struct {
	live    atomic.Pointer[Config] // settings; SIGHUP swaps in a new copy
	log     *zap.Logger
	Metrics *metrics.Metrics

	forwarding atomic.Bool
	fwdSwitch  *sharedSwitch
	flavor     consistency.Flavor
	dialect    dialect
	version    string // the reader's version string, shown to clients
	gosrv      *gmserver.Server

	// The reader's greeting, shown to clients in the proxy's: its status
	// (autocommit) and default collation.
	greetStatus    uint16
	greetCollation uint8

	applied       *consistency.Applied          // what the (first) reader is known to have applied
	readers       *readerSet                    // several --reader; nil with one
	readerWatch   *readerSet                    // one --reader: watched for /status only (its state and lag), never routed by
	watchOne      bool                          // readerWatch may run (tests of scripted backends turn it off)
	track         pushTracking                  // push tracking of applied, while sessions need it
	audit         *auditStore                   // audit mode findings; nil otherwise
	stmts         statements                    // per-digest statistics and the statement log
	capture       *capture.Writer               // --capture-file; nil without
	writerPos     *consistency.WriterPosition   // coalesced GLOBAL look-ups
	posMu         sync.Mutex                    // guards posConn
	posConn       *backend                      // the proxy's own writer connection for look-ups
	posAddr       string                        // the server posConn is on
	cluster       atomic.Pointer[writerCluster] // the writer's identity for causal tokens; nil until asked
	formerWriters sync.Map                      // writer address + "\x00" + token cluster -> struct{}: former writers (formerWriter)
	userSets      sync.Map                      // user name -> *consistency.Applied: the user scope's GTIDs (userscope.go)
	watch         *writerWatch                  // which --writer candidate is the writer; nil with one
	control       writerControl                 // delivers the forward timeout's KILLs
	faults        faults.Set                    // failures injected on demand (POST /faults)

	writerLimit    atomic.Int64 // sessions that may hold a writer connection
	writerSessions atomic.Int64

	mu       sync.Mutex
	sessions map[*session]struct{}
	ln       net.Listener
	wg       sync.WaitGroup
	closed   atomic.Bool
	nextID   atomic.Uint32

	conns    atomic.Int64 // client connections held, logged in or not
	hosts    hosts        // failed logins by client address
	draining atomic.Bool  // SIGTERM: new sessions and transactions get 1053
	unready  atomic.Bool  // SIGTERM: /readyz fails, before and during the drain

	// readerIsWriter: a writer change made the one reader the writer; it
	// has applied every write, and MASTER_GTID_WAIT there would wait for
	// ever for the writes it makes itself (they never reach gtid_slave_pos).
	readerIsWriter atomic.Bool

	stray      strayWatch    // readers' GTIDs of their own (stray.go)
	strayEvery time.Duration // how often they are looked for
	// decoy is the password an unknown user is checked against, so that
	// the answer and the work are those of a wrong password.
	decoy string
	// accounts are the writer's, with --accounts writer; else nil.
	accounts *accounts.Store
}

// NewServer probes the backends (version, flavour, writer max_connections)
// and prepares the listener's handshake settings.
func NewServer(cfg Config, log *zap.Logger, m *metrics.Metrics) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	if m == nil {
		m = metrics.New()
	}
	if cfg.Audit && (cfg.AuditModel == nil || cfg.ExposureModel == nil) {
		return nil, fmt.Errorf("audit mode needs Config.AuditModel and Config.ExposureModel")
	}
	if cfg.Audit {
		cfg.Reader = cfg.Writer // one backend: today's writer
		cfg.PushTracking = false
	}
	s := &Server{log: log, Metrics: m, sessions: map[*session]struct{}{}, decoy: rand.Text()}
	s.live.Store(&cfg)
	warnFileLimit(log, cfg.MaxClientConnections)
	var err error
	if cfg.Audit {
		s.audit = newAuditStore(m.Registry(), cfg.AuditLag)
	}
	if s.stmts, err = openStatements(&cfg); err != nil {
		return nil, err
	}
	if s.capture, err = openCapture(&cfg, log); err != nil {
		return nil, fmt.Errorf("--capture-file: %w", err)
	}
	s.forwarding.Store(cfg.Forwarding)
	s.fwdSwitch = &sharedSwitch{srv: s, countEvery: unsharedCountEvery}
	s.version = "8.0.36-fwdproxy"
	s.flavor = consistency.MariaDB
	s.greetStatus, s.greetCollation = statusAutocommit, mysql.DEFAULT_COLLATION_ID
	if addrs := cfg.WriterAddrs(); len(addrs) > 1 && !cfg.Audit {
		s.watch = newWriterWatch(s, addrs)
	}
	if err = s.probe(); err != nil {
		// The proxy still starts: sessions get a clear error until the
		// backends answer.
		log.Warn("backend probe failed", zap.Error(err))
	}
	s.dialect = dialectFor(s.flavor)
	s.applied = consistency.NewApplied(s.flavor)
	if addrs := cfg.ReaderAddrs(); len(addrs) > 1 && !cfg.Audit {
		s.readers = newReaderSet(addrs, s.flavor)
		s.applied = s.readers.node(0).applied // the push tracker follows the first reader
		m.Registry().MustRegister(readerCollector{s.readers})
	} else if len(addrs) == 1 && !cfg.Audit {
		s.readerWatch, s.watchOne = newReaderSet(addrs, s.flavor), true
		s.readerWatch.until.Store(1)                 // until GET /status asks (health)
		s.readerWatch.node(0).state.Store("unknown") // not yet looked at
	}
	m.Registry().MustRegister(backendUpCollector{s})
	s.stray.found, s.strayEvery = map[string]string{}, strayEvery
	m.Registry().MustRegister(&s.stray)
	s.writerPos = consistency.NewWriterPosition(s.fetchWriterPosition)
	s.track.linger, s.track.retry = cfg.PushTrackingLinger, 10*time.Second
	if s.track.linger == 0 {
		s.track.linger = time.Minute
	}
	if cfg.PushTracking {
		s.track.start = s.startTracker
	}
	var rsaKey *rsa.PrivateKey
	if cfg.AuthMethod == mysql.AUTH_CACHING_SHA2_PASSWORD && cfg.ClientTLS == nil {
		// Full caching_sha2 authentication without TLS exchanges the
		// password under this key.
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, err
		}
	}
	s.accounts = s.newAccounts()
	s.gosrv = gmserver.NewServerWithAuth(s.version, s.greetCollation, cfg.AuthMethod, rsaKey, cfg.ClientTLS, &authProvider{s: s})
	_ = s.gosrv.SetCapability(mysql.CLIENT_LOCAL_FILES)
	if s.watch != nil {
		go s.watch.loop() // after the fields a writer change touches (losttail.go) are set
	}
	return s, nil
}

// probe learns the reader's version and flavour and the writer connection cap.
func (s *Server) probe() error {
	user, pass := s.proxyUser()
	ctx := context.Background()
	var r *backend
	var err error
	addrs := s.conf().ReaderAddrs()
	if len(addrs) > 1 && s.writerAddr() != "" {
		// A reader endpoint may start with no reader up: the writer is of
		// the same kind, and its cap is learnt all the same.
		addrs = append(slices.Clip(addrs), s.writerAddr())
	}
	for _, addr := range addrs { // the first that answers
		if r, err = dialBackend(ctx, "reader", dialParams{addr: addr, user: user, password: pass, tls: s.conf().BackendTLS}); err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	s.version = r.version
	s.flavor = consistency.DetectFlavor(r.version)
	// A fresh session's status is what the reader's greeting says (PEP 249
	// drivers decide from its AUTOCOMMIT whether to turn autocommit off).
	res, err := r.exec("SELECT ID FROM information_schema.COLLATIONS WHERE COLLATION_NAME = @@GLOBAL.collation_server")
	if err == nil {
		s.greetStatus = r.status & statusAutocommit
		if v, ok := res.value(); ok {
			if id, err := strconv.Atoi(v.s); err == nil && id > 0 && id < 256 {
				s.greetCollation = uint8(id)
			}
		}
	}
	r.close()
	return s.refreshWriterLimit(user, pass)
}

func (s *Server) refreshWriterLimit(user, pass string) error {
	addr := s.writerAddr()
	if addr == "" {
		return errNoWriter // the cap stays as it was until there is a writer
	}
	w, err := dialBackend(context.Background(), "writer", dialParams{addr: addr, user: user, password: pass, tls: s.conf().BackendTLS})
	if err != nil {
		s.writerLimit.Store(int64(151 * s.conf().WriterMaxConnectionsPct / 100))
		return err
	}
	defer w.close()
	res, err := w.exec("SELECT @@GLOBAL.max_connections")
	if err != nil {
		return err
	}
	v, _ := res.value()
	var mc int64
	for _, c := range v.s {
		mc = mc*10 + int64(c-'0')
	}
	s.writerLimit.Store(mc * int64(s.conf().WriterMaxConnectionsPct) / 100)
	return nil
}

// fetchWriterPosition reads the writer's GTID position on the proxy's own
// connection; WriterPosition makes sure only one runs at a time.
func (s *Server) fetchWriterPosition(ctx context.Context) (consistency.Set, error) {
	s.posMu.Lock()
	defer s.posMu.Unlock()
	s.Metrics.GlobalPositionLookup()
	v, err := s.askWriter(ctx, s.flavor.WriterPositionSQL())
	if err != nil {
		return nil, err
	}
	return s.flavor.ParseSet(v)
}

// writerCluster is the identity one writer gave.
type writerCluster struct{ addr, id string }

// clusterID is the writer's identity in causal tokens (Flavor.ClusterSQL),
// asked once per writer; once known it costs no lock, so a write's OK
// never queues behind a GLOBAL look-up.
func (s *Server) clusterID(ctx context.Context) (string, error) {
	addr := s.writerAddr()
	if c := s.cluster.Load(); c != nil && c.addr == addr {
		return c.id, nil
	}
	s.posMu.Lock()
	defer s.posMu.Unlock()
	if c := s.cluster.Load(); c != nil && c.addr == addr {
		return c.id, nil
	}
	v, err := s.askWriter(ctx, s.flavor.ClusterSQL())
	if err != nil {
		return "", err
	}
	s.cluster.Store(&writerCluster{addr: addr, id: v})
	return v, nil
}

// formerWriter says whether cluster, a token's writer that is not the
// current one, is in the current writer's history (a writer before a
// switchover). A yes is kept per (writer, cluster), a no is not, so
// foreign tokens cannot grow the map; a token only meets this after a
// writer change or from another cluster.
func (s *Server) formerWriter(ctx context.Context, cluster string) bool {
	key := s.writerAddr() + "\x00" + cluster
	if _, ok := s.formerWriters.Load(key); ok {
		return true
	}
	s.posMu.Lock()
	history, err := s.askWriter(ctx, s.flavor.ExecutedSQL())
	s.posMu.Unlock()
	if err != nil || !s.flavor.InClusterHistory(cluster, history) {
		return false
	}
	s.formerWriters.Store(key, struct{}{})
	return true
}

// askWriter runs a single-value query on the proxy's own writer
// connection, which it opens or moves to the current writer first. The
// caller holds posMu.
func (s *Server) askWriter(ctx context.Context, q string) (string, error) {
	addr := s.writerAddr()
	if s.posConn != nil && s.posAddr != addr { // the writer moved
		s.posConn.close()
		s.posConn = nil
	}
	if s.posConn == nil {
		if addr == "" {
			return "", errNoWriter
		}
		user, pass := s.proxyUser()
		c, err := dialBackend(ctx, "writer", dialParams{addr: addr, user: user, password: pass, tls: s.conf().BackendTLS})
		if err != nil {
			return "", err
		}
		s.posConn, s.posAddr = c, addr
	}
	res, err := s.posConn.exec(q)
	if err != nil {
		s.posConn.close()
		s.posConn = nil
		return "", err
	}
	v, _ := res.value()
	return v.s, nil
}

// proxyUser is the user and password of the proxy's own backend
// connections (--proxy-user).
func (s *Server) proxyUser() (string, string) {
	c := s.conf()
	return c.ProxyUser, c.Users[c.ProxyUser]
}

// startTracker follows the reader's binlog, which keeps Applied current so
// that reads of writes the reader already has skip their wait. It fails
// without binlog on the reader or REPLICATION SLAVE; reads wait on the
// reader either way.
func (s *Server) startTracker() (*consistency.BinlogTracker, error) {
	host, port := s.conf().Reader, 0 // a Unix socket: the path, port 0
	if backendNetwork(host) == "tcp" {
		h, portText, err := net.SplitHostPort(host)
		if err != nil {
			return nil, err
		}
		host = h
		port, _ = strconv.Atoi(portText)
	}
	user, pass := s.proxyUser()
	t := consistency.NewBinlogTracker(consistency.TrackerConfig{
		Flavor: s.flavor, Host: host, Port: uint16(port), User: user, Password: pass, TLS: s.conf().BackendTLS,
		ReadEvery: trackerReadEvery,
	}, s.applied, func(f string, a ...any) { s.log.Info("binlog tracker: " + fmt.Sprintf(f, a...)) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := t.Start(ctx); err != nil {
		s.log.Warn("push tracking failed to start; reads wait on the reader", zap.Error(err))
		return nil, err
	}
	return t, nil
}

// conf is the current settings. Read it once per use: Reload may replace it.
func (s *Server) conf() *Config { return s.live.Load() }

// Reload applies the settings the table marks Reload (users, forwarding,
// the default consistency, the writer limits, ...); the others need a
// restart and keep their running values.
func (s *Server) Reload(next Config) error {
	if err := next.Validate(); err != nil {
		return err
	}
	prev := *s.conf()
	readersChange := !slices.Equal(prev.ReaderAddrs(), next.ReaderAddrs()) && s.readers != nil
	if readersChange && !slices.Contains(next.ReaderAddrs(), prev.ReaderAddrs()[0]) {
		return fmt.Errorf("--reader: the first reader %s cannot be removed by a reload (push tracking and /readyz follow it); restart to change it", prev.ReaderAddrs()[0])
	}
	// Reopened on every reload, for log rotation.
	if err := s.stmts.reopen(next.StatementLog); err != nil {
		return err
	}
	cur := prev
	for _, st := range Settings {
		if st.Reload {
			st.copy(&cur, &next)
		}
	}
	cur.Reader = prev.Reader
	switch {
	case readersChange:
		for _, n := range s.readers.update(cur.Readers, s.flavor) {
			s.startWatch(s.readers, n)
		}
	case !prev.Audit && !slices.Equal(prev.ReaderAddrs(), next.ReaderAddrs()):
		// One reader runs without a reader set: that needs a restart.
		// (Audit mode has none: its reader is the writer.)
		s.log.Warn("--reader changes need a restart when the proxy started with one reader; keeping it", zap.Strings("reader", prev.ReaderAddrs()))
		cur.Readers = prev.Readers
	}
	s.live.Store(&cur)
	s.hosts.reset()
	if s.accounts != nil {
		s.refreshAccounts(s.accounts)
	}
	// A shared switch follows the other instances too: only a changed
	// setting acts on it.
	if cur.Forwarding != s.Forwarding() && (!cur.SharedWriterLimits || cur.Forwarding != prev.Forwarding) {
		if err := s.SetForwarding(cur.Forwarding); err != nil {
			s.log.Warn("forwarding switch change failed", zap.Error(err))
		}
	}
	user, pass := s.proxyUser()
	if err := s.refreshWriterLimit(user, pass); err != nil {
		s.log.Warn("writer limit refresh failed", zap.Error(err))
	}
	return nil
}

// Forwarding reports the proxy-level switch.
func (s *Server) Forwarding() bool { return s.forwarding.Load() }

// SetForwarding turns proxy-level forwarding on or off: with
// --shared-writer-limits on the writer, for every instance in front of it.
// This instance switches even when the writer cannot keep the switch:
// the error says the others did not follow.
func (s *Server) SetForwarding(on bool) error {
	s.applyForwarding(on)
	if s.sharedForwarding() {
		return s.fwdSwitch.set(on)
	}
	return nil
}

// applyForwarding sets this instance's switch. Turning it off cancels the
// forwarded transactions that are open, as Aurora does: their writer
// connections are closed, which rolls them back, and each such session's
// next statement gets the terminated error.
func (s *Server) applyForwarding(on bool) {
	s.forwarding.Store(on)
	if on {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		if ss.life.holds.Load() {
			ss.life.kill(killDisabled)
		}
	}
}

// ForwardingStatus is GlobalWriteForwardingStatus: "disabling" while
// sessions still hold forwarded transactions after the switch went off.
func (s *Server) ForwardingStatus() string {
	if s.Forwarding() {
		return FwdEnabled
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		if ss.life.holds.Load() {
			return FwdDisabling
		}
	}
	return FwdDisabled
}

// Flavor is the detected backend flavour.
func (s *Server) Flavor() consistency.Flavor { return s.flavor }

// Serve accepts connections until Close. A failed accept (out of file
// descriptors: EMFILE, ENFILE) is logged and counted, and accepting resumes
// after a pause that doubles up to a second while it keeps failing: the
// sessions that hold descriptors go on, and free them as they end.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	go s.refreshLoop()
	if s.accounts != nil {
		go s.accountsLoop()
	}
	go s.fwdSwitch.loop()
	if !s.conf().Audit && s.strayEvery > 0 {
		go s.strayLoop(s.strayEvery)
	}
	if s.readers != nil {
		s.monitor(s.readers)
	}
	var pause time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closed.Load() || s.draining.Load() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.Metrics.AcceptFailed()
			s.log.Warn("accept failed; accepting again after a pause", zap.Error(err), zap.Duration("pause", pause))
			time.Sleep(pause)
			continue
		}
		pause = 0
		over := s.conns.Add(1) > int64(s.conf().MaxClientConnections)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.conns.Add(-1)
			if over {
				s.refuse(c, metrics.LimitClientConnections, mysql.ER_CON_COUNT_ERROR, "Too many connections")
				return
			}
			s.handle(c)
		}()
	}
}

// warnFileLimit warns when the descriptor limit is below what the client
// cap needs: a client connection and its reader connection each.
func warnFileLimit(log *zap.Logger, clients int) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	if need := uint64(2*clients + 64); rl.Cur < need {
		log.Warn("the open files limit is below what --max-client-connections needs; accepts will fail with EMFILE before the cap",
			zap.Uint64("limit", rl.Cur), zap.Uint64("needs", need), zap.Int("max-client-connections", clients))
	}
}

// refreshLoop re-reads the writer's max_connections, which an operator may
// change, so the cap follows it, and ticks push tracking every second.
func (s *Server) refreshLoop() {
	for !s.closed.Load() {
		for i := 0; i < 600 && !s.closed.Load(); i++ {
			time.Sleep(100 * time.Millisecond)
			if i%10 == 9 {
				s.track.tick(time.Now())
			}
		}
		if !s.closed.Load() {
			user, pass := s.proxyUser()
			if err := s.refreshWriterLimit(user, pass); err != nil {
				s.log.Debug("writer limit refresh failed", zap.Error(err))
			}
		}
	}
}

// sessionByConnID finds the session KILL names: by the connection id of
// the handshake, or by its reader's thread id, which is what CONNECTION_ID()
// and the reader's processlist show.
func (s *Server) sessionByConnID(id uint32) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		if ss.connID == id {
			return ss
		}
	}
	for ss := range s.sessions {
		if ss.readerThread.Load() == id {
			return ss
		}
	}
	return nil
}

// killQuery stops the statement a session runs, on the servers its
// threads are on. On the writer the KILL goes over the user's control
// connection (writerControl), kept open for it: a connection dialled now
// would wait in the handshake of a writer that stopped answering. The
// client's OK waits for the writer's answer up to killWait; on the reader a
// fresh connection of the proxy's own does it.
func (s *Server) killQuery(ss *session) {
	threads, login := ss.backendThreads()
	var ack <-chan bool
	for i, k := range threads {
		if k.id == 0 || k.addr == "" {
			continue
		}
		p := login
		p.addr, p.tls = k.addr, s.conf().BackendTLS
		if i == 1 { // the writer
			ack = s.control.kill(p, k.id)
			continue
		}
		if c, err := dialBackend(context.Background(), "admin", p); err == nil {
			_, _ = c.exec(fmt.Sprintf("KILL QUERY %d", k.id))
			c.close()
		}
	}
	if ack != nil {
		t := time.NewTimer(killWait)
		defer t.Stop()
		select {
		case <-ack:
		case <-t.C:
		}
	}
}

// killWait bounds how long a client's KILL QUERY waits for the writer to
// run it; past it the KILL stays queued and runs when the writer answers.
const killWait = 5 * time.Second

// Shutdown drains: it stops accepting clients, and while sessions have a
// transaction open or a command running (up to --shutdown-timeout), it lets
// them finish and refuses new sessions and new transactions with 1053; then
// it closes every session.
func (s *Server) Shutdown() {
	// Unready first, serving as usual: a load balancer that polls /readyz
	// stops sending clients before any is refused.
	s.unready.Store(true)
	time.Sleep(s.conf().GracefulWait)
	s.draining.Store(true)
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Unlock()
	deadline := time.Now().Add(s.conf().ShutdownTimeout)
	for time.Now().Before(deadline) && s.busy() {
		time.Sleep(50 * time.Millisecond)
	}
	s.Close()
}

// busy says some session has a transaction open or a command running.
func (s *Server) busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		if ss.txOpen.Load() || ss.running.Load() {
			return true
		}
	}
	return false
}

// errShutdown is what a new session or transaction gets during the drain.
func errShutdown() *sqlError {
	return newError(mysql.ER_SERVER_SHUTDOWN, "Server shutdown in progress")
}

// Close stops accepting and closes every session.
func (s *Server) Close() {
	s.closed.Store(true)
	s.track.close()
	if s.watch != nil {
		s.watch.close()
	}
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	for ss := range s.sessions {
		ss.client.NetConn().Close()
		ss.life.closeAll()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.control.close()
	s.stmts.close()
	_ = s.capture.Close()
	s.fwdSwitch.stop()
	s.posMu.Lock()
	if s.posConn != nil {
		s.posConn.close()
		s.posConn = nil
	}
	s.posMu.Unlock()
}

func (s *Server) handle(c net.Conn) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("connection failed", zap.Any("panic", r), zap.Stack("stack"))
			c.Close()
		}
	}()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	c, err := s.proxyHeader(c)
	if err != nil {
		c.Close()
		return
	}
	host := clientHost(c.RemoteAddr())
	if s.hosts.blocked(host, time.Now()) {
		s.refuse(c, metrics.LimitHostBlocked, mysql.ER_HOST_IS_BLOCKED, fmt.Sprintf(
			"Host '%s' is blocked because of many connection errors; unblock with a reload of fwdproxy (SIGHUP), or wait %s", host, s.conf().HostBlockTime))
		return
	}
	ss, err := s.login(c)
	if err != nil {
		// A login refused with a MySQL error was logged by loginFailed;
		// the rest are port scans and clients gone mid-handshake. The
		// error's text only: zap.Error adds the stack go-mysql's errors carry.
		if errors.Is(err, errUntrustedProxyHeader) {
			s.Metrics.Limited(metrics.LimitProxyHeader)
			s.log.Warn("PROXY protocol header from a peer outside --proxy-protocol-networks; connection closed", zap.String("remote", c.RemoteAddr().String()))
		} else if !isRefusal(err) {
			s.log.Debug("handshake failed", zap.String("remote", c.RemoteAddr().String()), zap.String("error", err.Error()))
		}
		c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	ss.host = host
	lvl, _ := parseConsistency(s.conf().DefaultConsistency)
	ss.setLevel(lvl)
	ss.setScope(ss.defaultScope())
	ss.publish(false, time.Now())
	s.mu.Lock()
	s.sessions[ss] = struct{}{}
	s.mu.Unlock()
	s.Metrics.ClientConnected()
	defer s.Metrics.ClientDisconnected()
	s.log.Info("session start", zap.Uint32("id", ss.id), zap.String("user", ss.user), zap.String("remote", c.RemoteAddr().String()))
	ss.run()
	ss.setLevel(consistency.Off)
	ss.closeBackends()
	c.Close()
	s.mu.Lock()
	delete(s.sessions, ss)
	s.mu.Unlock()
	s.log.Info("session end", zap.Uint32("id", ss.id))
}

// login runs the handshake with go-mysql's server and opens the reader
// connection before the client sees OK, so a bad database or a reader that is
// down gives the client a proper error.
func (s *Server) login(c net.Conn) (*session, error) {
	ss := newSession(s)
	h := &loginHandler{s: s, ss: ss, deadline: time.Now().Add(s.conf().HandshakeTimeout)}
	_ = c.SetDeadline(h.deadline)
	pc := &capPatchConn{Conn: c, status: s.greetStatus, clear: s.greetCleared(), ext: s.greetExt(), h: h}
	h.pc = pc
	gc, err := s.gosrv.NewCustomizedConn(pc, h, h)
	if err != nil {
		ss.closeBackends() // the reader, when the client left at the last step
		if pc.proxyHeader {
			err = errUntrustedProxyHeader
		}
		return nil, err
	}
	// From here on the proxy speaks raw packets on the same socket (without
	// the handshake patcher in the way, unless TLS wraps it).
	pc.in = true
	raw := gc.Conn.Conn
	if oc, ok := raw.(*okSwapConn); ok {
		raw = oc.Conn
	}
	if pc, ok := raw.(*capPatchConn); ok {
		raw = pc.Conn
	}
	if ss.clientCaps&mysql.CLIENT_COMPRESS != 0 {
		raw = wire.Compressed(raw) // from the first command on; the capture sees packets
	}
	ss.client = wire.NewConn(ss.startCapture(raw), wire.ClientSide, "client", 4<<10, 16<<10) // commands are small, results large
	ss.client.DeprecateEOF = ss.clientCaps&mysql.CLIENT_DEPRECATE_EOF != 0
	ss.client.CacheMetadata = ss.clientExt&extCacheMetadata != 0
	return ss, nil
}

// loginFailed counts a failed login (a handshake or a COM_CHANGE_USER)
// against the client's address, and the handshakes that timed out. It runs
// before the client hears of the failure.
func (s *Server) loginFailed(host string, timedOut bool) {
	if timedOut {
		s.Metrics.Limited(metrics.LimitHandshakeTimeout)
	}
	if s.hosts.failed(host, s.conf().MaxConnectErrors, s.conf().HostBlockTime, time.Now()) {
		s.Metrics.HostBlocked()
		s.log.Warn("client address blocked after failed logins", zap.String("host", host),
			zap.Int("max-connect-errors", s.conf().MaxConnectErrors), zap.Duration("for", s.conf().HostBlockTime))
	}
}

// loginHandler supplies credentials and opens the reader at auth success.
type loginHandler struct {
	gmserver.EmptyHandler
	s        *Server
	ss       *session
	db       string
	deadline time.Time     // --handshake-timeout
	pc       *capPatchConn // the login's connection
	// fromAccounts: the user is not a --user, the writer's accounts decide
	// (authProvider); stage1 is the SHA1(password) they gave.
	fromAccounts bool
	stage1       []byte
}

func (h *loginHandler) UseDB(db string) error { h.db = db; return nil }

func (h *loginHandler) GetCredential(user string) (gmserver.Credential, bool, error) {
	p, ok := h.s.conf().Users[user]
	if !ok && h.s.accounts != nil {
		// The client answers a native scramble, whatever --auth-method
		// says: that is what the stored hash can check.
		h.fromAccounts = true
		return gmserver.Credential{Passwords: []string{h.s.decoy}, AuthPluginName: mysql.AUTH_NATIVE_PASSWORD}, true, nil
	}
	if !ok {
		p = h.s.decoy // no user of that name: the same 1045 as a wrong password
	}
	return gmserver.Credential{Passwords: []string{p}, AuthPluginName: h.s.conf().AuthMethod}, true, nil
}

// OnAuthFailure is every failed handshake: a wrong password or user, a
// malformed or abandoned one, a timeout. What fails after the password was
// right (the reader is down, the drain) does not come here. Refusals are
// logged; every failure counts against the client's address.
func (h *loginHandler) OnAuthFailure(c *gmserver.Conn, err error) {
	if isRefusal(err) {
		h.s.logLoginFailed(c.RemoteAddr().String(), c.GetUser(), err)
	}
	// A connection closed before it sent a byte (a TCP health check, a
	// port probe) tried no login: it does not count towards blocking.
	if h.pc.read == 0 && !isRefusal(err) && time.Now().Before(h.deadline) {
		return
	}
	h.s.loginFailed(clientHost(c.RemoteAddr()), !time.Now().Before(h.deadline))
}

func (h *loginHandler) OnAuthSuccess(c *gmserver.Conn) error {
	err := h.accept(c)
	if err != nil {
		h.s.logLoginFailed(c.RemoteAddr().String(), c.GetUser(), err)
	}
	return err
}

// isRefusal says a login failed with a MySQL error sent to the client, not
// a broken connection.
func isRefusal(err error) bool {
	var me *mysql.MyError
	return errors.As(err, &me)
}

// logLoginFailed is one line at warn: who, from where, and the client's error.
func (s *Server) logLoginFailed(remote, user string, err error) {
	s.log.Warn("login failed", zap.String("remote", remote), zap.String("user", user), zap.String("error", err.Error()))
}

// accept finishes a login whose password was right, or says why not.
func (h *loginHandler) accept(c *gmserver.Conn) error {
	ss := h.ss
	h.s.hosts.succeeded(clientHost(c.RemoteAddr()))
	if h.s.draining.Load() {
		h.s.Metrics.Limited(metrics.LimitShutdown)
		e := errShutdown()
		return mysql.NewError(e.code, e.msg)
	}
	if _, isTLS := c.Conn.Conn.(*tls.Conn); h.s.conf().RequireTLS && !isTLS {
		return mysql.NewError(3159, "Connections using insecure transport are prohibited while --require-tls is on.")
	}
	ss.user = c.GetUser()
	ss.password = h.s.conf().Users[ss.user]
	ss.stage1 = h.stage1
	// go-mysql keeps the client's raw flags; the effective set is what both
	// sides offered. patchedCaps are offered by capPatchConn.
	ss.clientCaps = c.Capability() & (h.s.gosrv.Capability() | patchedCaps) &^ h.s.greetCleared()
	ss.sqlOpt.NoSchema = ss.clientCaps&capNoSchema != 0
	ss.clientExt = h.pc.clientExt()
	ss.collation = collationName(c.Charset())
	ss.state.Apply(route.UseDB, route.Fact{DB: h.db})
	ss.connID = c.ConnectionID()
	ss.program = programName(c.Attributes())
	if err := ss.openReader(); err != nil {
		if se, ok := asSQLError(err); ok {
			if h.fromAccounts && se.code == mysql.ER_ACCESS_DENIED_ERROR {
				return h.s.staleAccount(c.GetUser(), clientHost(c.RemoteAddr()))
			}
			return mysql.NewError(se.code, se.msg)
		}
		e := errLostConnection("reader", ": "+err.Error())
		return mysql.NewError(e.code, e.msg)
	}
	// The OK that ends the handshake carries the session's status, as the
	// reader's would.
	if ss.reader != nil {
		ss.noteStatus(ss.reader)
	}
	c.SetStatus(ss.clientStatus(false))
	c.Conn.Conn = &okSwapConn{Conn: c.Conn.Conn, ok: ss.authOK(h.db)}
	return nil
}

// authOK is the OK that ends the handshake, as MariaDB's: the session's
// status and, for a client with CLIENT_SESSION_TRACK that named a
// database, a session-state entry with it (go-mysql's has neither).
func (s *session) authOK(db string) []byte {
	track := s.clientCaps&capSessionTrack != 0
	ok := okPacket{status: s.clientStatus(false)}
	if track && db != "" {
		entry := appendLenEncString(nil, db)
		ok.stateInfo = append(mysql.AppendLengthEncodedInteger([]byte{wire.TrackSchema}, uint64(len(entry))), entry...)
		ok.status |= statusSessionStateChg
	}
	return appendOK(nil, ok, track)
}

// okSwapConn writes ok in place of the next packet written through it,
// with that packet's sequence number: the handshake's OK, which go-mysql
// writes itself. It sits above TLS, so it works on both.
type okSwapConn struct {
	net.Conn
	ok []byte // the payload; nil once written
}

func (c *okSwapConn) Write(b []byte) (int, error) {
	if c.ok == nil || len(b) < 4 {
		return c.Conn.Write(b)
	}
	n := len(c.ok)
	p := append([]byte{byte(n), byte(n >> 8), byte(n >> 16), b[3]}, c.ok...)
	c.ok = nil
	if _, err := c.Conn.Write(p); err != nil {
		return 0, err
	}
	return len(b), nil
}

// programName names the client's code path from its connection
// attributes, where it sent them.
func programName(attrs map[string]string) string {
	if p := attrs["program_name"]; p != "" {
		return p
	}
	return attrs["_client_name"]
}

// patchedCaps are offered in addition to what go-mysql's server can:
// the proxy splits batches itself, mirrors CLIENT_FOUND_ROWS and
// CLIENT_IGNORE_SPACE to the backends (Connector/J asks for the first:
// matched, not changed, rows), and frames results for
// CLIENT_DEPRECATE_EOF itself (wire.Conn.DeprecateEOF; the backends keep
// classic EOFs), and speaks the compressed protocol to the client itself
// (wire.Compressed; the backends are not compressed). CLIENT_INTERACTIVE
// is mirrored to the backends too (capsAdder), so each gives the session
// its own interactive_timeout as wait_timeout. CLIENT_NO_SCHEMA, with
// which the server drops the schema of every db.table and db.table.column
// (information_schema.tables is then the current database's tables), is
// mirrored too, and the session reads table names as the server then does
// (sqlclass.Options.NoSchema). The rest are offered as a MariaDB server offers them and
// change nothing a server does (ODBC, RESERVED), or concern the client
// alone.
const patchedCaps = mysql.CLIENT_MULTI_STATEMENTS | mysql.CLIENT_FOUND_ROWS | mysql.CLIENT_DEPRECATE_EOF | mysql.CLIENT_COMPRESS |
	mysql.CLIENT_INTERACTIVE | mysql.CLIENT_IGNORE_SPACE | mysql.CLIENT_ODBC | mysql.CLIENT_RESERVED | mysql.CLIENT_IGNORE_SIGPIPE |
	mysql.CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS | mysql.CLIENT_REMEMBER_OPTIONS | mysql.CLIENT_NO_SCHEMA

// greetCleared are the flags go-mysql offers that the greeting clears, as
// the reader's does: a MariaDB server does not claim CLIENT_MYSQL (bit 0,
// CLIENT_LONG_PASSWORD), which tells MariaDB's connectors they talk to
// MariaDB, whose extended capabilities follow in the greeting's reserved
// bytes (greetExt).
func (s *Server) greetCleared() uint32 {
	if s.flavor.Name() == "mariadb" {
		return mysql.CLIENT_LONG_PASSWORD
	}
	return 0
}

// greetExt are MariaDB's extended capabilities the greeting offers (a
// MySQL server has none).
func (s *Server) greetExt() uint32 {
	if s.flavor.Name() == "mariadb" {
		return extOffered
	}
	return 0
}

// capPatchConn adds patchedCaps, clears greetCleared, offers ext and sets the
// reader's status in the initial handshake that go-mysql writes, and keeps
// the head of the client's answer for its extended capabilities, which
// go-mysql does not read. It is the login's connection only: it
// also bounds what the client sends before it is logged in, and names the
// client by its host in go-mysql's errors.
type capPatchConn struct {
	net.Conn
	h      *loginHandler
	status uint16
	clear  uint32 // capability flags to clear
	ext    uint32 // extended capabilities offered
	done   bool
	head   []byte // the first bytes the client sent: its handshake response or SSL request
	read   int    // bytes read before login
	in     bool   // logged in: no more bound
	// proxyHeader: the client began with a PROXY protocol header, which
	// this peer may not send.
	proxyHeader bool
}

func (c *capPatchConn) Read(b []byte) (int, error) {
	if c.in {
		return c.Conn.Read(b)
	}
	if c.read >= handshakeMaxBytes {
		return 0, errHandshakeTooBig
	}
	n, err := c.Conn.Read(b[:min(len(b), handshakeMaxBytes-c.read)])
	if c.read == 0 && n >= 4 && proxyproto.Starts(b[:n]) {
		// A balancer's header to a listener that does not expect it from
		// this peer: read as a login it would only time out. (A login
		// packet's first four bytes are its length and sequence 1.)
		c.proxyHeader = true
		return 0, errUntrustedProxyHeader
	}
	if len(c.head) < loginHeadLen {
		c.head = append(c.head, b[:min(n, loginHeadLen-len(c.head))]...)
	}
	c.read += n
	return n, err
}

// loginHeadLen is a packet header and the fixed head of a handshake
// response, which an SSL request also is (so it is read in clear under TLS).
const loginHeadLen = 4 + 32

// clientExt is the extended capabilities both sides offered: MariaDB's
// are in the last 4 bytes of the head, from a client that clears
// CLIENT_MYSQL.
func (c *capPatchConn) clientExt() uint32 {
	if len(c.head) < loginHeadLen || c.head[4]&byte(mysql.CLIENT_LONG_PASSWORD) != 0 {
		return 0
	}
	return binary.LittleEndian.Uint32(c.head[4+28:]) & c.ext
}

func (c *capPatchConn) RemoteAddr() net.Addr { return hostAddr{c.Conn.RemoteAddr()} }

func (c *capPatchConn) Write(b []byte) (int, error) {
	if !c.done {
		c.done = true
		patchHandshake(b, patchedCaps, c.clear, c.ext, c.status)
	}
	return c.Conn.Write(b)
}

// patchHandshake ORs flags into the capability bytes of an initial
// handshake packet (header included), clears the flags in clear, puts ext
// in the last 4 reserved bytes (MariaDB's extended capabilities) and sets
// its status; a packet it does not recognise is left as is.
func patchHandshake(b []byte, flags, clear, ext uint32, status uint16) {
	if len(b) < 5 || b[4] != 10 {
		return
	}
	i := 5
	for i < len(b) && b[i] != 0 {
		i++
	}
	i += 1 + 4 + 8 + 1 // NUL, connection id, scramble part 1, filler
	lower := i
	upper := lower + 2 + 1 + 2 // lower caps, charset, status
	if upper+2 > len(b) {
		return
	}
	if reserved := upper + 2 + 1; reserved+10 <= len(b) { // after the auth data length
		binary.LittleEndian.PutUint32(b[reserved+6:], ext)
	}
	b[lower] = b[lower]&^byte(clear) | byte(flags)
	b[lower+1] = b[lower+1]&^byte(clear>>8) | byte(flags>>8)
	b[lower+3], b[lower+4] = byte(status), byte(status>>8)
	b[upper] = b[upper]&^byte(clear>>16) | byte(flags>>16)
	b[upper+1] = b[upper+1]&^byte(clear>>24) | byte(flags>>24)
}
