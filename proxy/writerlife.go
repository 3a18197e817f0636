package proxy

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// writerLife lets other goroutines end a session's writer connection: the
// idle timer (aurora_fwd_writer_idle_timeout), the forwarding switch and the
// forward timeout. Closing the socket makes the writer roll back an open
// transaction; the session notices at its next command.
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
	reason  atomic.Int32 // why it was closed: 0 none, or a kill… reason below
	holds   atomic.Bool  // the writer holds an open transaction (for status)
	fwd     forwardWatch // guarded by mu
}

const (
	killIdle int32 = iota + 1
	killDisabled
	killTimeout // the forward timeout closed it under a round trip that cannot commit
	killUnacked // the writer did not answer a forward timeout's KILL, which could hit the next statement
)

// forwardWatch bounds one round trip on the writer at a time by
// --forward-timeout. When the timeout passes, onTimeout sends KILL QUERY
// (over the proxy's control connection) and the session goes on reading the
// statement's own answer, which says what happened: interrupted, or done.
// When the writer does not answer within the grace either, a round trip
// that cannot commit has its connection closed: the writer then rolls the
// transaction back, so that answer is certain. One that may commit (an
// autocommit statement, a COMMIT) keeps waiting for the writer: a writer
// that stopped may still commit it when it runs again, whatever the proxy
// does to the connection, so no earlier answer could be true.
type forwardWatch struct {
	timer     *time.Timer // made once, reset per round trip
	onTimeout func(mayCommit bool) <-chan bool
	on        bool      // a round trip is watched
	due       time.Time // when its timeout passes
	grace     time.Duration
	mayCommit bool
	fired     bool        // its KILL QUERY went out
	ack       <-chan bool // true once the KILL cannot reach the writer later (writerControl.kill)
	gen       uint64      // counts round trips, so a late callback knows its own
}

// attach starts watching a new writer connection. onTimeout, for the
// forward timeout, sends the KILL QUERY for its thread and returns the
// KILL's answer; it must not block.
func (l *writerLife) attach(c net.Conn, onTimeout func(mayCommit bool) <-chan bool) {
	l.mu.Lock()
	l.conn = c
	l.fwd.onTimeout = onTimeout
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
	l.fwd.on = false
	if l.fwd.timer != nil {
		l.fwd.timer.Stop()
	}
	l.mu.Unlock()
	l.holds.Store(false)
}

// watch starts the forward timeout d for the round trip about to begin.
func (l *writerLife) watch(d time.Duration, mayCommit bool) {
	l.mu.Lock()
	f := &l.fwd
	f.gen++
	f.on, f.due, f.mayCommit, f.fired, f.ack = true, time.Now().Add(d), mayCommit, false, nil
	f.grace = min(d, maxKillGrace)
	if f.timer == nil {
		f.timer = time.AfterFunc(d, l.forwardExpired)
	} else {
		f.timer.Reset(d)
	}
	l.mu.Unlock()
}

// maxKillGrace bounds how long the writer gets to answer after the KILL.
const maxKillGrace = time.Second

// unwatch ends the watch of the round trip that just ended. When its KILL
// went out, it returns the KILL's answer: the writer must have run the KILL
// before the connection carries the next statement, or it could interrupt
// that one.
func (l *writerLife) unwatch() (ack <-chan bool, grace time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := &l.fwd
	f.on = false
	if f.timer != nil {
		f.timer.Stop()
	}
	if !f.fired {
		return nil, 0
	}
	return f.ack, f.grace
}

// forwardExpired runs when the timer fires: past the due time of the round
// trip under way, it sends the KILL and gives the writer the grace.
func (l *writerLife) forwardExpired() {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := &l.fwd
	if !f.on || f.fired || f.onTimeout == nil {
		return
	}
	if left := time.Until(f.due); left > 0 { // a stale firing of an earlier round trip
		f.timer.Reset(left)
		return
	}
	f.fired = true
	f.ack = f.onTimeout(f.mayCommit)
	gen := f.gen
	time.AfterFunc(f.grace, func() { l.forwardGiveUp(gen) })
}

// forwardGiveUp runs a grace after the KILL: a round trip still waiting
// that cannot commit loses its connection, which makes its fate certain.
func (l *writerLife) forwardGiveUp(gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := &l.fwd
	if f.on && f.gen == gen && !f.mayCommit {
		l.closeLocked(killTimeout)
	}
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
	l.closeLocked(reason)
}

func (l *writerLife) closeLocked(reason int32) {
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
