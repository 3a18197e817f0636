package proxy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fwdproxy/fwdproxy/consistency"
)

// errReadWaitTimeout is the documented error for a read whose consistency
// wait exceeded --read-wait-timeout with action "error" (our choice: 3024,
// MySQL's "maximum statement execution time exceeded").
func errReadWaitTimeout(d time.Duration) *sqlError {
	return &sqlError{3024, "HY000", fmt.Sprintf("Query execution was interrupted: replica did not reach the required GTID position within read-wait-timeout (%s)", d)}
}

// waitForRead makes the reader fresh enough for the session's level before a
// read: SESSION waits for the GTIDs this session committed through the
// writer (at the user scope, every session of its user), GLOBAL for everything the writer had committed when the read
// arrived, EVENTUAL not at all; a causal token the client set
// (fwdproxy_read_after) adds its GTIDs at every level. fallback=true asks the caller to serve the read from the
// writer (timeout action "writer"). A wait the process already knows to be
// satisfied costs nothing; otherwise the session waits on the reader.
func (s *session) waitForRead() (fallback bool, e *sqlError) {
	cfg := s.srv.conf()
	s.survive()
	if s.srv.readers == nil && s.srv.readerIsWriter.Load() {
		return false, nil
	}
	var target consistency.Set
	deadline := time.Now().Add(cfg.ReadWaitTimeout)
	switch s.level {
	case consistency.Session:
		target = s.sessionTarget()
	case consistency.Global:
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		pos, err := s.srv.writerPos.Get(ctx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return s.waitTimedOut(cfg)
			}
			return false, errWriterUnreachable()
		}
		target = pos
	}
	if after := s.state.ReadAfterSet; after != nil && !after.IsEmpty() {
		if target == nil {
			target = after
		} else {
			target = target.Union(after)
		}
	}
	if target != nil && !target.IsEmpty() {
		if fb, e, done := s.injectRead(cfg, deadline); done {
			return fb, e
		}
	}
	need := target
	if s.srv.readers != nil {
		var fb bool
		if target, fb, e = s.placeRead(need); fb || e != nil {
			return fb, e
		}
	}
	if target == nil || s.readerApplied().Covers(target) {
		return false, nil
	}
	start := time.Now()
	var done, fb bool
	if s.srv.readers != nil {
		s.srv.readers.node(s.ep.node).waits.Add(1)
		done, fb, e = s.waitPlaced(target, need, deadline)
	} else {
		done, e = s.waitApplied(target, deadline)
	}
	waited := time.Since(start)
	s.out.Wait += waited
	s.srv.Metrics.ReplicaReadWait(waited)
	if e != nil || fb {
		return fb, e
	}
	if done {
		return false, nil
	}
	return s.waitTimedOut(cfg)
}

// waitApplied waits until the reader has applied target or the deadline,
// on the session's own reader connection: the server answers the moment it
// has applied the target. Waiting for the push tracker instead adds its
// delivery and confirmation to every read after a write; the tracker keeps
// Applied current for the reads that need no wait at all.
func (s *session) waitApplied(target consistency.Set, deadline time.Time) (bool, *sqlError) {
	left := time.Until(deadline)
	if left <= 0 {
		return false, nil
	}
	res, err := s.reader.exec(s.srv.flavor.WaitSQL(target, left))
	if err != nil {
		if se, ok := err.(*sqlError); ok {
			return false, se
		}
		if s.srv.readers != nil {
			// The read has not run: with nothing held on the lost
			// reader, user variables included, it waits on another.
			held := len(s.ep.userVars) > 0 // their values die with the reader
			if e, _ := s.readerGone(); e.code != errLostReader().code || held {
				return false, e
			}
			return false, nil // placed again by waitPlaced, or by the no-reader policy
		}
		s.readerBroken = true
		return false, errLostReader()
	}
	v, _ := res.value()
	done, werr := s.srv.flavor.WaitDone(v.s, v.null)
	if werr == nil && done {
		s.readerApplied().Advance(target)
		return true, nil
	}
	return false, nil
}

func (s *session) waitTimedOut(cfg *Config) (bool, *sqlError) {
	s.out.Timeout = true
	if cfg.ReadWaitTimeoutAction == "writer" {
		s.srv.Metrics.ReadWaitTimeout("writer")
		return true, nil
	}
	s.srv.Metrics.ReadWaitTimeout("error")
	return false, errReadWaitTimeout(cfg.ReadWaitTimeout)
}
