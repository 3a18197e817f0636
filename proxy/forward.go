package proxy

import (
	"context"
	"errors"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/proxy/wire"
	"github.com/fwdproxy/fwdproxy/route"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

var beginPacket = append([]byte{comQuery}, "START TRANSACTION"...)

// writerFailed turns a failure of the writer connection during a forwarded
// statement into the client's error. The statement may or may not have run;
// an open transaction is gone (rolled back by the writer).
func (s *session) writerFailed(err error) *sqlError {
	timedOut := errors.Is(err, os.ErrDeadlineExceeded)
	s.srv.log.Warn("forwarding error", zap.Uint32("session", s.id), zap.Bool("in_transaction", s.state.TxWriter), zap.Error(err))
	if timedOut {
		s.srv.Metrics.ReplicaErrorRPCTimeout()
		s.srv.Metrics.WriterErrorRPCTimeout()
		s.srv.killQuery(s) // best effort: stop it on the writer too
	}
	s.writerBroke()
	s.writerLost()
	if s.state.Terminated {
		return s.takeTerminated()
	}
	if timedOut {
		return &sqlError{1105, "HY000", "Forwarded statement timed out on the writer (--forward-timeout); its outcome is unknown"}
	}
	return errTerminated()
}

// armForwardTimeout bounds a forwarded statement by --forward-timeout.
func (s *session) armForwardTimeout() {
	if d := s.srv.conf().ForwardTimeout; d > 0 && s.writer != nil {
		_ = s.writer.conn.NetConn().SetReadDeadline(time.Now().Add(d))
	}
}

func (s *session) disarmForwardTimeout() {
	if s.srv.conf().ForwardTimeout > 0 && s.writer != nil {
		_ = s.writer.conn.NetConn().SetReadDeadline(time.Time{})
	}
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
		user: s.user, password: s.password, db: s.state.DB,
		caps: s.clientCaps, sessionTrack: true, collation: s.collation,
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
	s.life.attach(w.conn.NetConn())
	s.writerThread.Store(w.connID)
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

// writerExec runs a statement of the proxy's own on the writer.
func (s *session) writerExec(q string) *sqlError {
	res, err := s.writer.exec(q)
	if err != nil {
		if se, ok := err.(*sqlError); ok {
			return se
		}
		s.writerLost()
		return errWriterUnreachable()
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
	s.addOwnGTIDs(pos)
}

// noteOwnGTID keeps the GTIDs this session committed through the writer.
func (s *session) noteOwnGTID(stateInfo []byte) {
	if len(stateInfo) == 0 {
		return
	}
	if g, ok := s.srv.flavor.OwnGTID(stateInfo); ok {
		s.addOwnGTIDs(g)
	}
}

// addOwnGTIDs adds g to the GTIDs this session's SESSION reads wait for.
func (s *session) addOwnGTIDs(g consistency.Set) {
	if g == nil || g.IsEmpty() {
		return
	}
	if s.ownGTIDs == nil {
		s.ownGTIDs = g
	} else {
		s.ownGTIDs = s.ownGTIDs.Union(g)
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
// Losing the reader ends the session: its state (temporary tables, user
// variables) lives there.
func (s *session) backendFailed(b *backend, err error) error {
	if wire.ClientFailed(err) {
		return err
	}
	if b == s.writer {
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
