package proxy

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	gmserver "github.com/go-mysql-org/go-mysql/server"
	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/metrics"
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
	flavor     consistency.Flavor
	dialect    dialect
	version    string // the reader's version string, shown to clients
	gosrv      *gmserver.Server

	applied   *consistency.Applied        // what the reader is known to have applied
	track     pushTracking                // push tracking of applied, while sessions need it
	audit     *auditStore                 // audit mode findings; nil otherwise
	writerPos *consistency.WriterPosition // coalesced GLOBAL look-ups
	posMu     sync.Mutex                  // guards posConn
	posConn   *backend                    // the proxy's own writer connection for look-ups
	control   writerControl               // delivers the forward timeout's KILLs

	writerLimit    atomic.Int64 // sessions that may hold a writer connection
	writerSessions atomic.Int64

	mu       sync.Mutex
	sessions map[*session]struct{}
	ln       net.Listener
	wg       sync.WaitGroup
	closed   atomic.Bool
	nextID   atomic.Uint32
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
	if cfg.Audit && cfg.AuditModel == nil {
		return nil, fmt.Errorf("audit mode needs Config.AuditModel")
	}
	if cfg.Audit {
		cfg.Reader = cfg.Writer // one backend: today's writer
		cfg.PushTracking = false
	}
	s := &Server{log: log, Metrics: m, sessions: map[*session]struct{}{}}
	s.live.Store(&cfg)
	var err error
	if cfg.Audit {
		s.audit = newAuditStore(m.Registry())
	}
	s.forwarding.Store(cfg.Forwarding)
	s.version = "8.0.36-fwdproxy"
	s.flavor = consistency.MariaDB
	if err = s.probe(); err != nil {
		// The proxy still starts: sessions get a clear error until the
		// backends answer.
		log.Warn("backend probe failed", zap.Error(err))
	}
	s.dialect = dialectFor(s.flavor)
	s.applied = consistency.NewApplied(s.flavor)
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
	s.gosrv = gmserver.NewServer(s.version, mysql.DEFAULT_COLLATION_ID, cfg.AuthMethod, rsaKey, cfg.ClientTLS)
	_ = s.gosrv.SetCapability(mysql.CLIENT_LOCAL_FILES)
	return s, nil
}

// probe learns the reader's version and flavour and the writer connection cap.
func (s *Server) probe() error {
	user, pass := s.proxyUser()
	ctx := context.Background()
	r, err := dialBackend(ctx, "reader", dialParams{addr: s.conf().Reader, user: user, password: pass, tls: s.conf().BackendTLS})
	if err != nil {
		return err
	}
	s.version = r.version
	s.flavor = consistency.DetectFlavor(r.version)
	r.close()
	return s.refreshWriterLimit(user, pass)
}

func (s *Server) refreshWriterLimit(user, pass string) error {
	w, err := dialBackend(context.Background(), "writer", dialParams{addr: s.conf().Writer, user: user, password: pass, tls: s.conf().BackendTLS})
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
	if s.posConn == nil {
		user, pass := s.proxyUser()
		c, err := dialBackend(ctx, "writer", dialParams{addr: s.conf().Writer, user: user, password: pass, tls: s.conf().BackendTLS})
		if err != nil {
			return nil, err
		}
		s.posConn = c
	}
	res, err := s.posConn.exec(s.flavor.WriterPositionSQL())
	if err != nil {
		s.posConn.close()
		s.posConn = nil
		return nil, err
	}
	v, _ := res.value()
	return s.flavor.ParseSet(v.s)
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
	cur := *s.conf()
	for _, st := range Settings {
		if st.Reload {
			st.copy(&cur, &next)
		}
	}
	s.live.Store(&cur)
	if cur.Forwarding != s.Forwarding() {
		s.SetForwarding(cur.Forwarding)
	}
	user, pass := s.proxyUser()
	if err := s.refreshWriterLimit(user, pass); err != nil {
		s.log.Warn("writer limit refresh failed", zap.Error(err))
	}
	return nil
}

// Forwarding reports the proxy-level switch.
func (s *Server) Forwarding() bool { return s.forwarding.Load() }

// SetForwarding turns proxy-level forwarding on or off. Turning it off
// cancels the forwarded transactions that are open, as Aurora does: their
// writer connections are closed, which rolls them back, and each such
// session's next statement gets the terminated error.
func (s *Server) SetForwarding(on bool) {
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

// Serve accepts connections until Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	go s.refreshLoop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closed.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c)
		}()
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

// killQuery stops the statement a session runs, on whichever backend, with
// KILL QUERY on fresh connections of the proxy's own.
func (s *Server) killQuery(ss *session) {
	for _, k := range []struct {
		addr string
		id   uint32
	}{{s.conf().Reader, ss.readerThread.Load()}, {s.conf().Writer, ss.writerThread.Load()}} {
		if k.id == 0 {
			continue
		}
		c, err := dialBackend(context.Background(), "admin", dialParams{addr: k.addr, user: ss.user, password: ss.password, tls: s.conf().BackendTLS})
		if err != nil {
			continue
		}
		_, _ = c.exec(fmt.Sprintf("KILL QUERY %d", k.id))
		c.close()
	}
}

// Close stops accepting and closes every session.
func (s *Server) Close() {
	s.closed.Store(true)
	s.track.close()
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	for ss := range s.sessions {
		ss.client.conn.Close()
		ss.life.closeAll()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.control.close()
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
	ss, err := s.login(c)
	if err != nil {
		s.log.Debug("login failed", zap.String("remote", c.RemoteAddr().String()), zap.Error(err))
		c.Close()
		return
	}
	s.mu.Lock()
	s.sessions[ss] = struct{}{}
	s.mu.Unlock()
	s.Metrics.ClientConnected()
	defer s.Metrics.ClientDisconnected()
	s.log.Info("session start", zap.Uint32("id", ss.id), zap.String("user", ss.user), zap.String("remote", c.RemoteAddr().String()))
	lvl, _ := parseConsistency(s.conf().DefaultConsistency)
	ss.setLevel(lvl)
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
	h := &loginHandler{s: s, ss: ss}
	gc, err := s.gosrv.NewCustomizedConn(&capPatchConn{Conn: c}, h, h)
	if err != nil {
		return nil, err
	}
	// From here on the proxy speaks raw packets on the same socket (without
	// the handshake patcher in the way, unless TLS wraps it).
	raw := gc.Conn.Conn
	if pc, ok := raw.(*capPatchConn); ok {
		raw = pc.Conn
	}
	ss.client = newPacketIO(raw, 4<<10, 16<<10) // commands are small, results large
	return ss, nil
}

// loginHandler supplies credentials and opens the reader at auth success.
type loginHandler struct {
	gmserver.EmptyHandler
	s  *Server
	ss *session
	db string
}

func (h *loginHandler) UseDB(db string) error { h.db = db; return nil }

func (h *loginHandler) GetCredential(user string) (gmserver.Credential, bool, error) {
	p, ok := h.s.conf().Users[user]
	if !ok {
		return gmserver.Credential{}, false, nil
	}
	return gmserver.Credential{Passwords: []string{p}, AuthPluginName: h.s.conf().AuthMethod}, true, nil
}

func (h *loginHandler) OnAuthFailure(*gmserver.Conn, error) {}

func (h *loginHandler) OnAuthSuccess(c *gmserver.Conn) error {
	ss := h.ss
	if _, isTLS := c.Conn.Conn.(*tls.Conn); h.s.conf().RequireTLS && !isTLS {
		return mysql.NewError(3159, "Connections using insecure transport are prohibited while --require-tls is on.")
	}
	ss.user = c.GetUser()
	ss.password = h.s.conf().Users[ss.user]
	// go-mysql keeps the client's raw flags; the effective set is what both
	// sides offered. MULTI_STATEMENTS is offered by capPatchConn.
	ss.clientCaps = c.Capability() & (h.s.gosrv.Capability() | mysql.CLIENT_MULTI_STATEMENTS)
	ss.collation = collationName(c.Charset())
	ss.state.Apply(route.UseDB, route.Fact{DB: h.db})
	ss.connID = c.ConnectionID()
	if err := ss.openReader(); err != nil {
		if se, ok := asSQLError(err); ok {
			return mysql.NewError(se.code, se.msg)
		}
		return mysql.NewError(2013, "Lost connection to reader: "+err.Error())
	}
	return nil
}

// capPatchConn adds CLIENT_MULTI_STATEMENTS to the initial handshake that
// go-mysql writes: its server cannot offer it, but the proxy splits batches.
type capPatchConn struct {
	net.Conn
	done bool
}

func (c *capPatchConn) Write(b []byte) (int, error) {
	if !c.done {
		c.done = true
		patchHandshakeCaps(b, mysql.CLIENT_MULTI_STATEMENTS)
	}
	return c.Conn.Write(b)
}

// patchHandshakeCaps ORs flags into the upper capability bytes of an initial
// handshake packet (header included); a packet it does not recognise is left as is.
func patchHandshakeCaps(b []byte, flags uint32) {
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
	b[lower] |= byte(flags)
	b[lower+1] |= byte(flags >> 8)
	b[upper] |= byte(flags >> 16)
	b[upper+1] |= byte(flags >> 24)
}
