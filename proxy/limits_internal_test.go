package proxy

import (
	"net"
	"strconv"
	"testing"
	"time"
)

func TestHostsBlockAfterFailuresInARow(t *testing.T) {
	var h hosts
	now := time.Unix(1000, 0)
	for i := 1; i <= 3; i++ {
		if blocks := h.failed("a", 3, time.Minute, now); blocks != (i == 3) {
			t.Fatalf("failure %d: blocks %v", i, blocks)
		}
	}
	if !h.blocked("a", now) || h.blocked("b", now) {
		t.Fatal("a must be blocked, b not")
	}
	if h.failed("a", 3, time.Minute, now) {
		t.Error("a failure while blocked blocks again")
	}
	if h.blocked("a", now.Add(time.Minute)) {
		t.Error("still blocked after the block time")
	}
	// The block ran out: a fresh count of three.
	later := now.Add(time.Minute)
	if h.failed("a", 3, time.Minute, later) || h.failed("a", 3, time.Minute, later) || !h.failed("a", 3, time.Minute, later) {
		t.Error("after the block, three failures block again")
	}
	h.reset()
	if h.blocked("a", later) {
		t.Error("reset leaves a blocked")
	}
}

func TestHostsSuccessForgets(t *testing.T) {
	var h hosts
	now := time.Unix(1000, 0)
	h.failed("a", 2, time.Minute, now)
	h.succeeded("a")
	if h.failed("a", 2, time.Minute, now) {
		t.Error("a success did not start the count again")
	}
	for i := 0; i < 10; i++ {
		if h.failed("z", 0, time.Minute, now) {
			t.Fatal("max 0 blocked")
		}
	}
}

func TestHostsTableIsBounded(t *testing.T) {
	var h hosts
	now := time.Unix(1000, 0)
	h.failed("blocked", 1, time.Hour, now)
	for i := 0; i < hostsMax+10; i++ {
		h.failed(strconv.Itoa(i), 5, time.Minute, now)
	}
	if len(h.seen) > hostsMax {
		t.Errorf("%d addresses remembered, the bound is %d", len(h.seen), hostsMax)
	}
}

func TestClientHost(t *testing.T) {
	for _, c := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5555}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 5555}, "2001:db8::1"},
		{hostAddr{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}}, "127.0.0.1"},
	} {
		if got := clientHost(c.addr); got != c.want {
			t.Errorf("clientHost(%v) = %q, want %q", c.addr, got, c.want)
		}
	}
}
