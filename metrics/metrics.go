// Package metrics holds fwdproxy's figures: the Aurora_fwd_* status variables that SHOW STATUS
// answers under Aurora's names, a few proxy-only figures, and their Prometheus form for /metrics.
//
// Counting is lock-free and allocation-free: atomics for the Aurora figures and prebuilt
// histogram observers, so a statement costs a few atomic adds. Reading (SHOW STATUS, a scrape)
// is the slow side and may allocate.
package metrics

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fwdproxy/fwdproxy/faults"
)

// Read-wait timeout actions: a read whose consistency wait times out either gets an error or
// is served from the writer, as configured; each is counted.
const (
	ReadWaitActionError  = "error"
	ReadWaitActionWriter = "writer"
)

// rejectCodes are the error codes Rejected counts by name; any other code is counted as "other".
// Fixed so the hot path never creates a series.
var rejectCodes = [...]uint16{1040, 1231, 1235, 1238, 1290, 1766, 1792}

// Limit is one of the proxy's client limits (docs/operations.md); Limited counts the client
// connections and commands each one stopped.
type Limit int

// The limits, in the order of limitNames.
const (
	LimitHandshakeTimeout  Limit = iota // the handshake did not finish within --handshake-timeout
	LimitClientConnections              // 1040: more clients than --max-client-connections
	LimitHostBlocked                    // 1129: a client from an address blocked by --max-connect-errors
	LimitChangeUser                     // 1047: COM_CHANGE_USER after three failed ones on the connection
	LimitPacket                         // 1153: a command bigger than --max-allowed-packet
	LimitShutdown                       // 1053: a new session or transaction during the SIGTERM drain
	LimitProxyHeader                    // closed: a bad or missing PROXY protocol header, or one from an untrusted peer
	numLimits
)

// limitNames label the limits in /metrics and name their Fwdproxy_limited_* rows.
var limitNames = [numLimits]string{
	"handshake_timeout", "max_client_connections", "host_blocked", "change_user", "max_allowed_packet", "shutdown",
	"proxy_header",
}

// Buckets from a loopback round trip (~50 µs) to cross-region waits (seconds).
var latencyBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
}

// timed is one statement kind: Aurora's count and µs total, plus its histogram.
// Padded so figures hit by different sessions do not share a cache line.
type timed struct {
	count atomic.Uint64
	us    atomic.Uint64
	obs   prometheus.Observer
	_     [64]byte
}

func (t *timed) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	t.count.Add(1)
	t.us.Add(uint64(d / time.Microsecond))
	t.obs.Observe(d.Seconds())
}

type padded struct {
	v atomic.Int64
	_ [56]byte
}

// Metrics holds every Aurora_fwd_* figure plus Prometheus histograms. One per proxy process.
type Metrics struct {
	// Reader (replica) side.
	replicaDML      timed
	replicaSelect   timed
	replicaReadWait timed
	replicaOpen     padded
	replicaErrLimit atomic.Uint64
	replicaErrTerm  atomic.Uint64
	replicaErrRPC   atomic.Uint64

	// Writer side.
	writerDML        timed
	writerSelect     timed
	writerOpen       padded
	writerErrTimeout atomic.Uint64
	writerErrLimit   atomic.Uint64
	writerErrRPC     atomic.Uint64

	// Proxy-only figures.
	readReader     timed
	readWriter     timed
	waitTimeoutErr atomic.Uint64
	waitTimeoutWrt atomic.Uint64
	waitTimeoutOth atomic.Uint64
	rejected       [len(rejectCodes) + 1]atomic.Uint64 // last slot: other codes
	clientsOpen    padded
	clientsTotal   atomic.Uint64
	globalLookups  atomic.Uint64
	isolationWarns atomic.Uint64
	limited        [numLimits]atomic.Uint64
	acceptErrors   atomic.Uint64
	hostsBlocked   atomic.Uint64
	injected       [faults.NumKinds]atomic.Uint64

	reg *prometheus.Registry
}

// New builds the figures and a registry holding them.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	hist := func(name, help string) prometheus.Histogram {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: latencyBuckets})
		m.reg.MustRegister(h)
		return h
	}
	m.replicaDML.obs = hist("fwdproxy_replica_dml_duration_seconds",
		"Forwarded DML statements as seen by the client side, end to end (ForwardingReplicaDMLLatency; _count/_sum are Aurora_fwd_replica_dml_stmt_count/_duration).")
	m.replicaSelect.obs = hist("fwdproxy_replica_select_duration_seconds",
		"Forwarded SELECTs (FOR UPDATE, FOR SHARE, …) as seen by the client side (ForwardingReplicaSelectLatency; Aurora_fwd_replica_select_stmt_*).")
	m.replicaReadWait.obs = hist("fwdproxy_replica_read_wait_duration_seconds",
		"Time reads waited for the reader to catch up (ForwardingReplicaReadWaitLatency; Aurora_fwd_replica_read_wait_*).")
	m.writerDML.obs = hist("fwdproxy_writer_dml_duration_seconds",
		"Forwarded DML statements on the writer connection (ForwardingWriterDMLLatency; Aurora_fwd_writer_dml_stmt_*).")
	m.writerSelect.obs = hist("fwdproxy_writer_select_duration_seconds",
		"Forwarded SELECTs on the writer connection (Aurora_fwd_writer_select_stmt_*).")

	reads := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fwdproxy_read_duration_seconds",
		Help:    "Reads by the backend that served them: reader, or writer (read-wait fallback, reads in a forwarded transaction).",
		Buckets: latencyBuckets,
	}, []string{"served_by"})
	m.reg.MustRegister(reads)
	m.readReader.obs = reads.WithLabelValues("reader")
	m.readWriter.obs = reads.WithLabelValues("writer")

	m.reg.MustRegister(&collector{m: m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Reader (replica) side, as Aurora names them.

// ReplicaDML counts a forwarded DML statement, timed as the client saw it.
func (m *Metrics) ReplicaDML(d time.Duration) { m.replicaDML.add(d) }

// ReplicaSelect counts a forwarded SELECT (FOR UPDATE, FOR SHARE, …).
func (m *Metrics) ReplicaSelect(d time.Duration) { m.replicaSelect.add(d) }

// ReplicaReadWait counts a read that waited for replication, and how long.
func (m *Metrics) ReplicaReadWait(d time.Duration) { m.replicaReadWait.add(d) }

// ReplicaSessionOpened marks a session that now holds a forwarding (writer) connection.
func (m *Metrics) ReplicaSessionOpened() { m.replicaOpen.v.Add(1) }

// ReplicaSessionClosed undoes ReplicaSessionOpened.
func (m *Metrics) ReplicaSessionClosed() { m.replicaOpen.v.Add(-1) }

// ReplicaErrorSessionLimit counts a 1040 given because the sessions holding a writer connection
// reached aurora_fwd_writer_max_connections_pct of the writer's max_connections.
func (m *Metrics) ReplicaErrorSessionLimit() { m.replicaErrLimit.Add(1) }

// ReplicaErrorSessionTerminated counts a forwarded session ended by the writer side.
func (m *Metrics) ReplicaErrorSessionTerminated() { m.replicaErrTerm.Add(1) }

// ReplicaErrorRPCTimeout counts a forwarded statement that could not reach the writer.
func (m *Metrics) ReplicaErrorRPCTimeout() { m.replicaErrRPC.Add(1) }

// Writer side.

// WriterDML counts a forwarded DML statement, timed on the writer connection only.
func (m *Metrics) WriterDML(d time.Duration) { m.writerDML.add(d) }

// WriterSelect counts a forwarded SELECT, timed on the writer connection only.
func (m *Metrics) WriterSelect(d time.Duration) { m.writerSelect.add(d) }

// WriterSessionOpened marks a writer connection opened for forwarding.
func (m *Metrics) WriterSessionOpened() { m.writerOpen.v.Add(1) }

// WriterSessionClosed undoes WriterSessionOpened.
func (m *Metrics) WriterSessionClosed() { m.writerOpen.v.Add(-1) }

// WriterErrorSessionTimeout counts a writer connection closed by aurora_fwd_writer_idle_timeout.
func (m *Metrics) WriterErrorSessionTimeout() { m.writerErrTimeout.Add(1) }

// WriterErrorSessionLimit counts a writer connection refused by the connection limit.
func (m *Metrics) WriterErrorSessionLimit() { m.writerErrLimit.Add(1) }

// WriterErrorRPCTimeout counts a forwarded statement that timed out on the writer.
func (m *Metrics) WriterErrorRPCTimeout() { m.writerErrRPC.Add(1) }

// Proxy-only figures.

// ReadServedByReader counts a read served by the reader (the normal case), and its latency.
func (m *Metrics) ReadServedByReader(d time.Duration) { m.readReader.add(d) }

// ReadServedByWriter counts a read the proxy served from the writer (read-wait fallback,
// SESSION/GLOBAL reads inside a forwarded transaction, LAST_INSERT_ID(), ROW_COUNT() or
// SHOW WARNINGS after a forwarded statement), not a locking SELECT.
func (m *Metrics) ReadServedByWriter(d time.Duration) { m.readWriter.add(d) }

// ReadWaitTimeout counts a consistency wait that timed out, by the action taken
// (ReadWaitActionError or ReadWaitActionWriter; anything else counts as "other").
func (m *Metrics) ReadWaitTimeout(action string) {
	switch action {
	case ReadWaitActionError:
		m.waitTimeoutErr.Add(1)
	case ReadWaitActionWriter:
		m.waitTimeoutWrt.Add(1)
	default:
		m.waitTimeoutOth.Add(1)
	}
}

// Rejected counts a statement the proxy refused with code (1235, 1290, 1792, 1040, …).
func (m *Metrics) Rejected(code uint16) {
	for i, c := range rejectCodes {
		if c == code {
			m.rejected[i].Add(1)
			return
		}
	}
	m.rejected[len(rejectCodes)].Add(1)
}

// ClientConnected counts an accepted client connection.
func (m *Metrics) ClientConnected() {
	m.clientsOpen.v.Add(1)
	m.clientsTotal.Add(1)
}

// ClientDisconnected undoes the open part of ClientConnected.
func (m *Metrics) ClientDisconnected() { m.clientsOpen.v.Add(-1) }

// GlobalPositionLookup counts one look-up of the writer's position for GLOBAL reads; one look-up
// serves every GLOBAL read that arrived before it started, so it is fewer than the GLOBAL reads.
func (m *Metrics) GlobalPositionLookup() { m.globalLookups.Add(1) }

// IsolationWarning counts a forwarded statement run at REPEATABLE READ under another
// session isolation level: forwarded work always runs at REPEATABLE READ, as on Aurora, and
// the first such statement also gets a warning.
func (m *Metrics) IsolationWarning() { m.isolationWarns.Add(1) }

// FaultInjected counts a failure injected on demand (package faults).
func (m *Metrics) FaultInjected(k faults.Kind) { m.injected[k].Add(1) }

// Limited counts a client connection or command that limit l stopped.
func (m *Metrics) Limited(l Limit) { m.limited[l].Add(1) }

// AcceptFailed counts a failed accept of a client connection (EMFILE, ENFILE, …), after which
// the proxy backs off and accepts again.
func (m *Metrics) AcceptFailed() { m.acceptErrors.Add(1) }

// HostBlocked counts a client address blocked after --max-connect-errors failed logins.
func (m *Metrics) HostBlocked() { m.hostsBlocked.Add(1) }

// auroraNames are Aurora's write-forwarding status variables, as SHOW STATUS lists them:
// reader side, then writer side.
var auroraNames = [...]string{
	"Aurora_fwd_replica_dml_stmt_count",
	"Aurora_fwd_replica_dml_stmt_duration",
	"Aurora_fwd_replica_select_stmt_count",
	"Aurora_fwd_replica_select_stmt_duration",
	"Aurora_fwd_replica_read_wait_count",
	"Aurora_fwd_replica_read_wait_duration",
	"Aurora_fwd_replica_open_sessions",
	"Aurora_fwd_replica_errors_session_limit",
	"Aurora_fwd_replica_errors_session_terminated",
	"Aurora_fwd_replica_errors_rpc_timeout",
	"Aurora_fwd_writer_dml_stmt_count",
	"Aurora_fwd_writer_dml_stmt_duration",
	"Aurora_fwd_writer_select_stmt_count",
	"Aurora_fwd_writer_select_stmt_duration",
	"Aurora_fwd_writer_open_sessions",
	"Aurora_fwd_writer_errors_session_timeout",
	"Aurora_fwd_writer_errors_session_limit",
	"Aurora_fwd_writer_errors_rpc_timeout",
}

// StatusRows returns (Variable_name, Value) pairs in a stable order: every Aurora_fwd_* name
// with live values, then the Fwdproxy_* extras. Durations are cumulative µs.
func (m *Metrics) StatusRows() [][2]string {
	u := func(v *atomic.Uint64) string { return strconv.FormatUint(v.Load(), 10) }
	i := func(v *padded) string { return strconv.FormatInt(v.v.Load(), 10) }
	vals := [len(auroraNames)]string{
		u(&m.replicaDML.count), u(&m.replicaDML.us),
		u(&m.replicaSelect.count), u(&m.replicaSelect.us),
		u(&m.replicaReadWait.count), u(&m.replicaReadWait.us),
		i(&m.replicaOpen),
		u(&m.replicaErrLimit), u(&m.replicaErrTerm), u(&m.replicaErrRPC),
		u(&m.writerDML.count), u(&m.writerDML.us),
		u(&m.writerSelect.count), u(&m.writerSelect.us),
		i(&m.writerOpen),
		u(&m.writerErrTimeout), u(&m.writerErrLimit), u(&m.writerErrRPC),
	}
	rows := make([][2]string, 0, len(auroraNames)+16+len(m.rejected)+len(m.limited)+len(m.injected))
	for k, n := range auroraNames {
		rows = append(rows, [2]string{n, vals[k]})
	}
	rows = append(rows,
		[2]string{"Fwdproxy_client_connections_open", i(&m.clientsOpen)},
		[2]string{"Fwdproxy_client_connections_total", u(&m.clientsTotal)},
		[2]string{"Fwdproxy_reads_reader_count", u(&m.readReader.count)},
		[2]string{"Fwdproxy_reads_reader_duration", u(&m.readReader.us)},
		[2]string{"Fwdproxy_reads_writer_count", u(&m.readWriter.count)},
		[2]string{"Fwdproxy_reads_writer_duration", u(&m.readWriter.us)},
		[2]string{"Fwdproxy_read_wait_timeouts_error", u(&m.waitTimeoutErr)},
		[2]string{"Fwdproxy_read_wait_timeouts_writer", u(&m.waitTimeoutWrt)},
		[2]string{"Fwdproxy_read_wait_timeouts_other", u(&m.waitTimeoutOth)},
		[2]string{"Fwdproxy_global_position_lookups", u(&m.globalLookups)},
		[2]string{"Fwdproxy_isolation_level_warnings", u(&m.isolationWarns)},
		[2]string{"Fwdproxy_accept_errors", u(&m.acceptErrors)},
		[2]string{"Fwdproxy_hosts_blocked", u(&m.hostsBlocked)},
	)
	for k := range m.limited {
		rows = append(rows, [2]string{"Fwdproxy_limited_" + limitNames[k], u(&m.limited[k])})
	}
	for k := range m.rejected {
		rows = append(rows, [2]string{"Fwdproxy_rejected_" + rejectLabel(k), u(&m.rejected[k])})
	}
	for k := range m.injected {
		rows = append(rows, [2]string{"Fwdproxy_faults_injected_" + faults.Names[k], u(&m.injected[k])})
	}
	return rows
}

// rejectLabel names slot k of m.rejected.
func rejectLabel(k int) string {
	if k < len(rejectCodes) {
		return strconv.Itoa(int(rejectCodes[k]))
	}
	return "other"
}

// Registry returns the registry with every figure, plus Go and process collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves Registry in the Prometheus exposition format, for /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
