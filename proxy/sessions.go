package proxy

import (
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// sessionInfo is what GET /sessions shows of a session that only its own
// goroutine may read: it publishes a copy at the start and the end of each
// command, under a lock no one else holds for long.
type sessionInfo struct {
	mu         sync.Mutex
	user       string // COM_CHANGE_USER changes it
	db         string
	level      string
	reader     string // the server of the reader connection ("": none)
	writer     string // the server of the writer connection ("": none); setWriter
	inTx       bool
	running    bool
	since      time.Time // the command's start while running, else the last one's end
	statements int64
}

// publish copies the session's state for /sessions; running says a command
// starts (true) or ended.
func (s *session) publish(running bool, now time.Time) {
	reader := ""
	if s.reader != nil {
		reader = s.srv.conf().Reader
		if rs := s.srv.readers; rs != nil {
			reader = rs.nodes[s.ep.node].addr
		}
	}
	in := &s.info
	in.mu.Lock()
	in.user, in.db, in.level, in.reader = s.user, s.state.DB, s.level.String(), reader
	in.inTx, in.running, in.since, in.statements = s.inTransaction(), running, now, s.statementCount
	in.mu.Unlock()
}

// setWriter publishes the server of a writer connection the session
// opened ("" when it dropped it), at once: the first forwarded statement
// runs on it before the command ends.
func (in *sessionInfo) setWriter(addr string) {
	in.mu.Lock()
	in.writer = addr
	in.mu.Unlock()
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
		in.mu.Unlock()
		if st.Reader != "" {
			st.ReaderThread = ss.readerThread.Load()
		}
		if st.Writer != "" {
			st.WriterThread = ss.writerThread.Load()
		}
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
