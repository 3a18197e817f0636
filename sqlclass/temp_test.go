package sqlclass

import (
	"slices"
	"testing"
)

func TestTempTables(t *testing.T) {
	tt := TempTables{"app.tmp": true, "other.t2": true}
	cases := []struct {
		sql, db, want string
	}{
		{"INSERT INTO perm SELECT * FROM tmp", "app", "tmp"},
		{"INSERT INTO tmp SELECT * FROM perm", "app", ""},
		{"UPDATE perm SET v = (SELECT MAX(v) FROM tmp)", "app", "tmp"},
		{"DELETE tmp, perm FROM tmp JOIN perm ON tmp.id = perm.id", "app", "tmp"},
		{"INSERT INTO perm SELECT * FROM tmp", "other", ""},
		{"INSERT INTO perm SELECT * FROM other.t2", "app", "t2"},
		{"INSERT INTO perm VALUES (1)", "app", ""},
		{"INSERT INTO tmp SELECT * FROM tmp", "app", ""},
		{"UPDATE perm JOIN tmp ON perm.a = tmp.a SET perm.b = 1", "app", "tmp"},
	}
	for _, c := range cases {
		st := Classify(c.sql, Options{})
		if got := tt.RefFromPermanent(c.db, &st); got != c.want {
			t.Errorf("%s (db %s): %q, want %q", c.sql, c.db, got, c.want)
		}
	}
	if !tt.All("app", []TableName{{Name: "tmp"}}) || tt.All("app", nil) || tt.All("app", []TableName{{Name: "tmp"}, {Name: "p"}}) {
		t.Error("All")
	}
}

func TestUnquoteAndBoolValue(t *testing.T) {
	for in, want := range map[string]string{`'session'`: "session", `"x"`: "x", `'it''s'`: "it's", `'a\'b'`: "a'b", `EVENTUAL`: "EVENTUAL", ` '' `: ""} {
		if got := Unquote(in); got != want {
			t.Errorf("Unquote(%s) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]bool{"1": true, "ON": true, "'off'": false, "true": true, "0": false} {
		if got, ok := BoolValue(in); !ok || got != want {
			t.Errorf("BoolValue(%s) = %v %v", in, got, ok)
		}
	}
	if _, ok := BoolValue("2"); ok {
		t.Error("BoolValue(2) accepted")
	}
}

func TestChainRelease(t *testing.T) {
	for sql, want := range map[string][2]bool{
		"COMMIT":                      {false, false},
		"COMMIT AND CHAIN":            {true, false},
		"commit work and no chain":    {false, false},
		"ROLLBACK RELEASE;":           {false, true},
		"COMMIT AND CHAIN NO RELEASE": {true, false},
		"COMMIT /* RELEASE */":        {false, false},
		"ROLLBACK -- AND CHAIN\n":     {false, false},
		"COMMIT /* x */ RELEASE":      {false, true},
	} {
		st := Classify(sql, Options{})
		if st.Class != Commit && st.Class != Rollback {
			t.Errorf("%s: class %v", sql, st.Class)
		}
		if st.Txn.Chain != want[0] || st.Txn.Release != want[1] {
			t.Errorf("%s: chain %v release %v", sql, st.Txn.Chain, st.Txn.Release)
		}
	}
}

// TestNoSchema: under CLIENT_NO_SCHEMA the server drops the schema of
// every db.table (MariaDB 10.11, measured), so the names come out as it
// reads them; calls keep their qualifier, which the server keeps too.
func TestNoSchema(t *testing.T) {
	cases := []struct {
		sql              string
		targets, sources []TableName
		tables           []TableName // Tables and SuspectsOf's tables
		calls            []string
	}{
		{"INSERT INTO nosuch.t SELECT * FROM mysql.user JOIN u", []TableName{{Name: "t"}}, []TableName{{Name: "user"}, {Name: "u"}},
			[]TableName{{Name: "user"}, {Name: "u"}, {Name: "t"}}, nil},
		// The server refuses this one (1066: t twice).
		{"UPDATE a.t, b.t SET a.t.v = 1", []TableName{{Name: "t"}}, []TableName{{Name: "t"}}, []TableName{{Name: "t"}}, nil},
		{"CREATE TEMPORARY TABLE x.tt SELECT y.f() FROM information_schema.tables", []TableName{{Name: "tt"}}, []TableName{{Name: "tables"}},
			[]TableName{{Name: "tt"}, {Name: "tables"}}, []string{"y", "f"}},
		{"DROP TEMPORARY TABLE x.a, y.a, b", []TableName{{Name: "a"}, {Name: "b"}}, nil, nil, nil},
	}
	opt := Options{NoSchema: true}
	for _, c := range cases {
		st := Classify(c.sql, opt)
		if !slices.Equal(st.Targets, c.targets) || !slices.Equal(st.Sources, c.sources) {
			t.Errorf("%s: targets %v sources %v, want %v %v", c.sql, st.Targets, st.Sources, c.targets, c.sources)
		}
		if c.tables == nil {
			continue
		}
		if ts, ok := Tables(c.sql, opt); !ok || !slices.Equal(ts, c.tables) {
			t.Errorf("%s: Tables %v %v, want %v", c.sql, ts, ok, c.tables)
		}
		sus := SuspectsOf(c.sql, opt)
		if !slices.Equal(sus.Tables, c.tables) || !slices.Equal(sus.Calls, c.calls) {
			t.Errorf("%s: suspects %v %v, want %v %v", c.sql, sus.Tables, sus.Calls, c.tables, c.calls)
		}
	}
	// The status tables are then the current database's tables.
	q := "SELECT * FROM information_schema.global_status"
	if Classify(q, Options{}).Funcs&FnStatusTable == 0 || Classify(q, opt).Funcs&FnStatusTable != 0 {
		t.Errorf("%s: FnStatusTable only without NoSchema", q)
	}
}
