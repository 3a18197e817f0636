package sqlclass

// Split cuts a multi-statement query into statements, as the server does:
// at ';' outside strings, quoted identifiers and comments (the content of an
// executable comment is code), and not inside the BEGIN … END body of a
// stored program or a MariaDB compound statement. Pieces are trimmed
// substrings of sql without the ';'; empty ones are dropped.
func Split(sql string, opt Options) []string {
	norm := sql
	if hasExecComment(sql) {
		norm, _ = normalize(sql, opt, true)
	}
	var out []string
	emit := func(a, b int) {
		for a < b && isSpace(sql[a]) {
			a++
		}
		for b > a && isSpace(sql[b-1]) {
			b--
		}
		l := lexer{s: norm[a:b], opt: opt}
		if l.next().kind != tEOF {
			out = append(out, sql[a:b])
		}
	}
	l := lexer{s: norm, opt: opt}
	start := 0
	var sp splitState
	for {
		t := l.next()
		if t.kind == tEOF {
			emit(start, len(sql))
			return out
		}
		if t.kind == tPunct && norm[t.start] == ';' && sp.depth <= 0 {
			emit(start, t.start)
			start = t.end
			sp = splitState{}
			continue
		}
		sp.token(&l, t)
	}
}

// splitState follows block nesting inside one statement.
type splitState struct {
	n        int // tokens seen
	compound bool
	depth    int
	prev     token
}

func (sp *splitState) token(l *lexer, t token) {
	s := l.s
	w := ""
	if t.kind == tWord {
		w = s[t.start:t.end]
	}
	if sp.n == 0 {
		sp.compound = startsCompound(l, t)
	}
	sp.n++
	if sp.compound && w != "" {
		switch {
		case upperEq(w, "BEGIN"), upperEq(w, "CASE"):
			sp.depth++
		case upperEq(w, "END"):
			sp.depth--
		case upperEq(w, "IF"), upperEq(w, "LOOP"), upperEq(w, "WHILE"), upperEq(w, "REPEAT"), upperEq(w, "FOR"):
			if sp.stmtStart(s) {
				sp.depth++
			}
		}
	}
	sp.prev = t
}

// stmtStart reports whether the previous token ends a statement or opens a
// block, so that IF/LOOP/WHILE/REPEAT/FOR here open a block.
func (sp *splitState) stmtStart(s string) bool {
	p := sp.prev
	if sp.n == 1 {
		return true
	}
	switch p.kind {
	case tPunct:
		return s[p.start] == ';' || s[p.start] == ':'
	case tWord:
		w := s[p.start:p.end]
		return upperEq(w, "BEGIN") || upperEq(w, "THEN") || upperEq(w, "ELSE") || upperEq(w, "DO") ||
			upperEq(w, "LOOP") || upperEq(w, "REPEAT")
	}
	return false
}

// startsCompound looks at the first token (l is just past it) for a
// statement that can hold ';': CREATE … PROCEDURE/FUNCTION/TRIGGER/EVENT/
// PACKAGE, BEGIN NOT ATOMIC, a labelled block, or a top-level IF/CASE/LOOP/
// WHILE/REPEAT/FOR.
func startsCompound(l *lexer, t token) bool {
	if t.kind != tWord {
		return false
	}
	s := l.s
	w := s[t.start:t.end]
	n := *l
	next := n.next()
	switch {
	case upperEq(w, "BEGIN"):
		return !(next.kind == tEOF || next.kind == tPunct && s[next.start] == ';' ||
			next.kind == tWord && upperEq(s[next.start:next.end], "WORK"))
	case upperEq(w, "IF"), upperEq(w, "CASE"), upperEq(w, "LOOP"), upperEq(w, "WHILE"),
		upperEq(w, "REPEAT"), upperEq(w, "FOR"):
		return true
	case next.kind == tPunct && s[next.start] == ':':
		return true
	case upperEq(w, "CREATE"):
		for i := 0; i < 40 && next.kind != tEOF; i++ {
			if next.kind == tPunct && s[next.start] == ';' {
				return false
			}
			if next.kind == tWord {
				x := s[next.start:next.end]
				switch {
				case upperEq(x, "PROCEDURE"), upperEq(x, "FUNCTION"), upperEq(x, "TRIGGER"),
					upperEq(x, "EVENT"), upperEq(x, "PACKAGE"):
					return true
				case upperEq(x, "TABLE"), upperEq(x, "VIEW"), upperEq(x, "INDEX"), upperEq(x, "DATABASE"),
					upperEq(x, "SCHEMA"), upperEq(x, "USER"), upperEq(x, "ROLE"), upperEq(x, "SEQUENCE"):
					return false
				}
			}
			next = n.next()
		}
	}
	return false
}
