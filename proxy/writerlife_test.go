package proxy

import (
	"net"
	"testing"
	"time"
)

// The forward timeout's decisions, driven by hand (no clocks): past the
// timeout the KILL goes out once; past the grace only a round trip that
// cannot commit loses its connection, and only the round trip that timed out.
func TestForwardWatch(t *testing.T) {
	for _, c := range []struct {
		name      string
		mayCommit bool
		stale     bool // a newer round trip is under way when the grace ends
		closed    bool
	}{
		{"cannot commit: closed", false, false, true},
		{"may commit: kept, the client waits for the writer", true, false, false},
		{"a later round trip: kept", false, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, peer := net.Pipe()
			defer peer.Close()
			var l writerLife
			var kills []bool
			ack := make(chan bool, 1)
			l.attach(conn, func(mayCommit bool) <-chan bool { kills = append(kills, mayCommit); return ack })
			defer l.detach()

			l.watch(time.Hour, c.mayCommit)
			l.forwardExpired() // early: nothing happens
			if len(kills) != 0 {
				t.Fatalf("KILL before the timeout: %v", kills)
			}
			l.mu.Lock()
			l.fwd.due = time.Now().Add(-time.Millisecond)
			l.mu.Unlock()
			l.forwardExpired()
			l.forwardExpired()
			if len(kills) != 1 || kills[0] != c.mayCommit {
				t.Fatalf("KILLs sent: %v, want one with mayCommit %v", kills, c.mayCommit)
			}
			gen := l.fwd.gen
			if c.stale {
				if got, _ := l.unwatch(); got != (<-chan bool)(ack) {
					t.Fatalf("unwatch after the KILL: no answer channel to wait for")
				}
				l.watch(time.Hour, c.mayCommit)
			}
			l.forwardGiveUp(gen)
			closed := l.reason.Load() == killTimeout
			if closed != c.closed {
				t.Fatalf("connection closed: %v, want %v", closed, c.closed)
			}
			if closed {
				if _, err := conn.Read(make([]byte, 1)); err == nil {
					t.Fatalf("the connection still reads")
				}
			}
		})
	}
}

// A round trip that ends in time has no KILL to wait for.
func TestForwardWatchInTime(t *testing.T) {
	conn, peer := net.Pipe()
	defer peer.Close()
	var l writerLife
	l.attach(conn, func(bool) <-chan bool { t.Fatal("KILL sent"); return nil })
	defer l.detach()
	l.watch(time.Hour, false)
	if ack, _ := l.unwatch(); ack != nil {
		t.Fatalf("an answer channel for a round trip that ended in time")
	}
	l.forwardExpired() // a stale firing
}
