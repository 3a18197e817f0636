package readers

import (
	"strconv"
	"testing"

	"github.com/fwdproxy/fwdproxy/consistency"
)

func set(t testing.TB, s string) consistency.Set {
	if s == "-" {
		return nil
	}
	v, err := consistency.MariaDB.ParseSet(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// seq is the MariaDB position 0-1-n.
func seq(n uint8) consistency.Set {
	v, err := consistency.MariaDB.ParseSet("0-1-" + strconv.Itoa(int(n)))
	if err != nil {
		panic(err)
	}
	return v
}

// r is a reader: healthy?, applied, lag ms, sessions, reads running.
type r struct {
	ok       bool
	applied  string
	lag      int64
	sessions int
	running  int
}

func readersOf(t *testing.T, xs []r) []Reader {
	var rs []Reader
	for _, x := range xs {
		rs = append(rs, Reader{Healthy: x.ok, Applied: set(t, x.applied), LagMs: x.lag, Sessions: x.sessions, Running: x.running})
	}
	return rs
}

func TestPick(t *testing.T) {
	for _, c := range []struct {
		name          string
		rs            []r
		current       int
		pinned        bool
		target, floor string
		want          Choice
	}{
		{"login: least loaded", []r{{true, "0-1-5", 0, 3, 0}, {true, "0-1-5", 0, 1, 0}, {true, "0-1-5", 0, 2, 0}}, -1, false, "-", "-", Choice{1, false}},
		{"eventual stays put", []r{{true, "0-1-1", 900, 9, 0}, {true, "0-1-5", 0, 0, 0}}, 0, false, "-", "-", Choice{0, false}},
		{"current has the target: no move", []r{{true, "0-1-5", 0, 9, 0}, {true, "0-1-9", 0, 0, 0}}, 0, false, "0-1-5", "-", Choice{0, false}},
		{"another has the target: move, no wait", []r{{true, "0-1-4", 50, 0, 0}, {true, "0-1-9", 0, 5, 0}, {true, "0-1-9", 0, 2, 0}}, 0, false, "0-1-5", "-", Choice{2, false}},
		{"nobody has it: the least lag waits", []r{{true, "0-1-1", 200, 0, 0}, {true, "0-1-2", 50, 5, 0}, {true, "0-1-3", 0, 9, 0}}, 0, false, "0-1-5", "-", Choice{2, true}},
		{"lag tie: stay on the current one", []r{{true, "0-1-1", 50, 0, 0}, {true, "0-1-2", 50, 0, 0}}, 1, false, "0-1-5", "-", Choice{1, true}},
		{"unhealthy current: move", []r{{false, "0-1-9", 0, 0, 0}, {true, "0-1-9", 0, 4, 0}}, 0, false, "0-1-5", "-", Choice{1, false}},
		{"unhealthy current, eventual: move", []r{{false, "0-1-9", 0, 0, 0}, {true, "0-1-1", 0, 4, 0}}, 0, false, "-", "-", Choice{1, false}},
		{"below the floor does not count as having it", []r{{true, "0-1-2", 0, 0, 0}, {true, "0-1-6", 10, 0, 0}, {true, "0-1-8", 20, 0, 0}}, 0, false, "-", "0-1-7", Choice{0, false}},
		{"a move must cover the floor", []r{{false, "0-1-9", 0, 0, 0}, {true, "0-1-6", 0, 0, 0}, {true, "0-1-8", 20, 0, 0}}, 0, false, "0-1-5", "0-1-7", Choice{2, false}},
		{"a move below the floor waits", []r{{false, "0-1-9", 0, 0, 0}, {true, "0-1-6", 0, 0, 0}}, 0, false, "0-1-5", "0-1-7", Choice{1, true}},
		{"pinned stays even when unhealthy", []r{{false, "0-1-1", 900, 0, 0}, {true, "0-1-9", 0, 0, 0}}, 0, true, "0-1-5", "-", Choice{0, true}},
		{"pinned with the target", []r{{true, "0-1-5", 0, 0, 0}, {true, "0-1-9", 0, 0, 0}}, 0, true, "0-1-5", "-", Choice{0, false}},
		{"none healthy", []r{{false, "0-1-9", 0, 0, 0}, {false, "0-1-9", 0, 0, 0}}, 0, false, "-", "-", Choice{-1, false}},
		{"unknown applied covers only nothing", []r{{true, "-", 0, 0, 0}, {true, "0-1-5", 0, 1, 0}}, 0, false, "0-1-5", "-", Choice{1, false}},
		{"one reader: as today", []r{{true, "0-1-1", 0, 0, 0}}, 0, false, "0-1-5", "-", Choice{0, true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs := readersOf(t, c.rs)
			got := Pick(rs, Need{Current: c.current, Pinned: c.pinned, Target: set(t, c.target), Floor: set(t, c.floor)})
			if got != c.want {
				t.Errorf("Pick = %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestPickBalance: among readers that need no wait, a settled session moves to even out the
// sessions, and only when the move lowers the imbalance; one that just moved stays.
func TestPickBalance(t *testing.T) {
	for _, c := range []struct {
		name          string
		rs            []r
		current       int
		settled       bool
		target, floor string
		want          Choice
	}{
		{"settled: to the least loaded", []r{{true, "0-1-5", 0, 4, 0}, {true, "0-1-5", 0, 2, 0}, {true, "0-1-5", 0, 1, 0}}, 0, true, "-", "-", Choice{2, false}},
		{"settled, a move would not even it out", []r{{true, "0-1-5", 0, 2, 0}, {true, "0-1-5", 0, 1, 0}}, 0, true, "-", "-", Choice{0, false}},
		{"settled, equal load: stay", []r{{true, "0-1-5", 0, 3, 0}, {true, "0-1-5", 0, 3, 0}, {true, "0-1-5", 0, 3, 0}}, 1, true, "0-1-5", "-", Choice{1, false}},
		{"just moved: stay however loaded", []r{{true, "0-1-5", 0, 9, 0}, {true, "0-1-5", 0, 0, 0}}, 0, false, "-", "-", Choice{0, false}},
		{"settled: not to one that would wait for the target", []r{{true, "0-1-5", 0, 9, 0}, {true, "0-1-4", 0, 0, 0}}, 0, true, "0-1-5", "-", Choice{0, false}},
		{"settled: not to one below the floor", []r{{true, "0-1-8", 0, 9, 0}, {true, "0-1-6", 0, 0, 0}}, 0, true, "-", "0-1-7", Choice{0, false}},
		{"settled: the least loaded of those that have it", []r{{true, "0-1-5", 0, 6, 0}, {true, "0-1-4", 0, 0, 0}, {true, "0-1-5", 0, 3, 0}}, 0, true, "0-1-5", "-", Choice{2, false}},
		{"settled, nobody has it, lag tie: the least loaded waits", []r{{true, "0-1-4", 0, 5, 0}, {true, "0-1-4", 0, 1, 0}, {true, "0-1-4", 0, 3, 0}}, 0, true, "0-1-5", "-", Choice{1, true}},
		{"settled, nobody has it, lag tie, even load: stay", []r{{true, "0-1-4", 0, 2, 0}, {true, "0-1-4", 0, 1, 0}}, 0, true, "0-1-5", "-", Choice{0, true}},
		{"settled, nobody has it: less lag beats less load", []r{{true, "0-1-4", 0, 5, 0}, {true, "0-1-4", 50, 0, 0}}, 0, true, "0-1-5", "-", Choice{0, true}},
		{"settled, lags within 10 ms tie: the least loaded waits", []r{{true, "0-1-4", 2, 5, 0}, {true, "0-1-4", 9, 1, 0}}, 0, true, "0-1-5", "-", Choice{1, true}},
		{"settled, lags 11 ms apart: the lesser lag waits", []r{{true, "0-1-4", 2, 5, 0}, {true, "0-1-4", 13, 1, 0}}, 0, true, "0-1-5", "-", Choice{0, true}},
		{"settled, lag ties do not chain past 10 ms", []r{{true, "0-1-4", 0, 5, 0}, {true, "0-1-4", 8, 3, 0}, {true, "0-1-4", 16, 0, 0}}, 0, true, "0-1-5", "-", Choice{1, true}},
		{"settled: not to an unhealthy one", []r{{true, "0-1-5", 0, 6, 0}, {false, "0-1-5", 0, 0, 0}}, 0, true, "-", "-", Choice{0, false}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs := readersOf(t, c.rs)
			got := Pick(rs, Need{Current: c.current, Settled: c.settled, Target: set(t, c.target), Floor: set(t, c.floor)})
			if got != c.want {
				t.Errorf("Pick = %+v, want %+v", got, c.want)
			}
			pinned := Pick(rs, Need{Current: c.current, Pinned: true, Settled: c.settled, Target: set(t, c.target), Floor: set(t, c.floor)})
			if pinned.Reader != c.current {
				t.Errorf("pinned: Pick = %+v, want %d", pinned, c.current)
			}
		})
	}
}

// TestPickMoves pins when a session that could stay moves: a settled one only for a reader
// with at least two sessions less (the fewest, ties by reads running); reads running elsewhere
// never move it, since they change with every read. A session must move (and goes to the least
// loaded, reads running counted) when its reader is unhealthy or lacks what the read needs.
func TestPickMoves(t *testing.T) {
	for _, c := range []struct {
		name    string
		rs      []r
		current int
		settled bool
		target  string
		want    Choice
	}{
		{"reads running elsewhere: stay", []r{{true, "0-1-5", 0, 3, 3}, {true, "0-1-5", 0, 3, 0}, {true, "0-1-5", 0, 2, 0}}, 0, true, "-", Choice{0, false}},
		{"8 sessions over 3 readers: stay", []r{{true, "0-1-5", 0, 2, 0}, {true, "0-1-5", 0, 3, 2}, {true, "0-1-5", 0, 3, 1}}, 1, true, "-", Choice{1, false}},
		{"two sessions more: to the fewest", []r{{true, "0-1-5", 0, 4, 0}, {true, "0-1-5", 0, 2, 0}, {true, "0-1-5", 0, 3, 0}}, 0, true, "-", Choice{1, false}},
		{"fewest sessions tie: fewer reads running", []r{{true, "0-1-5", 0, 4, 0}, {true, "0-1-5", 0, 2, 3}, {true, "0-1-5", 0, 2, 0}}, 0, true, "-", Choice{2, false}},
		{"a reader back with no sessions draws settled ones", []r{{true, "0-1-5", 0, 3, 0}, {true, "0-1-5", 0, 3, 0}, {true, "0-1-5", 0, 0, 0}}, 1, true, "0-1-5", Choice{2, false}},
		{"one session more: a move would swap it", []r{{true, "0-1-5", 0, 3, 0}, {true, "0-1-5", 0, 2, 0}}, 0, true, "-", Choice{0, false}},
		{"idle reader, but its sessions are one less: stay", []r{{true, "0-1-5", 0, 3, 4}, {true, "0-1-5", 0, 2, 0}}, 0, true, "-", Choice{0, false}},
		{"not settled: stay however many sessions", []r{{true, "0-1-5", 0, 5, 0}, {true, "0-1-5", 0, 0, 0}}, 0, false, "-", Choice{0, false}},
		{"current lacks the target: the least loaded that has it", []r{{true, "0-1-4", 0, 1, 0}, {true, "0-1-5", 0, 1, 3}, {true, "0-1-5", 0, 3, 0}}, 0, true, "0-1-5", Choice{2, false}},
		{"unhealthy current: the least loaded", []r{{false, "0-1-5", 0, 1, 0}, {true, "0-1-5", 0, 2, 2}, {true, "0-1-5", 0, 3, 0}}, 0, false, "-", Choice{2, false}},
		{"login: the least loaded, reads running counted", []r{{true, "0-1-5", 0, 2, 3}, {true, "0-1-5", 0, 3, 0}}, -1, false, "-", Choice{1, false}},
		{"not to a reader that would wait", []r{{true, "0-1-5", 0, 5, 0}, {true, "0-1-4", 0, 0, 0}}, 0, true, "0-1-5", Choice{0, false}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Pick(readersOf(t, c.rs), Need{Current: c.current, Settled: c.settled, Target: set(t, c.target)})
			if got != c.want {
				t.Errorf("Pick = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestLag(t *testing.T) {
	samples := []Sample{{100, set(t, "0-1-1")}, {200, set(t, "0-1-2")}, {300, set(t, "0-1-3")}}
	for _, c := range []struct {
		applied string
		want    int64
	}{{"0-1-3", 0}, {"0-1-2", 50}, {"0-1-1", 150}, {"-", 250}, {"0-1-9", 0}} {
		if got := Lag(samples, set(t, c.applied), 350); got != c.want {
			t.Errorf("Lag(applied %s) = %d, want %d", c.applied, got, c.want)
		}
	}
	if got := Lag(nil, nil, 5); got != 0 {
		t.Errorf("Lag without samples = %d, want 0", got)
	}
}

// FuzzPick checks Pick's promises on any readers: it returns a healthy reader (or the pinned
// current one), -1 only when none is healthy, and "no wait" only for a reader that has the
// target and, when it is a move, the floor; a wait only on a reader within lagTie of the least
// lag; a session whose current reader needs no wait moves
// only when settled, and then only to a reader with at least two sessions less.
func FuzzPick(f *testing.F) {
	f.Add([]byte{1, 5, 0, 1, 0, 3, 7, 2, 1, 9, 0, 0}, int8(0), false, false, uint8(5), uint8(0))
	f.Add([]byte{0, 9, 0, 0, 1, 1, 200, 4}, int8(-1), true, false, uint8(0), uint8(3))
	f.Add([]byte{1, 5, 0, 6, 1, 5, 0, 1, 1, 5, 0, 4}, int8(0), false, true, uint8(5), uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, current int8, pinned, settled bool, target, floor uint8) {
		var rs []Reader
		for i := 0; i+3 < len(b) && len(rs) < 16; i += 4 {
			var applied consistency.Set
			if b[i+1] > 0 {
				applied = seq(b[i+1])
			}
			rs = append(rs, Reader{Healthy: b[i]&1 == 1, Applied: applied, LagMs: int64(b[i+2]), Sessions: int(b[i+3] & 15), Running: int(b[i+3] >> 4)})
		}
		mk := func(n uint8) consistency.Set {
			if n == 0 {
				return nil
			}
			return seq(n)
		}
		n := Need{Current: int(current), Pinned: pinned, Settled: settled, Target: mk(target), Floor: mk(floor)}
		got := Pick(rs, n)
		pinnedHere := pinned && n.Current >= 0 && n.Current < len(rs)
		anyHealthy := false
		for _, r := range rs {
			anyHealthy = anyHealthy || r.Healthy
		}
		switch {
		case pinnedHere:
			if got.Reader != n.Current {
				t.Fatalf("pinned on %d, got %+v", n.Current, got)
			}
		case got.Reader == -1:
			if anyHealthy {
				t.Fatalf("-1 with a healthy reader: %+v", rs)
			}
		case got.Reader < 0 || got.Reader >= len(rs) || !rs[got.Reader].Healthy:
			t.Fatalf("picked %+v, not a healthy reader of %d", got, len(rs))
		}
		if got.Reader >= 0 && !got.Wait {
			have := rs[got.Reader].Applied
			if !covers(have, n.Target) || (got.Reader != n.Current && !covers(have, n.Floor)) {
				t.Fatalf("no wait on %d, which lacks target %v or floor %v", got.Reader, n.Target, n.Floor)
			}
		}
		if !pinnedHere && got.Wait {
			least := int64(-1)
			for _, r := range rs {
				if r.Healthy && (least < 0 || r.LagMs < least) {
					least = r.LagMs
				}
			}
			if rs[got.Reader].LagMs > least+lagTie {
				t.Fatalf("waits on %d, lag %d, with a healthy reader at lag %d: %+v", got.Reader, rs[got.Reader].LagMs, least, rs)
			}
		}
		if !pinnedHere && n.Current >= 0 && n.Current < len(rs) && rs[n.Current].Healthy && covers(rs[n.Current].Applied, n.Target) && got.Reader != n.Current {
			if !settled || got.Wait || rs[n.Current].Sessions < rs[got.Reader].Sessions+2 {
				t.Fatalf("left current %d, which needs no wait (settled %v), for %+v: %+v", n.Current, settled, got, rs)
			}
		}
	})
}
