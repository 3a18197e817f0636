package lag

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fwdproxy/fwdproxy/proxy"
)

// One proxy serves every benchmark (Go calls a benchmark function several
// times while it sizes b.N); figures are deltas of its counters.
var bench struct {
	mu   sync.Mutex
	srv  *proxy.Server
	addr string
	// open sessions by level, reused across calls
	sess    map[string][]*sql.Conn
	closers []func()
}

func benchProxy(b *testing.B) (*proxy.Server, string) {
	b.Helper()
	bench.mu.Lock()
	defer bench.mu.Unlock()
	if bench.srv == nil {
		srv, addr, err := newProxy()
		if err != nil {
			b.Fatal(err)
		}
		bench.srv, bench.addr, bench.sess = srv, addr, map[string][]*sql.Conn{}
	}
	return bench.srv, bench.addr
}

// benchSessions returns n sessions at level (opened once, then reused).
func benchSessions(b *testing.B, n int, level string) []*sql.Conn {
	b.Helper()
	_, addr := benchProxy(b)
	bench.mu.Lock()
	defer bench.mu.Unlock()
	if have := bench.sess[level]; len(have) < n {
		more, closeAll, err := openSessions(addr, n-len(have), level)
		if err != nil {
			b.Fatal(err)
		}
		bench.closers = append(bench.closers, closeAll)
		bench.sess[level] = append(have, more...)
	}
	return bench.sess[level][:n]
}

func closeBench() {
	bench.mu.Lock()
	defer bench.mu.Unlock()
	for _, closeAll := range bench.closers {
		closeAll()
	}
	if bench.srv != nil {
		bench.srv.Close()
	}
}

// split runs ops operations over workers goroutines; op gets the worker
// index and returns the latency to record (or an error).
func split(b *testing.B, workers, ops int, op func(w int) (time.Duration, error)) []time.Duration {
	b.Helper()
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		n := ops / workers
		if w < ops%workers {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, n)
			for i := 0; i < n; i++ {
				d, err := op(w)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	slices.Sort(lat)
	return lat
}

func pct(lat []time.Duration, p int) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	return lat[min(len(lat)-1, len(lat)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkSessionReadAfterWrite: SESSION read-after-write with 50 ms of
// replication lag, 16 sessions. The latency is from the write's OK to the
// read's result; the figures are that minus the lag. "direct" is the same
// done by hand against the servers (UPDATE on the writer, SELECT
// @@last_gtid, MASTER_GTID_WAIT and SELECT on the replica): the floor the
// link and the replica's apply set, without the proxy.
func BenchmarkSessionReadAfterWrite(b *testing.B) {
	const lag = 50 * time.Millisecond
	const workers = 16
	const firstRow = 500 // rows 500..515, apart from the tests' rows
	for _, mode := range []string{"proxy", "direct"} {
		b.Run(fmt.Sprintf("lag=%v/%s", lag, mode), func(b *testing.B) {
			setLag(lag)
			defer setLag(0)
			caughtUp(b)
			var cs []*sql.Conn
			var wc, rc []*sql.Conn
			if mode == "proxy" {
				cs = benchSessions(b, workers, "SESSION")
			} else {
				wc = directConns(b, thePair.WriterAddr, workers)
				rc = directConns(b, thePair.ReaderAddr, workers)
			}
			ctx := context.Background()
			b.ResetTimer()
			lat := split(b, workers, b.N, func(w int) (time.Duration, error) {
				id := firstRow + w
				var v int64
				if mode == "proxy" {
					if _, err := cs[w].ExecContext(ctx, "UPDATE t SET v = v + 1 WHERE id = ?", id); err != nil {
						return 0, err
					}
					t0 := time.Now()
					err := cs[w].QueryRowContext(ctx, "SELECT v FROM t WHERE id = ?", id).Scan(&v)
					return time.Since(t0), err
				}
				if _, err := wc[w].ExecContext(ctx, "UPDATE t SET v = v + 1 WHERE id = ?", id); err != nil {
					return 0, err
				}
				t0 := time.Now()
				var g string
				if err := wc[w].QueryRowContext(ctx, "SELECT @@last_gtid").Scan(&g); err != nil {
					return 0, err
				}
				var res int
				if err := rc[w].QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, 10)", g).Scan(&res); err != nil || res != 0 {
					return 0, fmt.Errorf("MASTER_GTID_WAIT(%s) = %d, %v", g, res, err)
				}
				err := rc[w].QueryRowContext(ctx, "SELECT v FROM t WHERE id = ?", id).Scan(&v)
				return time.Since(t0), err
			})
			b.StopTimer()
			b.ReportMetric(ms(pct(lat, 50)-lag), "p50-over-lag-ms")
			b.ReportMetric(ms(pct(lat, 99)-lag), "p99-over-lag-ms")
			b.ReportMetric(float64(len(lat)), "samples")
		})
	}
}

func directConns(b *testing.B, addr string, n int) []*sql.Conn {
	b.Helper()
	db, err := sql.Open("mysql", dsn(addr))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	cs := make([]*sql.Conn, n)
	for i := range cs {
		if cs[i], err = db.Conn(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() {
		for _, c := range cs {
			c.Close()
		}
	})
	return cs
}

// writerRTT is the median round trip of the writer-position query, direct.
func writerRTT(b *testing.B) time.Duration {
	b.Helper()
	c := directConns(b, thePair.WriterAddr, 1)[0]
	var lat []time.Duration
	for i := 0; i < 200; i++ {
		t0 := time.Now()
		var s string
		if err := c.QueryRowContext(context.Background(), "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&s); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return lat[len(lat)/2]
}

// BenchmarkGlobalLookups: GLOBAL reads from 1, 8 and 32 concurrent
// sessions, no writes, no lag. Reports writer position look-ups per read,
// and look-ups per writer round trip (look-ups x median writer RTT /
// elapsed; at most one look-up is in flight, so this stays <= 1).
func BenchmarkGlobalLookups(b *testing.B) {
	for _, workers := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("sessions=%d", workers), func(b *testing.B) {
			setLag(0)
			caughtUp(b)
			srv, _ := benchProxy(b)
			cs := benchSessions(b, workers, "GLOBAL")
			rtt := writerRTT(b)
			ctx := context.Background()
			look0 := stat(b, srv, "Fwdproxy_global_position_lookups")
			b.ResetTimer()
			t0 := time.Now()
			lat := split(b, workers, b.N, func(w int) (time.Duration, error) {
				var v int64
				s := time.Now()
				err := cs[w].QueryRowContext(ctx, "SELECT v FROM t WHERE id = ?", 600+w).Scan(&v)
				return time.Since(s), err
			})
			elapsed := time.Since(t0)
			b.StopTimer()
			looks := stat(b, srv, "Fwdproxy_global_position_lookups") - look0
			b.ReportMetric(float64(looks)/float64(len(lat)), "lookups/read")
			b.ReportMetric(float64(looks)*float64(rtt)/float64(elapsed), "lookups/writer-rtt")
			b.ReportMetric(float64(rtt)/float64(time.Microsecond), "writer-rtt-µs")
			b.ReportMetric(float64(pct(lat, 50))/float64(time.Microsecond), "read-p50-µs")
		})
	}
}

// BenchmarkSatisfiedWait: one session reads a row its own earlier write put
// there, after that write's wait is done. SESSION must cost what EVENTUAL
// costs: no wait and no extra statement on the reader (reader-selects/op is
// the replica's Com_select per read, counted on the replica itself). GLOBAL
// is shown for comparison: it pays one writer look-up per read.
func BenchmarkSatisfiedWait(b *testing.B) {
	for _, level := range []string{"EVENTUAL", "SESSION", "GLOBAL"} {
		b.Run(level, func(b *testing.B) {
			setLag(0)
			caughtUp(b)
			srv, _ := benchProxy(b)
			c := benchSessions(b, 1, level)[0]
			ctx := context.Background()
			id := 700
			if _, err := c.ExecContext(ctx, "UPDATE t SET v = v + 1 WHERE id = ?", id); err != nil {
				b.Fatal(err)
			}
			var v int64
			if err := c.QueryRowContext(ctx, "SELECT v FROM t WHERE id = ?", id).Scan(&v); err != nil {
				b.Fatal(err)
			}
			root := directRoot(b)
			waits0 := stat(b, srv, "Aurora_fwd_replica_read_wait_count")
			look0 := stat(b, srv, "Fwdproxy_global_position_lookups")
			sel0 := comSelect(b, root)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := c.QueryRowContext(ctx, "SELECT v FROM t WHERE id = ?", id).Scan(&v); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(float64(stat(b, srv, "Aurora_fwd_replica_read_wait_count")-waits0)/n, "waits/op")
			b.ReportMetric(float64(comSelect(b, root)-sel0)/n, "reader-selects/op")
			b.ReportMetric(float64(stat(b, srv, "Fwdproxy_global_position_lookups")-look0)/n, "writer-lookups/op")
		})
	}
}

func directRoot(b *testing.B) *sql.DB {
	b.Helper()
	db, err := thePair.RootDB(thePair.ReaderAddr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func comSelect(b *testing.B, root *sql.DB) uint64 {
	b.Helper()
	var k, v string
	if err := root.QueryRow("SHOW GLOBAL STATUS LIKE 'Com_select'").Scan(&k, &v); err != nil {
		b.Fatal(err)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return n
}
