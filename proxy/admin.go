package proxy

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"time"
)

// AdminHandler serves the admin API: status, the forwarding switch, health
// and Prometheus metrics.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.Metrics.Handler())
	// Profiles for whoever can reach the admin address (loopback by default).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/heap", pprof.Index)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Status())
	})
	mux.HandleFunc("/forwarding", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST {\"enabled\": bool}", http.StatusMethodNotAllowed)
			return
		}
		var req struct {
			Enabled *bool `json:"enabled"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Enabled == nil {
			http.Error(w, "body must be {\"enabled\": true|false}", http.StatusBadRequest)
			return
		}
		s.SetForwarding(*req.Enabled)
		writeJSON(w, http.StatusOK, s.Status())
	})
	if s.audit != nil {
		mux.HandleFunc("/audit", s.audit.handler)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}

// Status is the JSON of GET /status. Passwords never appear in it.
type Status struct {
	GlobalWriteForwardingStatus string `json:"GlobalWriteForwardingStatus"`
	Flavor                      string `json:"flavor"`
	Writer                      string `json:"writer"`
	Reader                      string `json:"reader"`
	ReaderVersion               string `json:"reader_version"`
	DefaultConsistency          string `json:"default_consistency"`
	WriterIdleTimeout           int    `json:"aurora_fwd_writer_idle_timeout"`
	WriterMaxConnectionsPct     int    `json:"aurora_fwd_writer_max_connections_pct"`
	WriterSessionLimit          int64  `json:"writer_session_limit"`
	WriterSessions              int64  `json:"writer_sessions"`
	ClientSessions              int    `json:"client_sessions"`
	// PushTracking: off, idle, starting or running (it runs while some
	// session reads at SESSION or GLOBAL).
	PushTracking string `json:"push_tracking"`
}

func (s *Server) Status() Status {
	s.mu.Lock()
	n := len(s.sessions)
	s.mu.Unlock()
	st := s.ForwardingStatus()
	return Status{
		GlobalWriteForwardingStatus: st,
		Flavor:                      s.flavor.Name(),
		Writer:                      s.conf().Writer,
		Reader:                      s.conf().Reader,
		ReaderVersion:               s.version,
		DefaultConsistency:          s.conf().DefaultConsistency,
		WriterIdleTimeout:           s.conf().WriterIdleTimeout,
		WriterMaxConnectionsPct:     s.conf().WriterMaxConnectionsPct,
		WriterSessionLimit:          s.writerLimit.Load(),
		WriterSessions:              s.writerSessions.Load(),
		ClientSessions:              n,
		PushTracking:                s.track.state(),
	}
}

// AuditSummary is the audit-mode findings grouped by digest (nil when not
// in audit mode).
func (s *Server) AuditSummary() []AuditEntry {
	if s.audit == nil {
		return nil
	}
	return s.audit.Summary()
}

// Ready reports whether both backends accept connections.
func (s *Server) Ready() error {
	for _, a := range []string{s.conf().Writer, s.conf().Reader} {
		c, err := dialAddr(a, 2*time.Second)
		if err != nil {
			return err
		}
		c.Close()
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
