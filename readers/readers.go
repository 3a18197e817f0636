// Package readers chooses which reader of a reader endpoint serves a read, from what the
// proxy's monitor knows of each: whether it is healthy, what it has applied, its lag and how
// much work it has. Which kind of backend a statement goes to is package route's decision; this
// package only picks among the readers once route said "reader". It is pure: no I/O, no clock.
package readers

import "github.com/fwdproxy/fwdproxy/consistency"

// Reader is the monitor's view of one reader when a read is placed.
type Reader struct {
	Healthy bool            // answering, replicating from the writer, read_only, lag within the bound
	Applied consistency.Set // what it is known to have applied (a lower bound; nil: unknown)
	LagMs   int64           // replication lag in milliseconds, from GTID positions over time
	// Sessions on it (the placed session's own included on its current reader) and reads
	// running on it now: the reads come and go with every statement, the sessions stay.
	Sessions, Running int
}

// Load is the reader's outstanding work: the sessions on it plus the reads running on it.
func (r Reader) Load() int { return r.Sessions + r.Running }

// Need is one read's requirements.
type Need struct {
	Current int             // the session's reader, -1 for none (or lost)
	Pinned  bool            // a transaction, temporary table, user lock or cursor holds the session on Current
	Target  consistency.Set // what the read must see (SESSION, GLOBAL); nil: nothing (EVENTUAL)
	Floor   consistency.Set // the highest position the session has read at: it never reads below it
	// Settled: the session has been on Current for at least the hysteresis (the caller's clock),
	// so it may move to even out the sessions; a session that just moved stays.
	Settled bool
}

// Choice is where the read goes.
type Choice struct {
	Reader int  // index into the readers; -1: none qualifies (the no-reader policy applies)
	Wait   bool // the reader is not known to have the read's target (or, on a move, the floor) yet
}

// Pick places one read. A pinned session stays where it is. Otherwise, among healthy readers
// that already have the target (a reader other than the current one must also cover the
// floor), so the read waits for nothing; when none has it, among those expected to get there
// first (the least lag, and those within lagTie of it). Among them: the current one, unless
// the session is settled and moving lowers the imbalance of sessions (the current one has, the
// session included, at least two more than another); else the least loaded.
func Pick(rs []Reader, n Need) Choice {
	if n.Pinned && n.Current >= 0 && n.Current < len(rs) {
		return Choice{Reader: n.Current, Wait: !covers(rs[n.Current].Applied, n.Target)}
	}
	has := func(i int) bool {
		if i == n.Current {
			return covers(rs[i].Applied, n.Target) // a server never goes back below what it served
		}
		return covers(rs[i].Applied, n.Target) && covers(rs[i].Applied, n.Floor)
	}
	if i := n.among(rs, has); i >= 0 {
		return Choice{Reader: i}
	}
	least := int64(-1)
	for _, r := range rs {
		if r.Healthy && (least < 0 || r.LagMs < least) {
			least = r.LagMs
		}
	}
	i := n.among(rs, func(i int) bool { return rs[i].LagMs <= least+lagTie })
	return Choice{Reader: i, Wait: i >= 0}
}

// among chooses from the healthy readers ok accepts: the current one when it is one of them,
// unless a settled session evens out the sessions by leaving it (for the one with the fewest);
// else the least loaded; -1 when there is none.
func (n Need) among(rs []Reader, ok func(int) bool) int {
	best, fewest := -1, -1
	for i, r := range rs {
		if !r.Healthy || !ok(i) {
			continue
		}
		if best < 0 || r.Load() < rs[best].Load() {
			best = i
		}
		if f := fewest; f < 0 || r.Sessions < rs[f].Sessions || (r.Sessions == rs[f].Sessions && r.Load() < rs[f].Load()) {
			fewest = i
		}
	}
	if c := n.Current; c >= 0 && c < len(rs) && rs[c].Healthy && ok(c) {
		if n.evens(rs, fewest) {
			return fewest
		}
		return c
	}
	return best
}

// lagTie is the difference in lag (ms) below which two readers count as equally far behind:
// the lag of a caught-up reader is a few milliseconds of measuring noise (the writer's position
// sampled between the reader's check and the computation), and readers that are really equal
// should share the reads.
const lagTie = 10

// evens says the session, settled, should leave its current reader for reader to: the current
// one has, the session included, at least two sessions more than to, so the move lowers the
// imbalance instead of swapping it. Only sessions count: the reads running on a reader change
// with every read, so balancing by them moved sessions every settle period for differences of
// no lasting weight, and each move costs a connection, the replay of the session's state and
// the re-preparing of its statements. New sessions, placed by the load, keep the spread.
func (n Need) evens(rs []Reader, to int) bool {
	return n.Settled && to >= 0 && to != n.Current && rs[n.Current].Sessions >= rs[to].Sessions+2
}

// covers says have contains want; an empty want is always covered, an unknown have covers nothing else.
func covers(have, want consistency.Set) bool {
	if want == nil || want.IsEmpty() {
		return true
	}
	return have != nil && have.Contains(want)
}

// Lag is the replication lag of a reader at now (milliseconds since some clock): the age of the
// oldest writer position sample the reader has not applied, 0 when it has applied the newest.
// Samples are the writer's positions in the order taken, with their times.
func Lag(samples []Sample, applied consistency.Set, now int64) int64 {
	for _, s := range samples {
		if !covers(applied, s.Pos) {
			return max(now-s.AtMs, 0)
		}
	}
	return 0
}

// Sample is the writer's GTID position at a time (milliseconds).
type Sample struct {
	AtMs int64
	Pos  consistency.Set
}
