// Package faults decides when fwdproxy injects one of the failures a
// write-forwarding application meets on Aurora, so that its retry logic can
// be tested before forwarding is turned on (docs/before-forwarding.md). It
// only decides; the proxy produces each failure through its real code path.
// No I/O: the proxy asks at the few places a failure can happen.
package faults

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is one failure.
type Kind uint8

// The kinds, in the order of Names.
const (
	IdleTimeout        Kind = iota // the writer connection closed as by --writer-idle-timeout, mid-transaction
	SessionLimit                   // 1040: the writer connection cap, when a session opens its writer connection
	ReadWaitTimeout                // 3024: a consistency wait that ran out (--read-wait-timeout-action applies)
	ConnectionLost                 // the forwarded connection lost under a statement, mid-transaction
	ForwardingDisabled             // the transaction cancelled as when forwarding is disabled, mid-transaction
	LagSpike                       // reads that wait for consistency wait as if the reader were Lag behind
	NumKinds
)

// Names are the kinds as the admin API and fwdproxy_inject_fault spell them.
var Names = [NumKinds]string{
	"idle_timeout", "session_limit", "read_wait_timeout", "connection_lost", "forwarding_disabled", "lag_spike",
}

func (k Kind) String() string { return Names[k] }

// ParseKind reads a kind's name, case-insensitive.
func ParseKind(s string) (Kind, bool) {
	for k, n := range Names {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return Kind(k), true
		}
	}
	return 0, false
}

// DefaultLag is a lag spike's when none is given.
const DefaultLag = time.Second

// Session is what a session asked for with SET fwdproxy_inject_fault =
// 'kind[,kind]': every chance of those kinds in the session is taken.
// lag_spike takes its lag in milliseconds as lag_spike:N.
type Session struct {
	kinds uint8
	Lag   time.Duration
}

// Has says the session asked for k.
func (s Session) Has(k Kind) bool { return s.kinds&(1<<k) != 0 }

// Empty: the session asked for nothing.
func (s Session) Empty() bool { return s.kinds == 0 }

// ParseSession reads a fwdproxy_inject_fault value; "" asks for nothing.
func ParseSession(v string) (Session, error) {
	var s Session
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, arg, hasArg := strings.Cut(part, ":")
		k, ok := ParseKind(name)
		if !ok {
			return Session{}, fmt.Errorf("unknown fault %q (kinds: %s)", name, strings.Join(Names[:], ", "))
		}
		switch {
		case k == LagSpike && hasArg:
			ms, err := strconv.Atoi(strings.TrimSpace(arg))
			if err != nil || ms <= 0 {
				return Session{}, fmt.Errorf("lag_spike:%s: the lag is a positive number of milliseconds", arg)
			}
			s.Lag = time.Duration(ms) * time.Millisecond
		case k == LagSpike:
			s.Lag = DefaultLag
		case hasArg:
			return Session{}, fmt.Errorf("%s takes no argument", name)
		}
		s.kinds |= 1 << k
	}
	return s, nil
}

// String is the value SELECT @@fwdproxy_inject_fault shows.
func (s Session) String() string {
	var parts []string
	for k := Kind(0); k < NumKinds; k++ {
		switch {
		case !s.Has(k):
		case k == LagSpike:
			parts = append(parts, k.String()+":"+strconv.FormatInt(s.Lag.Milliseconds(), 10))
		default:
			parts = append(parts, k.String())
		}
	}
	return strings.Join(parts, ",")
}

// Rule is one injection turned on through the admin API: kind, for a
// share of chances (Share, 0..1) or every Nth chance (Every), counted per
// statement or per session (Per), optionally only for one user and until
// a time.
type Rule struct {
	Kind  Kind
	Per   Per
	Share float64
	Every int
	User  string
	Lag   time.Duration // lag_spike only
	Until time.Time     // zero: until turned off
}

// Per is what a rule's share counts.
type Per uint8

// Per statement: each chance is chosen on its own. Per session: a session
// is chosen (by the order the rule first sees sessions in) and then every
// chance in it is taken.
const (
	PerStatement Per = iota
	PerSession
)

// Spec is a rule as POST /faults takes it.
type Spec struct {
	Kind     string  `json:"kind"`
	Per      string  `json:"per,omitempty"` // "statement" (default) or "session"
	Share    float64 `json:"share,omitempty"`
	Every    int     `json:"every,omitempty"`
	User     string  `json:"user,omitempty"`
	LagMS    int     `json:"lag_ms,omitempty"`
	Duration string  `json:"duration,omitempty"` // a Go duration: "30s", "5m"
}

// Rule checks a spec; now starts its duration.
func (p Spec) Rule(now time.Time) (Rule, error) {
	k, ok := ParseKind(p.Kind)
	if !ok {
		return Rule{}, fmt.Errorf("unknown kind %q (kinds: %s)", p.Kind, strings.Join(Names[:], ", "))
	}
	r := Rule{Kind: k, Share: p.Share, Every: p.Every, User: p.User}
	switch strings.ToLower(p.Per) {
	case "", "statement":
	case "session":
		r.Per = PerSession
	default:
		return Rule{}, fmt.Errorf("per is \"statement\" or \"session\", not %q", p.Per)
	}
	switch {
	case p.Every < 0:
		return Rule{}, fmt.Errorf("every must be 1 or more")
	case p.Every > 0 && p.Share != 0:
		return Rule{}, fmt.Errorf("give share or every, not both")
	case p.Share < 0 || p.Share > 1:
		return Rule{}, fmt.Errorf("share is a fraction from 0 to 1, not %v", p.Share)
	}
	switch {
	case p.LagMS < 0 || p.LagMS > 0 && k != LagSpike:
		return Rule{}, fmt.Errorf("lag_ms is a positive number of milliseconds, for lag_spike only")
	case k == LagSpike && p.LagMS == 0:
		r.Lag = DefaultLag
	default:
		r.Lag = time.Duration(p.LagMS) * time.Millisecond
	}
	if p.Duration != "" {
		d, err := time.ParseDuration(p.Duration)
		if err != nil || d <= 0 {
			return Rule{}, fmt.Errorf("duration %q: a positive Go duration such as \"30s\"", p.Duration)
		}
		r.Until = now.Add(d)
	}
	return r, nil
}

// chosen says the nth chance (from 1) is taken: every Nth, or so that
// after n chances floor(n × share) were taken (share 1: all, 0: none).
func (r *Rule) chosen(n uint64) bool {
	if r.Every > 0 {
		return n%uint64(r.Every) == 0
	}
	return uint64(float64(n)*r.Share) > uint64(float64(n-1)*r.Share)
}

// Status is one active rule as GET /faults shows it.
type Status struct {
	ID       int       `json:"id"`
	Kind     string    `json:"kind"`
	Per      string    `json:"per"`
	Share    float64   `json:"share,omitempty"`
	Every    int       `json:"every,omitempty"`
	User     string    `json:"user,omitempty"`
	LagMS    int64     `json:"lag_ms,omitempty"`
	Until    time.Time `json:"until,omitzero"`
	Chances  uint64    `json:"chances"`  // statements (or sessions) the rule was asked about
	Injected uint64    `json:"injected"` // failures it injected
}

type active struct {
	id int
	Rule
	chances, injected uint64
	sessions          map[uint32]bool // PerSession: whether each session seen is chosen (kept while the rule is on)
}

// Set is the rules turned on through the admin API. Its zero value has
// none; a proxy with none pays one atomic load per chance.
type Set struct {
	any   atomic.Bool
	mu    sync.Mutex
	rules []*active
	next  int
}

// Add turns r on and returns its id.
func (s *Set) Add(r Rule) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	a := &active{id: s.next, Rule: r}
	if r.Per == PerSession {
		a.sessions = map[uint32]bool{}
	}
	s.rules = append(s.rules, a)
	s.any.Store(true)
	return a.id
}

// Remove turns rule id off; false when there is none.
func (s *Set) Remove(id int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, a := range s.rules {
		if a.id == id {
			s.rules = append(s.rules[:i], s.rules[i+1:]...)
			s.any.Store(len(s.rules) > 0)
			return true
		}
	}
	return false
}

// Clear turns every rule off and returns how many there were.
func (s *Set) Clear() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.rules)
	s.rules = nil
	s.any.Store(false)
	return n
}

// List shows the rules still active at now.
func (s *Set) List(now time.Time) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	out := make([]Status, 0, len(s.rules))
	for _, a := range s.rules {
		per := "statement"
		if a.Per == PerSession {
			per = "session"
		}
		out = append(out, Status{ID: a.id, Kind: a.Kind.String(), Per: per, Share: a.Share, Every: a.Every,
			User: a.User, LagMS: a.Lag.Milliseconds(), Until: a.Until, Chances: a.chances, Injected: a.injected})
	}
	return out
}

// Decide is asked at one chance of kind k, in session id of user: whether
// to inject, and for a lag spike the lag. The first active rule of kind k
// that chooses this chance decides.
func (s *Set) Decide(k Kind, session uint32, user string, now time.Time) (bool, time.Duration) {
	if !s.any.Load() {
		return false, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	for _, a := range s.rules {
		if a.Kind != k || a.User != "" && a.User != user {
			continue
		}
		var take bool
		if a.Per == PerSession {
			chosen, seen := a.sessions[session]
			if !seen {
				a.chances++
				chosen = a.chosen(a.chances)
				a.sessions[session] = chosen
			}
			take = chosen
		} else {
			a.chances++
			take = a.chosen(a.chances)
		}
		if take {
			a.injected++
			return true, a.Lag
		}
	}
	return false, 0
}

// expire drops the rules whose duration ended.
func (s *Set) expire(now time.Time) {
	kept := s.rules[:0]
	for _, a := range s.rules {
		if a.Until.IsZero() || now.Before(a.Until) {
			kept = append(kept, a)
		}
	}
	clear(s.rules[len(kept):])
	s.rules = kept
	s.any.Store(len(kept) > 0)
}
