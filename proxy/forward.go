package proxy

import (
	"context"
	"net"
	"time"

	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/faults"
	"github.com/fwdproxy/fwdproxy/proxy/wire"
	"github.com/fwdproxy/fwdproxy/route"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

var beginPacket = append([]byte{comQuery}, "START TRANSACTION"...)

// writerFailed turns a failure of the writer connection under a round trip
// into the client's error, which says only what is certain. A round trip
// that could commit (mayCommit) may have: nothing more can be said. Any
// other leaves an open transaction rolled back by the writer when it lost
// the connection, and outside one it did not run.
func (s *session) writerFailed(err error, mayCommit bool) *sqlError {
	timedOut := s.life.reason.Load() == killTimeout
	s.srv.log.Warn("forwarding error", zap.Uint32("session", s.id), zap.Bool("in_transaction", s.state.TxWriter),
		zap.Bool("may_commit", mayCommit), zap.Bool("forward_timeout", timedOut), zap.Error(err))
	s.writerBroke(mayCommit)
	s.writerLost()
	switch {
	case mayCommit:
		if s.state.Terminated {
			s.takeTerminated() // told now, by this error
		}
		return errMayHaveCommitted()
	case s.state.Terminated && timedOut:
		s.takeTerminated()
		return errTimeoutRolledBack(s.srv.conf().ForwardTimeout)
	case s.state.Terminated:
		return s.takeTerminated()
	case timedOut:
		return errTimeoutNotRun(s.srv.conf().ForwardTimeout)
	}
	return errUnsent
}

// errUnsent: the writer connection failed under the proxy's own work
// before the client's statement went (a SET or USE it replays, a prepare),
// outside a transaction. Nothing of the statement ran, so forward sends it
// once more on a fresh connection, which goes to the new writer if the
// writer moved; a client only sees it when that fails too.
var errUnsent = errWriterUnreachable()

// The errors of a round trip the writer did not finish (docs/operations.md).
func errMayHaveCommitted() *sqlError {
	return errLostConnection("writer", "; the statement may have committed")
}

func errTimeoutRolledBack(d time.Duration) *sqlError {
	return &sqlError{1105, "HY000", "Forwarded connection on Writer terminated; try restarting transaction (no answer within --forward-timeout " +
		d.String() + ": the writer rolls the transaction back)"}
}

func errTimeoutNotRun(d time.Duration) *sqlError {
	return &sqlError{1105, "HY000", "Failed to send write forwarding request to writer (no answer within --forward-timeout " +
		d.String() + "; the statement did not run)"}
}

// mayCommit: st, about to be forwarded, could end in a commit on the
// writer: it runs outside a transaction there, commits one implicitly, or
// is of a kind that may (CALL, what the classifier could not place).
// Inside a transaction a read or DML statement cannot: losing the
// connection rolls it back with the transaction.
func (s *session) mayCommit(st *sqlclass.Statement) bool {
	if !s.state.TxWriter || st.ImplicitCommit {
		return true
	}
	switch st.Class {
	case sqlclass.Read, sqlclass.LockingRead, sqlclass.Write, sqlclass.LoadData, sqlclass.Savepoint:
		return false
	}
	return true
}

// watchWriter bounds the round trip about to start on the writer by
// --forward-timeout (writerLife.watch).
func (s *session) watchWriter(mayCommit bool) {
	if d := s.srv.conf().ForwardTimeout; d > 0 && s.writer != nil {
		s.life.watch(d, mayCommit)
	}
}

// unwatchWriter ends the watch. A KILL QUERY that went out must have run on
// the writer before the connection carries another statement, which it
// could interrupt: without its answer within the grace, the connection is
// closed (the session drops it before its next use, alive).
func (s *session) unwatchWriter() {
	if s.srv.conf().ForwardTimeout == 0 {
		return
	}
	ack, grace := s.life.unwatch()
	if ack == nil || s.life.reason.Load() != 0 {
		return // not timed out, or the connection is closed already
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case ok := <-ack:
		if ok {
			return
		}
	case <-t.C:
	}
	s.life.kill(killUnacked)
}

// forwardTimedOut runs on the timer's goroutine when a round trip on the
// writer passes --forward-timeout: it counts it and sends the KILL.
func (s *session) forwardTimedOut(p dialParams, thread uint32, mayCommit bool) <-chan bool {
	s.srv.Metrics.ReplicaErrorRPCTimeout()
	s.srv.Metrics.WriterErrorRPCTimeout()
	msg := "forwarded statement past --forward-timeout: KILL QUERY sent; the connection closes if the writer does not answer"
	if mayCommit {
		msg = "forwarded statement past --forward-timeout: KILL QUERY sent; it may commit, so the client waits for the writer's answer"
	}
	s.srv.log.Warn(msg, zap.Uint32("session", s.id), zap.Uint32("writer_thread", thread))
	return s.srv.control.kill(p, thread)
}

// prepareWriter makes the writer ready for a forwarded statement. It returns
// the error for the client when it cannot.
func (s *session) prepareWriter(st *sqlclass.Statement) *sqlError {
	// The writer may have closed the connection since its last use (restart,
	// wait_timeout): find out before sending into it, so a statement outside
	// a transaction goes to a fresh connection instead of failing.
	if s.writer != nil && (!s.writer.alive() || s.writerMovedAway()) {
		s.writerLost()
		if s.state.Terminated {
			return s.takeTerminated()
		}
	}
	if s.writer == nil {
		if e := s.openWriter(); e != nil {
			return e
		}
	}
	s.injectLost(st)
	if e := s.syncWriter(st); e != nil {
		return e
	}
	// autocommit=0 works as one long transaction: the writer gets an
	// explicit one, since its own session stays autocommit=1.
	if (s.inTransaction() || !s.state.Autocommit()) && !s.state.TxWriter {
		// Sent together with the statement (backend.send): one round trip.
		s.writer.ahead = beginPacket
		s.state.Apply(route.WriterBegin, route.Fact{})
		if s.state.Isolation != "" && s.state.Isolation != "REPEATABLE READ" {
			s.warnIsolation()
		}
	} else if !s.state.TxWriter && s.state.Isolation != "" && s.state.Isolation != "REPEATABLE READ" {
		s.warnIsolation()
	}
	return nil
}

func (s *session) warnIsolation() {
	s.srv.Metrics.IsolationWarning()
	s.lastWarn = append(s.lastWarn[:0], warning{"Warning", 1105,
		"Forwarded statement runs at REPEATABLE READ on the writer; the session's isolation level applies to reads on the reader only"})
}

// openWriter connects the writer within the connection cap: past it the
// client gets 1040 and the statement does not run.
func (s *session) openWriter() *sqlError {
	if !s.writerSlot {
		if inject, _ := s.injects(faults.SessionLimit); inject {
			return s.sessionLimit()
		}
		for {
			n := s.srv.writerSessions.Load()
			if n >= s.srv.writerLimit.Load() {
				return s.sessionLimit()
			}
			if s.srv.writerSessions.CompareAndSwap(n, n+1) {
				break
			}
		}
		s.writerSlot = true
		s.srv.Metrics.ReplicaSessionOpened()
		s.srv.Metrics.WriterSessionOpened()
	}
	w, err := s.dialWriter(dialParams{
		user: s.user, password: s.password, stage1: s.stage1, db: s.state.DB,
		caps: s.clientCaps, ext: s.clientExt & extBackend, sessionTrack: true, collation: s.collation,
		tls: s.srv.conf().BackendTLS,
	})
	if err != nil {
		s.releaseWriterSlot()
		if se, ok := asSQLError(err); ok {
			return se
		}
		s.srv.log.Warn("writer connect failed", zap.Uint32("session", s.id), zap.Error(err))
		return errWriterUnreachable()
	}
	s.writer = w
	var onTimeout func(bool) <-chan bool
	if s.srv.conf().ForwardTimeout > 0 {
		ctl, thread := dialParams{addr: s.writerTo, user: s.user, password: s.password, stage1: s.stage1, tls: s.srv.conf().BackendTLS}, w.connID
		s.srv.control.ensure(ctl)
		onTimeout = func(mayCommit bool) <-chan bool { return s.forwardTimedOut(ctl, thread, mayCommit) }
	}
	s.life.attach(w.conn.NetConn(), onTimeout)
	s.setWriter(s.writerTo, w.connID)
	s.writerGen++
	s.writerDB = s.state.DB
	s.writerSent = 0
	for _, q := range s.srv.flavor.TrackingSetupSQL() {
		if e := s.writerExec(q); e != nil {
			return e
		}
	}
	if e := s.takeSlot(); e != nil {
		s.dropWriter()
		return e
	}
	return nil
}

func (s *session) releaseWriterSlot() {
	if s.writerSlot {
		s.writerSlot = false
		s.srv.writerSessions.Add(-1)
		s.srv.Metrics.ReplicaSessionClosed()
		s.srv.Metrics.WriterSessionClosed()
	}
}

// syncWriter replays on the writer what the client changed on its session
// since the writer last saw it: database and session variables.
func (s *session) syncWriter(st *sqlclass.Statement) *sqlError {
	if s.writerDB != s.state.DB && s.state.DB != "" {
		if e := s.writerExec("USE " + quoteIdent(s.state.DB)); e != nil {
			return e
		}
		s.writerDB = s.state.DB
	}
	for s.writerSent < len(s.writerVars) {
		if e := s.writerExec("SET " + s.writerVars[s.writerSent]); e != nil {
			return e
		}
		s.writerSent++
	}
	return s.carryUserVars(st)
}

// writerExec runs a statement of the proxy's own on the writer, one that
// cannot commit.
func (s *session) writerExec(q string) *sqlError { return s.writerRun(q, false) }

// writerRun runs a statement on the writer for the proxy; mayCommit as for
// mayCommit.
func (s *session) writerRun(q string, mayCommit bool) *sqlError {
	if mayCommit && !s.writer.alive() {
		// Closed before it went: it cannot commit (and an open transaction
		// is rolled back).
		return s.writerFailed(net.ErrClosed, false)
	}
	s.watchWriter(mayCommit)
	res, err := s.writer.exec(q)
	s.unwatchWriter()
	if err != nil {
		if se, ok := err.(*sqlError); ok {
			return se
		}
		return s.writerFailed(err, mayCommit)
	}
	s.noteOwnGTID(res.ok.stateInfo)
	return nil
}

// afterForward updates transaction state, GTIDs and figures.
func (s *session) afterForward(res *relayResult, st *sqlclass.Statement, d time.Duration) {
	s.noteStatus(s.writer)
	s.noteOwnGTID(res.ok.stateInfo)
	// A write that answered with rows (MariaDB's … RETURNING) ends with an
	// EOF, which carries neither the insert id nor the GTID.
	rowsWrite := res.resultSet && res.err == nil && st.Class != sqlclass.Read && st.Class != sqlclass.LockingRead
	insertID := res.ok.insertID != 0 || rowsWrite && (st.Op == "INSERT" || st.Op == "REPLACE")
	s.state.Apply(route.RanOnWriter, route.Fact{InsertID: insertID})
	if rowsWrite {
		s.afterRowsWrite()
	}
	if st.Class == sqlclass.LockingRead || (st.Class == sqlclass.Read) {
		s.srv.Metrics.ReplicaSelect(d)
		s.srv.Metrics.WriterSelect(d)
	} else {
		s.srv.Metrics.ReplicaDML(d)
		s.srv.Metrics.WriterDML(d)
	}
}

// afterRowsWrite follows a write that answered with rows: once it has
// committed, the writer's position covers its GTID.
func (s *session) afterRowsWrite() {
	if s.state.TxWriter {
		return // the GTID comes with the COMMIT's OK
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.conf().ReadWaitTimeout)
	pos, err := s.srv.writerPos.Get(ctx)
	cancel()
	if err != nil {
		s.srv.log.Warn("writer position after a write with rows", zap.Uint32("session", s.id), zap.Error(err))
		return
	}
	s.survive()
	s.addOwnGTIDs(pos) // the current writer's, not a former one's
}

// noteOwnGTID keeps the GTIDs this session committed through the writer.
func (s *session) noteOwnGTID(stateInfo []byte) {
	if len(stateInfo) == 0 {
		return
	}
	if g, ok := s.srv.flavor.OwnGTID(stateInfo); ok {
		s.addOwnGTIDs(s.survivingOwn(g))
	}
}

// addOwnGTIDs adds g to the GTIDs this session's SESSION reads wait for;
// the caller has dropped from both what writer changes lost (survive).
func (s *session) addOwnGTIDs(g consistency.Set) {
	if g == nil || g.IsEmpty() {
		return
	}
	if s.ownGTIDs == nil {
		s.ownGTIDs = g
	} else {
		s.ownGTIDs = s.ownGTIDs.Union(g)
	}
	if s.scope == consistency.ScopeUser {
		s.srv.userGTIDs(s.user).Advance(g)
	}
}

// writerLost drops a writer connection that failed. A transaction that was
// open on it is gone: the client learns it at its next statement.
func (s *session) writerLost() {
	s.state.Apply(route.WriterLost, route.Fact{})
	s.dropWriter()
}

func (s *session) dropWriter() {
	if s.writer != nil {
		s.life.detach()
		s.writer.close()
		s.writer = nil
		s.setWriter("", s.writerThread.Load())
	}
	s.releaseWriterSlot()
}

// writerKilled handles a writer connection another goroutine closed: the idle
// timeout or forwarding being disabled. An open transaction is lost.
func (s *session) writerKilled(reason int32) {
	if reason == killIdle {
		s.srv.Metrics.WriterErrorSessionTimeout()
	}
	s.writerLost()
}

// takeTerminated returns the terminated error once and clears the
// transaction state on every backend: the client learns once that its
// transaction is gone, and starts clean.
func (s *session) takeTerminated() *sqlError {
	s.state.Apply(route.TerminatedTold, route.Fact{})
	s.srv.Metrics.ReplicaErrorSessionTerminated()
	if s.reader != nil && !s.reader.dropAhead() && s.reader.status&statusInTrans != 0 {
		_, _ = s.reader.exec("ROLLBACK")
	}
	return errTerminated()
}

// backendFailed handles an I/O failure on a backend outside forwarding.
// Losing the only reader ends the session: its state (temporary tables,
// user variables) lives there.
func (s *session) backendFailed(b *backend, err error) error {
	if s.srv.readers != nil && b != nil && b == s.reader && wire.IsCut(err) {
		// Lost between two packets of a result the client had begun to
		// get: an ERR ends it in-band, and the session goes on elsewhere.
		s.readerGone()
		return s.writeErr(errTerminated(), false)
	}
	if wire.ClientFailed(err) {
		return err
	}
	if b == s.writer {
		s.srv.log.Warn("writer connection failed", zap.Uint32("session", s.id), zap.Error(err))
		s.writerLost()
		_ = s.writeErr(errWriterUnreachable(), false)
		return nil
	}
	if s.srv.readers != nil && b == s.reader {
		e, _ := s.readerGone()
		_ = s.writeErr(e, false)
		return nil
	}
	_ = s.writeErr(errLostReader(), false)
	_ = s.client.Flush()
	return err
}

// checkRelay turns a relay failure into the session's reaction.
func (s *session) checkRelay(b *backend, err error) error {
	if err == nil {
		return nil
	}
	return s.backendFailed(b, err)
}
