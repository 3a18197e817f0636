package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/faults"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// Aurora's failures on demand (package faults decides when): each one is
// produced by the code path a real occurrence takes, so the client gets
// the same error and the same figures move.

// injects says whether to inject k at this chance: the session asked for
// it (SET fwdproxy_inject_fault) or an admin rule chose it. It counts what
// it injects.
func (s *session) injects(k faults.Kind) (bool, time.Duration) {
	ok, lag := s.inject.Has(k), s.inject.Lag
	if !ok {
		ok, lag = s.srv.faults.Decide(k, s.id, s.user, time.Now())
	}
	if ok {
		s.srv.Metrics.FaultInjected(k)
		s.srv.log.Info("fault injected", zap.Uint32("session", s.id), zap.Stringer("kind", k))
	}
	return ok, lag
}

// injectWriterEnd, before a command, ends the session's forwarded
// transaction as the idle timeout or disabling forwarding does: its writer
// connection is closed (the writer rolls back) and the session finds the
// reason at once. The forwarding switch itself stays on.
func (s *session) injectWriterEnd() {
	if s.writer == nil || !s.state.TxWriter || s.life.reason.Load() != 0 {
		return
	}
	if ok, _ := s.injects(faults.IdleTimeout); ok {
		s.life.kill(killIdle)
	} else if ok, _ := s.injects(faults.ForwardingDisabled); ok {
		s.life.kill(killDisabled)
	}
}

// injectLost, before a forwarded statement inside a forwarded transaction
// that cannot commit, drops the writer connection under it: the statement
// fails as on a real loss (writerFailed), with the transaction gone.
func (s *session) injectLost(st *sqlclass.Statement) {
	if s.state.TxWriter && !s.mayCommit(st) {
		if ok, _ := s.injects(faults.ConnectionLost); ok {
			_ = s.writer.conn.NetConn().Close()
		}
	}
}

// injectRead, before a read that has a consistency target, gives it a
// read-wait timeout (at once, with --read-wait-timeout-action's outcome)
// or a lag spike: the read waits the lag, and times out when the lag
// reaches the deadline. done says the read's wait is decided.
func (s *session) injectRead(cfg *Config, deadline time.Time) (fallback bool, e *sqlError, done bool) {
	if ok, _ := s.injects(faults.ReadWaitTimeout); ok {
		fallback, e = s.waitTimedOut(cfg)
		return fallback, e, true
	}
	ok, lag := s.injects(faults.LagSpike)
	if !ok {
		return false, nil, false
	}
	left := time.Until(deadline)
	waited := max(min(lag, left), 0)
	time.Sleep(waited)
	s.out.Wait += waited
	s.srv.Metrics.ReplicaReadWait(waited)
	if lag < left {
		return false, nil, false // the real wait goes on, and finds the reader there
	}
	fallback, e = s.waitTimedOut(cfg)
	return fallback, e, true
}

// faultsHandler serves the admin API's /faults: POST turns a rule on
// (faults.Spec), GET lists the active ones with their counts, DELETE
// turns them all off, DELETE /faults/ID one.
func (s *Server) faultsHandler(mux *http.ServeMux) {
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.faults.List(time.Now()))
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var spec faults.Spec
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			http.Error(w, "body must be a JSON fault: "+err.Error(), http.StatusBadRequest)
			return
		}
		rule, err := spec.Rule(time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id := s.faults.Add(rule)
		s.log.Warn("fault injection on", zap.Int("id", id), zap.String("kind", spec.Kind))
		writeJSON(w, http.StatusCreated, map[string]int{"id": id})
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]int{"removed": s.faults.Clear()})
	})
	mux.HandleFunc("DELETE /faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil || !s.faults.Remove(id) {
			http.Error(w, "no fault "+r.PathValue("id"), http.StatusNotFound)
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"removed": 1})
	})
}
