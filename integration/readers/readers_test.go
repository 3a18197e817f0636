// Package readers tests a reader endpoint of several replicas against real servers: a pair
// with three replicas (pair.sh PAIR_REPLICAS=3, or $FWDPROXY_PAIR_ENV naming one), an
// in-process fwdproxy with one --reader each, and sessions that read their own writes while
// replicas stop replicating, are killed and come back.
//
//	FWDPROXY_SOAK_TRIALS=10000 go test -count=1 -timeout 60m -run TestFreshReadsWhileReadersComeAndGo ./integration/readers/   # soak (make soak-consistency)
package readers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/integration/pair/pairproxy"
	"github.com/fwdproxy/fwdproxy/proxy"
)

const testDB = "fwdreaders"

var thePair *pair.Pair

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) (code int) {
	var err error
	// A private writer with three replicas (the shared pair has one): the
	// tests stop, kill and revive replicas.
	thePair, err = pair.NewN(3)
	if err != nil {
		fmt.Fprintln(os.Stderr, "readers:", err)
		return 1
	}
	defer func() {
		if err := thePair.CheckReplicaClean(); err != nil {
			fmt.Fprintln(os.Stderr, "readers:", err)
			code = 1
		}
		_ = thePair.Stop()
	}()
	if err := thePair.CreateDatabase(testDB); err != nil {
		fmt.Fprintln(os.Stderr, "readers:", err)
		return 1
	}
	return m.Run()
}

// trials is the soak's length: $FWDPROXY_SOAK_TRIALS (make soak-consistency: 10,000), or the
// older $FWDPROXY_READER_TRIALS, else a short run for make test.
func trials() int {
	for _, v := range []string{"FWDPROXY_SOAK_TRIALS", "FWDPROXY_READER_TRIALS"} {
		if n, err := strconv.Atoi(os.Getenv(v)); err == nil && n > 0 {
			return n
		}
	}
	return 300
}

// startProxy starts a proxy reading from every replica, changed by mutate, and returns once it
// knows the writer's session limit and sees up every replica it reads from.
func startProxy(t testing.TB, mutate func(*proxy.Config)) (*proxy.Server, string) {
	t.Helper()
	var readers []string
	srv, addr := pairproxy.Start(t, thePair, pairproxy.AllReplicas(), pairproxy.Configure(mutate, func(c *proxy.Config) {
		readers = c.Readers
	}))
	pair.WaitUntil(t, "writer session limit known", "yes", func() string { // the first refresh
		if srv.Status().WriterSessionLimit > 0 {
			return "yes"
		}
		return "no"
	})
	for _, r := range thePair.Replicas { // every replica it reads from seen up before the test starts
		if slices.Contains(readers, r.Addr) {
			pair.WaitUntil(t, "state of "+r.Name, "up", func() string { return readerState(srv, r.Addr) })
		}
	}
	return srv, addr
}

func readerState(srv *proxy.Server, addr string) string {
	for _, r := range srv.Status().Readers {
		if r.Addr == addr {
			return r.State
		}
	}
	return "absent"
}

// createTable creates table (id, v) on the writer, DDL not being forwarded, and waits until
// every replica has it.
func createTable(t testing.TB, table string) {
	t.Helper()
	w, err := thePair.WriterDB(testDB)
	must(t, err)
	defer w.Close()
	_, err = w.Exec("CREATE TABLE IF NOT EXISTS " + table + " (id INT PRIMARY KEY, v BIGINT NOT NULL)")
	must(t, err)
	must(t, thePair.WaitReplicated(context.Background()))
}

// worker is one session reading its own writes on its own row.
type worker struct {
	id    int
	conn  *sql.Conn
	count int
}

// openDB is a pool of connections through the proxy at addr, closed with the test.
func openDB(t testing.TB, addr string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", pair.DSN(addr, thePair.User, thePair.Password, testDB))
	must(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func newWorkers(t *testing.T, addr, level string, n int) []*worker {
	t.Helper()
	table := "t_" + level
	createTable(t, table)
	return workersOn(t, addr, level, table, n)
}

// workersOn is newWorkers on table, which exists.
func workersOn(t testing.TB, addr, level, table string, n int) []*worker {
	t.Helper()
	db := openDB(t, addr)
	ctx := context.Background()
	var ws []*worker
	for i := 0; i < n; i++ {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		qs := []string{"SET aurora_replica_read_consistency = '" + level + "'"}
		if level != "EVENTUAL" { // an EVENTUAL session only watches, and holds no writer connection
			qs = append(qs, fmt.Sprintf("REPLACE INTO %s VALUES (%d, 0)", table, i))
		}
		for _, q := range qs {
			if _, err := c.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		ws = append(ws, &worker{id: i, conn: c})
	}
	return ws
}

// trial writes once and reads it back: the read must see the write. Neither may fail: the
// write goes to the writer, and an autocommit read whose reader is lost before it answered
// runs again on another reader.
func (w *worker) trial(table string) (stale bool, err error) {
	ctx := context.Background()
	if _, err := w.conn.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET v = v + 1 WHERE id = %d", table, w.id)); err != nil {
		return false, err
	}
	w.count++
	var v int
	if err := w.conn.QueryRowContext(ctx, fmt.Sprintf("SELECT v FROM %s WHERE id = %d", table, w.id)).Scan(&v); err != nil {
		return false, err
	}
	return v != w.count, nil
}

// watch is an EVENTUAL read of the SESSION workers' total, which only grows: a session
// that moves between readers never reads below what it has read (monotonic reads).
func (w *worker) watch() (backwards bool, err error) {
	var sum int
	if err := w.conn.QueryRowContext(context.Background(), "SELECT COALESCE(SUM(v), 0) FROM t_SESSION").Scan(&sum); err != nil {
		return false, err
	}
	backwards = sum < w.count
	w.count = sum
	return backwards, nil
}

// TestFreshReadsWhileReadersComeAndGo: SESSION and GLOBAL sessions read their own writes, and
// EVENTUAL sessions watch a total grow, while the replicas lag 0, 50 and 200 ms behind the
// writer (lag links), replica2 stops replicating, the first replica is killed while reads run
// on it and comes back, and replica3 is restarted while reads run: no stale read, no read that
// goes backwards (monotonic reads across the moves), no error at all, and the reads spread over
// the readers. TestMain checks every replica has no GTID of its own.
func TestFreshReadsWhileReadersComeAndGo(t *testing.T) {
	r1, r2, r3 := thePair.Replicas[0], thePair.Replicas[1], thePair.Replicas[2]
	lagLinks(t, 0, 50*time.Millisecond, 200*time.Millisecond)
	t.Cleanup(func() { // whatever happens below, every replica replicates again
		for _, r := range []pair.Replica{r1, r2, r3} {
			_ = thePair.Script("revive", r.Name)
			_ = thePair.Script("resume", r.Name)
		}
	})
	srv, addr := startProxy(t, func(c *proxy.Config) { c.MaxReaderLag = 3000 })
	const sessions = 6
	levels := []string{"SESSION", "GLOBAL"}
	var all [][]*worker
	for _, l := range levels {
		all = append(all, newWorkers(t, addr, l, sessions))
	}
	watchers := newWorkers(t, addr, "EVENTUAL", sessions)
	n := trials()
	// Events run alongside a round of reads, so that a kill or a restart comes mid-stream.
	events := map[int]func(){
		n / 5:     func() { must(t, thePair.Script("pause", r2.Name)) },
		2 * n / 5: func() { must(t, thePair.Script("kill", r1.Name)) },
		3 * n / 5: func() {
			must(t, thePair.Script("resume", r2.Name))
			must(t, thePair.Script("revive", r1.Name))
		},
		4 * n / 5: func() {
			must(t, thePair.Script("halt", r3.Name))
			must(t, thePair.Script("revive", r3.Name))
		},
	}
	var stale, backwards, errs int
	var mu sync.Mutex
	count := func(what string, i int, bad bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			errs++
			t.Errorf("trial %d, %s: %v", i, what, err)
		case bad:
			if what[0] == 'E' {
				backwards++
			} else {
				stale++
			}
		}
	}
	for i := 0; i < n; i++ {
		var wg sync.WaitGroup
		if ev := events[i]; ev != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ev()
			}()
		}
		for li, ws := range all {
			for _, w := range ws {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := w.trial("t_" + levels[li])
					count(fmt.Sprintf("%s session %d", levels[li], w.id), i, s, err)
				}()
			}
		}
		for _, w := range watchers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := w.watch()
				count(fmt.Sprintf("EVENTUAL session %d", w.id), i, b, err)
			}()
		}
		wg.Wait()
		if errs > 5 {
			t.Fatal("too many errors")
		}
	}
	st := srv.Status().Readers
	t.Logf("%d trials x %d sessions: %d stale, %d backwards, %d errors; readers %+v", n, (len(levels)+1)*sessions, stale, backwards, errs, st)
	if stale != 0 {
		t.Errorf("%d stale reads", stale)
	}
	if backwards != 0 {
		t.Errorf("%d reads went backwards", backwards)
	}
	used, moves := 0, int64(0)
	for _, r := range st {
		if r.Reads > 0 {
			used++
		}
		moves += r.Moves
	}
	if used < 2 {
		t.Errorf("reads went to %d reader(s), want them spread: %+v", used, st)
	}
	if moves == 0 {
		t.Errorf("no session moved between readers: %+v", st)
	}
}

// TestUserVariablesMove: a session that moves to another reader (its own stopped
// replicating) keeps its user variables, with their types, and its prepared statement.
func TestUserVariablesMove(t *testing.T) {
	createTable(t, "t_vars")
	r1, r2 := thePair.Replicas[0], thePair.Replicas[1]
	srv, addr := startProxy(t, func(c *proxy.Config) { c.Readers = []string{r1.Addr, r2.Addr} })
	ctx := context.Background()
	c, err := openDB(t, addr).Conn(ctx)
	must(t, err)
	defer c.Close()
	for _, q := range []string{
		"SET aurora_replica_read_consistency = 'SESSION'",
		"SET @n = 42, @s = 'forty-two', @b = X'00ff', @z = NULL, @d = 4.25",
		"REPLACE INTO t_vars VALUES (1, 0)",
	} {
		_, err := c.ExecContext(ctx, q)
		must(t, err)
	}
	stmt, err := c.PrepareContext(ctx, "SELECT v FROM t_vars WHERE id = ?")
	must(t, err)
	defer stmt.Close()
	var v int
	must(t, stmt.QueryRowContext(ctx, 1).Scan(&v))
	on := r1
	if sessionsOn(srv, r2.Addr) == 1 {
		on = r2
	}
	must(t, thePair.Script("pause", on.Name))
	t.Cleanup(func() { _ = thePair.Script("resume", on.Name) })
	pair.WaitUntil(t, "state of "+on.Name, "stopped", func() string { return readerState(srv, on.Addr) })
	// A write the stopped replica never applies: the read after it moves.
	_, err = c.ExecContext(ctx, "UPDATE t_vars SET v = 5 WHERE id = 1")
	must(t, err)
	must(t, stmt.QueryRowContext(ctx, 1).Scan(&v))
	if v != 5 {
		t.Fatalf("read after the write: %d, want 5", v)
	}
	if sessionsOn(srv, on.Addr) != 0 {
		t.Fatalf("the session did not move off %s: %+v", on.Name, srv.Status().Readers)
	}
	var n int
	var str, typ string
	var b []byte
	var z sql.NullString
	var d string
	must(t, c.QueryRowContext(ctx, "SELECT @n + 1, @s, @b, @z, @d, CONCAT(COLLATION(@s), '/', @n DIV 5)").Scan(&n, &str, &b, &z, &d, &typ))
	if n != 43 || str != "forty-two" || string(b) != "\x00\xff" || z.Valid || d != "4.25" {
		t.Errorf("user variables after the move: @n+1=%d @s=%q @b=%x @z=%v @d=%s", n, str, b, z, d)
	}
	t.Logf("after the move: %s; readers %+v", typ, srv.Status().Readers)
	must(t, thePair.Script("resume", on.Name))
	must(t, thePair.WaitReplicated(ctx))
}

func sessionsOn(srv *proxy.Server, addr string) int64 {
	for _, r := range srv.Status().Readers {
		if r.Addr == addr {
			return r.Sessions
		}
	}
	return -1
}

// closedAddrs are n loopback addresses where nothing listens: readers that never answer.
func closedAddrs(t *testing.T, n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ln.Addr().String())
		ln.Close()
	}
	return out
}

// TestNoReaderAtAll: with every reader down a client still logs in, its forwarded writes and
// the proxy's own SET work, and its reads, plain or prepared, follow --no-reader-policy: served
// by the writer, or 3024 at once (wait, with no reader connection to wait on, answers as error
// does).
func TestNoReaderAtAll(t *testing.T) {
	createTable(t, "t_none")
	for _, policy := range []string{"writer", "error", "wait"} {
		t.Run(policy, func(t *testing.T) {
			_, addr := startProxy(t, func(c *proxy.Config) {
				c.Readers = closedAddrs(t, 2)
				c.Reader = c.Readers[0]
				c.NoReaderPolicy = policy
			})
			ctx := context.Background()
			c, err := openDB(t, addr).Conn(ctx)
			must(t, err) // the login needs no reader
			defer c.Close()
			for _, q := range []string{
				"SET aurora_replica_read_consistency = 'SESSION'",
				"REPLACE INTO t_none VALUES (1, 7)",
				"UPDATE t_none SET v = v + 1 WHERE id = 1",
			} {
				if _, err := c.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			var v int
			err = c.QueryRowContext(ctx, "SELECT v FROM t_none WHERE id = 1").Scan(&v)
			var me *mysql.MySQLError
			switch {
			case policy == "writer" && (err != nil || v != 8):
				t.Fatalf("read served by the writer: v=%d, %v; want 8", v, err)
			case policy != "writer" && !(errors.As(err, &me) && me.Number == 3024):
				t.Fatalf("read with policy %s: %v, want 3024", policy, err)
			}
			if _, err := c.ExecContext(ctx, "UPDATE t_none SET v = v + 1 WHERE id = 1"); err != nil {
				t.Fatalf("a write after the read: %v", err) // the connection stays usable
			}
			// A prepared read follows the same policy, from its PREPARE on.
			stmt, err := c.PrepareContext(ctx, "SELECT v FROM t_none WHERE id = ?")
			if err == nil {
				err = stmt.QueryRowContext(ctx, 1).Scan(&v)
				stmt.Close()
			}
			switch {
			case policy == "writer" && (err != nil || v != 9):
				t.Fatalf("prepared read served by the writer: v=%d, %v; want 9", v, err)
			case policy != "writer" && !(errors.As(err, &me) && me.Number == 3024):
				t.Fatalf("prepared read with policy %s: %v, want 3024", policy, err)
			}
			if err := c.PingContext(ctx); err != nil {
				t.Fatalf("after the prepared read: %v", err)
			}
		})
	}
	must(t, thePair.WaitReplicated(context.Background()))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestEventualLeavesUnhealthyReader: an EVENTUAL session, whose reads wait for nothing, leaves
// a reader that takes no new reads (its replication stopped, or its lag past
// --max-reader-lag) at its first read outside a transaction; an open transaction keeps it
// there until COMMIT.
func TestEventualLeavesUnhealthyReader(t *testing.T) {
	createTable(t, "t_eventual")
	r1, r2 := thePair.Replicas[0], thePair.Replicas[1]
	srv, addr := startProxy(t, func(c *proxy.Config) {
		c.Readers = []string{r1.Addr, r2.Addr}
		c.MaxReaderLag = 1000
	})
	db := openDB(t, addr)
	w, err := thePair.WriterDB(testDB)
	must(t, err)
	defer w.Close()
	ctx := context.Background()
	for i, how := range []string{"stopped", "lagging"} {
		t.Run(how, func(t *testing.T) {
			c := sessionOn(t, db, r1.ServerID)
			for _, q := range []string{"SET aurora_replica_read_consistency = 'EVENTUAL'", "BEGIN"} {
				_, err := c.ExecContext(ctx, q)
				must(t, err)
			}
			if how == "stopped" {
				must(t, thePair.Script("pause", r1.Name))
				t.Cleanup(func() { _ = thePair.Script("resume", r1.Name) })
			} else {
				must(t, thePair.Script("delay", r1.Name, "5"))
				t.Cleanup(func() { _ = thePair.Script("delay", r1.Name, "0") })
				// A write the delayed replica applies 5 s late: its lag grows past the bound.
				_, err := w.Exec("REPLACE INTO t_eventual VALUES (?, 0)", i)
				must(t, err)
			}
			pair.WaitUntil(t, "state of "+r1.Name, how, func() string { return readerState(srv, r1.Addr) })
			if id := serverID(t, c); id != r1.ServerID {
				t.Fatalf("inside a transaction the session moved to server %d", id)
			}
			_, err := c.ExecContext(ctx, "COMMIT")
			must(t, err)
			if id := serverID(t, c); id != r2.ServerID {
				t.Errorf("after COMMIT the session still reads from server %d (%s), want %d", id, how, r2.ServerID)
			}
			if how == "stopped" {
				must(t, thePair.Script("resume", r1.Name))
			} else {
				must(t, thePair.Script("delay", r1.Name, "0"))
			}
			pair.WaitUntil(t, "state of "+r1.Name, "up", func() string { return readerState(srv, r1.Addr) })
		})
	}
	t.Logf("readers %+v", srv.Status().Readers)
	must(t, thePair.WaitReplicated(ctx))
}
