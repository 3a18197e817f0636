package replay

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/fwdproxy/fwdproxy/capture"
)

func TestDifferences(t *testing.T) {
	for _, c := range []struct {
		want, got capture.Result
		diffs     string
	}{
		{capture.Result{Rows: 1, DurUS: 5}, capture.Result{Rows: 1, DurUS: 9}, ""},
		{capture.Result{Rows: 1}, capture.Result{Rows: 0}, "rows 1->0"},
		{capture.Result{Affected: 2, Rows: 1}, capture.Result{Affected: 1}, "rows 1->0 affected 2->1"},
		{capture.Result{Error: 1062}, capture.Result{Affected: 1}, "error 1062->0"},
		{capture.Result{Error: 1062}, capture.Result{Error: 1062}, ""},
	} {
		var s []string
		for _, d := range differences(c.want, c.got) {
			s = append(s, d.what+" "+itoa(d.captured)+"->"+itoa(d.replayed))
		}
		if got := strings.Join(s, " "); got != c.diffs {
			t.Errorf("%+v vs %+v: %q, want %q", c.want, c.got, got, c.diffs)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestBySession(t *testing.T) {
	recs := []capture.Record{
		{Kind: capture.Connect, Session: 2, AtUS: 50},
		{Kind: capture.Connect, Session: 1, AtUS: 10},
		{Kind: capture.Command, Session: 2, AtUS: 60, Name: "query"},
		{Kind: capture.Command, Session: 1, AtUS: 70, Name: "query"},
		{Kind: capture.Stopped, AtUS: 80},
	}
	ss, base := bySession(recs)
	if base != 10 || len(ss) != 2 || ss[0].id != 1 || len(ss[0].recs) != 2 || ss[1].id != 2 || len(ss[1].recs) != 2 {
		t.Errorf("base %d, sessions %+v", base, ss)
	}
}

func TestPacket(t *testing.T) {
	p := &player{stmts: map[uint32]uint32{7: 70}}
	exec := []byte{0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0}
	for _, c := range []struct {
		rec  capture.Record
		want string // hex-ish: the bytes, or "skip: why"
	}{
		{capture.Record{Name: "query", SQL: "SELECT 1"}, "\x03SELECT 1"},
		{capture.Record{Name: "query", SQL: "SET PASSWORD = '<redacted>'", Redacted: true}, "skip: holds a password (redacted in the capture)"},
		{capture.Record{Name: "prepare", SQL: "SELECT ?"}, "\x16SELECT ?"},
		{capture.Record{Name: "init_db", SQL: "shop"}, "\x02shop"},
		{capture.Record{Name: "execute", Stmt: 7, Packet: exec}, "\x17\x46\x00\x00\x00\x00\x01\x00\x00\x00"},
		{capture.Record{Name: "execute", Stmt: 8, Packet: exec}, "skip: names a statement the replay did not prepare"},
		{capture.Record{Name: "close_stmt", Stmt: 7}, "\x19\x46\x00\x00\x00"},
		{capture.Record{Name: "change_user", User: "bob"}, "skip: change_user is not replayed"},
	} {
		data, why := p.packet(c.rec)
		got := string(data)
		if why != "" {
			got = "skip: " + why
		}
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.rec.Name, got, c.want)
		}
	}
	if exec[1] != 7 {
		t.Error("packet changed the captured record")
	}
}

func TestReport(t *testing.T) {
	r := newReport()
	sel := capture.Record{Session: 1, Name: "query", SQL: "SELECT * FROM t WHERE k = 1"}
	for _, got := range []int64{1, 0, 0} {
		rec := sel
		rec.Result = &capture.Result{Rows: 1, DurUS: 1000}
		r.add(rec, capture.Result{Rows: got, DurUS: 2000})
	}
	dup := capture.Record{Session: 2, Name: "query", SQL: "INSERT INTO t VALUES (1)", Result: &capture.Result{Error: 1062, DurUS: 500}}
	r.add(dup, capture.Result{Error: 1062, DurUS: 500})
	r.skip("change_user is not replayed")
	r.finish(2, 0)
	if r.Replayed != 4 || r.Differences != 2 || len(r.Diffs) != 1 || r.Diffs[0].Count != 2 || r.Diffs[0].What != "rows" {
		t.Errorf("report %+v", r)
	}
	if len(r.Errors) != 1 || r.Errors[0].Code != 1062 || r.Errors[0].Captured != 1 {
		t.Errorf("errors %+v", r.Errors)
	}
	if l := r.Digests[0]; l.Digest != "select * from t where k = ?" || l.Count != 3 || l.Ratio != 2 {
		t.Errorf("latency %+v", l)
	}
	var b bytes.Buffer
	r.WriteText(&b)
	for _, want := range []string{"Replayed 4 commands of 2 sessions", "rows  2      1->0 1->0", "1062  1      1", "skipped 1: change_user"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}
