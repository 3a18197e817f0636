package sqlclass

import (
	"slices"
	"testing"
)

// TestSuspectCalls: every way of calling a stored function is reported;
// table and index names before their column lists, reserved words and
// builtins against their parenthesis are not.
func TestSuspectCalls(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want []string
	}{
		{"SELECT fw() FROM a FOR UPDATE", []string{"fw"}},
		{"SELECT t.fw() FROM t.a FOR UPDATE", []string{"t", "fw"}},
		{"SELECT `fw`() FROM a", []string{"fw"}},
		{"SELECT `t`.`f w`() FROM a", []string{"t", "f w"}},
		{"SELECT fw () FROM a", []string{"fw"}},
		{"SELECT fw/**/() FROM a", []string{"fw"}},
		{"SELECT fw -- x\n() FROM a", []string{"fw"}},
		{"SELECT /*!fw()*/ FROM a", []string{"fw"}},
		{"SELECT /*M!100000 fw()*/ FROM a", []string{"fw"}},
		{"SELECT /*!99999 fw()*/ FROM a", []string{"fw"}},
		{"SELECT {fn fw()} FROM a", []string{"fw"}},
		{"SELECT count (1) FROM a", []string{"count"}},  // MariaDB calls a stored count here
		{"SELECT `count`(1) FROM a", []string{"count"}}, // and here
		{"SELECT t.now() FROM a", []string{"t", "now"}}, // a builtin's name, qualified
		{"SELECT pkg.f() FROM a", []string{"pkg", "f"}}, // an Oracle-mode package
		{"SELECT db.pkg.f() FROM a", []string{"db", "pkg", "f"}},
		{"SELECT SUBSTRING('abc' FROM fw()) FROM a", []string{"fw"}},
		{"SELECT HIGH_PRIORITY fw() FROM a", []string{"fw"}},
		{"SELECT STRAIGHT_JOIN fw() FROM a", []string{"fw"}},
		{"SELECT agg(id) FROM a", []string{"agg"}},
		{"INSERT INTO tt VALUES (fw())", []string{"fw"}},
		{"INSERT INTO tt (x) SELECT fw()", []string{"fw"}},
		{"INSERT INTO tt VALUES (1) ON DUPLICATE KEY UPDATE x = fw()", []string{"fw"}},
		{"UPDATE tt SET x = fw()", []string{"fw"}},
		{"DELETE FROM tt WHERE fw()", []string{"fw"}},
		{"LOAD DATA LOCAL INFILE 'f' INTO TABLE tt (@v) SET x = fw()", []string{"fw"}},
		{"CREATE TEMPORARY TABLE tt SELECT fw() AS x", []string{"fw"}},
		{"CREATE TEMPORARY TABLE tt (x INT, y VARCHAR(10), KEY k (x)) SELECT fw() AS x", []string{"fw"}},
		// None.
		{"CREATE TEMPORARY TABLE tt (id INT(11) NOT NULL, d DECIMAL(10,2), e ENUM('a','b'), s SET('x'), " +
			"PRIMARY KEY (id), UNIQUE KEY u (d), INDEX i (e), CHECK (id > 0), v INT AS (id + 1), " +
			"c CHAR(3) DEFAULT (CONCAT('a', 'b')))", nil},
		{"CREATE TEMPORARY TABLE IF NOT EXISTS tt (x INT)", nil},
		{"INSERT INTO tt (x) VALUES (1), (2)", nil},
		{"INSERT tt (x) VALUES (1)", nil},
		{"SELECT COUNT(*), SUM(x), CONCAT(a, b), IFNULL(a, 0), NOW() FROM a WHERE id IN (1, 2) FOR UPDATE", nil},
		{"SELECT CAST(x AS CHAR(10)), CONVERT(x, CHAR(3)) FROM a", nil},
		{"WITH c (x) AS (SELECT 1) SELECT * FROM c", nil},
		{"SELECT * FROM (SELECT 1) AS d (x)", nil},
		{"SELECT * FROM a WHERE EXISTS (SELECT 1) AND x IN (SELECT 1) LOCK IN SHARE MODE", nil},
		{"SELECT 'fw()', \"g()\" FROM a", nil},
		{"SELECT x FROM a /* fw() */", nil},
		{"SELECT ROW_NUMBER() OVER (PARTITION BY x ORDER BY y) FROM a", nil},
	} {
		if got := SuspectsOf(c.sql, Options{}).Calls; !slices.Equal(got, c.want) {
			t.Errorf("%s: calls %q, want %q", c.sql, got, c.want)
		}
	}
}

// TestSuspectTables: every table named, read or written, is a suspect (a
// view calls functions), however the statement is written.
func TestSuspectTables(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want []TableName
	}{
		{"SELECT * FROM va FOR UPDATE", []TableName{{Name: "va"}}},
		{"SELECT * FROM t.va v JOIN b ON b.id = v.id FOR UPDATE", []TableName{{"t", "va"}, {Name: "b"}}},
		{"SELECT (SELECT f FROM va LIMIT 1) FROM a FOR UPDATE", []TableName{{Name: "va"}, {Name: "a"}}},
		{"WITH c AS (SELECT * FROM va) SELECT * FROM c FOR UPDATE", []TableName{{Name: "va"}}},
		{"CREATE TEMPORARY TABLE tt SELECT f FROM va", []TableName{{Name: "tt"}, {Name: "va"}}},
		{"SELECT /*!, (SELECT f FROM va) */ 1 FROM a FOR UPDATE", []TableName{{Name: "va"}, {Name: "a"}}},
		{"SELECT 1 FROM a FOR UPDATE", []TableName{{Name: "a"}}},
	} {
		got := SuspectsOf(c.sql, Options{}).Tables
		for _, w := range c.want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: tables %v, missing %v", c.sql, got, w)
			}
		}
	}
	// A CREATE TEMPORARY TABLE that reads nothing needs no question.
	for _, sql := range []string{
		"CREATE TEMPORARY TABLE tt (x INT)",
		"CREATE OR REPLACE TEMPORARY TABLE IF NOT EXISTS t.tt (id INT(11) PRIMARY KEY, d DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6), KEY k (d)) ENGINE=InnoDB",
	} {
		if s := SuspectsOf(sql, Options{}); !s.Empty() {
			t.Errorf("%s: suspects %+v", sql, s)
		}
	}
	for _, sql := range []string{
		"CREATE TEMPORARY TABLE a SELECT * FROM a",
		"CREATE TEMPORARY TABLE a LIKE a",
		"CREATE TEMPORARY TABLE a TABLE a",
		"CREATE TEMPORARY TABLE a /*!SELECT * FROM a*/",
	} {
		if s := SuspectsOf(sql, Options{}); !slices.Contains(s.Tables, TableName{Name: "a"}) {
			t.Errorf("%s: tables %v, missing a", sql, s.Tables)
		}
	}
}
