package integration

// The reader's read-only guard against a user with ALL PRIVILEGES, who
// could write to the read_only replica: a statement that runs on the reader
// with the guard lifted (temporary-table DDL, a locking read with
// forwarding off) runs no stored function, procedure or trigger, and the
// proxy's set of temporary tables follows the server's. After every attack
// the replica has no GTID of its own, holds what the writer holds, and
// still replicates.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"

	"github.com/fwdproxy/fwdproxy/integration/pair"
)

// guardDB holds the stored programs an attacker reaches; guardDB2 is a
// second database for name resolution.
const guardDB, guardDB2 = "fwguard", "fwguard2"

// guardObjects are made on the writer once. fw() and its relatives write
// permanent tables in different ways; the views call fw().
var guardObjects = []string{
	"CREATE TABLE fwguard.a (id INT PRIMARY KEY, v INT)",
	"INSERT INTO fwguard.a VALUES (1, 1)",
	"CREATE TABLE fwguard.log (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
	"CREATE TABLE fwguard.mlog (v INT) ENGINE=MyISAM",
	"CREATE TABLE fwguard.m1 (x INT) ENGINE=MyISAM",
	"CREATE TABLE fwguard.trg_src (v INT)",
	"CREATE TABLE fwguard.beat (id INT AUTO_INCREMENT PRIMARY KEY)",
	"INSERT INTO fwguard.beat VALUES ()",
	"CREATE TABLE fwguard2.a (id INT PRIMARY KEY, v INT)",
	"CREATE SEQUENCE fwguard.sq",
	"CREATE TRIGGER fwguard.trg AFTER INSERT ON fwguard.trg_src FOR EACH ROW INSERT INTO fwguard.log (v) VALUES (3)",
	"CREATE FUNCTION fwguard.fw() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN INSERT INTO fwguard.log (v) VALUES (1); RETURN 1; END",
	"CREATE FUNCTION fwguard.fm() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN INSERT INTO fwguard.mlog VALUES (1); RETURN 1; END",
	"CREATE PROCEDURE fwguard.p() MODIFIES SQL DATA INSERT INTO fwguard.log (v) VALUES (2)",
	"CREATE FUNCTION fwguard.fp() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN CALL fwguard.p(); RETURN 1; END",
	"CREATE FUNCTION fwguard.ft() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN INSERT INTO fwguard.trg_src VALUES (1); RETURN 1; END",
	"CREATE FUNCTION fwguard.fs() RETURNS INT DETERMINISTIC MODIFIES SQL DATA RETURN NEXTVAL(fwguard.sq)",
	"CREATE FUNCTION fwguard.now() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN INSERT INTO fwguard.log (v) VALUES (5); RETURN 1; END",
	"CREATE FUNCTION fwguard.count(x INT) RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN INSERT INTO fwguard.log (v) VALUES (6); RETURN 1; END",
	"CREATE FUNCTION fwguard.fdrop() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN DROP TEMPORARY TABLE IF EXISTS fwguard.a; RETURN 1; END",
	"CREATE PROCEDURE fwguard.pdrop() MODIFIES SQL DATA DROP TEMPORARY TABLE IF EXISTS fwguard.a",
	`CREATE AGGREGATE FUNCTION fwguard.agg(x INT) RETURNS INT DETERMINISTIC MODIFIES SQL DATA
	BEGIN
		DECLARE CONTINUE HANDLER FOR NOT FOUND RETURN 1;
		LOOP FETCH GROUP NEXT ROW; INSERT INTO fwguard.log (v) VALUES (4); END LOOP;
	END`,
	"CREATE VIEW fwguard.va AS SELECT id, fwguard.fw() AS f FROM fwguard.a",
	"CREATE VIEW fwguard.vva AS SELECT * FROM fwguard.va",
	"CREATE VIEW fwguard2.vb AS SELECT id, fwguard.fw() AS f FROM fwguard.a",
	// For a CLIENT_NO_SCHEMA session in fwguard, information_schema.ROUTINES
	// and information_schema.TABLES are these, which say no routine and no
	// view exists.
	"CREATE TABLE fwguard.ROUTINES (ROUTINE_NAME VARCHAR(64))",
	"CREATE TABLE fwguard.TABLES (TABLE_SCHEMA VARCHAR(64), TABLE_NAME VARCHAR(64), TABLE_TYPE VARCHAR(64))",
}

// guardTables are compared between writer and replica after each attack.
const guardTables = "fwguard.a, fwguard.log, fwguard.mlog, fwguard.m1, fwguard.trg_src, fwguard.sq, fwguard2.a"

var (
	guardOnce sync.Once
	guardErr  error
)

// guardSetup makes the guard databases once per run.
func guardSetup(t *testing.T) {
	t.Helper()
	guardOnce.Do(func() {
		for _, db := range []string{guardDB, guardDB2} {
			if guardErr = thePair.CreateDatabase(db); guardErr != nil {
				return
			}
		}
		root, err := thePair.RootDB(thePair.WriterAddr)
		if err != nil {
			guardErr = err
			return
		}
		defer root.Close()
		for _, q := range guardObjects {
			if _, err := root.Exec(q); err != nil {
				guardErr = fmt.Errorf("%s: %w", q, err)
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		guardErr = thePair.WaitReplicated(ctx)
	})
	if guardErr != nil {
		t.Fatal(guardErr)
	}
	mysql.RegisterReaderHandler("guard", func() io.Reader { return strings.NewReader("1\n2\n") })
}

// guardWatch checks the replica after each attack, with root handles on
// both servers.
type guardWatch struct {
	w, r *sql.DB
}

func newGuardWatch(t *testing.T) *guardWatch {
	t.Helper()
	guardSetup(t)
	w, err := thePair.RootDB(thePair.WriterAddr)
	if err != nil {
		t.Fatal(err)
	}
	r, err := thePair.RootDB(thePair.ReaderAddr)
	if err != nil {
		w.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); r.Close() })
	return &guardWatch{w, r}
}

// untouched: a writer commit replicates (a replica with a GTID of its own
// stops at it), the guard tables are the same on both servers, and the
// replica is clean.
func (g *guardWatch) untouched() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := g.w.ExecContext(ctx, "INSERT INTO fwguard.beat VALUES ()"); err != nil {
		return err
	}
	if err := thePair.WaitReplicated(ctx); err != nil {
		return err
	}
	want, err := checksums(ctx, g.w)
	if err != nil {
		return err
	}
	got, err := checksums(ctx, g.r)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("replica data differs from the writer's:\n  writer  %s\n  replica %s", want, got)
	}
	return thePair.CheckReplicaClean()
}

func checksums(ctx context.Context, db *sql.DB) (string, error) {
	rows, err := db.QueryContext(ctx, "CHECKSUM TABLE "+guardTables)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var name string
		var sum sql.NullInt64
		if err := rows.Scan(&name, &sum); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s=%d ", name, sum.Int64)
	}
	return b.String(), rows.Err()
}

// guardConn is one session through the proxy in guardDB, with
// multi-statements; fwd switches forwarding on for it.
func guardConn(t *testing.T, addr string, fwd bool) *sql.Conn {
	t.Helper()
	return guardSession(t, pair.DSN(addr, thePair.User, thePair.Password, guardDB), fwd)
}

// guardSession is guardConn's session, connected by dsn.
func guardSession(t *testing.T, dsn string, fwd bool) *sql.Conn {
	t.Helper()
	db, err := sql.Open("mysql", dsn+"&multiStatements=true")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatalf("connect through proxy: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if fwd {
		exec(t, c, "SET aurora_replica_read_consistency = 'SESSION'")
	}
	return c
}

// noSchemaConn is guardConn for a client that negotiated CLIENT_NO_SCHEMA,
// with which the server reads every db.table as a table of the current
// database. go-sql-driver has no option for it: its dialer sets the flag.
func noSchemaConn(t *testing.T, addr string, fwd bool) *sql.Conn {
	t.Helper()
	noSchemaOnce.Do(func() {
		mysql.RegisterDialContext("noschema", func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			return &noSchemaDial{Conn: c}, err
		})
	})
	dsn := strings.Replace(pair.DSN(addr, thePair.User, thePair.Password, guardDB), "@tcp(", "@noschema(", 1)
	c := guardSession(t, dsn, fwd)
	// The flag is negotiated: another database's name of fwguard.a reads it.
	if _, err := c.ExecContext(ctx, "SELECT id FROM nosuch.a LIMIT 0"); err != nil {
		t.Fatalf("CLIENT_NO_SCHEMA not negotiated: SELECT id FROM nosuch.a: %v", err)
	}
	return c
}

var noSchemaOnce sync.Once

// noSchemaDial sets CLIENT_NO_SCHEMA (1<<4) in the handshake response, the
// first packet the client writes (sequence 1).
type noSchemaDial struct {
	net.Conn
	done bool
}

func (c *noSchemaDial) Write(b []byte) (int, error) {
	if !c.done && len(b) >= 8 && b[3] == 1 {
		c.done = true
		b[4] |= 0x10
	}
	return c.Conn.Write(b)
}

func errCode(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// guardStep is one statement of an attack and the error it must get after
// the fix (0: it succeeds; anyCode: whatever it gets).
type guardStep struct {
	sql  string
	want uint16
}

const anyCode = 0xffff

// run runs the steps on c in form f and reports each step that got another
// answer than it should.
func runSteps(c *sql.Conn, f guardForm, steps []guardStep) []string {
	if f.batch {
		// One multi-statement query up to the first statement that must
		// fail (an error ends a batch); the rest one by one.
		i := 0
		for i < len(steps)-1 && steps[i].want == 0 {
			i++
		}
		qs := make([]string, i+1)
		for j := range qs {
			qs[j] = steps[j].sql
		}
		head := guardStep{strings.Join(qs, "; "), steps[i].want}
		return append(runSteps(c, formText, []guardStep{head}), runSteps(c, formText, steps[i+1:])...)
	}
	var bad []string
	for _, s := range steps {
		err := f.run(c, s.sql)
		if s.want == anyCode {
			continue
		}
		if got := errCode(err); got != s.want || err != nil && got == 0 {
			bad = append(bad, fmt.Sprintf("%s: got %v, want %d", s.sql, err, s.want))
		}
	}
	return bad
}

// guardForm is how a statement reaches the proxy; batch: an attack's
// statements go as one multi-statement query.
type guardForm struct {
	name  string
	run   func(c *sql.Conn, q string) error
	batch bool
}

var (
	formText = guardForm{"text", func(c *sql.Conn, q string) error {
		_, err := c.ExecContext(ctx, q)
		return err
	}, false}
	formMulti = guardForm{"multi", func(c *sql.Conn, q string) error {
		_, err := c.ExecContext(ctx, "DO 0; "+q+"; DO 1")
		return err
	}, false}
	formBatch      = guardForm{"batch", formText.run, true}
	formSQLPrepare = guardForm{"sql-prepare", func(c *sql.Conn, q string) error {
		if _, err := c.ExecContext(ctx, "PREPARE gs FROM '"+strings.ReplaceAll(q, "'", "''")+"'"); err != nil {
			return err
		}
		_, err := c.ExecContext(ctx, "EXECUTE gs")
		_, _ = c.ExecContext(ctx, "DEALLOCATE PREPARE gs")
		return err
	}, false}
	formBinary      = guardForm{"binary", prepErrOf, false}
	formExecComment = guardForm{"exec-comment", func(c *sql.Conn, q string) error {
		_, err := c.ExecContext(ctx, "/*!100000 "+q+" */")
		return err
	}, false}
	formMariaDBComment = guardForm{"mariadb-comment", func(c *sql.Conn, q string) error {
		_, err := c.ExecContext(ctx, "/*M! "+q+" */")
		return err
	}, false}
)

// The attacks of issue 14, each in the forms the issue names, with what
// each statement must get now: the replica is checked after each.
func TestGuardAttacks(t *testing.T) {
	g := newGuardWatch(t)
	addr := startProxy(t, nil)
	const tmp = "CREATE TEMPORARY TABLE tt (x INT)"
	const row = "INSERT INTO tt VALUES (1)"
	// 1290 with forwarding off, 1235 with it on: a statement that would run
	// with the guard lifted calls a stored function or reads a view.
	refused := func(fwd bool) uint16 {
		if fwd {
			return 1235
		}
		return 1290
	}
	type attack struct {
		name  string
		fwd   []bool
		forms []guardForm
		steps func(fwd bool) []guardStep
	}
	offOnly, both := []bool{false}, []bool{false, true}
	allForms := []guardForm{formText, formMulti, formBatch, formSQLPrepare, formBinary}
	attacks := []attack{
		{"for update calling fw", offOnly, allForms, func(bool) []guardStep {
			return []guardStep{{"SELECT fwguard.fw() FROM fwguard.a LIMIT 1 FOR UPDATE", 1290}}
		}},
		{"lock in share mode calling fw", offOnly, allForms, func(bool) []guardStep {
			return []guardStep{{"SELECT fwguard.fw() FROM fwguard.a LIMIT 1 LOCK IN SHARE MODE", 1290}}
		}},
		{"insert select fw into temp", both, allForms, func(bool) []guardStep {
			return []guardStep{{tmp, 0}, {"INSERT INTO tt SELECT fwguard.fw()", 1792}}
		}},
		{"insert values fw into temp", both, allForms, func(bool) []guardStep {
			return []guardStep{{tmp, 0}, {"INSERT INTO tt VALUES (fw())", 1792}}
		}},
		{"update temp set fw", both, allForms, func(bool) []guardStep {
			return []guardStep{{tmp, 0}, {row, 0}, {"UPDATE tt SET x = fw()", 1792}}
		}},
		{"delete temp where fw", both, allForms, func(bool) []guardStep {
			return []guardStep{{tmp, 0}, {row, 0}, {"DELETE FROM tt WHERE fw()", 1792}}
		}},
		{"create temp select fw", both, allForms, func(fwd bool) []guardStep {
			return []guardStep{{"CREATE TEMPORARY TABLE tt SELECT fw() AS x", refused(fwd)}}
		}},
		{"load data into temp set fw", both, []guardForm{formText, formMulti, formBatch}, func(bool) []guardStep {
			return []guardStep{{tmp, 0}, {"LOAD DATA LOCAL INFILE 'Reader::guard' INTO TABLE tt (@v) SET x = fw()", 1792}}
		}},
		{"for update of a view calling fw", offOnly, allForms, func(bool) []guardStep {
			return []guardStep{{"SELECT * FROM va FOR UPDATE", 1290}}
		}},
		{"create temp select from a view calling fw", both, allForms, func(fwd bool) []guardStep {
			return []guardStep{{"CREATE TEMPORARY TABLE tt SELECT f FROM va", refused(fwd)}}
		}},
		{"insert into temp select from a view calling fw", both, allForms, func(bool) []guardStep {
			return []guardStep{{tmp, 0}, {"INSERT INTO tt SELECT f FROM va", 1792}}
		}},
	}
	for _, a := range attacks {
		for _, fwd := range a.fwd {
			for _, f := range a.forms {
				name := fmt.Sprintf("%s/%s/fwd=%v", a.name, f.name, fwd)
				t.Run(name, func(t *testing.T) {
					c := guardConn(t, addr, fwd)
					for _, b := range runSteps(c, f, a.steps(fwd)) {
						t.Error(b)
					}
					if err := g.untouched(); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
}

// TestGuardNoSchema: a CLIENT_NO_SCHEMA session (the server reads
// fwguard2.va as the current database's va) is guarded by the names the
// server reads, and the proxy's own question about stored code cannot be
// answered by the session's tables named ROUTINES and TABLES.
func TestGuardNoSchema(t *testing.T) {
	g := newGuardWatch(t)
	addr := startProxy(t, nil)
	refused := func(fwd bool) uint16 {
		if fwd {
			return 1235
		}
		return 1290
	}
	offOnly, both := []bool{false}, []bool{false, true}
	allForms := []guardForm{formText, formMulti, formBatch, formSQLPrepare, formBinary, formExecComment, formMariaDBComment}
	attacks := []struct {
		name  string
		fwd   []bool
		forms []guardForm
		steps func(fwd bool) []guardStep
	}{
		{"for update of another database's name of a view", offOnly, allForms, func(bool) []guardStep {
			return []guardStep{{"SELECT * FROM fwguard2.va FOR UPDATE", 1290}}
		}},
		{"for update calling fw past fwguard.ROUTINES", offOnly, allForms, func(bool) []guardStep {
			return []guardStep{{"SELECT fwguard.fw() FROM fwguard.a LIMIT 1 FOR UPDATE", 1290}}
		}},
		{"create temp select from another database's name of a view", both, allForms, func(fwd bool) []guardStep {
			return []guardStep{{"CREATE TEMPORARY TABLE tt SELECT f FROM nosuch.va", refused(fwd)}}
		}},
		{"create temp select fw past fwguard.ROUTINES", both, allForms, func(fwd bool) []guardStep {
			return []guardStep{{"CREATE TEMPORARY TABLE tt SELECT fw() AS x", refused(fwd)}}
		}},
		{"insert into another database's name of a temp table calling fw", both, allForms, func(bool) []guardStep {
			return []guardStep{{"CREATE TEMPORARY TABLE nosuch.tt (x INT)", 0}, {"INSERT INTO other.tt SELECT fwguard.fw()", 1792}}
		}},
		// A prepared statement's names resolve in the database of its
		// PREPARE: there fwguard.vb is fwguard2's view vb.
		{"sql prepare in another database of a view by another name", offOnly, []guardForm{formText}, func(bool) []guardStep {
			return []guardStep{{"USE " + guardDB2, 0}, {"PREPARE s FROM 'SELECT * FROM fwguard.vb FOR UPDATE'", 0},
				{"USE " + guardDB, 0}, {"EXECUTE s", 1290}}
		}},
		// The proxy's temporary tables are the server's: the server drops
		// the schema of each name, so every one of them is fwguard's a.
		{"temporary tables by other databases' names", offOnly, []guardForm{formText, formMulti, formBatch}, func(bool) []guardStep {
			return []guardStep{{"CREATE TEMPORARY TABLE fwguard2.a (id INT, v INT)", 0}, {"INSERT INTO nosuch.a VALUES (5, 5)", 0},
				{"UPDATE other.a SET v = 6", 0}, {"DROP TEMPORARY TABLE zz.a", 0},
				{"INSERT INTO a VALUES (100, 1)", 1290}, {"INSERT INTO fwguard2.a VALUES (100, 1)", 1290}}
		}},
	}
	for _, a := range attacks {
		for _, fwd := range a.fwd {
			for _, f := range a.forms {
				t.Run(fmt.Sprintf("%s/%s/fwd=%v", a.name, f.name, fwd), func(t *testing.T) {
					c := noSchemaConn(t, addr, fwd)
					for _, b := range runSteps(c, f, a.steps(fwd)) {
						t.Error(b)
					}
					// The proxy's questions in information_schema put the
					// reader back.
					if got := one(t, c, "SELECT DATABASE()"); got != guardDB {
						t.Errorf("the session's reader is in %q now", got)
					}
					if err := g.untouched(); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
	// With no current database the reader cannot be put back after the
	// question: it is asked where the session is, fails, and the statement
	// is refused.
	t.Run("no current database", func(t *testing.T) {
		noSchemaConn(t, addr, false) // registers the dialer
		dsn := strings.Replace(pair.DSN(addr, thePair.User, thePair.Password, ""), "@tcp(", "@noschema(", 1)
		c := guardSession(t, dsn, false)
		for _, b := range runSteps(c, formText, []guardStep{{"SELECT fwguard.fw() FOR UPDATE", 1290}}) {
			t.Error(b)
		}
		if got := one(t, c, "SELECT DATABASE() IS NULL"); got != "1" {
			t.Errorf("the session's reader is in a database now: DATABASE() IS NULL = %s", got)
		}
		if err := g.untouched(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("binary prepare in another database of a view by another name", func(t *testing.T) {
		c := noSchemaConn(t, addr, false)
		exec(t, c, "USE "+guardDB2)
		st, err := c.PrepareContext(ctx, "SELECT * FROM fwguard.vb FOR UPDATE")
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		exec(t, c, "USE "+guardDB)
		if _, err := st.ExecContext(ctx); errCode(err) != 1290 {
			t.Errorf("execute: %v, want 1290", err)
		}
		if err := g.untouched(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestTempTablesFollowServer: the proxy's set of temporary tables is the
// server's after statements that fail half-way, prepared DDL, IF NOT
// EXISTS and resets. Each scenario shadows the permanent fwguard.a with a
// temporary a and ends with writes to a, which, once the temporary table
// is gone, are writes to the permanent table: 1290 with forwarding off.
func TestTempTablesFollowServer(t *testing.T) {
	g := newGuardWatch(t)
	addr := startProxy(t, nil)
	const shadow = "CREATE TEMPORARY TABLE a (id INT, v INT)"
	permanent := []guardStep{{"INSERT INTO a VALUES (100, 1)", 1290}, {"UPDATE a SET v = 99", 1290}, {"DELETE FROM a", 1290}}
	scenarios := []struct {
		name  string
		steps []guardStep
	}{
		{"drop temporary of a missing table too", []guardStep{{shadow, 0}, {"DROP TEMPORARY TABLE a, nosuch", 1051}}},
		{"drop temporary in another order", []guardStep{{shadow, 0}, {"DROP TEMPORARY TABLE nosuch, a", 1051}}},
		{"sql prepare of drop temporary", []guardStep{{shadow, 0}, {"PREPARE s FROM 'DROP TEMPORARY TABLE a'", 0}, {"EXECUTE s", 0}}},
		{"sql prepare of a failing drop temporary", []guardStep{{shadow, 0}, {"PREPARE s FROM 'DROP TEMPORARY TABLE a, nosuch'", 0}, {"EXECUTE s", 1051}}},
		// A prepared statement resolves its names in the database of the
		// PREPARE: this one makes fwguard2.a, whatever the database at
		// EXECUTE.
		{"sql prepare of create temporary in another database", []guardStep{
			{"USE " + guardDB2, 0}, {"PREPARE s FROM 'CREATE TEMPORARY TABLE a (id INT, v INT)'", 0},
			{"USE " + guardDB, 0}, {"EXECUTE s", 0}, {"INSERT INTO fwguard2.a VALUES (1, 1)", 0}}},
		{"sql prepare of drop temporary in another database", []guardStep{
			{shadow, 0}, {"CREATE TEMPORARY TABLE fwguard2.a (id INT, v INT)", 0},
			{"USE " + guardDB2, 0}, {"PREPARE s FROM 'DROP TEMPORARY TABLE a'", 0},
			{"USE " + guardDB, 0}, {"EXECUTE s", 0}, {"INSERT INTO a VALUES (7, 7)", 0},
			{"INSERT INTO fwguard2.a VALUES (1, 1)", 1290}, {"DROP TEMPORARY TABLE a", 0}}},
		{"failing create or replace drops the old one", []guardStep{{shadow, 0}, {"CREATE OR REPLACE TEMPORARY TABLE a (id INT, id INT)", 1060}}},
		// This one fails before it drops: a is still temporary.
		{"failing create or replace select keeps the old one", []guardStep{{shadow, 0}, {"CREATE OR REPLACE TEMPORARY TABLE a SELECT * FROM nosuch", 1146},
			{"INSERT INTO a VALUES (5, 5)", 0}, {"DROP TEMPORARY TABLE a", 0}}},
		{"create if not exists on an existing one", []guardStep{{shadow, 0}, {"CREATE TEMPORARY TABLE IF NOT EXISTS a (x INT)", 0}, {"DROP TEMPORARY TABLE a", 0}}},
		{"create if not exists twice", []guardStep{{"CREATE TEMPORARY TABLE IF NOT EXISTS a (id INT, v INT)", 0}, {"CREATE TEMPORARY TABLE IF NOT EXISTS a (id INT, v INT)", 0}, {"DROP TEMPORARY TABLE a", 0}}},
		{"drop temporary if exists", []guardStep{{shadow, 0}, {"DROP TEMPORARY TABLE IF EXISTS nosuch, a", 0}}},
		// Stored code cannot drop it behind the proxy's back: the guard is up.
		{"function dropping it", []guardStep{{shadow, 0}, {"SELECT fdrop()", 1792}, {"SELECT fdrop() FROM beat LIMIT 1 FOR UPDATE", 1290}, {"INSERT INTO a VALUES (5, 5)", 0}, {"DROP TEMPORARY TABLE a", 0}}},
		{"procedure dropping it", []guardStep{{shadow, 0}, {"CALL pdrop()", 1792}, {"INSERT INTO a VALUES (5, 5)", 0}, {"DROP TEMPORARY TABLE a", 0}}},
	}
	for _, sc := range scenarios {
		for _, f := range []guardForm{formText, formMulti, formBatch} {
			t.Run(sc.name+"/"+f.name, func(t *testing.T) {
				c := guardConn(t, addr, false)
				for _, b := range runSteps(c, f, append(append([]guardStep(nil), sc.steps...), permanent...)) {
					t.Error(b)
				}
				if err := g.untouched(); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	// The binary protocol: COM_STMT_PREPARE in fwguard2, executed in fwguard.
	t.Run("binary prepare of create temporary in another database", func(t *testing.T) {
		c := guardConn(t, addr, false)
		exec(t, c, "USE "+guardDB2)
		st, err := c.PrepareContext(ctx, "CREATE TEMPORARY TABLE a (id INT, v INT)")
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		exec(t, c, "USE "+guardDB)
		if _, err := st.ExecContext(ctx); err != nil {
			t.Fatal(err)
		}
		for _, b := range runSteps(c, formText, append([]guardStep{{"INSERT INTO fwguard2.a VALUES (1, 1)", 0}}, permanent...)) {
			t.Error(b)
		}
		if err := g.untouched(); err != nil {
			t.Fatal(err)
		}
	})
	// COM_RESET_CONNECTION drops the session's temporary tables.
	t.Run("reset connection", func(t *testing.T) {
		c := rawConn(t, addr)
		rawExec(t, c, "CREATE TEMPORARY TABLE fwguard.a (id INT, v INT)")
		sendCmd(t, c, gmysql.COM_RESET_CONNECTION)
		wantOKPkt(t, readPkt(t, c), "COM_RESET_CONNECTION")
		for _, q := range []string{"INSERT INTO fwguard.a VALUES (100, 1)", "UPDATE fwguard.a SET v = 99"} {
			_, err := c.Execute(q)
			if got := rawCode(err); got != 1290 {
				t.Errorf("%s after the reset: %v, want 1290", q, err)
			}
		}
		if err := g.untouched(); err != nil {
			t.Fatal(err)
		}
	})
}

// rawCode is the code of a go-mysql server error, 0 for none.
func rawCode(err error) uint16 {
	var me *gmysql.MyError
	if asMyError(err, &me) {
		return me.Code
	}
	return 0
}
