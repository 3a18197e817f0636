package route

import (
	"slices"
	"sort"
	"testing"

	"github.com/fwdproxy/fwdproxy/consistency"
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
	} {
		st := sqlclass.Classify(c.sql, sqlclass.Options{})
		got, err := CheckSet(&st, c.level, c.inTx, c.switchOn)
		if got != c.want || (err == nil) != (c.err == nil) || err != nil && *err != *c.err {
			t.Errorf("%s: %+v %v, want %+v %v", c.sql, got, err, c.want, c.err)
		}
	}
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
