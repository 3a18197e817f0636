package sandbox

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// echoServer accepts connections and echoes everything back until EOF, then
// closes. It returns its address.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func startLink(t *testing.T, upstream string, up, down time.Duration) *Link {
	t.Helper()
	l := &Link{Listen: "127.0.0.1:0", Upstream: upstream, DelayUp: up, DelayDown: down}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func dial(t *testing.T, l *Link) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A round trip through an echo server costs at least up + down.
func TestLinkAddsDelayBothWays(t *testing.T) {
	const up, down = 40 * time.Millisecond, 90 * time.Millisecond
	l := startLink(t, echoServer(t), up, down)
	c := dial(t, l)
	buf := make([]byte, 5)
	for i := 0; i < 3; i++ {
		start := time.Now()
		if _, err := c.Write([]byte("ping!")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		if rtt := time.Since(start); rtt < up+down {
			t.Errorf("round trip %d took %s, want >= %s", i, rtt, up+down)
		}
		if string(buf) != "ping!" {
			t.Fatalf("got %q", buf)
		}
	}
}

// Each direction has its own delay: a server that speaks first is heard
// after the down delay only.
func TestLinkDirections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	arrived := make(chan time.Time, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("hello"))
		b := make([]byte, 3)
		if _, err := io.ReadFull(c, b); err == nil {
			arrived <- time.Now()
		}
	}()
	const up, down = 120 * time.Millisecond, 60 * time.Millisecond
	l := startLink(t, ln.Addr().String(), up, down)
	start := time.Now()
	c := dial(t, l)
	b := make([]byte, 5)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	if got := time.Since(start); got < down {
		t.Errorf("greeting after %s, want >= %s", got, down)
	}
	sent := time.Now()
	if _, err := c.Write([]byte("hey")); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-arrived:
		if got := at.Sub(sent); got < up {
			t.Errorf("upstream got data after %s, want >= %s", got, up)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("upstream never got the data")
	}
}

// Many megabytes in many writes arrive intact and in order, and the delay
// does not cap throughput to one chunk per delay.
func TestLinkBytesIntactAndOrdered(t *testing.T) {
	const delay = 50 * time.Millisecond
	l := startLink(t, echoServer(t), delay, delay)
	c := dial(t, l)
	data := make([]byte, 8<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		// Uneven writes, so that chunk boundaries move around.
		rest := data
		for i := 1; len(rest) > 0; i++ {
			n := min(len(rest), 1+(i*7919)%70000)
			if _, err := c.Write(rest[:n]); err != nil {
				errc <- err
				return
			}
			rest = rest[n:]
		}
		errc <- c.(*net.TCPConn).CloseWrite()
	}()
	start := time.Now()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("echoed %d bytes, want the %d sent, in order", len(got), len(data))
	}
	// Loose: one chunk per delay would take minutes.
	if el := time.Since(start); el > 30*time.Second {
		t.Errorf("8 MB took %s", el)
	}
}

// Connections are independent: concurrent clients each get their own bytes,
// delayed, and all of them finish.
func TestLinkConcurrentConnections(t *testing.T) {
	const delay = 30 * time.Millisecond
	l := startLink(t, echoServer(t), delay, delay)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			msg := bytes.Repeat([]byte{byte('a' + i)}, 1000+i)
			for j := 0; j < 5; j++ {
				start := time.Now()
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, msg) {
					errs <- errors.New("connection got another connection's bytes")
					return
				}
				if el := time.Since(start); el < 2*delay {
					errs <- errors.New("round trip shorter than the two delays: " + el.String())
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A client's close reaches the server (which then closes), and the client
// sees EOF; Close of the link ends open relays and refuses new clients.
func TestLinkCleanClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serverSawEOF := make(chan []byte, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				b, _ := io.ReadAll(c) // until the client's FIN comes through
				_, _ = c.Write([]byte("bye"))
				c.Close()
				serverSawEOF <- b
			}()
		}
	}()
	const delay = 20 * time.Millisecond
	l := &Link{Listen: "127.0.0.1:0", Upstream: ln.Addr().String(), DelayUp: delay, DelayDown: delay}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()

	// Half-close: the server gets every byte and EOF, its answer still
	// comes back, then the client reads EOF.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-serverSawEOF:
		if string(b) != "last words" {
			t.Fatalf("server read %q", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server never saw the client's EOF")
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); err != nil || string(b) != "bye" {
		t.Fatalf("client read %q, %v; want \"bye\" then EOF", b, err)
	}
	c.Close()

	// Close with a relay open: the client sees its connection end.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * delay) // the relay is set up
	done := make(chan struct{})
	go func() { l.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c2); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("connection still open after Close")
		}
	}
	if c3, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c3.Close()
		t.Fatal("link still accepts after Close")
	}
}

// An upstream that is down: the client's connection is closed, the link
// keeps serving.
func TestLinkUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	var mu sync.Mutex
	logged := 0
	l := &Link{Listen: "127.0.0.1:0", Upstream: dead,
		Logf: func(string, ...any) { mu.Lock(); logged++; mu.Unlock() }}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for i := 0; i < 2; i++ {
		c := dial(t, l)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("read data from a link whose upstream is down")
		} else {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("connection to a link whose upstream is down stays open")
			}
		}
	}
	l.Close()
	if logged != 2 {
		t.Errorf("%d failed dials logged, want 2", logged)
	}
}
