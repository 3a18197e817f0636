package proxy

import (
	"bytes"
	"time"

	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// Errors of SPEC.md §1-§5, in one place.
func errReadOnly() *sqlError {
	return &sqlError{1290, "HY000", "The MySQL server is running with the --read-only option so it cannot execute this statement"}
}

func errReadOnlyTx() *sqlError {
	return &sqlError{1792, "25006", "Cannot execute statement in a READ ONLY transaction."}
}

func errNotSupported(op string) *sqlError {
	return &sqlError{1235, "42000", "This version of MySQL doesn't yet support '" + op + " with write forwarding'"}
}

func errTerminated() *sqlError {
	return &sqlError{1105, "HY000", "Forwarded connection on Writer terminated; try restarting transaction"}
}

func errWriterUnreachable() *sqlError {
	return &sqlError{1105, "HY000", "Failed to send write forwarding request to writer"}
}

func errSessionLimit() *sqlError {
	return &sqlError{1040, "08004", "Not enough connections on writer to handle your request"}
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

// statement routes one SQL statement. payload, when not nil, is the client's
// own COM_QUERY packet for sql, relayed without a copy. more says a batch
// continues after it. failed reports an error sent to the client.
func (s *session) statement(sql string, payload []byte, more bool) (failed bool, err error) {
	st := sqlclass.Classify(sql, s.sqlOpt)
	if payload == nil {
		payload = append(append(s.scratch[:0], comQuery), sql...)
	}
	if s.terminated {
		return s.fail(s.takeTerminated(), more)
	}
	if !isShowDiag(&st) {
		s.lastWarn = s.lastWarn[:0]
	}
	switch st.Class {
	case sqlclass.Empty:
		return s.toReader(payload, more)
	case sqlclass.Read:
		if handled, failed, err := s.answerLocal(sql, &st, more); handled {
			return failed, err
		}
		return s.read(payload, &st, more)
	case sqlclass.LockingRead:
		if !s.forwardingActive() {
			// As on a plain replica; MariaDB refuses locking reads in a
			// read-only transaction, so lift the guard for it.
			return s.toReaderWritable(payload, more)
		}
		return s.forward(payload, &st, more)
	case sqlclass.Write, sqlclass.Unknown:
		return s.write(payload, &st, more)
	case sqlclass.LoadData:
		if s.allTemp(st.Targets) {
			return s.toReaderWritable(payload, more)
		}
		return s.reject(errNotSupported(opOr(st.Op, "LOAD DATA")), more)
	case sqlclass.CreateTempTable:
		// Its target is temporary, so reading other temporary tables is fine.
		failed, err = s.toReaderWritable(payload, more)
		if !failed && err == nil {
			for _, t := range st.Targets {
				s.tempTables[s.tempTables.Key(s.db, t)] = true
			}
		}
		return failed, err
	case sqlclass.DropTempTable:
		failed, err = s.toReaderWritable(payload, more)
		if !failed && err == nil {
			for _, t := range st.Targets {
				delete(s.tempTables, s.tempTables.Key(s.db, t))
			}
		}
		return failed, err
	case sqlclass.DDL:
		return s.reject(errNotSupported(opOr(st.Op, "DDL")), more)
	case sqlclass.Plugin:
		return s.reject(errNotSupported(opOr(st.Op, "INSTALL PLUGIN")), more)
	case sqlclass.XA, sqlclass.Savepoint, sqlclass.LockTables, sqlclass.Call:
		if s.forwardingActive() {
			return s.reject(errNotSupported(opOr(st.Op, st.Class.String())), more)
		}
		return s.toReader(payload, more)
	case sqlclass.Session:
		if st.Op == "KILL" {
			return s.kill(st.Kill, more)
		}
		return s.toReader(payload, more)
	case sqlclass.UnlockTables:
		return s.toReader(payload, more)
	case sqlclass.Use:
		failed, err = s.toReader(payload, more)
		if !failed && err == nil {
			s.db = st.DB
		}
		return failed, err
	case sqlclass.Set:
		return s.set(&st, more)
	case sqlclass.SetGlobal:
		return s.reject(&sqlError{1227, "42000", "Access denied; you need (at least one of) the SUPER privilege(s) for this operation"}, more)
	case sqlclass.SetTransaction:
		return s.setTransaction(&st, more)
	case sqlclass.Begin:
		return s.begin(&st, more)
	case sqlclass.Commit, sqlclass.Rollback:
		return s.endTransaction(sql, st.Class == sqlclass.Commit, more)
	case sqlclass.Prepare:
		return s.textPrepare(payload, &st, more)
	case sqlclass.Execute:
		return s.textExecute(payload, &st, more)
	case sqlclass.Deallocate:
		return s.textDeallocate(payload, &st, more)
	}
	// A class this switch does not know is treated as a write: safe.
	return s.write(payload, &st, more)
}

func opOr(op, def string) string {
	if op != "" {
		return op
	}
	return def
}

// read runs a read on the reader after the consistency wait, or on the
// writer when the session's open transaction lives there (SESSION/GLOBAL).
func (s *session) read(payload []byte, st *sqlclass.Statement, more bool) (bool, error) {
	if s.txWriter && s.level.Waits() && !s.readsTemp(string(payload[1:])) {
		return s.forward(payload, st, more)
	}
	start := time.Now()
	if fallback, err := s.waitForRead(); err != nil {
		return s.fail(err, more)
	} else if fallback {
		failed, err := s.forward(payload, st, more)
		s.srv.Metrics.ReadServedByWriter(time.Since(start))
		return failed, err
	}
	failed, err := s.toReader(payload, more)
	s.srv.Metrics.ReadServedByReader(time.Since(start))
	return failed, err
}

// write handles a statement that can change data.
func (s *session) write(payload []byte, st *sqlclass.Statement, more bool) (bool, error) {
	if st.Class == sqlclass.Write {
		if s.allTemp(st.Targets) {
			return s.toReaderWritable(payload, more)
		}
		if s.refsTempOnPermanent(st) {
			return s.reject(errNotSupported("DML on a permanent table that references a temporary table"), more)
		}
	}
	if s.readOnlyAccess() {
		return s.reject(errReadOnlyTx(), more)
	}
	if !s.forwardingActive() {
		return s.reject(errReadOnly(), more)
	}
	return s.forward(payload, st, more)
}

// forwardingActive: both switches are on (SPEC §1).
func (s *session) forwardingActive() bool {
	return s.level != 0 && s.srv.Forwarding()
}

// readOnlyAccess: the open transaction, or the next one, is READ ONLY.
func (s *session) readOnlyAccess() bool {
	if s.txBegun {
		return s.txReadOnly
	}
	if s.nextAccess != sqlclass.AccessDefault {
		return s.nextAccess == sqlclass.AccessReadOnly
	}
	return s.sessAccess == sqlclass.AccessReadOnly
}

// allTemp: the statement changes only this session's temporary tables.
func (s *session) allTemp(ts []sqlclass.TableName) bool { return s.tempTables.All(s.db, ts) }

// refsTempOnPermanent: DML on a permanent table that touches a temporary one.
func (s *session) refsTempOnPermanent(st *sqlclass.Statement) bool {
	return s.tempTables.RefFromPermanent(s.db, st) != ""
}

// readsTemp: a read that touches a temporary table must stay on the reader,
// where the table lives. Reads are classified without a parse; only a
// session that has temporary tables pays for one here.
func (s *session) readsTemp(sql string) bool {
	if len(s.tempTables) == 0 {
		return false
	}
	ts, ok := sqlclass.Tables(sql, s.sqlOpt)
	return !ok || s.tempTables.Any(s.db, ts)
}

// reject answers with a proxy error and counts it.
func (s *session) reject(e *sqlError, more bool) (bool, error) {
	s.srv.Metrics.Rejected(e.code)
	return s.fail(e, more)
}

func (s *session) fail(e *sqlError, more bool) (bool, error) {
	return true, s.writeErr(e, more)
}

// toReader relays a statement to the reader.
func (s *session) toReader(payload []byte, more bool) (bool, error) {
	if err := s.reader.ask(payload); err != nil {
		return true, s.backendFailed(s.reader, err)
	}
	res, err := s.relay(s.reader, comQuery, more)
	if err != nil {
		return true, s.checkRelay(s.reader, err)
	}
	s.lastForwarded = false
	if res.ok.insertID != 0 {
		s.insertIDOnWriter = false
	}
	return res.err != nil, nil
}

// toReaderWritable runs temporary-table work on the reader, lifting the
// session's read-only guard for just that statement.
func (s *session) toReaderWritable(payload []byte, more bool) (bool, error) {
	inTx := s.reader.inTrans()
	if !inTx {
		if _, err := s.reader.exec("SET SESSION " + s.srv.dialect.readOnlyVar + " = 0"); err != nil {
			return s.readerExecFailed(err, more)
		}
	}
	failed, err := s.toReader(payload, more)
	if !inTx && err == nil {
		if _, rerr := s.reader.exec("SET SESSION " + s.srv.dialect.readOnlyVar + " = 1"); rerr != nil {
			// Never leave the guard down: drop the connection instead.
			return true, s.backendFailed(s.reader, rerr)
		}
	}
	return failed, err
}

func (s *session) readerExecFailed(err error, more bool) (bool, error) {
	if se, ok := err.(*sqlError); ok {
		return s.fail(se, more)
	}
	return true, s.backendFailed(s.reader, err)
}
