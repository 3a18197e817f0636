package proxy

import (
	"encoding/binary"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fwdproxy/fwdproxy/exposure"
	"github.com/fwdproxy/fwdproxy/proxy/wire"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// Audit mode (`serve --audit`): the proxy sits in front of today's writer
// only and passes every command through unchanged, while a model of a
// forwarding session (lint's, on route.Decide like the proxy) says what write
// forwarding would reject or change. Findings are grouped by statement
// digest for GET /audit and counted in /metrics.

// AuditModel follows one client session's commands as they pass. The command
// wires in lint.NewAuditor, so proxy does not depend on lint.
type AuditModel interface {
	Query(sql string)   // a COM_QUERY text
	Prepare(sql string) // a COM_STMT_PREPARE text
	Execute(sql string) // a COM_STMT_EXECUTE of that text
	UseDB(db string)    // COM_INIT_DB
}

// NewAuditModel starts a model for one session; it calls emit with each
// finding.
type NewAuditModel func(emit func(AuditFinding)) AuditModel

// AuditFinding is one statement write forwarding would reject (Code is the
// MySQL error) or change (Code 0, Severity "warning").
type AuditFinding struct {
	Statement string
	Code      int
	Severity  string
	Operation string
	Why       string
	Message   string
}

// AuditEntry is one digest's summary.
type AuditEntry struct {
	Digest    string    `json:"digest"`
	Count     uint64    `json:"count"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Example   string    `json:"example"`
	Code      int       `json:"code"`
	Severity  string    `json:"severity"`
	Operation string    `json:"operation"`
	Why       string    `json:"why"`
	Message   string    `json:"message,omitempty"`
}

type auditStore struct {
	mu       sync.Mutex
	entries  map[string]*AuditEntry
	counter  *prometheus.CounterVec
	exposure *exposureStore
}

func newAuditStore(reg *prometheus.Registry, lag time.Duration) *auditStore {
	a := &auditStore{entries: map[string]*AuditEntry{}, exposure: newExposureStore(reg, lag)}
	a.counter = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fwdproxy_audit_findings_total",
		Help: "Statements write forwarding would reject (by error code) or change (code 0, severity warning), seen in audit mode.",
	}, []string{"code", "severity", "operation"})
	reg.MustRegister(a.counter)
	return a
}

func (a *auditStore) add(f AuditFinding) {
	a.counter.WithLabelValues(itoa(f.Code), f.Severity, f.Operation).Inc()
	d := sqlclass.Digest(f.Statement, sqlclass.Options{})
	key := d + "\x00" + itoa(f.Code) + "\x00" + f.Operation
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.entries[key]
	if e == nil {
		e = &AuditEntry{Digest: d, FirstSeen: now, Example: f.Statement, Code: f.Code, Severity: f.Severity,
			Operation: f.Operation, Why: f.Why, Message: f.Message}
		a.entries[key] = e
	}
	e.Count++
	e.LastSeen = now
}

// Summary lists the entries, rejections first, then by count.
func (a *auditStore) Summary() []AuditEntry {
	a.mu.Lock()
	out := make([]AuditEntry, 0, len(a.entries))
	for _, e := range a.entries {
		out = append(out, *e)
	}
	a.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Code != 0) != (out[j].Code != 0) {
			return out[i].Code != 0
		}
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Digest < out[j].Digest
	})
	return out
}

// AuditReport is GET /audit: what forwarding would reject or change, and
// which reads it would serve stale at EVENTUAL.
type AuditReport struct {
	Findings []AuditEntry    `json:"findings"`
	Exposure exposure.Report `json:"exposure"`
}

func (a *auditStore) handler(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, AuditReport{Findings: a.Summary(), Exposure: a.exposure.Report()})
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// startAudit starts the session's models: what forwarding would reject or
// change, and which reads EVENTUAL would serve stale.
func (s *session) startAudit() {
	s.exposure = s.newExposure()
	s.auditor = auditModels{s.srv.conf().AuditModel(s.srv.audit.add), s.exposure.model}
}

// auditModels feeds each command to every model.
type auditModels []AuditModel

func (m auditModels) each(f func(AuditModel)) {
	for _, x := range m {
		f(x)
	}
}

func (m auditModels) Query(sql string)   { m.each(func(x AuditModel) { x.Query(sql) }) }
func (m auditModels) Prepare(sql string) { m.each(func(x AuditModel) { x.Prepare(sql) }) }
func (m auditModels) Execute(sql string) { m.each(func(x AuditModel) { x.Execute(sql) }) }
func (m auditModels) UseDB(db string)    { m.each(func(x AuditModel) { x.UseDB(db) }) }

// auditDispatch passes one command through to the writer after the models
// have seen it.
func (s *session) auditDispatch(data []byte) error {
	s.exposure.at = time.Now()
	switch data[0] {
	case comQuery:
		s.auditor.Query(string(data[1:]))
	case comInitDB:
		s.auditor.UseDB(string(data[1:]))
	case comRefresh:
		s.auditor.Query("FLUSH") // forwarding refuses it as FLUSH
	case comStmtPrepare:
		s.auditor.Prepare(string(data[1:]))
		return s.auditPrepare(data)
	case comStmtExecute, comStmtBulkExecute:
		if len(data) >= 5 {
			id := binary.LittleEndian.Uint32(data[1:])
			if id == lastStmt {
				id = s.auditLast
			}
			if sql, ok := s.auditStmts[id]; ok {
				s.auditor.Execute(sql)
			}
		}
	case comStmtClose, comStmtSendLong:
		if data[0] == comStmtClose && len(data) >= 5 {
			delete(s.auditStmts, binary.LittleEndian.Uint32(data[1:]))
		}
		if err := s.reader.send(data); err != nil {
			return s.backendFailed(s.reader, err)
		}
		return nil // no reply
	case comStmtFetch:
		if err := s.reader.send(data); err != nil {
			return s.backendFailed(s.reader, err)
		}
		r := wire.NewRelay(s.reader.conn, s.client, comStmtFetch, false)
		if _, err := r.Next(); err != nil {
			return s.checkRelay(s.reader, err)
		}
		return r.WriteEnd() // the EOF or ERR as it came
	case comChangeUser:
		s.startAudit()
		if err := s.comChangeUser(data); err != nil {
			return err
		}
		return s.auditTracking()
	case comResetConnection:
		s.startAudit()
		s.auditStmts = map[uint32]string{}
		if err := s.relayCommand(s.reader, data); err != nil {
			return err
		}
		return s.auditTracking()
	}
	if err := s.reader.ask(data); err != nil {
		return s.backendFailed(s.reader, err)
	}
	res, err := s.relay(s.reader, data[0], false)
	s.exposure.replied(s, res.ok.stateInfo)
	return s.checkRelay(s.reader, err)
}

// auditTracking asks the writer to report the session's own GTIDs in its
// OK packets, as a forwarding writer connection does, so that exposure
// knows when the session's writes commit. A reset connection forgets it.
func (s *session) auditTracking() error {
	for _, q := range s.srv.flavor.TrackingSetupSQL() {
		if _, err := s.reader.exec(q); err != nil {
			return err
		}
	}
	return nil
}

// auditPrepare relays a prepare and remembers the statement's text by id.
func (s *session) auditPrepare(data []byte) error {
	if err := s.reader.send(data); err != nil {
		return s.backendFailed(s.reader, err)
	}
	r := wire.NewRelay(s.reader.conn, s.client, comStmtPrepare, false)
	s.auditLast = 0
	part, err := r.Next()
	if err != nil {
		return s.backendFailed(s.reader, err)
	}
	if err := s.writePacket(r.Packet); err != nil || part == wire.PartErr {
		return err
	}
	s.auditStmts[r.Prepared.ID], s.auditLast = string(data[1:]), r.Prepared.ID
	_, err = r.Next() // the parameter and column definitions
	return s.checkRelay(s.reader, err)
}
