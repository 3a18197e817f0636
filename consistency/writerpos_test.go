package consistency

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond; the pieces under test have no hooks by design.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func (w *WriterPosition) queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.next == nil {
		return 0
	}
	return w.next.waiters
}

// The exact schedule: A starts look-up 1; 31 callers arrive while it is
// in flight and must all get look-up 2, which starts only after 1 ends.
func TestWriterPositionSchedule(t *testing.T) {
	var started atomic.Uint64
	gates := []chan struct{}{make(chan struct{}), make(chan struct{})}
	wp := NewWriterPosition(func(ctx context.Context) (Set, error) {
		n := started.Add(1)
		<-gates[n-1]
		return mariaSeq(n), nil
	})
	ctx := context.Background()
	resA := make(chan Set, 1)
	go func() {
		s, err := wp.Get(ctx)
		if err != nil {
			t.Error(err)
		}
		resA <- s
	}()
	waitFor(t, "look-up 1", func() bool { return started.Load() == 1 })

	const late = 31
	res := make(chan Set, late)
	for i := 0; i < late; i++ {
		go func() {
			s, err := wp.Get(ctx)
			if err != nil {
				t.Error(err)
			}
			res <- s
		}()
	}
	waitFor(t, "31 queued callers", func() bool { return wp.queued() == late })
	if started.Load() != 1 {
		t.Fatal("a second look-up started while one was in flight")
	}
	close(gates[0])
	if got := seqOf(t, <-resA); got != 1 {
		t.Fatalf("A got look-up %d, want 1", got)
	}
	waitFor(t, "look-up 2", func() bool { return started.Load() == 2 })
	close(gates[1])
	for i := 0; i < late; i++ {
		if got := seqOf(t, <-res); got != 2 {
			t.Fatalf("late caller got look-up %d, want 2", got)
		}
	}
	if wp.Lookups() != 2 {
		t.Fatalf("Lookups = %d, want 2", wp.Lookups())
	}
}

// registered counts callers waiting on the running or queued look-up.
func (w *WriterPosition) registered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	if w.running != nil {
		n += w.running.waiters
	}
	if w.next != nil {
		n += w.next.waiters
	}
	return n
}

// Rounds of 32 concurrent callers behind a barrier: each returned
// position comes from a look-up that started after its caller arrived,
// at most one look-up is ever in flight, and a round costs at most two.
// Each look-up holds until every caller of the round has either
// registered or returned, so all of them arrive during the first one.
func TestWriterPositionRounds(t *testing.T) {
	const callers, rounds = 32, 50
	var clock, inflight, maxInflight, returned atomic.Int64
	var wp *WriterPosition
	wp = NewWriterPosition(func(ctx context.Context) (Set, error) {
		if n := inflight.Add(1); n > maxInflight.Load() {
			maxInflight.Store(n)
		}
		defer inflight.Add(-1)
		startedAt := clock.Add(1)
		// Not waitFor: Fatal must not be called off the test goroutine.
		for deadline := time.Now().Add(10 * time.Second); int64(wp.registered())+returned.Load() != callers; {
			if time.Now().After(deadline) {
				return nil, errors.New("round's callers never arrived")
			}
			time.Sleep(50 * time.Microsecond)
		}
		return mariaSeq(uint64(startedAt)), nil
	})
	for r := 0; r < rounds; r++ {
		returned.Store(0)
		var wg sync.WaitGroup
		for c := 0; c < callers; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				arrived := clock.Add(1)
				s, err := wp.Get(context.Background())
				returned.Add(1)
				if err != nil {
					t.Error(err)
					return
				}
				if startedAt := int64(seqOf(t, s)); startedAt <= arrived {
					t.Errorf("position from a look-up started at %d, caller arrived at %d", startedAt, arrived)
				}
			}()
		}
		wg.Wait()
	}
	if maxInflight.Load() != 1 {
		t.Errorf("max look-ups in flight = %d", maxInflight.Load())
	}
	if n := wp.Lookups(); n > 2*rounds {
		t.Errorf("Lookups = %d for %d rounds", n, rounds)
	} else {
		t.Logf("%d calls, %d look-ups", callers*rounds, n)
	}
}

// Free-running callers, no barrier: freshness and one-in-flight hold.
func TestWriterPositionStress(t *testing.T) {
	const callers, calls = 32, 200
	var clock, inflight atomic.Int64
	wp := NewWriterPosition(func(ctx context.Context) (Set, error) {
		if inflight.Add(1) != 1 {
			t.Error("two look-ups in flight")
		}
		defer inflight.Add(-1)
		startedAt := clock.Add(1)
		time.Sleep(50 * time.Microsecond)
		return mariaSeq(uint64(startedAt)), nil
	})
	var wg sync.WaitGroup
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				arrived := clock.Add(1)
				s, err := wp.Get(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if int64(seqOf(t, s)) <= arrived {
					t.Errorf("stale position")
					return
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d calls, %d look-ups", callers*calls, wp.Lookups())
}

func TestWriterPositionError(t *testing.T) {
	boom := errors.New("writer down")
	wp := NewWriterPosition(func(ctx context.Context) (Set, error) { return nil, boom })
	if _, err := wp.Get(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if _, err := wp.Get(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("second call: %v", err)
	}
	if wp.Lookups() != 2 {
		t.Fatalf("errors must not be cached: Lookups = %d", wp.Lookups())
	}
}

// A caller that gives up leaves; a look-up nobody waits for is cancelled,
// and a queued one nobody waits for never starts.
func TestWriterPositionCancel(t *testing.T) {
	var started atomic.Uint64
	cancelled := make(chan struct{}, 4)
	release := make(chan struct{})
	wp := NewWriterPosition(func(ctx context.Context) (Set, error) {
		n := started.Add(1)
		select {
		case <-ctx.Done():
			cancelled <- struct{}{}
			return nil, ctx.Err()
		case <-release:
			return mariaSeq(n), nil
		}
	})

	ctxA, cancelA := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() { _, err := wp.Get(ctxA); errA <- err }()
	waitFor(t, "look-up 1", func() bool { return started.Load() == 1 })

	ctxB, cancelB := context.WithCancel(context.Background())
	errB := make(chan error, 1)
	go func() { _, err := wp.Get(ctxB); errB <- err }()
	waitFor(t, "B queued", func() bool { return wp.queued() == 1 })

	cancelB()
	if err := <-errB; !errors.Is(err, context.Canceled) {
		t.Fatalf("B: %v", err)
	}
	cancelA()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Fatalf("A: %v", err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("abandoned look-up not cancelled")
	}
	// The queued look-up was dropped: the next caller starts look-up 2.
	go func() { close(release) }()
	s, err := wp.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := seqOf(t, s); got != 2 || wp.Lookups() != 2 {
		t.Fatalf("got look-up %d, Lookups %d; want 2, 2", got, wp.Lookups())
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := wp.Get(ctx); !errors.Is(err, context.Canceled) || wp.Lookups() != 2 {
		t.Fatalf("done ctx: %v, Lookups %d", err, wp.Lookups())
	}
}

// One caller leaving does not cancel a look-up others still wait for.
func TestWriterPositionPartialCancel(t *testing.T) {
	release := make(chan struct{})
	wp := NewWriterPosition(func(ctx context.Context) (Set, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-release:
			return mariaSeq(1), nil
		}
	})
	// Occupy the flight so both callers below share the queued look-up.
	go wp.Get(context.Background())
	waitFor(t, "first look-up", func() bool { return wp.Lookups() == 1 })
	ctxA, cancelA := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() { _, err := wp.Get(ctxA); errA <- err }()
	resB := make(chan error, 1)
	go func() { _, err := wp.Get(context.Background()); resB <- err }()
	waitFor(t, "two queued", func() bool { return wp.queued() == 2 })
	cancelA()
	<-errA
	close(release)
	if err := <-resB; err != nil {
		t.Fatalf("B lost its look-up: %v", err)
	}
}
