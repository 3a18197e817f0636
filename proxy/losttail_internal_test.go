package proxy

import (
	"testing"

	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/consistency"
)

// A MySQL failover (no MySQL server here, so without one): the old writer
// A's transaction 58 never reached the promoted replica B. After the
// change no wait target names it: the user scope's set and the reader's
// known position at once, a session's own GTIDs and read-after set at its
// next look, and an OK the old writer sent before the change but the
// session read after it; a GTID B commits stays.
func TestLostTailMySQL(t *testing.T) {
	const (
		uA = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
		uB = "8bb05e5e-1b3a-11ef-a1b6-0242ac120002"
	)
	f := consistency.MySQL
	set := func(s string) consistency.Set {
		t.Helper()
		x, err := f.ParseSet(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	srv := &Server{flavor: f, log: zap.NewNop(), applied: consistency.NewApplied(f)}
	w := &writerWatch{srv: srv, lostCount: newLostCounter(), changes: []WriterChange{{From: "a:3306", To: "b:3306"}}}
	srv.watch = w
	srv.userGTIDs("app").Advance(set(uA + ":1-58"))
	srv.applied.Advance(set(uA + ":1-58"))
	s := &session{srv: srv, ownGTIDs: set(uA + ":1-58")}
	s.state.ReadAfter, s.state.ReadAfterSet = "fp1:my:x:"+uA+":58", set(uA+":58")
	late := &session{srv: srv}

	w.mu.Lock()
	w.recordLoss("b:3306", uA+":1-57,\n"+uB+":1-3")
	w.mu.Unlock()

	if got := srv.userGTIDs("app").Get().String(); got != uA+":1-57" {
		t.Errorf("user scope after the change: %s", got)
	}
	if got := srv.applied.Get().String(); got != uA+":1-57" {
		t.Errorf("reader position after the change: %s", got)
	}
	s.survive()
	if got := s.ownGTIDs.String(); got != uA+":1-57" {
		t.Errorf("own GTIDs: %s", got)
	}
	if !s.state.ReadAfterSet.IsEmpty() {
		t.Errorf("read-after set: %s", s.state.ReadAfterSet)
	}
	s.writerChange = w.gen.Load() // a writer connection to B
	s.addOwnGTIDs(s.survivingOwn(set(uB + ":4")))
	s.survive()
	if got := s.ownGTIDs.String(); got != uA+":1-57,"+uB+":4" {
		t.Errorf("own GTIDs after a write on the new writer: %s", got)
	}
	late.addOwnGTIDs(late.survivingOwn(set(uA + ":59"))) // its connection was to A
	if late.ownGTIDs != nil && !late.ownGTIDs.IsEmpty() {
		t.Errorf("the old writer's late OK: %s", late.ownGTIDs)
	}
	// A connection to B from before the change (B took writes from another instance
	// already): what it commits is on B.
	early := &session{srv: srv, writerTo: "b:3306"}
	early.addOwnGTIDs(early.survivingOwn(set(uB + ":5")))
	if early.ownGTIDs == nil || early.ownGTIDs.String() != uB+":5" {
		t.Errorf("a GTID of the new writer on a connection opened before the change: %v", early.ownGTIDs)
	}
	if got := w.status().Changes[0].LostGTIDs; got != uA+":58-59" {
		t.Errorf("/status lost_gtids %q", got)
	}
}
