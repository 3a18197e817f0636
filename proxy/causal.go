package proxy

import (
	"context"
	"fmt"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/proxy/wire"
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
	return consistency.ParseToken(s.srv.flavor, cluster, tok)
}

// tokenTracked is a writer OK's session-state block with the session's new
// causal token added as a tracked system variable, for a client that
// negotiated session tracking: it learns the token without asking. An OK
// from elsewhere, or one that committed nothing, keeps its block.
func (s *session) tokenTracked(b *backend, state []byte) []byte {
	if b != s.writer || s.clientCaps&capSessionTrack == 0 {
		return state
	}
	g, ok := s.srv.flavor.OwnGTID(state)
	if !ok {
		return state
	}
	set := g
	if s.ownGTIDs != nil {
		set = s.ownGTIDs.Union(g)
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
