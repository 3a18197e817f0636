package sqlclass

// ownVarItems fills Column and Bare of the references that are select items
// by themselves: after SELECT or a comma of a select list, then at most an
// alias, then a comma, a clause or the end. It reports whether the statement
// is a select list of such items and nothing else.
func ownVarItems(sql string, opt Options, refs []VarRef) (only bool) {
	c := newCur(sql, opt)
	var list [32]bool // by parenthesis depth: inside a select list
	depth, k := 0, 0
	itemStart := false // the current token starts a select item
	for c.tok.kind != tEOF && k < len(refs) {
		inList := depth < len(list) && list[depth]
		switch {
		case c.is("SELECT"):
			if depth < len(list) {
				list[depth] = true
			}
			c.adv()
			for c.is("ALL") || c.is("DISTINCT") || c.is("DISTINCTROW") {
				c.adv()
			}
			itemStart = true
			continue
		case c.isPunct('('):
			depth++
			if depth < len(list) {
				list[depth] = false
			}
		case c.isPunct(')'):
			depth = max(depth-1, 0)
		case c.tok.kind == tWord && clauseWord(c.text()):
			if depth < len(list) {
				list[depth] = false
			}
		case c.tok.kind == tSysVar && c.tok.start == refs[k].Start:
			r := &refs[k]
			k++
			if itemStart && inList {
				c.adv()
				col, aliased := c.alias()
				if itemEnd(&c) {
					r.Column, r.Bare = col, !aliased
					if !aliased {
						r.Column = sql[r.Start:r.End]
					}
				}
				itemStart = false
				continue
			}
		}
		itemStart = inList && c.isPunct(',')
		c.adv()
	}
	c = newCur(sql, opt)
	if !c.accept("SELECT") {
		return false
	}
	for i := range refs {
		if c.tok.kind != tSysVar || c.tok.start != refs[i].Start {
			return false
		}
		c.adv()
		c.alias()
		if i == len(refs)-1 {
			return c.atEnd()
		}
		if !c.acceptPunct(',') {
			return false
		}
	}
	return false
}

// alias reads a select item's alias: AS name, or a name that is no clause
// keyword. The name is unquoted.
func (c *cur) alias() (string, bool) {
	as := c.accept("AS")
	switch c.tok.kind {
	case tQIdent, tString:
		s := unquote(c.text(), c.l.opt)
		c.adv()
		return s, true
	case tWord:
		if as || !clauseWord(c.text()) {
			s := c.text()
			c.adv()
			return s, true
		}
	}
	return "", false
}

// itemEnd: the current token ends a select item.
func itemEnd(c *cur) bool {
	return c.atEnd() || c.isPunct(',') || c.isPunct(')') || c.tok.kind == tWord && clauseWord(c.text())
}

// clauseWord: w starts a clause after a select list.
func clauseWord(w string) bool {
	switch len(w) {
	case 3:
		return upperEq(w, "FOR")
	case 4:
		return upperEq(w, "FROM") || upperEq(w, "INTO") || upperEq(w, "LOCK")
	case 5:
		return upperEq(w, "WHERE") || upperEq(w, "GROUP") || upperEq(w, "ORDER") || upperEq(w, "LIMIT") || upperEq(w, "UNION")
	case 6:
		return upperEq(w, "HAVING") || upperEq(w, "EXCEPT") || upperEq(w, "WINDOW")
	case 9:
		return upperEq(w, "INTERSECT")
	}
	return false
}
