package lint

import (
	"bufio"
	"errors"
	"io"
	"time"

	"github.com/fwdproxy/fwdproxy/exposure"
)

// Exposure is the stale-read exposure report of general logs, offline:
// the reads EVENTUAL would have served stale, as audit mode reports them
// (package exposure), from each session's statements at EVENTUAL and the
// log's timestamps. A write commits at the time of the entry that commits
// it (an autocommit write, COMMIT, an implicit commit); a read comes at its
// entry's time. A log's timestamps are coarse (whole seconds in MariaDB's),
// so a read counts as exposed when it may have come within the lag of the
// commit: a read logged a second after a commit may have come right after
// it.
type Exposure struct {
	store *exposure.Store
	cfg   Config
}

// NewExposure starts a report at the simulated lag; cfg's lexing options
// and format are used, its consistency is not: the model runs at EVENTUAL,
// as a session that did not ask for SESSION would.
func NewExposure(cfg Config, lag time.Duration) *Exposure {
	cfg.Consistency = Eventual
	return &Exposure{store: exposure.NewStore(lag), cfg: cfg}
}

// ErrNoTimes: the input is no general log with timestamps.
var ErrNoTimes = errors.New("the exposure report needs a general query log with timestamps")

// Add reads one general log into the report; entries before its first
// timestamp are left out.
func (e *Exposure) Add(name string, r io.Reader) error {
	br := bufio.NewReaderSize(r, headSize)
	format := e.cfg.Format
	if format == Auto {
		head, _ := br.Peek(headSize)
		format = Detect(head)
	}
	if format != GeneralLog {
		return ErrNoTimes
	}
	l, _ := newLinter(name, e.cfg, func(Finding) {})
	l.cfg.Format, l.exp = GeneralLog, e.store
	if err := l.read(br); err != nil {
		return err
	}
	if !l.timed {
		return ErrNoTimes
	}
	return nil
}

// Report is the report of what was added.
func (e *Exposure) Report() exposure.Report { return e.store.Report() }

// exposed feeds one read or forwarded write to the session's exposure.
func (s *session) exposed(r Routed) {
	st := exposure.Statement{SQL: r.Statement, Write: r.Write, Tables: r.Tables, AnyTable: r.Unknown}
	if r.Write {
		s.exp.Wrote(st)
		return
	}
	if !s.l.timed {
		return // no time yet
	}
	s.exp.Resolution = s.l.atRes
	s.l.exp.Read(s.exp, st, s.l.at)
}
