package integration

import (
	"database/sql"
	"strconv"
	"testing"
	"time"

	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/proxy"
)

// waitTracking polls /status's push_tracking until it reads want.
func waitTracking(t *testing.T, srv *proxy.Server, want string) {
	t.Helper()
	pair.WaitUntil(t, "push_tracking", want, func() string { return srv.Status().PushTracking })
}

// The binlog tracker runs only while a session reads at SESSION or GLOBAL,
// stops when the last one is gone, and starts again when one comes back.
func TestPushTrackingOnDemand(t *testing.T) {
	srv, addr := startServer(t, func(c *proxy.Config) {
		c.DefaultConsistency = "EVENTUAL"
		c.PushTracking = true
		c.PushTrackingLinger = 500 * time.Millisecond
	})
	table(t, "track_t")
	c := conn(t, addr, "")
	exec(t, c, "DELETE FROM track_t")
	time.Sleep(1200 * time.Millisecond) // two ticks with no SESSION reader
	if got := srv.Status().PushTracking; got != "idle" {
		t.Fatalf("EVENTUAL sessions only: push_tracking %q; want idle", got)
	}

	exec(t, c, "SET aurora_replica_read_consistency = 'SESSION'")
	waitTracking(t, srv, "running")
	for i := 1; i <= 50; i++ {
		exec(t, c, "INSERT INTO track_t (id, v) VALUES (?, ?)", i, i)
		if got := one(t, c, "SELECT COUNT(*) FROM track_t"); got != strconv.Itoa(i) {
			t.Fatalf("SESSION read after insert %d saw %s rows", i, got)
		}
	}

	exec(t, c, "SET aurora_replica_read_consistency = 'EVENTUAL'")
	waitTracking(t, srv, "idle")

	// GLOBAL counts too, and a session that ends releases its claim.
	gdb, err := sql.Open("mysql", pair.DSN(addr, thePair.User, thePair.Password, testDB))
	if err != nil {
		t.Fatal(err)
	}
	defer gdb.Close()
	gdb.SetMaxOpenConns(1)
	g, err := gdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, g, "SET aurora_replica_read_consistency = 'GLOBAL'")
	waitTracking(t, srv, "running")
	exec(t, c, "INSERT INTO track_t (id, v) VALUES (1000, 1)")
	if got := one(t, g, "SELECT COUNT(*) FROM track_t WHERE id = 1000"); got != "1" {
		t.Fatalf("GLOBAL read after another session's insert saw %s rows", got)
	}
	g.Close()
	gdb.Close() // the client disconnects
	waitTracking(t, srv, "idle")
}

// Push tracking is off by default and never runs then; turned on, with
// SESSION as the default, every session needs the tracker.
func TestPushTrackingDefaultAndOff(t *testing.T) {
	srv, addr := startServer(t, func(c *proxy.Config) {
		c.DefaultConsistency = "SESSION"
		c.PushTracking = true
	})
	_ = conn(t, addr, "")
	waitTracking(t, srv, "running")

	off, addr2 := startServer(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := conn(t, addr2, "")
	exec(t, c, "SET aurora_replica_read_consistency = 'GLOBAL'")
	time.Sleep(1200 * time.Millisecond)
	if got := off.Status().PushTracking; got != "off" {
		t.Fatalf("default settings: push_tracking %q; want off", got)
	}
}

// Backends given as Unix socket paths (a proxy next to its servers): reads,
// forwarded writes, SESSION waits through the binlog tracker, readiness and
// KILL QUERY all go over the sockets.
func TestUnixSocketBackends(t *testing.T) {
	if thePair.ReaderSocket == "" || thePair.WriterSocket == "" {
		t.Fatal("the pair has no socket paths")
	}
	table(t, "sock_t")
	srv, addr := startServer(t, func(c *proxy.Config) {
		c.Writer = thePair.WriterSocket
		c.Reader = thePair.ReaderSocket
		c.DefaultConsistency = "SESSION"
		c.PushTracking = true
	})
	if err := srv.Ready(); err != nil {
		t.Fatalf("Ready over sockets: %v", err)
	}
	c := conn(t, addr, "")
	waitTracking(t, srv, "running")
	for i := 10; i < 30; i++ {
		exec(t, c, "INSERT INTO sock_t (id, v) VALUES (?, ?)", i, i)
		if got := one(t, c, "SELECT v FROM sock_t WHERE id = ?", i); got != strconv.Itoa(i) {
			t.Fatalf("SESSION read of row %d over sockets: %q", i, got)
		}
	}
	if got := one(t, c, "SELECT @@server_id"); got != "2" {
		t.Fatalf("reads went to server_id %s; want the replica (2)", got)
	}
	// KILL QUERY from another session reaches the reader over its socket.
	k := conn(t, addr, "")
	id := one(t, c, "SELECT CONNECTION_ID()")
	done := make(chan error, 1)
	go func() {
		_, err := c.ExecContext(ctx, "SELECT SLEEP(20)")
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	exec(t, k, "KILL QUERY "+id)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("KILL QUERY over a socket did not stop SLEEP(20)")
	}
}
