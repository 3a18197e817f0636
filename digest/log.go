package digest

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Log writes one JSON line per statement.
type Log struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func NewLog(w io.Writer) *Log { return &Log{enc: json.NewEncoder(w)} }

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
	_ = l.enc.Encode(&e)
	l.mu.Unlock()
}
