package proxy

import (
	"github.com/go-mysql-org/go-mysql/mysql"
	"sort"
	"strconv"
	"strings"

	"github.com/fwdproxy/fwdproxy/metrics"
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
	}
}

// answerLocal answers a read that names the proxy's own variables or
// status, or rewrites it and runs the rewritten read as decided.
// handled=false means: run the read as it is.
func (s *session) answerLocal(d route.Decision, x *job) (handled, failed bool, err error) {
	sql, more := x.sql, x.more
	rewritten := func(q string) (bool, bool, error) {
		y := *x
		y.sql, y.payload = q, append([]byte{comQuery}, q...)
		failed, err := s.execute(d, &y)
		return true, failed, err
	}
	show := showWhat(sql)
	if show == "" && (strings.Contains(sql, "_status") || strings.Contains(sql, "_STATUS")) {
		if q, ok := s.rewriteStatusTables(sql); ok {
			return rewritten(q)
		}
	}
	if show != "STATUS" && !strings.Contains(sql, "aurora") && !strings.Contains(sql, "AURORA") && !strings.Contains(sql, "Aurora") {
		return false, false, nil
	}
	low := strings.ToLower(sql)
	if cols, vals, ok := s.selectOwnVars(low, sql); ok {
		return true, false, s.writeResultSet(cols, [][]string{vals}, more)
	}
	if show == "VARIABLES" {
		failed, err := s.showMerged(sql, low, s.auroraVars(), more)
		return true, failed, err
	}
	if show == "STATUS" {
		failed, err := s.showMerged(sql, low, s.srv.Metrics.StatusRows(), more)
		return true, failed, err
	}
	if q, ok := s.rewriteOwnVars(sql); ok {
		return rewritten(q)
	}
	return false, false, nil
}

// showWhat names what a SHOW statement shows ("VARIABLES", "STATUS", …),
// skipping GLOBAL/SESSION/LOCAL/FULL; "" for other statements.
func showWhat(sql string) string {
	t := strings.TrimLeft(sql, " \t\r\n(")
	if len(t) < 5 || (t[0]|0x20) != 's' || (t[1]|0x20) != 'h' {
		return "" // the hot path: no allocation for ordinary reads
	}
	f := strings.Fields(strings.ToUpper(sql))
	if len(f) < 2 || f[0] != "SHOW" {
		return ""
	}
	for _, w := range f[1:] {
		switch w {
		case "GLOBAL", "SESSION", "LOCAL", "FULL":
			continue
		}
		return strings.TrimRight(w, ";")
	}
	return ""
}

// selectOwnVars answers `SELECT @@[session.|local.]aurora_… [, …]` when every
// item is a variable the proxy owns.
func (s *session) selectOwnVars(low, orig string) ([]string, []string, bool) {
	t := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(low), ";"))
	if !strings.HasPrefix(t, "select ") {
		return nil, nil, false
	}
	origT := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(orig), ";"))
	items := strings.Split(t[len("select "):], ",")
	origItems := strings.Split(origT[len("select "):], ",")
	if len(items) != len(origItems) {
		return nil, nil, false
	}
	vars := s.auroraVars()
	var cols, vals []string
	for i, it := range items {
		it = strings.TrimSpace(it)
		name := strings.TrimSpace(origItems[i])
		if k := strings.Index(it, " as "); k >= 0 {
			name = strings.Trim(strings.TrimSpace(strings.TrimSpace(origItems[i])[k+4:]), "`'\"")
			it = strings.TrimSpace(it[:k])
		}
		if !strings.HasPrefix(it, "@@") {
			return nil, nil, false
		}
		v := strings.TrimPrefix(it, "@@")
		for _, p := range []string{"session.", "local.", "global."} {
			v = strings.TrimPrefix(v, p)
		}
		found := false
		for _, kv := range vars {
			if kv[0] == v {
				if strings.HasPrefix(it, "@@global.") && v == "aurora_replica_read_consistency" {
					kv[1] = s.srv.conf().DefaultConsistency
				}
				cols, vals, found = append(cols, name), append(vals, kv[1]), true
				break
			}
		}
		if !found {
			return nil, nil, false
		}
	}
	return cols, vals, true
}

// showMerged answers SHOW VARIABLES / SHOW STATUS: the reader's rows plus the
// proxy's own, filtered by LIKE, sorted by name as the server does.
func (s *session) showMerged(sql, low string, own [][2]string, more bool) (bool, error) {
	pattern, hasLike := likePattern(sql, low)
	if !hasLike && strings.Contains(low, " where ") {
		// WHERE filters need the server's evaluator: the reader's rows only.
		return s.toReader(&job{sql: sql, payload: append([]byte{comQuery}, sql...), more: more})
	}
	rows := [][]string{}
	seen := map[string]bool{}
	for _, kv := range own {
		if !hasLike || metrics.MatchLike(pattern, kv[0]) {
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

// likePattern extracts the pattern of `… LIKE 'pat'`.
func likePattern(sql, low string) (string, bool) {
	i := strings.LastIndex(low, " like ")
	if i < 0 {
		return "", false
	}
	rest := strings.TrimSpace(sql[i+6:])
	rest = strings.TrimRight(rest, "; \t\n")
	if len(rest) < 2 || (rest[0] != '\'' && rest[0] != '"') {
		return "", false
	}
	return sqlclass.Unquote(rest), true
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
	if err := s.writePacket(b); err != nil {
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
		b = append(b, 0x0c, 33, 0, 0, 4, 0, 0, 0xfd, 0, 0, 0, 0, 0) // utf8, length 1024, VAR_STRING
		if err := s.writePacket(b); err != nil {
			return err
		}
	}
	if err := s.writePacket(appendEOF(b[:0], 0, s.clientStatus(false))); err != nil {
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
	return s.writePacket(appendEOF(b[:0], 0, s.clientStatus(more)))
}

// kill handles KILL [CONNECTION|QUERY] id for the ids the proxy gave its
// clients. Relaying it would kill an unrelated thread on the reader (the
// replication threads among them).
func (s *session) kill(sql string, more bool) (bool, error) {
	f := strings.Fields(strings.ToUpper(strings.TrimRight(strings.TrimSpace(sql), ";")))
	query := false
	var idText string
	for _, w := range f[1:] {
		switch w {
		case "QUERY":
			query = true
		case "CONNECTION", "HARD", "SOFT":
		default:
			idText = w
		}
	}
	id, err := strconv.ParseUint(idText, 10, 32)
	if err != nil {
		return s.fail(&sqlError{1094, "HY000", "Unknown thread id: " + idText}, more)
	}
	target := s.srv.sessionByConnID(uint32(id))
	if target == nil {
		return s.fail(&sqlError{1094, "HY000", "Unknown thread id: " + idText}, more)
	}
	if target.user != s.user {
		return s.fail(&sqlError{1095, "HY000", "You are not owner of thread " + idText}, more)
	}
	if query {
		s.srv.killQuery(target)
	} else if target == s {
		_ = s.writeOK(okPacket{}, false)
		_ = s.client.flush()
		return true, errReleased
	} else {
		target.client.conn.Close()
	}
	return false, s.writeOK(okPacket{}, more)
}

// rewriteOwnVars replaces the proxy's variables inside any statement with
// their values as string literals, so the reader can evaluate expressions
// around them. A bare select item keeps its column name through an alias.
func (s *session) rewriteOwnVars(sql string) (string, bool) {
	return s.rewriteOwnVarsTo(sql, "")
}

// rewriteOwnVarsTo replaces aurora_replica_read_consistency by the
// expression expr instead of its value when expr is not empty.
func (s *session) rewriteOwnVarsTo(sql, expr string) (string, bool) {
	if !strings.Contains(strings.ToLower(sql), "@@") || !strings.Contains(strings.ToLower(sql), "aurora") {
		return sql, false
	}
	vars := s.auroraVars()
	var b strings.Builder
	changed := false
	for i := 0; i < len(sql); {
		c := sql[i]
		if c == '\'' || c == '"' || c == '`' { // copy quoted text as is
			j := i + 1
			for j < len(sql) && sql[j] != c {
				if sql[j] == '\\' && c != '`' && !s.sqlOpt.NoBackslashEscapes {
					j++
				}
				j++
			}
			if j < len(sql) {
				j++
			}
			b.WriteString(sql[i:min(j, len(sql))])
			i = j
			continue
		}
		if c == '@' && i+1 < len(sql) && sql[i+1] == '@' {
			j := i + 2
			for j < len(sql) && (isIdentByte(sql[j]) || sql[j] == '.') {
				j++
			}
			name := strings.ToLower(sql[i+2 : j])
			global := strings.HasPrefix(name, "global.")
			for _, p := range []string{"session.", "local.", "global."} {
				name = strings.TrimPrefix(name, p)
			}
			for _, kv := range vars {
				if kv[0] != name {
					continue
				}
				v := kv[1]
				if global && name == "aurora_replica_read_consistency" {
					v = s.srv.conf().DefaultConsistency
				}
				if expr != "" && name == "aurora_replica_read_consistency" && !global {
					b.WriteString(expr)
				} else {
					b.WriteString(quoteLiteral(v))
				}
				if bareItem(sql, i, j) {
					b.WriteString(" AS `" + sql[i:j] + "`")
				}
				changed = true
				i = j
				goto next
			}
			b.WriteString(sql[i:j])
			i = j
			continue
		}
		b.WriteByte(c)
		i++
	next:
	}
	return b.String(), changed
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// bareItem: sql[i:j] stands alone between SELECT or ',' and ',' or FROM or
// the end, so it names its column.
func bareItem(sql string, i, j int) bool {
	before := strings.TrimRight(sql[:i], " \t\r\n")
	after := strings.TrimLeft(sql[j:], " \t\r\n")
	lb := strings.ToLower(before)
	okBefore := strings.HasSuffix(before, ",") || strings.HasSuffix(lb, "select")
	la := strings.ToLower(after)
	okAfter := after == "" || after[0] == ',' || after[0] == ';' || strings.HasPrefix(la, "from") ||
		strings.HasPrefix(la, "into") || strings.HasPrefix(la, "limit")
	return okBefore && okAfter
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
	low := strings.ToLower(strings.ReplaceAll(sql, "`", ""))
	if !strings.Contains(low, "_status") {
		return sql, false
	}
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
