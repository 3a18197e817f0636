package proxy

import (
	"encoding/hex"
	"strings"

	"github.com/fwdproxy/fwdproxy/route"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// The reader's read-only guard comes down only for statements the server
// refuses with it up (CREATE and DROP TEMPORARY TABLE, locking reads with
// forwarding off), and route asks for proof first: a user with ALL
// PRIVILEGES bypasses the replica's global read_only, so a stored function
// (or a view calling one) in such a statement would write the replica.

// runsNoStoredCode asks the reader whether anything x names is a stored
// routine or a view. Without a doubt it is safe: also when the guard will
// not come down (a transaction open on the reader keeps it up). A server
// error counts as a doubt; err is a broken connection.
func (s *session) runsNoStoredCode(x *job) (safe bool, err error) {
	if s.reader.inTrans() {
		return true, nil
	}
	sus := sqlclass.SuspectsOf(x.sql, s.sqlOpt)
	if sus.Empty() {
		return true, nil
	}
	res, err := s.askReader("information_schema", func(is string) string { return storedCodeQuery(sus, is, s.namesDB(x)) })
	if err != nil {
		if _, ok := err.(*sqlError); ok {
			return false, nil
		}
		return false, err
	}
	return len(res.rows) == 0, nil
}

// askReader runs on the reader a question q(in) about tables of database
// db, in being "db." to qualify their names. Under CLIENT_NO_SCHEMA the
// server would read db.t as the current database's t, a table anybody can
// make, so the question is asked unqualified from db itself; a session
// with no current database could not come back and asks from where it is,
// which fails (1046): a doubt.
func (s *session) askReader(db string, q func(in string) string) (res *queryResult, err error) {
	if !s.sqlOpt.NoSchema {
		return s.reader.exec(q(quoteIdent(db) + "."))
	}
	err = s.inDatabase(s.reader, db, func() (e error) {
		res, e = s.reader.exec(q(""))
		return e
	})
	return res, err
}

// storedCodeQuery finds a routine of any schema and kind named as one of
// the calls (over-reporting is safe), or a view among the tables; is
// qualifies information_schema's tables (askReader), db is
// the SQL for the database their unqualified names resolve in. Names go
// in as hex, whatever the session's sql_mode, and compare as the server
// compares identifiers, without case.
func storedCodeQuery(sus sqlclass.Suspects, is, db string) string {
	var b strings.Builder
	if len(sus.Calls) > 0 {
		b.WriteString("SELECT 1 FROM " + is + "ROUTINES WHERE ROUTINE_NAME IN (")
		for i, n := range sus.Calls {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(nameLiteral(n))
		}
		b.WriteString(")")
	}
	if len(sus.Tables) > 0 {
		if b.Len() > 0 {
			b.WriteString(" UNION ALL ")
		}
		b.WriteString("SELECT 1 FROM " + is + "TABLES WHERE TABLE_TYPE = 'VIEW' AND (")
		for i, t := range sus.Tables {
			if i > 0 {
				b.WriteString(" OR ")
			}
			schema := db
			if t.Schema != "" {
				schema = nameLiteral(t.Schema)
			}
			b.WriteString("TABLE_SCHEMA = " + schema + " AND TABLE_NAME = " + nameLiteral(t.Name))
		}
		b.WriteString(")")
	}
	b.WriteString(" LIMIT 1")
	return b.String()
}

// nameLiteral is an identifier as a string literal the server compares
// case-insensitively; invalid UTF-8 makes the query fail, a doubt.
func nameLiteral(n string) string {
	return "_utf8mb4 X'" + hex.EncodeToString([]byte(n)) + "' COLLATE utf8mb4_general_ci"
}

// namesDB is the database x's unqualified names resolve in, as SQL: a
// prepared statement's is that of its PREPARE, where the server resolved
// them. Under CLIENT_NO_SCHEMA the question runs in information_schema,
// so the session's database is named.
func (s *session) namesDB(x *job) string {
	switch {
	case x.bin != nil:
		return nameLiteral(x.bin.db)
	case x.text != "":
		return nameLiteral(s.textStmts[lowerASCII(x.text)].db)
	case s.sqlOpt.NoSchema:
		return nameLiteral(s.state.DB)
	}
	return "DATABASE()"
}

// tempFailed: a CREATE or DROP TEMPORARY TABLE failed on the reader,
// perhaps half-way (DROP TEMPORARY TABLE a, missing drops a; a failing
// CREATE OR REPLACE has dropped the old table). Its targets count as
// permanent until the reader says; the next statement asks (settleTemp),
// not this one, so that SHOW WARNINGS still shows the failure.
func (s *session) tempFailed(st *sqlclass.Statement) {
	s.state.Apply(route.DropTemp, route.Fact{Targets: st.Targets})
	for _, t := range st.Targets {
		if t.Schema == "" {
			t.Schema = s.state.DB
		}
		if t.Schema != "" {
			s.tempUnsure = append(s.tempUnsure, t)
		}
	}
}

// settleTemp asks the reader which of the tables tempFailed left in doubt
// are temporary, unless st reads the diagnostics the questions would
// clear. A table the reader cannot show stays permanent.
func (s *session) settleTemp(st *sqlclass.Statement) {
	if len(s.tempUnsure) == 0 || st.Funcs&diagnostics != 0 || st.Op == "GET DIAGNOSTICS" {
		return
	}
	for _, t := range s.tempUnsure {
		if s.isTemporary(t) {
			s.state.Apply(route.AddTemp, route.Fact{Targets: []sqlclass.TableName{t}})
		}
	}
	s.tempUnsure = s.tempUnsure[:0]
}

// diagnostics are the functions that read the previous statement's
// diagnostics area.
const diagnostics = sqlclass.FnShowWarnings | sqlclass.FnWarningCount | sqlclass.FnRowCount | sqlclass.FnFoundRows

// isTemporary: SHOW CREATE TABLE shows the temporary table that shadows
// a permanent one of the same name, as CREATE TEMPORARY TABLE (MariaDB
// 10.11 has no information_schema.TEMPORARY_TABLES).
func (s *session) isTemporary(t sqlclass.TableName) bool {
	res, err := s.askReader(t.Schema, func(in string) string { return "SHOW CREATE TABLE " + in + quoteIdent(t.Name) })
	if err != nil || len(res.rows) == 0 || len(res.rows[0]) < 2 {
		return false
	}
	return strings.HasPrefix(res.rows[0][1].s, "CREATE TEMPORARY TABLE")
}
