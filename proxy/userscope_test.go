package proxy

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fwdproxy/fwdproxy/consistency"
)

// userScopeServer is just enough of a Server for the user scope's sets.
func userScopeServer() *Server {
	srv := &Server{flavor: consistency.MariaDB}
	cfg := Defaults()
	srv.live.Store(&cfg)
	return srv
}

func userSession(srv *Server, user string) *session {
	s := newSession(srv)
	s.user = user
	s.setScope(consistency.ScopeUser)
	return s
}

func commit(t testing.TB, s *session, seq uint64) {
	g, err := consistency.MariaDB.ParseSet(fmt.Sprintf("0-1-%d", seq))
	if err != nil {
		t.Fatal(err)
	}
	s.addOwnGTIDs(g)
}

// The cost of the user scope is one set per user, whatever its number of
// sessions: the set holds the latest GTID per domain, not one per commit
// or per session.
func TestUserScopeOneSetPerUser(t *testing.T) {
	srv := userScopeServer()
	var sessions []*session
	for i := 0; i < 200; i++ {
		sessions = append(sessions, userSession(srv, "app"))
	}
	other := userSession(srv, "batch")
	for i, s := range sessions {
		commit(t, s, uint64(i+1))
	}
	commit(t, other, 1000)

	users := 0
	srv.userSets.Range(func(any, any) bool { users++; return true })
	if users != 2 {
		t.Fatalf("%d user sets for 2 users", users)
	}
	// Every session of app reads what the last one wrote, and only that
	// (batch's GTID was committed through batch's sessions, so it does not
	// reach app's set).
	for _, s := range []*session{sessions[0], sessions[199]} {
		if got := s.sessionTarget().String(); got != "0-1-200" {
			t.Fatalf("app session target %q, want 0-1-200", got)
		}
	}
	if got := other.sessionTarget().String(); got != "0-1-1000" {
		t.Fatalf("batch target %q", got)
	}
	// A connection-scope session waits for its own GTIDs only.
	conn := newSession(srv)
	conn.user = "app"
	if conn.sessionTarget() != nil {
		t.Fatalf("connection scope waits for %v before it wrote", conn.sessionTarget())
	}
}

// BenchmarkUserScopeCommit: a commit into the user's set plus the next
// read's target, with 1 to 256 sessions of one user committing at once.
// ns/op should stay flat as sessions grow: the lock is held for one set
// union, and reads take no lock.
func BenchmarkUserScopeCommit(b *testing.B) {
	for _, n := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			srv := userScopeServer()
			var seq atomic.Uint64
			var wg sync.WaitGroup
			per := b.N/n + 1
			b.ResetTimer()
			for i := 0; i < n; i++ {
				s := userSession(srv, "app")
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := 0; j < per; j++ {
						commit(b, s, seq.Add(1))
						_ = s.sessionTarget()
					}
				}()
			}
			wg.Wait()
		})
	}
}

// BenchmarkUserScopeMemory reports the heap the user scope keeps per user
// (B/user) for 1,000 users with 1 or 20 sessions each, all committing.
// The figure should not depend on the number of sessions.
func BenchmarkUserScopeMemory(b *testing.B) {
	const users = 1000
	for _, per := range []int{1, 20} {
		b.Run(fmt.Sprintf("sessions_per_user=%d", per), func(b *testing.B) {
			var total float64
			for i := 0; i < b.N; i++ {
				srv := userScopeServer()
				sessions := make([]*session, 0, users*per)
				for u := 0; u < users; u++ {
					for k := 0; k < per; k++ {
						sessions = append(sessions, newSession(srv))
						sessions[len(sessions)-1].user = fmt.Sprintf("user%d", u)
					}
				}
				before := heap()
				for j, s := range sessions {
					s.scope = consistency.ScopeUser
					commit(b, s, uint64(j+1))
					s.ownGTIDs = nil // count the user's set, not the session's own copy
				}
				total += float64(heap()-before) / users
				runtime.KeepAlive(sessions)
			}
			b.ReportMetric(total/float64(b.N), "B/user")
		})
	}
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
