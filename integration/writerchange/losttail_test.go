package writerchange

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/fwdproxy/fwdproxy/proxy"
	"github.com/fwdproxy/fwdproxy/sandbox"
)

// A failover loses the tail that holds sessions' last acknowledged writes: both replicas stop
// replicating, a session at connection scope and one at the user scope write through the
// proxy, the writer dies and a replica is promoted with allowDataLoss. Afterwards no wait
// target names the lost GTIDs: those sessions' SESSION reads, a fresh user-scope session's
// and one that hands back a causal token from before are served (no 3024 with a
// read-wait-timeout far longer than any real wait here), a session's next write is read
// back (also one made before any read), and /status names the lost GTIDs.
func TestFailoverLostTail(t *testing.T) {
	const db = "wlost"
	freshTable(t, db, "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, who VARCHAR(8))")
	ctx := context.Background()
	srv, addr, logs := startProxyWarnings(t, func(c *proxy.Config) {
		c.ReadWaitTimeout, c.ReadWaitTimeoutAction = 20*time.Second, "error"
	})
	pdb := open(t, addr, db)
	session := func(scope string) *sql.Conn {
		c := oneConn(t, pdb)
		for _, q := range []string{"SET aurora_replica_read_consistency = 'SESSION'", "SET fwdproxy_session_scope = '" + scope + "'"} {
			if _, err := c.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	write := func(c *sql.Conn, who string) {
		t.Helper()
		if _, err := c.ExecContext(ctx, "INSERT INTO t (who) VALUES (?)", who); err != nil {
			t.Fatal(err)
		}
	}
	token := func(c *sql.Conn) string {
		t.Helper()
		var tok string
		if err := c.QueryRowContext(ctx, "SELECT @@fwdproxy_causal_token").Scan(&tok); err != nil || tok == "" {
			t.Fatalf("causal token %q: %v", tok, err)
		}
		return tok
	}
	// first writes on the new writer before it reads again.
	conn, first, user := session("connection"), session("connection"), session("user")
	write(conn, "conn") // replicated: survives the failover
	write(first, "first")
	write(user, "user")
	if err := p.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range p.Replicas {
		if err := p.Script("pause", r.Name); err != nil {
			t.Fatal(err)
		}
	}
	// Acknowledged, in the tail only. Three, so that on MariaDB the new writer's next sequence
	// number in the domain stays below the session's lost one.
	for range 3 {
		write(conn, "conn")
	}
	for range 3 {
		write(first, "first")
	}
	write(user, "user")
	connTok, userTok := token(conn), token(user)

	if err := p.Script("kill", "writer"); err != nil {
		t.Fatal(err)
	}
	promoted, other := member(t, p.Replicas[0].Addr), member(t, p.Replicas[1].Addr)
	if err := sandbox.Failover(ctx, sandbox.Change{Target: promoted, Others: []sandbox.Member{other},
		ReplUser: p.ReplUser, ReplPass: p.ReplPassword}, true); err != nil {
		t.Fatalf("failover: %v", err)
	}
	// The bound only keeps a watch that never looks from hanging the test (it looks twice a second).
	for i := 0; srv.Status().Writer != p.Replicas[0].Addr; i++ {
		if i == 600 {
			t.Fatalf("the proxy's writer is %q, want the promoted %s", srv.Status().Writer, p.Replicas[0].Addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The reader now replicates from the new writer through a delay link: a SESSION read that
	// did not wait for the session's new write would miss it.
	delayLink(t, p.Replicas[1], p.Replicas[0].Addr, 300*time.Millisecond)

	count := func(c *sql.Conn, who, what string) int {
		t.Helper()
		var n int
		err := c.QueryRowContext(ctx, "SELECT COUNT(*) FROM t WHERE who = ?", who).Scan(&n)
		var me *mysql.MySQLError
		if asMySQL(err, &me) && me.Number == 3024 {
			t.Errorf("%s: the read waited for the lost tail: %v", what, err)
		} else if err != nil {
			t.Errorf("%s: %v", what, err)
		}
		return n
	}
	write(first, "first")
	if n := count(first, "first", "a SESSION read after the first write on the new writer"); n != 2 {
		t.Errorf("a session that wrote on the new writer first reads %d of its rows, want 2", n)
	}
	if n := count(conn, "conn", "the connection-scope session's SESSION read"); n != 1 {
		t.Errorf("the connection-scope session reads %d of its rows, want the 1 that survived", n)
	}
	count(user, "user", "the user-scope session's SESSION read")
	count(session("user"), "user", "another session of the user scope")
	for _, tok := range []string{connTok, userTok} {
		c := session("connection")
		if _, err := c.ExecContext(ctx, "SET fwdproxy_read_after = '"+tok+"'"); err != nil {
			t.Errorf("SET fwdproxy_read_after = %s from before the failover: %v", tok, err)
			continue
		}
		count(c, "conn", "a read after the token "+tok)
	}
	// The session's next write, on the new writer, is read back.
	write(conn, "conn")
	if n := count(conn, "conn", "the read after a write on the new writer"); n != 2 {
		t.Errorf("after a write on the new writer the session reads %d of its rows, want 2", n)
	}

	// /status names the lost GTIDs (MariaDB: the highest per domain), and the proxy warned.
	var lost string
	if ws := srv.Status().Writers; ws != nil && len(ws.Changes) > 0 {
		lost = ws.Changes[len(ws.Changes)-1].LostGTIDs
	}
	got, err := srv.Flavor().ParseSet(lost)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{connTok, userTok} {
		set, err := srv.Flavor().ParseSet(strings.SplitN(tok, ":", 4)[3]) // fp1:flavour:cluster:set
		if err != nil {
			t.Fatal(err)
		}
		if !got.Contains(set) {
			t.Errorf("/status lost_gtids %q does not name %s", lost, set)
		}
	}
	if logs.FilterMessageSnippet("GTIDs lost in a writer change").Len() == 0 {
		t.Error("no warning named the lost GTIDs")
	}
	if n := lostCounted(t, srv); n == 0 {
		t.Error("fwdproxy_writer_change_lost_gtids_total counted nothing")
	}
	t.Logf("lost in the failover: %s", lost)
	srv.Close() // the old writer comes back writable, for a moment
	// The reader replicates directly again, caught up, before the old writer rejoins (the
	// switchover back catches up only its target).
	if err := p.SetMasterOf(p.Replicas[1], promoted.Host, promoted.Port); err != nil {
		t.Fatal(err)
	}
	var pos string
	var res sql.NullInt64
	if err := promoted.DB.QueryRow("SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	if err := other.DB.QueryRow("SELECT MASTER_GTID_WAIT(?, 30)", pos).Scan(&res); err != nil || res.Int64 != 0 {
		t.Fatalf("the reader catching up with %s: %v %v", pos, res, err)
	}
	if err := p.Script("revive", "writer"); err != nil {
		t.Fatal(err)
	}
	old := member(t, p.WriterAddr)
	if _, err := old.DB.Exec("SET GLOBAL read_only = 1"); err != nil {
		t.Fatal(err)
	}
	rejoin(t, db, old, promoted, other)
}

// lostCounted sums fwdproxy_writer_change_lost_gtids_total over its targets.
func lostCounted(t *testing.T, srv *proxy.Server) float64 {
	t.Helper()
	families, err := srv.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() == "fwdproxy_writer_change_lost_gtids_total" {
			for _, m := range f.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}
