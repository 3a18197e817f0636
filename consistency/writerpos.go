package consistency

import (
	"context"
	"sync"
	"sync/atomic"
)

// WriterPosition coalesces GLOBAL look-ups of the writer's position.
//
// Get must return a position taken after the caller arrived, or a read
// could miss a commit that preceded it. So a caller that finds a look-up
// in flight cannot use it (it may have started earlier); it joins the
// next one, which every caller arriving during the same flight shares,
// and which starts when the flight ends. At most one look-up is in
// flight, and a burst of N reads costs at most two look-ups.
type WriterPosition struct {
	fetch   func(ctx context.Context) (Set, error)
	lookups atomic.Uint64

	mu      sync.Mutex
	running *lookup // in flight
	next    *lookup // queued behind running; nil if nobody waits for it
}

type lookup struct {
	ctx     context.Context
	cancel  context.CancelFunc
	waiters int // guarded by WriterPosition.mu
	done    chan struct{}
	set     Set // written before done is closed
	err     error
}

func NewWriterPosition(fetch func(ctx context.Context) (Set, error)) *WriterPosition {
	return &WriterPosition{fetch: fetch}
}

// Lookups is the number of look-ups started so far.
func (w *WriterPosition) Lookups() uint64 { return w.lookups.Load() }

// Get returns the writer position from a look-up that started after Get
// was called. If ctx ends first, Get returns its error; a look-up that
// nobody waits for any more is cancelled (or, if still queued, dropped).
func (w *WriterPosition) Get(ctx context.Context) (Set, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w.mu.Lock()
	var l *lookup
	switch {
	case w.running == nil:
		l = newLookup(ctx)
		w.running = l
		w.start(l)
	case w.next != nil:
		l = w.next
	default:
		l = newLookup(ctx)
		w.next = l
	}
	l.waiters++
	w.mu.Unlock()

	select {
	case <-l.done:
		return l.set, l.err
	case <-ctx.Done():
		w.mu.Lock()
		l.waiters--
		if l.waiters == 0 {
			if l == w.next {
				w.next = nil
				l.cancel()
			} else if l == w.running {
				l.cancel()
			}
		}
		w.mu.Unlock()
		return nil, ctx.Err()
	}
}

// newLookup detaches from the caller's cancellation (the look-up is
// shared) but keeps its values, e.g. for tracing.
func newLookup(ctx context.Context) *lookup {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &lookup{ctx: c, cancel: cancel, done: make(chan struct{})}
}

// start runs l; called with w.mu held.
func (w *WriterPosition) start(l *lookup) {
	w.lookups.Add(1)
	go func() {
		set, err := w.fetch(l.ctx)
		l.cancel()
		w.mu.Lock()
		l.set, l.err = set, err
		close(l.done)
		w.running, w.next = w.next, nil
		if w.running != nil {
			w.start(w.running)
		}
		w.mu.Unlock()
	}()
}
