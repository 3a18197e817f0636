package consistency

import (
	"testing"
)

func benchSets(b *testing.B, f Flavor, have, want string) (Set, Set) {
	h, err := f.ParseSet(have)
	if err != nil {
		b.Fatal(err)
	}
	w, err := f.ParseSet(want)
	if err != nil {
		b.Fatal(err)
	}
	if !h.Contains(w) {
		b.Fatal("benchmark set not contained")
	}
	return h, w
}

// Realistic shapes: a few MariaDB domains; MySQL with a handful of
// source uuids (old primaries) and a session's own single GTID.
const (
	benchMariaHave = "0-1-123456789,1-2-5555,7-3-42"
	benchMariaWant = "0-1-123456700"
	benchMySQLHave = "11111111-1111-1111-1111-111111111111:1-1000," + uA + ":1-98765432," + uB + ":1-77:79-500"
	benchMySQLWant = uA + ":98765000"
)

func BenchmarkCoversMariaDB(b *testing.B) {
	h, w := benchSets(b, MariaDB, benchMariaHave, benchMariaWant)
	a := NewApplied(MariaDB)
	a.Advance(h)
	b.ReportAllocs()
	for b.Loop() {
		if !a.Covers(w) {
			b.Fatal("not covered")
		}
	}
}

func BenchmarkCoversMySQL(b *testing.B) {
	h, w := benchSets(b, MySQL, benchMySQLHave, benchMySQLWant)
	a := NewApplied(MySQL)
	a.Advance(h)
	b.ReportAllocs()
	for b.Loop() {
		if !a.Covers(w) {
			b.Fatal("not covered")
		}
	}
}

// Many sessions checking at once: the fast path takes no lock.
func BenchmarkCoversMySQLParallel(b *testing.B) {
	h, w := benchSets(b, MySQL, benchMySQLHave, benchMySQLWant)
	a := NewApplied(MySQL)
	a.Advance(h)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !a.Covers(w) {
				b.Fatal("not covered")
			}
		}
	})
}

func BenchmarkContainsMariaDB(b *testing.B) {
	h, w := benchSets(b, MariaDB, benchMariaHave, benchMariaHave)
	b.ReportAllocs()
	for b.Loop() {
		if !h.Contains(w) {
			b.Fatal("not contained")
		}
	}
}

func BenchmarkContainsMySQL(b *testing.B) {
	h, w := benchSets(b, MySQL, benchMySQLHave, benchMySQLHave)
	b.ReportAllocs()
	for b.Loop() {
		if !h.Contains(w) {
			b.Fatal("not contained")
		}
	}
}

func BenchmarkUnionMySQL(b *testing.B) {
	h, _ := benchSets(b, MySQL, benchMySQLHave, "")
	own, _ := benchSets(b, MySQL, uA+":98765433", "")
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Union(own)
	}
}

func BenchmarkOwnGTIDMariaDB(b *testing.B) {
	st, _ := sessionState(mariadbVectors[0].ok)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := MariaDB.OwnGTID(st); !ok {
			b.Fatal("none")
		}
	}
}

func BenchmarkOwnGTIDMySQL(b *testing.B) {
	st, _ := sessionState(mysqlVectors[1].ok)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := MySQL.OwnGTID(st); !ok {
			b.Fatal("none")
		}
	}
}

func TestCoversAllocs(t *testing.T) {
	for _, f := range []Flavor{MariaDB, MySQL} {
		have, want := benchMariaHave, benchMariaWant
		if f == MySQL {
			have, want = benchMySQLHave, benchMySQLWant
		}
		h, _ := f.ParseSet(have)
		w, _ := f.ParseSet(want)
		a := NewApplied(f)
		a.Advance(h)
		if n := testing.AllocsPerRun(100, func() { a.Covers(w) }); n != 0 {
			t.Errorf("%s Covers allocates %v", f.Name(), n)
		}
		if n := testing.AllocsPerRun(100, func() { h.Contains(h) }); n != 0 {
			t.Errorf("%s Contains allocates %v", f.Name(), n)
		}
	}
}
