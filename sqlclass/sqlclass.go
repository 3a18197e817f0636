// Package sqlclass classifies MySQL/MariaDB statements for routing: which
// backend may run them, what they change, and which session state they touch.
// It is pure: no I/O, and no shared state but a pool of parsers.
package sqlclass

// Options carries how the server reads the session's statements: the
// parts of its sql_mode that change lexing, and whether its client
// negotiated CLIENT_NO_SCHEMA.
type Options struct {
	NoBackslashEscapes bool // sql_mode NO_BACKSLASH_ESCAPES: '\' is not an escape inside strings
	ANSIQuotes         bool // sql_mode ANSI_QUOTES: "x" is an identifier
	// NoSchema: the client negotiated CLIENT_NO_SCHEMA, with which the
	// server's parser drops the schema of db.table (and of db.table.column
	// and db.table.*): every table name resolves in the current database
	// (for a prepared statement, that of its prepare). Names come out of
	// this package as the server reads them, so without a schema.
	NoSchema bool
}

// Class is the routing class of a statement.
type Class uint8

// Classes. The tests list the statements of each.
const (
	Unknown         Class = iota // cannot be placed with certainty: writer, or 1290 with forwarding off
	Read                         // SELECT, SHOW, DESCRIBE/EXPLAIN (not ANALYZE of a write), DO, HELP, TABLE, VALUES, CHECKSUM/CHECK TABLE
	LockingRead                  // a SELECT with FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE anywhere
	Write                        // INSERT, REPLACE, UPDATE, DELETE, and queries that advance a sequence
	LoadData                     // LOAD DATA, LOAD XML
	CreateTempTable              // CREATE [OR REPLACE] TEMPORARY TABLE
	DropTempTable                // DROP TEMPORARY TABLE
	DDL                          // DDL, DCL and admin statements on permanent objects or the server
	Plugin                       // INSTALL/UNINSTALL PLUGIN, SONAME, COMPONENT
	Set                          // SET of session or user variables, SET NAMES, SET CHARACTER SET
	SetTransaction               // SET [GLOBAL|SESSION] TRANSACTION …
	SetGlobal                    // a SET that assigns a GLOBAL/PERSIST/PERSIST_ONLY variable
	Use                          // USE db
	Begin                        // BEGIN [WORK], START TRANSACTION …
	Commit                       // COMMIT [WORK] [AND [NO] CHAIN] [[NO] RELEASE]
	Rollback                     // ROLLBACK [WORK] [AND [NO] CHAIN] [[NO] RELEASE]
	Savepoint                    // SAVEPOINT, ROLLBACK TO [SAVEPOINT], RELEASE SAVEPOINT
	XA                           // XA START/BEGIN/END/PREPARE/COMMIT/ROLLBACK/RECOVER
	LockTables                   // LOCK TABLES, LOCK INSTANCE FOR BACKUP
	UnlockTables                 // UNLOCK TABLES, UNLOCK INSTANCE
	Call                         // CALL
	Prepare                      // PREPARE name FROM 'text' | @var
	Execute                      // EXECUTE name [USING …] (not EXECUTE IMMEDIATE)
	Deallocate                   // DEALLOCATE PREPARE, DROP PREPARE
	Session                      // session-local, safe on the reader: KILL, GET DIAGNOSTICS, SIGNAL, RESIGNAL, HANDLER, SET ROLE
	Empty                        // only blanks, comments and ';'
)

var classNames = [...]string{
	Unknown:         "Unknown",
	Read:            "Read",
	LockingRead:     "LockingRead",
	Write:           "Write",
	LoadData:        "LoadData",
	CreateTempTable: "CreateTempTable",
	DropTempTable:   "DropTempTable",
	DDL:             "DDL",
	Plugin:          "Plugin",
	Set:             "Set",
	SetTransaction:  "SetTransaction",
	SetGlobal:       "SetGlobal",
	Use:             "Use",
	Begin:           "Begin",
	Commit:          "Commit",
	Rollback:        "Rollback",
	Savepoint:       "Savepoint",
	XA:              "XA",
	LockTables:      "LockTables",
	UnlockTables:    "UnlockTables",
	Call:            "Call",
	Prepare:         "Prepare",
	Execute:         "Execute",
	Deallocate:      "Deallocate",
	Session:         "Session",
	Empty:           "Empty",
}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "Class(" + itoa(int(c)) + ")"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// TableName names a table; Schema "" is the current database. Identifiers
// are unquoted and keep their case.
type TableName struct{ Schema, Name string }

// AccessMode is a transaction access mode.
type AccessMode uint8

// Access modes.
const (
	AccessDefault AccessMode = iota
	AccessReadOnly
	AccessReadWrite
)

// TxnScope tells which transactions a SET TRANSACTION applies to.
type TxnScope uint8

// Transaction scopes: SET TRANSACTION, SET SESSION TRANSACTION, SET GLOBAL TRANSACTION.
const (
	TxnNext TxnScope = iota
	TxnSession
	TxnGlobal
)

// Txn describes BEGIN / START TRANSACTION and SET TRANSACTION.
type Txn struct {
	Access             AccessMode // for Begin and SetTransaction
	Isolation          string     // SetTransaction: "REPEATABLE READ", "READ COMMITTED", "READ UNCOMMITTED", "SERIALIZABLE" or ""
	Scope              TxnScope   // SetTransaction only
	ConsistentSnapshot bool       // Begin
	Chain, Release     bool       // Commit/Rollback: AND CHAIN, RELEASE
}

// VarScope is the kind of variable a SET assignment changes.
type VarScope uint8

// Variable scopes.
const (
	ScopeSession VarScope = iota
	ScopeGlobal           // GLOBAL, PERSIST, PERSIST_ONLY
	ScopeUser
	ScopeNames // SET NAMES / CHARACTER SET
)

// Assignment is one item of a SET statement.
type Assignment struct {
	Scope VarScope
	Name  string // lower case, no @/@@/scope prefix; "names" or "character set" for ScopeNames
	Value string // source text of the value, trimmed
	Text  string // source text of the whole item
}

// Funcs is a set of session-dependent functions a statement uses.
type Funcs uint8

// Function flags.
const (
	FnLastInsertID Funcs = 1 << iota
	FnRowCount
	FnFoundRows
	FnWarningCount // @@warning_count / @@error_count
	FnShowWarnings // SHOW WARNINGS / SHOW ERRORS / SHOW COUNT(*) WARNINGS|ERRORS
	FnStatusTable  // a schema's global_status or session_status table, which lists status variables
)

// Statement is the classification of one SQL statement.
type Statement struct {
	Class          Class
	Op             string // operation name, e.g. "CREATE TABLE", for error messages
	Txn            Txn
	Assignments    []Assignment // Set and SetGlobal, in order
	DB             string       // Use
	Name           string       // Prepare/Execute/Deallocate/Savepoint name, lower case (they are case-insensitive)
	PrepareText    string       // Prepare FROM 'literal': the unescaped text
	PrepareVar     string       // Prepare FROM @var: lower case, no @
	Local          bool         // LoadData: LOCAL present
	Targets        []TableName  // tables the statement changes (DDL: best effort)
	Sources        []TableName  // other tables it reads; not CTE names
	UserVars       []string     // user variables referenced, lower case, no @, first-appearance order
	ImplicitCommit bool
	Funcs          Funcs
	Subquery       bool // Set: a value is a nested query, which reads tables
	Show           Show // SHOW: what, and its filter
	Kill           Kill // KILL
	// OwnVars are the references to @@[scope.]aurora_… and fwdproxy_… variables and to the
	// access mode (@@tx_read_only, @@transaction_read_only), which the proxy
	// may answer itself, in order. OwnVarsOnly: the statement is
	// `SELECT ref [[AS] alias], …` and nothing else.
	OwnVars     []VarRef
	OwnVarsOnly bool
}

// Show describes a SHOW statement.
type Show struct {
	What    string // upper case, the word after SHOW [GLOBAL|SESSION|LOCAL] [FULL]: "VARIABLES", "STATUS", "WARNINGS", "GRANTS", …
	Like    string // the LIKE pattern, unquoted
	HasLike bool
	Where   bool // a WHERE filter, which only the server can evaluate; WHERE Variable_name LIKE p of VARIABLES and STATUS reads as LIKE p
}

// Kill describes KILL [HARD|SOFT] [CONNECTION|QUERY] id.
type Kill struct {
	Query  bool   // KILL QUERY: the running statement, not the connection
	ID     uint64 // the thread id, when HasID
	HasID  bool   // IDText is a decimal number
	IDText string // what stands where the id goes, as written, for error messages
}

// VarRef is one reference to a variable @@[scope.]aurora_… or fwdproxy_….
type VarRef struct {
	Start, End int      // the @@… token: sql[Start:End] of the text given to Classify
	Name       string   // lower case, without @@ and scope
	Scope      VarScope // ScopeGlobal for @@global., else ScopeSession
	// Column is the name of the column a select item made only of this
	// reference gets: its alias, unquoted, or its text; "" when it is not such
	// an item. Bare: such an item without alias, whose column name a rewrite
	// of the reference must keep.
	Column string
	Bare   bool
}

// Classify classifies one statement. A text that holds more than one
// statement is Unknown unless its first one is DDL (routine bodies).
func Classify(sql string, opt Options) Statement {
	if !hasExecComment(sql) {
		return classify(sql, opt)
	}
	a, cond := normalize(sql, opt, true)
	st := classify(a, opt)
	if !cond {
		return st
	}
	// A server may or may not run a versioned or /*M! comment: the two
	// readings must agree, or the statement is Unknown.
	b, _ := normalize(sql, opt, false)
	return merge(st, classify(b, opt))
}

// Qualify gives db to the tables the statement names without a database:
// a prepared statement's names resolve where it was prepared.
func (st *Statement) Qualify(db string) {
	if db == "" {
		return
	}
	for _, ts := range [][]TableName{st.Targets, st.Sources} {
		for i := range ts {
			if ts[i].Schema == "" {
				ts[i].Schema = db
			}
		}
	}
}

// asRead is ts as the server reads the names: under NoSchema without
// their schema (two names may become one). It reuses ts.
func (o Options) asRead(ts []TableName) []TableName {
	if !o.NoSchema {
		return ts
	}
	out := ts[:0]
	for _, t := range ts {
		t.Schema = ""
		out = addTable(out, t)
	}
	return out
}

func merge(a, b Statement) Statement {
	switch {
	case b.Class == Empty:
		return a
	case a.Class == Empty:
		return b
	}
	if a.Class != b.Class {
		switch {
		case isRead(a.Class) && isRead(b.Class):
			a.Class = LockingRead
		case isRead(a.Class) && b.Class == Write:
			a.Class, a.Op = Write, b.Op
		case a.Class == Write && isRead(b.Class):
		default:
			a.Class = Unknown
		}
	}
	a.Targets = unionTables(a.Targets, b.Targets)
	a.Sources = unionTables(a.Sources, b.Sources)
	for _, v := range b.UserVars {
		a.UserVars = addString(a.UserVars, v)
	}
	a.Funcs |= b.Funcs
	a.OwnVarsOnly = a.OwnVarsOnly && b.OwnVarsOnly
	a.ImplicitCommit = a.ImplicitCommit || b.ImplicitCommit
	return a
}

func isRead(c Class) bool { return c == Read || c == LockingRead }

func unionTables(a, b []TableName) []TableName {
	for _, t := range b {
		a = addTable(a, t)
	}
	return a
}

func addTable(list []TableName, t TableName) []TableName {
	for _, x := range list {
		if x == t {
			return list
		}
	}
	return append(list, t)
}

func addString(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
