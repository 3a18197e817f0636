package sqlclass

// features is what one token pass over a whole statement finds, whatever
// its first keyword.
type features struct {
	lock     bool // FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE
	seqWrite bool // NEXTVAL, SETVAL, NEXT VALUE FOR: they write a sequence
	sel      bool // SELECT or WITH after the first token: a nested query may read tables
	tblN     int  // TABLE keywords after the first token
	multi    bool // ';' followed by another statement
	funcs    Funcs
	vars     []string
	seqs     []TableName // sequences NEXTVAL/SETVAL/NEXT VALUE FOR change
	seqOdd   bool        // a sequence write whose sequence could not be read
	own      []VarRef    // @@aurora_…, @@fwdproxy_…, @@tx_read_only and @@transaction_read_only references
}

func (f *features) scan(s string, opt Options) {
	l := lexer{s: s, opt: opt}
	var prev, prev2 token
	first := true
	for {
		t := l.next()
		switch t.kind {
		case tEOF:
			return
		case tWord:
			if !first {
				f.word(&l, s[t.start:t.end], prev, prev2)
			}
		case tQIdent:
			if n := t.end - t.start; n >= 15 && n <= 16 && statusTable(unquote(s[t.start:t.end], opt), s, prev) {
				f.funcs |= FnStatusTable
			}
		case tUserVar:
			if !isAccountHost(s, prev, t) {
				f.vars = addString(f.vars, userVarName(s[t.start:t.end], opt))
			}
		case tSysVar:
			switch n := sysVarBase(s[t.start:t.end]); {
			case upperEq(n, "WARNING_COUNT") || upperEq(n, "ERROR_COUNT"):
				f.funcs |= FnWarningCount
			case len(n) > 7 && upperEq(n[:7], "AURORA_") || len(n) > 9 && upperEq(n[:9], "FWDPROXY_") ||
				upperEq(n, "TX_READ_ONLY") || upperEq(n, "TRANSACTION_READ_ONLY"):
				scope, name := sysVarScope(s[t.start:t.end], opt, ScopeSession)
				f.own = append(f.own, VarRef{Start: t.start, End: t.end, Name: name, Scope: scope})
			}
		case tPunct:
			if s[t.start] == ';' && !f.multi {
				l2 := l
				for {
					n := l2.next()
					if n.kind == tEOF {
						return // only ';' left
					}
					if !(n.kind == tPunct && s[n.start] == ';') {
						f.multi = true
						break
					}
				}
			}
		}
		prev2, prev = prev, t
		first = false
	}
}

// word checks one keyword; it is the hot path, so it switches on length first.
func (f *features) word(l *lexer, w string, prev, prev2 token) {
	switch len(w) {
	case 3:
		if upperEq(w, "FOR") {
			n := *l
			t := n.next()
			if t.kind == tWord && (upperEq(l.s[t.start:t.end], "UPDATE") || upperEq(l.s[t.start:t.end], "SHARE")) {
				f.lock = true
			}
		}
	case 4:
		switch {
		case upperEq(w, "LOCK"):
			n := *l
			if t := n.next(); t.kind == tWord && upperEq(l.s[t.start:t.end], "IN") {
				if t = n.next(); t.kind == tWord && upperEq(l.s[t.start:t.end], "SHARE") {
					f.lock = true
				}
			}
		case upperEq(w, "NEXT"):
			n := *l
			if t := n.next(); t.kind == tWord && upperEq(l.s[t.start:t.end], "VALUE") {
				if t = n.next(); t.kind == tWord && upperEq(l.s[t.start:t.end], "FOR") {
					f.seqWrite = true
					f.sequence(n, false)
				}
			}
		case upperEq(w, "WITH"):
			f.sel = true
		}
	case 5:
		if upperEq(w, "TABLE") {
			f.tblN++
		}
	case 6:
		if upperEq(w, "SELECT") {
			f.sel = true
		} else if upperEq(w, "SETVAL") {
			f.seqWrite = true
			f.seqCall(l, prev, prev2)
		}
	case 7:
		if upperEq(w, "NEXTVAL") {
			f.seqWrite = true
			f.seqCall(l, prev, prev2)
		}
	case 9:
		if upperEq(w, "ROW_COUNT") {
			f.funcs |= FnRowCount
		}
	case 10:
		if upperEq(w, "FOUND_ROWS") {
			f.funcs |= FnFoundRows
		}
	case 13, 14:
		if upperEq(w, "LAST_INSERT_ID") {
			f.funcs |= FnLastInsertID
		} else if statusTable(w, l.s, prev) {
			f.funcs |= FnStatusTable
		}
	}
}

// statusTable: w names a status table as schema.w.
func statusTable(w, s string, prev token) bool {
	return (upperEq(w, "GLOBAL_STATUS") || upperEq(w, "SESSION_STATUS")) &&
		prev.kind == tPunct && s[prev.start] == '.'
}

// seqCall records the sequence of NEXTVAL(s) / SETVAL(s, n), or of the
// Oracle-mode s.NEXTVAL.
func (f *features) seqCall(l *lexer, prev, prev2 token) {
	if prev.kind == tPunct && l.s[prev.start] == '.' && prev.adj {
		if prev2.kind == tWord || prev2.kind == tQIdent {
			n := l.s[prev2.start:prev2.end]
			if prev2.kind == tQIdent {
				n = unquote(n, l.opt)
			}
			f.seqs = addTable(f.seqs, TableName{Name: n})
			return
		}
		f.seqOdd = true
		return
	}
	f.sequence(*l, true)
}

// sequence reads the sequence name that l is about to lex.
func (f *features) sequence(l lexer, paren bool) {
	c := cur{l: l}
	c.adv()
	if paren && !c.acceptPunct('(') {
		f.seqOdd = true
		return
	}
	t, ok := c.tableName()
	if !ok {
		f.seqOdd = true
		return
	}
	f.seqs = addTable(f.seqs, t)
}

// isAccountHost tells the host part of an account name ('u'@'h', u@h) from a
// user variable: it touches the user part.
func isAccountHost(s string, prev, t token) bool {
	if !t.adj {
		return false
	}
	switch prev.kind {
	case tString, tQIdent:
		return true
	case tWord:
		switch w := s[prev.start:prev.end]; len(w) {
		case 2:
			return !(upperEq(w, "IN") || upperEq(w, "OR") || upperEq(w, "BY") || upperEq(w, "DO") || upperEq(w, "IS") || upperEq(w, "ON"))
		case 3:
			return !(upperEq(w, "SET") || upperEq(w, "AND") || upperEq(w, "NOT") || upperEq(w, "XOR") || upperEq(w, "DIV") || upperEq(w, "MOD"))
		case 4:
			return !(upperEq(w, "INTO") || upperEq(w, "THEN") || upperEq(w, "ELSE") || upperEq(w, "WHEN") || upperEq(w, "LIKE") || upperEq(w, "FROM"))
		case 5:
			return !(upperEq(w, "USING") || upperEq(w, "LIMIT") || upperEq(w, "WHERE"))
		case 6:
			return !(upperEq(w, "SELECT") || upperEq(w, "VALUES") || upperEq(w, "RETURN") || upperEq(w, "OFFSET"))
		}
		return true
	}
	return false
}

// userVarName returns the name of a user variable token, lower case.
func userVarName(tok string, opt Options) string {
	n := tok[1:]
	if len(n) > 0 && (n[0] == '\'' || n[0] == '"' || n[0] == '`') {
		n = unquote(n, opt)
	}
	return lower(n)
}

// sysVarBase returns the last dotted segment of a @@ token, unquoted.
func sysVarBase(tok string) string {
	n := tok[2:]
	for i := len(n) - 1; i >= 0; i-- {
		if n[i] == '.' {
			n = n[i+1:]
			break
		}
	}
	if len(n) >= 2 && n[0] == '`' {
		n = unquote(n, Options{})
	}
	return n
}
