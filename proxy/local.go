package proxy

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/fwdproxy/fwdproxy/route"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// Statements the proxy answers itself or routes by what the session did
// last: the variables it owns, Aurora_fwd_* status, and the statements whose
// answer lives on the backend that ran the previous statement.

// auroraVars are the variables the proxy owns, in SHOW VARIABLES order.
func (s *session) auroraVars() [][2]string {
	return [][2]string{
		{"aurora_fwd_writer_idle_timeout", strconv.Itoa(s.srv.conf().WriterIdleTimeout)},
		{"aurora_fwd_writer_max_connections_pct", strconv.Itoa(s.srv.conf().WriterMaxConnectionsPct)},
		{"aurora_replica_read_consistency", s.level.String()},
		{"fwdproxy_causal_token", s.causalToken()},
		{"fwdproxy_inject_fault", s.inject.String()},
		{"fwdproxy_read_after", s.state.ReadAfter},
		{"fwdproxy_session_scope", s.scope.String()},
	}
}

// rewritten is x with the proxy's variables or status tables replaced in
// its text, as route decided.
func (s *session) rewritten(r route.Rewrite, x *job) *job {
	q, changed := x.sql, false
	switch r {
	case route.StatusTables:
		q, changed = s.rewriteStatusTables(x.sql)
	case route.OwnVarValues:
		q, changed = s.rewriteOwnVars(x.sql, &x.st)
	}
	if !changed {
		return x
	}
	y := *x
	y.sql, y.payload = q, append([]byte{comQuery}, q...)
	return &y
}

// ownVar is the value of one of the proxy's variables; ok is false for an
// @@aurora_… variable it does not have.
func (s *session) ownVar(r sqlclass.VarRef) (v string, ok bool) {
	if r.Scope == sqlclass.ScopeGlobal && r.Name == "aurora_replica_read_consistency" {
		return s.srv.conf().DefaultConsistency, true
	}
	if r.Scope == sqlclass.ScopeGlobal && r.Name == "fwdproxy_session_scope" {
		return s.defaultScope().String(), true
	}
	if r.Name == s.srv.dialect.readOnlyVar && r.Scope != sqlclass.ScopeGlobal {
		// The reader's connection is read-only whatever the client set.
		if s.state.SessAccess == sqlclass.AccessReadOnly {
			return "1", true
		}
		return "0", true
	}
	for _, kv := range s.auroraVars() {
		if kv[0] == r.Name {
			return kv[1], true
		}
	}
	return "", false
}

// selectOwnVars answers `SELECT @@[session.|local.|global.]aurora_… [AS a], …`
// (route decided every item is a variable the proxy owns).
func (s *session) selectOwnVars(st *sqlclass.Statement, more bool) error {
	cols, vals := s.ownValues(st)
	return s.writeResultSet(cols, [][]string{vals}, more)
}

// ownValues are the column names and values of st's own-variable items.
func (s *session) ownValues(st *sqlclass.Statement) (cols, vals []string) {
	for _, r := range st.OwnVars {
		v, _ := s.ownVar(r)
		cols, vals = append(cols, r.Column), append(vals, v)
	}
	return cols, vals
}

// showMerged answers SHOW VARIABLES / SHOW STATUS: the reader's rows plus the
// proxy's own, filtered by LIKE, sorted by name as the server does.
func (s *session) showMerged(sql string, st *sqlclass.Statement, own [][2]string, more bool) (bool, error) {
	pattern, hasLike := st.Show.Like, st.Show.HasLike
	rows := [][]string{}
	seen := map[string]bool{}
	for _, kv := range own {
		if !hasLike || sqlclass.MatchLike(pattern, kv[0]) {
			rows = append(rows, []string{kv[0], kv[1]})
			seen[strings.ToLower(kv[0])] = true
		}
	}
	res, err := s.reader.exec(sql)
	if err != nil {
		return s.failWith(s.reader, err, more)
	}
	for _, r := range res.rows {
		if len(r) >= 2 && !seen[strings.ToLower(r[0].s)] {
			rows = append(rows, []string{r[0].s, r[1].s})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return strings.ToLower(rows[i][0]) < strings.ToLower(rows[j][0]) })
	return false, s.writeResultSet([]string{"Variable_name", "Value"}, rows, more)
}

// showProxyWarnings answers SHOW WARNINGS with the proxy's own warnings.
func (s *session) showProxyWarnings(more bool) error {
	rows := make([][]string, 0, len(s.lastWarn))
	for _, w := range s.lastWarn {
		rows = append(rows, []string{w.level, strconv.Itoa(int(w.code)), w.msg})
	}
	return s.writeResultSet([]string{"Level", "Code", "Message"}, rows, more)
}

// writeResultSet sends a text result set of string columns.
func (s *session) writeResultSet(cols []string, rows [][]string, more bool) error {
	b := mysql.AppendLengthEncodedInteger(nil, uint64(len(cols)))
	if err := s.client.WriteColumnCount(b, true); err != nil {
		return err
	}
	for _, c := range cols {
		b = b[:0]
		b = appendLenEncString(b, "def")
		b = appendLenEncString(b, "")
		b = appendLenEncString(b, "")
		b = appendLenEncString(b, "")
		b = appendLenEncString(b, c)
		b = appendLenEncString(b, c)
		if s.clientExt&extExtendedTypes != 0 {
			b = append(b, 0) // no extended type info
		}
		b = append(b, 0x0c, 33, 0, 0, 4, 0, 0, 0xfd, 0, 0, 0, 0, 0) // utf8, length 1024, VAR_STRING
		if err := s.writePacket(b); err != nil {
			return err
		}
	}
	if err := s.client.WriteColumnsEnd(0, s.clientStatus(false)); err != nil {
		return err
	}
	for _, r := range rows {
		b = b[:0]
		for _, v := range r {
			b = appendLenEncString(b, v)
		}
		if err := s.writePacket(b); err != nil {
			return err
		}
	}
	return s.client.WriteEOF(0, s.clientStatus(more))
}

// kill handles KILL [CONNECTION|QUERY] id for the ids the proxy gave its
// clients. Relaying it would kill an unrelated thread on the reader (the
// replication threads among them).
func (s *session) kill(k sqlclass.Kill, more bool) (bool, error) {
	var target *session
	if k.HasID && k.ID <= math.MaxUint32 {
		target = s.srv.sessionByConnID(uint32(k.ID))
	}
	if target == nil {
		return s.fail(&sqlError{1094, "HY000", "Unknown thread id: " + k.IDText}, more)
	}
	if _, owner := target.backendThreads(); owner.user != s.user {
		return s.fail(&sqlError{1095, "HY000", "You are not owner of thread " + k.IDText}, more)
	}
	if k.Query {
		s.srv.killQuery(target)
	} else if target == s {
		_ = s.writeOK(okPacket{}, false)
		_ = s.client.Flush()
		return true, errReleased
	} else {
		target.client.NetConn().Close()
	}
	return false, s.writeOK(okPacket{}, more)
}

// rewriteOwnVars replaces the proxy's variables inside any statement with
// their values as string literals, so the reader can evaluate expressions
// around them. A bare select item keeps its column name through an alias.
func (s *session) rewriteOwnVars(sql string, st *sqlclass.Statement) (string, bool) {
	return s.rewriteOwnVarsTo(sql, st, false)
}

// rewriteOwnVarsTo: for a statement prepared on a backend, the session's
// consistency level, access mode, causal token, read_after, session
// scope and injected faults become the user variables @fwdproxy_arc,
// @fwdproxy_ro, @fwdproxy_tok, @fwdproxy_ra, @fwdproxy_ss and @fwdproxy_if,
// which each execute sets first (ownVarsSQL); other variables become their
// values. st is sql's classification: the references are its offsets into
// sql.
func (s *session) rewriteOwnVarsTo(sql string, st *sqlclass.Statement, prepared bool) (string, bool) {
	var b strings.Builder
	last, changed := 0, false
	for _, r := range st.OwnVars {
		v, ok := s.ownVar(r)
		if !ok {
			continue
		}
		changed = true
		b.WriteString(sql[last:r.Start])
		session := r.Scope != sqlclass.ScopeGlobal
		switch {
		case prepared && session && r.Name == "aurora_replica_read_consistency":
			b.WriteString("@fwdproxy_arc")
		case prepared && session && r.Name == s.srv.dialect.readOnlyVar:
			b.WriteString("@fwdproxy_ro")
		case prepared && r.Name == "fwdproxy_causal_token":
			b.WriteString("@fwdproxy_tok")
		case prepared && r.Name == "fwdproxy_read_after":
			b.WriteString("@fwdproxy_ra")
		case prepared && session && r.Name == "fwdproxy_session_scope":
			b.WriteString("@fwdproxy_ss")
		case prepared && r.Name == "fwdproxy_inject_fault":
			b.WriteString("@fwdproxy_if")
		case r.Name == s.srv.dialect.readOnlyVar:
			// The global value is 0 or 1: either expression is the
			// client's setting, typed as the variable (BIGINT, nullable).
			if v == "1" {
				b.WriteString("GREATEST(@@global." + r.Name + ", 1)")
			} else {
				b.WriteString("LEAST(@@global." + r.Name + ", 0)")
			}
		default:
			b.WriteString(quoteLiteral(v))
		}
		if r.Bare {
			b.WriteString(" AS `" + strings.ReplaceAll(r.Column, "`", "``") + "`")
		}
		last = r.End
	}
	if !changed {
		return sql, false
	}
	return b.String() + sql[last:], true
}

// ownVarsSQL sets the user variables a prepared statement rewritten by
// rewriteOwnVarsTo reads.
func (s *session) ownVarsSQL() string {
	ro := "0"
	if s.state.SessAccess == sqlclass.AccessReadOnly {
		ro = "1"
	}
	return "SET @fwdproxy_arc = " + quoteLiteral(s.level.String()) + ", @fwdproxy_ro = " + ro +
		", @fwdproxy_tok = " + quoteLiteral(s.causalToken()) + ", @fwdproxy_ra = " + quoteLiteral(s.state.ReadAfter) +
		", @fwdproxy_ss = " + quoteLiteral(s.scope.String()) + ", @fwdproxy_if = " + quoteLiteral(s.inject.String())
}

func quoteLiteral(v string) string {
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

// statusTables are the tables that list status variables; reads of them
// get the proxy's Aurora_fwd_* rows merged in.
var statusTables = []string{
	"information_schema.global_status", "information_schema.session_status",
	"performance_schema.global_status", "performance_schema.session_status",
}

// rewriteStatusTables replaces each status table in a SELECT by a derived
// table that adds the proxy's rows, so the reader evaluates the rest of the
// query (WHERE, columns, ORDER BY) over both.
func (s *session) rewriteStatusTables(sql string) (string, bool) {
	plain := strings.ReplaceAll(sql, "`", "")
	changed := false
	for _, t := range statusTables {
		for from := 0; ; {
			i := strings.Index(strings.ToLower(plain[from:]), t)
			if i < 0 {
				break
			}
			i += from
			j := i + len(t)
			var b strings.Builder
			b.WriteString("(SELECT * FROM (")
			for _, kv := range s.srv.Metrics.StatusRows() {
				b.WriteString("SELECT " + quoteLiteral(kv[0]) + " AS VARIABLE_NAME, " + quoteLiteral(kv[1]) + " AS VARIABLE_VALUE UNION ALL ")
			}
			b.WriteString("SELECT VARIABLE_NAME, VARIABLE_VALUE FROM " + t + ") fwd_rows)")
			if !hasAlias(plain[j:]) {
				b.WriteString(" AS " + strings.ToUpper(t[strings.IndexByte(t, '.')+1:]))
			}
			plain = plain[:i] + b.String() + plain[j:]
			from = i + b.Len() // past the derived table, which names t itself
			changed = true
		}
	}
	return plain, changed
}

// hasAlias: the text after a table name starts with an alias.
func hasAlias(rest string) bool {
	f := strings.Fields(rest)
	if len(f) == 0 {
		return false
	}
	w := strings.ToUpper(strings.TrimRight(f[0], ";,)"))
	switch w {
	case "", "WHERE", "ORDER", "GROUP", "LIMIT", "HAVING", "JOIN", "INNER", "LEFT", "RIGHT", "CROSS",
		"NATURAL", "STRAIGHT_JOIN", "ON", "USING", "UNION", "FOR", "LOCK", "INTO", "WINDOW", "PROCEDURE":
		return false
	}
	return !strings.HasPrefix(f[0], ";") && !strings.HasPrefix(f[0], ",") && !strings.HasPrefix(f[0], ")")
}
