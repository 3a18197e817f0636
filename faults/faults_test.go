package faults

import (
	"strings"
	"testing"
	"time"
)

func TestParseSession(t *testing.T) {
	for _, c := range []struct {
		in, want, err string
		lag           time.Duration
	}{
		{in: "", want: ""},
		{in: " , ", want: ""},
		{in: "idle_timeout", want: "idle_timeout"},
		{in: "Read_Wait_Timeout, session_limit", want: "session_limit,read_wait_timeout"},
		{in: "lag_spike", want: "lag_spike:1000", lag: time.Second},
		{in: "lag_spike:250,connection_lost", want: "connection_lost,lag_spike:250", lag: 250 * time.Millisecond},
		{in: "forwarding_disabled", want: "forwarding_disabled"},
		{in: "lag_spike:0", err: "positive"},
		{in: "lag_spike:x", err: "positive"},
		{in: "idle_timeout:5", err: "no argument"},
		{in: "boom", err: "unknown fault"},
	} {
		s, err := ParseSession(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseSession(%q) error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || s.String() != c.want || s.Lag != c.lag {
			t.Errorf("ParseSession(%q) = %q lag %v, %v; want %q lag %v", c.in, s.String(), s.Lag, err, c.want, c.lag)
		}
		if s.Empty() != (c.want == "") {
			t.Errorf("ParseSession(%q).Empty() = %v", c.in, s.Empty())
		}
	}
}

func TestSpecRule(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, c := range []struct {
		name string
		spec Spec
		want Rule
		err  string
	}{
		{"share", Spec{Kind: "session_limit", Share: 0.5}, Rule{Kind: SessionLimit, Share: 0.5}, ""},
		{"every per session", Spec{Kind: "idle_timeout", Every: 3, Per: "session", User: "app"},
			Rule{Kind: IdleTimeout, Every: 3, Per: PerSession, User: "app"}, ""},
		{"lag default", Spec{Kind: "lag_spike", Share: 1}, Rule{Kind: LagSpike, Share: 1, Lag: DefaultLag}, ""},
		{"lag", Spec{Kind: "lag_spike", Share: 1, LagMS: 300}, Rule{Kind: LagSpike, Share: 1, Lag: 300 * time.Millisecond}, ""},
		{"duration", Spec{Kind: "read_wait_timeout", Share: 1, Duration: "30s"},
			Rule{Kind: ReadWaitTimeout, Share: 1, Until: now.Add(30 * time.Second)}, ""},
		{"unknown kind", Spec{Kind: "x"}, Rule{}, "unknown kind"},
		{"bad per", Spec{Kind: "idle_timeout", Per: "user"}, Rule{}, "per is"},
		{"share and every", Spec{Kind: "idle_timeout", Share: 0.5, Every: 2}, Rule{}, "not both"},
		{"share above 1", Spec{Kind: "idle_timeout", Share: 1.5}, Rule{}, "fraction"},
		{"negative every", Spec{Kind: "idle_timeout", Every: -1}, Rule{}, "every"},
		{"lag on another kind", Spec{Kind: "idle_timeout", LagMS: 5}, Rule{}, "lag_spike only"},
		{"bad duration", Spec{Kind: "idle_timeout", Duration: "-1s"}, Rule{}, "duration"},
	} {
		r, err := c.spec.Rule(now)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || r != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.name, r, err, c.want)
		}
	}
}

// TestDecide: which of ten chances a rule takes.
func TestDecide(t *testing.T) {
	now := time.Unix(1000, 0)
	type chance struct {
		kind    Kind
		session uint32
		user    string
	}
	same := func(k Kind) []chance {
		var cs []chance
		for range 10 {
			cs = append(cs, chance{k, 1, "app"})
		}
		return cs
	}
	for _, c := range []struct {
		name    string
		rules   []Rule
		chances []chance
		want    string // x: injected, .: not
	}{
		{"none", nil, same(IdleTimeout), ".........."},
		{"share 1", []Rule{{Kind: IdleTimeout, Share: 1}}, same(IdleTimeout), "xxxxxxxxxx"},
		{"share 0", []Rule{{Kind: IdleTimeout, Share: 0}}, same(IdleTimeout), ".........."},
		{"share half", []Rule{{Kind: IdleTimeout, Share: 0.5}}, same(IdleTimeout), ".x.x.x.x.x"},
		{"share 0.3", []Rule{{Kind: IdleTimeout, Share: 0.3}}, same(IdleTimeout), "...x..x..x"},
		{"every 4th", []Rule{{Kind: IdleTimeout, Every: 4}}, same(IdleTimeout), "...x...x.."},
		{"other kind", []Rule{{Kind: SessionLimit, Share: 1}}, same(IdleTimeout), ".........."},
		{"other user", []Rule{{Kind: IdleTimeout, Share: 1, User: "batch"}}, same(IdleTimeout), ".........."},
		{"this user", []Rule{{Kind: IdleTimeout, Share: 1, User: "app"}}, same(IdleTimeout), "xxxxxxxxxx"},
		{"expired", []Rule{{Kind: IdleTimeout, Share: 1, Until: now}}, same(IdleTimeout), ".........."},
		{"not yet expired", []Rule{{Kind: IdleTimeout, Share: 1, Until: now.Add(time.Second)}}, same(IdleTimeout), "xxxxxxxxxx"},
		{"per session, half", []Rule{{Kind: ReadWaitTimeout, Share: 0.5, Per: PerSession}},
			[]chance{{ReadWaitTimeout, 1, ""}, {ReadWaitTimeout, 2, ""}, {ReadWaitTimeout, 1, ""}, {ReadWaitTimeout, 2, ""},
				{ReadWaitTimeout, 3, ""}, {ReadWaitTimeout, 4, ""}, {ReadWaitTimeout, 4, ""}, {ReadWaitTimeout, 3, ""}},
			".x.x.xx."},
		{"second rule decides when the first passes", []Rule{{Kind: LagSpike, Every: 2}, {Kind: LagSpike, Share: 1}},
			same(LagSpike), "xxxxxxxxxx"},
	} {
		var s Set
		for _, r := range c.rules {
			s.Add(r)
		}
		var got strings.Builder
		for _, ch := range c.chances {
			if ok, _ := s.Decide(ch.kind, ch.session, ch.user, now); ok {
				got.WriteByte('x')
			} else {
				got.WriteByte('.')
			}
		}
		if got.String() != c.want {
			t.Errorf("%s: %s, want %s", c.name, got.String(), c.want)
		}
	}
}

// TestOffMeansOff: after Remove and Clear no chance is taken, and the list
// shows what each rule did.
func TestOffMeansOff(t *testing.T) {
	now := time.Unix(1000, 0)
	var s Set
	a := s.Add(Rule{Kind: LagSpike, Share: 1, Lag: 5 * time.Millisecond})
	b := s.Add(Rule{Kind: SessionLimit, Every: 2})
	if ok, lag := s.Decide(LagSpike, 1, "", now); !ok || lag != 5*time.Millisecond {
		t.Fatalf("lag spike: %v %v", ok, lag)
	}
	s.Decide(SessionLimit, 1, "", now)
	s.Decide(SessionLimit, 1, "", now)
	l := s.List(now)
	if len(l) != 2 || l[0].ID != a || l[0].Injected != 1 || l[1].ID != b || l[1].Chances != 2 || l[1].Injected != 1 {
		t.Fatalf("list %+v", l)
	}
	if !s.Remove(a) || s.Remove(a) {
		t.Fatal("Remove")
	}
	if ok, _ := s.Decide(LagSpike, 1, "", now); ok {
		t.Fatal("a removed rule injected")
	}
	if s.Clear() != 1 {
		t.Fatal("Clear")
	}
	for k := Kind(0); k < NumKinds; k++ {
		if ok, _ := s.Decide(k, 1, "", now); ok {
			t.Fatalf("%s injected after Clear", k)
		}
	}
	if len(s.List(now)) != 0 {
		t.Fatal("rules left after Clear")
	}
}
