package proxy

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// writerLife lets other goroutines end a session's writer connection: the
// idle timer (aurora_fwd_writer_idle_timeout) and the forwarding switch.
// Closing the socket makes the writer roll back an open transaction; the
// session notices at its next command.
type writerLife struct {
	mu     sync.Mutex
	conn   net.Conn
	rconn  net.Conn // the reader connection, closed only on shutdown
	timer  *time.Timer
	reason atomic.Int32 // why it was closed: 0 none, killIdle, killDisabled
	holds  atomic.Bool  // the writer holds an open transaction (for status)
}

const (
	killIdle int32 = iota + 1
	killDisabled
)

// attach starts watching a new writer connection.
func (l *writerLife) attach(c net.Conn) {
	l.mu.Lock()
	l.conn = c
	l.mu.Unlock()
	l.reason.Store(0)
}

func (l *writerLife) detach() {
	l.mu.Lock()
	l.conn = nil
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
	l.holds.Store(false)
}

// busy stops the idle clock while the session uses the writer.
func (l *writerLife) busy() {
	l.mu.Lock()
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
}

// idle restarts the idle clock after the session used the writer.
func (l *writerLife) idle(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return
	}
	if l.timer == nil {
		l.timer = time.AfterFunc(d, func() { l.kill(killIdle) })
		return
	}
	l.timer.Reset(d)
}

// kill closes the writer connection from any goroutine.
func (l *writerLife) kill(reason int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return
	}
	l.reason.CompareAndSwap(0, reason)
	_ = l.conn.Close()
	l.conn = nil
	l.holds.Store(false) // the writer rolls the transaction back on close
}

// attachReader records the reader connection for closeAll.
func (l *writerLife) attachReader(c net.Conn) {
	l.mu.Lock()
	l.rconn = c
	l.mu.Unlock()
}

// closeAll closes both backend connections from any goroutine, so a session
// blocked on a backend ends at shutdown.
func (l *writerLife) closeAll() {
	l.kill(killDisabled)
	l.mu.Lock()
	if l.rconn != nil {
		_ = l.rconn.Close()
	}
	l.mu.Unlock()
}
