package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// socketPair returns both ends of a loopback connection on network.
func socketPair(t *testing.T, network string) (a, b net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err = net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestRawIOWrapsSocketsOnly(t *testing.T) {
	a, _ := socketPair(t, "tcp")
	if _, ok := withRawIO(a).(*rawIOConn); !ok {
		t.Fatal("a TCP socket was not wrapped")
	}
	p, q := net.Pipe()
	defer p.Close()
	defer q.Close()
	if withRawIO(p) != p {
		t.Fatal("a pipe (no file descriptor) must stay as it is")
	}
}

func TestRawIORoundTrip(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			a, b := socketPair(t, network)
			ra := withRawIO(a)
			// Larger than the socket buffers: the writer must wait for room
			// while the peer drains, and nothing may be lost or reordered.
			want := make([]byte, 8<<20)
			for i := range want {
				want[i] = byte(i * 7)
			}
			done := make(chan error, 1)
			go func() {
				_, err := ra.Write(want)
				done <- err
			}()
			got := make([]byte, len(want))
			if _, err := io.ReadFull(b, got); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("bytes differ after a write larger than the socket buffer")
			}
			// And back through the wrapper's read side.
			go func() { _, _ = b.Write(want[:100000]); b.Close() }()
			back, err := io.ReadAll(ra)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, want[:100000]) {
				t.Fatal("read side lost bytes")
			}
			// The peer closed: EOF, again and again.
			if n, err := ra.Read(make([]byte, 10)); n != 0 || err != io.EOF {
				t.Fatalf("after peer close: %d, %v; want 0, EOF", n, err)
			}
		})
	}
}

func TestRawIODeadlineAndClose(t *testing.T) {
	a, _ := socketPair(t, "tcp")
	ra := withRawIO(a)
	_ = ra.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := ra.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v; want os.ErrDeadlineExceeded", err)
	}
	_ = ra.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, err := ra.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	_ = ra.Close() // from another goroutine, as writerLife.kill does
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on a closed connection: %v; want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a blocked read")
	}
	if _, err := ra.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write on a closed connection: %v; want net.ErrClosed", err)
	}
}

func TestRawIOResetIsAnError(t *testing.T) {
	a, b := socketPair(t, "tcp")
	ra := withRawIO(a)
	_ = b.(*net.TCPConn).SetLinger(0) // close with RST
	b.Close()
	var err error
	for i := 0; i < 100 && err == nil; i++ { // the first write may still succeed
		_, err = ra.Write(make([]byte, 1024))
		time.Sleep(time.Millisecond)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("write after a reset: %v; want a *net.OpError", err)
	}
}

// The relay's steady state allocates nothing, and neither may its socket I/O.
func TestRawIOAllocatesNothing(t *testing.T) {
	a, b := socketPair(t, "tcp")
	ra := withRawIO(a)
	msg := []byte("0123456789")
	buf := make([]byte, 64)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := ra.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(b, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(ra, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	// b is a plain net.Conn; its own Read/Write allocate nothing either.
	if allocs != 0 {
		t.Fatalf("%.1f allocations per round trip; want 0", allocs)
	}
}
