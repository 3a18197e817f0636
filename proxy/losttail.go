package proxy

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/route"
)

// Lost tails: a failover that promoted a lagging replica loses the old
// writer's un-replicated transactions, and no server will ever have their
// GTIDs. Every wait target that names one would make SESSION reads wait
// --read-wait-timeout for ever (MySQL) or until the new writer's numbers
// pass it with other transactions (MariaDB). So each writer change records
// what the new writer held when the watch found it, and the targets drop
// what it lacks (consistency.Flavor.Lost): the shared ones (the user
// scope's sets, the readers' known positions) at the change, before any
// statement reaches the new writer; a session's own (its GTIDs, its
// fwdproxy_read_after set, its reader floor) at its next use of them.

// writerLoss is one change's new writer and what it held.
type writerLoss struct {
	gen      uint64 // the change's number, 1 for the first
	to       string // the new writer
	executed string // Flavor.ExecutedSQL's value on the new writer
}

// Kinds of wait target, as counted.
const (
	lostInSession = "session" // a session's own GTIDs or reader floor
	lostInUser    = "user"    // a user scope's set
	lostInToken   = "token"   // a fwdproxy_read_after set
	lostInReader  = "reader"  // what a reader is known to have applied
)

func newLostCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fwdproxy_writer_change_lost_gtids_total",
		Help: "Wait targets found naming GTIDs a writer change lost (the old writer's un-replicated tail) not named before, by target"},
		[]string{"target"})
}

// executedOn reads what the new writer addr holds, on the watch's probe
// connection; "" with ok=false when it cannot say (the targets then stay).
func (w *writerWatch) executedOn(addr string) (string, bool) {
	c, err := w.probe(addr)
	if err == nil {
		r, qerr := c.Execute(w.srv.flavor.ExecutedSQL())
		if err = qerr; err == nil {
			v, _ := r.GetString(0, 0)
			return v, true
		}
	}
	w.srv.log.Warn("the new writer's GTIDs are unknown: wait targets keep any GTIDs the change lost",
		zap.String("writer", addr), zap.Error(err))
	return "", false
}

// recordLoss notes the change just appended (w.changes' last, w.mu held)
// and drops lost GTIDs from the shared targets at once.
func (w *writerWatch) recordLoss(to, executed string) {
	gen := w.gen.Load() + 1
	w.changes[len(w.changes)-1].gen = gen
	w.losses = append(w.losses, writerLoss{gen: gen, to: to, executed: executed})
	if len(w.losses) > 20 {
		w.losses = w.losses[1:]
	}
	l := w.losses[len(w.losses)-1]
	w.srv.userSets.Range(func(_, a any) bool {
		w.dropShared(l, a.(*consistency.Applied), lostInUser)
		return true
	})
	w.dropShared(l, w.srv.applied, lostInReader)
	if rs := w.srv.readers; rs != nil {
		for _, n := range rs.all() {
			if n.applied != w.srv.applied {
				w.dropShared(l, n.applied, lostInReader)
			}
		}
	}
	w.gen.Store(gen) // sessions look from now on
}

func (w *writerWatch) dropShared(l writerLoss, a *consistency.Applied, kind string) {
	lost, err := a.Drop(w.srv.flavor, l.executed)
	if err == nil {
		w.noteLostLocked(l.gen, lost, kind)
	}
}

// keepSince drops from set what the changes after from, up to to, lost,
// in order, but not those that made server origin the writer (set came
// from there). A change is applied once: a GTID the new writer committed
// after it is not in what it held then.
func (w *writerWatch) keepSince(from, to uint64, origin string, set consistency.Set, kind string) consistency.Set {
	if set == nil || set.IsEmpty() || to <= from {
		return set
	}
	var apply []writerLoss
	w.mu.Lock()
	for _, l := range w.losses {
		if l.gen > from && l.gen <= to && l.to != origin {
			apply = append(apply, l)
		}
	}
	w.mu.Unlock()
	for _, l := range apply { // without the lock: await and suspect take it
		kept, lost, err := w.srv.flavor.Lost(set, l.executed)
		if err != nil || lost.IsEmpty() {
			continue
		}
		w.mu.Lock()
		w.noteLostLocked(l.gen, lost, kind)
		w.mu.Unlock()
		set = kept
	}
	return set
}

// noteLostLocked adds lost GTIDs of change gen to its /status entry, and
// counts and warns when some were not named before.
func (w *writerWatch) noteLostLocked(gen uint64, lost consistency.Set, kind string) {
	if lost == nil || lost.IsEmpty() {
		return
	}
	for i := range w.changes {
		c := &w.changes[i]
		if c.gen != gen {
			continue
		}
		if c.lost != nil && c.lost.Contains(lost) {
			return
		}
		if c.lost == nil {
			c.lost = lost
		} else {
			c.lost = c.lost.Union(lost)
		}
		c.LostGTIDs = c.lost.String()
		w.lostCount.WithLabelValues(kind).Inc()
		w.srv.log.Warn("GTIDs lost in a writer change: reads no longer wait for them",
			zap.String("from", c.From), zap.String("to", c.To), zap.String("lost", lost.String()), zap.String("target", kind))
		return
	}
}

// survive drops from the session's own wait targets what writer changes
// since it last looked lost. It is one atomic load when nothing changed.
func (s *session) survive() {
	w := s.srv.watch
	if w == nil {
		return
	}
	gen := w.gen.Load()
	if gen == s.lossGen {
		return
	}
	s.ownGTIDs = w.keepSince(s.lossGen, gen, "", s.ownGTIDs, lostInSession)
	s.ep.floor = w.keepSince(s.lossGen, gen, "", s.ep.floor, lostInSession)
	if after := s.state.ReadAfterSet; after != nil {
		kept := w.keepSince(s.lossGen, gen, "", after, lostInToken)
		s.state.Apply(route.SetReadAfter, route.Fact{Token: s.state.ReadAfter, TokenSet: kept})
	}
	s.lossGen = gen
}

// survivingOwn is g, a GTID the session's writer connection committed,
// without what changes since that connection was opened lost: an OK the
// old writer sent just before the change may be read after it.
func (s *session) survivingOwn(g consistency.Set) consistency.Set {
	s.survive()
	if w := s.srv.watch; w != nil {
		return w.keepSince(s.writerChange, s.lossGen, s.writerTo, g, lostInSession)
	}
	return g
}

// survivingToken is the set of a token a former writer issued, handed
// back after a writer change, without what the writer does not hold: it
// may name the lost tail. (A token the current writer issued was made
// from targets that already dropped it.) Without a change it is set as it
// is. The lost GTIDs are reported with the last change.
func (s *session) survivingToken(set consistency.Set) consistency.Set {
	w := s.srv.watch
	if w == nil || w.gen.Load() == 0 || set == nil || set.IsEmpty() {
		return set
	}
	s.survive() // later changes then apply to it, earlier ones do not
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	s.srv.posMu.Lock()
	executed, err := s.srv.askWriter(ctx, s.srv.flavor.ExecutedSQL())
	s.srv.posMu.Unlock()
	if err != nil {
		return set
	}
	kept, lost, err := s.srv.flavor.Lost(set, executed)
	if err != nil {
		return set
	}
	w.mu.Lock()
	w.noteLostLocked(w.gen.Load(), lost, lostInToken)
	w.mu.Unlock()
	return kept
}
