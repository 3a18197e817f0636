package lint

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/fwdproxy/fwdproxy/route"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// brief renders a finding as "LINE CODE OPERATION" ("LINE warning CATEGORY").
func brief(f Finding) string {
	code := "warning"
	if f.Severity == SeverityError {
		code = strconv.Itoa(f.Code)
	}
	return strconv.Itoa(f.Line) + " " + code + " " + f.Operation
}

func lintText(t *testing.T, text string, level Level) []string {
	t.Helper()
	fs, err := Lint("in", strings.NewReader(text), Config{Consistency: level})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fs {
		out = append(out, brief(f))
	}
	return out
}

const (
	tmpRef = "1235 " + route.OpTempRef
)

// lines joins statements one per line, so that statement i is on line i+1.
func lines(stmts ...string) string { return strings.Join(stmts, ";\n") + ";\n" }

var decisionCases = []struct {
	name  string
	sql   string
	level Level
	want  []string
}{
	{"reads", lines("SELECT 1", "SHOW TABLES", "DESCRIBE t", "EXPLAIN SELECT * FROM t", "DO 1",
		"SELECT a INTO @v FROM t", "SELECT * FROM t INTO OUTFILE '/tmp/x'", "TABLE t", "HELP 'x'"), Session, nil},
	{"locking reads", lines("SELECT * FROM t FOR UPDATE", "SELECT * FROM t LOCK IN SHARE MODE",
		"SELECT * FROM t WHERE a IN (SELECT a FROM u FOR SHARE NOWAIT)"), Session, nil},
	{"locking reads, forwarding off", lines("SELECT * FROM t FOR UPDATE"), Off, nil},
	{"writes forwarded", lines("INSERT INTO t VALUES (1)", "REPLACE INTO t VALUES (1)", "UPDATE t SET a = 1",
		"DELETE FROM t", "UPDATE t JOIN u ON t.a = u.a SET t.b = u.b", "INSERT INTO t SELECT * FROM u",
		"INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = 2", "SELECT NEXTVAL(s)"), Global, nil},
	{"writes, forwarding off", lines("INSERT INTO t VALUES (1)", "SELECT 1", "UPDATE t SET a = 1", "SELECT NEXTVAL(s)"), Off,
		[]string{"1 1290 INSERT", "3 1290 UPDATE", "4 1290 SELECT"}},
	{"DDL, forwarding on", lines("CREATE TABLE t (a INT)", "GRANT SELECT ON *.* TO u", "TRUNCATE t"), Session,
		[]string{"1 1235 CREATE TABLE", "2 1235 GRANT", "3 1235 TRUNCATE TABLE"}},
	{"DDL, forwarding off: as a read-only replica", lines("CREATE TABLE t (a INT)", "GRANT SELECT ON *.* TO u", "TRUNCATE t"), Off,
		[]string{"1 1290 CREATE TABLE", "2 1290 GRANT", "3 1290 TRUNCATE TABLE"}},
	{"plugins, forwarding on", lines("INSTALL PLUGIN p SONAME 'p.so'", "INSTALL SONAME 'x'"), Session,
		[]string{"1 1235 INSTALL PLUGIN", "2 1235 INSTALL SONAME"}},
	{"plugins, forwarding off", lines("INSTALL PLUGIN p SONAME 'p.so'", "INSTALL SONAME 'x'"), Off,
		[]string{"1 1290 INSTALL PLUGIN", "2 1290 INSTALL SONAME"}},
	{"XA SAVEPOINT LOCK CALL with forwarding on", lines("XA START 'x'", "SAVEPOINT a", "RELEASE SAVEPOINT a",
		"LOCK TABLES t READ", "UNLOCK TABLES", "CALL p()"), Eventual,
		[]string{"1 1235 XA", "2 1235 SAVEPOINT", "3 1235 RELEASE SAVEPOINT", "4 1235 LOCK TABLES", "6 1235 CALL"}},
	{"XA SAVEPOINT LOCK CALL with forwarding off", lines("XA START 'x'", "SAVEPOINT a", "LOCK TABLES t READ", "CALL p()"), Off,
		[]string{"4 warning " + WarnCallOnReader}},
	{"unknown goes to the writer", lines("SET STATEMENT a=1 FOR SELECT 1", "EXECUTE IMMEDIATE 'SELECT 1'"), Session,
		[]string{"1 warning unknown", "2 warning unknown"}},
	{"unknown with forwarding off", lines("SET STATEMENT a=1 FOR SELECT 1"), Off, []string{"1 1290 SET STATEMENT"}},
	{"set global", lines("SET GLOBAL a = 1", "SET @@persist.b = 2", "SET GLOBAL TRANSACTION READ ONLY", "SET SESSION a = 1"), Session,
		[]string{"1 warning set-global", "2 warning set-global", "3 warning set-global"}},

	// temporary tables
	{"temp tables", lines("CREATE TEMPORARY TABLE tmp (a INT)", "INSERT INTO tmp VALUES (1)",
		"INSERT INTO tmp SELECT a FROM perm", "UPDATE tmp SET a = 2", "DELETE FROM tmp",
		"LOAD DATA LOCAL INFILE 'x' INTO TABLE tmp", "SELECT * FROM tmp JOIN perm",
		"INSERT INTO perm SELECT * FROM tmp", "UPDATE perm JOIN tmp ON perm.a = tmp.a SET perm.b = 1",
		"DELETE FROM perm WHERE a IN (SELECT a FROM tmp)", "DELETE tmp, perm FROM tmp JOIN perm",
		"LOAD DATA INFILE 'x' INTO TABLE perm", "DROP TEMPORARY TABLE tmp", "INSERT INTO perm SELECT * FROM tmp"), Session,
		[]string{"8 " + tmpRef, "9 " + tmpRef, "10 " + tmpRef, "11 " + tmpRef, "12 1235 LOAD DATA"}},
	{"temp tables with forwarding off", lines("CREATE TEMPORARY TABLE tmp (a INT)", "INSERT INTO tmp VALUES (1)",
		"INSERT INTO perm SELECT * FROM tmp"), Off, []string{"3 1290 INSERT"}},
	{"temp tables are per database", lines("USE a", "CREATE TEMPORARY TABLE tmp (x INT)", "USE b",
		"INSERT INTO p SELECT * FROM tmp", "INSERT INTO p SELECT * FROM a.tmp", "INSERT INTO a.tmp VALUES (1)"), Session,
		[]string{"5 " + tmpRef}},
	{"create temp from temp is fine: its target is temporary", lines("CREATE TEMPORARY TABLE a (x INT)",
		"CREATE TEMPORARY TABLE b AS SELECT * FROM a", "CREATE TEMPORARY TABLE c AS SELECT * FROM perm"), Session,
		nil},
	{"DDL on a temp table", lines("CREATE TEMPORARY TABLE a (x INT)", "DROP TABLE a", "TRUNCATE TABLE a", "DROP TEMPORARY TABLE a"), Session,
		[]string{"2 1235 DROP TABLE", "3 1235 TRUNCATE TABLE"}},

	// transactions and access mode
	{"read only transaction", lines("START TRANSACTION READ ONLY", "SELECT 1", "INSERT INTO t VALUES (1)",
		"SELECT * FROM t FOR UPDATE", "COMMIT", "INSERT INTO t VALUES (1)"), Session, []string{"3 1792 INSERT"}},
	{"read only beats forwarding off", lines("START TRANSACTION READ ONLY", "INSERT INTO t VALUES (1)"), Off,
		[]string{"2 1792 INSERT"}},
	{"SET TRANSACTION READ ONLY is for the next transaction", lines("SET TRANSACTION READ ONLY", "BEGIN",
		"UPDATE t SET a = 1", "COMMIT", "UPDATE t SET a = 1"), Session, []string{"3 1792 UPDATE"}},
	{"SET SESSION TRANSACTION READ ONLY stays", lines("SET SESSION TRANSACTION READ ONLY", "UPDATE t SET a = 1",
		"BEGIN", "UPDATE t SET a = 1", "COMMIT", "SET SESSION TRANSACTION READ WRITE", "UPDATE t SET a = 1"), Session,
		[]string{"2 1792 UPDATE", "4 1792 UPDATE"}},
	{"tx_read_only", lines("SET tx_read_only = 1", "DELETE FROM t", "SET transaction_read_only = OFF", "DELETE FROM t",
		"SET @@session.transaction_read_only = 'ON'", "DELETE FROM t"), Session, []string{"2 1792 DELETE", "6 1792 DELETE"}},
	{"autocommit=0 opens a transaction", lines("SET SESSION TRANSACTION READ ONLY", "SET autocommit = 0", "SELECT 1",
		"INSERT INTO t VALUES (1)", "SET autocommit = 1", "SET SESSION TRANSACTION READ WRITE", "INSERT INTO t VALUES (1)"), Session,
		[]string{"4 1792 INSERT"}},
	{"COMMIT AND CHAIN keeps READ ONLY", lines("START TRANSACTION READ ONLY", "COMMIT AND CHAIN", "INSERT INTO t VALUES (1)",
		"COMMIT AND NO CHAIN", "INSERT INTO t VALUES (1)"), Session, []string{"3 1792 INSERT"}},
	{"START TRANSACTION READ WRITE quirk", lines("START TRANSACTION READ WRITE", "COMMIT", "START TRANSACTION", "COMMIT",
		"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ WRITE"), Session,
		[]string{"1 warning " + WarnReadWrite, "5 warning " + WarnReadWrite}},

	// isolation
	{"session isolation", lines("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", "SELECT 1",
		"UPDATE t SET a = 1", "UPDATE t SET a = 2", "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
		"UPDATE t SET a = 3", "SET transaction_isolation = 'SERIALIZABLE'", "SELECT * FROM t FOR UPDATE"), Session,
		[]string{"3 warning isolation", "8 warning isolation"}},
	{"next-transaction isolation", lines("SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED", "BEGIN", "SELECT 1",
		"INSERT INTO t VALUES (1)", "COMMIT", "INSERT INTO t VALUES (1)"), Session, []string{"4 warning isolation"}},
	{"isolation without writes", lines("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", "SELECT 1", "SELECT 2"), Session, nil},
	{"isolation with forwarding off", lines("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", "INSERT INTO t VALUES (1)"), Off,
		[]string{"2 1290 INSERT"}},

	// the session variable
	{"aurora_replica_read_consistency", lines("SET aurora_replica_read_consistency = 'eventual'",
		"SET aurora_replica_read_consistency = 'x'", "SET aurora_fwd_writer_max_connections_pct = 5",
		"BEGIN", "SET aurora_replica_read_consistency = ''", "SET aurora_replica_read_consistency = 'GLOBAL'", "COMMIT",
		"SET a = 1, aurora_replica_read_consistency = ''", "INSERT INTO t VALUES (1)", "XA START 'x'",
		"SET aurora_replica_read_consistency = SESSION", "XA START 'x'"), Session,
		[]string{"2 1231 SET aurora_replica_read_consistency", "3 1238 SET aurora_fwd_writer_max_connections_pct",
			"5 1766 SET aurora_replica_read_consistency", "9 1290 INSERT", "12 1235 XA"}},
	{"a refused write opens no transaction: forwarding may still be turned on", lines("SET autocommit = 0",
		"INSERT INTO t VALUES (1)", "SET aurora_replica_read_consistency = 'SESSION'", "INSERT INTO t VALUES (1)"), Off,
		[]string{"2 1290 INSERT"}},
	{"forwarding turned on in the input", lines("INSERT INTO t VALUES (1)", "SET aurora_replica_read_consistency = 'SESSION'",
		"INSERT INTO t VALUES (1)"), Off, []string{"1 1290 INSERT"}},

	// LAST_INSERT_ID
	{"last insert id once per session", lines("INSERT INTO t VALUES (1)", "SELECT LAST_INSERT_ID()",
		"INSERT INTO u VALUES (LAST_INSERT_ID())"), Session, []string{"2 warning " + WarnLastInsertID}},
	{"a read of LAST_INSERT_ID() runs on the writer: it sees the write", lines("INSERT INTO t VALUES (1)",
		"SELECT LAST_INSERT_ID() FROM t", "SELECT * FROM t"), Eventual,
		[]string{"2 warning " + WarnLastInsertID, "3 warning " + WarnReadAfterWrite}},
	{"last insert id, forwarding off", lines("SELECT LAST_INSERT_ID()"), Off, nil},

	// read after write
	{"read after write, EVENTUAL", lines("INSERT INTO t VALUES (1)", "SELECT * FROM t", "SELECT * FROM t",
		"UPDATE db.u SET a = 1", "USE db", "SELECT * FROM u JOIN v", "SELECT * FROM u"), Eventual,
		[]string{"2 warning " + WarnReadAfterWrite, "6 warning " + WarnReadAfterWrite}},
	{"read after write, SESSION", lines("INSERT INTO t VALUES (1)", "SELECT * FROM t"), Session, nil},
	{"read after write, far apart", lines("INSERT INTO t VALUES (1)", "SELECT 1", "SELECT 1", "SELECT 1", "SELECT 1",
		"SELECT 1", "SELECT 1", "SELECT 1", "SELECT 1", "SELECT 1", "SELECT 1", "SELECT * FROM t"), Eventual, nil},
	{"read after write in a transaction, EVENTUAL", lines("BEGIN", "UPDATE t SET a = 1", "SELECT * FROM t", "SELECT a FROM t",
		"COMMIT", "SELECT * FROM t", "BEGIN", "UPDATE t SET a = 1", "ROLLBACK", "SELECT * FROM t"), Eventual,
		[]string{"3 warning " + WarnReadAfterWrite, "6 warning " + WarnReadAfterWrite}},
	{"locking read after write", lines("INSERT INTO t VALUES (1)", "SELECT * FROM t FOR UPDATE"), Eventual, nil},
	{"level change forgets writes", lines("INSERT INTO t VALUES (1)", "SET aurora_replica_read_consistency = 'EVENTUAL'",
		"SELECT * FROM t"), Session, nil},

	// prepared statements
	{"text prepared statements", lines("PREPARE a FROM 'INSERT INTO t VALUES (?)'", "EXECUTE a USING @x",
		"PREPARE b FROM 'DROP TABLE t'", "PREPARE c FROM 'CALL p()'", "EXECUTE c", "DEALLOCATE PREPARE c", "EXECUTE c",
		"SET @q = 'LOCK TABLES t WRITE'", "PREPARE d FROM @q", "EXECUTE d", "SET @q = CONCAT('CALL ', 'p()')",
		"PREPARE e FROM @q", "EXECUTE e"), Session,
		[]string{"3 1235 DROP TABLE", "5 1235 CALL", "10 1235 LOCK TABLES"}},
	{"text prepared write, forwarding off", lines("PREPARE a FROM 'INSERT INTO t VALUES (?)'", "EXECUTE a",
		"PREPARE b FROM 'SELECT * FROM t'", "EXECUTE b"), Off, []string{"2 1290 INSERT"}},
	{"EXECUTE of a prepared SET is the proxy's SET", lines(`PREPARE a FROM "SET aurora_replica_read_consistency = ''"`,
		"EXECUTE a", "INSERT INTO t VALUES (1)"), Session, []string{"3 1290 INSERT"}},
	{"text prepared temp reference", lines("CREATE TEMPORARY TABLE tmp (a INT)",
		"PREPARE a FROM 'INSERT INTO perm SELECT * FROM tmp'", "EXECUTE a", "PREPARE b FROM 'INSERT INTO tmp VALUES (1)'", "EXECUTE b"), Session,
		[]string{"3 " + tmpRef}},

	// sessions end
	{"COMMIT RELEASE starts a new session", lines("SET aurora_replica_read_consistency = ''", "CREATE TEMPORARY TABLE tmp (a INT)",
		"COMMIT RELEASE", "INSERT INTO perm SELECT * FROM tmp"), Session, nil},

	// input handling
	{"statement line skips leading comments", "-- one\n/* two\n three */\n# four\nCREATE TABLE t (a INT);\n", Session,
		[]string{"5 1235 CREATE TABLE"}},
	{"executable comment is code", "/*!40000 ALTER TABLE t DISABLE KEYS */;\n", Session, []string{"1 1235 ALTER TABLE"}},
	{"several statements on a line", "SELECT 1; CALL p(); XA RECOVER;\n", Session, []string{"1 1235 CALL", "1 1235 XA"}},
	{"procedure body without DELIMITER", "CREATE PROCEDURE p()\nBEGIN\n  INSERT INTO t VALUES (1);\n  CALL q();\nEND;\nCALL p();\n", Session,
		[]string{"1 1235 CREATE PROCEDURE", "6 1235 CALL"}},
	{"DELIMITER blocks", "DELIMITER $$\nCREATE PROCEDURE p()\nBEGIN\n  CALL q();\nEND $$\n" +
		"SELECT '$$'; CALL r() $$\nDELIMITER ;\nCALL s();\ndelimiter //\nLOCK TABLES t READ //\n", Session,
		[]string{"2 1235 CREATE PROCEDURE", "6 1235 CALL", "8 1235 CALL", "10 1235 LOCK TABLES"}},
	{"comment ends after a delimiter", "SELECT 1; -- CALL p();\nCALL q(); /* CALL r(); */ XA RECOVER;\n", Session,
		[]string{"2 1235 CALL", "2 1235 XA"}},
	{"semicolon in a string", "SELECT ';\nCALL p()';\nCALL q();\n", Session, []string{"3 1235 CALL"}},
	{"sql_mode changes lexing", "SET sql_mode = 'NO_BACKSLASH_ESCAPES';\nSELECT 'a\\'; CALL p();\n", Session,
		[]string{"2 1235 CALL"}},
}

func TestDecisions(t *testing.T) {
	for _, tc := range decisionCases {
		got := lintText(t, tc.sql, tc.level)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s (%q):\n got %q\nwant %q", tc.name, tc.level.String(), got, tc.want)
		}
	}
}

func TestGeneralLog(t *testing.T) {
	log := "/usr/sbin/mariadbd, Version: 10.11.6-MariaDB-log (MariaDB Server). started with:\n" +
		"Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\n" +
		"Time\t\t    Id Command\tArgument\n" +
		"241121 10:00:00\t     5 Connect\tapp@localhost as anonymous on shop\n" + // 4
		"\t\t     6 Connect\tapp@localhost as anonymous on \n" +
		"\t\t     5 Query\tCREATE TEMPORARY TABLE tmp (a INT)\n" +
		"\t\t     6 Query\tINSERT INTO perm SELECT * FROM tmp\n" + // other session: fine
		"241121 10:00:01\t     5 Query\tINSERT INTO perm\n" + // 8
		"\tSELECT * FROM tmp\n" +
		"\t\t     6 Init DB\tshop\n" +
		"\t\t     6 Query\tSELECT 1;\n" +
		"CALL p()\n" + // 12: second statement of a multi-statement query
		"\t\t     5 Prepare\tCREATE TABLE x (a INT)\n" +
		"\t\t     5 Execute\tCREATE TABLE x (a INT)\n" +
		"\t\t     5 Prepare\tSAVEPOINT ?\n" +
		"\t\t     5 Execute\tINSERT INTO perm SELECT a FROM tmp WHERE a = 1\n" +
		"\t\t     5 Quit\t\n" +
		"\t\t     5 Query\tINSERT INTO perm SELECT * FROM tmp\n" + // new session 5: no temp table
		"\t\t     6 Query\tCREATE TEMPORARY TABLE t6 (a INT)\n" +
		"/usr/sbin/mariadbd, Version: 10.11.6-MariaDB-log (MariaDB Server). started with:\n" +
		"Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\n" +
		"Time\t\t    Id Command\tArgument\n" +
		"241121 10:00:05\t     6 Query\tDELETE FROM perm WHERE a IN (SELECT a FROM t6)\n" + // restarted: no t6
		"2024-03-01T10:00:00.123456Z\t    7 Query\tSET SESSION TRANSACTION READ ONLY\n" +
		"2024-03-01T10:00:00.123456+01:00\t    7 Query\tUPDATE t SET a = 1\n" + // 25
		"2024-03-01T10:00:00Z\t    7 Change user\troot@localhost on shop using Socket\n" +
		"2024-03-01T10:00:00Z\t    7 Query\tUPDATE t SET a = 1\n"
	if f := Detect([]byte(log)); f != GeneralLog {
		t.Fatalf("Detect = %v", f)
	}
	got := lintText(t, log, Session)
	want := []string{"8 " + tmpRef, "12 1235 CALL", "13 1235 CREATE TABLE", "16 " + tmpRef, "25 1792 UPDATE"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	fs, _ := Lint("g.log", strings.NewReader(log), Config{Consistency: Session})
	if len(fs) < 2 || fs[0].Thread != 5 || fs[1].Thread != 6 {
		t.Errorf("threads: %+v", fs)
	}
}

func TestSlowLog(t *testing.T) {
	log := "# Time: 2024-03-01T10:00:00.100000Z\n" +
		"# User@Host: app[app] @  [10.0.0.5]  Id:    31\n" +
		"# Query_time: 2.000123  Lock_time: 0.000010 Rows_sent: 10  Rows_examined: 100000\n" +
		"use shop;\n" +
		"SET timestamp=1709287200;\n" +
		"CREATE TEMPORARY TABLE tmp (a INT);\n" + // 6
		"# Time: 241121 10:00:01\n" +
		"# User@Host: app[app] @ localhost []\n" +
		"# Thread_id: 32  Schema: shop  QC_hit: No\n" +
		"# Query_time: 1.5  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\n" +
		"SET timestamp=1732183201;\n" +
		"INSERT INTO perm SELECT * FROM tmp;\n" + // 12: thread 32 has no tmp
		"# User@Host: app[app] @  [10.0.0.5]  Id:    31\n" +
		"# Query_time: 2.000123  Lock_time: 0.000010 Rows_sent: 10  Rows_examined: 100000\n" +
		"SET timestamp=1709287200;\n" +
		"INSERT INTO perm\n" + // 16
		"SELECT * FROM tmp;\n" +
		"# User@Host: app[app] @  [10.0.0.5]  Id:    31\n" +
		"# Query_time: 0  Lock_time: 0 Rows_sent: 0  Rows_examined: 0\n" +
		"SET timestamp=1709287200;\n" +
		"# administrator command: Quit;\n" +
		"# User@Host: app[app] @  [10.0.0.5]  Id:    31\n" +
		"# Query_time: 2.000123  Lock_time: 0.000010 Rows_sent: 10  Rows_examined: 100000\n" +
		"use shop;\n" +
		"SET timestamp=1709287200;\n" +
		"INSERT INTO perm SELECT * FROM tmp;\n" + // 26: after Quit, no tmp
		"SET timestamp=1709287200;\n" +
		"CALL p();\n" // 28: the same entry, after a SET timestamp line
	if f := Detect([]byte(log)); f != SlowLog {
		t.Fatalf("Detect = %v", f)
	}
	got := lintText(t, log, Session)
	want := []string{"16 " + tmpRef, "28 1235 CALL"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestDetect(t *testing.T) {
	cases := []struct {
		head string
		want Format
	}{
		{"SELECT 1;\n", SQL},
		{"", SQL},
		{"-- Time: not a log\nDELIMITER $$\n", SQL},
		{"# Time: 2024-01-01T10:00:00.123456Z\n", SlowLog},
		{"/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:\nTcp port: 3306  Unix socket: /x\nTime                 Id Command    Argument\n# Time: 2024-01-01T10:00:00Z\n", SlowLog},
		{"2024-01-01T10:00:00.123456Z\t   12 Query\tSELECT 1\n", GeneralLog},
		{"241121 10:00:00\t    12 Query\tSELECT 1\n", GeneralLog},
		{"241121  9:00:00\t    12 Connect\troot@localhost on test\n", GeneralLog},
		{"\t\t    12 Quit\t\n", GeneralLog},
		{"\t\t    12 Frobnicate\tx\n", SQL},
	}
	for _, tc := range cases {
		if got := Detect([]byte(tc.head)); got != tc.want {
			t.Errorf("Detect(%q) = %v, want %v", tc.head, got, tc.want)
		}
	}
}

func TestSQLChunks(t *testing.T) {
	src := "SELECT 1;\nDELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT ';'; END$$\n" +
		"SELECT '$$' $$\n-- $$ in a comment\nSELECT 2$$\n  delimiter ;\nSELECT 3;"
	var got []string
	for _, c := range sqlChunks(src, sqlclass.Options{}) {
		got = append(got, strings.TrimSpace(c.text))
		if src[c.off:c.off+len(c.text)] != c.text {
			t.Errorf("offset %d of %q", c.off, c.text)
		}
	}
	want := []string{"SELECT 1;", "CREATE PROCEDURE p() BEGIN SELECT ';'; END", "SELECT '$$'", "-- $$ in a comment\nSELECT 2", "SELECT 3;"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestFindingOutput(t *testing.T) {
	long := "INSERT INTO perm SELECT * FROM tmp WHERE " + strings.Repeat("a = 1 AND\n  ", 40) + "1"
	fs, err := Lint("x.sql", strings.NewReader("CREATE TEMPORARY TABLE tmp (a INT);\n-- c\n"+long+";\nSELECT 1;"), Config{Consistency: Session})
	if err != nil || len(fs) != 1 {
		t.Fatalf("%v %+v", err, fs)
	}
	f := fs[0]
	if want := "x.sql:3: 1235 " + route.OpTempRef + ": "; !strings.HasPrefix(f.Text(), want) {
		t.Errorf("Text() = %q, want prefix %q", f.Text(), want)
	}
	if n := len([]rune(f.Statement)); n != 200 || strings.Contains(f.Statement, "\n") || !strings.HasPrefix(f.Statement, "INSERT INTO perm") {
		t.Errorf("Statement (%d) = %q", n, f.Statement)
	}
	var m map[string]any
	if err := json.Unmarshal(f.JSON(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"file", "line", "code", "severity", "operation", "why", "message", "statement"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, f.JSON())
		}
	}
	if m["message"] != route.NotSupported(route.OpTempRef).Msg || m["code"] != float64(1235) || m["severity"] != "error" {
		t.Errorf("JSON %s", f.JSON())
	}
	w := Finding{File: "f", Line: 2, Severity: SeverityWarning, Operation: WarnIsolation, Why: "w"}
	if w.Text() != "f:2: warning isolation: w" {
		t.Errorf("warning Text() = %q", w.Text())
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]Level{"": Off, "eventual": Eventual, "Session": Session, "GLOBAL": Global} {
		if got, ok := ParseLevel(in); !ok || got != want || (in != "" && !strings.EqualFold(got.String(), in)) {
			t.Errorf("ParseLevel(%q) = %v, %v", in, got, ok)
		}
	}
	for _, in := range []string{" SESSION", "x", "DEFAULT"} {
		if _, ok := ParseLevel(in); ok {
			t.Errorf("ParseLevel(%q) ok", in)
		}
	}
}
