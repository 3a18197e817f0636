package proxy

import (
	"context"
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
// read (SPEC §4). fallback=true asks the caller to serve the read from the
// writer (timeout action "writer").
func (s *session) waitForRead() (fallback bool, e *sqlError) {
	var target consistency.Set
	switch s.level {
	case consistency.Session:
		if s.ownGTIDs == nil || s.srv.applied.Covers(s.ownGTIDs) {
			return false, nil
		}
		target = s.ownGTIDs
	case consistency.Global:
		pos, err := s.srv.writerPos.Get(context.Background())
		if err != nil {
			return false, errWriterUnreachable()
		}
		if pos == nil || s.srv.applied.Covers(pos) {
			return false, nil
		}
		target = pos
	default:
		return false, nil
	}
	start := time.Now()
	timeout := s.srv.conf().ReadWaitTimeout
	res, err := s.reader.exec(s.srv.flavor.WaitSQL(target, timeout))
	d := time.Since(start)
	s.srv.Metrics.ReplicaReadWait(d)
	if err != nil {
		if se, ok := err.(*sqlError); ok {
			return false, se
		}
		return false, &sqlError{2013, "HY000", "Lost connection to reader during query"}
	}
	v, _ := res.value()
	done, werr := s.srv.flavor.WaitDone(v.s, v.null)
	if werr == nil && done {
		s.srv.applied.Advance(target)
		return false, nil
	}
	s.srv.Metrics.ReplicaErrorRPCTimeout()
	if s.srv.conf().ReadWaitTimeoutAction == "writer" {
		s.srv.Metrics.ReadWaitTimeout("writer")
		return true, nil
	}
	s.srv.Metrics.ReadWaitTimeout("error")
	return false, errReadWaitTimeout(timeout)
}
