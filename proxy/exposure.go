package proxy

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// Stale-read exposure, in audit mode: a second model of each session, at
// EVENTUAL, names the reads a reader would serve and the writes it would
// forward, with their tables; the writer's OK packets tell when the
// session's own writes commit (their GTIDs). A read is exposed when it reads
// a table the session wrote and the simulated reader, --audit-lag behind
// the writer, would not have applied that write's GTID when the read
// arrived, or when the write is in the read's own open transaction (the
// reader never sees it before the commit). SESSION would have made it
// wait; EVENTUAL would have served it stale.

// Routed is a statement as the model at EVENTUAL routes it: a read the
// reader serves, or a forwarded write, with the tables it reads or writes
// ("db.table"); AnyTable when they could not be told.
type Routed struct {
	SQL      string
	Write    bool
	Tables   []string
	AnyTable bool
}

// NewExposureModel starts a model of one session at EVENTUAL; it calls
// routed with each read on the reader and each forwarded write.
type NewExposureModel func(routed func(Routed)) AuditModel

// ExposureEntry is one read digest's exposure.
type ExposureEntry struct {
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

// maxPrograms bounds the programs listed per digest.
const maxPrograms = 8

type exposureStore struct {
	lag     time.Duration
	mu      sync.Mutex
	entries map[string]*ExposureEntry
	reads   *prometheus.CounterVec
}

func newExposureStore(reg *prometheus.Registry, lag time.Duration) *exposureStore {
	e := &exposureStore{lag: lag, entries: map[string]*ExposureEntry{}}
	e.reads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fwdproxy_audit_reads_total",
		Help: "Reads a reader would have served, seen in audit mode, by exposure: none, lag (it reads a table the session wrote and the simulated reader had not applied that write) or transaction (after a write of the same open transaction).",
	}, []string{"exposure"})
	reg.MustRegister(e.reads)
	return e
}

// sessionExposure is one session's part: the tables its open
// transaction (or the current command) wrote, and when its committed
// writes to each table reached the writer.
type sessionExposure struct {
	model     AuditModel
	pending   map[string]bool      // written, not committed yet
	committed map[string]time.Time // written and committed at
	at        time.Time            // the current command's arrival
	program   string
}

// anyTable stands for the tables of a write that could not be told.
const anyTable = "*"

func (x *sessionExposure) routed(e *exposureStore, r Routed) {
	if !r.Write {
		e.read(x, r)
		return
	}
	if r.AnyTable {
		x.pending[anyTable] = true
	}
	for _, t := range r.Tables {
		x.pending[t] = true
	}
}

// exposure says whether a read of r's tables at x.at would be stale: in
// the open transaction, or within the lag of a commit; wait is how long a
// SESSION read would have waited.
func (x *sessionExposure) exposure(r Routed, lag time.Duration) (kind string, wait time.Duration) {
	touches := func(t string) bool { return r.AnyTable || t == anyTable || contains(r.Tables, t) }
	for t := range x.pending {
		if touches(t) {
			return "transaction", 0
		}
	}
	for t, c := range x.committed {
		w := c.Add(lag).Sub(x.at)
		if w <= 0 {
			delete(x.committed, t) // applied on the simulated reader
			continue
		}
		if touches(t) && w > wait {
			wait = w
		}
	}
	if wait > 0 {
		return "lag", wait
	}
	return "none", 0
}

func (e *exposureStore) read(x *sessionExposure, r Routed) {
	exposure, wait := x.exposure(r, e.lag)
	e.reads.WithLabelValues(exposure).Inc()
	sql := r.SQL
	d := sqlclass.Digest(sql, sqlclass.Options{})
	e.mu.Lock()
	defer e.mu.Unlock()
	en := e.entries[d]
	if en == nil {
		en = &ExposureEntry{Digest: d, Example: sql, Needs: "EVENTUAL"}
		e.entries[d] = en
	}
	en.Reads++
	if exposure == "none" {
		return
	}
	if en.Exposed == 0 {
		en.Example = sql
	}
	en.Exposed++
	en.Needs = "SESSION"
	if exposure == "transaction" {
		en.InTransaction++
	} else if ms := float64(wait.Microseconds()) / 1000; ms > en.MaxWaitMS {
		en.MaxWaitMS = ms
	}
	if x.program != "" && len(en.Programs) < maxPrograms && !contains(en.Programs, x.program) {
		en.Programs = append(en.Programs, x.program)
	}
}

// Summary lists the read digests, most exposed first.
func (e *exposureStore) Summary() []ExposureEntry {
	e.mu.Lock()
	out := make([]ExposureEntry, 0, len(e.entries))
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

// ExposureReport is GET /audit's "exposure".
type ExposureReport struct {
	LagMS float64         `json:"lag_ms"`
	Reads []ExposureEntry `json:"reads"`
}

func (e *exposureStore) report() ExposureReport {
	return ExposureReport{LagMS: float64(e.lag.Microseconds()) / 1000, Reads: e.Summary()}
}

// newExposure starts the session's exposure model.
func (s *session) newExposure() *sessionExposure {
	x := &sessionExposure{program: s.program, pending: map[string]bool{}, committed: map[string]time.Time{}}
	st := s.srv.audit.exposure
	x.model = s.srv.conf().ExposureModel(func(r Routed) { x.routed(st, r) })
	return x
}

// replied notes the writer's answer to a command: a GTID in its OK is the
// session's commit of what it wrote, which the simulated reader applies
// --audit-lag later; without one, once no transaction is open, nothing
// written is left to commit (rolled back, or no change).
func (x *sessionExposure) replied(s *session, stateInfo []byte) {
	if len(stateInfo) > 0 {
		if g, ok := s.srv.flavor.OwnGTID(stateInfo); ok && !g.IsEmpty() {
			now := time.Now()
			for t := range x.pending {
				x.committed[t] = now
			}
			clear(x.pending)
			return
		}
	}
	if s.reader.status&statusInTrans == 0 {
		clear(x.pending)
	}
}
