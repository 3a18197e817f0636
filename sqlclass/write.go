package sqlclass

// writeStmt fills a Write statement; sub starts at its verb (INSERT, REPLACE,
// UPDATE, DELETE) or at WITH. Simple forms are read lexically; the parser
// runs only when a nested query or a join may name more tables.
func writeStmt(st *Statement, sub string, opt Options, f *features) {
	st.Class = Write
	writeTables(st, sub, opt, f)
	// Sequences it advances are changed too.
	st.Targets = unionTables(st.Targets, f.seqs)
	if len(f.seqs) > 0 {
		var src []TableName
		for _, t := range st.Sources {
			if !hasTable(st.Targets, t) {
				src = append(src, t)
			}
		}
		st.Sources = src
	}
}

func writeTables(st *Statement, sub string, opt Options, f *features) {
	var into *TableName // INSERT's table, read lexically
	c := newCur(sub, opt)
	nested := f.sel || f.tblN > 0
	switch {
	case c.is("INSERT"), c.is("REPLACE"):
		st.Op = "INSERT"
		if c.is("REPLACE") {
			st.Op = "REPLACE"
		}
		c.adv()
		for c.accept("LOW_PRIORITY") || c.accept("DELAYED") || c.accept("HIGH_PRIORITY") || c.accept("IGNORE") {
		}
		c.accept("INTO")
		t, ok := c.tableName()
		if ok && !nested {
			st.Targets = []TableName{t}
			return
		}
		if ok {
			into = &t
		}
	case c.is("UPDATE"):
		st.Op = "UPDATE"
		c.adv()
		for c.accept("LOW_PRIORITY") || c.accept("IGNORE") {
		}
		if t, ok := c.tableName(); ok && !nested {
			skipAlias(&c)
			if c.is("SET") {
				st.Targets = []TableName{t}
				return
			}
		}
	case c.is("DELETE"):
		st.Op = "DELETE"
		c.adv()
		for c.accept("LOW_PRIORITY") || c.accept("QUICK") || c.accept("IGNORE") {
		}
		if c.accept("FROM") {
			if t, ok := c.tableName(); ok && !nested {
				skipAlias(&c)
				if c.accept("PARTITION") {
					c.skipParens()
				}
				if c.atEnd() || c.is("WHERE") || c.is("ORDER") || c.is("LIMIT") || c.is("RETURNING") {
					st.Targets = []TableName{t}
					return
				}
			}
		}
	case c.is("WITH"):
		st.Op = "UPDATE"
		if skipWith(&c) && c.is("DELETE") {
			st.Op = "DELETE"
		}
	}
	if t, s, ok := astWrite(sub, opt); ok {
		st.Targets, st.Sources = t, s
		return
	}
	st.Targets, st.Sources = lexWrite(sub, opt, into)
}

// skipAlias skips [AS] alias after a table name.
func skipAlias(c *cur) {
	if c.accept("AS") {
		c.ident()
		return
	}
	if c.tok.kind == tQIdent || c.tok.kind == tWord && !stopWord(c.text()) {
		c.adv()
	}
}

// stopWord tells keywords that may follow a table reference from aliases.
func stopWord(w string) bool {
	var buf [24]byte
	switch string(keyword(w, &buf)) {
	case "SET", "WHERE", "ON", "USING", "JOIN", "INNER", "LEFT", "RIGHT", "CROSS", "NATURAL",
		"STRAIGHT_JOIN", "OUTER", "FULL", "ORDER", "LIMIT", "GROUP", "HAVING", "WINDOW", "UNION",
		"EXCEPT", "INTERSECT", "FOR", "LOCK", "PARTITION", "USE", "FORCE", "IGNORE", "VALUES",
		"VALUE", "SELECT", "RETURNING", "INTO", "FROM", "AS", "TABLE", "WITH", "ON_DUPLICATE",
		"DEFAULT", "PROCEDURE", "SHARE", "NOWAIT", "SKIP", "OF", "KEY", "INDEX", "LIKE", "ROW",
		"TO", "TABLESAMPLE", "AND", "OR", "NOT", "IS", "IN", "WHEN", "THEN", "ELSE", "END",
		"ESCAPE", "DUPLICATE", "LATERAL", "UPDATE", "DELETE", "INSERT", "REPLACE", "LOW_PRIORITY",
		"QUICK", "DELAYED", "HIGH_PRIORITY":
		return true
	}
	return false
}

// lexRef is a table reference found lexically.
type lexRef struct {
	t   TableName
	pos int // offset of the name
}

// lexRefs finds table references without the parser: names that follow
// FROM, JOIN, INTO, UPDATE, USING, TABLE, DELETE and the commas of their
// lists. It over-reports rather than misses.
func lexRefs(sql string, opt Options) []lexRef {
	var refs []lexRef
	c := newCur(sql, opt)
	var prev token
	for c.tok.kind != tEOF {
		if c.tok.kind == tWord && isRefKeyword(&c, prev) {
			prev = c.tok
			c.adv()
			refs = refList(&c, refs)
			continue
		}
		prev = c.tok
		c.adv()
	}
	return refs
}

func isRefKeyword(c *cur, prev token) bool {
	var buf [24]byte
	switch string(keyword(c.text(), &buf)) {
	case "FROM", "JOIN", "STRAIGHT_JOIN", "DELETE", "TABLE":
		return true
	case "USING": // DELETE … USING list, not JOIN … USING (cols)
		n := c.peek()
		return !(n.kind == tPunct && c.l.s[n.start] == '(')
	case "INTO":
		n := c.peek()
		return !(n.kind == tUserVar || c.tokIs(n, "OUTFILE") || c.tokIs(n, "DUMPFILE"))
	case "UPDATE":
		return !(c.tokIs(prev, "KEY") || c.tokIs(prev, "FOR"))
	}
	return false
}

func refList(c *cur, refs []lexRef) []lexRef {
	for c.accept("LOW_PRIORITY") || c.accept("QUICK") || c.accept("IGNORE") || c.accept("DELAYED") ||
		c.accept("HIGH_PRIORITY") || c.accept("LATERAL") || c.accept("ONLY") || c.accept("HISTORY") {
	}
	for {
		for c.acceptPunct('(') { // a parenthesised join; a subquery stops at SELECT
		}
		if c.tok.kind == tWord && stopWord(c.text()) || c.tok.kind != tWord && c.tok.kind != tQIdent {
			return refs
		}
		pos := c.tok.start
		t, ok := c.tableName()
		if !ok {
			return refs
		}
		if c.isPunct('(') || c.isPunct('=') || c.tok.kind == tAssign {
			return refs // a function such as JSON_TABLE(…), or a SET column
		}
		if !(t.Schema == "" && upperEq(t.Name, "DUAL")) {
			refs = append(refs, lexRef{t: t, pos: pos})
		}
		if c.isPunct('.') { // t.* in DELETE t.* FROM
			c.adv()
			c.adv()
		}
		skipAlias(c)
		if c.accept("PARTITION") {
			c.skipParens()
		}
		if !c.acceptPunct(',') {
			return refs
		}
	}
}

// lexWrite is the fallback when the parser cannot read a write. It may
// over-report targets but must not miss one: INSERT writes its INTO table;
// UPDATE every table named before SET; DELETE every table named before
// WHERE/ORDER/LIMIT/RETURNING. Other references are sources.
func lexWrite(sub string, opt Options, into *TableName) (targets, sources []TableName) {
	refs := lexRefs(sub, opt)
	c := newCur(sub, opt)
	if c.is("INSERT") || c.is("REPLACE") {
		if into != nil {
			targets = []TableName{*into}
		}
	} else {
		end := clauseStart(sub, opt)
		for _, r := range refs {
			if r.pos < end {
				targets = addTable(targets, r.t)
			}
		}
	}
	for _, r := range refs {
		if !hasTable(targets, r.t) {
			sources = addTable(sources, r.t)
		}
	}
	return targets, sources
}

// clauseStart finds, outside parentheses, the SET of an UPDATE or the
// WHERE/ORDER/LIMIT/RETURNING of a DELETE: the end of its table list.
func clauseStart(sub string, opt Options) int {
	c := newCur(sub, opt)
	depth := 0
	for c.tok.kind != tEOF {
		switch {
		case c.isPunct('('):
			depth++
		case c.isPunct(')'):
			depth--
		case depth == 0 && (c.is("SET") || c.is("WHERE") || c.is("ORDER") || c.is("LIMIT") || c.is("RETURNING")):
			return c.tok.start
		}
		c.adv()
	}
	return len(sub)
}

func hasTable(list []TableName, t TableName) bool {
	for _, x := range list {
		if x == t {
			return true
		}
	}
	return false
}

// createSources returns the tables CREATE TEMPORARY TABLE … SELECT reads.
func createSources(sql string, opt Options, target TableName) []TableName {
	if _, s, ok := astWrite(sql, opt); ok {
		return s
	}
	var out []TableName
	for _, r := range lexRefs(sql, opt) {
		if r.t != target {
			out = addTable(out, r.t)
		}
	}
	return out
}
