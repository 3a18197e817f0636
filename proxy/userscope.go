package proxy

import "github.com/fwdproxy/fwdproxy/consistency"

// The user scope of SESSION (fwdproxy_session_scope = user): a session at
// that scope adds the GTIDs it commits to one set per user, which the
// server keeps, and its SESSION reads wait for that set. The set outlives
// sessions, COM_RESET_CONNECTION and COM_CHANGE_USER, so the next request
// on any pooled connection of the user reads what the last one wrote.
// A session at connection scope neither adds to it nor waits for it.

// userGTIDs is user's set: one per user however many sessions it has, and
// reading it is one atomic load (consistency.Applied: a set that only grows).
func (s *Server) userGTIDs(user string) *consistency.Applied {
	if a, ok := s.userSets.Load(user); ok {
		return a.(*consistency.Applied)
	}
	a, _ := s.userSets.LoadOrStore(user, consistency.NewApplied(s.flavor))
	return a.(*consistency.Applied)
}

// setScope changes the session's scope. A session that joins the user
// scope brings the GTIDs it committed before, so it still reads them.
func (s *session) setScope(sc consistency.Scope) {
	s.scope = sc
	s.survive()
	if sc == consistency.ScopeUser && s.ownGTIDs != nil {
		s.srv.userGTIDs(s.user).Advance(s.ownGTIDs)
	}
}

// defaultScope is --session-scope, which a session starts with and a
// reset returns to.
func (s *session) defaultScope() consistency.Scope {
	sc, _ := consistency.ParseScope(s.srv.conf().SessionScope)
	return sc
}

// sessionTarget is what a read at SESSION waits for.
func (s *session) sessionTarget() consistency.Set {
	if s.scope == consistency.ScopeUser {
		return s.srv.userGTIDs(s.user).Get()
	}
	return s.ownGTIDs
}
