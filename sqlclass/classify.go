package sqlclass

import "strings"

func classify(sql string, opt Options) Statement {
	c := newCur(sql, opt)
	if c.tok.kind == tEOF {
		return Statement{Class: Empty}
	}
	var f features
	f.scan(sql, opt)
	st := Statement{Funcs: f.funcs, UserVars: f.vars}
	if f.own != nil {
		st.OwnVars = f.own
		st.OwnVarsOnly = ownVarItems(sql, opt, st.OwnVars)
	}
	if c.isPunct(';') {
		if !c.atEnd() {
			return st // stray ';' before a statement
		}
		st.Class = Empty
		return st
	}
	dispatch(&st, &c, &f)
	// MySQL rejects empty identifiers (the TiDB parser accepts ``): a table
	// without a name is no table, and a write that names none is Unknown.
	st.Targets, st.Sources = opt.asRead(named(st.Targets)), opt.asRead(named(st.Sources))
	if opt.NoSchema {
		// information_schema.global_status is then the current
		// database's table of that name, not the status variables.
		st.Funcs &^= FnStatusTable
	}
	// A write must name what it changes, or the proxy cannot place it.
	if (st.Class == Write || st.Class == LoadData) && (len(st.Targets) == 0 || f.seqOdd) {
		st.Class = Unknown
	}
	// A second statement could be anything. Only a stored program body
	// (DDL, never run on the reader) may hold ';'.
	if f.multi && !(st.Class == DDL && len(Split(sql, opt)) == 1) {
		st.Class = Unknown
	}
	return st
}

// keyword copies an upper-case form of a short word into buf.
func keyword(w string, buf *[24]byte) []byte {
	if len(w) > len(buf) {
		return nil
	}
	b := buf[:len(w)]
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		b[i] = c
	}
	return b
}

func dispatch(st *Statement, c *cur, f *features) {
	if c.isPunct('(') {
		for c.isPunct('(') {
			c.adv()
		}
		if c.is("SELECT") || c.is("WITH") || c.is("TABLE") || c.is("VALUES") {
			selectLike(st, f, "SELECT")
		}
		return
	}
	if c.tok.kind != tWord {
		return
	}
	var buf [24]byte
	switch string(keyword(c.text(), &buf)) {
	case "SELECT":
		selectLike(st, f, "SELECT")
	case "INSERT", "REPLACE", "UPDATE", "DELETE":
		writeStmt(st, c.rest(), c.l.opt, f)
	case "SET":
		setStmt(st, c, f)
	case "WITH":
		withStmt(st, c, f, false)
	case "TABLE", "VALUES":
		selectLike(st, f, "SELECT")
	case "SHOW":
		showStmt(st, c)
	case "EXPLAIN", "DESCRIBE", "DESC":
		st.Op = "EXPLAIN"
		if !c.is("EXPLAIN") {
			st.Op = "DESCRIBE"
		}
		c.adv()
		explainStmt(st, c, f, false)
	case "ANALYZE":
		analyzeStmt(st, c, f)
	case "DO":
		selectLike(st, f, "DO")
	case "HELP":
		st.Class, st.Op = Read, "HELP"
	case "CHECKSUM":
		if c.peekIs("TABLE") || c.peekIs("TABLES") {
			st.Class, st.Op = Read, "CHECKSUM TABLE"
		}
	case "CHECK":
		if c.peekIs("TABLE") || c.peekIs("TABLES") || c.peekIs("VIEW") {
			st.Class, st.Op, st.ImplicitCommit = Read, "CHECK TABLE", true
		}
	case "BEGIN":
		c.adv()
		c.accept("WORK")
		if c.atEnd() {
			st.Class, st.Op, st.ImplicitCommit = Begin, "BEGIN", true
		} else {
			st.Op = "BEGIN" // BEGIN NOT ATOMIC: a compound statement
		}
	case "START":
		startStmt(st, c)
	case "STOP":
		stopStmt(st, c)
	case "COMMIT":
		c.adv()
		st.Op = "COMMIT"
		if endTxn(st, c) {
			st.Class = Commit
		}
	case "ROLLBACK":
		rollbackStmt(st, c)
	case "SAVEPOINT":
		c.adv()
		st.Op = "SAVEPOINT"
		if n, ok := c.ident(); ok && c.atEnd() {
			st.Class, st.Name = Savepoint, lower(n)
		}
	case "RELEASE":
		c.adv()
		st.Op = "RELEASE SAVEPOINT"
		if c.accept("SAVEPOINT") {
			if n, ok := c.ident(); ok && c.atEnd() {
				st.Class, st.Name = Savepoint, lower(n)
			}
		}
	case "XA":
		st.Op = "XA"
		switch t := c.adv(); {
		case c.tokIs(t, "START"), c.tokIs(t, "BEGIN"), c.tokIs(t, "END"), c.tokIs(t, "PREPARE"),
			c.tokIs(t, "COMMIT"), c.tokIs(t, "ROLLBACK"), c.tokIs(t, "RECOVER"):
			st.Class = XA
		}
	case "LOCK":
		c.adv()
		switch {
		case c.is("TABLE"), c.is("TABLES"):
			st.Class, st.Op, st.ImplicitCommit = LockTables, "LOCK TABLES", true
		case c.is("INSTANCE"):
			st.Class, st.Op = LockTables, "LOCK INSTANCE"
		default:
			st.Op = "LOCK"
		}
	case "UNLOCK":
		c.adv()
		switch {
		case c.is("TABLE"), c.is("TABLES"):
			st.Class, st.Op, st.ImplicitCommit = UnlockTables, "UNLOCK TABLES", true
		case c.is("INSTANCE"):
			st.Class, st.Op = UnlockTables, "UNLOCK INSTANCE"
		default:
			st.Op = "UNLOCK"
		}
	case "CALL":
		st.Class, st.Op = Call, "CALL"
	case "PREPARE":
		prepareStmt(st, c)
	case "EXECUTE":
		st.Op = "EXECUTE"
		c.adv()
		if c.is("IMMEDIATE") {
			st.Op = "EXECUTE IMMEDIATE"
			return
		}
		if n, ok := c.ident(); ok && (c.atEnd() || c.is("USING")) {
			st.Class, st.Name = Execute, lower(n)
		}
	case "DEALLOCATE":
		c.adv()
		st.Op = "DEALLOCATE PREPARE"
		if c.accept("PREPARE") {
			if n, ok := c.ident(); ok && c.atEnd() {
				st.Class, st.Name = Deallocate, lower(n)
			}
		}
	case "USE":
		c.adv()
		st.Op = "USE"
		if n, ok := c.ident(); ok && c.atEnd() {
			st.Class, st.DB = Use, n
		}
	case "KILL":
		killStmt(st, c)
	case "SIGNAL", "RESIGNAL":
		st.Class, st.Op = Session, strings.ToUpper(c.text())
	case "GET":
		c.adv()
		st.Op = "GET DIAGNOSTICS"
		if !c.accept("CURRENT") {
			c.accept("STACKED")
		}
		if c.is("DIAGNOSTICS") {
			st.Class = Session
		}
	case "HANDLER":
		st.Class, st.Op = Session, "HANDLER"
	case "LOAD":
		loadStmt(st, c)
	case "CREATE":
		createStmt(st, c, f)
	case "DROP":
		dropStmt(st, c)
	case "ALTER":
		alterStmt(st, c)
	case "RENAME":
		c.adv()
		st.Class, st.Op, st.ImplicitCommit = DDL, "RENAME", true
		switch {
		case c.accept("TABLE"), c.accept("TABLES"):
			st.Op = "RENAME TABLE"
			for {
				from, ok := c.tableName()
				if !ok || !c.accept("TO") {
					break
				}
				to, ok := c.tableName()
				if !ok {
					break
				}
				st.Targets = addTable(addTable(st.Targets, from), to)
				if !c.acceptPunct(',') {
					break
				}
			}
		case c.is("USER"):
			st.Op = "RENAME USER"
		}
	case "TRUNCATE":
		c.adv()
		c.accept("TABLE")
		st.Class, st.Op, st.ImplicitCommit = DDL, "TRUNCATE TABLE", true
		st.Targets = c.tableList()
	case "GRANT", "REVOKE":
		st.Class, st.Op, st.ImplicitCommit = DDL, strings.ToUpper(c.text()), true
	case "OPTIMIZE", "REPAIR":
		op := "OPTIMIZE TABLE"
		if c.is("REPAIR") {
			op = "REPAIR TABLE"
		}
		c.adv()
		tableAdmin(st, c, op)
	case "FLUSH":
		st.Class, st.Op, st.ImplicitCommit = DDL, "FLUSH", true
	case "RESET":
		st.Class, st.Op, st.ImplicitCommit = DDL, "RESET", true
		if c.peekIs("PERSIST") {
			st.ImplicitCommit = false
		}
	case "PURGE":
		st.Class, st.Op, st.ImplicitCommit = DDL, "PURGE", true
	case "CHANGE":
		c.adv()
		switch {
		case c.is("MASTER"):
			st.Class, st.Op, st.ImplicitCommit = DDL, "CHANGE MASTER", true
		case c.is("REPLICATION"):
			st.Class, st.Op, st.ImplicitCommit = DDL, "CHANGE REPLICATION SOURCE", true
			if c.peekIs("FILTER") {
				st.Op = "CHANGE REPLICATION FILTER"
			}
		default:
			st.Op = "CHANGE"
		}
	case "SHUTDOWN", "RESTART", "CLONE", "IMPORT":
		st.Class, st.Op, st.ImplicitCommit = DDL, strings.ToUpper(c.text()), true
		if st.Op == "IMPORT" {
			st.Op = "IMPORT TABLE"
		}
	case "INSTALL", "UNINSTALL":
		verb := strings.ToUpper(c.text())
		c.adv()
		st.Op = verb
		switch {
		case c.is("PLUGIN"), c.is("SONAME"), c.is("COMPONENT"):
			st.Class, st.Op, st.ImplicitCommit = Plugin, verb+" "+strings.ToUpper(c.text()), true
		}
	case "CACHE":
		st.Op, st.ImplicitCommit = "CACHE INDEX", true
	default:
		st.Op = strings.ToUpper(c.text())
	}
}

// selectLike places a query: a sequence write makes it a Write of the
// sequences.
func selectLike(st *Statement, f *features, op string) {
	st.Class = selectClass(f)
	if st.Op == "" {
		st.Op = op
	}
	if st.Class == Write {
		st.Targets = f.seqs
	}
}

func selectClass(f *features) Class {
	switch {
	case f.seqWrite:
		return Write
	case f.lock:
		return LockingRead
	}
	return Read
}

// skipWith moves from WITH past the CTE list to the main statement.
func skipWith(c *cur) bool {
	c.adv()
	c.accept("RECURSIVE")
	for {
		if _, ok := c.ident(); !ok {
			return false
		}
		if c.isPunct('(') {
			c.skipParens()
		}
		if !c.accept("AS") || !c.isPunct('(') {
			return false
		}
		c.skipParens()
		if !c.acceptPunct(',') {
			return true
		}
	}
}

// withStmt places WITH … <main statement> by its main statement.
func withStmt(st *Statement, c *cur, f *features, explain bool) {
	start := c.rest()
	if !skipWith(c) {
		return
	}
	switch {
	case c.is("SELECT"), c.isPunct('('), c.is("TABLE"), c.is("VALUES"):
		selectLike(st, f, "SELECT")
	case c.is("UPDATE"), c.is("DELETE"):
		if explain {
			st.Class = Read
			return
		}
		writeStmt(st, start, c.l.opt, f)
	}
}

func showStmt(st *Statement, c *cur) {
	st.Class, st.Op = Read, "SHOW"
	c.adv()
	for c.accept("GLOBAL") || c.accept("SESSION") || c.accept("LOCAL") || c.accept("FULL") {
	}
	if c.tok.kind == tWord {
		st.Show.What = upper(c.text())
	}
	if c.is("COUNT") {
		c.adv()
		c.skipParens()
	}
	if c.is("WARNINGS") || c.is("ERRORS") {
		st.Funcs |= FnShowWarnings
	}
	for !c.atEnd() {
		switch {
		case c.accept("LIKE"):
			st.Show.Like, st.Show.HasLike = c.strings()
			return
		case c.accept("WHERE"):
			// WHERE Variable_name LIKE 'p' is LIKE 'p' for variables and status.
			if st.Show.What == "VARIABLES" || st.Show.What == "STATUS" {
				if n, ok := c.ident(); ok && upperEq(n, "VARIABLE_NAME") && c.accept("LIKE") {
					if p, ok := c.strings(); ok && c.atEnd() {
						st.Show.Like, st.Show.HasLike = p, true
						return
					}
				}
			}
			st.Show.Where = true
			return
		}
		c.adv()
	}
}

// killStmt reads KILL [HARD|SOFT] [CONNECTION|QUERY] id. KILL QUERY ID and
// KILL USER are not read: their "id" is no thread id.
func killStmt(st *Statement, c *cur) {
	st.Class, st.Op = Session, "KILL"
	c.adv()
	if !c.accept("HARD") {
		c.accept("SOFT")
	}
	if c.accept("QUERY") {
		st.Kill.Query = true
	} else {
		c.accept("CONNECTION")
	}
	start, end := c.tok.start, c.tok.start
	for ; !c.atEnd(); c.adv() {
		end = c.tok.end
	}
	st.Kill.IDText = c.l.s[start:end]
	st.Kill.ID, st.Kill.HasID = decimal(st.Kill.IDText)
}

// explainStmt handles what follows EXPLAIN/DESCRIBE (or MariaDB ANALYZE when
// analyze is set): the explained statement runs only under ANALYZE.
func explainStmt(st *Statement, c *cur, f *features, analyze bool) {
	for {
		switch {
		case c.accept("ANALYZE"):
			analyze = true
			continue
		case c.accept("EXTENDED"), c.accept("PARTITIONS"):
			continue
		case c.accept("FORMAT"):
			c.acceptPunct('=')
			c.adv()
			continue
		case c.is("INTO") && c.peek().kind == tUserVar:
			c.adv()
			c.adv()
			continue
		}
		break
	}
	switch {
	case c.atEnd():
	case c.is("SELECT"), c.isPunct('('), c.is("TABLE"), c.is("VALUES"):
		selectLike(st, f, "")
	case c.is("WITH"):
		withStmt(st, c, f, !analyze)
	case c.is("INSERT"), c.is("REPLACE"), c.is("UPDATE"), c.is("DELETE"):
		if analyze {
			writeStmt(st, c.rest(), c.l.opt, f)
		} else {
			st.Class = Read
		}
	case c.is("FOR"): // EXPLAIN FOR CONNECTION n
		st.Class = Read
	case c.tok.kind == tWord, c.tok.kind == tQIdent: // DESCRIBE table
		if !analyze {
			st.Class = Read
		}
	}
}

func analyzeStmt(st *Statement, c *cur, f *features) {
	c.adv()
	if c.is("NO_WRITE_TO_BINLOG") || c.is("LOCAL") || c.is("TABLE") || c.is("TABLES") {
		tableAdmin(st, c, "ANALYZE TABLE")
		return
	}
	st.Op = "ANALYZE"
	explainStmt(st, c, f, true)
}

// tableAdmin handles ANALYZE/OPTIMIZE/REPAIR [NO_WRITE_TO_BINLOG|LOCAL] TABLE list.
func tableAdmin(st *Statement, c *cur, op string) {
	st.Class, st.Op, st.ImplicitCommit = DDL, op, true
	if !c.accept("NO_WRITE_TO_BINLOG") {
		c.accept("LOCAL")
	}
	if c.accept("TABLE") || c.accept("TABLES") || c.accept("VIEW") {
		st.Targets = c.tableList()
	}
}

func startStmt(st *Statement, c *cur) {
	c.adv()
	switch {
	case c.is("TRANSACTION"):
		c.adv()
		st.Op = "START TRANSACTION"
		for !c.atEnd() {
			switch {
			case c.acceptSeq("READ", "ONLY"):
				st.Txn.Access = AccessReadOnly
			case c.acceptSeq("READ", "WRITE"):
				st.Txn.Access = AccessReadWrite
			case c.acceptSeq("WITH", "CONSISTENT", "SNAPSHOT"):
				st.Txn.ConsistentSnapshot = true
			default:
				return
			}
			if !c.acceptPunct(',') && !c.atEnd() {
				return
			}
		}
		st.Class, st.ImplicitCommit = Begin, true
	default:
		replicaAdmin(st, c, "START")
	}
}

func stopStmt(st *Statement, c *cur) {
	c.adv()
	replicaAdmin(st, c, "STOP")
}

// replicaAdmin handles START/STOP SLAVE|REPLICA|ALL SLAVES|GROUP_REPLICATION.
func replicaAdmin(st *Statement, c *cur, verb string) {
	st.Op = verb
	switch {
	case c.is("SLAVE"), c.is("REPLICA"), c.is("GROUP_REPLICATION"):
		st.Op = verb + " " + strings.ToUpper(c.text())
	case c.is("ALL"):
		st.Op = verb + " ALL SLAVES"
	default:
		return
	}
	st.Class, st.ImplicitCommit = DDL, true
}

// endTxn checks the rest of COMMIT/ROLLBACK: [WORK] [AND [NO] CHAIN] [[NO] RELEASE].
// endTxn reads COMMIT/ROLLBACK's [WORK] [AND [NO] CHAIN] [[NO] RELEASE]
// into st.Txn, from tokens: a comment that says RELEASE is no RELEASE.
func endTxn(st *Statement, c *cur) bool {
	c.accept("WORK")
	if c.accept("AND") {
		no := c.accept("NO")
		if !c.accept("CHAIN") {
			return false
		}
		st.Txn.Chain = !no
	}
	if c.accept("NO") {
		if !c.accept("RELEASE") {
			return false
		}
	} else {
		st.Txn.Release = c.accept("RELEASE")
	}
	return c.atEnd()
}

func rollbackStmt(st *Statement, c *cur) {
	c.adv()
	st.Op = "ROLLBACK"
	c.accept("WORK")
	if c.accept("TO") {
		st.Op = "ROLLBACK TO SAVEPOINT"
		c.accept("SAVEPOINT")
		if n, ok := c.ident(); ok && c.atEnd() {
			st.Class, st.Name = Savepoint, lower(n)
		}
		return
	}
	if endTxn(st, c) {
		st.Class = Rollback
	}
}

func prepareStmt(st *Statement, c *cur) {
	c.adv()
	st.Op = "PREPARE"
	n, ok := c.ident()
	if !ok || !c.accept("FROM") {
		return
	}
	switch c.tok.kind {
	case tUserVar:
		st.PrepareVar = userVarName(c.text(), c.l.opt)
		c.adv()
	case tString:
		st.PrepareText, _ = c.strings()
	default:
		return
	}
	if c.atEnd() {
		st.Class, st.Name = Prepare, lower(n)
	}
}

func loadStmt(st *Statement, c *cur) {
	c.adv()
	switch {
	case c.is("DATA"):
		st.Op = "LOAD DATA"
	case c.is("XML"):
		st.Op = "LOAD XML"
	case c.is("INDEX"):
		st.Op, st.ImplicitCommit = "LOAD INDEX", true
		return
	default:
		st.Op = "LOAD"
		return
	}
	st.Class = LoadData
	c.adv()
	for c.is("LOW_PRIORITY") || c.is("CONCURRENT") || c.is("LOCAL") {
		if c.is("LOCAL") {
			st.Local = true
		}
		c.adv()
	}
	for c.tok.kind != tEOF {
		if c.accept("INTO") {
			if c.accept("TABLE") {
				if t, ok := c.tableName(); ok {
					st.Targets = []TableName{t}
				}
				return
			}
			continue
		}
		c.adv()
	}
}

// named drops tables without a name, in place.
func named(ts []TableName) []TableName {
	out := ts[:0]
	for _, t := range ts {
		if t.Name != "" {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
