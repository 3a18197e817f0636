// Package fakebackend is a scripted MySQL server for unit tests: it listens
// on loopback, does the handshake with go-mysql's server package, answers
// each statement from a script and records every command it received, so
// that a test can drive fwdproxy's Server against a fake writer and a fake
// reader and check what each one was sent.
//
// A script maps a statement's text (On) or its beginning (OnPrefix) to an
// answer: OK (with affected rows, insert id and a session-state GTID), Err,
// Rows, several of them (a multi-result response), LocalInfile or Hangup,
// each after any Progress reports.
// Like a real server, and without a script, it answers OK to SET, USE and
// the transaction statements and keeps each connection's IN_TRANS and
// AUTOCOMMIT status flags. Anything else unscripted gets an error and is
// listed by Unscripted.
//
// Prepared statements work on the same script: COM_STMT_PREPARE always
// succeeds (its parameters are the text's question marks), and
// COM_STMT_EXECUTE answers what the statement's text would, in the binary
// protocol.
package fakebackend

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	gmserver "github.com/go-mysql-org/go-mysql/server"
)

// MariaDB is the version string of the servers fwdproxy's pair runs.
const MariaDB = "10.11.19-MariaDB-log"

// Config says how the fake presents itself.
type Config struct {
	Version        string // the handshake's version string (default MariaDB)
	User, Password string // the one account that may log in (default app / secret)
	// Unrecorded keeps no log and no list of unscripted statements, for a
	// fuzz target's long runs, where both would grow without bound:
	// Received, Since and Unscripted stay empty.
	Unrecorded bool
}

// Command is one command the server received.
type Command struct {
	Conn int      // the connection, numbered from 1 in the order they were accepted
	Cmd  string   // Query, Prepare, Execute, Close, Reset, LongData, InitDB, Ping, ResetConnection, InfileData or Unknown
	SQL  string   // the statement; for Execute, Close, Reset and LongData the prepared text; for InitDB the database; for InfileData the file
	Args []string // Execute: the parameters as text, NULL for NULL
}

// String is the statement for a Query, else the command and its statement:
// "Execute SELECT ? [7]".
func (c Command) String() string {
	s := c.SQL
	switch {
	case c.Cmd == "Query":
	case s == "":
		s = c.Cmd
	default:
		s = c.Cmd + " " + s
	}
	if len(c.Args) > 0 {
		s += " [" + strings.Join(c.Args, ", ") + "]"
	}
	return s
}

// Server is one fake server.
type Server struct {
	cfg Config
	ln  net.Listener
	srv *gmserver.Server
	wg  sync.WaitGroup

	mu         sync.Mutex
	exact      map[string][]answer
	prefixes   []*rule
	log        []Command
	unscripted []string
	conns      map[net.Conn]struct{} // open, logged in or not
	accepted   int
}

// Start listens on a loopback port and serves until the test ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Version == "" {
		cfg.Version = MariaDB
	}
	if cfg.User == "" {
		cfg.User, cfg.Password = "app", "secret"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{
		cfg:   cfg,
		ln:    ln,
		srv:   gmserver.NewServer(cfg.Version, mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, nil),
		exact: map[string][]answer{},
		conns: map[net.Conn]struct{}{},
	}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Addr is the HOST:PORT to connect to.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// On queues an answer to the statement sql: the results, in order.
func (s *Server) On(sql string, results ...Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exact[sql] = append(s.exact[sql], results)
}

// OnPrefix queues an answer to every statement that starts with prefix and
// has no answer of its own (On). Prefixes are tried in the order given.
func (s *Server) OnPrefix(prefix string, results ...Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.prefixes {
		if r.prefix == prefix {
			r.answers = append(r.answers, results)
			return
		}
	}
	s.prefixes = append(s.prefixes, &rule{prefix: prefix, answers: []answer{results}})
}

// Received is every command received so far, in order.
func (s *Server) Received() []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Command(nil), s.log...)
}

// Mark is a position in the log, for Since.
func (s *Server) Mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.log)
}

// Since is the commands received after mark, as their String.
func (s *Server) Since(mark int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.log[mark:] {
		out = append(out, c.String())
	}
	return out
}

// Unscripted is the statements that found no answer (they got an error).
func (s *Server) Unscripted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.unscripted...)
}

// Accepted is how many connections have logged in.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// CloseConns closes every open connection, as a server restart does; the
// fake keeps listening.
func (s *Server) CloseConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// Close stops listening, closes every connection and waits for them.
func (s *Server) Close() {
	s.ln.Close()
	s.CloseConns()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		raw, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[raw] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(raw)
			raw.Close()
			s.mu.Lock()
			delete(s.conns, raw)
			s.mu.Unlock()
		}()
	}
}

// serve runs one connection: the handshake, then commands until it ends.
func (s *Server) serve(raw net.Conn) {
	auth := gmserver.NewInMemoryAuthenticationHandler(mysql.AUTH_NATIVE_PASSWORD)
	if err := auth.AddUser(s.cfg.User, s.cfg.Password); err != nil {
		return
	}
	hc := &headConn{Conn: raw}
	gc, err := s.srv.NewCustomizedConn(hc, auth, quiet{})
	if err != nil {
		return
	}
	c := newConn(s, raw, gc.Capability()&s.srv.Capability(), hc.progress())
	s.mu.Lock()
	s.accepted++
	c.id = s.accepted
	s.mu.Unlock()
	c.run()
}

// headConn keeps the first bytes the client sent, its handshake
// response's head, where MariaDB's extended capabilities are (go-mysql
// does not read them).
type headConn struct {
	net.Conn
	head []byte
}

func (c *headConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if len(c.head) < 4+32 {
		c.head = append(c.head, b[:min(n, 4+32-len(c.head))]...)
	}
	return n, err
}

// progress: the client asked for MARIADB_CLIENT_PROGRESS (1<<32): the last
// 4 of the head's reserved bytes, from a client without CLIENT_MYSQL.
func (c *headConn) progress() bool {
	return len(c.head) == 4+32 && c.head[4]&1 == 0 && c.head[4+28]&1 != 0
}

// quiet accepts the handshake's database without go-mysql's log line.
type quiet struct{ gmserver.EmptyHandler }

func (quiet) UseDB(string) error { return nil }

// record logs a command.
func (s *Server) record(c Command) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.cfg.Unrecorded {
		s.log = append(s.log, c)
	}
}

// answerFor takes the answer to sql from the script, or a built-in one;
// ok is false when there is none.
func (s *Server) answerFor(sql string) (a answer, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.exact[sql]; len(q) > 0 {
		a := next(&q)
		s.exact[sql] = q
		return a, true
	}
	for _, r := range s.prefixes {
		if strings.HasPrefix(sql, r.prefix) {
			return next(&r.answers), true
		}
	}
	if builtin(sql) {
		return answer{OK{}}, true
	}
	if !s.cfg.Unrecorded {
		s.unscripted = append(s.unscripted, sql)
	}
	return answer{Err{Code: 1105, Message: fmt.Sprintf("fakebackend: nothing scripted for %q", sql)}}, false
}

// peekFor is the answer answerFor would give, without taking it.
func (s *Server) peekFor(sql string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.exact[sql]; len(q) > 0 {
		return peek(q)
	}
	for _, r := range s.prefixes {
		if strings.HasPrefix(sql, r.prefix) {
			return peek(r.answers)
		}
	}
	return nil
}

// builtin: statements a server accepts without a script.
func builtin(sql string) bool {
	switch keyword(sql) {
	case "SET", "USE", "BEGIN", "START", "COMMIT", "ROLLBACK":
		return true
	}
	return false
}

// keyword is the first word of sql, upper case.
func keyword(sql string) string {
	f := strings.Fields(sql)
	if len(f) == 0 {
		return ""
	}
	return strings.ToUpper(strings.TrimRight(f[0], ";"))
}
