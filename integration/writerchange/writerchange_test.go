// Package writerchange tests writer changes through fwdproxy against real servers: a planned
// switchover under a mixed load through two proxy instances, and back. It needs a pair with two
// replicas (PAIR_REPLICAS=2): one is promoted, the other keeps serving reads.
package writerchange

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fwdproxy/fwdproxy/doctor"
	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/integration/pair/pairproxy"
	"github.com/fwdproxy/fwdproxy/proxy"
	"github.com/fwdproxy/fwdproxy/sandbox"
)

var p *pair.Pair

// TestMain starts a private writer with two replicas, whatever
// $FWDPROXY_PAIR_ENV says: these tests move the writer role between them,
// which the shared pair's other users must not see.
func TestMain(m *testing.M) {
	var err error
	if p, err = pair.NewN(2); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := p.CheckReplicaClean(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	p.Stop()
	os.Exit(code)
}

// startProxy starts an instance whose warnings the test prints when it fails: what the proxy
// saw of a writer change explains what a client got.
func startProxy(t *testing.T, mutate func(*proxy.Config)) (*proxy.Server, string) {
	t.Helper()
	srv, addr, _ := startProxyWarnings(t, mutate)
	return srv, addr
}

// startProxyWarnings is startProxy that also returns the warnings, for the test to look at.
func startProxyWarnings(t *testing.T, mutate func(*proxy.Config)) (*proxy.Server, string, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.WarnLevel)
	t.Cleanup(func() {
		if t.Failed() {
			for _, e := range logs.All() {
				t.Logf("proxy %s: %s %v", e.Time.Format("15:04:05.000"), e.Message, e.ContextMap())
			}
		}
	})
	srv, addr := startProxyLog(t, mutate, zap.New(core))
	return srv, addr, logs
}

func startProxyLog(t *testing.T, mutate func(*proxy.Config), log *zap.Logger) (*proxy.Server, string) {
	t.Helper()
	return pairproxy.Start(t, p, pairproxy.Log(log), pairproxy.Configure(func(cfg *proxy.Config) {
		cfg.Writers = []string{p.WriterAddr, p.Replicas[0].Addr, p.Replicas[1].Addr}
		cfg.Writer = cfg.Writers[0]
		cfg.Reader = p.Replicas[1].Addr
		cfg.WriterChangeWait = 30 * time.Second
	}, mutate))
}

// freshTable creates database name afresh with one table on the writer and returns the writer.
func freshTable(t *testing.T, name, ddl string) *sql.DB {
	t.Helper()
	if err := p.CreateTables(name, ddl); err != nil {
		t.Fatal(err)
	}
	return open(t, p.WriterAddr, name)
}

func open(t *testing.T, addr, db string) *sql.DB {
	t.Helper()
	d, err := sql.Open("mysql", pair.DSN(addr, p.User, p.Password, db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func member(t *testing.T, addr string) sandbox.Member {
	t.Helper()
	db, err := p.RootDB(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	host, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return sandbox.Member{DB: db, Host: host, Port: n}
}

// outcome is what one client statement got.
type outcome struct {
	kind string // ok, terminated, unreachable, unknown, duplicate, readonly, other
	msg  string
}

func classify(err error) outcome {
	if err == nil {
		return outcome{kind: "ok"}
	}
	msg := err.Error()
	var me *mysql.MySQLError
	if ok := asMySQL(err, &me); ok {
		switch {
		case me.Number == 1062:
			return outcome{"duplicate", msg}
		case me.Number == 1290:
			return outcome{"readonly", msg}
		case strings.Contains(me.Message, "Forwarded connection on Writer terminated"):
			return outcome{"terminated", msg}
		case strings.Contains(me.Message, "Failed to send write forwarding request"):
			return outcome{"unreachable", msg}
		case me.Number == 1158: // may have committed
			return outcome{"unknown", msg}
		}
	}
	return outcome{"other", msg}
}

func asMySQL(err error, me **mysql.MySQLError) bool {
	e, ok := err.(*mysql.MySQLError)
	if ok {
		*me = e
	}
	return ok
}

// client runs autocommit inserts and two-insert transactions with SESSION reads of its own rows,
// one statement at a time, and records what each got. Every insert has its own (client, seq):
// a write that ran twice would fail its second time with 1062.
type client struct {
	id       int
	acked    []int // seqs whose insert (or transaction) was acknowledged
	counts   map[string]int
	txErrs   map[string]int // errors inside an open transaction, by kind
	stale    int            // SESSION reads that missed an acknowledged write of the client
	lastOKAt []time.Time    // times of acknowledged writes
}

func (c *client) run(ctx context.Context, t *testing.T, db *sql.DB) {
	c.counts, c.txErrs = map[string]int{}, map[string]int{}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	bg := context.Background()
	if _, err := conn.ExecContext(bg, "SET aurora_replica_read_consistency = 'SESSION'"); err != nil {
		t.Error(err)
		return
	}
	seq := 0
	for i := 0; ctx.Err() == nil; i++ {
		seq++
		if i%3 == 2 { // a transaction of two inserts
			a, b := seq, seq+1
			seq++
			o := classify(func() error {
				if _, err := conn.ExecContext(bg, "BEGIN"); err != nil {
					return err
				}
				for _, s := range []int{a, b} {
					if _, err := conn.ExecContext(bg, "INSERT INTO t (client, seq) VALUES (?, ?)", c.id, s); err != nil {
						c.txErrs[classify(err).kind]++
						_, _ = conn.ExecContext(bg, "ROLLBACK")
						return err
					}
				}
				_, err := conn.ExecContext(bg, "COMMIT")
				if err != nil {
					c.txErrs[classify(err).kind]++
				}
				return err
			}())
			c.counts["tx_"+o.kind]++
			if o.kind == "ok" {
				c.acked = append(c.acked, a, b)
				c.lastOKAt = append(c.lastOKAt, time.Now())
			} else if o.kind == "other" {
				t.Logf("client %d transaction: %s", c.id, o.msg)
			}
		} else {
			_, err := conn.ExecContext(bg, "INSERT INTO t (client, seq) VALUES (?, ?)", c.id, seq)
			o := classify(err)
			c.counts[o.kind]++
			if o.kind == "ok" {
				c.acked = append(c.acked, seq)
				c.lastOKAt = append(c.lastOKAt, time.Now())
			} else if o.kind == "other" {
				t.Logf("client %d insert: %s", c.id, o.msg)
			}
		}
		var n int
		err := conn.QueryRowContext(bg, "SELECT COUNT(*) FROM t WHERE client = ?", c.id).Scan(&n)
		if o := classify(err); o.kind != "ok" {
			c.counts["read_"+o.kind]++
			if c.counts["read_"+o.kind] == 1 {
				t.Logf("client %d read: %s", c.id, o.msg)
			}
			continue
		}
		if n < len(c.acked) {
			c.stale++
		}
	}
}

// tallied is what the clients of one writer change got, together.
type tallied struct {
	total, tx  map[string]int // statements by outcome; errors inside transactions by kind
	stale      int            // SESSION reads that missed an acknowledged write
	lost, tail int            // acknowledged writes missing on the new writer; rows only the old one has
	firstOK    time.Time      // the first acknowledged write after since
}

// tally adds up the clients' outcomes and checks that every acknowledged write is on the new
// writer nw once. With old (the revived old writer, after a failover) an acknowledged write
// missing on nw may be in the un-replicated tail, and is counted as lost.
func tally(t *testing.T, name string, clients []*client, since time.Time, nw, old *sql.DB) tallied {
	t.Helper()
	r := tallied{total: map[string]int{}, tx: map[string]int{}}
	rowsOf := func(db *sql.DB, id int) map[int]int {
		rows := map[int]int{}
		q, err := db.Query("SELECT seq, COUNT(*) FROM t WHERE client = ? GROUP BY seq", id)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		for q.Next() {
			var s, n int
			_ = q.Scan(&s, &n)
			rows[s] = n
		}
		return rows
	}
	for _, c := range clients {
		for k, v := range c.counts {
			r.total[k] += v
		}
		for k, v := range c.txErrs {
			r.tx[k] += v
		}
		r.stale += c.stale
		for _, at := range c.lastOKAt {
			if at.After(since) && (r.firstOK.IsZero() || at.Before(r.firstOK)) {
				r.firstOK = at
			}
		}
		rows := rowsOf(nw, c.id)
		var tail map[int]int
		if old != nil {
			tail = rowsOf(old, c.id)
			for s := range tail {
				if rows[s] == 0 {
					r.tail++
				}
			}
		}
		for _, s := range c.acked {
			switch {
			case rows[s] == 0 && tail[s] == 1:
				r.lost++
			case rows[s] != 1:
				t.Errorf("%s: client %d seq %d acknowledged, %d rows on the new writer", name, c.id, s, rows[s])
			}
		}
		for s, n := range rows {
			if n > 1 {
				t.Errorf("%s: client %d seq %d ran %d times", name, c.id, s, n)
			}
		}
	}
	return r
}

func TestSwitchoverUnderLoad(t *testing.T) {
	w := freshTable(t, "wchange", "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, client INT, seq INT, UNIQUE KEY (client, seq))")
	if err := p.WaitReplicated(context.Background()); err != nil {
		t.Fatal(err)
	}
	srvA, addrA := startProxy(t, nil)
	srvB, addrB := startProxy(t, nil)
	dbs := []*sql.DB{open(t, addrA, "wchange"), open(t, addrB, "wchange")}

	orig, promoted, other := member(t, p.WriterAddr), member(t, p.Replicas[0].Addr), member(t, p.Replicas[1].Addr)
	change := sandbox.Change{Writer: orig, Target: promoted, Others: []sandbox.Member{other},
		ReplUser: p.ReplUser, ReplPass: p.ReplPassword}
	back := sandbox.Change{Writer: promoted, Target: orig, Others: []sandbox.Member{other},
		ReplUser: p.ReplUser, ReplPass: p.ReplPassword}

	token := causalToken(t, dbs[0])
	for round, ch := range []struct {
		name   string
		change sandbox.Change
		to     string
	}{{"switchover", change, p.Replicas[0].Addr}, {"switchback", back, p.WriterAddr}} {
		ctx, stop := context.WithCancel(context.Background())
		clients := make([]*client, 8)
		var wg sync.WaitGroup
		for i := range clients {
			clients[i] = &client{id: round*100 + i}
			wg.Add(1)
			go func() {
				defer wg.Done()
				clients[i].run(ctx, t, dbs[i%2])
			}()
		}
		time.Sleep(time.Second)
		started := time.Now()
		if err := sandbox.Switchover(context.Background(), ch.change); err != nil {
			stop()
			wg.Wait()
			t.Fatalf("%s: %v", ch.name, err)
		}
		done := time.Now()
		time.Sleep(2 * time.Second)
		stop()
		wg.Wait()

		nw := open(t, ch.to, "wchange")
		r := tally(t, ch.name, clients, started, nw, nil)
		total, stale := r.total, r.stale
		t.Logf("%s took %s; statements by outcome %v; errors inside transactions %v", ch.name, done.Sub(started).Round(time.Millisecond), total, r.tx)
		if !r.firstOK.IsZero() {
			t.Logf("%s: first acknowledged write %s after the switchover began", ch.name, r.firstOK.Sub(started).Round(time.Millisecond))
		}
		for _, s := range []*proxy.Server{srvA, srvB} {
			st := s.Status()
			if st.Writer != ch.to {
				t.Errorf("%s: the proxy's writer is %q, want %q", ch.name, st.Writer, ch.to)
			}
			if ws := st.Writers; ws != nil && len(ws.Changes) > 0 {
				last := ws.Changes[len(ws.Changes)-1]
				if last.FirstWrite != nil {
					t.Logf("%s: instance saw the writer lost at +%s, found at +%s, first forwarded write at +%s", ch.name,
						last.Lost.Sub(started).Round(time.Millisecond), last.At.Sub(started).Round(time.Millisecond),
						last.FirstWrite.Sub(started).Round(time.Millisecond))
				}
			}
		}
		for _, k := range []string{"duplicate", "tx_duplicate"} {
			if total[k] > 0 {
				t.Errorf("%s: %d writes ran twice (1062)", ch.name, total[k])
			}
		}
		for _, k := range []string{"readonly", "tx_readonly", "read_readonly"} {
			if total[k] > 0 {
				t.Errorf("%s: %d statements got the demoted writer's 1290", ch.name, total[k])
			}
		}
		if r.tx["other"]+total["other"]+total["tx_other"] > 0 {
			t.Errorf("%s: errors other than the terminated and unreachable ones: %v / %v", ch.name, total, r.tx)
		}
		if stale > 0 {
			t.Errorf("%s: %d SESSION reads missed the session's own acknowledged write", ch.name, stale)
		}
		// A token the first writer issued stays good on the other instance:
		// the new writer holds the old one's transactions.
		readAfter(t, dbs[1], token, ch.name)
	}
	// The original writer writes last, so no replica's position names a GTID of its own.
	if _, err := w.Exec("INSERT INTO t (client, seq) VALUES (-1, -1)"); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReplicated(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// causalToken makes a forwarded write and returns its causal token.
func causalToken(t *testing.T, db *sql.DB) string {
	t.Helper()
	ctx := context.Background()
	c := oneConn(t, db)
	for _, q := range []string{"SET aurora_replica_read_consistency = 'SESSION'", "INSERT INTO t (client, seq) VALUES (-2, -2)"} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var tok string
	if err := c.QueryRowContext(ctx, "SELECT @@fwdproxy_causal_token").Scan(&tok); err != nil || tok == "" {
		t.Fatalf("causal token %q: %v", tok, err)
	}
	return tok
}

// oneConn is one session of db, closed when the test ends.
func oneConn(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readAfter hands tok back on a fresh session and reads; a token of a writer
// that never was this cluster's still gets 1231.
func readAfter(t *testing.T, db *sql.DB, tok, when string) {
	t.Helper()
	ctx := context.Background()
	c := oneConn(t, db)
	if _, err := c.ExecContext(ctx, "SET fwdproxy_read_after = '"+tok+"'"); err != nil {
		t.Errorf("after the %s, the token %s from before it: %v", when, tok, err)
	}
	var n int
	if err := c.QueryRowContext(ctx, "SELECT COUNT(*) FROM t WHERE client = -2").Scan(&n); err != nil || n != 1 {
		t.Errorf("after the %s, a read after the token: %d rows, %v", when, n, err)
	}
	var me *mysql.MySQLError
	_, err := c.ExecContext(ctx, "SET fwdproxy_read_after = 'fp1:ma:999.0:0-999-1'")
	if !asMySQL(err, &me) || me.Number != 1231 {
		t.Errorf("after the %s, a foreign token: %v, want 1231", when, err)
	}
}

// Two instances at pct = 10 share the writer's cap: together they never hold more than
// floor(max_connections × 10 / 100) writer connections, and an instance that goes frees its share.
func TestSharedWriterCap(t *testing.T) {
	w := freshTable(t, "wcap", "CREATE TABLE IF NOT EXISTS t (id INT AUTO_INCREMENT PRIMARY KEY)")
	var maxConn int
	if err := w.QueryRow("SELECT @@GLOBAL.max_connections").Scan(&maxConn); err != nil {
		t.Fatal(err)
	}
	limit := maxConn * 10 / 100
	shared := func(c *proxy.Config) {
		c.Writers, c.Writer, c.Reader = nil, p.WriterAddr, p.ReaderAddr
		c.WriterMaxConnectionsPct, c.SharedWriterLimits = 10, true
	}
	srvA, addrA := startProxy(t, shared)
	_, addrB := startProxy(t, shared)
	dbA, dbB := open(t, addrA, "wcap"), open(t, addrB, "wcap")
	held := func() int {
		var n int
		q := "SELECT 0"
		for i := 0; i < limit+5; i++ {
			q += fmt.Sprintf(" + (IS_USED_LOCK('fwdproxy_slot_%d') IS NOT NULL)", i)
		}
		if err := w.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Sessions that hold a writer connection: an open transaction with a forwarded write.
	var open []*sql.Conn
	got := map[string]int{}
	for i := 0; i < limit+6; i++ {
		db := dbA
		if i%2 == 1 {
			db = dbB
		}
		c, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
		_, err = c.ExecContext(context.Background(), "SET aurora_replica_read_consistency = 'SESSION'")
		if err == nil {
			_, err = c.ExecContext(context.Background(), "BEGIN")
		}
		if err == nil {
			_, err = c.ExecContext(context.Background(), "INSERT INTO t VALUES ()")
		}
		var me *mysql.MySQLError
		switch {
		case err == nil:
			got["ok"]++
		case asMySQL(err, &me) && me.Number == 1040:
			got["1040"]++
		default:
			t.Fatalf("session %d: %v", i, err)
		}
		if n := held(); n > limit {
			t.Fatalf("%d slots held on the writer, the cap is %d", n, limit)
		}
	}
	t.Logf("cap %d: sessions %v", limit, got)
	if got["ok"] != limit || got["1040"] != 6 {
		t.Errorf("got %v, want %d forwarded and 6 refused with 1040", got, limit)
	}
	for _, c := range open {
		_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		c.Close()
	}
	// Instance A goes, and B's clients leave: the shares free themselves with the connections.
	srvA.Close()
	dbB.Close()
	var free bool
	for i := 0; i < 100 && !free; i++ {
		free = held() == 0
		time.Sleep(50 * time.Millisecond)
	}
	if !free {
		t.Errorf("%d slots still held after the sessions ended", held())
	}
}

// The writer dies under a mixed load through two instances and a replica is promoted with
// sandbox.Failover(allowDataLoss): no write runs twice, every open transaction ends with the
// terminated error (a COMMIT cut off with the outcome-unknown one), and an acknowledged write
// is lost only when it is in the un-replicated tail that the revived old writer still has.
// The second replica replicates through a delay link, so the promoted one is the most advanced.
func TestFailoverUnderLoad(t *testing.T) {
	freshTable(t, "wfail", "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, client INT, seq INT, UNIQUE KEY (client, seq))")
	if err := p.WaitReplicated(context.Background()); err != nil {
		t.Fatal(err)
	}
	delayLink(t, p.Replicas[1], p.WriterAddr, 100*time.Millisecond)
	srvA, addrA := startProxy(t, nil)
	srvB, addrB := startProxy(t, nil)
	dbs := []*sql.DB{open(t, addrA, "wfail"), open(t, addrB, "wfail")}

	ctx, stop := context.WithCancel(context.Background())
	clients := make([]*client, 8)
	var wg sync.WaitGroup
	for i := range clients {
		clients[i] = &client{id: 300 + i}
		wg.Add(1)
		go func() {
			defer wg.Done()
			clients[i].run(ctx, t, dbs[i%2])
		}()
	}
	time.Sleep(time.Second)
	if err := p.Script("kill", "writer"); err != nil {
		stop()
		wg.Wait()
		t.Fatal(err)
	}
	killed := time.Now() // pair.sh kill returns once the writer is gone
	promoted, other := member(t, p.Replicas[0].Addr), member(t, p.Replicas[1].Addr)
	err := sandbox.Failover(context.Background(), sandbox.Change{Target: promoted, Others: []sandbox.Member{other},
		ReplUser: p.ReplUser, ReplPass: p.ReplPassword}, true)
	failedOver := time.Now()
	if err == nil {
		time.Sleep(2 * time.Second)
	}
	stop()
	wg.Wait()
	srvA.Close()
	srvB.Close()
	if err != nil {
		t.Fatalf("failover: %v", err)
	}
	t.Logf("writer killed; failover took %s", failedOver.Sub(killed).Round(time.Millisecond))

	// The old writer comes back (read-only at once): what it has that the new writer lacks is
	// the un-replicated tail.
	if err := p.Script("revive", "writer"); err != nil {
		t.Fatal(err)
	}
	old := member(t, p.WriterAddr)
	if _, err := old.DB.Exec("SET GLOBAL read_only = 1"); err != nil {
		t.Fatal(err)
	}
	nw := open(t, p.Replicas[0].Addr, "wfail")
	ow := open(t, p.WriterAddr, "wfail")
	r := tally(t, "failover", clients, killed, nw, ow)
	t.Logf("failover: statements by outcome %v; errors inside transactions %v", r.total, r.tx)
	if r.lost > r.tail {
		t.Errorf("failover: %d acknowledged writes lost, more than the %d rows of the un-replicated tail", r.lost, r.tail)
	}
	if r.lost == 0 && r.stale > 0 {
		t.Errorf("failover: %d SESSION reads missed the session's own acknowledged write, and no write was lost", r.stale)
	}
	t.Logf("failover: un-replicated tail %d rows, acknowledged writes lost %d, SESSION reads that missed one %d", r.tail, r.lost, r.stale)
	if !r.firstOK.IsZero() {
		t.Logf("failover: first acknowledged write %s after the kill, %s after the promotion",
			r.firstOK.Sub(killed).Round(time.Millisecond), r.firstOK.Sub(failedOver).Round(time.Millisecond))
	}
	// unreachable: a statement that had not gone waits for the new writer (--writer-change-wait,
	// 30s here) and goes there.
	for _, k := range []string{"tx_other", "other", "duplicate", "tx_duplicate", "readonly", "tx_readonly", "unreachable", "tx_unreachable"} {
		if r.total[k] > 0 {
			t.Errorf("failover: %d statements got %s: %v", r.total[k], k, r.total)
		}
	}
	for k, n := range r.tx {
		if k != "terminated" && k != "unknown" {
			t.Errorf("failover: %d statements in open transactions got %s, not the terminated error", n, k)
		}
	}
	rejoin(t, "wfail", old, promoted, other)
}

// delayLink makes replica r replicate from upstream through a link that delays what upstream
// sends by d, until the test ends.
func delayLink(t *testing.T, r pair.Replica, upstream string, d time.Duration) {
	t.Helper()
	link := &sandbox.Link{Listen: "127.0.0.1:0", Upstream: upstream, DelayDown: d}
	if err := link.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { link.Close() })
	lhost, lport, _ := net.SplitHostPort(link.Addr().String())
	ln, _ := strconv.Atoi(lport)
	if err := p.SetMasterOf(r, lhost, ln); err != nil {
		t.Fatal(err)
	}
}

// rejoin makes the failed-over old writer a replica of the new one, without its tail (in
// database db), and then the writer again, so the pair ends as it began and no replica's
// position names a GTID of its own.
func rejoin(t *testing.T, db string, old, promoted, other sandbox.Member) {
	t.Helper()
	var pos string
	if err := promoted.DB.QueryRow("SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	conn, err := old.DB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{
		"SET SESSION sql_log_bin = 0", "DROP DATABASE IF EXISTS " + db, "RESET MASTER",
		"SET GLOBAL gtid_slave_pos = '" + pos + "'",
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='%s', MASTER_PASSWORD='%s', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
			promoted.Host, promoted.Port, p.ReplUser, p.ReplPassword),
		"START SLAVE",
	} {
		if _, err := conn.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("rejoin the old writer: %s: %v", q, err)
		}
	}
	// The tail's table goes everywhere; it also puts a GTID of the new writer into the old one's binlog.
	if _, err := promoted.DB.Exec("DROP DATABASE IF EXISTS " + db); err != nil {
		t.Fatal(err)
	}
	if err := sandbox.Switchover(context.Background(), sandbox.Change{Writer: promoted, Target: old, Others: []sandbox.Member{other},
		ReplUser: p.ReplUser, ReplPass: p.ReplPassword}); err != nil {
		t.Fatalf("switch back to the old writer: %v", err)
	}
	if err := p.CreateDatabase(db); err != nil { // the old writer writes last
		t.Fatal(err)
	}
}

// With --shared-writer-limits the forwarding switch is one for every instance in front of the
// writer: turned off through one instance's admin API, both refuse forwarded writes (an open
// transaction on the other one gets the terminated error); turned on through the other, both
// forward again; and the instance that holds it off takes the switch with it when it stops.
func TestSharedForwardingSwitch(t *testing.T) {
	freshTable(t, "wswitch", "CREATE TABLE IF NOT EXISTS t (id INT AUTO_INCREMENT PRIMARY KEY)")
	shared := func(c *proxy.Config) {
		c.Writers, c.Writer, c.Reader = nil, p.WriterAddr, p.ReaderAddr
		c.SharedWriterLimits = true
		c.DefaultConsistency = "SESSION"
	}
	srvA, addrA := startProxy(t, shared)
	var cfgB proxy.Config
	srvB, addrB := startProxy(t, func(c *proxy.Config) { shared(c); cfgB = *c })
	dbA, dbB := open(t, addrA, "wswitch"), open(t, addrB, "wswitch")
	post := func(srv *proxy.Server, enabled bool) {
		t.Helper()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "http://127.0.0.1:4001/forwarding", strings.NewReader(fmt.Sprintf(`{"enabled": %v}`, enabled)))
		req.Header.Set("Content-Type", "application/json")
		srv.AdminHandler().ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("POST /forwarding enabled=%v: %d %s", enabled, rec.Code, rec.Body.String())
		}
	}
	// until waits for an instance to take the switch's state from the writer (it looks twice a
	// second); the bound only keeps a broken switch from hanging the test.
	until := func(srv *proxy.Server, want string) {
		t.Helper()
		for i := 0; srv.ForwardingStatus() != want; i++ {
			if i == 600 {
				t.Fatalf("forwarding status %s, want %s", srv.ForwardingStatus(), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	insert := func(db *sql.DB) outcome {
		_, err := db.Exec("INSERT INTO t VALUES ()")
		return classify(err)
	}
	// fwdproxy doctor sees both instances on the writer, and which one holds the switch off.
	for i := 0; srvA.Status().Instances != 2 || srvB.Status().Instances != 2; i++ {
		if i == 600 {
			t.Fatalf("instances seen: A %d, B %d, want 2", srvA.Status().Instances, srvB.Status().Instances)
		}
		time.Sleep(50 * time.Millisecond)
	}
	doctorSays := func() string {
		t.Helper()
		q, closeQ, err := doctor.Connect(context.Background(), p.WriterAddr, p.User, p.Password, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer closeQ()
		r := doctor.CheckInstances(context.Background(), &doctor.Env{W: doctor.NewServer(context.Background(), "writer", p.WriterAddr, q, nil)})
		if len(r) != 1 {
			t.Fatalf("doctor: %+v", r)
		}
		t.Logf("doctor: %s", r[0].Detail)
		return r[0].Detail
	}
	if d := doctorSays(); !strings.Contains(d, "2 fwdproxy instances use this writer") || strings.Contains(d, "switched off") {
		t.Errorf("doctor with two instances: %s", d)
	}
	for name, db := range map[string]*sql.DB{"A": dbA, "B": dbB} {
		if o := insert(db); o.kind != "ok" {
			t.Fatalf("%s before: %v", name, o)
		}
	}
	tx, err := dbB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	for _, q := range []string{"BEGIN", "INSERT INTO t VALUES ()"} {
		if _, err := tx.ExecContext(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}

	post(srvA, false)
	until(srvA, "disabled")
	until(srvB, "disabled")
	if d := doctorSays(); !strings.Contains(d, "forwarding is switched off for all of them") {
		t.Errorf("doctor with forwarding off: %s", d)
	}
	for name, db := range map[string]*sql.DB{"A": dbA, "B": dbB} {
		if o := insert(db); o.kind != "readonly" {
			t.Errorf("%s after A turned forwarding off: %v, want the forwarding-disabled 1290", name, o)
		}
	}
	_, err = tx.ExecContext(context.Background(), "COMMIT")
	if o := classify(err); o.kind != "terminated" {
		t.Errorf("B's open transaction after A turned forwarding off: %v, want terminated", o)
	}
	// A reload of B with its unchanged forwarding: true leaves the shared switch alone.
	if err := srvB.Reload(cfgB); err != nil {
		t.Fatal(err)
	}
	if st := srvB.ForwardingStatus(); st != "disabled" {
		t.Errorf("B after a reload with its settings unchanged: forwarding %s, want disabled", st)
	}

	post(srvB, true)
	until(srvB, "enabled")
	until(srvA, "enabled")
	for name, db := range map[string]*sql.DB{"A": dbA, "B": dbB} {
		if o := insert(db); o.kind != "ok" {
			t.Errorf("%s after B turned forwarding on: %v", name, o)
		}
	}

	// Off through A again, and A stops: the switch goes with it, as a switch turned off on one
	// instance lasted until that instance's restart.
	post(srvA, false)
	until(srvB, "disabled")
	srvA.Close()
	until(srvB, "enabled")
	if o := insert(dbB); o.kind != "ok" {
		t.Errorf("B after A stopped: %v", o)
	}
}

// The shared forwarding switch follows a switchover: the instance holding it off takes it on the
// new writer, and both instances stay off there until it is turned on again. An instance
// started with forwarding off turns it off for the others too.
func TestSharedForwardingSwitchFollowsSwitchover(t *testing.T) {
	freshTable(t, "wswitch2", "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY)")
	if err := p.WaitReplicated(context.Background()); err != nil {
		t.Fatal(err)
	}
	shared := func(c *proxy.Config) { c.SharedWriterLimits = true; c.DefaultConsistency = "SESSION" }
	srvA, _ := startProxy(t, func(c *proxy.Config) { shared(c); c.Forwarding = false })
	srvB, addrB := startProxy(t, shared)
	dbB := open(t, addrB, "wswitch2")
	held := func(addr string) bool {
		var used sql.NullInt64
		if err := open(t, addr, "").QueryRow("SELECT IS_USED_LOCK('fwdproxy_forwarding_off')").Scan(&used); err != nil {
			t.Fatal(err)
		}
		return used.Valid
	}
	// until waits for a condition the instances reach within a round or two; the bound only
	// keeps a broken switch from hanging the test.
	until := func(what string, ok func() bool) {
		t.Helper()
		for i := 0; !ok(); i++ {
			if i == 600 {
				t.Fatalf("never: %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	until("B off: A started with forwarding off", func() bool { return srvB.ForwardingStatus() == "disabled" })
	if !held(p.WriterAddr) {
		t.Fatal("the switch is not held on the writer")
	}

	orig, promoted, other := member(t, p.WriterAddr), member(t, p.Replicas[0].Addr), member(t, p.Replicas[1].Addr)
	if err := sandbox.Switchover(context.Background(), sandbox.Change{Writer: orig, Target: promoted,
		Others: []sandbox.Member{other}, ReplUser: p.ReplUser, ReplPass: p.ReplPassword}); err != nil {
		t.Fatal(err)
	}
	until("the switch held on the new writer", func() bool { return held(p.Replicas[0].Addr) })
	until("both on the new writer", func() bool {
		return srvA.Status().Writer == p.Replicas[0].Addr && srvB.Status().Writer == p.Replicas[0].Addr
	})
	// An instance looks at the new writer's switch on its next round (twice a
	// second): until then it may still forward, as docs/operations.md says.
	until("both off on the new writer", func() bool {
		return srvA.ForwardingStatus() == "disabled" && srvB.ForwardingStatus() == "disabled"
	})
	if _, err := dbB.Exec("INSERT INTO t VALUES ()"); classify(err).kind != "readonly" {
		t.Errorf("a forwarded write through B after the switchover: %v, want the forwarding-disabled 1290", err)
	}
	if err := srvB.SetForwarding(true); err != nil {
		t.Fatal(err)
	}
	until("A on", func() bool { return srvA.ForwardingStatus() == "enabled" })
	if held(p.Replicas[0].Addr) {
		t.Error("the switch is still held after B turned forwarding on")
	}

	if err := sandbox.Switchover(context.Background(), sandbox.Change{Writer: promoted, Target: orig,
		Others: []sandbox.Member{other}, ReplUser: p.ReplUser, ReplPass: p.ReplPassword}); err != nil {
		t.Fatal(err)
	}
	// Back with no write in between (the original writer has the position in its own binlog),
	// and forwarding is on: a write through B goes to the original writer, which so writes last
	// and no replica's position names a GTID of its own.
	if _, err := dbB.Exec("INSERT INTO t VALUES ()"); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReplicated(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Two instances without --shared-writer-limits each allow the whole writer connection cap:
// each still counts the instances on the writer (an instance lock, looked at every 10 s) and
// warns that the other one keeps limits of its own.
func TestUnsharedInstancesWarn(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	one := func(c *proxy.Config) { c.Writers, c.Writer, c.Reader = nil, p.WriterAddr, p.ReaderAddr }
	srvA, _ := startProxyLog(t, one, zap.New(core))
	srvB, _ := startProxy(t, one)
	// The bound only keeps a broken count from hanging the test: A counts again after 10 s.
	for i := 0; srvA.Status().Instances != 2 || srvB.Status().Instances != 2; i++ {
		if i == 600 {
			t.Fatalf("instances seen without --shared-writer-limits: A %d, B %d, want 2", srvA.Status().Instances, srvB.Status().Instances)
		}
		time.Sleep(50 * time.Millisecond)
	}
	warned := logs.FilterMessageSnippet("without --shared-writer-limits")
	if warned.Len() != 1 || warned.All()[0].ContextMap()["instances"] != int64(2) {
		t.Errorf("A's warnings about unshared limits: %+v, want one naming 2 instances", warned.All())
	}
}
