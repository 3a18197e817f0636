package proxy_test

import (
	"testing"
	"time"

	fb "github.com/fwdproxy/fwdproxy/proxy/internal/fakebackend"
)

// The proxy looks for a reader's own GTIDs (reader first, then the writer)
// and exports fwdproxy_reader_stray_gtids for an alert.
func TestStrayGTIDsExported(t *testing.T) {
	const q = "SELECT @@GLOBAL.gtid_binlog_state, @@GLOBAL.server_id"
	state := func(s string, id any) fb.Rows {
		return fb.Rows{Columns: []string{"@@GLOBAL.gtid_binlog_state", "@@GLOBAL.server_id"}, Values: [][]any{{s, id}}}
	}
	for _, c := range []struct {
		reader, writer string
		want           float64
	}{
		{"0-1-10", "0-1-10", 0},
		{"0-1-10,0-2-11", "0-1-12", 1},
	} {
		// Scripted before the proxy starts: its first check runs at once.
		r := newRig(t, rigOptions{stray: 50 * time.Millisecond, script: func(r *rig) {
			for range 100 { // answers for every round the test may see
				r.reader.On(q, state(c.reader, 2))
				r.writer.On(q, state(c.writer, 1))
			}
		}})
		got, ok := -1.0, false
		for !ok {
			fams, err := r.srv.Metrics.Registry().Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fams {
				if f.GetName() == "fwdproxy_reader_stray_gtids" && len(f.GetMetric()) == 1 {
					got, ok = f.GetMetric()[0].GetGauge().GetValue(), true
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got != c.want {
			t.Errorf("reader %s, writer %s: fwdproxy_reader_stray_gtids %v, want %v", c.reader, c.writer, got, c.want)
		}
	}
}
