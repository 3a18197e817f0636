package lag

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwdproxy/fwdproxy/proxy"
)

const (
	// poolSize is the database/sql pool: SetMaxOpenConns(poolSize).
	poolSize = 20
	// poolWorkers each hold two connections of the pool at once.
	poolWorkers = poolSize / 2
	// poolFirstRow: worker w owns row poolFirstRow+w, apart from the other tests' rows.
	poolFirstRow     = 800
	defaultPoolTrial = 300
)

// poolTrials is a few hundred trials, or FWDPROXY_SOAK_TRIALS
// (make soak-consistency: 10,000).
func poolTrials(t testing.TB) int {
	if os.Getenv(SoakEnv) == "" {
		return defaultPoolTrial
	}
	return trialsPerLevel(t)
}

// pool is a go-sql-driver pool of poolSize connections through the proxy
// at addr; params are more DSN parameters ("&name=value").
func pool(t testing.TB, addr, params string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn(addr)+params)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(poolSize)
	db.SetMaxIdleConns(poolSize)
	t.Cleanup(func() { db.Close() })
	return db
}

// poolTrial is one request pair of a pooled application: UPDATE of the
// worker's row on one connection of the pool, then, on another one taken
// while the first is still held (so it is a different connection), the
// read of that row. carry, when not nil, runs with both held: the causal
// token's hand-over. It returns the value read and the time from the
// write's OK to the read's result.
func poolTrial(ctx context.Context, db *sql.DB, id int, carry func(w, r *sql.Conn) error) (int64, time.Duration, error) {
	w, err := db.Conn(ctx)
	if err != nil {
		return 0, 0, err
	}
	if _, err := w.ExecContext(ctx, "UPDATE t SET v = v + 1 WHERE id = ?", id); err != nil {
		w.Close()
		return 0, 0, fmt.Errorf("UPDATE row %d: %w", id, err)
	}
	t0 := time.Now()
	r, err := db.Conn(ctx)
	if err == nil && carry != nil {
		if err = carry(w, r); err != nil {
			r.Close()
		}
	}
	w.Close() // back to the pool: the next trial may write on it
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	var v int64
	if err := r.QueryRowContext(ctx, "SELECT v FROM t WHERE id = ?", id).Scan(&v); err != nil {
		return 0, 0, fmt.Errorf("SELECT row %d: %w", id, err)
	}
	return v, time.Since(t0), nil
}

// passToken hands the writing connection's causal token to the reading one.
func passToken(ctx context.Context) func(w, r *sql.Conn) error {
	return func(w, r *sql.Conn) error {
		var tok string
		if err := w.QueryRowContext(ctx, "SELECT @@fwdproxy_causal_token").Scan(&tok); err != nil {
			return err
		}
		_, err := r.ExecContext(ctx, "SET fwdproxy_read_after = ?", tok)
		return err
	}
}

// poolReadAfterWrite runs trials poolTrials over poolWorkers goroutines,
// each on its own row, and counts the reads older than the write before.
func poolReadAfterWrite(t testing.TB, db *sql.DB, trials int) result {
	t.Helper()
	return spreadTrials(t, poolWorkers, poolFirstRow, trials, func(ctx context.Context, _, id int) (int64, error) {
		got, _, err := poolTrial(ctx, db, id, nil)
		return got, err
	})
}

// TestPoolReadYourWrites: a pool of 20 go-sql-driver connections at
// SESSION, 200 ms of replication lag, each trial a write on one pooled
// connection and a read on another. With the user scope, set by the flag
// or by the driver (a DSN parameter, which it sends as SET), no read is
// stale and none needs the writer; with the connection scope reads are
// stale, so the trials do test the scope.
func TestPoolReadYourWrites(t *testing.T) {
	trials := poolTrials(t)
	setLag(200 * time.Millisecond)
	defer setLag(0)
	srvUser, addrUser := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION"; c.SessionScope = "user" })
	srvConn, addrConn := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	for _, c := range []struct {
		name, addr, params string
		srv                *proxy.Server
		user               bool
	}{
		{"scope=user,flag", addrUser, "", srvUser, true},
		{"scope=user,SET", addrConn, "&fwdproxy_session_scope=%27user%27", srvConn, true},
		{"scope=connection", addrConn, "", srvConn, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			caughtUp(t)
			db := pool(t, c.addr, c.params)
			var scope string
			if err := db.QueryRow("SELECT @@fwdproxy_session_scope").Scan(&scope); err != nil {
				t.Fatal(err)
			}
			if want := map[bool]string{true: "user", false: "connection"}[c.user]; scope != want {
				t.Fatalf("@@fwdproxy_session_scope = %q, want %q", scope, want)
			}
			waits0 := stat(t, c.srv, "Aurora_fwd_replica_read_wait_count")
			look0 := stat(t, c.srv, "Fwdproxy_global_position_lookups")
			r := poolReadAfterWrite(t, db, trials)
			waits := stat(t, c.srv, "Aurora_fwd_replica_read_wait_count") - waits0
			looks := stat(t, c.srv, "Fwdproxy_global_position_lookups") - look0
			t.Logf("lag 200ms, SESSION, %s: %d trials on a pool of %d (%d workers) in %v: %d stale, %d errors, %d reads waited, %d writer look-ups",
				c.name, r.trials, poolSize, poolWorkers, r.elapsed.Round(time.Millisecond), r.stale, r.errs, waits, looks)
			if r.errs > 0 {
				t.Fatalf("%d trials failed; first: %v", r.errs, r.firstErr)
			}
			switch {
			case c.user && r.stale != 0:
				t.Errorf("%s: %d of %d reads on another pooled connection were stale", c.name, r.stale, r.trials)
			case c.user && looks != 0:
				t.Errorf("%s: %d writer position look-ups, want none", c.name, looks)
			case !c.user && r.stale == 0:
				t.Errorf("%s read no stale value in %d trials at 200ms lag: the trials do not test the scope", c.name, r.trials)
			}
		})
	}
}

// BenchmarkPooledReadAfterWrite: the trials of TestPoolReadYourWrites at
// 50 ms of lag, ways of getting read-your-writes through a pool compared:
// SESSION at the connection scope (the baseline, which reads stale here),
// SESSION at the user scope, a causal token handed from the writing
// connection to the reading one (SESSION, connection scope), and GLOBAL.
// The latency is from the write's OK to the read's result (the token's
// SELECT and SET included), over the lag; the other figures are per read.
func BenchmarkPooledReadAfterWrite(b *testing.B) {
	const lag = 50 * time.Millisecond
	modes := []struct{ name, params string }{
		{"session,scope=connection", "&aurora_replica_read_consistency=%27SESSION%27"},
		{"session,scope=user", "&aurora_replica_read_consistency=%27SESSION%27&fwdproxy_session_scope=%27user%27"},
		{"session,token", "&aurora_replica_read_consistency=%27SESSION%27"},
		{"global", "&aurora_replica_read_consistency=%27GLOBAL%27"},
	}
	for _, m := range modes {
		b.Run(fmt.Sprintf("lag=%v/%s", lag, m.name), func(b *testing.B) {
			setLag(lag)
			defer setLag(0)
			caughtUp(b)
			srv, addr := benchProxy(b)
			db := pool(b, addr, m.params)
			w := writerDB(b)
			want := make([]int64, poolWorkers)
			for k := range want {
				want[k] = rowValue(b, w, poolFirstRow+k)
			}
			var stale atomic.Int64
			ctx := context.Background()
			var carry func(w, r *sql.Conn) error
			if m.name == "session,token" {
				carry = passToken(ctx)
			}
			waits0 := stat(b, srv, "Aurora_fwd_replica_read_wait_count")
			look0 := stat(b, srv, "Fwdproxy_global_position_lookups")
			b.ResetTimer()
			t0 := time.Now()
			lat := split(b, poolWorkers, b.N, func(k int) (time.Duration, error) {
				got, d, err := poolTrial(ctx, db, poolFirstRow+k, carry)
				if want[k]++; err == nil && got < want[k] {
					stale.Add(1)
				}
				return d, err
			})
			elapsed := time.Since(t0)
			b.StopTimer()
			n := float64(len(lat))
			b.ReportMetric(n/elapsed.Seconds(), "trials/s")
			b.ReportMetric(ms(pct(lat, 50)-lag), "p50-over-lag-ms")
			b.ReportMetric(ms(pct(lat, 99)-lag), "p99-over-lag-ms")
			b.ReportMetric(float64(stale.Load())/n, "stale/read")
			b.ReportMetric(float64(stat(b, srv, "Aurora_fwd_replica_read_wait_count")-waits0)/n, "waits/read")
			b.ReportMetric(float64(stat(b, srv, "Fwdproxy_global_position_lookups")-look0)/n, "writer-lookups/read")
		})
	}
}
