package proxy

import (
	"math/rand/v2"

	"github.com/fwdproxy/fwdproxy/writerlocks"
)

// With --shared-writer-limits, the writer connection cap is counted on the
// writer itself, so that every proxy instance in front of it together stays
// within floor(max_connections × pct / 100): each session's writer
// connection holds one of the named locks fwdproxy_slot_0 … _{cap-1}
// (GET_LOCK, which the writer releases with the connection, so a crashed
// instance's share frees itself). The per-instance count stays the first,
// cheap, gate.

// takeSlot takes a free slot lock on the session's new writer connection,
// or answers 1040 when every slot is held.
func (s *session) takeSlot() *sqlError {
	if !s.srv.conf().SharedWriterLimits {
		return nil
	}
	limit := int(s.srv.writerLimit.Load())
	if limit <= 0 {
		return s.sessionLimit()
	}
	start := rand.IntN(limit) // spread the sessions: few tries while slots are free
	for i := 0; i < limit; i++ {
		res, err := s.writer.exec("SELECT GET_LOCK('" + writerlocks.Slot((start+i)%limit) + "', 0)")
		if err != nil {
			if se, ok := err.(*sqlError); ok {
				return se
			}
			s.writerLost()
			return errWriterUnreachable()
		}
		if v, _ := res.value(); v.s == "1" {
			return nil
		}
	}
	return s.sessionLimit()
}

// sessionLimit counts and returns the 1040 of a full writer.
func (s *session) sessionLimit() *sqlError {
	s.srv.Metrics.ReplicaErrorSessionLimit()
	s.srv.Metrics.WriterErrorSessionLimit()
	s.srv.Metrics.Rejected(1040)
	return errSessionLimit()
}
