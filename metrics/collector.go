package metrics

import (
	"sync/atomic"

	"github.com/fwdproxy/fwdproxy/faults"

	"github.com/prometheus/client_golang/prometheus"
)

// Plain counters and gauges are read from the atomics at scrape time, so SHOW STATUS and
// /metrics show one source of truth and counting does not pay for a second copy.
var (
	descReplicaOpen = prometheus.NewDesc("fwdproxy_replica_open_sessions",
		"Client sessions holding a forwarding (writer) connection (Aurora_fwd_replica_open_sessions).", nil, nil)
	descWriterOpen = prometheus.NewDesc("fwdproxy_writer_open_sessions",
		"Writer connections open for forwarding (Aurora_fwd_writer_open_sessions).", nil, nil)
	descReplicaErrors = prometheus.NewDesc("fwdproxy_replica_errors_total",
		"Forwarding errors on the client side by kind (Aurora_fwd_replica_errors_*).", []string{"kind"}, nil)
	descWriterErrors = prometheus.NewDesc("fwdproxy_writer_errors_total",
		"Forwarding errors on the writer side by kind (Aurora_fwd_writer_errors_*).", []string{"kind"}, nil)
	descWaitTimeouts = prometheus.NewDesc("fwdproxy_read_wait_timeouts_total",
		"Consistency waits that timed out, by the action taken.", []string{"action"}, nil)
	descRejected = prometheus.NewDesc("fwdproxy_rejected_statements_total",
		"Statements the proxy refused, by MySQL error code.", []string{"code"}, nil)
	descClientsOpen = prometheus.NewDesc("fwdproxy_client_connections_open",
		"Client connections open.", nil, nil)
	descClientsTotal = prometheus.NewDesc("fwdproxy_client_connections_total",
		"Client connections accepted.", nil, nil)
	descGlobalLookups = prometheus.NewDesc("fwdproxy_global_position_lookups_total",
		"Writer position look-ups made for GLOBAL reads.", nil, nil)
	descIsolationWarns = prometheus.NewDesc("fwdproxy_isolation_level_warnings_total",
		"Forwarded statements run at REPEATABLE READ under another session isolation level.", nil, nil)
	descLimited = prometheus.NewDesc("fwdproxy_limited_total",
		"Client connections and commands stopped by a limit (docs/operations.md), by limit.", []string{"limit"}, nil)
	descAcceptErrors = prometheus.NewDesc("fwdproxy_accept_errors_total",
		"Failed accepts of client connections (EMFILE, ENFILE, …); the proxy backs off and accepts again.", nil, nil)
	descInjected = prometheus.NewDesc("fwdproxy_faults_injected_total",
		"Failures injected on demand (POST /faults, fwdproxy_inject_fault), by kind.", []string{"kind"}, nil)
	descHostsBlocked = prometheus.NewDesc("fwdproxy_hosts_blocked_total",
		"Client addresses blocked after --max-connect-errors failed logins.", nil, nil)
)

type collector struct{ m *Metrics }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descReplicaOpen, descWriterOpen, descReplicaErrors, descWriterErrors, descWaitTimeouts,
		descRejected, descClientsOpen, descClientsTotal, descGlobalLookups, descIsolationWarns,
		descLimited, descAcceptErrors, descHostsBlocked, descInjected,
	} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	counter := func(d *prometheus.Desc, v *atomic.Uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v.Load()), labels...)
	}
	gauge := func(d *prometheus.Desc, v *padded) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v.v.Load()))
	}
	gauge(descReplicaOpen, &m.replicaOpen)
	gauge(descWriterOpen, &m.writerOpen)
	counter(descReplicaErrors, &m.replicaErrLimit, "session_limit")
	counter(descReplicaErrors, &m.replicaErrTerm, "session_terminated")
	counter(descReplicaErrors, &m.replicaErrRPC, "rpc_timeout")
	counter(descWriterErrors, &m.writerErrTimeout, "session_timeout")
	counter(descWriterErrors, &m.writerErrLimit, "session_limit")
	counter(descWriterErrors, &m.writerErrRPC, "rpc_timeout")
	counter(descWaitTimeouts, &m.waitTimeoutErr, ReadWaitActionError)
	counter(descWaitTimeouts, &m.waitTimeoutWrt, ReadWaitActionWriter)
	counter(descWaitTimeouts, &m.waitTimeoutOth, "other")
	for k := range m.rejected {
		counter(descRejected, &m.rejected[k], rejectLabel(k))
	}
	gauge(descClientsOpen, &m.clientsOpen)
	counter(descClientsTotal, &m.clientsTotal)
	counter(descGlobalLookups, &m.globalLookups)
	counter(descIsolationWarns, &m.isolationWarns)
	for k := range m.limited {
		counter(descLimited, &m.limited[k], limitNames[k])
	}
	counter(descAcceptErrors, &m.acceptErrors)
	counter(descHostsBlocked, &m.hostsBlocked)
	for k := range m.injected {
		counter(descInjected, &m.injected[k], faults.Names[k])
	}
}
