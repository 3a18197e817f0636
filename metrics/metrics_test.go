package metrics

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/fwdproxy/fwdproxy/faults"
)

// specAuroraNames is Aurora's list of write-forwarding status variables, spelled out here
// independently of the package.
var specAuroraNames = []string{
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

func rowsMap(rows [][2]string) map[string]string {
	m := make(map[string]string, len(rows))
	for _, r := range rows {
		m[r[0]] = r[1]
	}
	return m
}

func TestStatusRows(t *testing.T) {
	m := New()
	rows := m.StatusRows()
	if len(rows) < len(specAuroraNames) {
		t.Fatalf("got %d rows", len(rows))
	}
	for k, name := range specAuroraNames {
		if rows[k][0] != name {
			t.Errorf("row %d = %q, want %q", k, rows[k][0], name)
		}
		if rows[k][1] != "0" {
			t.Errorf("%s starts at %q", name, rows[k][1])
		}
	}
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r[0]] {
			t.Errorf("duplicate row %s", r[0])
		}
		seen[r[0]] = true
		if !strings.HasPrefix(r[0], "Aurora_fwd_") && !strings.HasPrefix(r[0], "Fwdproxy_") {
			t.Errorf("row %q is neither Aurora_fwd_* nor Fwdproxy_*", r[0])
		}
	}
	if got := auroraNames[:]; strings.Join(got, ",") != strings.Join(specAuroraNames, ",") {
		t.Errorf("auroraNames = %v", got)
	}

	m.ReplicaDML(1500 * time.Microsecond)
	m.ReplicaDML(2500 * time.Microsecond)
	m.ReplicaSelect(7 * time.Millisecond)
	m.ReplicaReadWait(300 * time.Microsecond)
	m.ReplicaSessionOpened()
	m.ReplicaSessionOpened()
	m.ReplicaSessionClosed()
	m.ReplicaErrorSessionLimit()
	m.ReplicaErrorSessionTerminated()
	m.ReplicaErrorSessionTerminated()
	m.ReplicaErrorRPCTimeout()
	m.WriterDML(900 * time.Microsecond)
	m.WriterSelect(2 * time.Second)
	m.WriterSessionOpened()
	m.WriterErrorSessionTimeout()
	m.WriterErrorSessionLimit()
	m.WriterErrorRPCTimeout()
	m.WriterErrorRPCTimeout()
	m.WriterErrorRPCTimeout()
	m.ReadServedByReader(40 * time.Microsecond)
	m.ReadServedByWriter(80 * time.Microsecond)
	m.ReadWaitTimeout(ReadWaitActionError)
	m.ReadWaitTimeout(ReadWaitActionWriter)
	m.ReadWaitTimeout(ReadWaitActionWriter)
	m.ReadWaitTimeout("bogus")
	m.Rejected(1235)
	m.Rejected(1290)
	m.Rejected(1290)
	m.Rejected(9999)
	m.ClientConnected()
	m.ClientConnected()
	m.ClientDisconnected()
	m.GlobalPositionLookup()
	m.IsolationWarning()
	m.Limited(LimitHandshakeTimeout)
	m.Limited(LimitShutdown)
	m.Limited(LimitShutdown)
	m.AcceptFailed()
	m.HostBlocked()
	m.FaultInjected(faults.LagSpike)
	m.FaultInjected(faults.LagSpike)
	m.ReplicaDML(-time.Second) // clock went back: counts, adds nothing

	want := map[string]string{
		"Aurora_fwd_replica_dml_stmt_count":            "3",
		"Aurora_fwd_replica_dml_stmt_duration":         "4000",
		"Aurora_fwd_replica_select_stmt_count":         "1",
		"Aurora_fwd_replica_select_stmt_duration":      "7000",
		"Aurora_fwd_replica_read_wait_count":           "1",
		"Aurora_fwd_replica_read_wait_duration":        "300",
		"Aurora_fwd_replica_open_sessions":             "1",
		"Aurora_fwd_replica_errors_session_limit":      "1",
		"Aurora_fwd_replica_errors_session_terminated": "2",
		"Aurora_fwd_replica_errors_rpc_timeout":        "1",
		"Aurora_fwd_writer_dml_stmt_count":             "1",
		"Aurora_fwd_writer_dml_stmt_duration":          "900",
		"Aurora_fwd_writer_select_stmt_count":          "1",
		"Aurora_fwd_writer_select_stmt_duration":       "2000000",
		"Aurora_fwd_writer_open_sessions":              "1",
		"Aurora_fwd_writer_errors_session_timeout":     "1",
		"Aurora_fwd_writer_errors_session_limit":       "1",
		"Aurora_fwd_writer_errors_rpc_timeout":         "3",
		"Fwdproxy_client_connections_open":             "1",
		"Fwdproxy_client_connections_total":            "2",
		"Fwdproxy_reads_reader_count":                  "1",
		"Fwdproxy_reads_reader_duration":               "40",
		"Fwdproxy_reads_writer_count":                  "1",
		"Fwdproxy_reads_writer_duration":               "80",
		"Fwdproxy_read_wait_timeouts_error":            "1",
		"Fwdproxy_read_wait_timeouts_writer":           "2",
		"Fwdproxy_read_wait_timeouts_other":            "1",
		"Fwdproxy_global_position_lookups":             "1",
		"Fwdproxy_isolation_level_warnings":            "1",
		"Fwdproxy_rejected_1235":                       "1",
		"Fwdproxy_rejected_1290":                       "2",
		"Fwdproxy_rejected_1792":                       "0",
		"Fwdproxy_rejected_1040":                       "0",
		"Fwdproxy_rejected_other":                      "1",
		"Fwdproxy_accept_errors":                       "1",
		"Fwdproxy_hosts_blocked":                       "1",
		"Fwdproxy_limited_handshake_timeout":           "1",
		"Fwdproxy_limited_max_client_connections":      "0",
		"Fwdproxy_limited_host_blocked":                "0",
		"Fwdproxy_limited_change_user":                 "0",
		"Fwdproxy_limited_max_allowed_packet":          "0",
		"Fwdproxy_limited_shutdown":                    "2",
		"Fwdproxy_faults_injected_lag_spike":           "2",
		"Fwdproxy_faults_injected_idle_timeout":        "0",
	}
	after := m.StatusRows()
	got := rowsMap(after)
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %q, want %q", name, got[name], v)
		}
	}
	// Same names, same order, every time.
	for k := range rows {
		if rows[k][0] != after[k][0] {
			t.Fatalf("row %d changed name: %q → %q", k, rows[k][0], after[k][0])
		}
	}
}

// gather collects the registry into name → family.
func gather(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// value finds the sample of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("family %s not registered", name)
	}
next:
	for _, mt := range f.GetMetric() {
		for k, v := range want {
			found := false
			for _, lp := range mt.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return mt
	}
	t.Fatalf("%s%v: no sample", name, want)
	return nil
}

func TestPrometheus(t *testing.T) {
	m := New()
	m.ReplicaDML(2 * time.Millisecond)
	m.ReplicaDML(4 * time.Millisecond)
	m.WriterDML(time.Millisecond)
	m.ReplicaReadWait(time.Second)
	m.ReadServedByReader(100 * time.Microsecond)
	m.ReplicaSessionOpened()
	m.ReplicaErrorSessionLimit()
	m.WriterErrorSessionTimeout()
	m.Rejected(1792)
	m.ReadWaitTimeout(ReadWaitActionWriter)
	m.ClientConnected()
	m.GlobalPositionLookup()
	m.Limited(LimitClientConnections)
	m.AcceptFailed()
	m.FaultInjected(faults.SessionLimit)
	fams := gather(t, m)

	h := value(t, fams, "fwdproxy_replica_dml_duration_seconds", nil).GetHistogram()
	if h.GetSampleCount() != 2 || h.GetSampleSum() < 0.0059 || h.GetSampleSum() > 0.0061 {
		t.Errorf("replica dml histogram count %d sum %g", h.GetSampleCount(), h.GetSampleSum())
	}
	if n := value(t, fams, "fwdproxy_writer_dml_duration_seconds", nil).GetHistogram().GetSampleCount(); n != 1 {
		t.Errorf("writer dml count %d", n)
	}
	if n := value(t, fams, "fwdproxy_replica_read_wait_duration_seconds", nil).GetHistogram().GetSampleCount(); n != 1 {
		t.Errorf("read wait count %d", n)
	}
	if n := value(t, fams, "fwdproxy_read_duration_seconds", map[string]string{"served_by": "reader"}).GetHistogram().GetSampleCount(); n != 1 {
		t.Errorf("reader reads %d", n)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"fwdproxy_replica_errors_total", map[string]string{"kind": "session_limit"}, 1},
		{"fwdproxy_replica_errors_total", map[string]string{"kind": "rpc_timeout"}, 0},
		{"fwdproxy_writer_errors_total", map[string]string{"kind": "session_timeout"}, 1},
		{"fwdproxy_rejected_statements_total", map[string]string{"code": "1792"}, 1},
		{"fwdproxy_rejected_statements_total", map[string]string{"code": "1235"}, 0},
		{"fwdproxy_read_wait_timeouts_total", map[string]string{"action": "writer"}, 1},
		{"fwdproxy_client_connections_total", nil, 1},
		{"fwdproxy_global_position_lookups_total", nil, 1},
		{"fwdproxy_limited_total", map[string]string{"limit": "max_client_connections"}, 1},
		{"fwdproxy_limited_total", map[string]string{"limit": "handshake_timeout"}, 0},
		{"fwdproxy_accept_errors_total", nil, 1},
		{"fwdproxy_hosts_blocked_total", nil, 0},
		{"fwdproxy_faults_injected_total", map[string]string{"kind": "session_limit"}, 1},
		{"fwdproxy_faults_injected_total", map[string]string{"kind": "connection_lost"}, 0},
	} {
		if got := value(t, fams, c.name, c.labels).GetCounter().GetValue(); got != c.want {
			t.Errorf("%s%v = %g, want %g", c.name, c.labels, got, c.want)
		}
	}
	if got := value(t, fams, "fwdproxy_replica_open_sessions", nil).GetGauge().GetValue(); got != 1 {
		t.Errorf("replica open sessions %g", got)
	}
	if fams["go_goroutines"] == nil || fams["process_start_time_seconds"] == nil && fams["process_cpu_seconds_total"] == nil {
		t.Errorf("Go/process collectors missing")
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, s := range []string{
		`fwdproxy_replica_dml_duration_seconds_bucket{le="0.0025"} 1`,
		`fwdproxy_replica_dml_duration_seconds_count 2`,
		`fwdproxy_rejected_statements_total{code="1792"} 1`,
		"# TYPE fwdproxy_writer_open_sessions gauge",
	} {
		if !strings.Contains(string(body), s) {
			t.Errorf("/metrics lacks %q", s)
		}
	}
}

// touchAll moves every figure once.
func touchAll(m *Metrics) {
	m.ReplicaDML(time.Millisecond)
	m.ReplicaSelect(time.Millisecond)
	m.ReplicaReadWait(time.Millisecond)
	m.ReplicaSessionOpened()
	m.ReplicaErrorSessionLimit()
	m.ReplicaErrorSessionTerminated()
	m.ReplicaErrorRPCTimeout()
	m.WriterDML(time.Millisecond)
	m.WriterSelect(time.Millisecond)
	m.WriterSessionOpened()
	m.WriterErrorSessionTimeout()
	m.WriterErrorSessionLimit()
	m.WriterErrorRPCTimeout()
	m.ReadServedByReader(time.Millisecond)
	m.ReadServedByWriter(time.Millisecond)
	m.ReadWaitTimeout(ReadWaitActionError)
	m.Rejected(1235)
	m.ClientConnected()
	m.GlobalPositionLookup()
	m.IsolationWarning()
	m.Limited(LimitPacket)
	m.AcceptFailed()
	m.HostBlocked()
}

func TestDashboardUsesRegisteredMetrics(t *testing.T) {
	raw, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	if p, _ := dash["panels"].([]any); len(p) == 0 {
		t.Fatal("dashboard has no panels")
	}

	m := New()
	touchAll(m)
	series := map[string]bool{}
	for name, f := range gather(t, m) {
		series[name] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				series[name+s] = true
			}
		}
	}

	// Every string in the dashboard (expressions, variable queries) is checked.
	nameRE := regexp.MustCompile(`\b(?:fwdproxy|go|process)_[a-zA-Z0-9_]+`)
	used := 0
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			for _, name := range nameRE.FindAllString(v, -1) {
				used++
				if !series[name] {
					t.Errorf("dashboard uses %s, which Registry() does not expose", name)
				}
			}
		}
	}
	walk(dash)
	if used < 10 {
		t.Errorf("dashboard references only %d metric names", used)
	}
}

func TestConcurrent(t *testing.T) {
	m := New()
	const workers, per = 8, 2000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(1)
	go func() { // readers race with writers
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = m.StatusRows()
				_, _ = m.Registry().Gather()
			}
		}
	}()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				m.ReplicaDML(time.Microsecond)
				m.WriterDML(2 * time.Microsecond)
				m.ReplicaSessionOpened()
				m.ReplicaSessionClosed()
				m.Rejected(1290)
				m.ReadWaitTimeout(ReadWaitActionError)
				m.ClientConnected()
				m.ClientDisconnected()
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()

	got := rowsMap(m.StatusRows())
	n := workers * per
	for name, want := range map[string]int{
		"Aurora_fwd_replica_dml_stmt_count":    n,
		"Aurora_fwd_replica_dml_stmt_duration": n,
		"Aurora_fwd_writer_dml_stmt_count":     n,
		"Aurora_fwd_writer_dml_stmt_duration":  2 * n,
		"Aurora_fwd_replica_open_sessions":     0,
		"Fwdproxy_rejected_1290":               n,
		"Fwdproxy_read_wait_timeouts_error":    n,
		"Fwdproxy_client_connections_total":    n,
		"Fwdproxy_client_connections_open":     0,
	} {
		if got[name] != strconv.Itoa(want) {
			t.Errorf("%s = %s, want %d", name, got[name], want)
		}
	}
	h := value(t, gather(t, m), "fwdproxy_replica_dml_duration_seconds", nil).GetHistogram()
	if h.GetSampleCount() != uint64(n) {
		t.Errorf("histogram count %d, want %d", h.GetSampleCount(), n)
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	m := New()
	for name, f := range map[string]func(){
		"ReplicaDML":         func() { m.ReplicaDML(123 * time.Microsecond) },
		"WriterDML":          func() { m.WriterDML(123 * time.Microsecond) },
		"ReplicaReadWait":    func() { m.ReplicaReadWait(123 * time.Microsecond) },
		"ReadServedByReader": func() { m.ReadServedByReader(123 * time.Microsecond) },
		"ReadWaitTimeout":    func() { m.ReadWaitTimeout(ReadWaitActionWriter) },
		"Rejected":           func() { m.Rejected(1235) },
		"Limited":            func() { m.Limited(LimitPacket) },
	} {
		if a := testing.AllocsPerRun(1000, f); a != 0 {
			t.Errorf("%s: %v allocs per call", name, a)
		}
	}
}

func BenchmarkReplicaDML(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.ReplicaDML(250 * time.Microsecond)
	}
}

func BenchmarkWriterDML(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.WriterDML(250 * time.Microsecond)
	}
}

// Parallel: every session hits the same figures, the contended case.
func BenchmarkReplicaDMLParallel(b *testing.B) {
	m := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ReplicaDML(250 * time.Microsecond)
		}
	})
}

func BenchmarkStatusRows(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		_ = m.StatusRows()
	}
}
