package sqlclass

import "strings"

func setStmt(st *Statement, c *cur, f *features) {
	c.adv()
	st.Op = "SET"
	switch {
	case c.is("TRANSACTION"):
		setTxn(st, c, TxnNext)
		return
	case (c.is("SESSION") || c.is("LOCAL")) && c.peekIs("TRANSACTION"):
		c.adv()
		setTxn(st, c, TxnSession)
		return
	case c.is("GLOBAL") && c.peekIs("TRANSACTION"):
		c.adv()
		setTxn(st, c, TxnGlobal)
		return
	case c.is("PASSWORD"):
		ddl(st, "SET PASSWORD", "")
		return
	case c.is("DEFAULT") && c.peekIs("ROLE"):
		ddl(st, "SET DEFAULT ROLE", "")
		return
	case c.is("ROLE"):
		st.Class, st.Op = Session, "SET ROLE"
		return
	case c.is("STATEMENT"):
		st.Op = "SET STATEMENT" // MariaDB SET STATEMENT … FOR <stmt>: the inner statement decides
		// but sql_log_bin, which needs SUPER as SET sql_log_bin does: on the
		// writer it would keep the statement from every replica.
		for c.adv(); !c.atEnd() && !c.is("FOR"); c.adv() {
			if c.is("SQL_LOG_BIN") {
				st.Class = SetGlobal
			}
		}
		return
	case c.is("RESOURCE") && c.peekIs("GROUP"):
		st.Op = "SET RESOURCE GROUP"
		return
	}
	if !setAssignments(st, c) {
		st.Assignments = nil
		return
	}
	st.Class = Set
	st.Subquery = f.sel || f.tblN > 0
	for _, a := range st.Assignments {
		if a.Scope == ScopeGlobal {
			st.Class = SetGlobal
		}
	}
	if f.seqWrite || f.lock {
		st.Class = Unknown // the value expression writes or locks
	}
}

func isAssignOp(t token, s string) bool {
	return t.kind == tAssign || t.kind == tPunct && s[t.start] == '='
}

// setAssignments parses the assignment list of SET. A scope keyword (GLOBAL,
// SESSION, …) also applies to the assignments after it that name none, as
// in MySQL.
func setAssignments(st *Statement, c *cur) bool {
	s := c.l.s
	sticky := ScopeSession
	for {
		start := c.tok.start
		var a Assignment
		switch {
		case c.tok.kind == tUserVar:
			a.Scope, a.Name = ScopeUser, userVarName(c.text(), c.l.opt)
			c.adv()
		case c.tok.kind == tSysVar:
			a.Scope, a.Name = sysVarScope(c.text(), c.l.opt, sticky)
			c.adv()
		case c.is("NAMES") && !isAssignOp(c.peek(), s):
			a.Scope, a.Name = ScopeNames, "names"
			c.adv()
		case c.is("CHARSET") && !isAssignOp(c.peek(), s):
			a.Scope, a.Name = ScopeNames, "character set"
			c.adv()
		case c.is("CHARACTER") && c.peekIs("SET"):
			a.Scope, a.Name = ScopeNames, "character set"
			c.adv()
			c.adv()
		default:
			switch {
			case c.is("GLOBAL") || c.is("PERSIST") || c.is("PERSIST_ONLY"):
				if !isAssignOp(c.peek(), s) {
					sticky = ScopeGlobal
					c.adv()
				}
			case c.is("SESSION") || c.is("LOCAL"):
				if !isAssignOp(c.peek(), s) {
					sticky = ScopeSession
					c.adv()
				}
			}
			name, ok := varName(c)
			if !ok {
				return false
			}
			a.Scope, a.Name = sticky, name
		}
		if a.Scope != ScopeNames {
			if !isAssignOp(c.tok, s) {
				return false
			}
			c.adv()
		}
		// The value runs to the next ',' outside parentheses.
		vstart, vend, depth := c.tok.start, -1, 0
		for c.tok.kind != tEOF && !(depth == 0 && (c.isPunct(',') || c.isPunct(';'))) {
			if c.isPunct('(') {
				depth++
			} else if c.isPunct(')') {
				depth--
			}
			vend = c.tok.end
			c.adv()
		}
		if vend < 0 {
			return false
		}
		a.Value = s[vstart:vend]
		a.Text = s[start:vend]
		st.Assignments = append(st.Assignments, a)
		if !c.acceptPunct(',') {
			return c.atEnd()
		}
	}
}

// varName reads a bare system variable name, with an optional dotted part
// (component variables, named key caches).
func varName(c *cur) (string, bool) {
	n, ok := c.ident()
	if !ok {
		return "", false
	}
	if c.isPunct('.') && c.tok.adj {
		c.adv()
		m, ok := c.ident()
		if !ok {
			return "", false
		}
		n = n + "." + m
	}
	return lower(n), true
}

// sysVarScope splits @@[scope.]name.
func sysVarScope(tok string, opt Options, sticky VarScope) (VarScope, string) {
	n := tok[2:]
	scope := sticky
	if i := strings.IndexByte(n, '.'); i > 0 {
		switch p := n[:i]; {
		case upperEq(p, "GLOBAL"), upperEq(p, "PERSIST"), upperEq(p, "PERSIST_ONLY"):
			scope, n = ScopeGlobal, n[i+1:]
		case upperEq(p, "SESSION"), upperEq(p, "LOCAL"):
			scope, n = ScopeSession, n[i+1:]
		}
	}
	if strings.IndexByte(n, '`') >= 0 {
		var b strings.Builder
		for len(n) > 0 {
			seg := n
			if n[0] == '`' {
				e := skipQuoted(n, 0, false)
				seg, n = unquote(n[:e], opt), n[e:]
			} else if i := strings.IndexByte(n, '.'); i >= 0 {
				seg, n = n[:i], n[i:]
			} else {
				n = ""
			}
			b.WriteString(seg)
			if len(n) > 0 && n[0] == '.' {
				b.WriteByte('.')
				n = n[1:]
			}
		}
		n = b.String()
	}
	return scope, lower(n)
}

// setTxn parses the characteristics of SET [scope] TRANSACTION.
func setTxn(st *Statement, c *cur, scope TxnScope) {
	st.Op = "SET TRANSACTION"
	st.Txn.Scope = scope
	c.adv()
	for {
		switch {
		case c.acceptSeq("ISOLATION", "LEVEL"):
			switch {
			case c.acceptSeq("REPEATABLE", "READ"):
				st.Txn.Isolation = "REPEATABLE READ"
			case c.acceptSeq("READ", "COMMITTED"):
				st.Txn.Isolation = "READ COMMITTED"
			case c.acceptSeq("READ", "UNCOMMITTED"):
				st.Txn.Isolation = "READ UNCOMMITTED"
			case c.accept("SERIALIZABLE"):
				st.Txn.Isolation = "SERIALIZABLE"
			default:
				return
			}
		case c.acceptSeq("READ", "ONLY"):
			st.Txn.Access = AccessReadOnly
		case c.acceptSeq("READ", "WRITE"):
			st.Txn.Access = AccessReadWrite
		default:
			return
		}
		if !c.acceptPunct(',') {
			break
		}
	}
	if c.atEnd() {
		st.Class = SetTransaction
	}
}
