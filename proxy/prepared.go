package proxy

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"time"

	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// prepared is a binary prepared statement. It is classified once, at
// prepare time; the reader's prepare gives the metadata, and write-class
// statements are prepared on the writer at their first execute there.
type prepared struct {
	sql       string
	st        sqlclass.Statement
	params    int
	readerID  uint32
	writerID  uint32
	writerGen uint64 // writer connection generation writerID belongs to
	types     []byte // parameter types of the last execute that bound them
	boundR    bool   // the reader has seen types for this statement
	boundW    bool   // the writer has seen types (for writerGen)
	lastOnW   bool   // the last execute ran on the writer (for FETCH)
	ownVars   bool   // @@aurora_* were rewritten to @fwdproxy_arc
}

// textPrepared is a PREPARE … FROM statement.
type textPrepared struct {
	text      string
	st        sqlclass.Statement
	writerGen uint64 // writer generation it was prepared on (0 = not)
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

func put32(b []byte, v uint32) { binary.LittleEndian.PutUint32(b, v) }

// comStmtPrepare prepares on the reader and hands the client its own id.
func (s *session) comStmtPrepare(data []byte) error {
	sql := string(data[1:])
	st := sqlclass.Classify(sql, s.sqlOpt)
	ownVars := false
	if st.Class == sqlclass.Read {
		// The proxy's variables cannot be answered in the binary protocol
		// by the proxy: read them from a user variable set before execute.
		if q, ok := s.rewriteOwnVarsTo(sql, &st, "@fwdproxy_arc"); ok {
			data = append([]byte{comStmtPrepare}, q...)
			ownVars = true
		}
	}
	if e := s.prepareRejection(&st); e != nil {
		s.srv.Metrics.Rejected(e.code)
		return s.writeErr(e, false)
	}
	// The read-only reader refuses to prepare writes (and locking reads).
	// Outside a transaction, lift its guard for the prepare, which changes
	// nothing; inside one (where it cannot be lifted) prepare on the writer.
	b := s.reader
	if writeClass(&st) {
		if !s.reader.inTrans() {
			if _, err := s.reader.exec("SET SESSION " + s.srv.dialect.readOnlyVar + " = 0"); err != nil {
				_, err = s.readerExecFailed(err, false)
				return err
			}
			defer func() {
				if _, err := s.reader.exec("SET SESSION " + s.srv.dialect.readOnlyVar + " = 1"); err != nil {
					s.reader.io.conn.Close() // never leave the guard down
				}
			}()
		} else if s.forwardingActive() {
			if e := s.prepareWriter(&sqlclass.Statement{}); e != nil {
				return s.writeErr(e, false)
			}
			b = s.writer
		}
	}
	if err := b.send(data); err != nil {
		return s.backendFailed(b, err)
	}
	first, err := b.readPacket()
	if err != nil {
		return s.backendFailed(b, err)
	}
	if first[0] == 0xff {
		return s.writePacket(first)
	}
	if len(first) < 12 {
		return s.backendFailed(b, errors.New("malformed prepare response"))
	}
	s.nextStmtID++
	p := &prepared{
		sql:     sql,
		st:      st,
		params:  int(binary.LittleEndian.Uint16(first[7:])),
		ownVars: ownVars,
	}
	if b == s.reader {
		p.readerID = le32(first[1:])
	} else {
		p.writerID, p.writerGen = le32(first[1:]), s.writerGen
	}
	cols := int(binary.LittleEndian.Uint16(first[5:]))
	s.stmts[s.nextStmtID] = p
	put32(first[1:], s.nextStmtID)
	if err := s.writePacket(first); err != nil {
		return err
	}
	n := 0
	if p.params > 0 {
		n += p.params + 1
	}
	if cols > 0 {
		n += cols + 1
	}
	return s.checkRelay(b, s.relayPackets(b, n))
}

// prepareRejection: statements Aurora refuses are refused at prepare time
// too, so the client learns early.
func (s *session) prepareRejection(st *sqlclass.Statement) *sqlError {
	switch st.Class {
	case sqlclass.DDL:
		return errNotSupported(opOr(st.Op, "DDL"))
	case sqlclass.Plugin:
		return errNotSupported(opOr(st.Op, "INSTALL PLUGIN"))
	case sqlclass.LoadData:
		return errNotSupported(opOr(st.Op, "LOAD DATA"))
	}
	return nil
}

// lookupStmt finds a client statement id in a command packet.
func (s *session) lookupStmt(data []byte) (*prepared, uint32) {
	if len(data) < 5 {
		return nil, 0
	}
	id := le32(data[1:])
	return s.stmts[id], id
}

func errUnknownStmt(id uint32, cmd string) *sqlError {
	return newError(1243, "Unknown prepared statement handler (%d) given to %s", id, cmd)
}

// comStmtExecute routes by the statement's class, fixing the statement id
// and, when the target has not seen them, the parameter types.
func (s *session) comStmtExecute(data []byte) error {
	p, id := s.lookupStmt(data)
	if p == nil {
		return s.writeErr(errUnknownStmt(id, "mysqld_stmt_execute"), false)
	}
	if s.terminated {
		return s.writeErr(s.takeTerminated(), false)
	}
	s.lastWarn = s.lastWarn[:0]
	if handled, err := s.executeSessionStatement(p, data); handled {
		return err
	}
	if p.ownVars {
		// The proxy's variables were turned into a user variable at prepare.
		if _, err := s.reader.exec("SET @fwdproxy_arc = " + quoteLiteral(s.level.String())); err != nil {
			_, err = s.readerExecFailed(err, false)
			return err
		}
	}
	onWriter := false
	switch p.st.Class {
	case sqlclass.Read, sqlclass.Empty, sqlclass.Session:
		if s.txWriter && s.level.Waits() {
			onWriter = true
		} else if fallback, e := s.waitForRead(); e != nil {
			return s.writeErr(e, false)
		} else {
			onWriter = fallback
		}
	case sqlclass.LockingRead:
		onWriter = s.forwardingActive()
	default:
		if s.allTemp(p.st.Targets) {
			break
		}
		if s.refsTempOnPermanent(&p.st) {
			return s.writeErr(errNotSupported("DML on a permanent table that references a temporary table"), false)
		}
		if s.readOnlyAccess() {
			s.srv.Metrics.Rejected(1792)
			return s.writeErr(errReadOnlyTx(), false)
		}
		if !s.forwardingActive() {
			s.srv.Metrics.Rejected(1290)
			return s.writeErr(errReadOnly(), false)
		}
		onWriter = true
	}
	if !onWriter {
		s.lastForwarded = false
		data = s.fixExecute(data, p, p.readerID, &p.boundR)
		p.lastOnW = false
		return s.relayCommand(s.reader, data)
	}
	if e := s.prepareWriter(&p.st); e != nil {
		return s.writeErr(e, false)
	}
	if e := s.writerPrepare(p); e != nil {
		return s.writeErr(e, false)
	}
	data = s.fixExecute(data, p, p.writerID, &p.boundW)
	p.lastOnW = true
	start := time.Now()
	if err := s.writer.ask(data); err != nil {
		return s.writeErr(s.writerFailed(err), false)
	}
	s.armForwardTimeout()
	res, err := s.relay(s.writer, comStmtExecute, false)
	s.disarmForwardTimeout()
	if err != nil {
		if _, ok := err.(*clientErr); ok {
			return err
		}
		return s.writeErr(s.writerFailed(err), false)
	}
	s.afterForward(&res, &p.st, time.Since(start))
	return nil
}

// executeSessionStatement runs prepared statements that change the session
// rather than data, the way their text form runs: SET on the reader (and
// remembered for the writer), transaction control through the proxy.
func (s *session) executeSessionStatement(p *prepared, data []byte) (bool, error) {
	noParams := p.params == 0
	var err error
	switch p.st.Class {
	case sqlclass.Set:
		if noParams {
			_, err = s.set(&p.st, false)
			return true, err
		}
		// SET @a = ? and the like: on the reader, where user variables live.
		return true, s.relayCommand(s.reader, s.fixExecute(data, p, p.readerID, &p.boundR))
	case sqlclass.SetTransaction:
		if noParams {
			_, err = s.setTransaction(&p.st, false)
			return true, err
		}
	case sqlclass.Begin:
		_, err = s.begin(&p.st, false)
		return true, err
	case sqlclass.Commit, sqlclass.Rollback:
		_, err = s.endTransaction(p.sql, p.st.Class == sqlclass.Commit, false)
		return true, err
	case sqlclass.Call, sqlclass.XA, sqlclass.Savepoint, sqlclass.LockTables:
		if s.forwardingActive() {
			s.srv.Metrics.Rejected(1235)
			return true, s.writeErr(errNotSupported(opOr(p.st.Op, p.st.Class.String())), false)
		}
		return true, s.relayCommand(s.reader, s.fixExecute(data, p, p.readerID, &p.boundR))
	case sqlclass.Use, sqlclass.SetGlobal, sqlclass.Prepare, sqlclass.Execute, sqlclass.Deallocate:
		if noParams {
			_, err = s.statement(p.sql, nil, false)
			return true, err
		}
	}
	return false, nil
}

// writerPrepare prepares p on the current writer connection if needed.
func (s *session) writerPrepare(p *prepared) *sqlError {
	if p.writerID != 0 && p.writerGen == s.writerGen {
		return nil
	}
	pl := append([]byte{comStmtPrepare}, p.sql...)
	if err := s.writer.send(pl); err != nil {
		s.writerLost()
		return errWriterUnreachable()
	}
	first, err := s.writer.readPacket()
	if err != nil {
		s.writerLost()
		return errWriterUnreachable()
	}
	if first[0] == 0xff {
		return parseErr(first)
	}
	p.writerID = le32(first[1:])
	p.writerGen = s.writerGen
	p.boundW = false
	cols := int(binary.LittleEndian.Uint16(first[5:]))
	params := int(binary.LittleEndian.Uint16(first[7:]))
	n := 0
	if params > 0 {
		n += params + 1
	}
	if cols > 0 {
		n += cols + 1
	}
	for i := 0; i < n; i++ {
		if _, err := s.writer.readPacket(); err != nil {
			s.writerLost()
			return errWriterUnreachable()
		}
	}
	return nil
}

// fixExecute puts the backend's statement id into an execute packet and,
// when the client relies on types bound earlier (new-params-bound = 0) that
// this backend never saw, inserts them.
func (s *session) fixExecute(data []byte, p *prepared, backendID uint32, bound *bool) []byte {
	put32(data[1:], backendID)
	if p.params == 0 {
		return data
	}
	nb := (p.params + 7) / 8
	flagPos := 10 + nb
	if len(data) <= flagPos {
		return data
	}
	if data[flagPos] == 1 {
		if len(data) >= flagPos+1+2*p.params {
			p.types = append(p.types[:0], data[flagPos+1:flagPos+1+2*p.params]...)
			// Types changed: the other backend must get them again.
			p.boundR, p.boundW = false, false
		}
		*bound = true
		return data
	}
	if *bound || len(p.types) != 2*p.params {
		return data
	}
	out := make([]byte, 0, len(data)+len(p.types))
	out = append(out, data[:flagPos]...)
	out = append(out, 1)
	out = append(out, p.types...)
	out = append(out, data[flagPos+1:]...)
	*bound = true
	return out
}

// comStmtSendLong sends long data where the statement will execute. No reply.
func (s *session) comStmtSendLong(data []byte) error {
	p, _ := s.lookupStmt(data)
	if p == nil {
		return nil
	}
	b := s.reader
	id := p.readerID
	if p.st.Class != sqlclass.Read && s.forwardingActive() && !s.allTemp(p.st.Targets) {
		if e := s.prepareWriter(&p.st); e != nil {
			return nil // the execute will report it
		}
		if e := s.writerPrepare(p); e != nil {
			return nil
		}
		b, id = s.writer, p.writerID
	}
	put32(data[1:], id)
	if err := b.send(data); err != nil {
		return s.backendFailed(b, err)
	}
	return nil
}

// comStmtClose closes the statement everywhere. No reply.
func (s *session) comStmtClose(data []byte) error {
	p, id := s.lookupStmt(data)
	if p == nil {
		return nil
	}
	delete(s.stmts, id)
	if p.readerID != 0 {
		put32(data[1:], p.readerID)
		if err := s.reader.send(data); err != nil {
			return s.backendFailed(s.reader, err)
		}
	}
	if s.writer != nil && p.writerID != 0 && p.writerGen == s.writerGen {
		put32(data[1:], p.writerID)
		if err := s.writer.send(data); err != nil {
			s.writerLost()
		}
	}
	return nil
}

// comStmtReset resets long data and cursors on every backend that has the
// statement, and answers with the reader's reply.
func (s *session) comStmtReset(data []byte) error {
	p, id := s.lookupStmt(data)
	if p == nil {
		return s.writeErr(errUnknownStmt(id, "mysqld_stmt_reset"), false)
	}
	if s.writer != nil && p.writerID != 0 && p.writerGen == s.writerGen {
		put32(data[1:], p.writerID)
		if _, err := s.writer.execCommand(data); err != nil {
			if _, ok := err.(*sqlError); !ok {
				s.writerLost()
			}
		}
	}
	put32(data[1:], p.readerID)
	return s.relayCommand(s.reader, data)
}

// comStmtFetch reads more rows of a cursor from where the execute ran.
func (s *session) comStmtFetch(data []byte) error {
	p, id := s.lookupStmt(data)
	if p == nil {
		return s.writeErr(errUnknownStmt(id, "mysqld_stmt_fetch"), false)
	}
	b := s.reader
	put32(data[1:], p.readerID)
	if p.lastOnW && s.writer != nil {
		b = s.writer
		put32(data[1:], p.writerID)
	}
	if err := b.send(data); err != nil {
		return s.backendFailed(b, err)
	}
	var last []byte
	if err := s.relayRows(b, &last); err != nil {
		return s.checkRelay(b, err)
	}
	if last[0] == 0xfe {
		if len(last) >= 5 {
			st := s.fixStatus(uint16(last[3])|uint16(last[4])<<8, false)
			last[3], last[4] = byte(st), byte(st>>8)
		} else {
			last = appendEOF(s.scratch[:0], 0, s.fixStatus(0, false))
		}
	}
	return s.writePacket(last)
}

// textPrepare handles PREPARE name FROM 'text' | @var: the reader prepares it
// (so errors and reads work there); the class of the text decides EXECUTE.
func (s *session) textPrepare(payload []byte, st *sqlclass.Statement, more bool) (bool, error) {
	text := st.PrepareText
	if st.PrepareVar != "" {
		res, err := s.reader.exec("SELECT @" + quoteIdent(st.PrepareVar))
		if err != nil {
			return s.readerExecFailed(err, more)
		}
		v, _ := res.value()
		text = v.s
	}
	inner := sqlclass.Classify(text, s.sqlOpt)
	if e := s.prepareRejection(&inner); e != nil {
		return s.reject(e, more)
	}
	var failed bool
	var err error
	if writeClass(&inner) {
		// The read-only reader refuses to prepare writes: lift the guard
		// for the prepare (it changes nothing); it never executes there.
		failed, err = s.toReaderWritable(payload, more)
	} else {
		failed, err = s.toReader(payload, more)
	}
	if err == nil && !failed {
		s.textStmts[lowerASCII(st.Name)] = textPrepared{text: text, st: inner}
	}
	return failed, err
}

// writeClass: statements whose execution needs a writable backend.
func writeClass(st *sqlclass.Statement) bool {
	switch st.Class {
	case sqlclass.Read, sqlclass.Empty, sqlclass.Session:
		return false
	}
	return true
}

// textExecute runs EXECUTE on the reader or the writer by the prepared
// text's class; user variables in USING travel with it.
func (s *session) textExecute(payload []byte, st *sqlclass.Statement, more bool) (bool, error) {
	tp, ok := s.textStmts[lowerASCII(st.Name)]
	if !ok {
		return s.toReader(payload, more) // the reader reports 1243
	}
	inner := tp.st
	inner.UserVars = append(append([]string(nil), inner.UserVars...), st.UserVars...)
	switch inner.Class {
	case sqlclass.Read, sqlclass.Empty, sqlclass.Session:
		return s.read(payload, &inner, more)
	case sqlclass.Call, sqlclass.XA, sqlclass.Savepoint, sqlclass.LockTables:
		if s.forwardingActive() {
			return s.reject(errNotSupported(opOr(inner.Op, inner.Class.String())), more)
		}
		return s.toReader(payload, more)
	case sqlclass.Begin:
		return s.begin(&inner, more)
	case sqlclass.Commit, sqlclass.Rollback:
		return s.endTransaction(tp.text, inner.Class == sqlclass.Commit, more)
	case sqlclass.SetTransaction:
		return s.setTransaction(&inner, more)
	case sqlclass.Set:
		if len(st.UserVars) == 0 {
			return s.set(&inner, more)
		}
		return s.toReader(payload, more)
	case sqlclass.LockingRead:
		if !s.forwardingActive() {
			return s.toReader(payload, more)
		}
	default:
		if s.allTemp(inner.Targets) {
			return s.toReaderWritable(payload, more)
		}
		if s.refsTempOnPermanent(&inner) {
			return s.reject(errNotSupported("DML on a permanent table that references a temporary table"), more)
		}
		if s.readOnlyAccess() {
			return s.reject(errReadOnlyTx(), more)
		}
		if !s.forwardingActive() {
			return s.reject(errReadOnly(), more)
		}
	}
	if e := s.prepareWriter(&inner); e != nil {
		return s.fail(e, more)
	}
	if tp.writerGen != s.writerGen {
		// Through a hex literal: correct whatever the writer's sql_mode.
		if e := s.writerExec("SET @fwdproxy_prepare = X'" + hex.EncodeToString([]byte(tp.text)) + "'"); e != nil {
			return s.fail(e, more)
		}
		if e := s.writerExec("PREPARE " + quoteIdent(st.Name) + " FROM @fwdproxy_prepare"); e != nil {
			return s.fail(e, more)
		}
		tp.writerGen = s.writerGen
		s.textStmts[lowerASCII(st.Name)] = tp
	}
	return s.forward(payload, &inner, more)
}

// textDeallocate drops the statement on the reader and, if there, the writer.
func (s *session) textDeallocate(payload []byte, st *sqlclass.Statement, more bool) (bool, error) {
	key := lowerASCII(st.Name)
	if tp, ok := s.textStmts[key]; ok && tp.writerGen == s.writerGen && s.writer != nil {
		_ = s.writerExec("DEALLOCATE PREPARE " + quoteIdent(st.Name))
	}
	delete(s.textStmts, key)
	return s.toReader(payload, more)
}
