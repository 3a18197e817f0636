package proxy

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fwdproxy/fwdproxy/capture"
	"github.com/fwdproxy/fwdproxy/digest"
	"github.com/fwdproxy/fwdproxy/exposure"
	"github.com/fwdproxy/fwdproxy/faults"
	"github.com/fwdproxy/fwdproxy/proxy/statuspage"
)

// AdminHandler serves the admin API: status, the forwarding switch, health
// and Prometheus metrics, behind adminGuard.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.Metrics.Handler())
	mux.Handle("/", statuspage.Handler())
	if s.conf().AdminPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
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
		if err := s.SetForwarding(*req.Enabled); err != nil {
			http.Error(w, "this instance switched, but the shared switch on the writer did not: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, http.StatusOK, s.Status())
	})
	s.faultsHandler(mux)
	mux.HandleFunc("GET /sessions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Sessions())
	})
	mux.HandleFunc("POST /sessions/{id}/kill", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 32)
		if err != nil || !s.KillSession(uint32(id)) {
			http.Error(w, "no session "+r.PathValue("id"), http.StatusNotFound)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"killed": id})
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
	return s.adminGuard(mux)
}

// adminGuard lets a request through to the admin API only if
//   - it carries the admin token, when there is one (the probes /healthz and
//     /readyz need none);
//   - without a token (loopback only), it names the host as a loopback
//     address or localhost, so that a web page whose name resolves to
//     127.0.0.1 (DNS rebinding) cannot reach it;
//   - it changes nothing, or it is application/json and not from another
//     origin: a web page can send a cross-origin text/plain or form POST
//     without asking first, but not a JSON one.
func (s *Server) adminGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := s.conf().AdminToken
		probe := r.URL.Path == "/healthz" || r.URL.Path == "/readyz"
		switch {
		case token != "" && !probe && !hasToken(r, token):
			w.Header().Set("WWW-Authenticate", `Basic realm="fwdproxy admin", charset="UTF-8"`)
			http.Error(w, "the admin API needs its token: Authorization: Bearer TOKEN", http.StatusUnauthorized)
		case token == "" && !loopbackHost(r.Host):
			http.Error(w, fmt.Sprintf("Host %q is not a loopback address; without --admin-token the admin API answers only to 127.0.0.1, [::1] or localhost", r.Host), http.StatusForbidden)
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			next.ServeHTTP(w, r)
		case !isJSON(r.Header.Get("Content-Type")):
			http.Error(w, "a request that changes state must be Content-Type: application/json", http.StatusUnsupportedMediaType)
		case crossOrigin(r):
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// hasToken says the request carries the token as a bearer token or as the
// password of basic auth (any user name), compared in constant time.
func hasToken(r *http.Request, token string) bool {
	got, ok := "", false
	if _, pass, basic := r.BasicAuth(); basic {
		got, ok = pass, true
	} else if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ") {
		got, ok = strings.TrimSpace(auth[7:]), true
	}
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// crossOrigin says a browser sent the request from a page of another origin
// than the admin address it went to.
func crossOrigin(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false // not a browser's cross-origin request
	}
	u, err := url.Parse(origin)
	return err != nil || !strings.EqualFold(u.Host, r.Host)
}

// IsLoopback says an address HOST:PORT can be reached from this machine
// only: a loopback IP or localhost. An empty host (":4001") is every
// interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && loopbackName(host)
}

// loopbackHost is IsLoopback for an HTTP Host header, whose port is optional.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return loopbackName(strings.Trim(host, "[]"))
}

func loopbackName(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
	// Readers: each of several --reader (absent with one).
	Readers []ReaderStatus `json:"readers,omitempty"`
	// ReaderHealth: with one --reader, its state and lag (absent with
	// several: each has them in Readers). Asking keeps it watched a minute.
	ReaderHealth *ReaderHealth `json:"reader_health,omitempty"`
	// Topology: --topology-file's JSON as it is now (the sandbox's
	// servers and links), or {"error": ...} when it cannot be read.
	Topology json.RawMessage `json:"topology,omitempty"`
	// Digests: the statement digests run most often (--digest-top).
	Digests []digest.Stats `json:"digests,omitempty"`
	// Writers: with several --writer candidates, who is the writer, what
	// each candidate said, and the changes seen.
	Writers *WriterStatus `json:"writers,omitempty"`
	// Instances: the fwdproxy instances in front of the writer, this one
	// included, by the instance locks they hold there (0: not looked).
	Instances int64 `json:"instances,omitempty"`
	// SharedWriterLimits: the cap and the forwarding switch are kept on
	// the writer, for every instance.
	SharedWriterLimits bool `json:"shared_writer_limits"`
	// StatusVariables: what SHOW STATUS answers (Aurora_fwd_* and the
	// proxy's own counters), for the status page and scripts.
	StatusVariables map[string]uint64 `json:"status_variables"`
	// Faults: the failures turned on through POST /faults, with their
	// counts (each kind's total is Fwdproxy_faults_injected_* above).
	Faults []faults.Status `json:"faults,omitempty"`
	// Accounts: with --accounts writer, the accounts loaded from the writer.
	Accounts *AccountsStatus `json:"accounts,omitempty"`
	// Capture: --capture-file's records and bytes, and whether it stopped
	// at its size limit.
	Capture *capture.Stats `json:"capture,omitempty"`
}

// AccountsStatus is the last load of the writer's accounts.
type AccountsStatus struct {
	Loaded   int       `json:"loaded"`
	LoadedAt time.Time `json:"loaded_at"` // zero: none yet
}

func (s *Server) Status() Status {
	s.mu.Lock()
	n := len(s.sessions)
	s.mu.Unlock()
	st := s.ForwardingStatus()
	var ws *WriterStatus
	if s.watch != nil {
		ws = s.watch.status()
	}
	vars := map[string]uint64{}
	for _, r := range s.Metrics.StatusRows() {
		if n, err := strconv.ParseUint(r[1], 10, 64); err == nil {
			vars[r[0]] = n
		}
	}
	var as *AccountsStatus
	if s.accounts != nil {
		as = &AccountsStatus{Loaded: s.accounts.Len(), LoadedAt: s.accounts.LoadedAt()}
	}
	return Status{
		Accounts:                    as,
		StatusVariables:             vars,
		Writers:                     ws,
		Instances:                   s.fwdSwitch.instances.Load(),
		SharedWriterLimits:          s.conf().SharedWriterLimits,
		GlobalWriteForwardingStatus: st,
		Flavor:                      s.flavor.Name(),
		Writer:                      s.writerAddr(),
		Reader:                      s.conf().Reader,
		ReaderVersion:               s.version,
		DefaultConsistency:          s.conf().DefaultConsistency,
		WriterIdleTimeout:           s.conf().WriterIdleTimeout,
		WriterMaxConnectionsPct:     s.conf().WriterMaxConnectionsPct,
		WriterSessionLimit:          s.writerLimit.Load(),
		WriterSessions:              s.writerSessions.Load(),
		ClientSessions:              n,
		PushTracking:                s.track.state(),
		Readers:                     s.readers.status(),
		ReaderHealth:                s.health(),
		Topology:                    readTopology(s.conf().TopologyFile),
		Digests:                     s.topDigests(),
		Faults:                      s.faults.List(time.Now()),
		Capture:                     s.captureStats(),
	}
}

// readTopology is the JSON of file, read now: the sandbox rewrites it
// when a writer change moves a link. nil for no file.
func readTopology(file string) json.RawMessage {
	if file == "" {
		return nil
	}
	b, err := os.ReadFile(file)
	if err == nil && !json.Valid(b) {
		err = errors.New("not JSON")
	}
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": fmt.Sprintf("--topology-file %s: %v", file, err)})
	}
	return b
}

// AuditSummary is the audit-mode findings grouped by digest (nil when not
// in audit mode).
func (s *Server) AuditSummary() []AuditEntry {
	if s.audit == nil {
		return nil
	}
	return s.audit.Summary()
}

// Exposure is audit mode's stale-read report (empty when not in audit
// mode).
func (s *Server) Exposure() exposure.Report {
	if s.audit == nil {
		return exposure.Report{}
	}
	return s.audit.exposure.Report()
}

// Ready reports whether both backends accept connections.
func (s *Server) Ready() error {
	if s.unready.Load() {
		return errShuttingDown
	}
	for _, a := range []string{s.writerAddr(), s.conf().Reader} {
		if a == "" {
			return errNoWriter
		}
		if err := reachable(a, 2*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// reachable: addr accepts a connection within d.
func reachable(addr string, d time.Duration) error {
	c, err := dialAddr(addr, d)
	if err == nil {
		c.Close()
	}
	return err
}

var errShuttingDown = errors.New("shutting down")

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
