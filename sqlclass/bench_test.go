package sqlclass

import (
	"strconv"
	"strings"
	"testing"
)

// bulkInsert builds a multi-row INSERT of about n bytes, sysbench style.
func bulkInsert(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO sbtest1 (id, k, c, pad) VALUES ")
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + strconv.Itoa(i) + ", " + strconv.Itoa(i*7%1000) +
			", '83868641912-28773972837-60736120486-75162659906-27563526494-20381887404-41576422241-93426793964-56405065102-33518432330', " +
			"'67847967377-48000963322-62604785301-91415491898-96926520291')")
	}
	return b.String()
}

var benchCases = []struct{ name, sql string }{
	{"text_point_select", "SELECT c FROM sbtest1 WHERE id=5021"},
	{"prepared_point_select", "SELECT c FROM sbtest1 WHERE id=?"},
	{"insert", "INSERT INTO sbtest1 (id, k, c, pad) VALUES (5021, 4992, '83868641912-28773972837', '67847967377-48000963322')"},
	{"bulk_insert_300KB", bulkInsert(300 << 10)},
	{"update", "UPDATE sbtest1 SET k=k+1 WHERE id=5021"},
	{"join_select", "SELECT a.c, b.pad FROM sbtest1 a JOIN sbtest2 b ON a.id = b.id WHERE a.k BETWEEN 10 AND 20 AND b.c LIKE 'x%' ORDER BY a.c LIMIT 10"},
	{"multi_update", "UPDATE sbtest1 a JOIN sbtest2 b ON a.id = b.id SET a.k = b.k WHERE b.c IN (SELECT c FROM sbtest3)"},
	{"set", "SET a=1, @@session.b=2, @u := 3, aurora_replica_read_consistency='session'"},
}

func BenchmarkClassify(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.sql)))
			for b.Loop() {
				Classify(bc.sql, Options{})
			}
		})
	}
}

func BenchmarkSplit(b *testing.B) {
	q := strings.Repeat("SELECT c FROM sbtest1 WHERE id=5021; ", 10)
	b.ReportAllocs()
	for b.Loop() {
		Split(q, Options{})
	}
}

func BenchmarkTables(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Tables(benchCases[5].sql, Options{})
	}
}

func TestPointSelectAllocs(t *testing.T) {
	for _, q := range []string{benchCases[0].sql, benchCases[1].sql, benchCases[4].sql} {
		if n := testing.AllocsPerRun(100, func() { Classify(q, Options{}) }); n > 1 {
			t.Errorf("Classify(%q): %v allocs", q, n)
		}
	}
}
