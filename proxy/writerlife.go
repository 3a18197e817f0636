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
//
// The idle timer is armed once per writer connection and re-arms itself
// from the time the last command ended: resetting it on every command cost
// a lock and a timer-heap update per statement.
type writerLife struct {
	mu      sync.Mutex
	conn    net.Conn
	rconn   net.Conn // the reader connection, closed only on shutdown
	timer   *time.Timer
	running atomic.Bool  // a command is under way: the idle clock stands still
	lastEnd atomic.Int64 // when the last command ended, Unix ns
	limit   atomic.Int64 // the idle timeout, ns (it may change on reload)
	reason  atomic.Int32 // why it was closed: 0 none, killIdle, killDisabled
	holds   atomic.Bool  // the writer holds an open transaction (for status)
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
		l.timer = nil
	}
	l.mu.Unlock()
	l.holds.Store(false)
}

// busy stops the idle clock while the session runs a command.
func (l *writerLife) busy() { l.running.Store(true) }

// idle restarts the idle clock after a command; the first call for a
// writer connection arms the timer.
func (l *writerLife) idle(d time.Duration) {
	l.lastEnd.Store(time.Now().UnixNano())
	l.limit.Store(int64(d))
	l.running.Store(false)
	l.mu.Lock()
	if l.conn != nil && l.timer == nil {
		l.timer = time.AfterFunc(d, l.expire)
	}
	l.mu.Unlock()
}

// expire runs when the timer fires: the writer is closed if the session
// has been idle for the whole timeout, else the timer waits for the rest.
func (l *writerLife) expire() {
	d := time.Duration(l.limit.Load())
	if !l.running.Load() {
		left := d - time.Since(time.Unix(0, l.lastEnd.Load()))
		if left <= 0 {
			l.kill(killIdle)
			return
		}
		d = left
	}
	l.mu.Lock()
	if l.conn != nil && l.timer != nil {
		l.timer.Reset(d)
	}
	l.mu.Unlock()
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
