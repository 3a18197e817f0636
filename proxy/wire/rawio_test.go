package wire

import (
	"bytes"
	"errors"
	"fmt"
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

// A held request goes out only when the reply is read, before the read
// waits; it keeps its order with later writes; one larger than the socket
// buffer falls back to ordinary writes; and the whole exchange allocates
// nothing once warm.
func TestRawIOHeldRequest(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			a, b := socketPair(t, network)
			ra := withRawIO(a).(*rawIOConn)
			hold := func(p []byte) {
				ra.hold = true
				if _, err := ra.Write(p); err != nil {
					t.Fatal(err)
				}
				ra.hold = false
			}

			hold([]byte("ping"))
			_ = b.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if n, err := b.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("a held request was sent before the read: %d bytes, %v", n, err)
			}
			_ = b.SetReadDeadline(time.Time{})
			peer := make(chan error, 1)
			go func() {
				got := make([]byte, 4)
				if _, err := io.ReadFull(b, got); err != nil || string(got) != "ping" {
					peer <- fmt.Errorf("peer got %q, %v", got, err)
					return
				}
				_, err := b.Write([]byte("pong"))
				peer <- err
			}()
			reply := make([]byte, 4)
			if _, err := io.ReadFull(ra, reply); err != nil || string(reply) != "pong" {
				t.Fatalf("reply %q, %v", reply, err)
			}
			if err := <-peer; err != nil {
				t.Fatal(err)
			}

			// A plain write after a held one: the held bytes go first.
			hold([]byte("ab"))
			if _, err := ra.Write([]byte("cd")); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 4)
			if _, err := io.ReadFull(b, got); err != nil || string(got) != "abcd" {
				t.Fatalf("peer got %q, %v; want abcd", got, err)
			}

			// Larger than the socket buffers: the read's own write stops at
			// EAGAIN and the rest waits for room the ordinary way.
			big := make([]byte, 8<<20)
			for i := range big {
				big[i] = byte(i * 13)
			}
			hold(big)
			go func() {
				got := make([]byte, len(big))
				if _, err := io.ReadFull(b, got); err != nil || !bytes.Equal(got, big) {
					peer <- fmt.Errorf("big request arrived damaged: %v", err)
					return
				}
				_, err := b.Write([]byte("ok"))
				peer <- err
			}()
			if _, err := io.ReadFull(ra, reply[:2]); err != nil || string(reply[:2]) != "ok" {
				t.Fatalf("reply to the big request %q, %v", reply[:2], err)
			}
			if err := <-peer; err != nil {
				t.Fatal(err)
			}
			ra.held = nil // the big one grew it; the steady state is small

			// Steady state: an echo peer, a held request, its reply.
			msg := []byte("0123456789")
			go func() {
				echo := make([]byte, len(msg))
				for {
					if _, err := io.ReadFull(b, echo); err != nil {
						return
					}
					if _, err := b.Write(echo); err != nil {
						return
					}
				}
			}()
			buf := make([]byte, len(msg))
			allocs := testing.AllocsPerRun(200, func() {
				hold(msg)
				if _, err := io.ReadFull(ra, buf); err != nil || !bytes.Equal(buf, msg) {
					t.Fatalf("echo %q, %v", buf, err)
				}
			})
			if allocs != 0 {
				t.Fatalf("%.1f allocations per held round trip; want 0", allocs)
			}
		})
	}
}

// A server that said goodbye and closed before the held request went out:
// the read still ends (the request meets a reset or a broken pipe, which
// wakes it), with the goodbye or an error, never a hang.
func TestRawIOHeldRequestToAClosedPeer(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			a, b := socketPair(t, network)
			ra := withRawIO(a).(*rawIOConn)
			if _, err := b.Write([]byte("bye")); err != nil {
				t.Fatal(err)
			}
			b.Close()
			time.Sleep(20 * time.Millisecond) // the goodbye and the FIN arrive first
			ra.hold = true
			_, _ = ra.Write([]byte("request"))
			ra.hold = false
			done := make(chan string, 1)
			go func() {
				got, err := io.ReadAll(ra)
				done <- fmt.Sprintf("%q, %v", got, err)
			}()
			select {
			case r := <-done:
				t.Logf("read after the held request: %s", r)
			case <-time.After(5 * time.Second):
				t.Fatal("the read after a held request to a closed peer hangs")
			}
		})
	}
}
