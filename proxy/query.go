package proxy

import (
	"bytes"
	"time"

	"github.com/fwdproxy/fwdproxy/digest"
	"github.com/fwdproxy/fwdproxy/proxy/wire"
	"github.com/fwdproxy/fwdproxy/route"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// Every protocol path ends here: it classifies a statement, asks
// route.Decide where it runs, and execute carries the decision out.
// Nothing in this package chooses a backend by itself.

func errTerminated() *sqlError {
	return &sqlError{1105, "HY000", "Forwarded connection on Writer terminated; try restarting transaction"}
}

// errLostConnection is the error for a statement whose connection to a
// backend (role: "writer", "reader") broke under it. It carries a server
// code, 1158 (ER_NET_READ_ERROR, SQLSTATE 08S01, a communication failure),
// not the client's 2013: libmariadb clients (Python mysqlclient, the
// mariadb CLI, Ruby mysql2) report an ERR packet with a client-range code
// as 2027 "Received malformed packet".
func errLostConnection(role, more string) *sqlError {
	return &sqlError{1158, "08S01", "Lost connection to " + role + " during query" + more}
}

func errWriterUnreachable() *sqlError {
	return &sqlError{1105, "HY000", "Failed to send write forwarding request to writer"}
}

func errSessionLimit() *sqlError {
	return &sqlError{1040, "08004", "Not enough connections on writer to handle your request"}
}

// routeErr is a rejection of the routing rule as the client's error.
func routeErr(e *route.Error) *sqlError { return &sqlError{e.Code, e.State, e.Msg} }

// job is one statement on its way to a backend: its text and class, the
// command packet to send, and what the packet needs on the backend that
// runs it (a prepared statement's id there, a PREPARE done there first).
type job struct {
	sql     string
	st      sqlclass.Statement // by value: a pointer beside sql would make it escape
	payload []byte
	more    bool      // a multi-statement batch continues after it
	bin     *prepared // COM_STMT_EXECUTE of this statement
	text    string    // EXECUTE of the statement PREPAREd under this name
	bound   bool      // bin or text with values bound (parameters, USING): only the backend knows them
	using   []string  // text: the user variables of EXECUTE … USING, in order
	retried bool      // the read runs again after its reader was lost
}

// routeState is the session as the routing rule sees it: its state, and
// what its connections and settings say now.
func (s *session) routeState() route.State {
	return route.State{
		Session:       s.state,
		Forwarding:    s.forwardingActive(),
		Waits:         s.level.Waits(),
		ReaderInTx:    s.reader.inTrans(),
		HasWriter:     s.writer != nil,
		ProxyWarnings: len(s.lastWarn) > 0,
		Opt:           s.sqlOpt,
		AccessVar:     s.srv.dialect.readOnlyVar,
	}
}

// decide asks the routing rule about one statement.
func (s *session) decide(sql string, st *sqlclass.Statement, path route.Path, params bool) route.Decision {
	s.settleTemp(st)
	rs := s.routeState()
	return route.Decide(&rs, route.Input{SQL: sql, St: st, Path: path, Params: params})
}

// comQuery handles COM_QUERY: a single statement, or a batch when the client
// enabled multi-statements, which is routed statement by statement.
func (s *session) comQuery(data []byte) error {
	sql := string(data[1:])
	if s.clientCaps&capMultiStatements != 0 && bytes.IndexByte(data, ';') >= 0 {
		stmts := sqlclass.Split(sql, s.sqlOpt)
		if len(stmts) > 1 {
			for i, st := range stmts {
				failed, err := s.statement(st, nil, i < len(stmts)-1)
				if err != nil || failed {
					return err
				}
			}
			return nil
		}
	}
	_, err := s.statement(sql, data, false)
	return err
}

// statement runs one SQL statement of a COM_QUERY. payload, when not nil, is
// the client's own packet for sql, relayed without a copy. more says a batch
// continues after it. failed reports an error sent to the client.
func (s *session) statement(sql string, payload []byte, more bool) (failed bool, err error) {
	if payload == nil {
		payload = append([]byte{comQuery}, sql...)
	}
	x := job{sql: sql, st: sqlclass.Classify(sql, s.sqlOpt), payload: payload, more: more}
	st := &x.st
	if s.state.Terminated {
		return s.fail(s.takeTerminated(), more)
	}
	s.forgetWarnings(st)
	return s.execute(s.decide(sql, st, route.Text, false), &x)
}

// forgetWarnings drops the proxy's warnings of the previous statement
// unless this one shows them.
func (s *session) forgetWarnings(st *sqlclass.Statement) {
	if st.Funcs&sqlclass.FnShowWarnings == 0 {
		s.lastWarn = s.lastWarn[:0]
	}
}

// execute carries out a routing decision and records the statement's
// outcome: the one place a statement's route and result are counted.
func (s *session) execute(d route.Decision, x *job) (failed bool, err error) {
	s.out = digest.Outcome{}
	s.statementCount++
	failed, err = s.carry(d, x)
	s.srv.recordStatement(s.id, x.sql, s.out)
	return failed, err
}

// carry carries out a routing decision, then applies its state change
// when the statement succeeded. It notes the route in s.out.
func (s *session) carry(d route.Decision, x *job) (failed bool, err error) {
	if d.Rewrite != route.NoRewrite {
		x = s.rewritten(d.Rewrite, x)
	}
	if s.srv.readers != nil {
		s.ep.noteUserVars(x.st.UserVars)
	}
	if s.srv.readers != nil && s.reader == nil && needsReader(d, x) && !s.reattachReader() {
		return s.withoutReader(d, x)
	}
	switch d.Target {
	case route.Reject:
		return s.reject(routeErr(d.Err), x.more)
	case route.Proxy:
		s.out.Route = digest.Local
		return s.handle(d, x)
	case route.Writer:
		s.out.Route = writerRoute(&x.st)
		if d.Handler == route.Set {
			if e := s.prepareWriter(&x.st); e != nil {
				return s.fail(e, x.more)
			}
			return s.setFromWriter(&x.st, x.more)
		}
		start := time.Now()
		failed, err = s.forward(x)
		s.writerRead(&x.st, start)
	case route.WriterAside:
		s.out.Route = writerRoute(&x.st)
		if d.Handler == route.Set {
			return s.setFromWriter(&x.st, x.more)
		}
		start := time.Now()
		failed, err = s.forwardAside(x)
		s.writerRead(&x.st, start)
	case route.ReaderWritable:
		s.out.Route = digest.Reader
		if d.Prove {
			safe, err := s.runsNoStoredCode(x)
			if err != nil {
				return true, s.backendFailed(s.reader, err)
			}
			if !safe {
				rs := s.routeState()
				return s.carry(route.Unproven(&rs), x)
			}
		}
		failed, err = s.toReaderWritable(x)
		if failed && err == nil && d.Change != route.NoChange {
			s.tempFailed(&x.st)
		}
	case route.Reader:
		s.out.Route = digest.Reader
		for {
			if d.Wait {
				failed, err = s.read(x)
			} else {
				failed, err = s.toReader(x)
			}
			if err != errReadAgain {
				break
			}
			if s.reader == nil && !s.reattachReader() {
				failed, err = s.withoutReader(d, x)
				break
			}
		}
	}
	if !failed && err == nil {
		s.state.Apply(d.Change, route.Fact{Targets: x.st.Targets, DB: x.st.DB})
	}
	return failed, err
}

// handle runs the statements the proxy answers itself.
func (s *session) handle(d route.Decision, x *job) (bool, error) {
	st, more := &x.st, x.more
	switch d.Handler {
	case route.ShowWarnings:
		return false, s.showProxyWarnings(more)
	case route.Set:
		return s.set(x, d.Wait)
	case route.SetTransaction:
		return s.setTransaction(st, more)
	case route.Begin:
		return s.begin(st, d.Wait, more)
	case route.End:
		return s.endTransaction(st, more)
	case route.Kill:
		return s.kill(st.Kill, more)
	case route.OwnVars:
		return false, s.selectOwnVars(st, more)
	case route.ShowVariables:
		return s.showMerged(x.sql, st, s.auroraVars(), more)
	case route.ShowStatus:
		return s.showMerged(x.sql, st, s.srv.Metrics.StatusRows(), more)
	case route.PrepareText:
		return s.textPrepare(x)
	case route.ExecuteText:
		return s.textExecute(x)
	case route.Deallocate:
		return s.textDeallocate(x)
	}
	// LocalPrepare is answered by comStmtPrepare; no other handler exists.
	return s.fail(newError(1295, "This command is not supported in the prepared statement protocol yet"), more)
}

// ready returns x's packet for backend b, first preparing x's statement on
// b when b has not seen it.
func (s *session) ready(x *job, b *backend) ([]byte, error) {
	switch {
	case x.bin != nil:
		return s.readyBinary(x, b)
	case x.text != "":
		return x.payload, s.readyText(x.text, b)
	}
	return x.payload, nil
}

// read runs a read on the reader once it is fresh enough for the session's
// level, or on the writer when the wait falls back there.
func (s *session) read(x *job) (bool, error) {
	start := time.Now()
	fallback, e := s.waitForRead()
	if e != nil {
		return s.fail(e, x.more)
	}
	if fallback {
		s.out.Route = digest.Writer
		failed, err := s.forward(x)
		s.srv.Metrics.ReadServedByWriter(time.Since(start))
		return failed, err
	}
	// Counted on the reader it runs on, once, as the total is: a read is
	// placed again while it waits, and a BEGIN or SET that waits is placed
	// too, but neither is a read of its own.
	if rs := s.srv.readers; rs != nil {
		rs.node(s.ep.node).reads.Add(1)
	}
	done := s.readerBusy()
	failed, err := s.toReader(x)
	done()
	s.srv.Metrics.ReadServedByReader(time.Since(start))
	return failed, err
}

// writerRoute is the route of a statement the writer runs: a read it
// serves, or anything else forwarded.
func writerRoute(st *sqlclass.Statement) digest.Route {
	if st.Class == sqlclass.Read {
		return digest.Writer
	}
	return digest.Forwarded
}

// writerRead counts a read the writer served by decision: inside the
// session's forwarded transaction, or where the previous statement's
// figures live. (read counts the reads that wait.)
func (s *session) writerRead(st *sqlclass.Statement, start time.Time) {
	if st.Class == sqlclass.Read {
		s.srv.Metrics.ReadServedByWriter(time.Since(start))
	}
}

// forwardingActive: the session's level is not OFF and the proxy's switch
// is on.
func (s *session) forwardingActive() bool {
	return s.level != 0 && s.srv.Forwarding()
}

// reject answers with a proxy error and counts it.
func (s *session) reject(e *sqlError, more bool) (bool, error) {
	s.out.Route = digest.Rejected
	s.srv.Metrics.Rejected(e.code)
	return s.fail(e, more)
}

func (s *session) fail(e *sqlError, more bool) (bool, error) {
	return true, s.writeErr(e, more)
}

// failWith answers a failed step on b: the server's error goes to the
// client, a broken connection to backendFailed.
func (s *session) failWith(b *backend, err error, more bool) (bool, error) {
	if se, ok := err.(*sqlError); ok {
		return s.fail(se, more)
	}
	return true, s.backendFailed(b, err)
}

// toReader relays a statement to the reader.
func (s *session) toReader(x *job) (bool, error) {
	payload, err := s.ready(x, s.reader)
	if err != nil {
		return s.failWith(s.reader, err, x.more)
	}
	s.noteUserLock(payload)
	if err := s.reader.ask(payload); err != nil {
		return s.readerFailed(x, err)
	}
	res, err := s.relay(s.reader, payload[0], x.more)
	if err != nil {
		if wire.ClientFailed(err) { // the client, or a result cut mid-stream
			return true, s.checkRelay(s.reader, err)
		}
		return s.readerFailed(x, err)
	}
	if x.bin != nil {
		x.bin.cursor = res.cursor // a new execute closes the statement's old cursor
	}
	s.state.Apply(route.RanOnReader, route.Fact{InsertID: res.ok.insertID != 0})
	return res.err != nil, nil
}

// toReaderWritable runs a statement the server refuses with the guard up
// (see guard.go) on the reader, lifting the session's read-only guard for
// just that statement.
func (s *session) toReaderWritable(x *job) (bool, error) {
	lifted, err := s.liftGuard()
	if err != nil {
		return s.failWith(s.reader, err, x.more)
	}
	failed, err := s.toReader(x)
	if lifted && err == nil {
		if rerr := s.restoreGuard(); rerr != nil {
			return true, rerr
		}
	}
	return failed, err
}

// liftGuard takes the reader's read-only guard down for one statement. A
// transaction open on the reader keeps it up (the server refuses the
// change there); lifted says whether it came down.
func (s *session) liftGuard() (lifted bool, err error) {
	if s.reader.inTrans() {
		return false, nil
	}
	if _, err := s.reader.exec("SET SESSION " + s.srv.dialect.readOnlyVar + " = 0"); err != nil {
		return false, err
	}
	return true, nil
}

// restoreGuard puts the guard back up. It never stays down: when it cannot
// be restored, the reader connection, and with it the session, goes.
func (s *session) restoreGuard() error {
	if _, err := s.reader.exec("SET SESSION " + s.srv.dialect.readOnlyVar + " = 1"); err != nil {
		s.reader.conn.NetConn().Close()
		return s.backendFailed(s.reader, err)
	}
	return nil
}

// forward runs a statement on the writer: it opens the writer connection if
// needed, brings the session's state there, opens the transaction when the
// client is in one, relays the result and records the committed GTID.
func (s *session) forward(x *job) (bool, error) {
	began := !s.state.TxWriter // a transaction that starts on the writer with x
	if e := s.prepareWriter(&x.st); e != nil {
		if e == errUnsent && !s.resending {
			return s.forwardAgain(x)
		}
		return s.fail(e, x.more)
	}
	payload, err := s.ready(x, s.writer)
	if err != nil {
		if err == errUnsent && !s.resending {
			return s.forwardAgain(x)
		}
		return s.failWith(s.writer, err, x.more)
	}
	mayCommit := s.mayCommit(&x.st)
	start := time.Now()
	res, err := s.onWriter(payload, x.more, mayCommit)
	if err != nil {
		if wire.ClientFailed(err) {
			return true, err
		}
		return s.fail(s.writerFailed(err, mayCommit), x.more)
	}
	if res.refused {
		return s.forwardRefused(x, res.err, began)
	}
	s.afterForward(&res, &x.st, time.Since(start))
	if res.err == nil {
		s.forwardedOK()
	}
	return res.err != nil, nil
}

// forwardAgain sends x once more after its writer connection failed before
// x went (errUnsent). With several candidates it first lets the watch look
// again (the failure may be the writer dying), so the next connection goes
// to the writer as it is now, or waits for one (--writer-change-wait).
func (s *session) forwardAgain(x *job) (bool, error) {
	s.letWatchLook()
	s.resending = true
	defer func() { s.resending = false }()
	return s.forward(x)
}

// onWriter sends payload to the writer and relays its answer, the round
// trip bounded by --forward-timeout.
func (s *session) onWriter(payload []byte, more, mayCommit bool) (relayResult, error) {
	s.watchWriter(mayCommit)
	defer s.unwatchWriter()
	if err := s.writer.ask(payload); err != nil {
		return relayResult{}, err
	}
	return s.relay(s.writer, payload[0], more)
}

// forwardAside runs a statement on the writer without it becoming the last
// forwarded one: it reads the previous statement's figures there.
func (s *session) forwardAside(x *job) (bool, error) {
	payload, err := s.ready(x, s.writer)
	if err != nil {
		return s.failWith(s.writer, err, x.more)
	}
	res, err := s.onWriter(payload, x.more, false) // it reads the previous statement's figures
	if err != nil {
		if wire.ClientFailed(err) {
			return true, err
		}
		return s.fail(s.writerFailed(err, false), x.more)
	}
	return res.err != nil, nil
}
