package consistency

import "testing"

// A failover promoted a replica that lacks the old writer's (server 1, or
// uA) last transactions; what a session's target keeps is what the new
// writer held at the change.
func TestLost(t *testing.T) {
	for _, tc := range []struct {
		name             string
		f                Flavor
		target, executed string
		kept, lost       string
	}{
		{"mariadb empty target", MariaDB, "", "0-1-90", "", ""},
		{"mariadb replicated", MariaDB, "0-1-80", "0-1-90", "0-1-80", ""},
		{"mariadb switchover: all there", MariaDB, "0-1-100", "0-1-100", "0-1-100", ""},
		{"mariadb tail lost: the new writer's position", MariaDB, "0-1-100", "0-1-90", "0-1-90", "0-1-100"},
		// gtid_binlog_state plus gtid_current_pos after the new writer (2) wrote past 100:
		// server 1's last in domain 0 is 90, so 0-1-100 is gone although seq 105 exists.
		{"mariadb new writer's numbers passed the lost one", MariaDB, "0-1-100", "0-1-90,0-2-105,0-2-105", "0-2-105", "0-1-100"},
		{"mariadb the new writer's own", MariaDB, "0-2-95", "0-1-90,0-2-105", "0-2-95", ""},
		{"mariadb a domain the new writer never had", MariaDB, "0-1-80,1-1-5", "0-1-90", "0-1-80", "1-1-5"},
		{"mariadb two domains, one lost", MariaDB, "0-1-100,1-1-5", "0-1-90,1-1-7", "0-1-90,1-1-5", "0-1-100"},
		// A server the new writer's binlog never logged (RESET MASTER): its domain position decides.
		{"mariadb server not in history, domain passed", MariaDB, "0-3-50", "0-1-90", "0-3-50", ""},
		{"mariadb server not in history, beyond", MariaDB, "0-3-95", "0-1-90", "0-1-90", "0-3-95"},
		{"mysql empty target", MySQL, "", uA + ":1-57", "", ""},
		{"mysql replicated", MySQL, uA + ":1-57", uA + ":1-57,\n" + uB + ":1-3", uA + ":1-57", ""},
		{"mysql tail lost", MySQL, uA + ":1-58", uA + ":1-57,\n" + uB + ":1-3", uA + ":1-57", uA + ":58"},
		{"mysql the new writer's own kept", MySQL, uA + ":58," + uB + ":3", uA + ":1-57," + uB + ":1-3", uB + ":3", uA + ":58"},
		{"mysql holes", MySQL, uA + ":1-10:20-30", uA + ":5-25", uA + ":5-10:20-25", uA + ":1-4:26-30"},
		{"mysql a source the new writer never had", MySQL, uB + ":1-2", uA + ":1-9", "", uB + ":1-2"},
		{"mysql tags", MySQL, uA + ":1-3:t:1-4", uA + ":1-3:t:2", uA + ":1-3:t:2", uA + ":t:1:3-4"},
		{"mysql edge of the range", MySQL, uA + ":9223372036854775805-9223372036854775806", uA + ":1-9223372036854775805", uA + ":9223372036854775805", uA + ":9223372036854775806"},
	} {
		target, err := tc.f.ParseSet(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		kept, lost, err := tc.f.Lost(target, tc.executed)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if kept.String() != tc.kept || lost.String() != tc.lost {
			t.Errorf("%s: kept %q lost %q, want kept %q lost %q", tc.name, kept, lost, tc.kept, tc.lost)
		}
	}
	for _, f := range []Flavor{MariaDB, MySQL} {
		target, _ := f.ParseSet("")
		if _, _, err := f.Lost(mustSet(t, f), "not a set"); err == nil {
			t.Errorf("%s: a malformed executed set is no error", f.Name())
		}
		if kept, lost, err := f.Lost(target, "not a set"); err != nil || !kept.IsEmpty() || !lost.IsEmpty() {
			t.Errorf("%s: empty target: %v %v %v", f.Name(), kept, lost, err)
		}
	}
}

func mustSet(t testing.TB, f Flavor) Set {
	if f == MariaDB {
		return mustMariaDB(t, "0-1-5")
	}
	return mustMySQL(t, uA+":5")
}

// FuzzLost: whatever the target and the new writer's state, the new writer
// has everything kept, asking again loses nothing more, and every target
// GTID is kept as it was or reported lost. For MySQL kept and lost
// partition the target.
func FuzzLost(f *testing.F) {
	f.Add(true, "0-1-100,1-1-5", "0-1-90,0-2-105,1-2-3")
	f.Add(true, "0-1-80", "0-1-90")
	f.Add(false, uA+":1-10:20-30,"+uB+":t:4", uA+":5-25,"+uB+":1-3")
	f.Add(false, uA+":1-58", uA+":1-57")
	f.Fuzz(func(t *testing.T, mariadb bool, targetStr, executed string) {
		fl := MySQL
		if mariadb {
			fl = MariaDB
		}
		target, err := fl.ParseSet(targetStr)
		if err != nil {
			return
		}
		have, err := fl.ParseSet(executed)
		if err != nil {
			return
		}
		kept, lost, err := fl.Lost(target, executed)
		if err != nil {
			t.Fatalf("ParseSet accepted %q, Lost did not: %v", executed, err)
		}
		if !have.Contains(kept) {
			t.Fatalf("kept %q is not all in %q", kept, executed)
		}
		if _, again, _ := fl.Lost(kept, executed); !again.IsEmpty() {
			t.Fatalf("kept %q loses %q when asked again", kept, again)
		}
		if lost.IsEmpty() && kept.String() != target.String() {
			t.Fatalf("nothing lost, but kept %q is not the target %q", kept, target)
		}
		if mariadb {
			for _, g := range target.(mariadbSet).gtids() {
				one := mariadbSet{g: []MariaDBGTID{g}}
				if !lost.Contains(one) && !kept.Contains(one) {
					t.Fatalf("%s neither kept (%q) nor lost (%q)", g, kept, lost)
				}
			}
			return
		}
		if !target.Contains(kept.Union(lost)) || !kept.Union(lost).Contains(target) {
			t.Fatalf("kept %q and lost %q are not the target %q", kept, lost, target)
		}
		if k, _, _ := fl.Lost(lost, executed); !k.IsEmpty() {
			t.Fatalf("lost %q has %q, which %q holds", lost, k, executed)
		}
		checkContainsBrute(t, target, kept)
	})
}

// Applied.Drop moves a position back to what the new writer holds, and
// wakes its waiters, which look again.
func TestAppliedDrop(t *testing.T) {
	a := NewApplied(MariaDB)
	a.Advance(mustMariaDB(t, "0-1-100,1-1-5"))
	changed := a.st.Load().changed
	lost, err := a.Drop(MariaDB, "0-1-90,1-1-5")
	if err != nil || lost.String() != "0-1-100" || a.Get().String() != "0-1-90,1-1-5" {
		t.Fatalf("Drop: lost %v, now %v, %v", lost, a.Get(), err)
	}
	select {
	case <-changed:
	default:
		t.Error("waiters not woken")
	}
	if lost, err := a.Drop(MariaDB, "0-1-90,1-1-5"); err != nil || !lost.IsEmpty() {
		t.Errorf("Drop again: lost %v, %v", lost, err)
	}
	// Afterwards it grows from there again: the new writer's next one.
	a.Advance(mustMariaDB(t, "0-2-91"))
	if got := a.Get().String(); got != "0-2-91,1-1-5" {
		t.Errorf("after the new writer's GTID: %s", got)
	}
	if _, err := a.Drop(MariaDB, "junk"); err == nil {
		t.Error("a malformed executed set is no error")
	}
}
