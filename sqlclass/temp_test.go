package sqlclass

import "testing"

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
