package route

import (
	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// Session is the session's own state: what Decide reads of it and what
// lives from one statement to the next. Its zero value is a new session:
// autocommit on, no transaction, no temporary tables.
//
// Only Apply changes it (and a reset: the zero value, keeping the current
// database), so every change is one of the Changes below: those Decide
// names, what the servers' status flags say, and the transactions the
// proxy opens and ends itself. To check, in the proxy, which keeps it in
// session.state: this finds no other write (assignment, map write,
// delete, or a pointer taken),
//
//	grep -rnE 's\.state\.[A-Z][A-Za-z]*(\[[^]]*\])? *([-+]?=[^=]|\+\+|--|,[^()]*[^=!<>]=[^=])|delete\(s\.state\.|&s\.state\b' proxy/
//
// (proxy's TestStateWrittenOnlyByApply runs it), and
// `grep -rn 's\.state = \|s\.state\.Apply' proxy/` lists every change.
type Session struct {
	// From the servers' status flags, where they say it.
	AutocommitOff bool // the reader's AUTOCOMMIT flag is off: the client's setting
	TxWriter      bool // the writer holds the open transaction: its IN_TRANS flag, or a START TRANSACTION the proxy sends ahead

	// The client's transaction, as the proxy answers BEGIN, COMMIT and
	// ROLLBACK itself.
	TxBegun    bool // an explicit BEGIN/START TRANSACTION is open
	TxReadOnly bool // the open transaction is READ ONLY
	// Terminated: the writer connection was lost while it held the
	// transaction; the next statement gets the terminated error.
	Terminated bool

	// Transaction characteristics the client set: for the session, and for
	// the next transaction only. The proxy keeps the access mode (the
	// reader stays read-only); isolation is the reader's too.
	SessAccess, NextAccess sqlclass.AccessMode
	Isolation, NextIso     string // "" = the server's default

	// The previous statement ran on the writer: ROW_COUNT(), SHOW WARNINGS
	// and @@warning_count answer from there. LAST_INSERT_ID() follows the
	// last statement that produced an insert id.
	LastForwarded    bool
	InsertIDOnWriter bool

	DB   string              // the current database
	Temp sqlclass.TempTables // "db.table" of this session's temporary tables

	// ReadAfter is the causal token the client set (fwdproxy_read_after):
	// every read waits for its GTIDs, ReadAfterSet, on top of what the
	// level waits for. "": none.
	ReadAfter    string
	ReadAfterSet consistency.Set
}

// Change is one change to a Session. Decide names the one a statement makes
// when it succeeds (Decision.Change: AddTemp, DropTemp, UseDB); the proxy
// applies the others where it learns of them.
type Change uint8

// Changes, with the Fact each reads.
const (
	NoChange Change = iota
	AddTemp         // Targets become temporary tables
	DropTemp        // Targets stop being temporary tables
	UseDB           // the current database becomes DB

	RanOnReader // a statement ran on the reader; InsertID: it produced an insert id
	RanOnWriter // a statement was forwarded; InsertID: it produced an insert id

	ReaderStatus // the reader's status flags: Autocommit
	WriterStatus // the writer's status flags: InTrans

	WriterBegin // the proxy sends START TRANSACTION to the writer ahead of the next statement
	WriterEnded // the proxy's own COMMIT ended the writer's transaction, or its START TRANSACTION was dropped unsent
	WriterLost  // the writer connection is gone: a transaction it held is terminated

	TxBegin        // BEGIN / START TRANSACTION with access mode Access
	TxEnd          // COMMIT / ROLLBACK
	TxChain        // … AND CHAIN: a new transaction, READ ONLY if ReadOnly
	TxCommitted    // SET autocommit=1 committed the open transaction
	TerminatedTold // the client got the terminated error: it starts clean

	SetSession   // SET [SESSION] TRANSACTION, tx_read_only, tx_isolation: Access, Isolation when set
	SetNext      // SET TRANSACTION (the next one only): Access, Isolation when set
	SetReadAfter // SET fwdproxy_read_after: Token, TokenSet ("" clears)
)

var changeNames = [...]string{"-", "AddTemp", "DropTemp", "UseDB", "RanOnReader", "RanOnWriter",
	"ReaderStatus", "WriterStatus", "WriterBegin", "WriterEnded", "WriterLost",
	"TxBegin", "TxEnd", "TxChain", "TxCommitted", "TerminatedTold", "SetSession", "SetNext", "SetReadAfter"}

func (c Change) String() string { return changeNames[c] }

// Fact is what a Change depends on; each Change reads the fields its
// comment names. It holds no pointer to the statement, which would make
// the statement escape to the heap.
type Fact struct {
	Targets    []sqlclass.TableName // a statement's
	DB         string
	InsertID   bool
	Autocommit bool
	InTrans    bool
	ReadOnly   bool
	Access     sqlclass.AccessMode
	Isolation  string
	Token      string
	TokenSet   consistency.Set
}

// Apply makes change c to the session. It is the only code that writes a
// Session's fields.
func (t *Session) Apply(c Change, f Fact) {
	switch c {
	case AddTemp:
		if t.Temp == nil {
			t.Temp = sqlclass.TempTables{}
		}
		for _, n := range f.Targets {
			t.Temp[t.Temp.Key(t.DB, n)] = true
		}
	case DropTemp:
		for _, n := range f.Targets {
			delete(t.Temp, t.Temp.Key(t.DB, n))
		}
	case UseDB:
		t.DB = f.DB
	case RanOnReader:
		t.LastForwarded = false
		if f.InsertID {
			t.InsertIDOnWriter = false
		}
	case RanOnWriter:
		t.LastForwarded = true
		if f.InsertID {
			t.InsertIDOnWriter = true
		}
	case ReaderStatus:
		// Only the reader's flag is the client's: the writer always runs
		// autocommit=1 and gets explicit transactions.
		t.AutocommitOff = !f.Autocommit
	case WriterStatus:
		t.TxWriter = f.InTrans
	case WriterBegin:
		t.TxWriter = true
	case WriterEnded:
		t.TxWriter = false
	case WriterLost:
		t.Terminated = t.Terminated || t.TxWriter
		t.TxWriter = false
	case TxBegin:
		t.TxBegun, t.TxReadOnly = true, f.Access == sqlclass.AccessReadOnly
		t.NextAccess, t.NextIso = sqlclass.AccessDefault, ""
	case TxEnd:
		t.TxBegun, t.TxReadOnly = false, false
		t.NextAccess, t.NextIso = sqlclass.AccessDefault, ""
	case TxChain:
		t.TxBegun, t.TxReadOnly = true, f.ReadOnly
	case TxCommitted:
		t.TxBegun, t.TxReadOnly = false, false
	case TerminatedTold:
		t.Terminated, t.TxBegun, t.TxReadOnly = false, false, false
	case SetSession:
		if f.Access != sqlclass.AccessDefault {
			t.SessAccess = f.Access
		}
		if f.Isolation != "" {
			t.Isolation = f.Isolation
		}
	case SetNext:
		if f.Access != sqlclass.AccessDefault {
			t.NextAccess = f.Access
		}
		if f.Isolation != "" {
			t.NextIso = f.Isolation
		}
	case SetReadAfter:
		t.ReadAfter, t.ReadAfterSet = f.Token, f.TokenSet
	}
}

// Autocommit: the client's autocommit is on.
func (t *Session) Autocommit() bool { return !t.AutocommitOff }

// Access is the access mode of a transaction that begins now with the
// access mode it names (AccessDefault: none).
func (t *Session) Access(named sqlclass.AccessMode) sqlclass.AccessMode {
	if named != sqlclass.AccessDefault {
		return named
	}
	if t.NextAccess != sqlclass.AccessDefault {
		return t.NextAccess
	}
	return t.SessAccess
}

// ReadOnly: the open transaction, or the next one, is READ ONLY.
func (t *Session) ReadOnly() bool {
	if t.TxBegun {
		return t.TxReadOnly
	}
	return t.Access(sqlclass.AccessDefault) == sqlclass.AccessReadOnly
}
