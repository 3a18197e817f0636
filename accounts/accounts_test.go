package accounts

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestNativeScramble(t *testing.T) {
	for _, tc := range []struct {
		name, password, tryWith string
		ok                      bool
	}{
		{"right password", "s3cret", "s3cret", true},
		{"wrong password", "s3cret", "s3creT", false},
		{"long password", strings.Repeat("x", 200), strings.Repeat("x", 200), true},
		{"unicode", "pässwörd", "pässwörd", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scramble := []byte("abcdefghij0123456789")
			tried := sha1.Sum([]byte(tc.tryWith))
			answer := Answer(scramble, tried[:]) // what a client sends
			stage1, ok := Recover(scramble, answer, Stage2(tc.password))
			if ok != tc.ok {
				t.Fatalf("Recover ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			want := sha1.Sum([]byte(tc.password))
			if !bytes.Equal(stage1, want[:]) {
				t.Fatalf("stage1 = %x, want SHA1(password) %x", stage1, want)
			}
			// A fresh answer for another server's scramble is the one the
			// password itself gives.
			other := []byte("ZYXWVUTSRQPONMLKJIHG")
			if got, want := Answer(other, stage1), answerFromPassword(other, tc.password); !bytes.Equal(got, want) {
				t.Fatalf("Answer = %x, want %x", got, want)
			}
		})
	}
}

// answerFromPassword is the client's computation, written out apart from
// Answer: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))).
func answerFromPassword(scramble []byte, pw string) []byte {
	s1 := sha1.Sum([]byte(pw))
	s2 := sha1.Sum(s1[:])
	k := sha1.Sum(append(append([]byte{}, scramble...), s2[:]...))
	out := make([]byte, 20)
	for i := range out {
		out[i] = s1[i] ^ k[i]
	}
	return out
}

func TestRecoverRejectsMalformed(t *testing.T) {
	scramble := []byte("abcdefghij0123456789")
	for _, answer := range [][]byte{nil, {1, 2, 3}, make([]byte, 21)} {
		if _, ok := Recover(scramble, answer, Stage2("x")); ok {
			t.Fatalf("answer %x accepted", answer)
		}
	}
}

func TestParseNativeHash(t *testing.T) {
	// PASSWORD('fwdpass') as MariaDB prints it.
	want := Stage2("fwdpass")
	text := "*" + strings.ToUpper(hex.EncodeToString(want))
	for _, tc := range []struct {
		in   string
		want []byte
		err  bool
	}{
		{text, want, false},
		{strings.ToLower(text), want, false},
		{"", nil, false},
		{"invalid", nil, true},
		{text[1:], nil, true},
		{"*" + strings.Repeat("g", 40), nil, true},
	} {
		got, err := ParseNativeHash(tc.in)
		if (err != nil) != tc.err || !bytes.Equal(got, tc.want) {
			t.Errorf("ParseNativeHash(%q) = %x, %v", tc.in, got, err)
		}
	}
}

func TestMatchHost(t *testing.T) {
	for _, tc := range []struct {
		pattern, ip string
		want        bool
	}{
		{"%", "10.1.2.3", true},
		{"", "10.1.2.3", true},
		{"10.1.2.3", "10.1.2.3", true},
		{"10.1.2.3", "10.1.2.4", false},
		{"10.1.2.%", "10.1.2.99", true},
		{"10.1.2.%", "10.1.3.1", false},
		{"10.1.2._", "10.1.2.9", true},
		{"10.1.2._", "10.1.2.10", false},
		{"10.9.9.9", "127.0.0.1", false},
		{"localhost", "127.0.0.1", true},
		{"LOCALHOST", "::1", true},
		{"localhost", "10.0.0.1", false},
		{"127.0.0.1", "::ffff:127.0.0.1", true},
		{"::ffff:127.0.0.1", "::ffff:127.0.0.1", true},
		{"::ffff:127.0.0.%", "127.0.0.1", false}, // the client is 127.0.0.1 then
		{"10.0.0.0/255.255.255.0", "10.0.0.77", true},
		{"10.0.0.0/255.255.255.0", "10.0.1.77", false},
		{"10.0.0.0/255.0.255.0", "10.0.0.1", false}, // not a contiguous mask: no match
		{"10.0.0.0/24", "10.0.0.200", true},
		{"10.0.0.0/24", "10.0.1.200", false},
		{"fd00::%", "fd00::1", true},
		{"app.example.com", "10.0.0.1", false}, // no DNS
		{"%", "/tmp/fwdproxy.sock", true},      // a socket's client is localhost
		{"localhost", "", true},
		{"10.%", "", false},
		{"10\\.1.2.3", "10.1.2.3", true},
		{"10\\_1.2.3", "10.1.2.3", false},
		{"%%%", "1.2.3.4", true},
	} {
		if got := MatchHost(tc.pattern, tc.ip); got != tc.want {
			t.Errorf("MatchHost(%q, %q) = %v, want %v", tc.pattern, tc.ip, got, tc.want)
		}
	}
}

func TestMostSpecificHostWins(t *testing.T) {
	s := NewStore(nil, 0)
	s.Replace([]Account{
		{User: "app", Host: "%", Plugin: "any"},
		{User: "app", Host: "10.1.%", Plugin: "ten-one"},
		{User: "app", Host: "10.1.2.%", Plugin: "ten-one-two"},
		{User: "app", Host: "10.1.2.0/255.255.255.0", Plugin: "netmask"},
		{User: "app", Host: "10.1.2.3", Plugin: "exact"},
		{User: "app", Host: "localhost", Plugin: "local"},
		{User: "app", Host: "::1", Plugin: "loopback6"},
		{User: "", Host: "%", Plugin: "anonymous"},
	}, time.Now())
	for _, tc := range []struct{ user, ip, want string }{
		{"app", "10.1.2.3", "exact"},
		{"app", "10.1.2.4", "netmask"},
		{"app", "10.1.3.4", "ten-one"},
		{"app", "10.2.0.1", "any"},
		{"app", "127.0.0.1", "local"},
		{"app", "::1", "loopback6"},
		{"other", "10.1.2.3", ""},
	} {
		a, ok := s.Match(tc.user, tc.ip)
		if a.Plugin != tc.want || ok != (tc.want != "") {
			t.Errorf("Match(%q, %q) = %q %v, want %q", tc.user, tc.ip, a.Plugin, ok, tc.want)
		}
	}
	if s.Len() != 7 {
		t.Errorf("Len = %d, want 7 (the anonymous account left out)", s.Len())
	}
}

func TestParseMariaDB(t *testing.T) {
	hash := "*" + strings.ToUpper(hex.EncodeToString(Stage2("pw")))
	for _, tc := range []struct {
		name, priv, plugin string
		stage2             []byte
		locked, err        bool
	}{
		{"native", `{"access":0,"plugin":"mysql_native_password","authentication_string":"` + hash + `"}`, NativePlugin, Stage2("pw"), false, false},
		{"empty password", `{"access":0,"plugin":"mysql_native_password","authentication_string":""}`, NativePlugin, nil, false, false},
		{"no plugin", `{"access":0,"authentication_string":"` + hash + `"}`, NativePlugin, Stage2("pw"), false, false},
		{"ed25519", `{"plugin":"ed25519","authentication_string":"ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY"}`, "ed25519", nil, false, false},
		{"root: invalid or unix_socket", `{"plugin":"mysql_native_password","authentication_string":"invalid","auth_or":[{},{"plugin":"unix_socket"}]}`, "unix_socket", nil, false, false},
		{"unix_socket or native", `{"plugin":"mysql_native_password","authentication_string":"` + hash + `","auth_or":[{"plugin":"unix_socket"},{}]}`, NativePlugin, Stage2("pw"), false, false},
		{"invalid only", `{"plugin":"mysql_native_password","authentication_string":"invalid"}`, "", nil, false, false},
		{"locked", `{"plugin":"mysql_native_password","authentication_string":"` + hash + `","account_locked":true}`, NativePlugin, Stage2("pw"), true, false},
		{"no plugin, no hash: an empty password", `{"access":0}`, NativePlugin, nil, false, false},
		{"a role", `{"access":0,"version_id":101119,"is_role":true}`, "", nil, false, false},
		{"not JSON", `{`, "", nil, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseMariaDB("u", "%", tc.priv)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			if tc.err {
				return
			}
			if a.Plugin != tc.plugin || !bytes.Equal(a.Stage2, tc.stage2) || a.Locked != tc.locked || a.User != "u" || a.Host != "%" {
				t.Fatalf("got %+v", a)
			}
		})
	}
}

func TestParseRows(t *testing.T) {
	hash := "*" + strings.ToUpper(hex.EncodeToString(Stage2("pw")))
	all, skipped := ParseRows([][]string{
		{"a", "%", "mysql_native_password", hash, "N"},
		{"b", "%", "caching_sha2_password", "$A$005$xyz", "Y"},
		{"short"},
	}, true)
	if skipped != 1 || len(all) != 2 || all[0].Plugin != NativePlugin || all[1].Plugin != "caching_sha2_password" || !all[1].Locked {
		t.Fatalf("got %+v, skipped %d", all, skipped)
	}
	_, skipped = ParseRows([][]string{{"a", "%", "{"}, {"b", "%", "{}"}}, false)
	if skipped != 1 {
		t.Fatalf("skipped %d, want 1", skipped)
	}
}

func TestRefreshAfterFailureIsRateLimited(t *testing.T) {
	loads := 0
	s := NewStore(func(context.Context) ([]Account, error) { loads++; return nil, nil }, time.Hour)
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.RefreshAfterFailure(context.Background()) || loads != 1 {
		t.Fatalf("a failed login right after a load loaded again (%d loads)", loads)
	}
	s.failGap = 0
	if !s.RefreshAfterFailure(context.Background()) || loads != 2 {
		t.Fatalf("a failed login past the gap did not load (%d loads)", loads)
	}
}

func FuzzParseMariaDB(f *testing.F) {
	f.Add(`{"plugin":"mysql_native_password","authentication_string":"*0123456789ABCDEF0123456789ABCDEF01234567"}`)
	f.Add(`{"plugin":"mysql_native_password","authentication_string":"invalid","auth_or":[{},{"plugin":"unix_socket"}]}`)
	f.Add(`{"auth_or":[{"plugin":"ed25519","authentication_string":"x"},{}],"account_locked":true}`)
	f.Fuzz(func(t *testing.T, priv string) {
		a, err := ParseMariaDB("u", "h", priv)
		if err != nil {
			return
		}
		if a.Plugin == NativePlugin && a.Stage2 != nil && len(a.Stage2) != sha1.Size {
			t.Fatalf("native account with a %d-byte hash", len(a.Stage2))
		}
		if a.Plugin != NativePlugin && a.Stage2 != nil {
			t.Fatalf("a hash for plugin %q", a.Plugin)
		}
	})
}

func TestLikeManyWildcards(t *testing.T) {
	// An exponential matcher would not finish this in a test's time.
	p := strings.Repeat("1%", 40) + "2"
	if like(p, strings.Repeat("1", 45)) {
		t.Fatal("matched")
	}
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"a%b%c", "aXbYc", true}, {"a%b%c", "aXbY", false}, {"%", "", true}, {"_", "", false},
		{"a\\%", "a%", true}, {"a\\%", "ab", false}, {"a\\", "a\\", true}, {"%_", "x", true}, {"%_", "", false},
		{"1%.1", "10.0.0.1", true}, {"1%.1", "10.0.0.2", false},
	} {
		if got := like(tc.p, tc.s); got != tc.want {
			t.Errorf("like(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

// A load that fails (the writer is down) counts for the gap too: failed
// logins do not each wait for another timeout.
func TestRefreshAfterFailedLoadIsRateLimited(t *testing.T) {
	loads := 0
	s := NewStore(func(context.Context) ([]Account, error) { loads++; return nil, errors.New("writer down") }, time.Hour)
	if s.RefreshAfterFailure(context.Background()) || loads != 1 {
		t.Fatalf("first failed login: %d loads", loads)
	}
	if s.RefreshAfterFailure(context.Background()) || loads != 1 {
		t.Fatalf("a failed login right after a failed load loaded again (%d loads)", loads)
	}
}

func FuzzMatchHost(f *testing.F) {
	f.Add("10.0.0.%", "10.0.0.1")
	f.Add("10.0.0.0/255.255.255.0", "10.0.0.9")
	f.Add("fd00::/64", "fd00::1")
	f.Add("localhost", "::1")
	f.Fuzz(func(t *testing.T, pattern, ip string) {
		got := MatchHost(pattern, ip)
		_ = specificity(pattern)
		// A literal pattern matches its own address.
		if pattern == ip && !strings.ContainsAny(pattern, "%_\\/") && !got && net.ParseIP(ip) != nil {
			t.Fatalf("MatchHost(%q, %q) = false", pattern, ip)
		}
	})
}
