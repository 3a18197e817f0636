package readers

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fwdproxy/fwdproxy/proxy"
)

// benchWarmUp is how long trials run before the measured ones: long enough for the proxy's
// lag window to have seen each reader's lag (a check shows a 50 ms lag one time in four).
const benchWarmUp = 3 * time.Second

// benchLags are the replicas' lags in BenchmarkSessionReadAfterWriteReaders.
var benchLags = []time.Duration{0, 50 * time.Millisecond, 200 * time.Millisecond}

// BenchmarkSessionReadAfterWriteReaders: SESSION read-after-write, 8 sessions each updating
// its own row and reading it back, with the replicas 0, 50 and 200 ms behind the writer (lag
// links), after benchWarmUp of unrecorded trials. Through one reader at a time, and through all three: there each read should go to
// the reader nearest to the session's write (the caught-up one) and wait as little as through
// that reader alone, not for a lagging one. Reported from the proxy's counters: waits per read
// (Aurora_fwd_replica_read_wait_count), wait time per read, the share of the reads that each
// reader served and that waited on it, and the read latency.
//
//	go test -run NONE -bench BenchmarkSessionReadAfterWriteReaders -benchtime 2000x ./integration/readers/
func BenchmarkSessionReadAfterWriteReaders(b *testing.B) {
	lagLinks(b, benchLags...)
	createTable(b, "t_raw")
	addrs := thePair.ReaderAddrs()
	for _, c := range []struct {
		name    string
		readers []int
	}{{"one reader at 0ms", []int{0}}, {"one reader at 50ms", []int{1}}, {"one reader at 200ms", []int{2}}, {"three readers", []int{0, 1, 2}}} {
		b.Run(c.name, func(b *testing.B) {
			var use []string
			for _, i := range c.readers {
				use = append(use, addrs[i])
			}
			srv, addr := startProxy(b, func(cfg *proxy.Config) {
				cfg.Readers, cfg.Reader = use, use[0]
				if len(use) == 1 {
					cfg.Readers = nil // one --reader: the proxy as it always ran
				}
			})
			const workers = 8
			ws := workersOn(b, addr, "SESSION", "t_raw", workers)
			// The trials, split over the sessions; a warm-up first, unrecorded, so that the proxy
			// has measured the readers' lags under the load, as in a running deployment.
			lat := make([][]time.Duration, workers)
			var stale, failed sync.Map
			run := func(n int, record bool) {
				var wg sync.WaitGroup
				for w := range ws {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := w; i < n; i += workers {
							ctx := context.Background()
							if _, err := ws[w].conn.ExecContext(ctx, fmt.Sprintf("UPDATE t_raw SET v = v + 1 WHERE id = %d", w)); err != nil {
								failed.Store(w, err)
								return
							}
							ws[w].count++
							t0 := time.Now()
							var v int
							if err := ws[w].conn.QueryRowContext(ctx, fmt.Sprintf("SELECT v FROM t_raw WHERE id = %d", w)).Scan(&v); err != nil {
								failed.Store(w, err)
								return
							}
							if record {
								lat[w] = append(lat[w], time.Since(t0))
							}
							if v != ws[w].count {
								stale.Store(w, v)
							}
						}
					}()
				}
				wg.Wait()
			}
			for start := time.Now(); time.Since(start) < benchWarmUp; {
				run(10*workers, false)
			}
			waits0, us0 := status(b, srv, "Aurora_fwd_replica_read_wait_count"), status(b, srv, "Aurora_fwd_replica_read_wait_duration")
			before := srv.Status().Readers
			b.ResetTimer()
			run(b.N, true)
			b.StopTimer()
			failed.Range(func(k, v any) bool { b.Fatalf("session %v: %v", k, v); return false })
			stale.Range(func(k, v any) bool { b.Errorf("session %v read a stale value %v", k, v); return true })
			var all []time.Duration
			for _, l := range lat {
				all = append(all, l...)
			}
			reads := float64(len(all))
			waits := status(b, srv, "Aurora_fwd_replica_read_wait_count") - waits0
			us := status(b, srv, "Aurora_fwd_replica_read_wait_duration") - us0
			b.ReportMetric(float64(waits)/reads, "waits/read")
			b.ReportMetric(float64(us)/1000/reads, "wait-ms/read")
			slices.Sort(all)
			b.ReportMetric(float64(all[len(all)/2])/float64(time.Millisecond), "read-p50-ms")
			b.ReportMetric(float64(all[len(all)*99/100])/float64(time.Millisecond), "read-p99-ms")
			after := srv.Status().Readers
			for i := range after {
				lag := benchLags[slices.Index(addrs, after[i].Addr)].Milliseconds()
				b.ReportMetric(float64(after[i].Reads-before[i].Reads)/reads, fmt.Sprintf("reads-on-%dms", lag))
				b.ReportMetric(float64(after[i].Waits-before[i].Waits)/reads, fmt.Sprintf("waited-on-%dms", lag))
			}
		})
	}
}

// status reads one SHOW STATUS figure of srv through its metrics API.
func status(tb testing.TB, srv *proxy.Server, name string) uint64 {
	tb.Helper()
	for _, r := range srv.Metrics.StatusRows() {
		if r[0] == name {
			n, err := strconv.ParseUint(r[1], 10, 64)
			must(tb, err)
			return n
		}
	}
	tb.Fatalf("no status row %s", name)
	return 0
}
