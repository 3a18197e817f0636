package consistency

import (
	"testing"
)

func mustMariaDB(t testing.TB, s string) Set {
	t.Helper()
	set, err := MariaDB.ParseSet(s)
	if err != nil {
		t.Fatalf("ParseSet(%q): %v", s, err)
	}
	return set
}

func TestMariaDBParseString(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{in: "", want: ""},
		{in: "  \n", want: ""},
		{in: "0-1-7", want: "0-1-7"},
		{in: "1-2-9,0-1-7", want: "0-1-7,1-2-9"},
		{in: "0-1-7, 1-2-9", want: "0-1-7,1-2-9"},    // go-mysql fails on this
		{in: "0-1-7,\n1-2-9\n", want: "0-1-7,1-2-9"}, // multi-line output
		{in: " 0-1-7 ,1-2-9 ,", want: "0-1-7,1-2-9"}, // stray spaces, trailing comma
		{in: "0-1-7,,1-2-9", want: "0-1-7,1-2-9"},    // empty element
		{in: "0-1-7,0-2-9", want: "0-2-9"},           // gtid_binlog_state: max seq per domain
		{in: "0-2-9,0-1-7", want: "0-2-9"},           // order does not matter
		{in: "0-1-9,0-2-9", want: "0-1-9"},           // tie: first wins
		{in: "4294967295-4294967295-18446744073709551615", want: "4294967295-4294967295-18446744073709551615"},
		{in: "0-1-0", want: "0-1-0"},
		{in: "00-01-007", want: "0-1-7"},
		{in: "0-1", err: true},
		{in: "0-1-2-3", err: true},
		{in: "a-1-2", err: true},
		{in: "0-1-+2", err: true},
		{in: "0-1-0x2", err: true},
		{in: "-0-1-2", err: true},
		{in: "0 -1-2", err: true},
		{in: "4294967296-1-2", err: true},           // domain is 32 bits
		{in: "0-4294967296-2", err: true},           // server id is 32 bits
		{in: "0-1-18446744073709551616", err: true}, // seq is 64 bits
		{in: "0-1-7;1-2-9", err: true},
		{in: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1", err: true}, // MySQL syntax
	}
	for _, tt := range tests {
		got, err := MariaDB.ParseSet(tt.in)
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

func TestMariaDBContains(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"0-1-7", "", true},
		{"", "0-1-7", false},
		{"0-1-7", "0-1-7", true},
		{"0-1-7", "0-1-6", true},
		{"0-1-7", "0-1-8", false},
		// A position is per domain: the server id does not matter.
		{"0-1-7", "0-2-7", true},
		{"0-2-7", "0-1-5", true},
		{"0-2-7", "0-1-8", false},
		// Every domain of b must be in a.
		{"0-1-7,1-2-9", "1-2-9", true},
		{"0-1-7,1-2-9", "0-1-3,1-2-4", true},
		{"0-1-7,1-2-9", "0-1-3,1-2-10", false},
		{"0-1-7", "0-1-3,1-2-1", false},
		{"0-1-7,2-1-1", "1-1-1", false},
		{"1-1-5,3-1-5,5-1-5", "3-1-5", true},
		{"1-1-5,3-1-5,5-1-5", "2-1-1", false},
		{"1-1-5,3-1-5,5-1-5", "6-1-1", false},
		// A missing domain is not covered even at seq 0: MASTER_GTID_WAIT
		// would wait for the domain to appear.
		{"0-1-7", "1-1-0", false},
	}
	for _, tt := range tests {
		a, b := mustMariaDB(t, tt.a), mustMariaDB(t, tt.b)
		if got := a.Contains(b); got != tt.want {
			t.Errorf("%q.Contains(%q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestMariaDBUnion(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"", "", ""},
		{"0-1-7", "", "0-1-7"},
		{"", "0-1-7", "0-1-7"},
		{"0-1-7", "0-1-5", "0-1-7"}, // never moves back (go-mysql's Update would give 0-1-5)
		{"0-1-5", "0-1-7", "0-1-7"},
		{"0-1-5", "0-2-7", "0-2-7"}, // new primary in the same domain
		{"0-1-7", "0-2-7", "0-1-7"}, // tie keeps the receiver's
		{"0-1-7", "1-2-3", "0-1-7,1-2-3"},
		{"1-2-3", "0-1-7", "0-1-7,1-2-3"},
		{"0-1-7,2-1-4", "1-1-1,2-1-9,3-1-1", "0-1-7,1-1-1,2-1-9,3-1-1"},
	}
	for _, tt := range tests {
		a, b := mustMariaDB(t, tt.a), mustMariaDB(t, tt.b)
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

func TestMariaDBForeignSet(t *testing.T) {
	m := mustMariaDB(t, "0-1-7")
	my := mustMySQL(t, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1")
	emptyMy := mustMySQL(t, "")
	if m.Contains(my) {
		t.Error("MariaDB set contains a MySQL set")
	}
	if !m.Contains(emptyMy) || !m.Contains(nil) {
		t.Error("empty sets of any flavour are contained")
	}
	if got := m.Union(my).String(); got != "0-1-7" {
		t.Errorf("Union with a foreign set = %q", got)
	}
}

func FuzzMariaDBSet(f *testing.F) {
	for _, s := range []string{
		"", "0-1-7", "0-1-7,1-2-9", "0-1-7, 1-2-9", "0-1-7,0-2-9", " 5-5-5 ,,\n0-0-0",
		"4294967295-4294967295-18446744073709551615",
	} {
		f.Add(s, "0-1-3,2-2-2")
	}
	f.Fuzz(func(t *testing.T, s1, s2 string) {
		a, err := MariaDB.ParseSet(s1)
		if err != nil {
			return
		}
		checkSetProperties(t, MariaDB, a)
		b, err := MariaDB.ParseSet(s2)
		if err != nil {
			return
		}
		checkUnion(t, a, b)
	})
}

// checkSetProperties: String is a fixed point of parse, and Contains is
// reflexive.
func checkSetProperties(t *testing.T, f Flavor, a Set) {
	t.Helper()
	str := a.String()
	b, err := f.ParseSet(str)
	if err != nil {
		t.Fatalf("String() %q does not parse: %v", str, err)
	}
	if b.String() != str {
		t.Fatalf("round trip %q -> %q", str, b.String())
	}
	if !a.Contains(b) || !b.Contains(a) {
		t.Fatalf("%q: round trip not equal by containment", str)
	}
	if !a.Contains(a) {
		t.Fatalf("%q does not contain itself", str)
	}
	if a.IsEmpty() != (str == "") {
		t.Fatalf("%q: IsEmpty = %v", str, a.IsEmpty())
	}
}

func checkUnion(t *testing.T, a, b Set) {
	t.Helper()
	as, bs := a.String(), b.String()
	u := a.Union(b)
	if !u.Contains(a) || !u.Contains(b) {
		t.Fatalf("%q ∪ %q = %q misses an operand", as, bs, u)
	}
	if a.String() != as || b.String() != bs {
		t.Fatalf("Union changed an operand")
	}
	if a.Contains(b) && u.String() != as {
		t.Fatalf("%q contains %q but the union %q differs", as, bs, u)
	}
	if u2 := b.Union(a); !u2.Contains(u) || !u.Contains(u2) {
		t.Fatalf("union not commutative by containment: %q vs %q", u, u2)
	}
}
