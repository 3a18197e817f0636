package proxy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fwdproxy/fwdproxy/exposure"
)

// Stale-read exposure, in audit mode: a second model of each session, at
// EVENTUAL, names the reads a reader would serve and the writes it would
// forward, with their tables; the writer's OK packets tell when the
// session's own writes commit (their GTIDs). Package exposure decides which
// reads a reader --audit-lag behind the writer would have served stale.

// NewExposureModel starts a model of one session at EVENTUAL; it calls
// routed with each read on the reader and each forwarded write.
type NewExposureModel func(routed func(exposure.Statement)) AuditModel

type exposureStore struct {
	*exposure.Store
	reads *prometheus.CounterVec
}

func newExposureStore(reg *prometheus.Registry, lag time.Duration) *exposureStore {
	e := &exposureStore{Store: exposure.NewStore(lag)}
	e.reads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fwdproxy_audit_reads_total",
		Help: "Reads a reader would have served, seen in audit mode, by exposure: none, lag (it reads a table the session wrote and the simulated reader had not applied that write) or transaction (after a write of the same open transaction).",
	}, []string{"exposure"})
	reg.MustRegister(e.reads)
	return e
}

// sessionExposure is one session's model and its part of the store.
type sessionExposure struct {
	model AuditModel
	x     *exposure.Session
	at    time.Time // the current command's arrival
}

// newExposure starts the session's exposure model.
func (s *session) newExposure() *sessionExposure {
	e := &sessionExposure{x: exposure.NewSession(s.program)}
	st := s.srv.audit.exposure
	e.model = s.srv.conf().ExposureModel(func(r exposure.Statement) {
		if r.Write {
			e.x.Wrote(r)
			return
		}
		st.reads.WithLabelValues(st.Read(e.x, r, e.at)).Inc()
	})
	return e
}

// replied notes the writer's answer to a command: a GTID in its OK is the
// session's commit of what it wrote, which the simulated reader applies
// --audit-lag later; without one, once no transaction is open, nothing
// written is left to commit (rolled back, or no change).
func (e *sessionExposure) replied(s *session, stateInfo []byte) {
	if len(stateInfo) > 0 {
		if g, ok := s.srv.flavor.OwnGTID(stateInfo); ok && !g.IsEmpty() {
			e.x.Committed(time.Now())
			return
		}
	}
	if s.reader.status&statusInTrans == 0 {
		e.x.Ended()
	}
}
