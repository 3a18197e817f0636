package route

import (
	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/faults"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// ErrTxCharacteristics is 1568: the access mode cannot change inside a
// transaction.
var ErrTxCharacteristics = &Error{Code: 1568, State: "25001", Msg: "Transaction characteristics can't be changed while a transaction is in progress"}

// SetOutcome is what a SET of the variables the proxy owns changes, when
// it is allowed: the session's consistency level (Level, when SetsLevel)
// its access mode (Access, AccessDefault when not set) and the causal
// token its reads wait for (ReadAfter and its GTIDs, when SetsReadAfter;
// "" clears it) and whose own GTIDs SESSION waits for (Scope, when
// SetsScope). The SET's
// other assignments are the reader's business. When it is refused,
// Refused names the variable whose assignment was.
type SetOutcome struct {
	Level     consistency.Level
	SetsLevel bool
	Access    sqlclass.AccessMode
	Refused   string

	ReadAfter     string
	ReadAfterSet  consistency.Set
	SetsReadAfter bool

	Scope     consistency.Scope
	SetsScope bool

	Faults     faults.Session // SET fwdproxy_inject_fault, when SetsFaults
	SetsFaults bool
}

// TokenCheck reads a causal token for this proxy's writer: its GTIDs, or
// why the proxy cannot wait for it (consistency.ParseToken, with the
// flavour and cluster the proxy knows).
type TokenCheck func(tok string) (consistency.Set, error)

// CheckSet is the proxy's rule for the assignments it owns in a SET: the
// error the whole statement gets, or what it changes. level is the
// session's consistency, inTx whether a transaction is open, switchOn the
// proxy-level forwarding switch, token reads a causal token. The first
// refused assignment decides.
func CheckSet(st *sqlclass.Statement, level consistency.Level, inTx, switchOn bool, token TokenCheck) (SetOutcome, *Error) {
	var out SetOutcome
	for _, a := range st.Assignments {
		if a.Scope != sqlclass.ScopeSession {
			continue
		}
		switch a.Name {
		case "aurora_replica_read_consistency":
			v := sqlclass.Unquote(a.Value)
			if !switchOn {
				return SetOutcome{Refused: a.Name}, ErrReadOnlyVar(a.Name)
			}
			lvl, ok := consistency.ParseLevel(v)
			if !ok {
				return SetOutcome{Refused: a.Name}, ErrBadValue(a.Name, v)
			}
			if inTx && (lvl == consistency.Off) != (level == consistency.Off) {
				return SetOutcome{Refused: a.Name}, ErrLevelInTx
			}
			out.Level, out.SetsLevel = lvl, true
		case "fwdproxy_read_after":
			v := sqlclass.Unquote(a.Value)
			var set consistency.Set
			if v != "" {
				var err error
				if set, err = token(v); err != nil {
					return SetOutcome{Refused: a.Name}, ErrBadToken(err.Error())
				}
			}
			out.ReadAfter, out.ReadAfterSet, out.SetsReadAfter = v, set, true
		case "fwdproxy_inject_fault":
			f, err := faults.ParseSession(sqlclass.Unquote(a.Value))
			if err != nil {
				return SetOutcome{Refused: a.Name}, ErrBadValue(a.Name, sqlclass.Unquote(a.Value))
			}
			out.Faults, out.SetsFaults = f, true
		case "fwdproxy_session_scope":
			v := sqlclass.Unquote(a.Value)
			sc, ok := consistency.ParseScope(v)
			if !ok {
				return SetOutcome{Refused: a.Name}, ErrBadValue(a.Name, v)
			}
			out.Scope, out.SetsScope = sc, true
		case "aurora_fwd_writer_idle_timeout", "aurora_fwd_writer_max_connections_pct", "fwdproxy_causal_token":
			return SetOutcome{Refused: a.Name}, ErrReadOnlyVar(a.Name)
		case "sql_log_bin":
			// An Aurora reader session has no SUPER; replayed on the
			// writer, it would keep forwarded writes from every replica.
			return SetOutcome{Refused: a.Name}, ErrSuper
		case "tx_read_only", "transaction_read_only": // AccessVar
			v, ok := sqlclass.BoolValue(a.Value)
			if !ok {
				return SetOutcome{Refused: a.Name}, ErrBadValue(a.Name, sqlclass.Unquote(a.Value))
			}
			if inTx {
				return SetOutcome{Refused: a.Name}, ErrTxCharacteristics
			}
			out.Access = sqlclass.AccessReadWrite
			if v {
				out.Access = sqlclass.AccessReadOnly
			}
		}
	}
	return out, nil
}

// OwnsAssignment: the proxy keeps a itself (CheckSet's variables); the
// reader never sees it.
func OwnsAssignment(a sqlclass.Assignment) bool {
	return a.Scope == sqlclass.ScopeSession && (ProxyVars[a.Name] || AccessVar(a.Name))
}
