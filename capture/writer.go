package capture

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Writer appends records to a capture file until its size limit. It is
// safe for concurrent use; a nil *Writer captures nothing.
type Writer struct {
	mu      sync.Mutex
	out     *bufio.Writer
	file    io.Closer
	path    string
	start   time.Time
	max     int64
	written int64
	records int64
	stopped bool
	failed  error
	onStop  func(Stats)
}

// Stats is what /status shows of a capture.
type Stats struct {
	File     string `json:"file"`
	Records  int64  `json:"records"`
	Bytes    int64  `json:"bytes"`
	MaxBytes int64  `json:"max_bytes"`
	// Stopped: the size limit was reached (or a write failed, Error) and
	// nothing more is recorded.
	Stopped bool   `json:"stopped"`
	Error   string `json:"error,omitempty"`
}

// stopLine is the room kept for the "stopped" record.
const stopLine = 64

// Create starts a capture in a new file at path (an existing one is
// replaced), of at most max bytes. onStop, when set, is called once when
// the capture stops early.
func Create(path string, max int64, onStop func(Stats)) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	w := newWriter(f, f, max, time.Now(), onStop)
	w.path = f.Name()
	if w.stopped {
		f.Close()
		os.Remove(path)
		return nil, errTooSmall
	}
	return w, nil
}

var errTooSmall = errors.New("capture: the size limit leaves no room for records")

func newWriter(out io.Writer, c io.Closer, max int64, start time.Time, onStop func(Stats)) *Writer {
	w := &Writer{out: bufio.NewWriterSize(out, 64<<10), start: start, max: max, onStop: onStop, file: c}
	line, _ := marshal(Header{Capture: Version, Start: start.UTC().Format(time.RFC3339Nano)})
	if int64(len(line))+1+stopLine > max {
		w.stopped = true
		return w
	}
	w.put(line)
	return w
}

func (w *Writer) put(line []byte) {
	_, _ = w.out.Write(line)
	if err := w.out.WriteByte('\n'); err != nil && w.failed == nil {
		w.failed = err
	}
	w.written += int64(len(line)) + 1
}

// add writes one record, or the "stopped" record when it would pass the
// limit.
func (w *Writer) add(rec *Record) {
	line, err := marshal(rec)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if w.written+int64(len(line))+1+stopLine > w.max || w.failed != nil {
		stop, _ := marshal(Record{Kind: Stopped, AtUS: rec.AtUS})
		w.put(stop)
		w.stopped = true
		_ = w.out.Flush()
		if w.onStop != nil {
			go w.onStop(w.statsLocked())
		}
		return
	}
	w.put(line)
	w.records++
	if rec.Kind == Disconnect {
		_ = w.out.Flush() // a finished session is on disk
	}
}

// marshal is one JSON line without the HTML escapes (<redacted> stays
// readable).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// since is a record time: microseconds since the capture began.
func (w *Writer) since(t time.Time) int64 { return t.Sub(w.start).Microseconds() }

// Stats says how far the capture got.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.statsLocked()
}

func (w *Writer) statsLocked() Stats {
	st := Stats{File: w.path, Records: w.records, Bytes: w.written, MaxBytes: w.max, Stopped: w.stopped}
	if w.failed != nil {
		st.Error = w.failed.Error()
	}
	return st
}

// Close flushes and closes the file; later records are dropped.
func (w *Writer) Close() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	err := w.out.Flush()
	if w.file != nil {
		if cerr := w.file.Close(); err == nil {
			err = cerr
		}
		w.file = nil
	}
	return err
}

// Client is who a session is, for its connect record.
type Client struct {
	User, DB, Program string
	// Caps is the capability flags the session runs with (replay asks
	// for the same; CLIENT_DEPRECATE_EOF changes how responses end).
	Caps uint32
	// CacheMetadata: the client negotiated MariaDB's
	// MARIADB_CLIENT_CACHE_METADATA (an execute's column definitions may
	// be left out of its answer).
	CacheMetadata bool
}

// CapDeprecateEOF is CLIENT_DEPRECATE_EOF.
const CapDeprecateEOF = 1 << 24

// Session captures one client session: Tap sees what it is sent,
// Command and Done bracket each command. A nil *Session does nothing.
type Session struct {
	w     *Writer
	id    uint32
	eof   bool
	cache bool       // Client.CacheMetadata
	last  uint32     // the statement prepared last, which id -1 names (0: none)
	mu    sync.Mutex // the tap may write from another goroutine
	frame framer
	resp  Response
	cur   *Record
	began time.Time
	stmts map[uint32]*prepared
	prep  *prepared // the prepare in flight
}

// Open records a session's connect; nil when w is nil.
func (w *Writer) Open(id uint32, c Client) *Session {
	if w == nil {
		return nil
	}
	w.add(&Record{Kind: Connect, Session: id, AtUS: w.since(time.Now()), User: c.User, DB: c.DB, Program: c.Program, Caps: c.Caps})
	return &Session{w: w, id: id, eof: c.Caps&CapDeprecateEOF != 0, cache: c.CacheMetadata, stmts: map[uint32]*prepared{}, resp: Response{done: true}}
}

// Tap returns c with what is written to it followed, so that Done knows
// the command's result.
func (s *Session) Tap(c net.Conn) net.Conn {
	if s == nil {
		return c
	}
	return &tapConn{Conn: c, s: s}
}

type tapConn struct {
	net.Conn
	s *Session
}

func (t *tapConn) Write(p []byte) (int, error) {
	t.s.mu.Lock()
	t.s.frame.write(p, func(head []byte, n int) { t.s.resp.Packet(head, n) })
	t.s.mu.Unlock()
	return t.Conn.Write(p)
}

// Command starts recording the command data the client sent.
func (s *Session) Command(data []byte) {
	if s == nil || len(data) == 0 {
		return
	}
	now := time.Now()
	rec := &Record{Kind: Command, Session: s.id, AtUS: s.w.since(now)}
	describe(rec, data, s.stmts, s.last)
	s.mu.Lock()
	s.cur, s.began = rec, now
	s.resp = NewResponse(data[0], s.eof, s.cache)
	s.mu.Unlock()
	s.prep = nil
	switch data[0] {
	case comStmtPrepare:
		s.prep = &prepared{sql: rec.SQL, redacted: rec.Redacted}
		s.last = 0 // until it succeeds (Done)
	case comStmtClose:
		delete(s.stmts, rec.Stmt)
		if rec.Stmt == s.last {
			s.last = 0
		}
	case comResetConnection, comChangeUser:
		clear(s.stmts) // the server forgets the session's statements
		s.last = 0
	}
}

// Done records the command started last with what it got, once its
// response was written.
func (s *Session) Done() {
	if s == nil {
		return
	}
	s.mu.Lock()
	rec, res, complete := s.cur, s.resp.Result, s.resp.Done()
	s.cur = nil
	s.mu.Unlock()
	if rec == nil {
		return
	}
	res.DurUS = time.Since(s.began).Microseconds()
	if complete { // else the session ended in the middle: no result to compare
		rec.Result = &res
	}
	if s.prep != nil && res.Error == 0 && res.Stmt != 0 {
		s.prep.params = res.Params
		s.stmts[res.Stmt], s.last = s.prep, res.Stmt
	}
	s.w.add(rec)
}

// Close records the command in flight, if any (with its result if the
// whole response went out), and the disconnect.
func (s *Session) Close() {
	if s == nil {
		return
	}
	s.Done()
	s.w.add(&Record{Kind: Disconnect, Session: s.id, AtUS: s.w.since(time.Now())})
}
