package sqlclass

// ddlObject reads the object keyword(s) after CREATE/ALTER/DROP.
func ddlObject(c *cur) string {
	if c.tok.kind != tWord {
		return ""
	}
	var buf [24]byte
	w := string(keyword(c.text(), &buf))
	obj := ""
	switch w {
	case "TABLE", "TABLES":
		obj = "TABLE"
	case "INDEX", "KEY":
		obj = "INDEX"
	case "VIEW", "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", "DATABASE", "SCHEMA",
		"SEQUENCE", "SERVER", "USER", "ROLE", "TABLESPACE", "INSTANCE", "SYNONYM":
		obj = w
	case "LOGFILE":
		obj = "LOGFILE GROUP"
	case "SPATIAL":
		obj = "SPATIAL REFERENCE SYSTEM"
	case "RESOURCE":
		obj = "RESOURCE GROUP"
	case "UNDO":
		obj = "UNDO TABLESPACE"
	case "PACKAGE":
		obj = "PACKAGE"
		if c.peekIs("BODY") {
			c.adv()
			obj = "PACKAGE BODY"
		}
	default:
		return ""
	}
	c.adv()
	switch obj {
	case "LOGFILE GROUP", "RESOURCE GROUP":
		c.accept("GROUP")
	case "SPATIAL REFERENCE SYSTEM":
		c.acceptSeq("REFERENCE", "SYSTEM")
	case "UNDO TABLESPACE":
		c.accept("TABLESPACE")
	}
	return obj
}

// skipPrelude skips what may stand between CREATE/ALTER and the object:
// OR REPLACE, DEFINER=…, ALGORITHM=…, SQL SECURITY …, AGGREGATE, ONLINE, …
func skipPrelude(c *cur) {
	for {
		switch {
		case c.acceptSeq("OR", "REPLACE"):
		case c.accept("DEFINER"):
			c.acceptPunct('=')
			c.skipUser()
		case c.accept("ALGORITHM"):
			c.acceptPunct('=')
			c.adv()
		case c.accept("SQL"):
			c.accept("SECURITY")
			c.adv()
		case c.accept("AGGREGATE"), c.accept("ONLINE"), c.accept("OFFLINE"), c.accept("IGNORE"),
			c.accept("UNIQUE"), c.accept("FULLTEXT"), c.accept("EXTERNAL"):
		case c.is("SPATIAL") && (c.peekIs("INDEX") || c.peekIs("KEY")):
			c.adv()
		default:
			return
		}
	}
}

func ddl(st *Statement, verb, obj string) {
	st.Class, st.ImplicitCommit = DDL, true
	st.Op = verb
	if obj != "" {
		st.Op = verb + " " + obj
	}
}

// indexTable skips to ON tbl (CREATE/DROP INDEX … ON tbl) and reads tbl.
func indexTable(c *cur) []TableName {
	for i := 0; i < 16 && c.tok.kind != tEOF; i++ {
		if c.accept("ON") {
			if t, ok := c.tableName(); ok {
				return []TableName{t}
			}
			return nil
		}
		c.adv()
	}
	return nil
}

func createStmt(st *Statement, c *cur, f *features) {
	c.adv()
	c.acceptSeq("OR", "REPLACE")
	if c.accept("TEMPORARY") {
		createTemp(st, c, f)
		return
	}
	skipPrelude(c)
	obj := ddlObject(c)
	ddl(st, "CREATE", obj)
	c.acceptSeq("IF", "NOT", "EXISTS")
	switch obj {
	case "TABLE", "VIEW", "SEQUENCE":
		if t, ok := c.tableName(); ok {
			st.Targets = []TableName{t}
		}
	case "INDEX":
		st.Targets = indexTable(c)
	}
}

func createTemp(st *Statement, c *cur, f *features) {
	st.Op = "CREATE TEMPORARY"
	if !c.accept("TABLE") {
		if c.is("SEQUENCE") {
			st.Op = "CREATE TEMPORARY SEQUENCE"
		}
		return
	}
	st.Op = "CREATE TEMPORARY TABLE"
	c.acceptSeq("IF", "NOT", "EXISTS")
	t, ok := c.tableName()
	if !ok {
		return
	}
	st.Class = CreateTempTable
	st.Targets = []TableName{t}
	paren := c.acceptPunct('(')
	switch {
	case c.accept("LIKE"):
		if src, ok := c.tableName(); ok && (!paren || c.isPunct(')')) {
			st.Sources = []TableName{src}
		}
	case f.sel || f.tblN > 1:
		st.Sources = createSources(c.l.s, c.l.opt, t)
	}
	if f.seqWrite {
		st.Class = Unknown // a sequence write must not run on the reader
	}
}

func dropStmt(st *Statement, c *cur) {
	c.adv()
	switch {
	case c.accept("TEMPORARY"):
		st.Op = "DROP TEMPORARY TABLE"
		if c.accept("TABLE") || c.accept("TABLES") {
			c.acceptSeq("IF", "EXISTS")
			st.Targets = c.tableList()
			if len(st.Targets) > 0 {
				st.Class = DropTempTable
			}
		}
		return
	case c.accept("PREPARE"):
		st.Op = "DEALLOCATE PREPARE"
		if n, ok := c.ident(); ok && c.atEnd() {
			st.Class, st.Name = Deallocate, lower(n)
		}
		return
	}
	c.accept("ONLINE")
	c.accept("OFFLINE")
	obj := ddlObject(c)
	ddl(st, "DROP", obj)
	c.acceptSeq("IF", "EXISTS")
	switch obj {
	case "TABLE", "VIEW", "SEQUENCE":
		st.Targets = c.tableList()
	case "INDEX":
		st.Targets = indexTable(c)
	}
}

func alterStmt(st *Statement, c *cur) {
	c.adv()
	skipPrelude(c)
	obj := ddlObject(c)
	ddl(st, "ALTER", obj)
	c.acceptSeq("IF", "EXISTS")
	switch obj {
	case "TABLE", "VIEW", "SEQUENCE":
		if t, ok := c.tableName(); ok {
			st.Targets = []TableName{t}
		}
	}
}
