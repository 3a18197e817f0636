package sqlclass

import (
	"reflect"
	"testing"
)

func TestShow(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		opt  Options
		want Show
	}{
		{sql: "SHOW VARIABLES", want: Show{What: "VARIABLES"}},
		{sql: "show global variables like 'aurora%';", want: Show{What: "VARIABLES", Like: "aurora%", HasLike: true}},
		{sql: "SHOW SESSION STATUS LIKE 'Aurora_fwd%'", want: Show{What: "STATUS", Like: "Aurora_fwd%", HasLike: true}},
		{sql: "SHOW LOCAL STATUS", want: Show{What: "STATUS"}},
		{sql: "SHOW FULL PROCESSLIST", want: Show{What: "PROCESSLIST"}},
		{sql: "SHOW GLOBAL FULL TABLES FROM db LIKE 't\\_%'", want: Show{What: "TABLES", Like: "t\\_%", HasLike: true}},
		{sql: "SHOW VARIABLES LIKE \"a\" 'b'", want: Show{What: "VARIABLES", Like: "ab", HasLike: true}},
		{sql: "SHOW VARIABLES LIKE 'it''s'", want: Show{What: "VARIABLES", Like: "it's", HasLike: true}},
		{sql: "SHOW VARIABLES LIKE ''", want: Show{What: "VARIABLES", HasLike: true}},
		{sql: "SHOW /* LIKE 'x' */ VARIABLES -- WHERE\n", want: Show{What: "VARIABLES"}},
		{sql: "SHOW VARIABLES WHERE Variable_name LIKE 'aurora%'", want: Show{What: "VARIABLES", Like: "aurora%", HasLike: true}},
		{sql: "SHOW GLOBAL STATUS WHERE `variable_name` LIKE 'Aurora%';", want: Show{What: "STATUS", Like: "Aurora%", HasLike: true}},
		{sql: "SHOW VARIABLES WHERE Variable_name LIKE 'a%' OR Value = 'b'", want: Show{What: "VARIABLES", Where: true}},
		{sql: "SHOW VARIABLES WHERE Value LIKE 'a%'", want: Show{What: "VARIABLES", Where: true}},
		{sql: "SHOW TABLES WHERE Variable_name LIKE 'a%'", want: Show{What: "TABLES", Where: true}},
		{sql: "SHOW STATUS where value > 0", want: Show{What: "STATUS", Where: true}},
		{sql: "SHOW WARNINGS LIMIT 1", want: Show{What: "WARNINGS"}},
		{sql: "SHOW COUNT(*) ERRORS", want: Show{What: "COUNT"}},
		{sql: "SHOW GRANTS FOR CURRENT_USER()", want: Show{What: "GRANTS"}},
		{sql: "SHOW GRANTS FOR 'like'@'%'", want: Show{What: "GRANTS"}},
		{sql: "SHOW VARIABLES LIKE @v", want: Show{What: "VARIABLES"}},
		{sql: "SHOW `x`", want: Show{}},
		{sql: "SELECT 1 LIKE 'a'", want: Show{}},
	} {
		if got := Classify(tc.sql, tc.opt).Show; got != tc.want {
			t.Errorf("Classify(%q).Show = %+v, want %+v", tc.sql, got, tc.want)
		}
	}
}

func TestKill(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want Kill
	}{
		{"KILL 42", Kill{ID: 42, HasID: true, IDText: "42"}},
		{"kill connection 7;", Kill{ID: 7, HasID: true, IDText: "7"}},
		{"KILL QUERY 7", Kill{Query: true, ID: 7, HasID: true, IDText: "7"}},
		{"KILL HARD QUERY /* x */ 7 ;;", Kill{Query: true, ID: 7, HasID: true, IDText: "7"}},
		{"KILL SOFT CONNECTION 18446744073709551615", Kill{ID: 1<<64 - 1, HasID: true, IDText: "18446744073709551615"}},
		{"KILL 18446744073709551616", Kill{IDText: "18446744073709551616"}},
		{"KILL -1", Kill{IDText: "-1"}},
		{"KILL 0x10", Kill{IDText: "0x10"}},
		{"KILL 1+1", Kill{IDText: "1+1"}},
		{"KILL QUERY ID 5", Kill{Query: true, IDText: "ID 5"}},
		{"KILL USER bob", Kill{IDText: "USER bob"}},
		{"KILL", Kill{}},
		{"KILL abc", Kill{IDText: "abc"}},
	} {
		st := Classify(tc.sql, Options{})
		if st.Class != Session || st.Op != "KILL" || st.Kill != tc.want {
			t.Errorf("Classify(%q) = %v %q %+v, want Session KILL %+v", tc.sql, st.Class, st.Op, st.Kill, tc.want)
		}
	}
}

func TestOwnVars(t *testing.T) {
	const arc = "aurora_replica_read_consistency"
	for _, tc := range []struct {
		sql  string
		opt  Options
		want []VarRef
		only bool
	}{
		{sql: "SELECT @@aurora_replica_read_consistency",
			want: []VarRef{{7, 40, arc, ScopeSession, "@@aurora_replica_read_consistency", true}}, only: true},
		{sql: "select @@SESSION.Aurora_Replica_Read_Consistency as c, @@global.aurora_replica_read_consistency `g` ;",
			want: []VarRef{{7, 48, arc, ScopeSession, "c", false}, {55, 95, arc, ScopeGlobal, "g", false}}, only: true},
		{sql: "SELECT @@local.aurora_fwd_writer_idle_timeout AS 'it''s'",
			want: []VarRef{{7, 45, "aurora_fwd_writer_idle_timeout", ScopeSession, "it's", false}}, only: true},
		{sql: "SELECT @@`aurora_fwd_writer_max_connections_pct` pct",
			want: []VarRef{{7, 48, "aurora_fwd_writer_max_connections_pct", ScopeSession, "pct", false}}, only: true},
		{sql: "SELECT DISTINCT @@aurora_x",
			want: []VarRef{{16, 26, "aurora_x", ScopeSession, "@@aurora_x", true}}},
		{sql: "SELECT @@aurora_replica_read_consistency, @@autocommit",
			want: []VarRef{{7, 40, arc, ScopeSession, "@@aurora_replica_read_consistency", true}}},
		{sql: "SELECT @@autocommit, @@aurora_replica_read_consistency",
			want: []VarRef{{21, 54, arc, ScopeSession, "@@aurora_replica_read_consistency", true}}},
		{sql: "select @@aurora_replica_read_consistency as c from dual",
			want: []VarRef{{7, 40, arc, ScopeSession, "c", false}}},
		{sql: "SELECT @@aurora_replica_read_consistency FROM dual",
			want: []VarRef{{7, 40, arc, ScopeSession, "@@aurora_replica_read_consistency", true}}},
		{sql: "SELECT CONCAT('c:', @@aurora_replica_read_consistency)",
			want: []VarRef{{20, 53, arc, ScopeSession, "", false}}},
		{sql: "SELECT f(1, @@aurora_x, 2)",
			want: []VarRef{{12, 22, "aurora_x", ScopeSession, "", false}}},
		{sql: "SELECT @@aurora_x = 'SESSION'",
			want: []VarRef{{7, 17, "aurora_x", ScopeSession, "", false}}},
		{sql: "SELECT @@aurora_x IS NULL",
			want: []VarRef{{7, 17, "aurora_x", ScopeSession, "", false}}},
		{sql: "SELECT * FROM (SELECT @@aurora_x) d WHERE 1 IN (2, @@aurora_y)",
			want: []VarRef{{22, 32, "aurora_x", ScopeSession, "@@aurora_x", true}, {51, 61, "aurora_y", ScopeSession, "", false}}},
		{sql: "SELECT a FROM t ORDER BY a, @@aurora_x",
			want: []VarRef{{28, 38, "aurora_x", ScopeSession, "", false}}},
		{sql: "SELECT 1 /* @@aurora_x */, '@@aurora_y', `@@aurora_z`"},
		{sql: "SELECT @@aurora_x /*!99999 + 1 */", // a server that runs the comment sees an expression
			want: []VarRef{{7, 17, "aurora_x", ScopeSession, "", false}}},
		{sql: "SELECT /*!50000 @@aurora_x */", // an older server sees only SELECT
			want: []VarRef{{16, 26, "aurora_x", ScopeSession, "@@aurora_x", true}}},
		{sql: "SELECT /*! @@aurora_x */",
			want: []VarRef{{11, 21, "aurora_x", ScopeSession, "@@aurora_x", true}}, only: true},
		{sql: "SET @@aurora_replica_read_consistency = 'GLOBAL'",
			want: []VarRef{{4, 37, arc, ScopeSession, "", false}}},
		{sql: "SELECT @@aurorax, @@xaurora_y, @@sql_mode"},
	} {
		st := Classify(tc.sql, tc.opt)
		if !reflect.DeepEqual(st.OwnVars, tc.want) || st.OwnVarsOnly != tc.only {
			t.Errorf("Classify(%q):\n got %+v only %v\nwant %+v only %v", tc.sql, st.OwnVars, st.OwnVarsOnly, tc.want, tc.only)
		}
		for _, r := range st.OwnVars {
			if tok := tc.sql[r.Start:r.End]; tok[:2] != "@@" {
				t.Errorf("%q: ref %q", tc.sql, tok)
			}
		}
	}
}

func TestDigest(t *testing.T) {
	for _, tc := range []struct {
		sql, want string
		opt       Options
	}{
		{sql: "SELECT c FROM sbtest1 WHERE id=5021", want: "select c from sbtest1 where id=?"},
		{sql: "  INSERT INTO t (a, b)\n\tVALUES (1, 'x'), (-2.5, \"it\"\"s\")  ", want: "insert into t (a, b) values (?, ?), (-?, ?)"},
		{sql: "CREATE TABLE IF NOT EXISTS tx (i INT DEFAULT 7)", want: "create table if not exists tx (i int default ?)"},
		{sql: "SELECT 'a\\'b', 1e5, 0x1F, .5, x'ff' FROM `My`.T1", want: "select ?, ?, ?, .?, x? from `my`.t1"},
		{sql: "SELECT 'a\\'", opt: nbe, want: "select ?"},
		{sql: "SELECT /* id 42 */ 1 -- x\n, # y\n 2", want: "select ? , ?"},
		{sql: "SELECT /*!40001 SQL_NO_CACHE */ * FROM t", want: "select sql_no_cache * from t"},
		{sql: "SELECT @V, @@SQL_MODE, ? LIMIT 1,2", want: "select @v, @@sql_mode, ? limit ?,?"},
		{sql: "SELECT t1.c FROM t1", want: "select t1.c from t1"},
		{sql: "", want: ""},
	} {
		if got := Digest(tc.sql, tc.opt); got != tc.want {
			t.Errorf("Digest(%q) = %q, want %q", tc.sql, got, tc.want)
		}
	}
}
