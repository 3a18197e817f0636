// Package exposure is the stale-read exposure model: given each session's
// reads a reader would serve at EVENTUAL and its forwarded writes (with
// their tables), and when those writes committed, it names the reads a
// reader a given lag behind the writer would have served stale. SESSION
// would have made them wait; EVENTUAL would have served them stale.
//
// Audit mode (package proxy) feeds it live traffic, with the commit times
// the writer's OK packets give; lint feeds it a general log, with the
// log's timestamps. Both print the same report.
package exposure

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// Statement is a read the reader serves or a forwarded write, with the
// tables it reads or writes ("db.table"); AnyTable when they could not be
// told.
type Statement struct {
	SQL      string
	Write    bool
	Tables   []string
	AnyTable bool
}

// How a read was exposed.
const (
	None        = "none"        // not stale
	Lag         = "lag"         // reads a table the session wrote, within the lag of its commit
	Transaction = "transaction" // after a write of its own open transaction: stale at any lag
)

// Entry is one read digest's exposure.
type Entry struct {
	Digest  string `json:"digest"`
	Reads   uint64 `json:"reads"`   // reads a reader would have served
	Exposed uint64 `json:"exposed"` // of those, stale at EVENTUAL
	// InTransaction of the exposed ones ran after a write of their own
	// open transaction: stale whatever the lag.
	InTransaction uint64 `json:"in_transaction"`
	// MaxWaitMS is the longest a SESSION read of the digest would have
	// waited for the simulated reader (how stale EVENTUAL would have been).
	MaxWaitMS float64 `json:"max_wait_ms"`
	// Needs is SESSION when some read was exposed, else EVENTUAL.
	Needs    string   `json:"needs"`
	Example  string   `json:"example"` // an exposed read when there is one
	Programs []string `json:"programs,omitempty"`
}

// Report is the exposure of every read digest at one simulated lag.
type Report struct {
	LagMS float64 `json:"lag_ms"`
	Reads []Entry `json:"reads"`
}

// maxPrograms bounds the programs listed per digest.
const maxPrograms = 8

// Store adds up the reads of all sessions by digest.
type Store struct {
	lag     time.Duration
	mu      sync.Mutex
	entries map[string]*Entry
}

func NewStore(lag time.Duration) *Store {
	return &Store{lag: lag, entries: map[string]*Entry{}}
}

// Session is one session's part: the tables its open transaction (or the
// current statement) wrote, and when its committed writes to each table
// reached the writer.
type Session struct {
	pending   map[string]bool      // written, not committed yet
	committed map[string]time.Time // written and committed at
	program   string
	// Resolution is how precise the times given are (a general log's
	// timestamps: a second in MariaDB's): a read may have come that much
	// sooner after a commit than they say.
	Resolution time.Duration
}

// NewSession starts a session's model; program names its code path (the
// client's program_name, when it sent one).
func NewSession(program string) *Session {
	return &Session{program: program, pending: map[string]bool{}, committed: map[string]time.Time{}}
}

// anyTable stands for the tables of a write that could not be told.
const anyTable = "*"

// Wrote notes a forwarded write, not committed yet.
func (x *Session) Wrote(r Statement) {
	if r.AnyTable {
		x.pending[anyTable] = true
	}
	for _, t := range r.Tables {
		x.pending[t] = true
	}
}

// Committed: what the session wrote reached the writer at.
func (x *Session) Committed(at time.Time) {
	for t := range x.pending {
		x.committed[t] = at
	}
	clear(x.pending)
}

// Ended: nothing written is left to commit (rolled back, or no change).
func (x *Session) Ended() { clear(x.pending) }

// exposure says whether a read of r's tables at `at` would be stale: in
// the open transaction, or within the lag of a commit; wait is how long a
// SESSION read would have waited.
func (x *Session) exposure(r Statement, at time.Time, lag time.Duration) (kind string, wait time.Duration) {
	touches := func(t string) bool { return r.AnyTable || t == anyTable || slices.Contains(r.Tables, t) }
	for t := range x.pending {
		if touches(t) {
			return Transaction, 0
		}
	}
	for t, c := range x.committed {
		// A read comes after its commit: never more than the lag to wait.
		w := min(c.Add(lag+x.Resolution).Sub(at), lag)
		if w <= 0 {
			delete(x.committed, t) // applied on the simulated reader
			continue
		}
		if touches(t) && w > wait {
			wait = w
		}
	}
	if wait > 0 {
		return Lag, wait
	}
	return None, 0
}

// Read counts a read of session x that arrived at `at` and says how it was
// exposed.
func (e *Store) Read(x *Session, r Statement, at time.Time) string {
	exposure, wait := x.exposure(r, at, e.lag)
	d := sqlclass.Digest(r.SQL, sqlclass.Options{})
	e.mu.Lock()
	defer e.mu.Unlock()
	en := e.entries[d]
	if en == nil {
		en = &Entry{Digest: d, Example: r.SQL, Needs: "EVENTUAL"}
		e.entries[d] = en
	}
	en.Reads++
	if exposure == None {
		return exposure
	}
	if en.Exposed == 0 {
		en.Example = r.SQL
	}
	en.Exposed++
	en.Needs = "SESSION"
	if exposure == Transaction {
		en.InTransaction++
	} else if ms := float64(wait.Microseconds()) / 1000; ms > en.MaxWaitMS {
		en.MaxWaitMS = ms
	}
	if x.program != "" && len(en.Programs) < maxPrograms && !slices.Contains(en.Programs, x.program) {
		en.Programs = append(en.Programs, x.program)
	}
	return exposure
}

// Summary lists the read digests, most exposed first.
func (e *Store) Summary() []Entry {
	e.mu.Lock()
	out := make([]Entry, 0, len(e.entries))
	for _, en := range e.entries {
		c := *en
		c.Programs = append([]string(nil), en.Programs...)
		out = append(out, c)
	}
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Exposed != out[j].Exposed {
			return out[i].Exposed > out[j].Exposed
		}
		if out[i].Reads != out[j].Reads {
			return out[i].Reads > out[j].Reads
		}
		return out[i].Digest < out[j].Digest
	})
	return out
}

// Report is the summary with its lag.
func (e *Store) Report() Report {
	return Report{LagMS: float64(e.lag.Microseconds()) / 1000, Reads: e.Summary()}
}
