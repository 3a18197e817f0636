package sandbox

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Link is a TCP relay that holds back every chunk of data for a fixed time
// in each direction: the network between two regions, on loopback. Up is the
// direction from the connecting client to Upstream, down the way back.
//
// Each direction has a reader that stamps every chunk it reads with the time
// it is due and queues it, and a writer that sleeps until the head of the
// queue is due and writes it. Order is kept, and throughput is not limited
// by the delay: up to linkQueue chunks are in flight per direction.
type Link struct {
	Listen    string        // address to listen on, e.g. 127.0.0.1:0
	Upstream  string        // where every accepted connection is relayed to
	DelayUp   time.Duration // client → upstream
	DelayDown time.Duration // upstream → client
	// Logf, when set, receives one line per failed upstream dial.
	Logf func(format string, args ...any)

	ln     net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

const (
	linkQueue = 1024     // chunks in flight per direction
	linkChunk = 32 << 10 // largest chunk read at once
)

// Start binds Listen and relays connections in the background until Close.
func (l *Link) Start() error {
	if l.DelayUp < 0 || l.DelayDown < 0 {
		return errors.New("link: negative delay")
	}
	ln, err := net.Listen("tcp", l.Listen)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.ln = ln
	l.conns = map[net.Conn]struct{}{}
	l.mu.Unlock()
	l.wg.Add(1)
	go l.accept()
	return nil
}

// Addr is the bound address (after Start).
func (l *Link) Addr() net.Addr { return l.ln.Addr() }

// Close stops accepting, closes every relayed connection and waits until
// every goroutine of the link has returned.
func (l *Link) Close() error {
	l.mu.Lock()
	if l.closed || l.ln == nil {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	err := l.ln.Close()
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
	return err
}

func (l *Link) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed
		}
		l.wg.Add(1)
		go l.relay(c)
	}
}

// track registers c so that Close closes it; false when the link is closed.
func (l *Link) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *Link) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

func (l *Link) relay(c net.Conn) {
	defer l.wg.Done()
	defer c.Close()
	if !l.track(c) {
		return
	}
	defer l.untrack(c)
	u, err := net.DialTimeout("tcp", l.Upstream, 10*time.Second)
	if err != nil {
		if l.Logf != nil {
			l.Logf("link %s: %v", l.Listen, err)
		}
		return
	}
	defer u.Close()
	if !l.track(u) {
		return
	}
	defer l.untrack(u)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pipe(u, c, l.DelayUp) }()
	go func() { defer wg.Done(); pipe(c, u, l.DelayDown) }()
	wg.Wait()
}

type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst, each chunk delay after it was read. At src's EOF
// it half-closes dst once everything is written, so the other direction
// keeps going; on any other end it closes both.
func pipe(dst, src net.Conn, delay time.Duration) {
	q := make(chan chunk, linkQueue)
	readErr := make(chan error, 1)
	go func() {
		buf := make([]byte, linkChunk)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{append([]byte(nil), buf[:n]...), time.Now().Add(delay)}
			}
			if err != nil {
				readErr <- err
				close(q)
				return
			}
		}
	}()
	var werr error
	for c := range q {
		if werr != nil {
			continue // drain, so that the reader never blocks
		}
		if d := time.Until(c.due); d > 0 {
			time.Sleep(d)
		}
		if _, werr = dst.Write(c.b); werr != nil {
			src.Close()
			dst.Close()
		}
	}
	if err := <-readErr; werr == nil && errors.Is(err, io.EOF) {
		if hc, ok := dst.(interface{ CloseWrite() error }); ok && hc.CloseWrite() == nil {
			return
		}
	}
	src.Close()
	dst.Close()
}

// String describes the link for logs.
func (l *Link) String() string {
	addr := l.Listen
	if l.ln != nil {
		addr = l.ln.Addr().String()
	}
	return fmt.Sprintf("%s -> %s (up +%s, down +%s)", addr, l.Upstream, l.DelayUp, l.DelayDown)
}
