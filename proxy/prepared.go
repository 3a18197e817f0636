package proxy

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/proxy/wire"
	"github.com/fwdproxy/fwdproxy/route"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// prepared is a binary prepared statement. It is classified once, at
// prepare time, and prepared on each backend the routing sends it to, the
// first time it goes there.
type prepared struct {
	sql       string // the client's text
	prep      string // the text backends prepare (own variables rewritten)
	st        sqlclass.Statement
	params    int
	readerID  uint32 // 0: not prepared on the reader (yet)
	writerID  uint32
	writerGen uint64         // writer connection generation writerID belongs to
	types     []byte         // parameter types of the last execute that bound them
	boundR    bool           // the reader has seen types for this statement
	boundW    bool           // the writer has seen types (for writerGen)
	lastOnW   bool           // the last execute ran on the writer (for FETCH)
	cursor    bool           // its last execute left a cursor open on the reader (pins the session)
	ownVars   bool           // the proxy's variables were rewritten (rewriteOwnVarsTo)
	boundSet  bool           // a SET prepared as its bound values (route.BoundSet): executes run it as text
	db        string         // the database at prepare time, where the server resolves its names
	meta      wire.MetaCache // the column definitions the client holds (MARIADB_CLIENT_CACHE_METADATA)
}

// textPrepared is a PREPARE … FROM statement.
type textPrepared struct {
	text      string
	st        sqlclass.Statement
	onReader  bool   // prepared on the reader
	writerGen uint64 // writer generation it was prepared on (0 = not)
	db        string // the database at PREPARE, where the server resolves its names
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

func put32(b []byte, v uint32) { binary.LittleEndian.PutUint32(b, v) }

// comStmtPrepare prepares where the routing rule says, so that metadata and
// syntax errors come from a server, and hands the client its own id.
func (s *session) comStmtPrepare(data []byte) (err error) {
	var retry bool
	s.lastStmtID = 0 // a failed prepare leaves no last statement
	sql := string(data[1:])
	st := sqlclass.Classify(sql, s.sqlOpt)
	st.Qualify(s.state.DB)
	p := &prepared{sql: sql, prep: sql, st: st, db: s.state.DB}
	d := s.decide(sql, &p.st, route.Prepare, sqlclass.Params(sql, s.sqlOpt) > 0)
	switch d.Rewrite {
	case route.OwnVarValues:
		// Each execute sets the session's level and access mode first.
		if q, ok := s.rewriteOwnVarsTo(sql, &st, true); ok {
			data = append([]byte{comStmtPrepare}, q...)
			p.prep, p.ownVars = q, true
		}
	case route.BoundSet:
		p.prep, p.boundSet = s.boundSetHolders(&st), true
		data = append([]byte{comStmtPrepare}, p.prep...)
	}
	var b *backend
	failed := func(err error) error { return s.backendFailed(b, err) }
	switch d.Target {
	case route.Reject:
		_, err := s.reject(routeErr(d.Err), false)
		return err
	case route.Proxy: // LocalPrepare: its executes never reach a backend
		s.nextStmtID++
		s.stmts[s.nextStmtID], s.lastStmtID = p, s.nextStmtID
		pkt := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
		put32(pkt[1:], s.nextStmtID)
		return s.writePacket(pkt)
	case route.Writer:
		began := !s.state.TxWriter
		if e := s.prepareWriter(&sqlclass.Statement{}); e != nil {
			return s.writeErr(e, false)
		}
		b = s.writer
		defer func() {
			if retry {
				err = s.prepareAgain(data)
			}
		}()
		failed = func(err error) error {
			if wire.ClientFailed(err) || s.resending {
				return s.backendFailed(b, err)
			}
			// Nothing of the client's ran (a BEGIN sent ahead with the
			// prepare only opened the transaction): prepare again on the
			// writer as it is now.
			if began {
				s.state.Apply(route.WriterEnded, route.Fact{})
			}
			if e := s.writerFailed(err, false); e != errUnsent {
				return s.writeErr(e, false)
			}
			retry = true
			return nil
		}
	default:
		if s.srv.readers != nil && s.reader == nil && !s.reattachReader() {
			return s.prepareWithoutReader(d, data, p)
		}
		b = s.reader
	}
	if d.Target == route.ReaderWritable {
		lifted, err := s.liftGuard()
		if err != nil {
			_, err = s.failWith(s.reader, err, false)
			return err
		}
		if lifted {
			defer func() { _ = s.restoreGuard() }()
		}
	}
	lost, err := s.prepareOn(b, data, p)
	if lost && b == s.reader && s.srv.readers != nil && d.Target == route.Reader && s.mayMoveQuietly() {
		// The reader was lost before any of the answer reached the client, and the
		// session holds nothing there: it moves, and prepares on its new reader.
		if _, moved := s.readerGone(); !moved {
			return s.prepareWithoutReader(d, data, p)
		}
		s.srv.log.Debug("prepare retried on another reader", zap.Uint32("session", s.id), zap.Error(err))
		b = s.reader
		lost, err = s.prepareOn(b, data, p)
	}
	if lost {
		return failed(err)
	}
	return err
}

// prepareOn prepares on b and relays the answer with the client's id in
// place of b's. lost: b failed before any of the answer reached the client,
// and err is that failure, not answered yet.
func (s *session) prepareOn(b *backend, data []byte, p *prepared) (lost bool, err error) {
	if err := b.send(data); err != nil {
		return true, err
	}
	r := wire.NewRelay(b.conn, s.client, comStmtPrepare, false)
	if s.client.CacheMetadata {
		r.Meta = &p.meta
	}
	part, err := r.Next()
	if err != nil {
		return true, err
	}
	if part == wire.PartErr {
		return false, s.writePacket(r.Packet)
	}
	s.nextStmtID++
	p.params = int(r.Prepared.Params)
	if b == s.reader {
		p.readerID = r.Prepared.ID
	} else {
		p.writerID, p.writerGen = r.Prepared.ID, s.writerGen
	}
	s.stmts[s.nextStmtID], s.lastStmtID = p, s.nextStmtID
	put32(r.Packet[1:], s.nextStmtID)
	if err := s.writePacket(r.Packet); err != nil {
		return false, err
	}
	_, err = r.Next() // the parameter and column definitions
	return false, s.checkRelay(b, err)
}

// mayMoveQuietly: the session's reader holds nothing the client would
// have to hear of losing (a transaction, temporary tables, a user lock, a
// cursor, user variables), so a statement it had not answered may run
// again on another reader.
func (s *session) mayMoveQuietly() bool {
	return !s.pinned() && len(s.ep.userVars) == 0
}

// prepareWithoutReader answers a PREPARE for the reader while no reader
// answers: a read is prepared on the writer under --no-reader-policy
// writer (its executes follow the policy too), else 3024 at once; the
// connection stays usable either way.
func (s *session) prepareWithoutReader(d route.Decision, data []byte, p *prepared) error {
	if d.Target != route.Reader || p.st.Class != sqlclass.Read || s.srv.conf().NoReaderPolicy != "writer" {
		return s.writeErr(errNoReader(), false)
	}
	if e := s.prepareWriter(&sqlclass.Statement{}); e != nil {
		return s.writeErr(e, false)
	}
	lost, err := s.prepareOn(s.writer, data, p)
	if lost {
		return s.backendFailed(s.writer, err)
	}
	return err
}

// backendPrepare prepares sql on b for the proxy's own use: the metadata
// is read and dropped. A *sqlError is the server's refusal.
func backendPrepare(b *backend, sql string) (uint32, error) {
	if err := b.send(append([]byte{comStmtPrepare}, sql...)); err != nil {
		return 0, err
	}
	first, err := b.readPacket()
	if err != nil {
		return 0, err
	}
	if first[0] == 0xff {
		return 0, parseErr(first)
	}
	ok, valid := wire.ParsePrepareOK(first)
	if !valid {
		return 0, errors.New("malformed prepare response")
	}
	for n := ok.MetaPackets(); n > 0; n-- {
		if _, err := b.readPacket(); err != nil {
			return 0, err
		}
	}
	return ok.ID, nil
}

// lookupStmt finds a client statement id in a command packet. MariaDB's
// id -1 is the statement prepared last (the npm mariadb connector sends a
// PREPARE and its first EXECUTE together so).
func (s *session) lookupStmt(data []byte) (*prepared, uint32) {
	if len(data) < 5 {
		return nil, 0
	}
	id := le32(data[1:])
	if id == lastStmt && s.lastStmtID != 0 {
		id = s.lastStmtID
	}
	return s.stmts[id], id
}

// lastStmt is the statement id that names the statement prepared last.
const lastStmt = 0xffffffff

func errUnknownStmt(id uint32, cmd string) *sqlError {
	return newError(1243, "Unknown prepared statement handler (%d) given to %s", id, cmd)
}

// comStmtExecute runs a prepared statement where the routing rule says,
// as its text form would run. A bulk execute (many rows of parameters)
// goes where an execute of the statement would.
func (s *session) comStmtExecute(data []byte) error {
	p, id := s.lookupStmt(data)
	if p == nil {
		cmd := "mysqld_stmt_execute"
		if data[0] == comStmtBulkExecute {
			cmd = "mysqld_stmt_bulk_execute"
		}
		return s.writeErr(errUnknownStmt(id, cmd), false)
	}
	if s.state.Terminated {
		return s.writeErr(s.takeTerminated(), false)
	}
	s.forgetWarnings(&p.st)
	d := s.decide(p.sql, &p.st, route.Binary, p.params > 0)
	s.executing = p
	defer func() { s.executing = nil }()
	_, err := s.execute(d, &job{sql: p.sql, st: p.st, payload: data, bin: p, bound: p.params > 0})
	return err
}

// prepareAgain prepares once more after the writer connection failed under
// a prepare (comStmtPrepare), once the watch had a look (forwardAgain).
func (s *session) prepareAgain(data []byte) error {
	s.letWatchLook()
	s.resending = true
	defer func() { s.resending = false }()
	return s.comStmtPrepare(data)
}

// readyBinary fixes an execute packet for b: b's statement id, the
// parameter types b has not seen, the proxy's variables b must read.
func (s *session) readyBinary(x *job, b *backend) ([]byte, error) {
	p := x.bin
	id, err := s.stmtID(p, b)
	if err != nil {
		return nil, err
	}
	if p.ownVars {
		if _, err := b.exec(s.ownVarsSQL()); err != nil {
			return nil, err
		}
	}
	bound := &p.boundR
	if b == s.writer {
		bound = &p.boundW
	}
	p.lastOnW = b == s.writer
	return s.fixExecute(x.payload, p, id, bound), nil
}

// stmtID is p's id on b, preparing it there first if needed.
func (s *session) stmtID(p *prepared, b *backend) (uint32, error) {
	if b == s.writer {
		if e := s.writerPrepare(p); e != nil {
			return 0, e
		}
		return p.writerID, nil
	}
	if p.readerID == 0 {
		var id uint32
		err := s.inDatabase(s.reader, p.db, func() (err error) {
			id, err = backendPrepare(s.reader, p.prep)
			return err
		})
		if err != nil {
			return 0, err
		}
		p.readerID, p.boundR = id, false
	}
	return p.readerID, nil
}

// writerPrepare prepares p on the current writer connection if needed.
func (s *session) writerPrepare(p *prepared) *sqlError {
	if p.writerID != 0 && p.writerGen == s.writerGen {
		return nil
	}
	s.watchWriter(false)
	var id uint32
	err := s.inDatabase(s.writer, p.db, func() (err error) {
		id, err = backendPrepare(s.writer, p.prep)
		return err
	})
	s.unwatchWriter()
	if se, ok := err.(*sqlError); ok {
		return se
	}
	if err != nil {
		return s.writerFailed(err, false)
	}
	p.writerID, p.writerGen, p.boundW = id, s.writerGen, false
	return nil
}

// inDatabase runs fn on b with db as its current database: a prepare in
// the database the client prepared in (the server resolves a statement's
// names, at PREPARE and at each EXECUTE, in the database that was current
// when it was prepared), or one of the proxy's own questions under
// CLIENT_NO_SCHEMA, where the server reads every db.table as a table of
// the current database. The writer is put back by syncWriter before its
// next statement; the reader at once, and a reader that cannot go back
// counts as lost, so that no statement runs in the wrong database.
func (s *session) inDatabase(b *backend, db string, fn func() error) error {
	if b == s.writer {
		if db != "" && s.writerDB != db {
			if e := s.writerExec("USE " + quoteIdent(db)); e != nil {
				return e
			}
			s.writerDB = db
		}
		return fn()
	}
	// The reader follows the session's database. With none (the database
	// was dropped under it) it cannot go back, so it stays where it is.
	if db == "" || db == s.state.DB || s.state.DB == "" {
		return fn()
	}
	if _, err := b.exec("USE " + quoteIdent(db)); err != nil {
		return err
	}
	err := fn()
	if _, e := b.exec("USE " + quoteIdent(s.state.DB)); e != nil {
		// Closed, and not an SQL error: the session has lost this reader.
		_ = b.conn.NetConn().Close()
		return fmt.Errorf("reader cannot return to database %s: %v", s.state.DB, e)
	}
	return err
}

// fixExecute puts the backend's statement id into an execute packet and,
// when the client relies on types bound earlier (new-params-bound = 0) that
// this backend never saw, inserts them.
func (s *session) fixExecute(data []byte, p *prepared, backendID uint32, bound *bool) []byte {
	put32(data[1:], backendID)
	if p.params == 0 {
		return data
	}
	if data[0] == comStmtBulkExecute {
		return fixBulkExecute(data, p, bound)
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

// fixBulkExecute is fixExecute's types for a bulk execute: id, 2 bytes of
// flags, then the types when the flags have bulkSendTypes.
func fixBulkExecute(data []byte, p *prepared, bound *bool) []byte {
	if len(data) < 7 {
		return data
	}
	flags := binary.LittleEndian.Uint16(data[5:])
	if flags&bulkSendTypes != 0 {
		if len(data) >= 7+2*p.params {
			p.types = append(p.types[:0], data[7:7+2*p.params]...)
			p.boundR, p.boundW = false, false
		}
		*bound = true
		return data
	}
	if *bound || len(p.types) != 2*p.params {
		return data
	}
	out := make([]byte, 0, len(data)+len(p.types))
	out = append(out, data[:5]...)
	out = binary.LittleEndian.AppendUint16(out, flags|bulkSendTypes)
	out = append(out, p.types...)
	out = append(out, data[7:]...)
	*bound = true
	return out
}

// bulkSendTypes is the bulk execute flag that says parameter types follow.
const bulkSendTypes = 128

// comStmtSendLong sends long data where the execute will run. No reply:
// a failure here is the execute's to report.
func (s *session) comStmtSendLong(data []byte) error {
	p, _ := s.lookupStmt(data)
	if p == nil {
		return nil
	}
	b := s.reader
	switch d := s.decide(p.sql, &p.st, route.LongData, p.params > 0); d.Target {
	case route.Writer:
		if e := s.prepareWriter(&p.st); e != nil {
			return nil
		}
		b = s.writer
	case route.WriterAside:
		b = s.writer
	case route.Reject, route.Proxy:
		return nil
	}
	id, err := s.stmtID(p, b)
	if err != nil {
		if _, ok := err.(*sqlError); ok {
			return nil
		}
		return s.backendFailed(b, err)
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
	if id == s.lastStmtID {
		s.lastStmtID = 0
	}
	p.cursor = false
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
	p.cursor = false // the reset closes it
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
	r := wire.NewRelay(b.conn, s.client, comStmtFetch, false)
	part, err := r.Next()
	if err != nil {
		return s.checkRelay(b, err)
	}
	if part == wire.PartErr {
		return s.writePacket(r.Packet)
	}
	st, _ := r.EOFStatus()
	if st&statusLastRowSent != 0 && b == s.reader {
		p.cursor = false // the server closes a cursor with its last row
	}
	return r.WriteEOF(s.fixStatus(st, false))
}

// textPrepare handles PREPARE name FROM 'text' | @var: it is prepared
// where the routing rule says for the text; EXECUTE prepares it on the
// other backend when it runs there.
func (s *session) textPrepare(x *job) (bool, error) {
	st, more := &x.st, x.more
	text := st.PrepareText
	if st.PrepareVar != "" {
		res, err := s.reader.exec("SELECT @" + quoteIdent(st.PrepareVar))
		if err != nil {
			return s.failWith(s.reader, err, more)
		}
		v, _ := res.value()
		text = v.s
	}
	tp := textPrepared{text: text, st: sqlclass.Classify(text, s.sqlOpt), db: s.state.DB}
	tp.st.Qualify(s.state.DB)
	var failed bool
	var err error
	switch d := s.decide(text, &tp.st, route.Prepare, false); d.Target {
	case route.Reject:
		return s.reject(routeErr(d.Err), more)
	case route.Proxy: // LocalPrepare: its executes never reach a backend
		err = s.writeOK(okPacket{info: statementPrepared}, more)
	case route.Writer:
		if e := s.prepareWriter(&sqlclass.Statement{}); e != nil {
			return s.fail(e, more)
		}
		if e := s.prepareTextOn(s.writer, st.Name, text); e != nil {
			return s.failWith(s.writer, e, more)
		}
		tp.writerGen = s.writerGen
		err = s.writeOK(okPacket{info: statementPrepared}, more)
	case route.ReaderWritable:
		failed, err = s.toReaderWritable(x)
		tp.onReader = true
	default:
		failed, err = s.toReader(x)
		tp.onReader = true
	}
	if err == nil && !failed {
		s.textStmts[lowerASCII(st.Name)] = tp
	}
	return failed, err
}

// statementPrepared is the server's info text for PREPARE, which clients print.
var statementPrepared = []byte("Statement prepared")

// textExecute runs EXECUTE name where the routing rule says for the
// prepared text; user variables in USING travel with it.
func (s *session) textExecute(x *job) (bool, error) {
	tp, ok := s.textStmts[lowerASCII(x.st.Name)]
	if !ok {
		return s.toReader(x) // the reader reports 1243
	}
	using := len(x.st.UserVars) > 0
	y := job{sql: tp.text, st: tp.st, payload: x.payload, more: x.more, text: x.st.Name, bound: using, using: x.st.UserVars}
	y.st.UserVars = append(append([]string(nil), tp.st.UserVars...), x.st.UserVars...)
	d := s.decide(tp.text, &y.st, route.SQLExecute, using)
	return s.carry(d, &y) // counted as the EXECUTE, where it ran
}

// readyText prepares the statement PREPAREd as name on b, if b lacks it.
func (s *session) readyText(name string, b *backend) error {
	key := lowerASCII(name)
	tp := s.textStmts[key]
	if b == s.writer {
		if tp.writerGen == s.writerGen {
			return nil
		}
		tp.writerGen = s.writerGen
	} else {
		if tp.onReader {
			return nil
		}
		tp.onReader = true
	}
	if err := s.inDatabase(b, tp.db, func() error { return s.prepareTextOn(b, name, tp.text) }); err != nil {
		return err
	}
	s.textStmts[key] = tp
	return nil
}

// prepareTextOn runs PREPARE name on b for the proxy, through a hex literal:
// correct whatever b's sql_mode.
func (s *session) prepareTextOn(b *backend, name, text string) error {
	for _, q := range []string{
		"SET @fwdproxy_prepare = X'" + hex.EncodeToString([]byte(text)) + "'",
		"PREPARE " + quoteIdent(name) + " FROM @fwdproxy_prepare",
	} {
		if b == s.writer {
			if e := s.writerExec(q); e != nil {
				return e
			}
		} else if _, err := b.exec(q); err != nil {
			return err
		}
	}
	return nil
}

// textDeallocate drops the statement on the backends that have it.
func (s *session) textDeallocate(x *job) (bool, error) {
	key := lowerASCII(x.st.Name)
	tp, ok := s.textStmts[key]
	if ok && tp.writerGen == s.writerGen && s.writer != nil {
		_ = s.writerExec("DEALLOCATE PREPARE " + quoteIdent(x.st.Name))
	}
	delete(s.textStmts, key)
	if ok && !tp.onReader {
		return false, s.writeOK(okPacket{}, x.more)
	}
	return s.toReader(x)
}
