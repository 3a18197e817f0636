package proxy

import (
	"errors"
	"strconv"
	"strings"

	"github.com/fwdproxy/fwdproxy/grants"
	"github.com/fwdproxy/fwdproxy/metrics"
	"github.com/fwdproxy/fwdproxy/route"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// inTransaction: the client is inside a transaction, explicit or implicit
// (autocommit=0 with work done), on any backend.
func (s *session) inTransaction() bool {
	if s.state.TxBegun || s.state.TxWriter {
		return true
	}
	return !s.state.Autocommit() && s.reader != nil && s.reader.status&statusInTrans != 0
}

// noteStatus learns from a backend's status flags: the reader's
// AUTOCOMMIT is the client's setting, the writer's IN_TRANS says whether it
// holds the transaction.
func (s *session) noteStatus(b *backend) {
	if b == s.reader {
		s.state.Apply(route.ReaderStatus, route.Fact{Autocommit: b.status&statusAutocommit != 0})
	} else if b == s.writer {
		s.state.Apply(route.WriterStatus, route.Fact{InTrans: b.status&statusInTrans != 0})
	}
}

// clientStatus is the status the client should see.
func (s *session) clientStatus(more bool) uint16 {
	var st uint16
	if s.state.Autocommit() {
		st |= statusAutocommit
	}
	if s.inTransaction() {
		st |= statusInTrans
		if s.state.TxReadOnly {
			st |= statusInTransReadOnly
		}
	}
	if more {
		st |= statusMoreResults
	}
	return st
}

// fixStatus rewrites a backend status for the client, keeping the bits that
// describe the result (cursor, last row, no index used, …).
func (s *session) fixStatus(st uint16, more bool) uint16 {
	if s.auditor != nil { // audit mode: the writer's flags, untouched
		if more {
			st |= statusMoreResults
		}
		return st
	}
	const owned = statusInTrans | statusAutocommit | statusInTransReadOnly | statusMoreResults
	return st&^owned | s.clientStatus(more)
}

func (s *session) writeOK(ok okPacket, more bool) error {
	ok.status = s.clientStatus(more)
	if ok.stateInfo != nil {
		ok.status |= statusSessionStateChg
	}
	if len(s.lastWarn) > 0 && ok.warnings == 0 {
		ok.warnings = uint16(len(s.lastWarn))
	}
	return s.writePacket(appendOK(s.scratch[:0], ok, s.clientCaps&capSessionTrack != 0))
}

func (s *session) writeErr(e *sqlError, more bool) error {
	s.out.Err = e.code
	return s.writePacket(appendErr(s.scratch[:0], e))
}

// begin handles BEGIN / START TRANSACTION. The reader always gets a plain
// START TRANSACTION (never READ WRITE: the reader stays read-only); the
// writer gets its transaction at the first forwarded statement. wait: the
// snapshot is taken at once, so the reader must first be fresh enough for
// the session's level.
func (s *session) begin(st *sqlclass.Statement, wait, more bool) (bool, error) {
	if s.srv.draining.Load() {
		// Inside a transaction (the drain ends every other session): the
		// open one may finish, no new one starts.
		s.srv.Metrics.Limited(metrics.LimitShutdown)
		return s.fail(errShutdown(), more)
	}
	if s.srv.conf().ReadWriteQuirk && st.Txn.Access == sqlclass.AccessReadWrite && !s.privileged() {
		return s.reject(routeErr(route.ErrReadOnly), more)
	}
	access := s.state.Access(st.Txn.Access)
	// BEGIN commits an open transaction first (implicit commit).
	if e := s.commitWriter(); e != nil {
		return s.fail(e, more)
	}
	// A START TRANSACTION not sent to the reader yet would only be
	// committed there by this one.
	s.reader.dropAhead()
	q := "START TRANSACTION"
	if st.Txn.ConsistentSnapshot {
		q += " WITH CONSISTENT SNAPSHOT"
	}
	if access == sqlclass.AccessReadOnly {
		q += ", READ ONLY"
		if !st.Txn.ConsistentSnapshot {
			q = "START TRANSACTION READ ONLY"
		}
	}
	begun := func() { s.state.Apply(route.TxBegin, route.Fact{Access: access}) }
	// InnoDB takes the snapshot at the first read, so a plain START
	// TRANSACTION can travel with the transaction's first statement on the
	// reader (backend.send): one round trip less, none at all when the
	// transaction only writes. A snapshot taken now, or an open reader
	// transaction to commit, cannot wait.
	if !st.Txn.ConsistentSnapshot && s.reader.status&statusInTrans == 0 {
		s.reader.ahead = append([]byte{comQuery}, q...)
		begun()
		return false, s.writeOK(okPacket{}, more)
	}
	if wait {
		fallback, e := s.waitForRead()
		if e != nil {
			return s.fail(e, more)
		}
		if fallback {
			return s.snapshotOnWriter(st, q, more, begun)
		}
	}
	return s.readerStatement(q, more, begun)
}

// snapshotOnWriter takes a consistent snapshot on the writer when the
// reader did not catch up in time and the timeout action is the writer:
// the transaction is the writer's from its start, so its reads run there.
// The reader's open transaction ends, as START TRANSACTION would end it.
func (s *session) snapshotOnWriter(st *sqlclass.Statement, q string, more bool, begun func()) (bool, error) {
	s.reader.dropAhead()
	if s.reader.status&statusInTrans != 0 {
		if _, err := s.reader.exec("COMMIT"); err != nil {
			return s.failWith(s.reader, err, more)
		}
	}
	if e := s.prepareWriter(st); e != nil {
		return s.fail(e, more)
	}
	s.writer.dropAhead() // the snapshot's START TRANSACTION instead
	if e := s.writerExec(q); e != nil {
		return s.fail(e, more)
	}
	s.noteStatus(s.writer)
	begun()
	return false, s.writeOK(okPacket{}, more)
}

// privileged: the user holds SUPER or CONNECTION ADMIN (for the Aurora quirk
// on START TRANSACTION READ WRITE). Asked once per session.
func (s *session) privileged() bool {
	if s.superKnown {
		return s.super
	}
	res, err := s.reader.exec("SHOW GRANTS")
	if err != nil {
		return false
	}
	lines := make([]string, 0, len(res.rows))
	for _, r := range res.rows {
		if len(r) > 0 {
			lines = append(lines, r[0].s)
		}
	}
	s.super, s.superKnown = grants.SuperLike(lines), true
	return s.super
}

// commitWriter ends the writer's transaction for an implicit commit. One
// that was only pending never started.
func (s *session) commitWriter() *sqlError {
	if s.writer != nil && s.writer.dropAhead() {
		s.state.Apply(route.WriterEnded, route.Fact{})
	}
	if !s.state.TxWriter {
		return nil
	}
	if e := s.writerRun("COMMIT", true); e != nil {
		return e
	}
	s.state.Apply(route.WriterEnded, route.Fact{})
	return nil
}

// endTransaction handles COMMIT and ROLLBACK: the writer first (its result is
// what matters to the client), then the reader.
func (s *session) endTransaction(st *sqlclass.Statement, more bool) (bool, error) {
	commit := st.Class == sqlclass.Commit
	chain, release := st.Txn.Chain, st.Txn.Release
	chainReadOnly := s.state.TxReadOnly
	verb := "ROLLBACK"
	if commit {
		verb = "COMMIT"
	}
	var werr *sqlError
	var wok okPacket
	if s.writer != nil && s.writer.dropAhead() { // the writer transaction never started
		s.state.Apply(route.WriterEnded, route.Fact{})
	}
	s.reader.dropAhead() // nor the reader's
	// Without temporary tables the reader's part is read-only: its end cannot
	// fail in a way the client must hear of, so the client does not wait for
	// it (post; the answer is read before the next command's).
	readerQuiet := s.reader.status&statusInTrans != 0 && len(s.state.Temp) == 0
	if readerQuiet {
		if err := s.reader.post(append([]byte{comQuery}, verb...)); err != nil {
			return true, s.backendFailed(s.reader, err)
		}
		s.reader.status &^= statusInTrans
	}
	if s.state.TxWriter && !s.writer.alive() {
		// Closed before the COMMIT went: nothing of it commits.
		s.writerLost()
		werr = s.takeTerminated()
	} else if s.state.TxWriter {
		s.watchWriter(commit)
		res, err := s.writer.exec(verb)
		s.unwatchWriter()
		switch e := err.(type) {
		case nil:
			s.noteOwnGTID(res.ok.stateInfo)
			wok = res.ok
		case *sqlError:
			werr = e
		default:
			werr = s.writerFailed(err, commit)
		}
		if s.writer != nil {
			s.noteStatus(s.writer)
		}
	}
	if !readerQuiet && (s.reader.status&statusInTrans != 0 || werr != nil) {
		rverb := verb
		if werr != nil {
			rverb = "ROLLBACK"
		}
		if _, err := s.reader.exec(rverb); err != nil {
			if _, ok := err.(*sqlError); !ok {
				return true, s.backendFailed(s.reader, err)
			}
		}
	}
	s.state.Apply(route.TxEnd, route.Fact{})
	if werr != nil {
		return s.fail(werr, more)
	}
	// A new transaction with the same characteristics; not during a drain,
	// which lets open transactions end and starts no new one: the session's
	// next statement gets 1053, as after a plain COMMIT.
	if chain && !s.srv.draining.Load() {
		readOnly := chainReadOnly
		q := "START TRANSACTION"
		if readOnly {
			q += " READ ONLY"
		}
		if _, err := s.reader.exec(q); err != nil {
			return s.failWith(s.reader, err, more)
		}
		s.state.Apply(route.TxChain, route.Fact{ReadOnly: readOnly})
	}
	if err := s.writeOK(okPacket{warnings: wok.warnings}, more); err != nil {
		return true, err
	}
	if release {
		_ = s.client.Flush()
		return true, errReleased
	}
	return false, nil
}

var errReleased = errors.New("COMMIT/ROLLBACK RELEASE closed the session")

// readerStatement runs a statement of the proxy's choosing on the reader and
// answers the client with its result; onOK runs when it succeeded.
func (s *session) readerStatement(q string, more bool, onOK func()) (bool, error) {
	res, err := s.reader.exec(q)
	if err != nil {
		return s.failWith(s.reader, err, more)
	}
	s.noteStatus(s.reader)
	if onOK != nil {
		onOK()
	}
	return false, s.writeOK(okPacket{affectedRows: res.ok.affectedRows, warnings: res.ok.warnings}, more)
}

// set handles SET with any mix of variables. The proxy owns
// aurora_replica_read_consistency and the access mode; everything else goes
// to the reader and is remembered for the writer.
// wait: its value reads tables, so it waits for the session's level like a
// SELECT, and evaluates on the writer when the wait falls back there.
func (s *session) set(x *job, wait bool) (bool, error) {
	if x.bin != nil && x.bin.boundSet || x.text != "" && sqlclass.Params(x.sql, s.sqlOpt) > 0 {
		return s.setBound(x, wait)
	}
	st, more := &x.st, x.more
	var state []byte // the session-state changes the client's tracking asked for
	out, e := route.CheckSet(st, s.level, s.inTransaction(), s.srv.Forwarding(), s.checkToken)
	if e != nil {
		return s.reject(routeErr(e), more)
	}
	st, track, setsTrack := trackingList(st)
	var relay []string
	for _, a := range st.Assignments {
		if !route.OwnsAssignment(a) {
			relay = append(relay, a.Text)
		}
	}
	if len(relay) > 0 && wait {
		fallback, e := s.waitForRead()
		if e != nil {
			return s.fail(e, more)
		}
		if fallback && route.WriterCanSet(st) {
			if e := s.prepareWriter(st); e != nil {
				return s.fail(e, more)
			}
			return s.setFromWriter(st, more)
		}
	}
	if len(relay) > 0 {
		wasAuto := s.state.Autocommit()
		res, err := s.reader.exec("SET " + strings.Join(relay, ", "))
		if err != nil {
			return s.failWith(s.reader, err, more)
		}
		s.noteStatus(s.reader)
		s.rememberSet(st)
		if setsTrack {
			s.trackToken = track
		}
		if setsSQLMode(st) {
			s.refreshSQLMode()
		}
		// autocommit 0 -> 1 commits the open transaction, explicit or not,
		// on the writer too.
		if !wasAuto && s.state.Autocommit() {
			if e := s.commitWriter(); e != nil {
				return s.fail(e, more)
			}
			s.state.Apply(route.TxCommitted, route.Fact{})
		}
		state = res.ok.stateInfo
	}
	if out.SetsLevel {
		s.setLevel(out.Level)
	}
	if out.SetsScope {
		s.setScope(out.Scope)
	}
	s.state.Apply(route.SetSession, route.Fact{Access: out.Access})
	if out.SetsFaults {
		s.inject = out.Faults
	}
	if out.SetsReadAfter {
		s.state.Apply(route.SetReadAfter, route.Fact{Token: out.ReadAfter, TokenSet: out.ReadAfterSet})
	}
	return false, s.writeOK(okPacket{stateInfo: state}, more)
}

// boundHolder names the user variable of the proxy's that the i-th
// placeholder-bearing value of a BoundSet is bound into on the reader.
func boundHolder(i int) string { return "@fwdproxy_bind" + strconv.Itoa(i) }

// boundSetHolders is the statement the reader prepares for a BoundSet:
// each value with placeholders assigned to a holder, in order, so the
// placeholders keep their order and number.
func (s *session) boundSetHolders(st *sqlclass.Statement) string {
	var items []string
	for _, a := range st.Assignments {
		if sqlclass.Params(a.Value, s.sqlOpt) > 0 {
			items = append(items, boundHolder(len(items))+" = "+a.Value)
		}
	}
	return "SET " + strings.Join(items, ", ")
}

// setBound runs a SET whose values are bound (an execute of a BoundSet,
// or EXECUTE … USING) as its text form, with the values as literals (the
// proxy's variables as quoted strings, as a client writes them).
func (s *session) setBound(x *job, wait bool) (bool, error) {
	if wait { // a subquery among the values reads the reader
		if _, e := s.waitForRead(); e != nil {
			return s.fail(e, x.more)
		}
	}
	res, err := s.boundValues(x)
	if err != nil {
		return s.failWith(s.reader, err, x.more)
	}
	if len(res.rows) != 1 {
		return s.fail(newError(1105, "bound SET: the reader returned no values"), x.more)
	}
	items := make([]string, 0, len(x.st.Assignments))
	i := 0
	for _, a := range x.st.Assignments {
		if sqlclass.Params(a.Value, s.sqlOpt) == 0 {
			items = append(items, a.Text)
			continue
		}
		v := s.literal(res.rows[0][i], res.types, res.charsets, i)
		if route.OwnsAssignment(a) && !res.rows[0][i].null && !(i < len(res.types) && numericTypes[res.types[i]]) {
			v = quoteLiteral(res.rows[0][i].s)
		}
		items = append(items, strings.TrimSuffix(a.Text, a.Value)+v)
		i++
	}
	text := "SET " + strings.Join(items, ", ")
	y := job{sql: text, st: sqlclass.Classify(text, s.sqlOpt), payload: append([]byte{comQuery}, text...), more: x.more}
	return s.set(&y, false)
}

// boundValues reads the values of a bound SET's placeholder-bearing
// assignments from the reader, in one row: bound into the holders by the
// client's execute of a BoundSet, or for EXECUTE … USING evaluated with
// the USING variables in the placeholders' places (a USING list that
// does not fit them gets the server's 1210).
func (s *session) boundValues(x *job) (*queryResult, error) {
	var values []string
	using := x.using
	for _, a := range x.st.Assignments {
		n := sqlclass.Params(a.Value, s.sqlOpt)
		switch {
		case n == 0:
		case x.bin != nil:
			values = append(values, boundHolder(len(values)))
		case n <= len(using):
			refs := make([]string, n)
			for i, v := range using[:n] {
				refs[i] = "@" + quoteIdent(v)
			}
			v, _ := sqlclass.BindParams(a.Value, s.sqlOpt, refs)
			values, using = append(values, v), using[n:]
		default:
			return nil, errWrongArguments()
		}
	}
	if x.bin == nil && len(using) > 0 {
		return nil, errWrongArguments()
	}
	if x.bin != nil {
		payload, err := s.ready(x, s.reader)
		if err == nil {
			_, err = s.reader.execCommand(payload)
		}
		if err != nil {
			return nil, err
		}
	}
	return s.reader.exec("SELECT " + strings.Join(values, ", "))
}

// errWrongArguments is the server's answer to an EXECUTE whose USING
// variables do not match the statement's placeholders.
func errWrongArguments() *sqlError { return newError(1210, "Incorrect arguments to EXECUTE") }

func setsSQLMode(st *sqlclass.Statement) bool {
	for _, a := range st.Assignments {
		if a.Scope == sqlclass.ScopeSession && a.Name == "sql_mode" {
			return true
		}
	}
	return false
}

// refreshSQLMode reads the session's sql_mode back from the reader: it
// changes how statements split and how strings lex.
func (s *session) refreshSQLMode() {
	res, err := s.reader.exec("SELECT @@SESSION.sql_mode")
	if err != nil {
		return
	}
	v, _ := res.value()
	mode := "," + strings.ToUpper(v.s) + ","
	s.sqlOpt.NoBackslashEscapes = strings.Contains(mode, ",NO_BACKSLASH_ESCAPES,")
	s.sqlOpt.ANSIQuotes = strings.Contains(mode, ",ANSI_QUOTES,") || strings.Contains(mode, ",ANSI,")
}

// setFromWriter evaluates `SET @v = LAST_INSERT_ID()` (or ROW_COUNT()) where
// the value lives, on the writer, then copies the variables to the reader.
func (s *session) setFromWriter(st *sqlclass.Statement, more bool) (bool, error) {
	texts := make([]string, 0, len(st.Assignments))
	names := make([]string, 0, len(st.Assignments))
	for _, a := range st.Assignments {
		texts = append(texts, a.Text)
		names = append(names, a.Name)
	}
	// Its functions may write, and commit outside a transaction.
	if e := s.writerRun("SET "+strings.Join(texts, ", "), true); e != nil {
		return s.fail(e, more)
	}
	if e := s.copyUserVars(s.writer, s.reader, names); e != nil {
		return s.fail(e, more)
	}
	return false, s.writeOK(okPacket{}, more)
}

// rememberSet records session assignments for replay on the writer. User
// variables are carried per statement instead; autocommit and isolation are
// the proxy's business on the writer.
func (s *session) rememberSet(st *sqlclass.Statement) {
	for _, a := range st.Assignments {
		switch {
		case a.Scope == sqlclass.ScopeUser:
			continue
		case a.Scope == sqlclass.ScopeNames:
		case route.ProxyVars[a.Name], a.Name == "tx_read_only", a.Name == "transaction_read_only",
			a.Name == "autocommit", a.Name == "tx_isolation", a.Name == "transaction_isolation":
			if a.Name == "tx_isolation" || a.Name == "transaction_isolation" {
				s.state.Apply(route.SetSession, route.Fact{Isolation: normIsolation(sqlclass.Unquote(a.Value))})
			}
			continue
		}
		s.writerVars = append(s.writerVars, a.Text)
		if trackingVars[a.Name] {
			// The client's list replaces the writer's, which carries the
			// proxy's own GTIDs: the proxy's tracking goes back on top.
			for _, q := range s.srv.flavor.TrackingSetupSQL() {
				s.writerVars = append(s.writerVars, strings.TrimPrefix(q, "SET "))
			}
		}
	}
}

// trackingVars are the session-tracking settings the proxy's own GTID
// tracking on the writer depends on.
var trackingVars = map[string]bool{"session_track_system_variables": true, "session_track_gtids": true}

// setTransaction handles SET [SESSION] TRANSACTION: isolation goes to the
// reader, the access mode stays with the proxy.
func (s *session) setTransaction(st *sqlclass.Statement, more bool) (bool, error) {
	if st.Txn.Scope == sqlclass.TxnGlobal {
		return s.reject(routeErr(route.ErrSuper), more)
	}
	if st.Txn.Scope == sqlclass.TxnNext && s.inTransaction() {
		return s.reject(&sqlError{1568, "25001", "Transaction characteristics can't be changed while a transaction is in progress"}, more)
	}
	apply := func() {
		c := route.SetNext
		if st.Txn.Scope == sqlclass.TxnSession {
			c = route.SetSession
		}
		s.state.Apply(c, route.Fact{Access: st.Txn.Access, Isolation: st.Txn.Isolation})
	}
	if st.Txn.Isolation == "" {
		apply()
		return false, s.writeOK(okPacket{}, more)
	}
	q := "SET TRANSACTION ISOLATION LEVEL " + st.Txn.Isolation
	if st.Txn.Scope == sqlclass.TxnSession {
		q = "SET SESSION TRANSACTION ISOLATION LEVEL " + st.Txn.Isolation
	}
	return s.readerStatement(q, more, apply)
}

func normIsolation(v string) string {
	return strings.ToUpper(strings.ReplaceAll(v, "-", " "))
}

func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}
