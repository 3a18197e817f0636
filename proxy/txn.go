package proxy

import (
	"errors"
	"strings"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/grants"
	"github.com/fwdproxy/fwdproxy/route"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// inTransaction: the client is inside a transaction, explicit or implicit
// (autocommit=0 with work done), on any backend.
func (s *session) inTransaction() bool {
	if s.txBegun || s.txWriter {
		return true
	}
	return !s.autocommit && s.reader != nil && s.reader.status&statusInTrans != 0
}

// noteStatus learns from a backend's status flags. Only the reader's
// autocommit flag reflects the client's setting (the writer always runs
// autocommit=1 and gets explicit transactions).
func (s *session) noteStatus(b *backend) {
	if b == s.reader {
		s.autocommit = b.status&statusAutocommit != 0
	} else if b == s.writer {
		s.txWriter = b.status&statusInTrans != 0
	}
}

// clientStatus is the status the client should see.
func (s *session) clientStatus(more bool) uint16 {
	var st uint16
	if s.autocommit {
		st |= statusAutocommit
	}
	if s.inTransaction() {
		st |= statusInTrans
		if s.txReadOnly {
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
	if len(s.lastWarn) > 0 && ok.warnings == 0 {
		ok.warnings = uint16(len(s.lastWarn))
	}
	return s.writePacket(appendOK(s.scratch[:0], ok, s.clientCaps&capSessionTrack != 0))
}

func (s *session) writeErr(e *sqlError, more bool) error {
	return s.writePacket(appendErr(s.scratch[:0], e))
}

// begin handles BEGIN / START TRANSACTION. The reader always gets a plain
// START TRANSACTION (never READ WRITE: the reader stays read-only); the
// writer gets its transaction at the first forwarded statement.
func (s *session) begin(st *sqlclass.Statement, more bool) (bool, error) {
	if s.srv.conf().ReadWriteQuirk && st.Txn.Access == sqlclass.AccessReadWrite && !s.privileged() {
		return s.reject(routeErr(route.ErrReadOnly), more)
	}
	access := st.Txn.Access
	if access == sqlclass.AccessDefault {
		access = s.nextAccess
	}
	if access == sqlclass.AccessDefault {
		access = s.sessAccess
	}
	// BEGIN commits an open transaction first (implicit commit).
	if e := s.commitWriter(); e != nil {
		return s.fail(e, more)
	}
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
	begun := func() {
		s.txBegun = true
		s.txReadOnly = access == sqlclass.AccessReadOnly
		s.nextAccess = sqlclass.AccessDefault
		s.nextIso = ""
	}
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
	return s.readerStatement(q, more, begun)
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
		s.txWriter = false
	}
	if !s.txWriter {
		return nil
	}
	if e := s.writerExec("COMMIT"); e != nil {
		return e
	}
	s.txWriter = false
	return nil
}

// endTransaction handles COMMIT and ROLLBACK: the writer first (its result is
// what matters to the client), then the reader.
func (s *session) endTransaction(st *sqlclass.Statement, more bool) (bool, error) {
	commit := st.Class == sqlclass.Commit
	chain, release := st.Txn.Chain, st.Txn.Release
	chainReadOnly := s.txReadOnly
	verb := "ROLLBACK"
	if commit {
		verb = "COMMIT"
	}
	var werr *sqlError
	var wok okPacket
	if s.writer != nil && s.writer.dropAhead() { // the writer transaction never started
		s.txWriter = false
	}
	s.reader.dropAhead() // nor the reader's
	// Without temporary tables the reader's part is read-only: its end cannot
	// fail in a way the client must hear of, so the client does not wait for
	// it (post; the answer is read before the next command's).
	readerQuiet := s.reader.status&statusInTrans != 0 && len(s.tempTables) == 0
	if readerQuiet {
		if err := s.reader.post(append([]byte{comQuery}, verb...)); err != nil {
			return true, s.backendFailed(s.reader, err)
		}
		s.reader.status &^= statusInTrans
	}
	if s.txWriter {
		res, err := s.writer.exec(verb)
		switch e := err.(type) {
		case nil:
			s.noteOwnGTID(res.ok.stateInfo)
			wok = res.ok
		case *sqlError:
			werr = e
		default:
			s.writerLost()
			s.terminated = false
			werr = errTerminated()
			s.srv.Metrics.ReplicaErrorSessionTerminated()
		}
		if s.writer != nil {
			s.txWriter = s.writer.status&statusInTrans != 0
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
	s.txBegun = false
	s.txReadOnly = false
	s.nextAccess = sqlclass.AccessDefault
	s.nextIso = ""
	if werr != nil {
		return s.fail(werr, more)
	}
	if chain { // a new transaction with the same characteristics
		readOnly := chainReadOnly
		q := "START TRANSACTION"
		if readOnly {
			q += " READ ONLY"
		}
		if _, err := s.reader.exec(q); err != nil {
			return s.failWith(s.reader, err, more)
		}
		s.txBegun, s.txReadOnly = true, readOnly
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
func (s *session) set(st *sqlclass.Statement, wait bool, more bool) (bool, error) {
	var relay []string
	var newLevel *consistency.Level
	var access = sqlclass.AccessDefault
	for _, a := range st.Assignments {
		if a.Scope == sqlclass.ScopeSession {
			switch a.Name {
			case "aurora_replica_read_consistency":
				lvl, e := s.checkConsistencySet(a.Value)
				if e != nil {
					return s.reject(e, more)
				}
				newLevel = &lvl
				continue
			case "aurora_fwd_writer_idle_timeout", "aurora_fwd_writer_max_connections_pct":
				return s.reject(routeErr(route.ErrReadOnlyVar(a.Name)), more)
			case "tx_read_only", "transaction_read_only":
				v, ok := sqlclass.BoolValue(a.Value)
				if !ok {
					return s.reject(routeErr(route.ErrBadValue(a.Name, sqlclass.Unquote(a.Value))), more)
				}
				if s.inTransaction() {
					return s.reject(&sqlError{1568, "25001", "Transaction characteristics can't be changed while a transaction is in progress"}, more)
				}
				access = sqlclass.AccessReadWrite
				if v {
					access = sqlclass.AccessReadOnly
				}
				continue
			}
		}
		relay = append(relay, a.Text)
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
		wasAuto := s.autocommit
		res, err := s.reader.exec("SET " + strings.Join(relay, ", "))
		if err != nil {
			return s.failWith(s.reader, err, more)
		}
		s.noteStatus(s.reader)
		s.rememberSet(st)
		if setsSQLMode(st) {
			s.refreshSQLMode()
		}
		// autocommit 0 -> 1 commits the open transaction, explicit or not,
		// on the writer too.
		if !wasAuto && s.autocommit {
			if e := s.commitWriter(); e != nil {
				return s.fail(e, more)
			}
			s.txBegun, s.txReadOnly = false, false
		}
		_ = res
	}
	if newLevel != nil {
		s.setLevel(*newLevel)
	}
	if access != sqlclass.AccessDefault {
		s.sessAccess = access
	}
	return false, s.writeOK(okPacket{}, more)
}

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
	if e := s.writerExec("SET " + strings.Join(texts, ", ")); e != nil {
		return s.fail(e, more)
	}
	if e := s.copyUserVars(s.writer, s.reader, names); e != nil {
		return s.fail(e, more)
	}
	return false, s.writeOK(okPacket{}, more)
}

// checkConsistencySet checks a new level: settable only with forwarding on,
// one of the known values, and not across OFF inside a transaction.
func (s *session) checkConsistencySet(raw string) (consistency.Level, *sqlError) {
	v := sqlclass.Unquote(raw)
	if !s.srv.Forwarding() {
		return 0, routeErr(route.ErrReadOnlyVar("aurora_replica_read_consistency"))
	}
	lvl, ok := parseConsistency(v)
	if !ok {
		return 0, routeErr(route.ErrBadValue("aurora_replica_read_consistency", v))
	}
	if s.inTransaction() && (lvl == 0) != (s.level == 0) {
		return 0, routeErr(route.ErrLevelInTx)
	}
	return lvl, nil
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
		case a.Name == "aurora_replica_read_consistency", a.Name == "tx_read_only", a.Name == "transaction_read_only",
			a.Name == "autocommit", a.Name == "tx_isolation", a.Name == "transaction_isolation":
			if a.Name == "tx_isolation" || a.Name == "transaction_isolation" {
				s.isolation = normIsolation(sqlclass.Unquote(a.Value))
			}
			continue
		}
		s.writerVars = append(s.writerVars, a.Text)
	}
}

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
		if st.Txn.Scope == sqlclass.TxnSession {
			if st.Txn.Access != sqlclass.AccessDefault {
				s.sessAccess = st.Txn.Access
			}
			if st.Txn.Isolation != "" {
				s.isolation = st.Txn.Isolation
			}
		} else {
			if st.Txn.Access != sqlclass.AccessDefault {
				s.nextAccess = st.Txn.Access
			}
			if st.Txn.Isolation != "" {
				s.nextIso = st.Txn.Isolation
			}
		}
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
