package proxy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/proxy/wire"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// Causal tokens: a session reads what it committed through the writer
// (@@fwdproxy_causal_token) and any session, on any proxy in front of the
// same writer, hands it back (SET fwdproxy_read_after) so its reads wait
// for it.

// clusterTimeout bounds asking the writer its identity.
const clusterTimeout = 5 * time.Second

// causalToken is the token of the GTIDs this session committed; "" before
// its first forwarded write, or while the writer cannot say who it is.
func (s *session) causalToken() string {
	s.survive()
	if s.ownGTIDs == nil || s.ownGTIDs.IsEmpty() {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	cluster, err := s.srv.clusterID(ctx)
	if err != nil {
		return ""
	}
	return consistency.EncodeToken(s.srv.flavor, cluster, s.ownGTIDs)
}

// checkToken reads a token the client hands back (route.TokenCheck).
func (s *session) checkToken(tok string) (consistency.Set, error) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	cluster, err := s.srv.clusterID(ctx)
	if err != nil {
		return nil, fmt.Errorf("the writer's identity is unknown (%v)", err)
	}
	set, err := consistency.ParseToken(s.srv.flavor, cluster, tok)
	var other *consistency.OtherClusterError
	if errors.As(err, &other) && s.srv.formerWriter(ctx, other.Token) {
		if set, err = consistency.ParseToken(s.srv.flavor, other.Token, tok); err == nil {
			set = s.survivingToken(set)
		}
	}
	return set, err
}

// tokenTracked is a writer OK's session-state block with the session's new
// causal token added as a tracked system variable, for a client that
// negotiated session tracking and asked to track the token (trackingList):
// it learns the token without asking. An OK
// from elsewhere, or one that committed nothing, keeps its block.
func (s *session) tokenTracked(b *backend, state []byte) []byte {
	if b != s.writer || !s.trackToken || s.clientCaps&capSessionTrack == 0 {
		return state
	}
	g, ok := s.srv.flavor.OwnGTID(state)
	if !ok {
		return state
	}
	set := s.survivingOwn(g)
	if s.ownGTIDs != nil {
		set = s.ownGTIDs.Union(set)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	cluster, err := s.srv.clusterID(ctx)
	if err != nil {
		return state
	}
	entry := appendLenEncString(nil, "fwdproxy_causal_token")
	entry = appendLenEncString(entry, consistency.EncodeToken(s.srv.flavor, cluster, set))
	out := append(append([]byte(nil), state...), wire.TrackSystemVariables)
	out = mysql.AppendLengthEncodedInteger(out, uint64(len(entry)))
	return append(out, entry...)
}

// tokenVar is the name a client puts in session_track_system_variables to
// be told its causal token in every forwarded write's OK.
const tokenVar = "fwdproxy_causal_token"

// trackingList looks at a SET of the session's session_track_system_variables.
// The token is tracked when the list names it or is '*'; otherwise the OK
// packets stay what the server sent. The name is taken out of the list the
// servers see: they refuse a variable they do not know (1193).
// sets: the statement sets the list; out is st, or a copy without the name.
func trackingList(st *sqlclass.Statement) (out *sqlclass.Statement, track, sets bool) {
	out = st
	for i, a := range st.Assignments {
		if a.Scope == sqlclass.ScopeGlobal || a.Name != "session_track_system_variables" {
			continue
		}
		sets, track = true, false
		v := strings.TrimSpace(a.Value)
		if v == "" || (v[0] != '\'' && v[0] != '"') {
			continue // DEFAULT, a variable: the server's list
		}
		names := strings.Split(sqlclass.Unquote(v), ",")
		var keep []string
		for _, name := range names {
			name = strings.TrimSpace(name)
			switch {
			case strings.EqualFold(name, tokenVar):
				track = true
				continue
			case name == "*":
				track = true
			}
			keep = append(keep, name)
		}
		if len(keep) == len(names) {
			continue
		}
		if out == st {
			c := *st
			c.Assignments = append([]sqlclass.Assignment(nil), st.Assignments...)
			out = &c
		}
		a.Value = "'" + strings.ReplaceAll(strings.Join(keep, ","), "'", "''") + "'"
		a.Text = "SESSION session_track_system_variables = " + a.Value
		out.Assignments[i] = a
	}
	return out, track, sets
}
