package sqlclass

// cur walks the tokens of one statement with one token of look-ahead.
type cur struct {
	l   lexer
	tok token
}

func newCur(s string, opt Options) cur {
	c := cur{l: lexer{s: s, opt: opt}}
	c.tok = c.l.next()
	return c
}

func (c *cur) adv() token {
	c.tok = c.l.next()
	return c.tok
}

func (c *cur) peek() token {
	l := c.l
	return l.next()
}

func (c *cur) text() string { return c.l.s[c.tok.start:c.tok.end] }

// rest is the source from the current token on.
func (c *cur) rest() string { return c.l.s[c.tok.start:] }

func (c *cur) is(kw string) bool {
	return c.tok.kind == tWord && upperEq(c.l.s[c.tok.start:c.tok.end], kw)
}

func (c *cur) tokIs(t token, kw string) bool {
	return t.kind == tWord && upperEq(c.l.s[t.start:t.end], kw)
}

func (c *cur) peekIs(kw string) bool { return c.tokIs(c.peek(), kw) }

func (c *cur) accept(kw string) bool {
	if c.is(kw) {
		c.adv()
		return true
	}
	return false
}

// acceptSeq consumes the keywords kws if all of them come next.
func (c *cur) acceptSeq(kws ...string) bool {
	save := *c
	for _, kw := range kws {
		if !c.accept(kw) {
			*c = save
			return false
		}
	}
	return true
}

func (c *cur) isPunct(b byte) bool {
	return c.tok.kind == tPunct && c.l.s[c.tok.start] == b
}

func (c *cur) acceptPunct(b byte) bool {
	if c.isPunct(b) {
		c.adv()
		return true
	}
	return false
}

// atEnd reports the end of the statement: EOF, or ';' with nothing after it.
func (c *cur) atEnd() bool {
	if c.tok.kind == tEOF {
		return true
	}
	if !c.isPunct(';') {
		return false
	}
	l := c.l
	for {
		t := l.next()
		if t.kind == tEOF {
			return true
		}
		if !(t.kind == tPunct && c.l.s[t.start] == ';') {
			return false
		}
	}
}

// skipParens skips a balanced parenthesised group starting at '('.
func (c *cur) skipParens() {
	if !c.isPunct('(') {
		return
	}
	depth := 0
	for c.tok.kind != tEOF {
		if c.isPunct('(') {
			depth++
		} else if c.isPunct(')') {
			depth--
			if depth == 0 {
				c.adv()
				return
			}
		}
		c.adv()
	}
}

// ident reads an identifier, bare or quoted.
func (c *cur) ident() (string, bool) {
	switch c.tok.kind {
	case tWord:
		s := c.text()
		c.adv()
		return s, true
	case tQIdent:
		s := unquote(c.text(), c.l.opt)
		if s == "" {
			return "", false // MySQL rejects empty identifiers
		}
		c.adv()
		return s, true
	}
	return "", false
}

// strings reads adjacent string literals, which concatenate, unquoted.
func (c *cur) strings() (string, bool) {
	if c.tok.kind != tString {
		return "", false
	}
	s := unquote(c.text(), c.l.opt)
	for c.adv().kind == tString {
		s += unquote(c.text(), c.l.opt)
	}
	return s, true
}

// tableName reads [schema.]name.
func (c *cur) tableName() (TableName, bool) {
	if c.tok.kind != tWord && c.tok.kind != tQIdent {
		return TableName{}, false
	}
	a, ok := c.ident()
	if !ok {
		return TableName{}, false
	}
	if c.isPunct('.') {
		save := *c
		c.adv()
		if c.tok.kind == tNumber { // after '.', digits are an identifier
			c.tok.kind = tWord
		}
		if b, ok := c.ident(); ok {
			return TableName{Schema: a, Name: b}, true
		}
		*c = save
	}
	return TableName{Name: a}, true
}

// tableList reads name[, name]... and returns them.
func (c *cur) tableList() []TableName {
	var out []TableName
	for {
		t, ok := c.tableName()
		if !ok {
			return out
		}
		out = addTable(out, t)
		if !c.acceptPunct(',') {
			return out
		}
	}
}

// skipUser skips an account name: user, 'user'@'host', CURRENT_USER[()].
func (c *cur) skipUser() {
	switch c.tok.kind {
	case tWord, tString, tQIdent:
		cu := c.is("CURRENT_USER")
		c.adv()
		if cu && c.isPunct('(') {
			c.skipParens()
		}
	default:
		return
	}
	if c.tok.kind == tUserVar {
		c.adv()
	} else if c.isPunct('@') {
		c.adv()
		c.adv()
	}
}
