package digest

import (
	"encoding/json"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Log writes one JSON line per statement to its writer, which Swap
// replaces (log rotation); with none it is off.
type Log struct {
	mu  sync.Mutex
	enc *json.Encoder
	w   io.Writer
	on  atomic.Bool
}

// NewLog logs to w; nil: off until Swap.
func NewLog(w io.Writer) *Log {
	l := &Log{}
	l.Swap(w)
	return l
}

// On says there is a writer: a caller may skip making the line.
func (l *Log) On() bool { return l != nil && l.on.Load() }

// Swap makes w (nil: none) the writer and returns the one before, which no
// Write uses any more when Swap returns, so the caller may close it.
func (l *Log) Swap(w io.Writer) (old io.Writer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, l.w, l.enc = l.w, w, nil
	if w != nil {
		l.enc = json.NewEncoder(w)
	}
	l.on.Store(w != nil)
	return old
}

// Entry is one line of the statement log.
type Entry struct {
	Time    time.Time `json:"time"`
	Session uint32    `json:"session"`
	Digest  string    `json:"digest"`
	Route   string    `json:"route"`
	WaitUS  int64     `json:"wait_us"`
	Error   uint16    `json:"error"`
}

// Write logs one statement. A failed write is dropped: the log never
// holds up a statement.
func (l *Log) Write(at time.Time, session uint32, d string, o Outcome) {
	e := Entry{Time: at.UTC(), Session: session, Digest: d, Route: o.Route.String(),
		WaitUS: o.Wait.Microseconds(), Error: o.Err}
	l.mu.Lock()
	if l.enc != nil {
		_ = l.enc.Encode(&e)
	}
	l.mu.Unlock()
}
