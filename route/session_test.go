package route

import (
	"reflect"
	"testing"

	"github.com/fwdproxy/fwdproxy/sqlclass"
)

var (
	ro = sqlclass.AccessReadOnly
	rw = sqlclass.AccessReadWrite
)

func targets(sql string) []sqlclass.TableName {
	return sqlclass.Classify(sql, sqlclass.Options{}).Targets
}

// applyCases pin each Change: the session before, the change with its
// fact, the session after.
var applyCases = []struct {
	name   string
	before Session
	change Change
	fact   Fact
	want   Session
}{
	{"no change", Session{TxBegun: true, DB: "shop"}, NoChange, Fact{DB: "other"}, Session{TxBegun: true, DB: "shop"}},

	// What Decide names.
	{"create temp in a new session", Session{DB: "shop"}, AddTemp, Fact{Targets: targets("CREATE TEMPORARY TABLE tmp_ids (id INT)")},
		Session{DB: "shop", Temp: sqlclass.TempTables{"shop.tmp_ids": true}}},
	{"create temp names its database", Session{DB: "shop"}, AddTemp, Fact{Targets: targets("CREATE TEMPORARY TABLE stage.t (id INT)")},
		Session{DB: "shop", Temp: sqlclass.TempTables{"stage.t": true}}},
	{"drop temp", Session{DB: "shop", Temp: sqlclass.TempTables{"shop.tmp_ids": true, "shop.tmp_x": true}},
		DropTemp, Fact{Targets: targets("DROP TEMPORARY TABLE tmp_ids")},
		Session{DB: "shop", Temp: sqlclass.TempTables{"shop.tmp_x": true}}},
	{"drop temp in a new session", Session{}, DropTemp, Fact{Targets: targets("DROP TEMPORARY TABLE IF EXISTS t")}, Session{}},
	{"use", Session{DB: "shop", TxWriter: true}, UseDB, Fact{DB: "stage"}, Session{DB: "stage", TxWriter: true}},

	// Where a statement ran.
	{"reader run keeps the insert id on the writer", Session{LastForwarded: true, InsertIDOnWriter: true}, RanOnReader, Fact{},
		Session{InsertIDOnWriter: true}},
	{"reader insert takes the insert id", Session{LastForwarded: true, InsertIDOnWriter: true}, RanOnReader, Fact{InsertID: true},
		Session{}},
	{"forwarded update", Session{}, RanOnWriter, Fact{}, Session{LastForwarded: true}},
	{"forwarded insert", Session{}, RanOnWriter, Fact{InsertID: true}, Session{LastForwarded: true, InsertIDOnWriter: true}},
	{"forwarded update keeps an earlier insert id", Session{InsertIDOnWriter: true}, RanOnWriter, Fact{},
		Session{LastForwarded: true, InsertIDOnWriter: true}},

	// The servers' status flags.
	{"reader autocommit off", Session{}, ReaderStatus, Fact{Autocommit: false}, Session{AutocommitOff: true}},
	{"reader autocommit on", Session{AutocommitOff: true, TxBegun: true}, ReaderStatus, Fact{Autocommit: true}, Session{TxBegun: true}},
	{"writer in a transaction", Session{}, WriterStatus, Fact{InTrans: true}, Session{TxWriter: true}},
	{"writer out of it", Session{TxWriter: true, TxBegun: true}, WriterStatus, Fact{InTrans: false}, Session{TxBegun: true}},

	// The writer's transaction, as the proxy runs it.
	{"writer begin", Session{TxBegun: true}, WriterBegin, Fact{}, Session{TxBegun: true, TxWriter: true}},
	{"writer ended", Session{TxBegun: true, TxWriter: true}, WriterEnded, Fact{}, Session{TxBegun: true}},
	{"writer lost holding the transaction", Session{TxBegun: true, TxWriter: true}, WriterLost, Fact{},
		Session{TxBegun: true, Terminated: true}},
	{"writer lost outside a transaction", Session{LastForwarded: true}, WriterLost, Fact{}, Session{LastForwarded: true}},
	{"writer lost again keeps terminated", Session{Terminated: true}, WriterLost, Fact{}, Session{Terminated: true}},

	// The client's transaction.
	{"begin", Session{NextAccess: rw, NextIso: "READ COMMITTED", SessAccess: ro, Isolation: "SERIALIZABLE"}, TxBegin, Fact{Access: rw},
		Session{TxBegun: true, SessAccess: ro, Isolation: "SERIALIZABLE"}},
	{"begin read only", Session{}, TxBegin, Fact{Access: ro}, Session{TxBegun: true, TxReadOnly: true}},
	{"begin over a read only one", Session{TxBegun: true, TxReadOnly: true}, TxBegin, Fact{}, Session{TxBegun: true}},
	{"end", Session{TxBegun: true, TxReadOnly: true, TxWriter: true, NextAccess: ro, NextIso: "READ COMMITTED", SessAccess: rw},
		TxEnd, Fact{}, Session{TxWriter: true, SessAccess: rw}},
	{"chain", Session{NextAccess: ro}, TxChain, Fact{ReadOnly: true}, Session{TxBegun: true, TxReadOnly: true, NextAccess: ro}},
	{"autocommit on commits", Session{TxBegun: true, TxReadOnly: true, NextAccess: ro}, TxCommitted, Fact{},
		Session{NextAccess: ro}},
	{"terminated told", Session{Terminated: true, TxBegun: true, TxReadOnly: true, NextAccess: ro, AutocommitOff: true},
		TerminatedTold, Fact{}, Session{NextAccess: ro, AutocommitOff: true}},

	// Characteristics.
	{"session access", Session{SessAccess: rw, Isolation: "READ COMMITTED"}, SetSession, Fact{Access: ro},
		Session{SessAccess: ro, Isolation: "READ COMMITTED"}},
	{"session isolation", Session{SessAccess: ro}, SetSession, Fact{Isolation: "SERIALIZABLE"},
		Session{SessAccess: ro, Isolation: "SERIALIZABLE"}},
	{"session, nothing named", Session{SessAccess: ro, Isolation: "SERIALIZABLE"}, SetSession, Fact{},
		Session{SessAccess: ro, Isolation: "SERIALIZABLE"}},
	{"next access and isolation", Session{SessAccess: rw}, SetNext, Fact{Access: ro, Isolation: "READ COMMITTED"},
		Session{SessAccess: rw, NextAccess: ro, NextIso: "READ COMMITTED"}},
	{"next, nothing named", Session{NextAccess: ro, NextIso: "READ COMMITTED"}, SetNext, Fact{},
		Session{NextAccess: ro, NextIso: "READ COMMITTED"}},
	{"read after a token", Session{DB: "shop"}, SetReadAfter, Fact{Token: "fp1:ma:1.0:0-1-5", TokenSet: gtids("0-1-5")},
		Session{DB: "shop", ReadAfter: "fp1:ma:1.0:0-1-5", ReadAfterSet: gtids("0-1-5")}},
	{"read after cleared", Session{ReadAfter: "fp1:ma:1.0:0-1-5", ReadAfterSet: gtids("0-1-5")}, SetReadAfter, Fact{},
		Session{}},
}

func TestApply(t *testing.T) {
	for _, c := range applyCases {
		t.Run(c.name, func(t *testing.T) {
			s := c.before
			if c.before.Temp != nil { // Apply may change the map: give it a copy
				s.Temp = sqlclass.TempTables{}
				for k := range c.before.Temp {
					s.Temp[k] = true
				}
			}
			s.Apply(c.change, c.fact)
			if len(s.Temp) == 0 && len(c.want.Temp) == 0 {
				s.Temp, c.want.Temp = nil, nil // no temporary tables, however kept
			}
			if !reflect.DeepEqual(s, c.want) {
				t.Errorf("%v from %+v:\n got %+v\nwant %+v", c.change, c.before, s, c.want)
			}
		})
	}
}

// TestApplyCovers: every Change has a row above.
func TestApplyCovers(t *testing.T) {
	seen := map[Change]bool{}
	for _, c := range applyCases {
		seen[c.change] = true
	}
	for c := NoChange; int(c) < len(changeNames); c++ {
		if !seen[c] {
			t.Errorf("no applyCases row for %v", c)
		}
	}
}

// A transaction's course, as the proxy applies it: the access mode the
// transaction gets and whether a write is refused as READ ONLY.
func TestAccess(t *testing.T) {
	for _, c := range []struct {
		name     string
		s        Session
		named    sqlclass.AccessMode
		access   sqlclass.AccessMode
		readOnly bool
	}{
		{"new session", Session{}, sqlclass.AccessDefault, sqlclass.AccessDefault, false},
		{"session read only", Session{SessAccess: ro}, sqlclass.AccessDefault, ro, true},
		{"next overrides the session", Session{SessAccess: ro, NextAccess: rw}, sqlclass.AccessDefault, rw, false},
		{"named overrides both", Session{SessAccess: rw, NextAccess: rw}, ro, ro, false},
		{"begun: the transaction's own mode", Session{TxBegun: true, SessAccess: ro}, sqlclass.AccessDefault, ro, false},
		{"begun read only", Session{TxBegun: true, TxReadOnly: true}, sqlclass.AccessDefault, sqlclass.AccessDefault, true},
	} {
		if got := c.s.Access(c.named); got != c.access {
			t.Errorf("%s: Access(%v) = %v, want %v", c.name, c.named, got, c.access)
		}
		if got := c.s.ReadOnly(); got != c.readOnly {
			t.Errorf("%s: ReadOnly() = %v, want %v", c.name, got, c.readOnly)
		}
	}
}

// TestZeroSession: the zero value is a new session, autocommit on.
func TestZeroSession(t *testing.T) {
	var s Session
	if !s.Autocommit() || s.ReadOnly() || s.TxBegun || s.TxWriter || len(s.Temp) != 0 {
		t.Errorf("zero Session: %+v", s)
	}
	s.Apply(ReaderStatus, Fact{Autocommit: false})
	if s.Autocommit() {
		t.Error("autocommit still on after the reader reported it off")
	}
}
