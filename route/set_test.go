package route

import (
	"slices"
	"sort"
	"testing"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/faults"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

func TestCheckSet(t *testing.T) {
	ses := consistency.Session
	for _, c := range []struct {
		sql            string
		level          consistency.Level
		inTx, switchOn bool
		want           SetOutcome
		err            *Error
	}{
		{"SET aurora_replica_read_consistency = 'global'", ses, false, true, SetOutcome{Level: consistency.Global, SetsLevel: true}, nil},
		{"SET SESSION aurora_replica_read_consistency = ''", ses, false, true, SetOutcome{Level: consistency.Off, SetsLevel: true}, nil},
		{"SET aurora_replica_read_consistency = 'x'", ses, false, true, SetOutcome{Refused: "aurora_replica_read_consistency"},
			ErrBadValue("aurora_replica_read_consistency", "x")},
		{"SET aurora_replica_read_consistency = 'EVENTUAL'", ses, false, false, SetOutcome{Refused: "aurora_replica_read_consistency"},
			ErrReadOnlyVar("aurora_replica_read_consistency")},
		{"SET aurora_replica_read_consistency = ''", ses, true, true, SetOutcome{Refused: "aurora_replica_read_consistency"}, ErrLevelInTx},
		{"SET aurora_replica_read_consistency = 'GLOBAL'", ses, true, true, SetOutcome{Level: consistency.Global, SetsLevel: true}, nil},
		{"SET aurora_fwd_writer_idle_timeout = 5", ses, false, true, SetOutcome{Refused: "aurora_fwd_writer_idle_timeout"},
			ErrReadOnlyVar("aurora_fwd_writer_idle_timeout")},
		{"SET tx_read_only = 1, @a = 1", ses, false, true, SetOutcome{Access: sqlclass.AccessReadOnly}, nil},
		{"SET SESSION transaction_read_only = OFF", ses, false, true, SetOutcome{Access: sqlclass.AccessReadWrite}, nil},
		{"SET tx_read_only = 'maybe'", ses, false, true, SetOutcome{Refused: "tx_read_only"}, ErrBadValue("tx_read_only", "maybe")},
		{"SET tx_read_only = 1", ses, true, true, SetOutcome{Refused: "tx_read_only"}, ErrTxCharacteristics},
		{"SET GLOBAL aurora_replica_read_consistency = 'x', @b = 2", ses, false, true, SetOutcome{}, nil},
		{"SET names utf8mb4, time_zone = '+00:00'", ses, true, false, SetOutcome{}, nil},
		{"SET @a = 1, SESSION sql_log_bin = 0", ses, false, true, SetOutcome{Refused: "sql_log_bin"}, ErrSuper},
		// Causal tokens: any level, in a transaction too; "" clears.
		{"SET fwdproxy_read_after = 'fp1:ma:1.0:0-1-5'", consistency.Eventual, true, true,
			SetOutcome{ReadAfter: "fp1:ma:1.0:0-1-5", ReadAfterSet: gtids("0-1-5"), SetsReadAfter: true}, nil},
		{"SET @@session.fwdproxy_read_after = ''", ses, false, true, SetOutcome{SetsReadAfter: true}, nil},
		{"SET fwdproxy_read_after = 'fp1:ma:2.0:0-2-5'", ses, false, true, SetOutcome{Refused: "fwdproxy_read_after"},
			ErrBadToken("causal token is from another cluster (2.0), this proxy's writer is 1.0")},
		{"SET fwdproxy_read_after = 'nope', tx_read_only = 1", ses, false, true, SetOutcome{Refused: "fwdproxy_read_after"},
			ErrBadToken("not a fwdproxy causal token (want fp1:<flavour>:<cluster>:<gtids>)")},
		// The SESSION scope: any level, in a transaction and with
		// forwarding off too.
		{"SET fwdproxy_session_scope = 'USER'", consistency.Eventual, true, false,
			SetOutcome{Scope: consistency.ScopeUser, SetsScope: true}, nil},
		{"SET SESSION fwdproxy_session_scope = connection", ses, false, true,
			SetOutcome{Scope: consistency.ScopeConnection, SetsScope: true}, nil},
		{"SET fwdproxy_session_scope = 'pool'", ses, false, true, SetOutcome{Refused: "fwdproxy_session_scope"},
			ErrBadValue("fwdproxy_session_scope", "pool")},
		// Fault injection: any level, in a transaction too; '' clears.
		{"SET fwdproxy_inject_fault = 'idle_timeout,lag_spike:200'", consistency.Eventual, true, true,
			SetOutcome{Faults: injected("idle_timeout,lag_spike:200"), SetsFaults: true}, nil},
		{"SET fwdproxy_inject_fault = ''", ses, false, true, SetOutcome{SetsFaults: true}, nil},
		{"SET fwdproxy_inject_fault = 'meteor'", ses, false, true, SetOutcome{Refused: "fwdproxy_inject_fault"},
			ErrBadValue("fwdproxy_inject_fault", "meteor")},
		{"SET fwdproxy_causal_token = 'fp1:ma:1.0:0-1-5'", ses, false, true, SetOutcome{Refused: "fwdproxy_causal_token"},
			ErrReadOnlyVar("fwdproxy_causal_token")},
	} {
		st := sqlclass.Classify(c.sql, sqlclass.Options{})
		got, err := CheckSet(&st, c.level, c.inTx, c.switchOn, token)
		gotSet, wantSet := got.ReadAfterSet, c.want.ReadAfterSet
		got.ReadAfterSet, c.want.ReadAfterSet = nil, nil
		if got != c.want || !sameSet(gotSet, wantSet) || (err == nil) != (c.err == nil) || err != nil && *err != *c.err {
			t.Errorf("%s: %+v %v %v, want %+v %v %v", c.sql, got, gotSet, err, c.want, wantSet, c.err)
		}
	}
}

func injected(v string) faults.Session {
	f, err := faults.ParseSession(v)
	if err != nil {
		panic(err)
	}
	return f
}

// token reads tokens as a MariaDB proxy in front of writer 1.0 does.
func token(tok string) (consistency.Set, error) {
	return consistency.ParseToken(consistency.MariaDB, "1.0", tok)
}

func gtids(s string) consistency.Set {
	set, err := consistency.MariaDB.ParseSet(s)
	if err != nil {
		panic(err)
	}
	return set
}

func sameSet(a, b consistency.Set) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Contains(b) && b.Contains(a)
}

// OwnVarNames lists exactly ProxyVars.
func TestOwnVarNamesAreProxyVars(t *testing.T) {
	var names []string
	for n := range ProxyVars {
		names = append(names, n)
	}
	sort.Strings(names)
	if !slices.Equal(names, OwnVarNames) {
		t.Fatalf("ProxyVars %q, OwnVarNames %q", names, OwnVarNames)
	}
}
