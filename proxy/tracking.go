package proxy

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/fwdproxy/fwdproxy/consistency"
)

// trackerReadEvery paces the tracker's binlog reads (TrackerConfig.ReadEvery):
// no read waits for the tracker, so its delay costs no read anything; it
// only keeps Applied that much behind the replica.
const trackerReadEvery = 2 * time.Millisecond

// pushTracking owns the binlog tracker and runs it only while some session
// reads at SESSION or GLOBAL. Following the reader's binlog costs the proxy
// and the reader work for every replicated transaction (3.7-4.0 µs of proxy
// and 5.4-5.9 µs of replica CPU per oltp_read_write query, paced or not),
// and EVENTUAL reads never use it. The
// tracker starts when the first such session appears, stops when none has
// been left for a while, and is started again after a failure (a replica
// restart). It only advances Applied; reads that Applied does not cover
// wait on the reader whether it runs or not.
type pushTracking struct {
	start  func() (*consistency.BinlogTracker, error) // nil: push tracking is off
	linger time.Duration                              // how long an unused tracker is kept
	retry  time.Duration                              // least time between two starts
	cur    atomic.Pointer[consistency.BinlogTracker]
	mu     sync.Mutex
	users  int       // sessions at SESSION or GLOBAL
	unused time.Time // when users last dropped to 0
	busy   bool      // a start is under way
	failed time.Time // when a start failed or a running tracker stopped
	closed bool
}

// running is the tracker when it follows the binlog, else nil.
func (p *pushTracking) running() *consistency.BinlogTracker {
	if t := p.cur.Load(); t != nil && t.Running() {
		return t
	}
	return nil
}

// state is what /status shows: off, idle, starting or running.
func (p *pushTracking) state() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.start == nil:
		return "off"
	case p.running() != nil:
		return "running"
	case p.busy:
		return "starting"
	}
	return "idle"
}

// join and leave count sessions entering and leaving SESSION or GLOBAL.
func (p *pushTracking) join() {
	p.mu.Lock()
	p.users++
	p.mu.Unlock()
	p.ensure()
}

func (p *pushTracking) leave() {
	p.mu.Lock()
	p.users--
	if p.users == 0 {
		p.unused = time.Now()
	}
	p.mu.Unlock()
}

// ensure starts the tracker in the background when it is wanted and not
// running; a session never waits for it.
func (p *pushTracking) ensure() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.start == nil || p.closed || p.users == 0 || p.busy || p.running() != nil ||
		(!p.failed.IsZero() && time.Since(p.failed) < p.retry) {
		return
	}
	p.busy = true
	go func() {
		t, err := p.start()
		p.mu.Lock()
		p.busy = false
		if err != nil {
			p.failed = time.Now()
		}
		if err != nil || p.closed {
			p.mu.Unlock()
			if t != nil {
				t.Close()
			}
			return
		}
		old := p.cur.Swap(t)
		p.mu.Unlock()
		if old != nil {
			old.Close()
		}
	}()
}

// tick runs about every second: it stops an unused tracker and restarts a
// failed one that is still wanted.
func (p *pushTracking) tick(now time.Time) {
	p.mu.Lock()
	var stop *consistency.BinlogTracker
	if t := p.cur.Load(); t != nil && !t.Running() {
		p.failed = now // it stopped on its own (the reader went away)
		stop = p.cur.Swap(nil)
	} else if p.users == 0 && !p.busy && now.Sub(p.unused) >= p.linger {
		stop = p.cur.Swap(nil)
	}
	p.mu.Unlock()
	if stop != nil {
		stop.Close()
	}
	p.ensure()
}

func (p *pushTracking) close() {
	p.mu.Lock()
	p.closed = true
	t := p.cur.Swap(nil)
	p.mu.Unlock()
	if t != nil {
		t.Close()
	}
}
