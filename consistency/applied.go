package consistency

import (
	"context"
	"sync"
	"sync/atomic"
)

// Applied is the process-wide "the reader has applied at least this"
// position, fed by whoever learns it (a binlog listener on the replica,
// or the result of a wait or a position query). It only moves forward.
// Use NewApplied; the zero value is not ready.
type Applied struct {
	mu sync.Mutex // serialises Advance; readers never take it
	st atomic.Pointer[appliedState]
}

// appliedState is replaced, never changed: readers load one pointer and
// see a set with the channel that will be closed when it is superseded.
type appliedState struct {
	set     Set
	changed chan struct{}
}

func NewApplied(f Flavor) *Applied {
	empty, _ := f.ParseSet("")
	a := &Applied{}
	a.st.Store(&appliedState{set: empty, changed: make(chan struct{})})
	return a
}

// Advance merges s into the position. A set of another flavour is
// ignored (Union would drop it), so it cannot wake waiters for nothing.
func (a *Applied) Advance(s Set) {
	if isEmpty(s) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.st.Load()
	if cur.set.Contains(s) {
		return
	}
	next := cur.set.Union(s)
	if !next.Contains(s) {
		return
	}
	a.st.Store(&appliedState{set: next, changed: make(chan struct{})})
	close(cur.changed)
}

// Covers is the fast path before any wait: one atomic load and a set
// comparison, no lock, no allocation.
func (a *Applied) Covers(s Set) bool { return a.st.Load().set.Contains(s) }

func (a *Applied) Get() Set { return a.st.Load().set }

// WaitCovered blocks until Covers(s) or ctx is done.
func (a *Applied) WaitCovered(ctx context.Context, s Set) error {
	for {
		st := a.st.Load()
		if st.set.Contains(s) {
			return nil
		}
		select {
		case <-st.changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Drop takes out of the position what a new writer at a writer change does
// not hold (Flavor.Lost): the one way it moves back. It returns what went.
func (a *Applied) Drop(f Flavor, executed string) (Set, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.st.Load()
	kept, lost, err := f.Lost(cur.set, executed)
	if err != nil || isEmpty(lost) {
		return lost, err
	}
	a.st.Store(&appliedState{set: kept, changed: make(chan struct{})})
	close(cur.changed)
	return lost, nil
}
