// Package route decides where one classified statement runs: on the reader
// (with or without its read-only guard), on the writer, in the proxy itself,
// or nowhere, with the client's error. It is the only place that decides;
// every protocol path of the proxy (COM_QUERY, COM_STMT_PREPARE/EXECUTE,
// SEND_LONG_DATA, SQL PREPARE/EXECUTE) and lint execute its decisions.
// It is pure: no I/O, no shared state.
package route

import (
	"strings"

	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// Path is how a statement arrived.
type Path uint8

// Paths.
const (
	Text       Path = iota // COM_QUERY
	Binary                 // COM_STMT_EXECUTE of a COM_STMT_PREPARE
	SQLExecute             // EXECUTE name: the statement is the prepared text
	LongData               // COM_STMT_SEND_LONG_DATA: where the execute will run
	Prepare                // COM_STMT_PREPARE or PREPARE … FROM: where to prepare
)

var pathNames = [...]string{"Text", "Binary", "SQLExecute", "LongData", "Prepare"}

func (p Path) String() string { return pathNames[p] }

// Target is where the statement runs.
type Target uint8

// Targets.
const (
	Reader         Target = iota // the reader, read-only guard up
	ReaderWritable               // the reader with its guard lifted for this statement only (see Decision.Prove)
	Writer                       // forwarded to the writer
	WriterAside                  // run on the writer without becoming "the last forwarded statement": the previous statement's figures live there
	Proxy                        // the proxy answers it itself; Handler says how
	Reject                       // the client gets Err
)

var targetNames = [...]string{"Reader", "ReaderWritable", "Writer", "WriterAside", "Proxy", "Reject"}

func (t Target) String() string { return targetNames[t] }

// Handler names the proxy's own handling of a statement (Target Proxy, and
// Set with Target WriterAside).
type Handler uint8

// Handlers.
//
// Set with Target WriterAside or Writer: evaluate the SET on the writer
// (Writer: inside the session's writer transaction) and copy the values to
// the reader.
const (
	NoHandler      Handler = iota
	ShowWarnings           // the proxy's own warnings answer SHOW WARNINGS
	Set                    // SET: the proxy owns some variables and replays the rest on the writer
	SetTransaction         // SET [SESSION] TRANSACTION
	Begin                  // BEGIN / START TRANSACTION
	End                    // COMMIT / ROLLBACK [AND CHAIN] [RELEASE]
	Kill                   // KILL of a client id the proxy gave out
	PrepareText            // PREPARE … FROM
	ExecuteText            // EXECUTE name
	Deallocate             // DEALLOCATE PREPARE
	LocalPrepare           // the backends cannot prepare it (it sets the proxy's variables): the proxy keeps it
	OwnVars                // SELECT of the proxy's own variables only: the proxy answers
	ShowVariables          // SHOW VARIABLES that may list the proxy's variables: the reader's rows and the proxy's
	ShowStatus             // SHOW STATUS: the reader's rows and the proxy's Aurora_fwd_* rows
)

var handlerNames = [...]string{"", "ShowWarnings", "Set", "SetTransaction", "Begin", "End", "Kill",
	"PrepareText", "ExecuteText", "Deallocate", "LocalPrepare", "OwnVars", "ShowVariables", "ShowStatus"}

func (h Handler) String() string { return handlerNames[h] }

// Error is a rejection, as the client sees it.
type Error struct {
	Code  uint16
	State string
	Msg   string
	Op    string // the operation a 1235 names
}

// Errors of the write-forwarding contract.
var (
	ErrReadOnly   = &Error{Code: 1290, State: "HY000", Msg: "The MySQL server is running with the --read-only option so it cannot execute this statement"}
	ErrReadOnlyTx = &Error{Code: 1792, State: "25006", Msg: "Cannot execute statement in a READ ONLY transaction."}
	ErrSuper      = &Error{Code: 1227, State: "42000", Msg: "Access denied; you need (at least one of) the SUPER privilege(s) for this operation"}
	ErrKillParams = &Error{Code: 1295, State: "HY000", Msg: "This command is not supported in the prepared statement protocol yet"}
)

// OpStoredCode is the operation named when a statement that runs on the
// reader with its guard lifted may call a stored function or read a view.
const OpStoredCode = "CREATE TEMPORARY TABLE calling a stored function or reading a view"

// OpTempRef is the operation named when DML on a permanent table reads a
// temporary one, which exists only on the reader.
const OpTempRef = "DML on a permanent table that references a temporary table"

// NotSupported is Aurora's 1235 for op.
func NotSupported(op string) *Error {
	return &Error{1235, "42000", "This version of MySQL doesn't yet support '" + op + " with write forwarding'", op}
}

// Errors of SET handling, which the proxy's Set handler gives and lint
// reports.

// ErrBadValue is 1231 for a value variable name cannot take.
func ErrBadValue(name, value string) *Error {
	return &Error{Code: 1231, State: "42000", Msg: "Variable '" + name + "' can't be set to the value of '" + value + "'"}
}

// ErrBadToken is 1231 for a causal token the proxy cannot wait for; why
// says what is wrong with it.
func ErrBadToken(why string) *Error {
	return &Error{Code: 1231, State: "42000", Msg: "Variable 'fwdproxy_read_after' can't be set to this value: " + why}
}

// ErrReadOnlyVar is 1238 for a variable the session cannot set.
func ErrReadOnlyVar(name string) *Error {
	return &Error{Code: 1238, State: "HY000", Msg: "Variable '" + name + "' is a read only variable"}
}

// ErrLevelInTx is 1766: forwarding cannot be switched on or off inside a
// transaction.
var ErrLevelInTx = &Error{Code: 1766, State: "HY000", Msg: "The system variable aurora_replica_read_consistency cannot be set when there is an ongoing transaction."}

// State is the session state a decision depends on: the session's own
// (Session, which only Apply changes) and what the proxy reads of its
// connections and settings when it decides.
type State struct {
	Session
	Forwarding    bool // writes are forwarded: the session's level is not off and the server's switch is on
	Waits         bool // the level is SESSION or GLOBAL
	ReaderInTx    bool // the reader is inside a transaction: its guard cannot be lifted
	HasWriter     bool // the session has a writer connection
	ProxyWarnings bool // the previous statement left warnings made by the proxy
	// Opt is how the server reads the session's statements: its sql_mode's
	// lexing, and CLIENT_NO_SCHEMA (Opt.NoSchema), with which every
	// db.table is the current database's table. Statements are classified
	// with the same Opt, so their table names, the temporary tables they
	// touch and the guard's suspects are the ones the server will use.
	Opt sqlclass.Options
	// AccessVar is the backend's name for the session's access mode
	// (tx_read_only on MariaDB, transaction_read_only on MySQL): reads of
	// it get the client's setting, not the reader's guard. "": none.
	AccessVar string
}

// Input is one statement and how it arrived.
type Input struct {
	SQL    string // the statement's text (for SQLExecute, the prepared text)
	St     *sqlclass.Statement
	Path   Path
	Params bool // Binary: it has parameters; SQLExecute: EXECUTE … USING; Prepare (COM_STMT_PREPARE): it has placeholders
}

// Decision is what to do with a statement.
type Decision struct {
	Target  Target
	Handler Handler
	Err     *Error // Target Reject
	// Wait: first wait until the reader has what the session's level
	// needs; when the wait times out with the writer as fallback, run on
	// the writer instead (Begin: take the snapshot there).
	Wait   bool
	Change Change // what Session.Apply changes when the statement succeeds
	// Rewrite: the read names the proxy's variables or status tables, which
	// the proxy replaces in the text before the read runs.
	Rewrite Rewrite
	// Prove (ReaderWritable): the guard comes down only once the reader
	// shows that nothing the statement names (sqlclass.SuspectsOf) is a
	// stored function or a view, so that it can change nothing but the
	// session's temporary tables whatever the user's privileges; otherwise
	// Unproven decides.
	Prove bool
}

// Rewrite is how the proxy changes a read's text before it runs.
type Rewrite uint8

// Rewrites.
const (
	NoRewrite    Rewrite = iota
	OwnVarValues         // each @@aurora_… the proxy owns becomes its value
	StatusTables         // each global_status/session_status table gains the Aurora_fwd_* rows
	// BoundSet (Prepare): a SET with placeholders that assigns more than
	// user variables. The reader prepares its placeholder-bearing values
	// as assignments to user variables; each execute binds them there and
	// runs the SET as text with the values as literals, so that a bound
	// SET does what its text form does (the proxy's variables, the
	// writer's replay of session variables, autocommit).
	BoundSet
)

// OwnVarNames are the variables the proxy owns (ProxyVars), in SHOW
// VARIABLES order.
var OwnVarNames = []string{
	"aurora_fwd_writer_idle_timeout", "aurora_fwd_writer_max_connections_pct", "aurora_replica_read_consistency",
	"fwdproxy_causal_token", "fwdproxy_inject_fault", "fwdproxy_read_after", "fwdproxy_session_scope",
}

// ownRef: the proxy answers r. The session's access mode is the proxy's
// (the reader's connection stays read-only), under the name the backend
// has; its global value is the server's.
func (s *State) ownRef(r sqlclass.VarRef) bool {
	return ProxyVars[r.Name] || r.Name == s.AccessVar && r.Scope != sqlclass.ScopeGlobal
}

// AccessVar: name is the session's access mode variable.
func AccessVar(name string) bool { return name == "tx_read_only" || name == "transaction_read_only" }

func reader(wait bool) Decision { return Decision{Target: Reader, Wait: wait} }
func proxy(h Handler) Decision  { return Decision{Target: Proxy, Handler: h} }
func reject(e *Error) Decision  { return Decision{Target: Reject, Err: e} }

// proven lifts the guard once the reader shows the statement runs no
// stored code.
func proven(c Change) Decision { return Decision{Target: ReaderWritable, Change: c, Prove: true} }

// guardUp runs DML on temporary tables with the guard up: the server
// allows it there and refuses whatever else the statement would write (a
// stored function, a MERGE table's permanent children) with 1792.
var guardUp = Decision{Target: Reader}

// Decide is the routing rule. Every path decides with it.
func Decide(s *State, in Input) Decision {
	if in.Path == Prepare {
		return decidePrepare(s, in)
	}
	st := in.St
	switch st.Class {
	case sqlclass.Empty, sqlclass.UnlockTables:
		return reader(false)
	case sqlclass.Read:
		return s.read(in)
	case sqlclass.LockingRead:
		if s.Forwarding {
			return Decision{Target: Writer}
		}
		// As on a plain replica; MariaDB refuses locking reads in a
		// read-only transaction, so the guard is lifted for it.
		return proven(NoChange)
	case sqlclass.Write, sqlclass.Unknown:
		return s.write(st)
	case sqlclass.LoadData:
		if s.Temp.All(s.DB, st.Targets) {
			return guardUp
		}
		return s.refuse(opOr(st.Op, "LOAD DATA"))
	case sqlclass.CreateTempTable:
		// The server refuses it with the guard up. Its target is
		// temporary, so reading other temporary tables is fine.
		return proven(AddTemp)
	case sqlclass.DropTempTable:
		// It only names tables, and drops only temporary ones.
		return Decision{Target: ReaderWritable, Change: DropTemp}
	case sqlclass.DDL:
		return s.refuse(opOr(st.Op, "DDL"))
	case sqlclass.Plugin:
		return s.refuse(opOr(st.Op, "INSTALL PLUGIN"))
	case sqlclass.XA, sqlclass.Savepoint, sqlclass.LockTables, sqlclass.Call:
		if s.Forwarding {
			return reject(NotSupported(opOr(st.Op, st.Class.String())))
		}
		return reader(false)
	case sqlclass.Session:
		if st.Op == "KILL" {
			if in.Params {
				// The proxy cannot read a bound id, and on the reader the
				// id would name an unrelated thread.
				return reject(ErrKillParams)
			}
			return proxy(Kill)
		}
		return reader(false)
	case sqlclass.Use:
		return Decision{Target: Reader, Change: UseDB}
	case sqlclass.Set:
		return s.set(in)
	case sqlclass.SetGlobal:
		return reject(ErrSuper)
	case sqlclass.SetTransaction:
		return proxy(SetTransaction)
	case sqlclass.Begin:
		// WITH CONSISTENT SNAPSHOT takes the reader's snapshot at once: it
		// reads, so it waits for the level (or a causal token) first.
		d := proxy(Begin)
		d.Wait = st.Txn.ConsistentSnapshot && s.readWaits()
		return d
	case sqlclass.Commit, sqlclass.Rollback:
		return proxy(End)
	case sqlclass.Prepare:
		return proxy(PrepareText)
	case sqlclass.Execute:
		return proxy(ExecuteText)
	case sqlclass.Deallocate:
		return proxy(Deallocate)
	}
	// A class this rule does not know is treated as a write: safe.
	return s.write(st)
}

// read: the previous statement's diagnostics answer where it ran; in a
// transaction the writer holds (SESSION/GLOBAL), reads see it there, except
// reads of temporary tables, which exist only on the reader.
func (s *State) read(in Input) Decision {
	st := in.St
	showDiag := st.Funcs&sqlclass.FnShowWarnings != 0
	// The proxy's answer is a text result set: a binary execute gets the
	// server's.
	if showDiag && s.ProxyWarnings && in.Path != Binary {
		return proxy(ShowWarnings)
	}
	if s.HasWriter && (s.diagOnWriter(st.Funcs) || (s.LastForwarded && showDiag)) {
		return Decision{Target: WriterAside}
	}
	d := reader(true)
	if s.TxWriter && s.Waits && !s.readsTemp(in.SQL) {
		d = Decision{Target: Writer}
	}
	if in.Path == Text {
		return s.own(st, d)
	}
	return d
}

// own: a text read that names the proxy's own variables or status is
// answered by the proxy, merged with the reader's rows, or rewritten so
// that the backend d names evaluates the rest of it.
func (s *State) own(st *sqlclass.Statement, d Decision) Decision {
	known := s.anyOwn(st.OwnVars)
	show := st.Show
	switch {
	case st.Funcs&sqlclass.FnStatusTable != 0:
		d.Rewrite = StatusTables
	case show.What == "STATUS" && !show.Where:
		return proxy(ShowStatus)
	case st.OwnVarsOnly && allProxyVars(st.OwnVars):
		return proxy(OwnVars)
	case show.What == "VARIABLES" && !show.Where && (!show.HasLike || likeOwn(show.Like)):
		return proxy(ShowVariables)
	case known:
		d.Rewrite = OwnVarValues
	}
	return d
}

func (s *State) anyOwn(refs []sqlclass.VarRef) bool {
	for _, r := range refs {
		if s.ownRef(r) {
			return true
		}
	}
	return false
}

// allProxyVars: every reference is to a variable only the proxy has (the
// access mode is the server's variable: the reader evaluates a rewritten
// expression, so its column is typed as the server types it).
func allProxyVars(refs []sqlclass.VarRef) bool {
	for _, r := range refs {
		if !ProxyVars[r.Name] {
			return false
		}
	}
	return true
}

// likeOwn: a SHOW VARIABLES LIKE pattern matches one of the proxy's variables.
func likeOwn(pattern string) bool {
	for _, n := range OwnVarNames {
		if sqlclass.MatchLike(pattern, n) {
			return true
		}
	}
	return false
}

// diagOnWriter: the functions a statement uses answer from the writer,
// because the statement they describe ran there.
func (s *State) diagOnWriter(f sqlclass.Funcs) bool {
	return (s.LastForwarded && f&(sqlclass.FnRowCount|sqlclass.FnWarningCount) != 0) ||
		(s.InsertIDOnWriter && f&sqlclass.FnLastInsertID != 0)
}

// readsTemp: the read touches one of the session's temporary tables. Reads
// are classified without a parse; only a session with temporary tables pays
// for one here.
func (s *State) readsTemp(sql string) bool {
	if len(s.Temp) == 0 {
		return false
	}
	// The parser keeps what it is given: a copy, so that Decide's input
	// does not escape and the hot path stays free of allocations.
	ts, ok := sqlclass.Tables(strings.Clone(sql), s.Opt)
	return !ok || s.Temp.Any(s.DB, ts)
}

func (s *State) write(st *sqlclass.Statement) Decision {
	if st.Class == sqlclass.Write {
		if s.Temp.All(s.DB, st.Targets) {
			return guardUp
		}
		if s.Temp.RefFromPermanent(s.DB, st) != "" {
			return s.refuse(OpTempRef)
		}
	}
	if s.ReadOnly() {
		return reject(ErrReadOnlyTx)
	}
	if !s.Forwarding {
		return reject(ErrReadOnly)
	}
	return Decision{Target: Writer}
}

// set: SET @v = LAST_INSERT_ID() and the like evaluate where the value
// lives; SET @v = (SELECT …) reads like a SELECT and waits for the level.
// With parameters the backend binds them: a SET of user variables only
// runs on the reader, where they live; any other goes through the Set
// handler, which binds the values on the reader (BoundSet, or EXECUTE …
// USING) so that the proxy's variables take them, autocommit commits the
// writer's transaction and session variables reach the writer.
func (s *State) set(in Input) Decision {
	st := in.St
	if in.Params && WriterCanSet(st) {
		return reader(false)
	}
	if s.HasWriter && s.diagOnWriter(st.Funcs) && WriterCanSet(st) {
		return Decision{Target: WriterAside, Handler: Set}
	}
	if st.Subquery && s.Waits && s.TxWriter && WriterCanSet(st) {
		// It reads where a SELECT would: in the writer's transaction.
		return Decision{Target: Writer, Handler: Set}
	}
	return Decision{Target: Proxy, Handler: Set, Wait: st.Subquery && s.readWaits()}
}

// readWaits: a statement that reads the reader waits first, for the level
// or for the causal token the session set.
func (s *State) readWaits() bool { return s.Waits || s.ReadAfter != "" }

// WriterCanSet: a SET assigns only user variables, so it can be evaluated
// on the writer and its values copied to the reader (a Set decision whose
// wait falls back to the writer).
func WriterCanSet(st *sqlclass.Statement) bool {
	for _, a := range st.Assignments {
		if a.Scope != sqlclass.ScopeUser {
			return false
		}
	}
	return len(st.Assignments) > 0
}

// Unproven is the decision for a statement whose Decision.Prove failed:
// the reader showed, or could not show otherwise, that it may call a
// stored function or read a view. It is refused as a write: no backend
// can run it safely (its temporary tables live on the reader, a locking
// read with forwarding off has nowhere else to go).
func Unproven(s *State) Decision {
	return s.refuse(OpStoredCode)
}

// refuse rejects what write forwarding never runs: 1235, which names
// forwarding, in a session that forwards; in one that does not, 1290, as a
// plain read-only replica answers.
func (s *State) refuse(op string) Decision {
	if !s.Forwarding {
		return reject(ErrReadOnly)
	}
	return reject(NotSupported(op))
}

// decidePrepare: where a statement is prepared, so that its metadata and
// syntax errors come from a server. Statements Aurora refuses are refused
// at prepare time too, so the client learns early.
func decidePrepare(s *State, in Input) Decision {
	st := in.St
	switch st.Class {
	case sqlclass.DDL:
		return s.refuse(opOr(st.Op, "DDL"))
	case sqlclass.Plugin:
		return s.refuse(opOr(st.Op, "INSTALL PLUGIN"))
	case sqlclass.LoadData:
		return s.refuse(opOr(st.Op, "LOAD DATA"))
	case sqlclass.Read:
		if s.anyOwn(st.OwnVars) {
			// The proxy cannot answer in the binary protocol: the reader
			// prepares the text with the proxy's variables replaced, each
			// execute reading the session's level from a user variable.
			return Decision{Target: Reader, Rewrite: OwnVarValues}
		}
		return reader(false)
	case sqlclass.Empty, sqlclass.Session:
		return reader(false)
	case sqlclass.Set:
		if in.Params && !WriterCanSet(st) {
			return Decision{Target: Reader, Rewrite: BoundSet}
		}
		if SetsProxyVar(st) {
			return proxy(LocalPrepare)
		}
		return reader(false)
	}
	// The read-only reader refuses to prepare writes (and locking reads):
	// outside a transaction its guard is lifted for the prepare, which
	// changes nothing. Inside one it cannot be; temporary-table work is
	// allowed there, anything else is prepared on the writer.
	switch {
	case !s.ReaderInTx:
		return Decision{Target: ReaderWritable}
	case tempWork(s, st) || !s.Forwarding:
		return reader(false)
	}
	return Decision{Target: Writer}
}

// tempWork: the statement only creates, drops or changes temporary tables.
func tempWork(s *State, st *sqlclass.Statement) bool {
	switch st.Class {
	case sqlclass.CreateTempTable, sqlclass.DropTempTable:
		return true
	case sqlclass.Write, sqlclass.LoadData:
		return s.Temp.All(s.DB, st.Targets)
	}
	return false
}

// ProxyVars are the session variables the proxy owns: no backend knows
// them (or, for the access mode, the proxy keeps them off the reader).
var ProxyVars = map[string]bool{
	"aurora_replica_read_consistency":       true,
	"aurora_fwd_writer_idle_timeout":        true,
	"aurora_fwd_writer_max_connections_pct": true,
	"fwdproxy_causal_token":                 true, // what this session committed, for another session to wait for
	"fwdproxy_read_after":                   true, // a token this session's reads wait for
	"fwdproxy_inject_fault":                 true, // failures to inject in this session (package faults)
	"fwdproxy_session_scope":                true, // whose own GTIDs SESSION waits for: the connection's or the user's
}

// SetsProxyVar: a SET assigns one of ProxyVars, which no backend can
// prepare.
func SetsProxyVar(st *sqlclass.Statement) bool {
	return setsSession(st, func(name string) bool { return ProxyVars[name] })
}

// setsAutocommit: a SET assigns the session's autocommit.
func setsAutocommit(st *sqlclass.Statement) bool {
	return setsSession(st, func(name string) bool { return name == "autocommit" })
}

func setsSession(st *sqlclass.Statement, match func(string) bool) bool {
	for _, a := range st.Assignments {
		if a.Scope == sqlclass.ScopeSession && match(a.Name) {
			return true
		}
	}
	return false
}

func opOr(op, def string) string {
	if op != "" {
		return op
	}
	return def
}
