package readers

import (
	"context"
	"fmt"
	"testing"

	"github.com/fwdproxy/fwdproxy/integration/pair"
)

// TestReadsSpreadOverReaders: sessions that all logged in while only the first replica took
// reads (the other two had stopped replicating) spread over the three once the others are
// back, by outstanding work, as they keep reading; every reader then serves reads.
func TestReadsSpreadOverReaders(t *testing.T) {
	createTable(t, "t_spread")
	r1, r2, r3 := thePair.Replicas[0], thePair.Replicas[1], thePair.Replicas[2]
	srv, addr := startProxy(t, nil)
	for _, r := range []pair.Replica{r2, r3} {
		must(t, thePair.Script("pause", r.Name))
		t.Cleanup(func() { _ = thePair.Script("resume", r.Name) })
		pair.WaitUntil(t, "state of "+r.Name, "stopped", func() string { return readerState(srv, r.Addr) })
	}
	const sessions = 6
	ws := workersOn(t, addr, "SESSION", "t_spread", sessions)
	if got := sessionsOn(srv, r1.Addr); got != sessions {
		t.Fatalf("%d sessions on %s, want all %d: %+v", got, r1.Name, sessions, srv.Status().Readers)
	}
	for _, r := range []pair.Replica{r2, r3} {
		must(t, thePair.Script("resume", r.Name))
		pair.WaitUntil(t, "state of "+r.Name, "up", func() string { return readerState(srv, r.Addr) })
	}
	before := map[string]int64{}
	for _, st := range srv.Status().Readers {
		before[st.Addr] = st.Reads
	}
	// Each round every session writes and reads its write back; a settled session on a reader
	// with two more sessions than another moves there.
	pair.WaitUntil(t, "sessions per reader", "2 2 2", func() string {
		for _, w := range ws {
			stale, err := w.trial("t_spread")
			must(t, err)
			if stale {
				t.Fatalf("session %d read a stale value", w.id)
			}
		}
		return fmt.Sprintf("%d %d %d", sessionsOn(srv, r1.Addr), sessionsOn(srv, r2.Addr), sessionsOn(srv, r3.Addr))
	})
	for _, w := range ws { // a round more, so that every reader serves after the spread
		stale, err := w.trial("t_spread")
		must(t, err)
		if stale {
			t.Fatalf("session %d read a stale value", w.id)
		}
	}
	for _, st := range srv.Status().Readers {
		if st.Reads <= before[st.Addr] {
			t.Errorf("reader %s served no read after the others came back: %+v", st.Addr, srv.Status().Readers)
		}
	}
	t.Logf("readers %+v", srv.Status().Readers)
	must(t, thePair.WaitReplicated(context.Background()))
}
