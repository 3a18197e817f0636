package digest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/pingcap/tidb/pkg/parser"

	"github.com/fwdproxy/fwdproxy/sqlclass"
)

func TestTable(t *testing.T) {
	type rec struct {
		d string
		o Outcome
	}
	ms := time.Millisecond
	cases := []struct {
		name string
		max  int
		top  int
		recs []rec
		want []Stats
	}{
		{"counts per digest and route", 100, 20, []rec{
			{"select ?", Outcome{Route: Reader, Wait: 2 * ms}},
			{"select ?", Outcome{Route: Writer, Wait: 3 * ms, Timeout: true}},
			{"insert into t values(?)", Outcome{Route: Forwarded}},
			{"select ?", Outcome{Route: Reader, Err: 1146}},
		}, []Stats{
			{Digest: "select ?", Count: 3, Routes: map[string]int64{"reader": 2, "writer": 1}, WaitUS: 5000, Timeouts: 1, Errors: 1},
			{Digest: "insert into t values(?)", Count: 1, Routes: map[string]int64{"forwarded": 1}},
		}},
		{"top n cuts, ties by digest", 100, 1, []rec{
			{"b", Outcome{Route: Rejected, Err: 1290}},
			{"a", Outcome{Route: Local}},
		}, []Stats{
			{Digest: "a", Count: 1, Routes: map[string]int64{"local": 1}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := New(c.max)
			for _, r := range c.recs {
				tb.Record(r.d, r.o)
			}
			if got := tb.Top(c.top); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// Past the cap, new digests count under Other and memory stays bounded.
func TestTableBounded(t *testing.T) {
	tb := New(shards) // one digest per shard
	for i := 0; i < 1000; i++ {
		tb.Record(fmt.Sprint("select ", i), Outcome{Route: Reader})
	}
	all := tb.Top(10000)
	if len(all) != shards+1 {
		t.Fatalf("%d digests kept, want %d and other", len(all), shards)
	}
	var other, total int64
	for _, s := range all {
		total += s.Count
		if s.Digest == Other {
			other = s.Count
		}
	}
	if total != 1000 || other != 1000-shards {
		t.Errorf("total %d other %d", total, other)
	}
}

func TestLog(t *testing.T) {
	var b bytes.Buffer
	l := NewLog(&b)
	at := time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)
	l.Write(at, 7, "select \"?\"", Outcome{Route: Rejected, Wait: 1500 * time.Microsecond, Err: 1290})
	var e Entry
	if err := json.Unmarshal(b.Bytes(), &e); err != nil {
		t.Fatal(err, b.String())
	}
	want := Entry{Time: at, Session: 7, Digest: "select \"?\"", Route: "rejected", WaitUS: 1500, Error: 1290}
	if e != want || bytes.Count(b.Bytes(), []byte("\n")) != 1 {
		t.Errorf("got %q", b.String())
	}
	// Rotation: the next line goes to the new writer only; none: off.
	var next bytes.Buffer
	if old := l.Swap(&next); old != &b {
		t.Errorf("Swap returned %v", old)
	}
	l.Write(at, 8, "select ?", Outcome{})
	if bytes.Count(b.Bytes(), []byte("\n")) != 1 || bytes.Count(next.Bytes(), []byte("\n")) != 1 {
		t.Errorf("after Swap: old %q, new %q", b.String(), next.String())
	}
	l.Swap(nil)
	l.Write(at, 9, "select ?", Outcome{})
	if l.On() || bytes.Count(next.Bytes(), []byte("\n")) != 1 {
		t.Errorf("after Swap(nil): on %v, %q", l.On(), next.String())
	}
}

var benchSQL = "SELECT c, pad FROM sbtest1 WHERE id = 4711 AND k IN (1, 2, 'x') /* c */ ORDER BY c LIMIT 10"

// The digest makers the proxy could use: the repository's lexer or the
// TiDB parser's normaliser.
func BenchmarkDigestLexer(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = sqlclass.Digest(benchSQL, sqlclass.Options{})
	}
}

func BenchmarkDigestTiDB(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = parser.Normalize(benchSQL, "ON")
	}
}

// BenchmarkRecord is the per-statement cost the proxy adds: digest and count.
func BenchmarkRecord(b *testing.B) {
	tb := New(1000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tb.Record(sqlclass.Digest(benchSQL, sqlclass.Options{}), Outcome{Route: Reader, Wait: time.Microsecond})
		}
	})
}

// BenchmarkRecordOnly is the table's share: a lookup and count under one
// shard's lock, without making the digest.
func BenchmarkRecordOnly(b *testing.B) {
	tb := New(1000)
	d := sqlclass.Digest(benchSQL, sqlclass.Options{})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		tb.Record(d, Outcome{Route: Reader, Wait: time.Microsecond})
	}
}
