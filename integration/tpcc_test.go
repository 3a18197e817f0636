package integration

// A real workload with a real checker: TPC-C from go-tpc's tpcc package,
// loaded directly on the writer, run through the fwdproxy binary at
// SESSION, then go-tpc's consistency conditions checked on the writer.
// go-tpc's check sees only the final state, so every New-Order is also
// read back in its own session right after its COMMIT: a SESSION read,
// served by the replica, that must find the order.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pingcap/go-tpc/pkg/measurement"
	"github.com/pingcap/go-tpc/pkg/workload"
	"github.com/pingcap/go-tpc/tpcc"

	"github.com/fwdproxy/fwdproxy/integration/pair"
)

// Sized to keep the whole test well under two minutes on two cores: two
// warehouses (about 200 MB, loaded by four connections: eight made the
// load and the check several times slower on the pair's 64 MB buffer
// pool), eight terminals through the proxy.
const (
	tpccDB         = "fwdtpcc"
	tpccWarehouses = 2
	tpccLoaders    = 4
	tpccThreads    = 8
	tpccTxns       = 500 // per thread
	// go-tpc's conditions of TPC-C 3.3.2 per warehouse: after a run, and
	// after the load (with 3.3.2.11, true only before any New-Order).
	tpccConditions, tpccLoadConditions = 11, 12
)

func TestTPCC(t *testing.T) {
	if testing.Short() {
		t.Skip("loads and runs TPC-C for about a minute")
	}
	start := time.Now()
	if err := thePair.CreateDatabase(tpccDB); err != nil {
		t.Fatal(err)
	}
	writer, err := thePair.WriterDB(tpccDB)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()

	// Load on the writer, as an operator would (DDL cannot be forwarded).
	load := newTPCC(t, writer, tpccLoaders)
	if !tpccEach(t, load, tpccLoaders, load.Prepare) {
		t.FailNow()
	}
	// go-tpc's checks sum history per customer; without this index each
	// customer scans history.
	if _, err := writer.Exec("ALTER TABLE history ADD INDEX fwd_h_c (h_c_w_id, h_c_d_id, h_c_id)"); err != nil {
		t.Fatal(err)
	}
	if !tpccEach(t, load, tpccLoaders, load.CheckPrepare) {
		t.FailNow()
	}
	waitReplicated(t)
	t.Logf("loaded %d warehouses on the writer (%d of go-tpc's conditions hold) and replicated in %s",
		tpccWarehouses, tpccLoadConditions*tpccWarehouses, time.Since(start).Round(time.Millisecond))

	_, addr := startBinary(t, "--default-consistency", "SESSION")
	probe := newOrderProbe(t, addr)
	proxied := sql.OpenDB(probe)
	defer proxied.Close()
	if v := one(t, conn(t, addr, ""), "SELECT @@aurora_replica_read_consistency"); v != "SESSION" {
		t.Fatalf("consistency through the proxy is %q", v)
	}

	// go-tpc's run: each thread a terminal with its own session, the
	// transaction mix of TPC-C 5.2.3, no keying or think time.
	run := newTPCC(t, proxied, tpccThreads)
	var mu sync.Mutex
	var failed int
	var errs []string
	runStart := time.Now()
	tpccEach(t, run, tpccThreads, func(ctx context.Context, thread int) error {
		for i := 0; i < tpccTxns; i++ {
			if err := run.Run(ctx, thread); err != nil {
				mu.Lock()
				failed++
				if len(errs) < 5 {
					errs = append(errs, err.Error())
				}
				mu.Unlock()
			}
		}
		return nil
	})
	ran := time.Since(runStart)
	run.OutputStats(true) // go-tpc's own summary, on stdout

	// go-tpc loads every district with d_next_o_id 3001.
	var newOrders int
	if err := writer.QueryRow("SELECT SUM(d_next_o_id - 3001) FROM district").Scan(&newOrders); err != nil {
		t.Fatal(err)
	}
	txns := tpccThreads * tpccTxns
	t.Logf("ran %d transactions in %s through the proxy, %d failed; %d New-Orders committed (tpmC %.0f), %d rolled back (TPC-C rolls back 1%% of New-Orders)",
		txns, ran.Round(time.Millisecond), failed, newOrders, float64(newOrders)/ran.Minutes(), probe.rolledBack)
	if failed > 0 {
		t.Errorf("%d of %d TPC-C transactions failed through the proxy, first: %s", failed, txns, strings.Join(errs, "; "))
	}
	probe.report(t, newOrders)

	// TPC-C 3.3.2 on the final state, on the writer.
	checkStart := time.Now()
	check := newTPCC(t, writer, 1)
	if tpccEach(t, check, 1, check.Check) {
		t.Logf("go-tpc check: %d/%d conditions hold (%d per warehouse), checked in %s",
			tpccConditions*tpccWarehouses, tpccConditions*tpccWarehouses, tpccConditions, time.Since(checkStart).Round(time.Millisecond))
	}
	t.Logf("TPC-C test took %s", time.Since(start).Round(time.Millisecond))
}

func newTPCC(t *testing.T, db *sql.DB, threads int) workload.Workloader {
	t.Helper()
	w, err := tpcc.NewWorkloader(db, &tpcc.Config{
		DBName: tpccDB, Threads: threads, Parts: 1, Warehouses: tpccWarehouses,
		MaxMeasureLatency: measurement.DefaultMaxLatency,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// tpccEach runs fn once per thread on go-tpc's per-thread state, as the
// go-tpc command does, and reports whether every thread succeeded. go-tpc
// panics where it cannot go on; that fails the test too.
func tpccEach(t *testing.T, w workload.Workloader, threads int, fn func(context.Context, int) error) bool {
	t.Helper()
	ok := true
	var mu sync.Mutex
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		ok = false
		t.Errorf(format, args...)
	}
	var wg sync.WaitGroup
	for i := 0; i < threads; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					fail("go-tpc thread %d panicked: %v", i, r)
				}
			}()
			ctx := w.InitThread(context.Background(), i)
			defer w.CleanupThread(ctx, i)
			if err := fn(ctx, i); err != nil {
				fail("go-tpc thread %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	return ok
}

// orderProbe opens go-tpc's connections through the proxy. When a
// transaction that inserted an order commits, the same session reads the
// order back at once: its first read after the COMMIT, which SESSION sends
// to the replica after waiting for that commit. The replica is asked
// directly first, to count how often the wait was needed.
type orderProbe struct {
	driver.Connector
	replica *sql.DB

	mu                                    sync.Mutex
	reads, stale, replicaBehind, onWriter int
	rolledBack                            int // New-Orders rolled back
	problems                              []string
}

func newOrderProbe(t *testing.T, addr string) *orderProbe {
	cfg, err := mysql.ParseDSN(pair.DSN(addr, thePair.User, thePair.Password, tpccDB))
	if err != nil {
		t.Fatal(err)
	}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	replica, err := thePair.ReaderDB(tpccDB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close() })
	return &orderProbe{Connector: c, replica: replica}
}

func (p *orderProbe) Connect(ctx context.Context) (driver.Conn, error) {
	c, err := p.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &probeConn{mysqlConn: c.(mysqlConn), p: p}, nil
}

// report logs what the probe saw and fails the test on a stale read.
func (p *orderProbe) report(t *testing.T, newOrders int) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	t.Logf("read-your-writes probe: %d New-Orders read back in their session at SESSION, %d stale, %d not served by the replica; the replica alone lacked the order %d times",
		p.reads, p.stale, p.onWriter, p.replicaBehind)
	if p.reads != newOrders {
		t.Errorf("%d New-Orders committed but %d were read back", newOrders, p.reads)
	}
	if p.stale > 0 || p.onWriter > 0 || len(p.problems) > 0 {
		t.Errorf("SESSION reads after COMMIT: %d stale, %d not from the replica: %s", p.stale, p.onWriter, strings.Join(p.problems, "; "))
	}
}

// note keeps the first few problems; p.mu is held.
func (p *orderProbe) note(format string, args ...any) {
	if len(p.problems) < 5 {
		p.problems = append(p.problems, fmt.Sprintf(format, args...))
	}
}

// readBack runs on c right after the COMMIT of a transaction that inserted
// the order `where` selects.
func (p *orderProbe) readBack(c *probeConn, where string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var onReplica int
	replicaErr := p.replica.QueryRowContext(ctx, "SELECT COUNT(*) FROM orders WHERE "+where).Scan(&onReplica)
	vals := make([]driver.Value, 2)
	rows, err := c.QueryContext(ctx, "SELECT @@server_id, COUNT(*) FROM orders WHERE "+where, nil)
	if err == nil {
		err = rows.Next(vals)
		rows.Close()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case replicaErr != nil:
		p.note("replica: %v", replicaErr)
	case err != nil:
		p.note("read back %s: %v", where, err)
	default:
		p.reads++
		if onReplica == 0 {
			p.replicaBehind++
		}
		if rowInt(vals[1]) != 1 {
			p.stale++
			p.note("stale: no order %s", where)
		}
		if rowInt(vals[0]) != int(thePair.ReaderServerID) {
			p.onWriter++
		}
	}
}

// rowInt reads an integer column of a driver row (int64, or the text
// protocol's bytes).
func rowInt(v driver.Value) int {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	n, _ := strconv.Atoi(fmt.Sprint(v))
	return n
}

// mysqlConn is what go-sql-driver's connection gives database/sql.
type mysqlConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.Pinger
	driver.QueryerContext
	driver.ExecerContext
	driver.NamedValueChecker
	driver.SessionResetter
	driver.Validator
}

// probeConn notes the order its transaction inserts and reads it back
// after the COMMIT; everything else goes to the driver as it is.
type probeConn struct {
	mysqlConn
	p     *orderProbe
	order string // WHERE clause of the order the open transaction inserted
}

// go-tpc's New-Order inserts its order with this statement.
const insertOrder = "INSERT INTO orders (o_id, o_d_id, o_w_id,"

func (c *probeConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.mysqlConn.PrepareContext(ctx, query)
	if err != nil || !strings.HasPrefix(query, insertOrder) {
		return s, err
	}
	return orderInsert{mysqlStmt: s.(mysqlStmt), c: c}, nil
}

func (c *probeConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.mysqlConn.BeginTx(ctx, opts)
	c.order = ""
	if err != nil {
		return nil, err
	}
	return probeTx{Tx: tx, c: c}, nil
}

type probeTx struct {
	driver.Tx
	c *probeConn
}

func (t probeTx) Commit() error {
	err := t.Tx.Commit()
	order := t.c.order
	t.c.order = ""
	if err == nil && order != "" {
		t.c.p.readBack(t.c, order)
	}
	return err
}

func (t probeTx) Rollback() error {
	if t.c.order != "" {
		t.c.p.mu.Lock()
		t.c.p.rolledBack++
		t.c.p.mu.Unlock()
	}
	t.c.order = ""
	return t.Tx.Rollback()
}

type mysqlStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
	driver.NamedValueChecker
}

type orderInsert struct {
	mysqlStmt
	c *probeConn
}

func (s orderInsert) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	r, err := s.mysqlStmt.ExecContext(ctx, args)
	if err == nil {
		s.c.order = fmt.Sprintf("o_id = %v AND o_d_id = %v AND o_w_id = %v", args[0].Value, args[1].Value, args[2].Value)
	}
	return r, err
}
