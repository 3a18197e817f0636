package lint

import (
	"strconv"
	"strings"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/exposure"
	"github.com/fwdproxy/fwdproxy/route"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// Warning categories: the operation field of a warning.
const (
	WarnIsolation      = "isolation"
	WarnReadWrite      = "start-transaction-read-write"
	WarnLastInsertID   = "last-insert-id"
	WarnReadAfterWrite = "read-after-write"
	WarnSetGlobal      = "set-global"
	WarnUnknown        = "unknown"
	WarnCallOnReader   = "call-on-reader"
)

// written remembers a forwarded write to a table, for read-after-write.
type written struct {
	line   int
	n      int  // the session's statement count at the write
	warned bool // a read in the same transaction was already reported
}

// prepared is a text PREPARE: nil st when its text could not be known.
type prepared struct {
	text string
	st   *sqlclass.Statement
}

// session models one client session the way fwdproxy's proxy/session.go
// follows it: the consistency level, transaction state and access mode,
// isolation, current database, temporary tables and prepared statements.
// Where each statement goes is route.Decide's answer, as in the proxy.
type session struct {
	l  *linter
	id uint64

	level Level
	opt   sqlclass.Options

	// rs is the session as the proxy keeps it, changed by the same
	// route.Session.Apply calls the proxy makes. What the proxy learns from
	// the reader's status flags lint follows itself: the implicit
	// transaction of an autocommit=0 session.
	rs         route.Session
	txImplicit bool
	txIso      string // the open transaction's isolation
	isoWarned  string // isolation level already reported

	prepared  map[string]*prepared
	userVars  map[string]string // user variables holding a known string literal
	written   map[string]*written
	txWritten map[string]*written
	lastIDOK  bool // LAST_INSERT_ID() already reported
	n         int  // statements seen

	// Whether the proxy would have a writer connection, as far as the
	// input shows.
	hasWriter bool

	exp *exposure.Session // with linter.exp: the session's part of it
}

// rawWindow: a read counts as "right after" a write when it comes within
// this many statements of the same session.
const rawWindow = 10

func newSession(l *linter, id uint64) *session {
	s := &session{l: l, id: id}
	s.reset()
	return s
}

// reset is a new connection (or COM_RESET_CONNECTION / COM_CHANGE_USER);
// the current database is kept by the caller when it should be.
func (s *session) reset() {
	*s = session{l: s.l, id: s.id, rs: route.Session{DB: s.rs.DB}}
	s.level = s.l.cfg.Consistency
	s.opt = s.l.cfg.Options
	s.prepared = map[string]*prepared{}
	s.userVars = map[string]string{}
	s.written = map[string]*written{}
	s.txWritten = map[string]*written{}
	if s.l.exp != nil {
		s.exp = exposure.NewSession("") // a general log has no program names
	}
}

// stmt is one statement as the linter sees it.
type stmt struct {
	sql    string // the text classified (the prepared text for EXECUTE)
	shown  string // the text reported
	st     sqlclass.Statement
	line   int
	via    string // "EXECUTE name" when run through a prepared statement
	path   route.Path
	params bool // SQLExecute: EXECUTE … USING
}

func (s *session) inTx() bool { return s.rs.TxBegun || s.txImplicit || s.rs.TxWriter }

// touch opens the implicit transaction of an autocommit=0 session, on the
// reader. As for the proxy, the next transaction's characteristics last
// until it ends.
func (s *session) touch() {
	if s.rs.Autocommit() || s.inTx() {
		return
	}
	s.txImplicit = true
	s.txIso = s.isoFor()
}

func (s *session) isoFor() string {
	if s.rs.NextIso != "" {
		return s.rs.NextIso
	}
	return s.rs.Isolation
}

func (s *session) tableKey(t sqlclass.TableName) string { return s.rs.Temp.Key(s.rs.DB, t) }

func (s *session) isTemp(t sqlclass.TableName) bool { return s.rs.Temp.Has(s.rs.DB, t) }

// state is the session as route sees it. The server's forwarding switch is
// assumed on: lint checks the application, not the deployment.
func (s *session) state() route.State {
	return route.State{
		Session:    s.rs,
		Forwarding: s.level != Off,
		Waits:      s.level.Waits(),
		ReaderInTx: s.rs.TxBegun || s.txImplicit,
		HasWriter:  s.hasWriter,
		Opt:        s.opt,
	}
}

// statement routes one classified statement with route.Decide, reports
// what forwarding rejects or changes, and follows the state it changes.
func (s *session) statement(x *stmt) {
	st := &x.st
	if x.via == "" || x.via == "prepared statement" {
		s.n++
	}
	state := s.state()
	d := route.Decide(&state, route.Input{SQL: x.sql, St: st, Path: x.path, Params: x.params})
	if st.Funcs&sqlclass.FnLastInsertID != 0 && state.Forwarding && !s.lastIDOK {
		s.lastIDOK = true
		s.warn(x, WarnLastInsertID, "LAST_INSERT_ID() works through fwdproxy (answered by the writer after a forwarded INSERT), but Aurora documents no such guarantee; reported once per session", "")
	}
	switch d.Target {
	case route.Reject:
		s.rejected(x, d.Err)
		return
	case route.Proxy:
		s.handle(x, d.Handler)
		return
	}
	// Table work that reaches a backend opens an autocommit=0 session's
	// transaction; a rejected statement reaches none.
	switch st.Class {
	case sqlclass.Read, sqlclass.LockingRead, sqlclass.Write, sqlclass.Unknown, sqlclass.LoadData:
		s.touch()
	}
	s.rs.Apply(d.Change, route.Fact{Targets: st.Targets, DB: st.DB})
	switch d.Target {
	case route.Reader, route.ReaderWritable:
		s.onReader(x)
	case route.Writer:
		if st.Class == sqlclass.Unknown {
			s.warn(x, WarnUnknown, "fwdproxy cannot classify this statement ("+x.opOr("unrecognised")+") and sends it to the writer: check that it does not need the reader's session state", "")
		}
		s.forwarded(x)
	case route.WriterAside:
		s.handle(x, d.Handler) // SET @v = LAST_INSERT_ID() and the like
	}
}

// handle follows what the proxy's own handling of a statement changes.
// ShowWarnings and Kill change nothing lint follows.
func (s *session) handle(x *stmt, h route.Handler) {
	switch h {
	case route.Set:
		s.set(x)
	case route.SetTransaction:
		s.setTransaction(x)
	case route.Begin:
		s.begin(x)
	case route.End:
		s.end(x)
	case route.PrepareText:
		s.prepare(x)
	case route.ExecuteText:
		s.execute(x)
	case route.Deallocate:
		delete(s.prepared, x.st.Name)
	}
}

// opOr is the statement's operation, or def when it has none.
func (x *stmt) opOr(def string) string {
	if x.st.Op != "" {
		return x.st.Op
	}
	return def
}

// notSupported frames the operation in route's 1235 text: route.Error
// carries only the client's message, so the operation is read back from it.

// rejected reports route's rejection of x, with lint's explanation.
func (s *session) rejected(x *stmt, e *route.Error) {
	st := &x.st
	op := x.opOr("statement")
	if st.Class == sqlclass.Unknown {
		op = x.opOr("unknown statement")
	}
	switch e.Code {
	case route.ErrSuper.Code:
		// A warning, not an error: server settings are changed on each
		// server by whoever runs them, not by the application's sessions.
		s.warn(x, WarnSetGlobal, "SET GLOBAL/PERSIST gets 1227 through fwdproxy (a reader session has no SUPER): change server settings on each server directly", e.Msg)
	case route.ErrReadOnlyTx.Code:
		s.reject(x, e, op, "write in a READ ONLY transaction (START TRANSACTION READ ONLY, SET TRANSACTION READ ONLY or tx_read_only=1): nothing is forwarded in it")
	case route.ErrReadOnly.Code:
		why := "write with forwarding off (aurora_replica_read_consistency = ''): set it to SESSION, GLOBAL or EVENTUAL, or send the write to the writer"
		switch st.Class {
		case sqlclass.Unknown:
			why = "fwdproxy cannot classify this statement and treats it as a write; with forwarding off (aurora_replica_read_consistency = '') that is refused"
		case sqlclass.DDL, sqlclass.Plugin, sqlclass.LoadData:
			// Never forwarded: with forwarding on it gets 1235.
			why = "refused as on a read-only replica (forwarding is off); " + s.whyNotSupported(st, op, x.sql)
		}
		s.reject(x, e, op, why)
	default:
		op = e.Op
		s.reject(x, e, op, s.whyNotSupported(st, op, x.sql))
	}
}

// whyNotSupported explains a 1235 by what the statement is.
func (s *session) whyNotSupported(st *sqlclass.Statement, op, sql string) string {
	switch st.Class {
	case sqlclass.DDL:
		return s.whyDDL(st, op, sql)
	case sqlclass.LoadData:
		return op + " into a permanent table is never forwarded: run the load on the writer"
	case sqlclass.Plugin:
		return "plugins and components are never installed through write forwarding: run it on each server"
	case sqlclass.Write:
		return "changes a permanent table using temporary table " + s.rs.Temp.RefFromPermanent(s.rs.DB, st) + ", which exists only on the reader: use a permanent staging table, or pass the rows from the application"
	case sqlclass.XA:
		return "XA transactions are not supported with write forwarding: run them against the writer, or turn forwarding off in the session"
	case sqlclass.Savepoint:
		return "savepoints are not supported with write forwarding: remove them, or run the transaction against the writer"
	case sqlclass.LockTables:
		if op == "LOCK TABLES" && !lockWrite(sql) {
			return "LOCK TABLES is not supported with write forwarding; a dump tool's READ locks (mariadb-dump, mysqldump): dump a server directly with --single-transaction for a consistent snapshot (its SAVEPOINT is refused through the proxy), or through the proxy with --skip-lock-tables where tables do not change together"
		}
		if op == "LOCK TABLES" {
			return "LOCK TABLES is not supported with write forwarding: use a transaction with SELECT … FOR UPDATE; a dump file's WRITE locks: restore it on the writer directly, or dump with --skip-add-locks"
		}
		return op + " is not supported with write forwarding: run it on the writer directly"
	case sqlclass.Call:
		return "stored procedures are not called through write forwarding: call it on the writer, or move its statements into the application"
	}
	return "not supported with write forwarding"
}

// lockWrite: a LOCK TABLES statement takes a WRITE lock somewhere.
func lockWrite(sql string) bool {
	for _, w := range strings.FieldsFunc(strings.ToUpper(sql), func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' || r == '\r' }) {
		if w == "WRITE" {
			return true
		}
	}
	return false
}

func (s *session) whyDDL(st *sqlclass.Statement, op, sql string) string {
	up := strings.ToUpper(sql)
	switch {
	case op == "FLUSH":
		return "FLUSH is a server operation, never forwarded: run it on each server that needs it, not through the reader endpoint (mariadb-dump's --lock-all-tables and --master-data send it: dump a server directly)"
	case op == "ALTER TABLE" && (strings.Contains(up, "DISABLE KEYS") || strings.Contains(up, "ENABLE KEYS")):
		return "a dump's ALTER TABLE … DISABLE/ENABLE KEYS: restore dumps on the writer directly, or dump with --skip-disable-keys"
	}
	for _, t := range st.Targets {
		if !s.isTemp(t) {
			continue
		}
		switch op {
		case "DROP TABLE":
			return t.Name + " is a temporary table of this session: write DROP TEMPORARY TABLE, which stays on the reader"
		case "TRUNCATE TABLE":
			return t.Name + " is a temporary table of this session: TRUNCATE is DDL and refused; use DELETE FROM " + t.Name
		}
		return t.Name + " is a temporary table of this session, but " + op + " is DDL and refused even on temporary tables"
	}
	return "DDL and DCL are never forwarded: run schema and account changes on the writer directly"
}

// onReader: the statement ran on the reader.
func (s *session) onReader(x *stmt) {
	s.rs.Apply(route.RanOnReader, route.Fact{InsertID: isInsert(&x.st)})
	switch x.st.Class {
	case sqlclass.Call:
		s.warn(x, WarnCallOnReader, "with forwarding off CALL runs on the read-only reader: a procedure that writes fails there with 1792", "")
	case sqlclass.Read:
		if s.l.onRoute != nil || s.exp != nil {
			ts, ok := sqlclass.Tables(x.sql, s.opt)
			s.routed(x, false, ts, !ok)
		}
		s.readAfterWrite(x)
	}
}

// routed tells Auditor.OnRoute and the exposure report of a read or write
// and its tables.
func (s *session) routed(x *stmt, write bool, ts []sqlclass.TableName, unknown bool) {
	keys := make([]string, len(ts))
	for i, t := range ts {
		keys[i] = s.tableKey(t)
	}
	r := Routed{Statement: Shorten(x.shown, 200), Write: write, Tables: keys, Unknown: unknown}
	if s.l.onRoute != nil {
		s.l.onRoute(r)
	}
	if s.exp != nil {
		s.exposed(r)
	}
}

// isInsert: the statement can set LAST_INSERT_ID() where it runs.
func isInsert(st *sqlclass.Statement) bool {
	return st.Class == sqlclass.Write && (st.Op == "INSERT" || st.Op == "REPLACE")
}

// readAfterWrite looks for reads on the reader that EVENTUAL may serve
// before the reader has the session's own write.
func (s *session) readAfterWrite(x *stmt) {
	if s.level != Eventual || len(s.written)+len(s.txWritten) == 0 {
		return
	}
	ts, ok := sqlclass.Tables(x.sql, s.opt)
	if !ok {
		return
	}
	for _, t := range ts {
		k := s.tableKey(t)
		if w := s.txWritten[k]; w != nil && s.inTx() {
			if !w.warned {
				w.warned = true
				s.warn(x, WarnReadAfterWrite, "with EVENTUAL this read in a transaction runs on the reader and misses the transaction's own uncommitted write to "+t.Name+" (line "+strconv.Itoa(w.line)+"): needs SESSION consistency to see the write", "")
			}
			continue
		}
		if w := s.written[k]; w != nil {
			delete(s.written, k)
			if s.n-w.n > rawWindow {
				continue
			}
			s.warn(x, WarnReadAfterWrite, "needs SESSION consistency to see the write: reads "+t.Name+", written by this session at line "+strconv.Itoa(w.line)+"; with EVENTUAL the reader may not have it yet", "")
		}
	}
}

// forwarded: the statement runs on the writer (proxy.session.forward and
// prepareWriter).
func (s *session) forwarded(x *stmt) {
	s.hasWriter = true
	s.rs.Apply(route.RanOnWriter, route.Fact{InsertID: isInsert(&x.st)})
	if s.inTx() || !s.rs.Autocommit() {
		s.rs.Apply(route.WriterBegin, route.Fact{}) // the writer's IN_TRANS
	}
	iso := s.isoFor()
	if s.inTx() {
		iso = s.txIso
	}
	if iso != "" && iso != "REPEATABLE READ" && iso != s.isoWarned {
		s.isoWarned = iso
		s.warn(x, WarnIsolation, "the session asked for "+iso+", but forwarded statements run at REPEATABLE READ on the writer (reads on the reader keep "+iso+"); fwdproxy adds warning 1105", "")
	}
	if x.st.Class != sqlclass.Write {
		return
	}
	if s.l.onRoute != nil || s.exp != nil {
		s.routed(x, true, x.st.Targets, len(x.st.Targets) == 0)
	}
	if s.exp != nil && !s.inTx() {
		s.exp.Committed(s.l.at) // autocommit
	}
	m := s.written
	if s.inTx() {
		m = s.txWritten
	}
	for _, t := range x.st.Targets {
		m[s.tableKey(t)] = &written{line: x.line, n: s.n}
	}
}

// endTx ends the open transaction (COMMIT, ROLLBACK, implicit commit).
func (s *session) endTx(commit bool) {
	if s.exp != nil {
		if commit {
			s.exp.Committed(s.l.at)
		} else {
			s.exp.Ended()
		}
	}
	if commit {
		for k, w := range s.txWritten {
			s.written[k] = &written{line: w.line, n: s.n}
		}
	}
	clear(s.txWritten)
	s.rs.Apply(route.TxEnd, route.Fact{})
	s.rs.Apply(route.WriterEnded, route.Fact{})
	s.txImplicit, s.txIso = false, ""
}

// begin mirrors proxy.session.begin.
func (s *session) begin(x *stmt) {
	st := &x.st
	if st.Txn.Access == sqlclass.AccessReadWrite {
		s.warn(x, WarnReadWrite, "Aurora answers START TRANSACTION READ WRITE with 1290 for users without SUPER or CONNECTION_ADMIN (fwdproxy only with --aurora-read-write-quirk): plain START TRANSACTION avoids it", "")
	}
	access := s.rs.Access(st.Txn.Access)
	iso := s.isoFor()
	if s.inTx() {
		s.endTx(true) // implicit commit
	}
	s.rs.Apply(route.TxBegin, route.Fact{Access: access})
	s.txIso = iso
}

// end handles COMMIT and ROLLBACK, with AND CHAIN and RELEASE.
func (s *session) end(x *stmt) {
	chain, release := x.st.Txn.Chain, x.st.Txn.Release
	ro, iso := s.rs.TxReadOnly, s.txIso
	s.endTx(x.st.Class == sqlclass.Commit)
	if release {
		s.reset()
		return
	}
	if chain {
		s.rs.Apply(route.TxChain, route.Fact{ReadOnly: ro})
		s.txIso = iso
	}
}

// set follows the proxy's Set handler: the proxy owns
// aurora_replica_read_consistency and the access mode; a rejected item
// fails the whole statement. Its errors are the handler's (proxy/txn.go),
// which route does not hold.
func (s *session) set(x *stmt) {
	// A token's cluster is the writer's, which lint does not know: it
	// takes every token.
	anyToken := func(string) (consistency.Set, error) { return nil, nil }
	out, e := route.CheckSet(&x.st, s.level, s.inTx(), true, anyToken)
	switch {
	case e == nil:
	case e == route.ErrLevelInTx:
		s.reject(x, e, "SET aurora_replica_read_consistency", "switching forwarding on or off inside a transaction is refused: set it before BEGIN")
		return
	case out.Refused == "aurora_replica_read_consistency":
		s.reject(x, e, "SET aurora_replica_read_consistency", "valid values are '', EVENTUAL, SESSION and GLOBAL")
		return
	case out.Refused == "fwdproxy_causal_token":
		s.reject(x, e, "SET fwdproxy_causal_token", "the token is read-only: read it with SELECT @@fwdproxy_causal_token and pass it with SET fwdproxy_read_after")
		return
	case out.Refused == "fwdproxy_session_scope":
		s.reject(x, e, "SET fwdproxy_session_scope", "valid values are connection and user")
		return
	case route.ProxyVars[out.Refused]:
		s.reject(x, e, "SET "+out.Refused, out.Refused+" is read-only in the session; fwdproxy sets it by flag")
		return
	default:
		return // tx_read_only's errors: the server gives them too
	}
	for _, a := range x.st.Assignments {
		switch {
		case a.Scope == sqlclass.ScopeUser:
			if v, ok := literal(a.Value); ok {
				s.userVars[a.Name] = v
			} else {
				delete(s.userVars, a.Name)
			}
		case a.Scope != sqlclass.ScopeSession:
		case a.Name == "autocommit":
			v, ok := sqlclass.BoolValue(a.Value)
			if !ok {
				continue
			}
			if v && !s.rs.Autocommit() {
				s.endTx(true) // autocommit 0 -> 1 commits
			}
			s.rs.Apply(route.ReaderStatus, route.Fact{Autocommit: v})
		case a.Name == "tx_isolation" || a.Name == "transaction_isolation":
			s.rs.Apply(route.SetSession, route.Fact{Isolation: strings.ToUpper(strings.ReplaceAll(sqlclass.Unquote(a.Value), "-", " "))})
		case a.Name == "sql_mode":
			m := "," + strings.ToUpper(strings.ReplaceAll(sqlclass.Unquote(a.Value), "'", ",")) + ","
			s.opt.NoBackslashEscapes = strings.Contains(m, ",NO_BACKSLASH_ESCAPES,")
			s.opt.ANSIQuotes = strings.Contains(m, ",ANSI_QUOTES,") || strings.Contains(m, ",ANSI,")
		}
	}
	if out.SetsLevel {
		if out.Level != s.level {
			clear(s.written) // "just wrote" starts again at the new level
		}
		s.level = out.Level
	}
	s.rs.Apply(route.SetSession, route.Fact{Access: out.Access})
}

// setTransaction mirrors proxy.session.setTransaction.
func (s *session) setTransaction(x *stmt) {
	t := x.st.Txn
	switch {
	case t.Scope == sqlclass.TxnGlobal:
		s.warn(x, WarnSetGlobal, "SET GLOBAL TRANSACTION gets 1227 through fwdproxy (a reader session has no SUPER): change server settings on each server directly", route.ErrSuper.Msg)
		return
	case t.Scope == sqlclass.TxnNext && s.inTx():
		return // 1568 on any server
	case t.Scope == sqlclass.TxnSession:
		s.rs.Apply(route.SetSession, route.Fact{Access: t.Access, Isolation: t.Isolation})
	default:
		s.rs.Apply(route.SetNext, route.Fact{Access: t.Access, Isolation: t.Isolation})
	}
}

// prepareDecision is where the proxy would prepare text: route refuses
// some statements at prepare time, so the client learns early.
func (s *session) prepareDecision(text string, st *sqlclass.Statement) route.Decision {
	state := s.state()
	return route.Decide(&state, route.Input{SQL: text, St: st, Path: route.Prepare})
}

// prepare handles PREPARE name FROM 'text' | @var (proxy textPrepare).
func (s *session) prepare(x *stmt) {
	st := &x.st
	delete(s.prepared, st.Name)
	text := st.PrepareText
	if st.PrepareVar != "" {
		v, ok := s.userVars[st.PrepareVar]
		if !ok {
			s.prepared[st.Name] = &prepared{} // text unknown: its EXECUTE is not judged
			return
		}
		text = v
	}
	inner := sqlclass.Classify(text, s.opt)
	if d := s.prepareDecision(text, &inner); d.Target == route.Reject {
		op := errOp(d.Err, &inner)
		s.reject(x, d.Err, op, "PREPARE of "+op+" is refused at prepare time: "+s.whyPrepare(&inner, op, text))
		return
	}
	s.prepared[st.Name] = &prepared{text: text, st: &inner}
}

func (s *session) whyPrepare(st *sqlclass.Statement, op, sql string) string {
	if st.Class == sqlclass.DDL {
		return s.whyDDL(st, op, sql)
	}
	return "run it on the writer"
}

// execute runs EXECUTE name [USING …] as its prepared text. The proxy takes
// user variables after EXECUTE name as USING: so does lint.
func (s *session) execute(x *stmt) {
	p := s.prepared[x.st.Name]
	if p == nil || p.st == nil {
		return
	}
	switch p.st.Class {
	case sqlclass.Prepare, sqlclass.Execute, sqlclass.Deallocate:
		return // not preparable
	}
	s.statement(&stmt{sql: p.text, shown: x.shown, st: *p.st, line: x.line, via: "EXECUTE " + x.st.Name,
		path: route.SQLExecute, params: len(x.st.UserVars) > 0})
}

// binaryExecute is COM_STMT_EXECUTE (a general log "Execute" line, which
// shows the statement with its parameters bound, so lint cannot tell
// whether it had any: it is judged as without). What route refuses to
// prepare was reported at prepare time already.
func (s *session) binaryExecute(x *stmt) {
	if s.prepareDecision(x.sql, &x.st).Target == route.Reject {
		return
	}
	x.via = "prepared statement"
	s.statement(x)
}

// errOp names what a rejection refuses: the operation a 1235 names, else
// the statement's.
func errOp(e *route.Error, st *sqlclass.Statement) string {
	if e.Op != "" {
		return e.Op
	}
	if st.Op != "" {
		return st.Op
	}
	return "statement"
}

// binaryPrepare is COM_STMT_PREPARE.
func (s *session) binaryPrepare(x *stmt) {
	if d := s.prepareDecision(x.sql, &x.st); d.Target == route.Reject {
		op := errOp(d.Err, &x.st)
		s.reject(x, d.Err, op, "prepared "+op+" is refused at prepare time: "+s.whyPrepare(&x.st, op, x.sql))
	}
}

// reject reports a statement the client gets e for.
func (s *session) reject(x *stmt, e *route.Error, op, why string) {
	s.l.report(s, x, int(e.Code), SeverityError, op, why, e.Msg)
}

func (s *session) warn(x *stmt, op, why, msg string) {
	s.l.report(s, x, 0, SeverityWarning, op, why, msg)
}

// literal returns the value of a quoted SQL string literal.
func literal(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
		return sqlclass.Unquote(v), true
	}
	return "", false
}
