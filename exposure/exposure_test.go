package exposure

import (
	"testing"
	"time"
)

// step is one event of a session: a write, a commit, a rollback or a read
// (with the exposure it must get), at ms after the start.
type step struct {
	ms     int
	do     string // write, commit, rollback, read
	tables []string
	any    bool
	want   string // read: None, Lag or Transaction
	waitMS float64
}

func TestExposure(t *testing.T) {
	orders, items := []string{"shop.orders"}, []string{"shop.items"}
	for _, tc := range []struct {
		name       string
		lag        time.Duration
		resolution time.Duration
		steps      []step
	}{
		{"read before any write", 500 * time.Millisecond, 0, []step{
			{ms: 0, do: "read", tables: orders, want: None},
		}},
		{"read within the lag of a commit", 500 * time.Millisecond, 0, []step{
			{ms: 0, do: "write", tables: orders}, {ms: 0, do: "commit"},
			{ms: 100, do: "read", tables: orders, want: Lag, waitMS: 400},
		}},
		{"read after the lag", 500 * time.Millisecond, 0, []step{
			{ms: 0, do: "write", tables: orders}, {ms: 0, do: "commit"},
			{ms: 600, do: "read", tables: orders, want: None},
		}},
		{"read of another table", 500 * time.Millisecond, 0, []step{
			{ms: 0, do: "write", tables: orders}, {ms: 0, do: "commit"},
			{ms: 10, do: "read", tables: items, want: None},
		}},
		{"read in the writing transaction, at lag 0", 0, 0, []step{
			{ms: 0, do: "write", tables: items},
			{ms: 5000, do: "read", tables: items, want: Transaction},
			{ms: 5001, do: "commit"},
			{ms: 5001, do: "read", tables: items, want: None},
		}},
		{"rolled back", time.Hour, 0, []step{
			{ms: 0, do: "write", tables: orders}, {ms: 1, do: "rollback"},
			{ms: 2, do: "read", tables: orders, want: None},
		}},
		{"a write of unknown tables exposes every read", time.Second, 0, []step{
			{ms: 0, do: "write", any: true}, {ms: 0, do: "commit"},
			{ms: 250, do: "read", tables: items, want: Lag, waitMS: 750},
		}},
		{"a read of unknown tables after a write", time.Second, 0, []step{
			{ms: 0, do: "write", tables: orders}, {ms: 0, do: "commit"},
			{ms: 250, do: "read", any: true, want: Lag, waitMS: 750},
		}},
		// Timestamps in whole seconds: the read logged a second later may
		// have come right after the commit (conservative), so it waits up
		// to the lag; two seconds later it cannot have.
		{"a log's whole seconds, next second", 500 * time.Millisecond, time.Second, []step{
			{ms: 0, do: "write", tables: orders}, {ms: 0, do: "commit"},
			{ms: 1000, do: "read", tables: orders, want: Lag, waitMS: 500},
		}},
		{"a log's whole seconds, same second", 500 * time.Millisecond, time.Second, []step{
			{ms: 0, do: "write", tables: orders}, {ms: 0, do: "commit"},
			{ms: 0, do: "read", tables: orders, want: Lag, waitMS: 500},
		}},
		{"a log's whole seconds, two seconds later", 500 * time.Millisecond, time.Second, []step{
			{ms: 0, do: "write", tables: orders}, {ms: 0, do: "commit"},
			{ms: 2000, do: "read", tables: orders, want: None},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := NewStore(tc.lag)
			x := NewSession("app")
			x.Resolution = tc.resolution
			t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
			var exposed, inTx uint64
			var maxWait float64
			for i, s := range tc.steps {
				at := t0.Add(time.Duration(s.ms) * time.Millisecond)
				r := Statement{SQL: "SELECT 1 FROM t", Tables: s.tables, AnyTable: s.any, Write: s.do == "write"}
				switch s.do {
				case "write":
					x.Wrote(r)
				case "commit":
					x.Committed(at)
				case "rollback":
					x.Ended()
				case "read":
					if got := st.Read(x, r, at); got != s.want {
						t.Errorf("step %d: read is %s, want %s", i, got, s.want)
					}
					if s.want != None {
						exposed++
					}
					if s.want == Transaction {
						inTx++
					}
					maxWait = max(maxWait, s.waitMS)
				}
			}
			rep := st.Report()
			if len(rep.Reads) != 1 {
				t.Fatalf("report %+v, want one digest", rep)
			}
			e := rep.Reads[0]
			needs := "EVENTUAL"
			if exposed > 0 {
				needs = "SESSION"
			}
			if e.Exposed != exposed || e.InTransaction != inTx || e.MaxWaitMS != maxWait || e.Needs != needs {
				t.Errorf("entry %+v, want exposed %d, in transaction %d, max wait %.0f ms, needs %s", e, exposed, inTx, maxWait, needs)
			}
			if exposed > 0 && (len(e.Programs) != 1 || e.Programs[0] != "app") {
				t.Errorf("programs %v", e.Programs)
			}
		})
	}
}
