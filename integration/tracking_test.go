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
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := srv.Status().PushTracking
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("push_tracking is %q after 15 s; want %q", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The binlog tracker runs only while a session reads at SESSION or GLOBAL,
// stops when the last one is gone, and starts again when one comes back.
func TestPushTrackingOnDemand(t *testing.T) {
	srv, addr := startServer(t, func(c *proxy.Config) {
		c.DefaultConsistency = "EVENTUAL"
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

// With SESSION as the default every session needs the tracker; with push
// tracking off it never runs.
func TestPushTrackingDefaultAndOff(t *testing.T) {
	srv, addr := startServer(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	_ = conn(t, addr, "")
	waitTracking(t, srv, "running")

	off, addr2 := startServer(t, func(c *proxy.Config) {
		c.DefaultConsistency = "SESSION"
		c.PushTracking = false
	})
	c := conn(t, addr2, "")
	exec(t, c, "SET aurora_replica_read_consistency = 'GLOBAL'")
	time.Sleep(1200 * time.Millisecond)
	if got := off.Status().PushTracking; got != "off" {
		t.Fatalf("--push-tracking=false: push_tracking %q; want off", got)
	}
}
