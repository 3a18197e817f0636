package proxy

import (
	"context"
	"errors"
	"github.com/fwdproxy/fwdproxy/digest"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/capture"
	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/faults"
	"github.com/fwdproxy/fwdproxy/metrics"
	"github.com/fwdproxy/fwdproxy/proxy/wire"
	"github.com/fwdproxy/fwdproxy/route"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// session is one client connection: its reader connection, its writer
// connection once it forwards, and the state Aurora's contract depends on.
// run() is the state machine; each command handler below reads top to bottom.
type session struct {
	srv    *Server
	id     uint32
	connID uint32

	user, password string
	stage1         []byte // SHA1(password) of an account from the writer (--accounts), instead of password
	host           string // the client's address, without the port
	collation      string
	clientCaps     uint32
	clientExt      uint32 // MariaDB extended capabilities agreed (extOffered subset)
	client         *wire.Conn

	out digest.Outcome // the current statement's, for the digest statistics
	// readerBroken: the one reader's connection broke where the statement
	// could answer with an error: the session ends after it, as on any
	// other loss of its only reader.
	readerBroken bool

	reader *backend
	ep     endpoint // which of several readers s.reader is on
	writer *backend
	// writerSlot says this session counts against the writer connection cap.
	writerSlot bool
	writerDB   string   // database the writer connection is in
	writerVars []string // SET assignments made by the client, replayed on a new writer
	writerSent int      // how many of writerVars the current writer has applied
	writerGen  uint64   // counts writer connections, so prepared ids can tell stale ones
	writerTo   string   // the server the writer connection is on
	resending  bool     // a statement the old writer refused, or whose connection failed before it went, goes again
	// writerChange is the writer change the writer connection was opened
	// after, lossGen the last one whose lost GTIDs the session's own wait
	// targets no longer hold (losttail.go).
	writerChange, lossGen uint64

	// state is the session's transaction and routing state: the current
	// database, temporary tables, the transaction and who holds it, where
	// the last statement ran. Only state.Apply changes it, and resetState
	// resets it; route.Session says how to check.
	state route.Session

	level      consistency.Level
	tempUnsure []sqlclass.TableName // tables a failed temporary-table statement left in doubt (guard.go)
	textStmts  map[string]textPrepared
	stmts      map[uint32]*prepared
	executing  *prepared // the statement whose execute is being relayed (its metadata cache)
	nextStmtID uint32
	lastStmtID uint32 // the statement prepared last, which id -1 names; 0: none (lookupStmt)

	ownGTIDs   consistency.Set   // committed through forwarding, for SESSION reads
	scope      consistency.Scope // whose GTIDs SESSION reads wait for (userscope.go)
	trackToken bool              // the client tracks fwdproxy_causal_token (causal.go)
	inject     faults.Session    // SET fwdproxy_inject_fault (faults.go)

	sqlOpt sqlclass.Options

	super, superKnown bool              // privileged(): SUPER or CONNECTION ADMIN
	auditor           AuditModel        // audit mode: what forwarding would do
	auditStmts        map[uint32]string // audit mode: prepared texts by id
	auditLast         uint32            // audit mode: the id prepared last, which id -1 names
	exposure          *sessionExposure  // audit mode: stale-read exposure
	program           string            // the client's program_name attribute, for reports
	capture           *capture.Session  // --capture-file: what this session sends and gets
	lastWarn          []warning         // proxy-made warnings for the next SHOW WARNINGS
	txOpen            atomic.Bool       // inTransaction(), published for Shutdown
	running           atomic.Bool       // a command is being served, for Shutdown
	changeUserFails   int               // failed COM_CHANGE_USER on this connection
	life              writerLife        // idle timeout and forwarding switch end the writer
	// Backend thread ids, for KILL QUERY from another session.
	readerThread, writerThread atomic.Uint32
	info                       sessionInfo // what GET /sessions shows
	statementCount             int64       // statements run, for /sessions
	// scratch builds the proxy's own small packets (OK, EOF, ERR); the
	// client's buffered writer copies them, so one buffer serves them all.
	scratch []byte
}

type warning struct {
	level string
	code  uint16
	msg   string
}

// newSession starts at consistency Off; login success sets the default
// (setLevel), so that only logged-in sessions count for push tracking.
func newSession(s *Server) *session {
	return &session{
		srv:       s,
		id:        s.nextID.Add(1),
		textStmts: map[string]textPrepared{},
		stmts:     map[uint32]*prepared{},
		scratch:   make([]byte, 0, 256),
	}
}

// openReader connects the session's reader and pins it read-only, so that
// no write can ever change the replica through this connection, whatever
// the user's privileges (defence in depth behind the classifier).
func (s *session) openReader() error {
	if s.srv.readers != nil {
		return s.openEndpointReader()
	}
	r, err := s.dialReader(s.srv.conf().Reader)
	if err != nil {
		return err
	}
	if s.srv.conf().Audit {
		// Audit mode passes everything through to the writer unchanged.
		s.reader = r
		s.setReader(s.srv.conf().Reader, r.connID)
		s.startAudit()
		s.auditStmts = map[uint32]string{}
		if err := s.auditTracking(); err != nil {
			r.close()
			return err
		}
		return nil
	}
	s.attachReader(r, 0)
	return nil
}

// dialReader connects to the reader at addr as the session's user, in its
// database, with the read-only guard up (but in audit mode).
func (s *session) dialReader(addr string) (*backend, error) {
	r, err := dialBackend(context.Background(), "reader", dialParams{
		addr: addr, user: s.user, password: s.password, stage1: s.stage1, db: s.state.DB,
		caps: s.clientCaps, ext: s.clientExt & extBackend, sessionTrack: s.clientCaps&capSessionTrack != 0 || s.srv.conf().Audit,
		collation: s.collation, tls: s.srv.conf().BackendTLS,
	})
	if err != nil {
		return nil, err
	}
	if s.srv.conf().Audit {
		return r, nil
	}
	if _, err := r.exec("SET SESSION " + s.srv.dialect.readOnlyVar + " = 1"); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// setLevel changes the session's consistency level. Push tracking runs
// while some session reads at SESSION or GLOBAL.
func (s *session) setLevel(l consistency.Level) {
	switch {
	case l.Waits() && !s.level.Waits():
		s.srv.track.join()
	case !l.Waits() && s.level.Waits():
		s.srv.track.leave()
	}
	s.level = l
}

func (s *session) closeBackends() {
	s.dropWriter()
	s.detachReader()
}

// run reads client commands until the client leaves or its connection fails.
// A panic ends this session only, never the proxy.
func (s *session) run() {
	defer func() {
		if r := recover(); r != nil {
			s.srv.log.Error("session failed", zap.Uint32("id", s.id), zap.Any("panic", r), zap.Stack("stack"))
		}
	}()
	defer s.capture.Close()
	for {
		s.client.Shrink()
		data, err := s.client.ReadCommand(s.srv.conf().MaxPacket)
		if errors.Is(err, wire.ErrOutOfOrder) {
			// As MariaDB: the error at sequence 0, then the connection closes.
			_ = s.client.WriteCommand(appendErr(s.scratch[:0], &sqlError{1156, "08S01", "Got packets out of order"}))
			_ = s.client.Flush()
			return
		}
		if errors.Is(err, wire.ErrPacketTooLarge) {
			s.srv.Metrics.Limited(metrics.LimitPacket)
			s.writeErr(newError(1153, "Got a packet bigger than 'max_allowed_packet' bytes"), false)
			if s.client.Flush() != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		if len(data) > 0 && data[0] == comQuit {
			return
		}
		s.capture.Command(data) // Done after the response is flushed
		// Set before the drain is checked, so that Shutdown, which sets
		// draining before it looks for running commands, sees this one or
		// this one sees the drain.
		s.running.Store(true)
		s.publish(true, time.Now())
		if s.srv.draining.Load() && !s.inTransaction() {
			// The drain lets open transactions finish; a session without one
			// would start new work, so it gets 1053 and ends, as at a
			// MariaDB shutdown.
			s.srv.Metrics.Limited(metrics.LimitShutdown)
			s.writeErr(errShutdown(), false)
			_ = s.client.Flush()
			return
		}
		if len(data) == 0 {
			s.writeErr(newError(1047, "Unknown command"), false)
		} else if err := s.dispatch(data); err != nil {
			s.srv.log.Debug("session ends", zap.Uint32("id", s.id), zap.Error(err))
			return
		}
		if s.readerBroken {
			_ = s.client.Flush()
			return
		}
		s.txOpen.Store(s.inTransaction())
		s.running.Store(false) // after txOpen: Shutdown never sees neither
		s.publish(false, time.Now())
		s.life.holds.Store(s.state.TxWriter)
		if s.writer != nil {
			s.life.idle(time.Duration(s.srv.conf().WriterIdleTimeout) * time.Second)
		}
		if err := s.client.Flush(); err != nil {
			return
		}
		s.capture.Done()
	}
}

// dispatch handles one command. An error return ends the session; errors the
// client should see are written as ERR packets and return nil.
func (s *session) dispatch(data []byte) error {
	if s.auditor != nil {
		return s.auditDispatch(data)
	}
	s.life.busy()
	s.injectWriterEnd()
	if r := s.life.reason.Load(); r != 0 && s.writer != nil {
		s.writerKilled(r)
	}
	if s.srv.readers != nil && s.reader == nil && !readerless(data[0]) && !s.reattachReader() {
		return s.writeErr(errNoReader(), false)
	}
	switch data[0] {
	case comQuery:
		return s.comQuery(data)
	case comPing:
		return s.writeOK(okPacket{}, false)
	case comInitDB:
		return s.comInitDB(string(data[1:]))
	case comFieldList, comStatistics:
		return s.relayCommand(s.reader, data)
	case comStmtPrepare:
		return s.comStmtPrepare(data)
	case comStmtExecute, comStmtBulkExecute:
		return s.comStmtExecute(data)
	case comStmtSendLong:
		return s.comStmtSendLong(data)
	case comStmtClose:
		return s.comStmtClose(data)
	case comStmtReset:
		return s.comStmtReset(data)
	case comStmtFetch:
		return s.comStmtFetch(data)
	case comSetOption:
		return s.comSetOption(data)
	case comRefresh:
		// FLUSH by another name (mariadb-admin refresh, flush-*): decided,
		// and refused, as FLUSH is.
		_, err := s.statement("FLUSH", nil, false)
		return err
	case comResetConnection:
		return s.comResetConnection()
	case comChangeUser:
		return s.comChangeUser(data)
	default:
		s.writeErr(newError(1047, "Unknown command"), false)
		return nil
	}
}

// readerless: the command can run while the session has no reader
// connection (a statement's own decision says whether it needs one).
func readerless(cmd byte) bool {
	return cmd == comQuery || cmd == comPing || cmd == comStmtPrepare || cmd == comStmtExecute || cmd == comStmtBulkExecute || cmd == comStmtClose || cmd == comSetOption
}

// relayCommand sends a command to one backend and relays its response.
func (s *session) relayCommand(b *backend, data []byte) error {
	if err := b.ask(data); err != nil {
		return s.backendFailed(b, err)
	}
	_, err := s.relay(b, data[0], false)
	return s.checkRelay(b, err)
}

func (s *session) comInitDB(db string) error {
	if err := s.reader.send(append([]byte{comInitDB}, db...)); err != nil {
		return s.backendFailed(s.reader, err)
	}
	res, err := s.relay(s.reader, comInitDB, false)
	if err != nil {
		return s.checkRelay(s.reader, err)
	}
	if res.err == nil {
		s.state.Apply(route.UseDB, route.Fact{DB: db})
	}
	return nil
}

func (s *session) comSetOption(data []byte) error {
	if len(data) < 3 {
		s.writeErr(newError(1047, "Unknown command"), false)
		return nil
	}
	switch data[1] {
	case 0:
		s.clientCaps |= capMultiStatements
	case 1:
		s.clientCaps &^= capMultiStatements
	default:
		s.writeErr(newError(1047, "Unknown command"), false)
		return nil
	}
	return s.client.WriteEOF(0, s.clientStatus(false))
}
