package consistency

import (
	"strings"
	"testing"
)

func TestParseToken(t *testing.T) {
	cases := []struct {
		name    string
		f       Flavor
		cluster string
		tok     string
		want    string // the set; "" with err set: an error containing err
		err     string
	}{
		{"mariadb", MariaDB, "1.0", "fp1:ma:1.0:0-1-5", "0-1-5", ""},
		{"mariadb two domains", MariaDB, "1.0", "fp1:ma:1.0:0-1-5,1-1-7", "0-1-5,1-1-7", ""},
		{"empty set", MariaDB, "1.0", "fp1:ma:1.0:", "", ""},
		{"mysql", MySQL, "3e11fa47-71ca-11e1-9e33-c80aa9429562",
			"fp1:my:3e11fa47-71ca-11e1-9e33-c80aa9429562:3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5",
			"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", ""},
		{"garbage", MariaDB, "1.0", "hello", "", "not a fwdproxy causal token"},
		{"empty", MariaDB, "1.0", "", "", "not a fwdproxy causal token"},
		{"other version", MariaDB, "1.0", "fp2:ma:1.0:0-1-5", "", "not a fwdproxy causal token"},
		{"no cluster", MariaDB, "1.0", "fp1:ma::0-1-5", "", "not a fwdproxy causal token"},
		{"space", MariaDB, "1.0", "fp1:ma:1.0:0-1-5, 0-2-3", "", "not a fwdproxy causal token"},
		{"unknown flavour", MariaDB, "1.0", "fp1:pg:1.0:0-1-5", "", "unknown flavour"},
		{"mysql token on mariadb", MariaDB, "1.0", "fp1:my:1.0:0-1-5", "", "from a mysql writer"},
		{"other cluster", MariaDB, "1.0", "fp1:ma:2.0:0-2-5", "", "another cluster"},
		{"bad set", MariaDB, "1.0", "fp1:ma:1.0:x-y", "", "bad GTID set"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseToken(c.f, c.cluster, c.tok)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("ParseToken(%q) error %v, want one containing %q", c.tok, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseToken(%q): %v", c.tok, err)
			}
			if got.String() != c.want {
				t.Fatalf("ParseToken(%q) = %q, want %q", c.tok, got.String(), c.want)
			}
			if back := EncodeToken(c.f, c.cluster, got); back != c.tok {
				t.Fatalf("EncodeToken round trip = %q, want %q", back, c.tok)
			}
		})
	}
}

// FuzzParseToken: any text is refused or read back to a token that reads
// the same set again, without panics.
func FuzzParseToken(f *testing.F) {
	for _, s := range []string{"fp1:ma:1.0:0-1-5", "fp1:my:u:u:1-5", "fp1:ma:1.0:", "x", "fp1:ma:1.0:0-1-5,1-2-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		for _, fl := range []Flavor{MariaDB, MySQL} {
			for _, cluster := range []string{"1.0", "u"} {
				set, err := ParseToken(fl, cluster, tok)
				if err != nil {
					continue
				}
				again, err := ParseToken(fl, cluster, EncodeToken(fl, cluster, set))
				if err != nil || !again.Contains(set) || !set.Contains(again) {
					t.Fatalf("%q: re-encoded token reads %v, %v; want %v", tok, again, err, set)
				}
			}
		}
	})
}

// A token from a former writer is good when the current writer holds that
// writer's transactions (a switchover since the token was issued).
func TestInClusterHistory(t *testing.T) {
	const u1, u2 = "3e11fa47-71ca-11e1-9e33-c80aa9429562", "4f22ab58-82db-22f2-af44-d91bb0530673"
	cases := []struct {
		name             string
		f                Flavor
		cluster, history string
		want             bool
	}{
		{"mariadb former writer", MariaDB, "1.0", "0-1-100,0-2-7", true},
		{"mariadb current only", MariaDB, "2.0", "0-2-7", true},
		{"mariadb never a writer here", MariaDB, "3.0", "0-1-100,0-2-7", false},
		{"mariadb same server other domain", MariaDB, "1.5", "0-1-100", false},
		{"mariadb empty history", MariaDB, "1.0", "", false},
		{"mariadb malformed cluster", MariaDB, "1", "0-1-100", false},
		{"mariadb malformed history", MariaDB, "1.0", "0-1-x", false},
		{"mysql former writer", MySQL, u1, u2 + ":1-9,\n" + u1 + ":1-100", true},
		{"mysql upper case", MySQL, strings.ToUpper(u1), u1 + ":1-100", true},
		{"mysql never a writer here", MySQL, u1, u2 + ":1-9", false},
		{"mysql malformed cluster", MySQL, "not-a-uuid", u1 + ":1-3", false},
		{"mysql malformed history", MySQL, u1, u1 + ":x", false},
	}
	for _, c := range cases {
		if got := c.f.InClusterHistory(c.cluster, c.history); got != c.want {
			t.Errorf("%s: InClusterHistory(%q, %q) = %v, want %v", c.name, c.cluster, c.history, got, c.want)
		}
	}
}
