package proxy

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/consistency"
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
	db             string // current database, as the client set it
	collation      string
	clientCaps     uint32
	client         *packetIO
	seq            uint8 // next sequence number towards the client

	reader *backend
	writer *backend
	// writerSlot says this session counts against the writer connection cap.
	writerSlot bool
	writerDB   string   // database the writer connection is in
	writerVars []string // SET assignments made by the client, replayed on a new writer
	writerSent int      // how many of writerVars the current writer has applied
	writerGen  uint64   // counts writer connections, so prepared ids can tell stale ones

	// The previous statement ran on the writer: ROW_COUNT(), SHOW WARNINGS
	// and @@warning_count answer from there. LAST_INSERT_ID() follows the
	// last statement that produced an insert id.
	lastForwarded    bool
	insertIDOnWriter bool

	level      consistency.Level
	autocommit bool
	txBegun    bool // an explicit BEGIN/START TRANSACTION is open
	txReadOnly bool // the open (or next implicit) transaction is READ ONLY
	txWriter   bool // the writer holds this session's open transaction
	sessAccess sqlclass.AccessMode
	nextAccess sqlclass.AccessMode
	isolation  string // the session's isolation as the client set it ("" = server default)
	nextIso    string

	tempTables sqlclass.TempTables  // "db.table" of this session's temporary tables
	tempUnsure []sqlclass.TableName // tables a failed temporary-table statement left in doubt (guard.go)
	textStmts  map[string]textPrepared
	stmts      map[uint32]*prepared
	nextStmtID uint32

	ownGTIDs consistency.Set // committed through forwarding, for SESSION reads

	sqlOpt sqlclass.Options

	// terminated is set when the writer connection was lost or closed while
	// it held a transaction: the next statement gets the terminated error.
	terminated        bool
	super, superKnown bool              // privileged(): SUPER or CONNECTION ADMIN
	auditor           AuditModel        // audit mode: what forwarding would do
	auditStmts        map[uint32]string // audit mode: prepared texts by id
	lastWarn          []warning         // proxy-made warnings for the next SHOW WARNINGS
	txOpen            atomic.Bool       // inTransaction(), published for Shutdown
	life              writerLife        // idle timeout and forwarding switch end the writer
	// Backend thread ids, for KILL QUERY from another session.
	readerThread, writerThread atomic.Uint32
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
		srv:        s,
		id:         s.nextID.Add(1),
		autocommit: true,
		tempTables: sqlclass.TempTables{},
		textStmts:  map[string]textPrepared{},
		stmts:      map[uint32]*prepared{},
		scratch:    make([]byte, 0, 256),
	}
}

// openReader connects the session's reader and pins it read-only, so that
// no write can ever change the replica through this connection, whatever
// the user's privileges (defence in depth behind the classifier).
func (s *session) openReader() error {
	r, err := dialBackend(context.Background(), "reader", dialParams{
		addr: s.srv.conf().Reader, user: s.user, password: s.password, db: s.db,
		caps: s.clientCaps, sessionTrack: s.clientCaps&capSessionTrack != 0,
		collation: s.collation, tls: s.srv.conf().BackendTLS,
	})
	if err != nil {
		return err
	}
	if s.srv.conf().Audit {
		// Audit mode passes everything through to the writer unchanged.
		s.reader = r
		s.auditor = s.newAuditor()
		s.auditStmts = map[uint32]string{}
		return nil
	}
	if _, err := r.exec("SET SESSION " + s.srv.dialect.readOnlyVar + " = 1"); err != nil {
		r.close()
		return err
	}
	s.reader = r
	s.readerThread.Store(r.connID)
	s.life.attachReader(r.io.conn)
	return nil
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
	if s.reader != nil {
		s.reader.close()
		s.reader = nil
	}
}

// run reads client commands until the client leaves or its connection fails.
// A panic ends this session only, never the proxy.
func (s *session) run() {
	defer func() {
		if r := recover(); r != nil {
			s.srv.log.Error("session failed", zap.Uint32("id", s.id), zap.Any("panic", r), zap.Stack("stack"))
		}
	}()
	for {
		s.client.shrink()
		data, seq, err := s.client.readPacket(s.srv.conf().MaxPacket)
		if errors.Is(err, errPacketTooLarge) {
			s.seq = seq + 1
			s.writeErr(newError(1153, "Got a packet bigger than 'max_allowed_packet' bytes"), false)
			if s.client.flush() != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		s.seq = seq + 1
		if len(data) == 0 {
			s.writeErr(newError(1047, "Unknown command"), false)
		} else if data[0] == comQuit {
			return
		} else if err := s.dispatch(data); err != nil {
			s.srv.log.Debug("session ends", zap.Uint32("id", s.id), zap.Error(err))
			return
		}
		s.txOpen.Store(s.inTransaction())
		s.life.holds.Store(s.txWriter)
		if s.writer != nil {
			s.life.idle(time.Duration(s.srv.conf().WriterIdleTimeout) * time.Second)
		}
		if err := s.client.flush(); err != nil {
			return
		}
	}
}

// dispatch handles one command. An error return ends the session; errors the
// client should see are written as ERR packets and return nil.
func (s *session) dispatch(data []byte) error {
	if s.auditor != nil {
		return s.auditDispatch(data)
	}
	s.life.busy()
	if r := s.life.reason.Load(); r != 0 && s.writer != nil {
		s.writerKilled(r)
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
	case comStmtExecute:
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
	case comResetConnection:
		return s.comResetConnection()
	case comChangeUser:
		return s.comChangeUser(data)
	default:
		s.writeErr(newError(1047, "Unknown command"), false)
		return nil
	}
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
		s.db = db
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
	s.writePacket(appendEOF(s.scratch[:0], 0, s.clientStatus(false)))
	return nil
}
