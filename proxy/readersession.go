package proxy

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/readers"
	"github.com/fwdproxy/fwdproxy/route"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// endpoint is a session's place in a reader endpoint of several readers:
// which reader its one reader connection is on, and its monotonic floor.
// The session keeps a single reader connection and moves it between
// readers when it is free to move, replaying its state on the new one.
type endpoint struct {
	node  int       // index of the reader s.reader is connected to
	since time.Time // when the session joined it
	// floor is at least every position the session has read at, set when
	// it leaves a reader; a reader below it serves the session only after
	// waiting for it.
	floor consistency.Set
	// userLock: the session took a user lock (GET_LOCK), which lives on its
	// reader connection; it stays there.
	userLock bool
	// userVars names every user variable the session's statements used:
	// their values live on the reader and are copied to the next one.
	userVars []string
}

// noteUserVars remembers the user variables a statement uses.
func (e *endpoint) noteUserVars(names []string) {
	for _, n := range names {
		if !slices.Contains(e.userVars, n) {
			e.userVars = append(e.userVars, n)
		}
	}
}

// readerApplied is what the session's reader is known to have applied.
func (s *session) readerApplied() *consistency.Applied {
	if rs := s.srv.readers; rs != nil {
		return rs.node(s.ep.node).applied
	}
	return s.srv.applied
}

// pinned says the session's reader holds state that cannot move: an open
// transaction, temporary tables, a user lock, an open cursor.
func (s *session) pinned() bool {
	return s.inTransaction() || (s.reader != nil && s.reader.inTrans()) || len(s.state.Temp) > 0 || s.ep.userLock || s.cursorOpen()
}

// cursorOpen: a prepared statement's cursor waits on the reader for
// COM_STMT_FETCH (until its last row was fetched, or the statement is
// executed again, reset or closed).
func (s *session) cursorOpen() bool {
	for _, p := range s.stmts {
		if p.cursor {
			return true
		}
	}
	return false
}

// placeRead chooses the reader for a read that must see target (nil:
// nothing) and moves the session there. It returns the target the read
// must wait for on that reader (target and, after a move, the floor), or
// fallback for the writer / an error by the no-reader policy.
func (s *session) placeRead(target consistency.Set) (consistency.Set, bool, *sqlError) {
	rs := s.srv.readers
	view := rs.view()
	need := readers.Need{Current: s.ep.node, Pinned: s.pinned(), Target: target, Floor: view[s.ep.node].Applied,
		Settled: time.Since(s.ep.since) >= settleFor}
	ch := readers.Pick(view, need)
	if ch.Reader < 0 {
		if s.srv.conf().NoReaderPolicy != "wait" || s.reader == nil {
			return s.noReader()
		}
		ch.Reader = s.ep.node // wait: on the reader the session has
	}
	if ch.Reader != s.ep.node || s.reader == nil {
		if err := s.moveReader(ch.Reader, false); err != nil {
			s.srv.log.Debug("reader move failed; staying", zap.String("to", rs.node(ch.Reader).addr), zap.Error(err))
		}
	}
	if s.reader == nil && !s.reattachReader() {
		return s.noReader()
	}
	n := rs.node(s.ep.node)
	if s.ep.floor != nil && !n.applied.Covers(s.ep.floor) {
		if target == nil {
			return s.ep.floor, false, nil
		}
		return target.Union(s.ep.floor), false, nil
	}
	return target, false, nil
}

// settleFor is how long a session stays on a reader before it may move
// only to even out the sessions: a move costs a connection and the replay
// of the session's state.
const settleFor = 200 * time.Millisecond

// readerBusy counts a read running on the session's reader until done is
// called: outstanding work that Pick places sessions by.
func (s *session) readerBusy() (done func()) {
	rs := s.srv.readers
	if rs == nil || s.reader == nil {
		return func() {}
	}
	n := rs.node(s.ep.node)
	n.running.Add(1)
	return func() { n.running.Add(-1) }
}

// noReader answers a read no reader can serve by --no-reader-policy:
// the writer serves it, or it fails at once with 3024 (so does "wait"
// when the session has no reader connection to wait on).
func (s *session) noReader() (consistency.Set, bool, *sqlError) {
	if s.srv.conf().NoReaderPolicy == "writer" {
		return nil, true, nil
	}
	return nil, false, errNoReader()
}

// waitPlaced waits on the session's reader in short slices and places the
// read again between them, so that a reader whose replication stops (or
// that falls past the lag bound) while reads wait on it loses them to a
// healthy one instead of each paying the whole wait timeout.
func (s *session) waitPlaced(target, need consistency.Set, deadline time.Time) (done, fallback bool, e *sqlError) {
	for {
		slice := time.Now().Add(waitSlice)
		if deadline.Before(slice) {
			slice = deadline
		}
		done, e = s.waitApplied(target, slice)
		if done || e != nil || !time.Now().Before(deadline) {
			return done, false, e
		}
		if target, fallback, e = s.placeRead(need); fallback || e != nil {
			return false, fallback, e
		}
		if target == nil || s.readerApplied().Covers(target) {
			return true, false, nil
		}
	}
}

// waitSlice is how long a wait runs before the read is placed again.
const waitSlice = 250 * time.Millisecond

// moveReader moves the session's reader connection to reader to. The new
// connection gets the session's database (at dial), the read-only guard,
// the session variables the client set, and its prepared statements are
// prepared again under the same client ids when next used. lost: the old
// connection is gone, so the floor becomes the writer's position (every
// read on the lost reader saw at most that).
func (s *session) moveReader(to int, lost bool) error {
	rs := s.srv.readers
	from := -1
	if s.reader != nil {
		from = s.ep.node
	}
	defer rs.reserve(to, from)()
	floor, err := s.readerPosition(lost)
	if err != nil {
		return err
	}
	nb, err := s.dialReader(rs.node(to).addr)
	if err != nil {
		rs.node(to).healthy.Store(false)
		return err
	}
	for _, v := range s.writerVars {
		if _, err := nb.exec("SET " + v); err != nil {
			s.srv.log.Debug("session variable not replayed on the new reader", zap.String("set", v), zap.Error(err))
		}
	}
	if !lost && s.reader != nil && len(s.ep.userVars) > 0 {
		// Without its user variables the session stays where it is.
		if e := s.copyUserVars(s.reader, nb, s.ep.userVars); e != nil {
			nb.close()
			return e
		}
	}
	if lost {
		s.ep.userVars = nil // gone with the reader: the statement that saw it was told
	}
	s.detachReader()
	s.attachReader(nb, to)
	if s.ep.floor != nil && floor != nil {
		floor = floor.Union(s.ep.floor)
	}
	s.ep.floor = floor
	rs.node(to).moves.Add(1)
	return nil
}

// readerPosition bounds what the session read on its reader: the
// reader's applied position, or the writer's when the reader is lost or
// does not answer (every read there saw at most that).
func (s *session) readerPosition(lost bool) (consistency.Set, error) {
	if !lost && s.reader != nil {
		if res, err := s.reader.exec(s.srv.flavor.ReaderPositionSQL()); err == nil {
			if v, ok := res.value(); ok {
				if pos, err := s.srv.flavor.ParseSet(v.s); err == nil {
					return pos, nil
				}
			}
		} else if _, ok := err.(*sqlError); ok {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.conf().ReadWaitTimeout)
	defer cancel()
	return s.srv.writerPos.Get(ctx)
}

// attachReader makes b, a connection to reader node, the session's reader.
func (s *session) attachReader(b *backend, node int) {
	s.reader = b
	addr := s.srv.conf().Reader
	if rs := s.srv.readers; rs != nil {
		s.ep.node, s.ep.since = node, time.Now()
		rs.node(node).sessions.Add(1)
		addr = rs.node(node).addr
	}
	s.setReader(addr, b.connID)
	s.life.attachReader(b.conn.NetConn())
}

// detachReader closes the session's reader connection, if any.
func (s *session) detachReader() {
	if s.reader == nil {
		return
	}
	s.reader.close()
	s.reader = nil
	s.setReader("", s.readerThread.Load())
	if rs := s.srv.readers; rs != nil {
		rs.node(s.ep.node).sessions.Add(-1)
	}
	// Prepared statements are prepared again, under the same client ids,
	// on the next reader when next used.
	for _, p := range s.stmts {
		p.readerID, p.boundR, p.cursor = 0, false, false
	}
	for k, tp := range s.textStmts {
		tp.onReader = false
		s.textStmts[k] = tp
	}
}

// openEndpointReader connects a new session to the reader Pick places it
// on, or to any other that answers: a login succeeds while any reader is up.
func (s *session) openEndpointReader() error {
	var err error
	for _, i := range s.readerOrder(false) {
		var b *backend
		done := s.srv.readers.reserve(i, -1)
		if b, err = s.dialReader(s.srv.readers.node(i).addr); err == nil {
			s.attachReader(b, i)
		}
		done()
		if err == nil {
			return nil
		}
		if _, ok := err.(*sqlError); ok {
			return err // the server refused this user or database: every reader would
		}
	}
	// No reader answers: the session starts without one, forwarded writes
	// work, and its reads follow --no-reader-policy until one comes back.
	s.srv.log.Info("session without a reader", zap.Uint32("session", s.id), zap.Error(err))
	return nil
}

// readerOrder is the order to try readers in: the one Pick places a new
// session on, then every other; answering: only those the monitor
// reaches (a session without a reader tries them at each statement).
func (s *session) readerOrder(answering bool) []int {
	rs := s.srv.readers
	first := readers.Pick(rs.view(), readers.Need{Current: -1}).Reader
	order := []int{}
	if first >= 0 {
		order = append(order, first)
	}
	for i, n := range rs.all() {
		if i != first && !n.removed.Load() && (!answering || n.state.Load().(string) != "down") {
			order = append(order, i)
		}
	}
	return order
}

// reattachReader connects a session that has no reader connection to
// one, as a move after a loss. It reports whether one answered.
func (s *session) reattachReader() bool {
	for _, i := range s.readerOrder(true) {
		if s.moveReader(i, true) == nil {
			return true
		}
	}
	return false
}

// needsReader says d cannot run while the session has no reader
// connection: anything but a rejection, a SET of the proxy's own
// variables and a forwarded statement that carries no user variables
// (they live on the reader).
func needsReader(d route.Decision, x *job) bool {
	switch d.Target {
	case route.Reject:
		return false
	case route.Writer, route.WriterAside:
		return d.Handler == route.Set || len(x.st.UserVars) > 0
	case route.Proxy:
		if d.Handler == route.Set { // the proxy's own variables need none
			for _, a := range x.st.Assignments {
				if !route.OwnsAssignment(a) {
					return true
				}
			}
			return false
		}
	}
	return true
}

// withoutReader runs x, which needs a reader, while none answers: a read
// follows --no-reader-policy, anything else fails at once with 3024.
func (s *session) withoutReader(d route.Decision, x *job) (bool, error) {
	if d.Target == route.Reader && x.st.Class == sqlclass.Read {
		if _, fallback, e := s.noReader(); !fallback {
			return s.fail(e, x.more)
		}
		start := time.Now()
		failed, err := s.forward(x)
		s.srv.Metrics.ReadServedByWriter(time.Since(start))
		return failed, err
	}
	return s.fail(errNoReader(), x.more)
}

// readerLost handles the loss of the session's reader connection with
// several readers: the session moves to another reader. It reports
// whether it did; the caller answers the statement that saw the loss.
func (s *session) readerLost() bool {
	rs := s.srv.readers
	lostNode := s.ep.node
	rs.node(lostNode).healthy.Store(false)
	s.ep.userLock = false // user locks die with their connection
	s.detachReader()
	view := rs.view()
	view[lostNode].Healthy = false
	for tries := 0; tries < len(rs.all()); tries++ {
		ch := readers.Pick(view, readers.Need{Current: -1})
		to := ch.Reader
		if to < 0 {
			for i := range rs.all() { // none known healthy: try the others anyway
				if i != lostNode && view[i].Sessions >= 0 && !rs.node(i).removed.Load() {
					to = i
					break
				}
			}
		}
		if to < 0 {
			return false
		}
		if err := s.moveReader(to, true); err == nil {
			return true
		}
		view[to].Healthy = false
		view[to].Sessions = -1 // tried
	}
	return false
}

// readerGone handles the loss of the session's reader with several
// readers. moved: the session is on another reader now (else it has none
// until one answers again); e is the error for the statement that saw
// the loss: the terminated error when a
// transaction or temporary tables lived on the lost reader (a forwarded
// transaction's writer half rolls back with it), else the lost-connection
// error.
func (s *session) readerGone() (e *sqlError, moved bool) {
	held := s.pinned()
	moved = s.readerLost()
	if held {
		if s.state.TxWriter {
			s.dropWriter()
		}
		s.state = route.Session{DB: s.state.DB, AutocommitOff: s.state.AutocommitOff}
		return errTerminated(), moved
	}
	return errLostReader(), moved
}

func errLostReader() *sqlError {
	return errLostConnection("reader", "")
}

// errReadAgain asks execute to run a read again: its reader was lost
// before any of its answer reached the client, and the session moved.
var errReadAgain = errors.New("read again on another reader")

// readerFailed answers x, whose reader connection failed before any of
// its answer reached the client. An autocommit read that holds nothing on
// the reader runs once more on another reader (errReadAgain), so the
// client sees no error, or by the no-reader policy when none answers;
// anything else gets readerGone's error.
func (s *session) readerFailed(x *job, err error) (bool, error) {
	if s.srv.readers == nil || !s.retryable(x) {
		return true, s.backendFailed(s.reader, err)
	}
	s.readerGone() // moved or not: the read runs again, or by the no-reader policy
	x.retried = true
	s.srv.log.Debug("read retried on another reader", zap.Uint32("session", s.id), zap.Error(err))
	return true, errReadAgain
}

// retryable: x may run again on another reader, having had no effect the
// client could see: a plain read, run once, by a session its reader holds
// nothing for (user variables die with it too, and the client must hear
// of it). A user lock function is not run twice.
func (s *session) retryable(x *job) bool {
	return !x.retried && x.st.Class == sqlclass.Read && s.mayMoveQuietly() &&
		!containsFoldASCII(x.payload, "_lock") && !containsFoldASCII(x.payload, "release_all_locks")
}

// noteUserLock remembers a GET_LOCK run on the reader: the lock lives on
// that connection, so the session stays on it.
func (s *session) noteUserLock(payload []byte) {
	if s.srv.readers != nil && !s.ep.userLock && len(payload) > 0 && payload[0] == comQuery && containsFoldASCII(payload[1:], "get_lock") {
		s.ep.userLock = true
	}
}

func containsFoldASCII(s []byte, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		match := true
		for j := 0; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
