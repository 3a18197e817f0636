package integration

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Generated attacks on the reader guard: every way of running stored code
// (guardPayloads) in every statement that may reach the reader
// (guardCarriers), in every form a statement arrives in, with forwarding
// on and off, plus sequences that attack the guard itself. Each runs
// through the proxy as the ALL PRIVILEGES user; after each the replica
// must have no GTID of its own, hold the writer's data, and replicate.
// What the statements answer is not checked here: only what the replica
// got.

// guardPayloads are expressions that run stored code which writes.
var guardPayloads = []string{
	"fw()",
	"fwguard.fw()",
	"`fw`()",
	"fw ()",
	"fw/**/()",
	"/*!fw()*/",
	"/*M!100000 fw()*/",
	"{fn fw()}",
	"(SELECT f FROM va LIMIT 1)",
	"(SELECT f FROM fwguard.vva LIMIT 1)",
	"fm()",                    // a non-transactional table
	"fp()",                    // through a procedure
	"ft()",                    // through a trigger of a permanent table
	"fs()",                    // a sequence
	"(SELECT agg(id) FROM a)", // an aggregate stored function
	"fwguard.now()",           // a builtin's name, qualified
	"count (1)",               // a builtin's name, spaced: MariaDB calls fwguard.count
}

// guardCarriers are statements that may reach the reader; %s is the payload.
var guardCarriers = []string{
	"SELECT %s FROM a LIMIT 1 FOR UPDATE",
	"SELECT %s FROM a LIMIT 1 LOCK IN SHARE MODE",
	"SELECT %s FROM a LIMIT 1 FOR UPDATE NOWAIT",
	"SELECT * FROM a WHERE id IN (SELECT %s) FOR UPDATE",
	"SELECT * FROM (SELECT %s AS f) d, a FOR UPDATE",
	"WITH c AS (SELECT %s AS f) SELECT * FROM c, a FOR UPDATE",
	"ANALYZE SELECT %s FROM a FOR UPDATE",
	"INSERT INTO tt VALUES (%s)",
	"INSERT INTO tt SELECT %s",
	"INSERT INTO tt SELECT %s FROM a",
	"REPLACE INTO tt VALUES (%s)",
	"INSERT INTO tk VALUES (1) ON DUPLICATE KEY UPDATE x = %s",
	"UPDATE tt SET x = %s",
	"DELETE FROM tt WHERE %s",
	"DELETE FROM tt WHERE x = %s RETURNING x",
	"ANALYZE UPDATE tt SET x = %s",
	"CREATE TEMPORARY TABLE g1 SELECT %s AS x",
	"CREATE TEMPORARY TABLE g1 (x INT) SELECT %s AS x",
	"CREATE OR REPLACE TEMPORARY TABLE tt AS SELECT %s AS x",
	"CREATE TEMPORARY TABLE IF NOT EXISTS g1 (SELECT %s AS x)",
	"LOAD DATA LOCAL INFILE 'Reader::guard' INTO TABLE tt (@v) SET x = %s",
	"SELECT %s",
	"DO %s",
	"SET @gv = %s",
}

// guardSequences attack the guard itself and the temporary-table set;
// each is run statement by statement, and as one multi-statement query.
var guardSequences = [][]string{
	{"SET SESSION tx_read_only = 0", "SELECT fw() FROM a FOR UPDATE", "INSERT INTO tt VALUES (fw())", "SELECT fm()"},
	{"SET @@session.transaction_read_only = 0", "SELECT fm()"},
	{"SET @@tx_read_only = 0, @x = 1", "SELECT fm()"},
	{"/*!SET SESSION tx_read_only = 0*/", "SELECT fm()"},
	{"SET STATEMENT tx_read_only = 0 FOR SELECT fm()"},
	{"SET STATEMENT tx_read_only = 0 FOR INSERT INTO tt VALUES (fm())"},
	{"START TRANSACTION READ WRITE", "SELECT fm()", "INSERT INTO tt VALUES (fm())", "COMMIT"},
	{"SET TRANSACTION READ WRITE", "BEGIN", "SELECT fm()", "COMMIT"},
	{"SET autocommit = 0", "SELECT fm()", "CREATE TEMPORARY TABLE g2 SELECT fm() AS x", "COMMIT", "SET autocommit = 1"},
	{"CALL p()"},
	{"SET SESSION binlog_format = 'STATEMENT'", "CREATE TEMPORARY TABLE g2 (x INT)", "INSERT INTO g2 VALUES (1)", "DROP TEMPORARY TABLE g2", "SET SESSION binlog_format = 'ROW'"},
	{"SET STATEMENT binlog_format = 'STATEMENT' FOR CREATE TEMPORARY TABLE g2 (x INT)"},
	// A temporary MERGE table over a permanent MyISAM table.
	{"CREATE TEMPORARY TABLE mm (x INT) ENGINE=MERGE UNION=(m1) INSERT_METHOD=LAST", "INSERT INTO mm VALUES (7)",
		"UPDATE mm SET x = 8", "DELETE FROM mm", "DROP TEMPORARY TABLE mm"},
	{"CREATE TEMPORARY TABLE mm (x INT) ENGINE=MERGE UNION=(m1) INSERT_METHOD=LAST SELECT 9 AS x"},
	{"CREATE TEMPORARY TABLE mm LIKE m1", "ALTER TABLE mm ENGINE=MERGE UNION=(m1) INSERT_METHOD=LAST", "INSERT INTO mm VALUES (7)"},
	// Foreign keys from a temporary table.
	{"CREATE TEMPORARY TABLE fk (x INT, FOREIGN KEY (x) REFERENCES a (id) ON DELETE CASCADE)", "DELETE FROM fk"},
	// The temporary-table set: a shadow of the permanent a that the
	// server drops while the proxy may think it is still there.
	{"CREATE TEMPORARY TABLE a (id INT, v INT)", "DROP TEMPORARY TABLE a, nosuch", "INSERT INTO a VALUES (100, 1)", "UPDATE a SET v = 9", "DELETE FROM a WHERE id = 1"},
	{"CREATE TEMPORARY TABLE a (id INT, v INT)", "PREPARE s FROM 'DROP TEMPORARY TABLE a, nosuch'", "EXECUTE s", "INSERT INTO a VALUES (100, 1)"},
	{"CREATE TEMPORARY TABLE a (id INT, v INT)", "CREATE OR REPLACE TEMPORARY TABLE a (id INT, id INT)", "INSERT INTO a VALUES (100, 1)"},
	{"USE fwguard2", "PREPARE s FROM 'CREATE TEMPORARY TABLE a (id INT, v INT)'", "USE fwguard", "EXECUTE s", "INSERT INTO a VALUES (100, 1)", "UPDATE a SET v = 9"},
	{"CREATE TEMPORARY TABLE a (id INT, v INT)", "SELECT fdrop() FROM beat LIMIT 1 FOR UPDATE", "INSERT INTO a VALUES (100, 1)"},
	{"CREATE TEMPORARY TABLE a (id INT, v INT)", "CALL pdrop()", "INSERT INTO a VALUES (100, 1)"},
	{"CREATE TEMPORARY TABLE a (id INT, v INT)", "SELECT fdrop()", "INSERT INTO a VALUES (100, 1)"},
	// PREPARE … FROM a user variable.
	{"SET @q = 'CREATE TEMPORARY TABLE g2 SELECT fw() AS x'", "PREPARE s FROM @q", "EXECUTE s"},
	{"SET @q = 'SELECT fw() FROM a FOR UPDATE'", "PREPARE s FROM @q", "EXECUTE s"},
	{"SET @q = 'INSERT INTO tt VALUES (fw())'", "PREPARE s FROM @q", "EXECUTE s"},
	// Executable comments around whole statements.
	{"/*!100000 INSERT INTO tt VALUES (fw()) */", "/*M! SELECT fw() FROM a FOR UPDATE */", "/*!CREATE TEMPORARY TABLE g2 SELECT fw() AS x*/"},
	{"SELECT 1 /*!, fw() FROM a FOR UPDATE */"},
}

// guardSequencesLogBin: the session's sql_log_bin is refused with 1227 (a
// reader session has no SUPER), so with forwarding on it never reaches
// the writer, whose forwarded writes would then miss every replica.
var guardSequencesLogBin = [][]string{
	{"SET SESSION sql_log_bin = 0", "SELECT fm() FROM a FOR UPDATE", "INSERT INTO tt VALUES (fm())", "SELECT fm()", "SET SESSION sql_log_bin = 1"},
}

// guardReset puts a session's temporary tables back as the carriers expect.
const guardReset = "ROLLBACK; SET autocommit = 1, SESSION binlog_format = 'ROW'; DROP TEMPORARY TABLE IF EXISTS g1, g2, mm, fk, a; CREATE TEMPORARY TABLE IF NOT EXISTS tt (x INT); " +
	"CREATE TEMPORARY TABLE IF NOT EXISTS tk (x INT PRIMARY KEY); DELETE FROM tt; INSERT INTO tt VALUES (1); REPLACE INTO tk VALUES (1); USE fwguard"

// guardCase is one generated attack.
type guardCase struct {
	fwd   bool
	form  guardForm
	steps []string
}

func (c guardCase) String() string {
	return fmt.Sprintf("fwd=%v %s: %s", c.fwd, c.form.name, strings.Join(c.steps, " | "))
}

// guardCases generates the attacks: each payload in each carrier as text;
// a few payloads in each carrier in the other forms; the sequences as text
// and as one multi-statement query.
func guardCases() []guardCase {
	var out []guardCase
	few := []string{"fw()", "(SELECT f FROM va LIMIT 1)", "/*!fw()*/", "fm()"}
	others := []guardForm{formMulti, formSQLPrepare, formBinary, formExecComment, formMariaDBComment}
	for _, fwd := range []bool{false, true} {
		for _, carrier := range guardCarriers {
			load := strings.HasPrefix(carrier, "LOAD")
			for _, p := range guardPayloads {
				out = append(out, guardCase{fwd, formText, []string{fmt.Sprintf(carrier, p)}})
			}
			for _, f := range others {
				if load && (f.name == "sql-prepare" || f.name == "binary") {
					continue // LOAD DATA cannot be prepared
				}
				for _, p := range few {
					out = append(out, guardCase{fwd, f, []string{fmt.Sprintf(carrier, p)}})
				}
			}
		}
		seqs := append(append([][]string(nil), guardSequences...), guardSequencesLogBin...)
		for _, seq := range seqs {
			out = append(out, guardCase{fwd, formText, seq})
			out = append(out, guardCase{fwd, formMulti, []string{strings.Join(seq, "; ")}})
		}
	}
	return out
}

// otherNames names the tables of the generated attacks by other databases'
// names: a CLIENT_NO_SCHEMA session's server drops the schema, so they are
// still fwguard's tables and views.
var otherNames = regexp.MustCompile(`\b(FROM|JOIN|INTO|UPDATE|TABLE|EXISTS|LIKE) (a|tt|tk|va|g1|g2|mm|m1|beat)\b`)

// TestGuardGenerated runs every generated attack, also in CLIENT_NO_SCHEMA
// sessions with the tables named by other databases' names; it stops at
// the first that left the replica changed.
func TestGuardGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("generated guard attacks: not in -short")
	}
	g := newGuardWatch(t)
	addr := startProxy(t, nil)
	for _, noSchema := range []bool{false, true} {
		t.Run(fmt.Sprintf("noschema=%v", noSchema), func(t *testing.T) {
			var sess [2]*sql.Conn
			session := func(fwd bool) *sql.Conn {
				i := 0
				if fwd {
					i = 1
				}
				if sess[i] == nil && noSchema {
					sess[i] = noSchemaConn(t, addr, fwd)
				} else if sess[i] == nil {
					sess[i] = guardConn(t, addr, fwd)
				}
				return sess[i]
			}
			cases := guardCases()
			start := time.Now()
			for n, gc := range cases {
				c := session(gc.fwd)
				if _, err := c.ExecContext(ctx, guardReset); err != nil {
					t.Fatalf("case %d (%s), resetting the session after case %d: %v", n, gc, n-1, err)
				}
				for _, q := range gc.steps {
					if noSchema {
						q = otherNames.ReplaceAllString(q, "$1 nosuch.$2")
					}
					if err := gc.form.run(c, q); errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
						t.Fatalf("case %d (%s): the session broke at %s: %v", n, gc, q, err)
					}
				}
				if err := g.untouched(); err != nil {
					t.Fatalf("case %d of %d (%s): %v", n, len(cases), gc, err)
				}
			}
			t.Logf("%d generated attacks in %v", len(cases), time.Since(start).Round(time.Millisecond))
		})
	}
}
