package proxy

import (
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// sessionInfo is what another goroutine (GET /sessions, a kill) may read
// of a session: the session publishes its state at the start and the end
// of each command, and its backends as it attaches them, under a lock no
// one holds for long.
type sessionInfo struct {
	mu             sync.Mutex
	user, password string // COM_CHANGE_USER changes them
	stage1         []byte
	db             string
	level          string
	reader         string // the server of the reader connection ("": none); setReader
	writer         string // the server of the writer connection ("": none); setWriter
	inTx           bool
	running        bool
	since          time.Time // the command's start while running, else the last one's end
	statements     int64
}

// publish copies the session's state; running says a command starts
// (true) or ended.
func (s *session) publish(running bool, now time.Time) {
	in := &s.info
	in.mu.Lock()
	in.user, in.password, in.stage1, in.db, in.level = s.user, s.password, s.stage1, s.state.DB, s.level.String()
	in.inTx, in.running, in.since, in.statements = s.inTransaction(), running, now, s.statementCount
	in.mu.Unlock()
}

// setReader publishes the reader connection the session attached ("", 0
// when it dropped it), together with its thread, which a kill needs on the
// same server.
func (s *session) setReader(addr string, thread uint32) {
	s.info.mu.Lock()
	s.info.reader = addr
	s.readerThread.Store(thread)
	s.info.mu.Unlock()
}

// setWriter is setReader for the writer connection: at once, as the first
// forwarded statement runs on it before the command ends.
func (s *session) setWriter(addr string, thread uint32) {
	s.info.mu.Lock()
	s.info.writer = addr
	s.writerThread.Store(thread)
	s.info.mu.Unlock()
}

// backendThreads are the servers and threads of the session's reader and
// writer connections ("" and 0 for none), and its credentials (user,
// password and stage1 set), for KILL.
func (s *session) backendThreads() (threads [2]backendThread, login dialParams) {
	in := &s.info
	in.mu.Lock()
	defer in.mu.Unlock()
	login = dialParams{user: in.user, password: in.password, stage1: in.stage1}
	return [2]backendThread{{in.reader, s.readerThread.Load()}, {in.writer, s.writerThread.Load()}}, login
}

type backendThread struct {
	addr string
	id   uint32
}

// SessionStatus is one client session in GET /sessions.
type SessionStatus struct {
	ID           uint32 `json:"id"`            // the proxy's session id, as in the logs and the statement log
	ConnectionID uint32 `json:"connection_id"` // the id of the handshake, which KILL also takes
	User         string `json:"user"`
	Client       string `json:"client"` // HOST:PORT; behind a balancer, the PROXY protocol header's
	DB           string `json:"db"`
	Consistency  string `json:"consistency"`
	Reader       string `json:"reader"` // the server its reader connection is on
	ReaderThread uint32 `json:"reader_thread,omitempty"`
	Writer       string `json:"writer,omitempty"` // the server its writer connection is on, while it has one
	WriterThread uint32 `json:"writer_thread,omitempty"`
	InTx         bool   `json:"in_transaction"`
	// State is "running" while a command is served, else "idle"; Ms is how
	// long it has been in that state.
	State      string `json:"state"`
	Ms         int64  `json:"state_ms"`
	Statements int64  `json:"statements"`
}

// Sessions lists the logged-in client sessions, by id.
func (s *Server) Sessions() []SessionStatus {
	s.mu.Lock()
	list := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		list = append(list, ss)
	}
	s.mu.Unlock()
	now := time.Now()
	out := make([]SessionStatus, 0, len(list))
	for _, ss := range list {
		in := &ss.info
		in.mu.Lock()
		st := SessionStatus{ID: ss.id, ConnectionID: ss.connID, User: in.user, Client: ss.client.NetConn().RemoteAddr().String(),
			DB: in.db, Consistency: in.level, Reader: in.reader, Writer: in.writer, InTx: in.inTx,
			State: "idle", Ms: now.Sub(in.since).Milliseconds(), Statements: in.statements}
		if in.running {
			st.State = "running"
		}
		if st.Reader != "" {
			st.ReaderThread = ss.readerThread.Load()
		}
		if st.Writer != "" {
			st.WriterThread = ss.writerThread.Load()
		}
		in.mu.Unlock()
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b SessionStatus) int { return int(a.ID) - int(b.ID) })
	return out
}

// KillSession ends session id as KILL CONNECTION does: a statement it runs
// is stopped with KILL QUERY on its backend first, so that it cannot commit
// after the answer; then its connections are closed, which makes the
// writer roll back its open transaction. It says whether the session was
// there.
func (s *Server) KillSession(id uint32) bool {
	var target *session
	s.mu.Lock()
	for ss := range s.sessions {
		if ss.id == id {
			target = ss
		}
	}
	s.mu.Unlock()
	if target == nil {
		return false
	}
	if target.running.Load() {
		s.killQuery(target)
	}
	target.client.NetConn().Close()
	target.life.closeAll()
	s.log.Info("session killed by the admin API", zap.Uint32("id", id))
	return true
}
