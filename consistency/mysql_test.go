package consistency

import (
	"strings"
	"testing"
)

const (
	uA = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	uB = "8bb05e5e-1b3a-11ef-a1b6-0242ac120002"
)

func mustMySQL(t testing.TB, s string) Set {
	t.Helper()
	set, err := MySQL.ParseSet(s)
	if err != nil {
		t.Fatalf("ParseSet(%q): %v", s, err)
	}
	return set
}

func TestMySQLParseString(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{in: "", want: ""},
		{in: " \n ", want: ""},
		{in: ",,", want: ""}, // the server allows empty elements
		{in: uA + ":1-5", want: uA + ":1-5"},
		{in: strings.ToUpper(uA) + ":1-5", want: uA + ":1-5"},
		{in: uA + ":7", want: uA + ":7"},
		{in: uA + ":5-5", want: uA + ":5"},
		{in: uA + ":1-5:7-9", want: uA + ":1-5:7-9"},
		{in: uA + ":7-9:1-5", want: uA + ":1-5:7-9"},      // sorted
		{in: uA + ":1-5:6-9", want: uA + ":1-9"},          // adjacent merge
		{in: uA + ":1-5:3-9:20", want: uA + ":1-9:20"},    // overlap merge
		{in: uA + ":1-5:2-3", want: uA + ":1-5"},          // nested
		{in: uA + ":1-5," + uA + ":6", want: uA + ":1-6"}, // same uuid twice
		{in: uB + ":1," + uA + ":1", want: uA + ":1," + uB + ":1"},
		// @@gtid_executed as the server prints it.
		{in: uA + ":1-5,\n" + uB + ":1-3", want: uA + ":1-5," + uB + ":1-3"},
		{in: " " + uA + " : 1 - 5 , " + uB + " : 3 ", want: uA + ":1-5," + uB + ":3"},
		{in: uA, want: ""}, // a uuid with no numbers adds nothing
		{in: uA + ":1," + uB, want: uA + ":1"},
		{in: uA + ":9223372036854775806", want: uA + ":9223372036854775806"},
		// MySQL 8.4 tagged GTIDs: tags sort after the untagged numbers,
		// alphabetically, lower case.
		{in: uA + ":tag1:1-5", want: uA + ":tag1:1-5"},
		{in: uA + ":TAG1:1-5", want: uA + ":tag1:1-5"},
		{in: uA + ":1-3:tag1:1-5", want: uA + ":1-3:tag1:1-5"},
		{in: uA + ":zz:4:aa:1-2:7", want: uA + ":aa:1-2:7:zz:4"}, // a tag holds until the next
		{in: uA + ":zz:4," + uA + ":7", want: uA + ":7:zz:4"},
		{in: uA + ":aa:1:aa:2", want: uA + ":aa:1-2"},
		{in: uA + ":_x9:1", want: uA + ":_x9:1"},
		{in: uA + ":aa:1," + uA + ":2", want: uA + ":2:aa:1"},
		{in: uA + ":aa", want: ""},
		{in: uA + ":" + strings.Repeat("t", 32) + ":1", want: uA + ":" + strings.Repeat("t", 32) + ":1"},
		{in: uA + ":" + strings.Repeat("t", 33) + ":1", err: true},
		{in: uA + ":0", err: true},   // numbers start at 1
		{in: uA + ":5-3", err: true}, // the server ignores it; we refuse
		{in: uA + ":1-", err: true},
		{in: uA + ":-1", err: true},
		{in: uA + ":", err: true},
		{in: uA + ":1:", err: true},
		{in: uA + ":0x10", err: true},
		{in: uA + ":9223372036854775807", err: true}, // GNO_END
		{in: uA + ":1-99999999999999999999", err: true},
		{in: uA + ":1 2", err: true},
		{in: uA + ":tag-1", err: true},
		{in: uA + ":1tag:1", err: true},
		{in: "3e11fa47-71ca-11e1-9e33-c80aa942956:1", err: true}, // short uuid
		{in: "3e11fa4771ca11e19e33c80aa9429562:1", err: true},
		{in: "3e11fa47_71ca-11e1-9e33-c80aa9429562:1", err: true},
		{in: "ge11fa47-71ca-11e1-9e33-c80aa9429562:1", err: true},
		{in: uA + ":1;" + uB + ":1", err: true},
		{in: "0-1-7", err: true}, // MariaDB syntax
	}
	for _, tt := range tests {
		got, err := MySQL.ParseSet(tt.in)
		if tt.err {
			if err == nil {
				t.Errorf("ParseSet(%q) = %q, want error", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSet(%q): %v", tt.in, err)
			continue
		}
		if got.String() != tt.want {
			t.Errorf("ParseSet(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got.IsEmpty() != (tt.want == "") {
			t.Errorf("ParseSet(%q).IsEmpty() = %v", tt.in, got.IsEmpty())
		}
	}
}

func TestMySQLContains(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{uA + ":1-5", "", true},
		{"", uA + ":1", false},
		{uA + ":1-5", uA + ":1-5", true},
		{uA + ":1-5", uA + ":2-4", true},
		{uA + ":1-5", uA + ":5", true},
		{uA + ":1-5", uA + ":6", false},
		{uA + ":1-5:7-9", uA + ":1-9", false}, // gap at 6
		{uA + ":1-5:7-9", uA + ":7-9:2", true},
		{uA + ":1-5:7-9", uA + ":4-7", false},
		{uA + ":2-5", uA + ":1", false},
		{uA + ":1-5", uB + ":1", false},
		{uA + ":1-5," + uB + ":1-3", uB + ":2", true},
		{uA + ":1-5," + uB + ":1-3", uA + ":3," + uB + ":3", true},
		{uA + ":1-5," + uB + ":1-3", uA + ":3," + uB + ":4", false},
		{strings.ToUpper(uA) + ":1-5", uA + ":3", true},
		// Tags are separate sources.
		{uA + ":1-5", uA + ":tag1:1", false},
		{uA + ":tag1:1-5", uA + ":1", false},
		{uA + ":1-5:tag1:1-5", uA + ":3:tag1:2", true},
		{uA + ":1-5:tag1:1-5", uA + ":3:tag2:2", false},
	}
	for _, tt := range tests {
		a, b := mustMySQL(t, tt.a), mustMySQL(t, tt.b)
		if got := a.Contains(b); got != tt.want {
			t.Errorf("%q.Contains(%q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestMySQLUnion(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"", "", ""},
		{uA + ":1-5", "", uA + ":1-5"},
		{"", uA + ":1-5", uA + ":1-5"},
		{uA + ":1-5", uA + ":6", uA + ":1-6"},
		{uA + ":1-5", uA + ":7", uA + ":1-5:7"},
		{uA + ":1-5:7", uA + ":6", uA + ":1-7"},
		{uA + ":3", uA + ":1-5", uA + ":1-5"},
		{uA + ":1-5", uB + ":1", uA + ":1-5," + uB + ":1"},
		{uB + ":1", uA + ":1-5", uA + ":1-5," + uB + ":1"},
		{uA + ":1:tag1:4", uA + ":2:tag1:5:tag0:1", uA + ":1-2:tag0:1:tag1:4-5"},
		{uA + ":10-20:30-40", uA + ":15-35", uA + ":10-40"},
	}
	for _, tt := range tests {
		a, b := mustMySQL(t, tt.a), mustMySQL(t, tt.b)
		aStr, bStr := a.String(), b.String()
		u := a.Union(b)
		if u.String() != tt.want {
			t.Errorf("%q ∪ %q = %q, want %q", tt.a, tt.b, u, tt.want)
		}
		if !u.Contains(a) || !u.Contains(b) {
			t.Errorf("%q ∪ %q = %q does not contain both", tt.a, tt.b, u)
		}
		if a.String() != aStr || b.String() != bStr {
			t.Errorf("Union changed an operand")
		}
	}
}

func TestMySQLForeignSet(t *testing.T) {
	my := mustMySQL(t, uA+":1")
	if my.Contains(mustMariaDB(t, "0-1-1")) {
		t.Error("MySQL set contains a MariaDB set")
	}
	if !my.Contains(mustMariaDB(t, "")) || !my.Contains(nil) {
		t.Error("empty sets of any flavour are contained")
	}
	if got := my.Union(mustMariaDB(t, "0-1-1")).String(); got != uA+":1" {
		t.Errorf("Union with a foreign set = %q", got)
	}
}

func FuzzMySQLSet(f *testing.F) {
	for _, s := range []string{
		"", uA + ":1-5", uA + ":1-5:7-9," + uB + ":1", uA + ":1-5,\n" + uB + ":3",
		uA + ":tag1:1-5", uA + ":1-3:TAG:4:_t:9", " " + uA + " : 1 - 5 ,,",
		uA + ":9223372036854775806",
	} {
		f.Add(s, uA+":2-8:tag1:3")
	}
	f.Fuzz(func(t *testing.T, s1, s2 string) {
		a, err := MySQL.ParseSet(s1)
		if err != nil {
			return
		}
		checkSetProperties(t, MySQL, a)
		b, err := MySQL.ParseSet(s2)
		if err != nil {
			return
		}
		checkUnion(t, a, b)
		// Containment must agree with a brute-force per-GTID check on
		// small sets.
		checkContainsBrute(t, a, b)
	})
}

// checkContainsBrute expands sets of at most 1000 GTIDs and compares
// Contains with a map lookup.
func checkContainsBrute(t *testing.T, a, b Set) {
	t.Helper()
	ea, okA := expand(a.(mysqlSet), 1000)
	eb, okB := expand(b.(mysqlSet), 1000)
	if !okA || !okB {
		return
	}
	want := true
	for g := range eb {
		if !ea[g] {
			want = false
			break
		}
	}
	if got := a.Contains(b); got != want {
		t.Fatalf("%q.Contains(%q) = %v, brute force says %v", a, b, got, want)
	}
}

type gtidKey struct {
	uuid [16]byte
	tag  string
	gno  uint64
}

func expand(s mysqlSet, limit int) (map[gtidKey]bool, bool) {
	m := map[gtidKey]bool{}
	for _, t := range s.t {
		for _, v := range t.iv {
			if v.hi-v.lo >= uint64(limit) {
				return nil, false
			}
			for g := v.lo; ; g++ {
				m[gtidKey{t.uuid, t.tag, g}] = true
				if len(m) > limit {
					return nil, false
				}
				if g == v.hi {
					break
				}
			}
		}
	}
	return m, true
}

// A MySQL failover: a session's target from the old writer (server_uuid A) carries over to the
// promoted replica (B), whose gtid_executed, as @@GLOBAL.gtid_executed prints it (a newline
// after each comma), holds A's transactions it applied and B's own since.
func TestMySQLTargetsAcrossWriterChange(t *testing.T) {
	const promoted = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-57,\n8a94f357-aab4-11df-86ab-c80aa9429562:1-3"
	pos, err := MySQL.ParseSet(promoted)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		target string
		want   bool
	}{
		{"3e11fa47-71ca-11e1-9e33-c80aa9429562:57", true},  // acknowledged on the old writer, replicated
		{"3e11fa47-71ca-11e1-9e33-c80aa9429562:58", false}, // the old writer's un-replicated tail
		{"8a94f357-aab4-11df-86ab-c80aa9429562:3", true},   // written on the new writer
		{"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-57,8a94f357-aab4-11df-86ab-c80aa9429562:2", true},
	} {
		s, err := MySQL.ParseSet(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		if got := pos.Contains(s); got != tc.want {
			t.Errorf("%s: reached %v, want %v", tc.target, got, tc.want)
		}
	}
}
