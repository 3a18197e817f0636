package consistency

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"
)

func mariaSeq(n uint64) Set { return mariadbSet{g: []MariaDBGTID{{Domain: 0, Server: 1, Seq: n}}} }

func seqOf(t testing.TB, s Set) uint64 {
	ms, ok := s.(mariadbSet)
	if !ok || len(ms.g) != 1 {
		t.Fatalf("unexpected set %v", s)
	}
	return ms.g[0].Seq
}

func TestAppliedAdvance(t *testing.T) {
	tests := []struct {
		f     Flavor
		steps []string // each: advance with it, then Get must equal the next
	}{
		{MariaDB, []string{
			"0-1-7", "0-1-7",
			"0-1-5", "0-1-7", // never back
			"1-2-3", "0-1-7,1-2-3",
			"0-2-8", "0-2-8,1-2-3",
			"", "0-2-8,1-2-3",
		}},
		{MySQL, []string{
			uA + ":1-5", uA + ":1-5",
			uA + ":3", uA + ":1-5",
			uA + ":7", uA + ":1-5:7",
			uA + ":6," + uB + ":1", uA + ":1-7," + uB + ":1",
		}},
	}
	for _, tt := range tests {
		a := NewApplied(tt.f)
		if !a.Get().IsEmpty() || !a.Covers(nil) {
			t.Fatal("new Applied not empty")
		}
		for i := 0; i < len(tt.steps); i += 2 {
			s, err := tt.f.ParseSet(tt.steps[i])
			if err != nil {
				t.Fatal(err)
			}
			a.Advance(s)
			if got := a.Get().String(); got != tt.steps[i+1] {
				t.Errorf("%s: after %q got %q, want %q", tt.f.Name(), tt.steps[i], got, tt.steps[i+1])
			}
			if !a.Covers(s) {
				t.Errorf("%s: does not cover %q just advanced", tt.f.Name(), tt.steps[i])
			}
		}
	}
}

func TestAppliedCovers(t *testing.T) {
	a := NewApplied(MariaDB)
	a.Advance(mustMariaDB(t, "0-1-10,1-1-5"))
	for s, want := range map[string]bool{
		"": true, "0-1-10": true, "0-9-3": true, "0-1-10,1-1-5": true,
		"0-1-11": false, "2-1-1": false, "1-1-6": false,
	} {
		if got := a.Covers(mustMariaDB(t, s)); got != want {
			t.Errorf("Covers(%q) = %v", s, got)
		}
	}
}

// A set of the other flavour is ignored and wakes nobody.
func TestAppliedForeignAdvance(t *testing.T) {
	a := NewApplied(MariaDB)
	a.Advance(mariaSeq(3))
	before := a.st.Load()
	a.Advance(mustMySQL(t, uA+":1"))
	if a.st.Load() != before {
		t.Error("foreign Advance replaced the state")
	}
	if a.Covers(mustMySQL(t, uA+":1")) {
		t.Error("covers a foreign set")
	}
}

func TestAppliedWaitCovered(t *testing.T) {
	a := NewApplied(MariaDB)
	a.Advance(mariaSeq(1))
	if err := a.WaitCovered(context.Background(), mariaSeq(1)); err != nil {
		t.Fatal("already covered:", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.WaitCovered(context.Background(), mustMariaDB(t, "0-1-5,1-1-1")) }()
	a.Advance(mariaSeq(5)) // domain 1 still missing
	select {
	case err := <-done:
		t.Fatalf("woke early: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	a.Advance(mustMariaDB(t, "1-1-2"))
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not woken")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := a.WaitCovered(ctx, mariaSeq(100)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want deadline", err)
	}
}

// Writers advance concurrently with readers and waiters: the position
// seen never goes back, every waiter wakes once its target is reached,
// and the end state is the maximum advanced.
func TestAppliedConcurrent(t *testing.T) {
	const writers, readers, waiters, steps = 8, 8, 16, 2000
	a := NewApplied(MariaDB)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				g := a.Get()
				if g.IsEmpty() {
					continue
				}
				n := seqOf(t, g)
				if n < last {
					t.Errorf("position went back: %d after %d", n, last)
					return
				}
				last = n
				if !a.Covers(mariaSeq(n)) {
					t.Errorf("does not cover %d after Get", n)
					return
				}
			}
		}()
	}
	var waitWG sync.WaitGroup
	for w := 0; w < waiters; w++ {
		waitWG.Add(1)
		target := uint64(1 + w*steps/waiters)
		go func() {
			defer waitWG.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := a.WaitCovered(ctx, mariaSeq(target)); err != nil {
				t.Errorf("waiter for %d: %v", target, err)
			}
			if !a.Covers(mariaSeq(target)) {
				t.Errorf("woke before %d", target)
			}
		}()
	}
	var writeWG sync.WaitGroup
	for w := 0; w < writers; w++ {
		writeWG.Add(1)
		go func(seed uint64) {
			defer writeWG.Done()
			rng := rand.New(rand.NewPCG(seed, 1))
			for i := 0; i < steps; i++ {
				a.Advance(mariaSeq(uint64(rng.IntN(steps)) + 1))
			}
		}(uint64(w))
	}
	writeWG.Wait()
	a.Advance(mariaSeq(steps)) // the maximum any writer could draw
	waitWG.Wait()
	close(stop)
	wg.Wait()
	if got := seqOf(t, a.Get()); got != steps {
		t.Fatalf("final %d, want %d", got, steps)
	}
}

// A fuzz-style check of monotonicity with many domains: the applied
// position always contains everything advanced so far.
func TestAppliedMonotonicRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	a := NewApplied(MariaDB)
	var seen []Set
	for i := 0; i < 500; i++ {
		s := strconv.Itoa(rng.IntN(4)) + "-" + strconv.Itoa(rng.IntN(3)) + "-" + strconv.Itoa(rng.IntN(100))
		set := mustMariaDB(t, s)
		a.Advance(set)
		seen = append(seen, set)
		for _, old := range seen {
			if !a.Covers(old) {
				t.Fatalf("lost %v; now %v", old, a.Get())
			}
		}
	}
}
