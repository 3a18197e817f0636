package route

import (
	"maps"
	"slices"
	"testing"

	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// tmpIDs is the session's temporary table in the cases below.
var tmpIDs = sqlclass.TempTables{"shop.tmp_ids": true}

// decideCases pin single decisions. The first group is issue 12's bugs:
// each row is the decision that fixes it, on the path where it went wrong.
var decideCases = []struct {
	name   string
	sql    string
	state  State
	path   Path
	params bool
	want   Decision
}{
	// A prepared CREATE TEMPORARY TABLE got 1290 with forwarding off, and
	// was created on the writer with it on.
	{"binary create temp, forwarding off", "CREATE TEMPORARY TABLE tmp_ids (id INT PRIMARY KEY)",
		State{Session: Session{DB: "shop"}}, Binary, false, Decision{Target: ReaderWritable, Change: AddTemp, Prove: true}},
	{"binary create temp, forwarding on", "CREATE TEMPORARY TABLE tmp_ids (id INT PRIMARY KEY)",
		State{Forwarding: true, Waits: true, Session: Session{DB: "shop"}}, Binary, false, Decision{Target: ReaderWritable, Change: AddTemp, Prove: true}},
	{"binary create temp in a writer transaction", "CREATE TEMPORARY TABLE tmp_ids (id INT PRIMARY KEY)",
		State{Forwarding: true, Waits: true, HasWriter: true, Session: Session{TxWriter: true, DB: "shop"}}, Binary, false, Decision{Target: ReaderWritable, Change: AddTemp, Prove: true}},
	{"binary drop temp, forwarding on", "DROP TEMPORARY TABLE tmp_ids",
		State{Forwarding: true, Session: Session{DB: "shop", Temp: tmpIDs}}, Binary, false, Decision{Target: ReaderWritable, Change: DropTemp}},

	// A prepared locking read with forwarding off got 1792 where the text
	// form ran with the guard lifted.
	{"binary for update, forwarding off", "SELECT * FROM orders WHERE id = ? FOR UPDATE",
		State{Session: Session{DB: "shop"}}, Binary, true, Decision{Target: ReaderWritable, Prove: true}},
	{"text for update, forwarding off", "SELECT * FROM orders WHERE id = 1 FOR UPDATE",
		State{Session: Session{DB: "shop"}}, Text, false, Decision{Target: ReaderWritable, Prove: true}},
	{"binary for update, forwarding on", "SELECT * FROM orders WHERE id = ? FOR UPDATE",
		State{Forwarding: true, Session: Session{DB: "shop"}}, Binary, true, Decision{Target: Writer}},

	// A prepared read of a temporary table inside a transaction the writer
	// holds went to the writer (1146; 1243 through SQL PREPARE).
	{"binary read of a temp table in a writer transaction", "SELECT * FROM tmp_ids WHERE id = ?",
		State{Forwarding: true, Waits: true, HasWriter: true, Session: Session{TxWriter: true, DB: "shop", Temp: tmpIDs}},
		Binary, true, Decision{Target: Reader, Wait: true}},
	{"sql execute read of a temp table in a writer transaction", "SELECT * FROM tmp_ids WHERE id = ?",
		State{Forwarding: true, Waits: true, HasWriter: true, Session: Session{TxWriter: true, DB: "shop", Temp: tmpIDs}},
		SQLExecute, true, Decision{Target: Reader, Wait: true}},
	{"sql execute join with a temp table in a writer transaction", "SELECT o.* FROM orders o JOIN tmp_ids t ON t.id = o.id",
		State{Forwarding: true, Waits: true, HasWriter: true, Session: Session{TxWriter: true, DB: "shop", Temp: tmpIDs}},
		SQLExecute, false, Decision{Target: Reader, Wait: true}},
	// The same read of a permanent table must still see the transaction.
	{"binary read of a permanent table in a writer transaction", "SELECT * FROM orders WHERE id = ?",
		State{Forwarding: true, Waits: true, HasWriter: true, Session: Session{TxWriter: true, DB: "shop", Temp: tmpIDs}},
		Binary, true, Decision{Target: Writer}},
	{"eventual read in a writer transaction stays on the reader", "SELECT * FROM orders WHERE id = ?",
		State{Forwarding: true, HasWriter: true, Session: Session{TxWriter: true, DB: "shop"}},
		Binary, true, Decision{Target: Reader, Wait: true}},

	// A prepared SELECT LAST_INSERT_ID() after a forwarded INSERT ran on
	// the reader and returned 0.
	{"binary last_insert_id after a forwarded insert", "SELECT LAST_INSERT_ID()",
		State{Forwarding: true, HasWriter: true, Session: Session{LastForwarded: true, InsertIDOnWriter: true}}, Binary, false, Decision{Target: WriterAside}},
	{"binary last_insert_id with the id on the writer", "SELECT LAST_INSERT_ID()",
		State{Forwarding: true, HasWriter: true, Session: Session{InsertIDOnWriter: true}}, Binary, false, Decision{Target: WriterAside}},
	{"binary last_insert_id, no writer", "SELECT LAST_INSERT_ID()",
		State{Forwarding: true, Session: Session{InsertIDOnWriter: true}}, Binary, false, Decision{Target: Reader, Wait: true}},
	{"text row_count after a forwarded update", "SELECT ROW_COUNT()",
		State{Forwarding: true, HasWriter: true, Session: Session{LastForwarded: true}}, Text, false, Decision{Target: WriterAside}},
	{"set user var from last_insert_id on the writer", "SET @id = LAST_INSERT_ID()",
		State{Forwarding: true, HasWriter: true, Session: Session{InsertIDOnWriter: true}}, Binary, false, Decision{Target: WriterAside, Handler: Set}},
	{"show warnings after a forwarded statement", "SHOW WARNINGS",
		State{Forwarding: true, HasWriter: true, Session: Session{LastForwarded: true}}, Text, false, Decision{Target: WriterAside}},
	{"show warnings the proxy made", "SHOW WARNINGS",
		State{Forwarding: true, HasWriter: true, ProxyWarnings: true, Session: Session{LastForwarded: true}}, Text, false, Decision{Target: Proxy, Handler: ShowWarnings}},

	// SET aurora_replica_read_consistency as a prepared statement, or
	// through PREPARE … FROM, reached the reader: 1193.
	{"prepare set of the proxy's variable", "SET aurora_replica_read_consistency = 'SESSION'",
		State{Forwarding: true}, Prepare, false, Decision{Target: Proxy, Handler: LocalPrepare}},
	{"binary set of the proxy's variable", "SET aurora_replica_read_consistency = 'SESSION'",
		State{Forwarding: true}, Binary, false, Decision{Target: Proxy, Handler: Set}},
	{"text prepare of a set", "PREPARE s FROM 'SET aurora_replica_read_consistency = ''SESSION'''",
		State{Forwarding: true}, Text, false, Decision{Target: Proxy, Handler: PrepareText}},
	{"prepare of the text prepare's inner set", "SET aurora_replica_read_consistency = 'SESSION'",
		State{Forwarding: true}, Prepare, false, Decision{Target: Proxy, Handler: LocalPrepare}},
	{"text execute", "EXECUTE s",
		State{Forwarding: true}, Text, false, Decision{Target: Proxy, Handler: ExecuteText}},
	{"sql execute of the inner set", "SET aurora_replica_read_consistency = 'SESSION'",
		State{Forwarding: true}, SQLExecute, false, Decision{Target: Proxy, Handler: Set}},
	// The proxy keeps such a prepare (LocalPrepare), so its execute is the
	// proxy's even with a parameter: no backend has the statement.
	{"binary set of the proxy's variable with a parameter", "SET aurora_replica_read_consistency = ?",
		State{Forwarding: true}, Binary, true, Decision{Target: Proxy, Handler: Set}},
	{"binary set of a user variable with a parameter", "SET @v = ?",
		State{Forwarding: true}, Binary, true, Decision{Target: Reader}},
	// A bound SET autocommit = ? went to the reader as is: turning
	// autocommit on left the writer's transaction open.
	{"binary set of autocommit with a parameter", "SET autocommit = ?",
		State{Forwarding: true, HasWriter: true, Session: Session{AutocommitOff: true, TxWriter: true}}, Binary, true, Decision{Target: Proxy, Handler: Set}},
	{"sql execute using of a set of autocommit", "SET autocommit = ?",
		State{Forwarding: true, HasWriter: true, Session: Session{AutocommitOff: true, TxWriter: true}}, SQLExecute, true, Decision{Target: Proxy, Handler: Set}},
	{"prepare of a mixed set", "SET @x = 1, SESSION aurora_replica_read_consistency = 'GLOBAL'",
		State{Forwarding: true}, Prepare, false, Decision{Target: Proxy, Handler: LocalPrepare}},
	{"prepare of a backend set", "SET time_zone = '+00:00'",
		State{Forwarding: true}, Prepare, false, Decision{Target: Reader}},
	// A bound SET of more than user variables went to the reader alone:
	// the writer never got SET time_zone = ?, and a SET mixing the proxy's
	// variables with others had no parameters at all (LocalPrepare). The
	// reader prepares its values; each execute runs it as text.
	{"prepare of a bound set of a session variable", "SET time_zone = ?",
		State{Forwarding: true}, Prepare, true, Decision{Target: Reader, Rewrite: BoundSet}},
	{"prepare of a bound mixed set", "SET aurora_replica_read_consistency = ?, time_zone = ?",
		State{Forwarding: true}, Prepare, true, Decision{Target: Reader, Rewrite: BoundSet}},
	{"prepare of a bound set of user variables", "SET @a = ?, @b = ?",
		State{Forwarding: true}, Prepare, true, Decision{Target: Reader}},
	{"binary set of a session variable with a parameter", "SET time_zone = ?",
		State{Forwarding: true}, Binary, true, Decision{Target: Proxy, Handler: Set}},

	// COMMIT /* RELEASE */ closed the client's session (TestTxnRelease
	// checks the flag sqlclass reads).
	{"commit with release in a comment", "COMMIT /* RELEASE */",
		State{Forwarding: true, HasWriter: true, Session: Session{TxWriter: true}}, Text, false, Decision{Target: Proxy, Handler: End}},
	{"commit release", "COMMIT RELEASE",
		State{Forwarding: true, HasWriter: true, Session: Session{TxWriter: true}}, Text, false, Decision{Target: Proxy, Handler: End}},

	// START TRANSACTION WITH CONSISTENT SNAPSHOT took the reader's
	// snapshot before the consistency wait, missing the session's writes.
	{"consistent snapshot at session waits", "START TRANSACTION WITH CONSISTENT SNAPSHOT",
		State{Forwarding: true, Waits: true}, Text, false, Decision{Target: Proxy, Handler: Begin, Wait: true}},
	{"read only consistent snapshot at session waits", "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
		State{Forwarding: true, Waits: true}, Text, false, Decision{Target: Proxy, Handler: Begin, Wait: true}},
	{"consistent snapshot at eventual does not wait", "START TRANSACTION WITH CONSISTENT SNAPSHOT",
		State{Forwarding: true}, Text, false, Decision{Target: Proxy, Handler: Begin}},
	{"consistent snapshot at eventual waits for a causal token", "START TRANSACTION WITH CONSISTENT SNAPSHOT",
		State{Forwarding: true, Session: Session{ReadAfter: "fp1:ma:1.0:0-1-5"}}, Text, false, Decision{Target: Proxy, Handler: Begin, Wait: true}},
	{"plain begin waits at its first read", "START TRANSACTION",
		State{Forwarding: true, Waits: true}, Text, false, Decision{Target: Proxy, Handler: Begin}},

	// Issue 14: stored functions ran on the replica in statements that ran
	// with the guard lifted. DML on temporary tables keeps the guard up
	// (the server allows it there and refuses any other write with 1792);
	// what needs the guard lifted lifts it only once proven free of
	// stored functions and views.
	{"locking read calling a function, forwarding off", "SELECT t.fw() FROM t.a LIMIT 1 FOR UPDATE",
		State{Session: Session{DB: "shop"}}, Text, false, Decision{Target: ReaderWritable, Prove: true}},
	{"lock in share mode, forwarding off", "SELECT t.fw() FROM t.a LIMIT 1 LOCK IN SHARE MODE",
		State{Session: Session{DB: "shop"}}, SQLExecute, false, Decision{Target: ReaderWritable, Prove: true}},
	{"locking read, forwarding on", "SELECT t.fw() FROM t.a LIMIT 1 FOR UPDATE",
		State{Forwarding: true, Session: Session{DB: "shop"}}, Text, false, Decision{Target: Writer}},
	{"insert select into a temp table", "INSERT INTO tmp_ids SELECT t.fw()",
		State{Forwarding: true, Session: Session{DB: "shop", Temp: tmpIDs}}, Text, false, Decision{Target: Reader}},
	{"insert values into a temp table, forwarding off", "INSERT INTO tmp_ids VALUES (fw())",
		State{Session: Session{DB: "shop", Temp: tmpIDs}}, Binary, false, Decision{Target: Reader}},
	{"update of a temp table", "UPDATE tmp_ids SET id = fw()",
		State{Session: Session{DB: "shop", Temp: tmpIDs}}, SQLExecute, false, Decision{Target: Reader}},
	{"delete from a temp table", "DELETE FROM tmp_ids WHERE fw()",
		State{Forwarding: true, Waits: true, HasWriter: true, Session: Session{TxWriter: true, DB: "shop", Temp: tmpIDs}}, Text, false, Decision{Target: Reader}},
	{"load data into a temp table setting a function", "LOAD DATA LOCAL INFILE 'f' INTO TABLE tmp_ids (@v) SET id = fw()",
		State{Session: Session{DB: "shop", Temp: tmpIDs}}, Text, false, Decision{Target: Reader}},
	{"create temp select", "CREATE TEMPORARY TABLE tt SELECT fw() AS x",
		State{Forwarding: true, Session: Session{DB: "shop"}}, Text, false, Decision{Target: ReaderWritable, Change: AddTemp, Prove: true}},
	{"drop temp proves nothing", "DROP TEMPORARY TABLE tmp_ids, nosuch",
		State{Session: Session{DB: "shop", Temp: tmpIDs}}, SQLExecute, false, Decision{Target: ReaderWritable, Change: DropTemp}},
	{"prepare of a locking read proves nothing: a prepare runs nothing", "SELECT fw() FROM a FOR UPDATE",
		State{}, Prepare, false, Decision{Target: ReaderWritable}},

	// SELECT … INTO OUTFILE / DUMPFILE / @v are reads: they run on the
	// reader on every path, the file lands on the reader's host (as on an
	// Aurora replica), and a locking form goes to the writer.
	{"text into outfile", "SELECT * FROM orders INTO OUTFILE '/tmp/o.csv'",
		State{Forwarding: true}, Text, false, Decision{Target: Reader, Wait: true}},
	{"sql execute into dumpfile", "SELECT id FROM orders LIMIT 1 INTO DUMPFILE '/tmp/o.bin'",
		State{Forwarding: true}, SQLExecute, false, Decision{Target: Reader, Wait: true}},
	{"binary into outfile, forwarding off", "SELECT * FROM orders WHERE id = ? INTO OUTFILE '/tmp/o.csv'",
		State{}, Binary, true, Decision{Target: Reader, Wait: true}},
	{"binary into a user variable", "SELECT id INTO @v FROM orders WHERE id = ?",
		State{Forwarding: true}, Binary, true, Decision{Target: Reader, Wait: true}},

	// Around them.
	{"text insert, forwarding off", "INSERT INTO orders VALUES (1)",
		State{}, Text, false, Decision{Target: Reject, Err: ErrReadOnly}},
	{"binary insert in a read only transaction", "INSERT INTO orders VALUES (?)",
		State{Forwarding: true, Session: Session{TxBegun: true, TxReadOnly: true}}, Binary, true, Decision{Target: Reject, Err: ErrReadOnlyTx}},
	{"insert into a temp table in a read only transaction", "INSERT INTO tmp_ids VALUES (1)",
		State{Forwarding: true, Session: Session{TxBegun: true, TxReadOnly: true, DB: "shop", Temp: tmpIDs}}, Text, false, Decision{Target: Reader}},
	{"insert reading a temp table", "INSERT INTO archive SELECT * FROM tmp_ids",
		State{Forwarding: true, Session: Session{DB: "shop", Temp: tmpIDs}}, SQLExecute, false, Decision{Target: Reject, Err: NotSupported(OpTempRef)}},
	{"load data into a temp table", "LOAD DATA LOCAL INFILE 'ids.csv' INTO TABLE tmp_ids",
		State{Forwarding: true, Session: Session{DB: "shop", Temp: tmpIDs}}, Text, false, Decision{Target: Reader}},
	{"prepare of a write outside a transaction", "INSERT INTO orders VALUES (?)",
		State{Forwarding: true, ReaderInTx: false}, Prepare, false, Decision{Target: ReaderWritable}},
	{"prepare of a write in a reader transaction", "INSERT INTO orders VALUES (?)",
		State{Forwarding: true, ReaderInTx: true}, Prepare, false, Decision{Target: Writer}},
	{"prepare of temp work in a reader transaction", "INSERT INTO tmp_ids VALUES (?)",
		State{Forwarding: true, ReaderInTx: true, Session: Session{DB: "shop", Temp: tmpIDs}}, Prepare, false, Decision{Target: Reader}},
	{"prepare of ddl", "CREATE TABLE t9 (a INT)",
		State{Forwarding: true}, Prepare, false, Decision{Target: Reject, Err: NotSupported("CREATE TABLE")}},
	{"prepare of ddl, forwarding off: as a read-only replica", "CREATE TABLE t9 (a INT)",
		State{}, Prepare, false, Decision{Target: Reject, Err: ErrReadOnly}},
	{"kill on the text path", "KILL 12",
		State{Forwarding: true}, Text, false, Decision{Target: Proxy, Handler: Kill}},
	{"kill on the binary path", "KILL 12",
		State{Forwarding: true}, Binary, false, Decision{Target: Proxy, Handler: Kill}},
	{"set with a subquery waits", "SET @n = (SELECT COUNT(*) FROM orders)",
		State{Forwarding: true, Waits: true}, Text, false, Decision{Target: Proxy, Handler: Set, Wait: true}},
	{"set with a subquery at eventual waits for a causal token", "SET @n = (SELECT COUNT(*) FROM orders)",
		State{Forwarding: true, Session: Session{ReadAfter: "fp1:ma:1.0:0-1-5"}}, Text, false, Decision{Target: Proxy, Handler: Set, Wait: true}},
	{"use", "USE shop", State{}, Text, false, Decision{Target: Reader, Change: UseDB}},
	{"set global", "SET GLOBAL max_connections = 500", State{Forwarding: true}, Text, false, Decision{Target: Reject, Err: ErrSuper}},
	{"xa with forwarding on", "XA START 'x'", State{Forwarding: true}, Text, false, Decision{Target: Reject, Err: NotSupported("XA")}},
	{"xa with forwarding off", "XA START 'x'", State{}, Text, false, Decision{Target: Reader}},

	// Reads of the proxy's own variables and status.
	{"select own vars only", "SELECT @@aurora_replica_read_consistency AS c, @@global.aurora_fwd_writer_idle_timeout",
		State{Forwarding: true, Waits: true}, Text, false, Decision{Target: Proxy, Handler: OwnVars}},
	{"select own vars in a writer transaction", "SELECT @@aurora_replica_read_consistency",
		State{Forwarding: true, Waits: true, HasWriter: true, Session: Session{TxWriter: true}}, Text, false, Decision{Target: Proxy, Handler: OwnVars}},
	{"select the causal token and read_after", "SELECT @@fwdproxy_causal_token, @@session.fwdproxy_read_after",
		State{}, Text, false, Decision{Target: Proxy, Handler: OwnVars}},
	{"causal token beside a server var", "SELECT @@fwdproxy_causal_token, @@autocommit",
		State{Forwarding: true}, Text, false, Decision{Target: Reader, Wait: true, Rewrite: OwnVarValues}},
	{"a fwdproxy var the proxy lacks", "SELECT @@fwdproxy_nothing",
		State{Forwarding: true}, Text, false, Decision{Target: Reader, Wait: true}},
	{"prepare set of read_after", "SET fwdproxy_read_after = ''",
		State{Forwarding: true}, Prepare, false, Decision{Target: Proxy, Handler: LocalPrepare}},
	{"select an aurora var the proxy lacks", "SELECT @@aurora_version",
		State{Forwarding: true}, Text, false, Decision{Target: Reader, Wait: true}},
	{"own var beside a server var", "SELECT @@aurora_replica_read_consistency, @@autocommit",
		State{Forwarding: true}, Text, false, Decision{Target: Reader, Wait: true, Rewrite: OwnVarValues}},
	{"own var from dual", "SELECT @@aurora_replica_read_consistency FROM dual",
		State{Forwarding: true}, Text, false, Decision{Target: Reader, Wait: true, Rewrite: OwnVarValues}},
	{"own var in a writer transaction's read", "SELECT x, @@aurora_fwd_writer_idle_timeout FROM t",
		State{Forwarding: true, Waits: true, HasWriter: true, Session: Session{TxWriter: true}}, Text, false, Decision{Target: Writer, Rewrite: OwnVarValues}},
	{"prepare own var: rewritten for the reader", "SELECT @@aurora_replica_read_consistency",
		State{Forwarding: true}, Prepare, false, Decision{Target: Reader, Rewrite: OwnVarValues}},
	{"binary own var: the reader runs the rewritten text", "SELECT @@aurora_replica_read_consistency",
		State{Forwarding: true}, Binary, false, Decision{Target: Reader, Wait: true}},
	{"select the session's access mode: rewritten", "SELECT @@session.tx_read_only",
		State{Forwarding: true, AccessVar: "tx_read_only"}, Text, false, Decision{Target: Reader, Wait: true, Rewrite: OwnVarValues}},
	{"select the global access mode: the server's", "SELECT @@global.tx_read_only",
		State{Forwarding: true, AccessVar: "tx_read_only"}, Text, false, Decision{Target: Reader, Wait: true}},
	{"select a name the backend lacks: the server's answer", "SELECT @@transaction_read_only",
		State{Forwarding: true, AccessVar: "tx_read_only"}, Text, false, Decision{Target: Reader, Wait: true}},
	{"prepare a read of the access mode", "SELECT @@transaction_read_only FROM t WHERE id = ?",
		State{Forwarding: true, AccessVar: "transaction_read_only"}, Prepare, false, Decision{Target: Reader, Rewrite: OwnVarValues}},
	{"show variables like aurora", "SHOW VARIABLES LIKE 'aurora%'",
		State{Forwarding: true}, Text, false, Decision{Target: Proxy, Handler: ShowVariables}},
	{"show all variables", "SHOW GLOBAL VARIABLES",
		State{Forwarding: true}, Text, false, Decision{Target: Proxy, Handler: ShowVariables}},
	{"show variables like another", "SHOW VARIABLES LIKE 'max_conn%'",
		State{Forwarding: true}, Text, false, Decision{Target: Reader, Wait: true}},
	{"show variables where", "SHOW VARIABLES WHERE Value = 'ON'",
		State{Forwarding: true}, Text, false, Decision{Target: Reader, Wait: true}},
	{"show status", "SHOW GLOBAL STATUS LIKE 'Aurora_fwd%'",
		State{Forwarding: true}, Text, false, Decision{Target: Proxy, Handler: ShowStatus}},
	{"status table", "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'Aurora_fwd_writer_dml_stmt_count'",
		State{Forwarding: true}, Text, false, Decision{Target: Reader, Wait: true, Rewrite: StatusTables}},
}

// noSchema is a session whose client negotiated CLIENT_NO_SCHEMA: the
// server drops the schema of every db.table, so the proxy must too.
var noSchema = sqlclass.Options{NoSchema: true}

// noSchemaCases: each statement decided as the server will run it, with
// and without CLIENT_NO_SCHEMA, and the session's temporary tables after
// the decision's change.
var noSchemaCases = []struct {
	name       string
	sql        string
	state      State
	want, with Decision // without CLIENT_NO_SCHEMA, and with it
	temp, tmpW []string // the temporary tables after the change, without and with
}{
	{"insert into another database's name of a temp table", "INSERT INTO nosuch.tmp_ids VALUES (1)",
		State{Forwarding: true, Session: Session{DB: "shop", Temp: tmpIDs}},
		Decision{Target: Writer}, guardUp, nil, nil},
	{"mysql.user is the current database's user", "UPDATE mysql.user SET x = 1",
		State{Forwarding: true, Session: Session{DB: "shop", Temp: sqlclass.TempTables{"shop.user": true}}},
		Decision{Target: Writer}, guardUp, nil, nil},
	{"a write from a qualified temp table", "INSERT INTO archive SELECT * FROM other.tmp_ids",
		State{Forwarding: true, Session: Session{DB: "shop", Temp: tmpIDs}},
		Decision{Target: Writer}, Decision{Target: Reject, Err: NotSupported(OpTempRef)}, nil, nil},
	{"a write of the temp table's own database", "INSERT INTO shop.orders VALUES (1)",
		State{Session: Session{DB: "shop", Temp: sqlclass.TempTables{"shop.orders": true}}},
		guardUp, guardUp, nil, nil},
	{"a permanent table named with the temp table's database", "INSERT INTO shop.tmp_ids VALUES (1)",
		State{Forwarding: true, Session: Session{DB: "other", Temp: tmpIDs}},
		guardUp, Decision{Target: Writer}, nil, nil},
	{"load into another database's name of a temp table", "LOAD DATA LOCAL INFILE 'f' INTO TABLE x.tmp_ids",
		State{Forwarding: true, Session: Session{DB: "shop", Temp: tmpIDs}},
		Decision{Target: Reject, Err: NotSupported("LOAD DATA")}, guardUp, nil, nil},
	{"a read of a qualified temp table in a writer transaction", "SELECT * FROM x.tmp_ids",
		State{Forwarding: true, Waits: true, HasWriter: true, Session: Session{TxWriter: true, DB: "shop", Temp: tmpIDs}},
		Decision{Target: Writer}, Decision{Target: Reader, Wait: true}, nil, nil},
	{"the status table is the current database's", "SELECT * FROM information_schema.global_status",
		State{Forwarding: true}, Decision{Target: Reader, Wait: true, Rewrite: StatusTables}, Decision{Target: Reader, Wait: true}, nil, nil},
	{"create temp in another database", "CREATE TEMPORARY TABLE nosuch.tt (id INT)",
		State{Forwarding: true, Session: Session{DB: "shop"}},
		Decision{Target: ReaderWritable, Change: AddTemp, Prove: true}, Decision{Target: ReaderWritable, Change: AddTemp, Prove: true},
		[]string{"nosuch.tt"}, []string{"shop.tt"}},
	{"drop temp in another database", "DROP TEMPORARY TABLE nosuch.tmp_ids",
		State{Session: Session{DB: "shop", Temp: tmpIDs}},
		Decision{Target: ReaderWritable, Change: DropTemp}, Decision{Target: ReaderWritable, Change: DropTemp},
		[]string{"shop.tmp_ids"}, nil},
}

// TestNoSchema: CLIENT_NO_SCHEMA is an input of the decision, through
// State.Opt, on every execute path.
func TestNoSchema(t *testing.T) {
	for _, c := range noSchemaCases {
		for _, opt := range []sqlclass.Options{{}, noSchema} {
			want, temp := c.want, c.temp
			if opt.NoSchema {
				want, temp = c.with, c.tmpW
			}
			for _, p := range executePaths {
				if p != Text {
					want.Rewrite = NoRewrite // the proxy rewrites text reads only
				}
				s := c.state
				s.Opt = opt
				s.Temp = maps.Clone(s.Temp)
				st := sqlclass.Classify(c.sql, opt)
				got := Decide(&s, Input{SQL: c.sql, St: &st, Path: p})
				if !sameDecision(got, want) {
					t.Errorf("%s: %s on %v with NoSchema=%v: got %s %v, want %s %v", c.name, c.sql, p, opt.NoSchema, line(got), got.Err, line(want), want.Err)
				}
				s.Apply(got.Change, Fact{Targets: st.Targets})
				if keys := slices.Sorted(maps.Keys(s.Temp)); got.Change != NoChange && !slices.Equal(keys, temp) {
					t.Errorf("%s with NoSchema=%v: temporary tables %v after %v, want %v", c.name, opt.NoSchema, keys, got.Change, temp)
				}
			}
		}
	}
}

func TestDecide(t *testing.T) {
	for _, c := range decideCases {
		t.Run(c.name, func(t *testing.T) {
			st := sqlclass.Classify(c.sql, c.state.Opt)
			s := c.state
			got := Decide(&s, Input{SQL: c.sql, St: &st, Path: c.path, Params: c.params})
			if !sameDecision(got, c.want) {
				t.Errorf("%s on %v (%v): got %s %v, want %s %v", c.sql, c.path, st.Class, line(got), got.Err, line(c.want), c.want.Err)
			}
		})
	}
}

// TestUnproven: a statement that may run stored code with the guard down
// is refused as a write: 1235 naming it with forwarding, 1290 without.
func TestUnproven(t *testing.T) {
	if d := Unproven(&State{Forwarding: true}); d.Target != Reject || *d.Err != *NotSupported(OpStoredCode) {
		t.Errorf("forwarding on: %s %v", line(d), d.Err)
	}
	if d := Unproven(&State{}); d.Target != Reject || d.Err != ErrReadOnly {
		t.Errorf("forwarding off: %s %v", line(d), d.Err)
	}
}

// sameDecision compares errors by what the client sees.
func sameDecision(a, b Decision) bool {
	if (a.Err == nil) != (b.Err == nil) || a.Err != nil && *a.Err != *b.Err {
		return false
	}
	a.Err, b.Err = nil, nil
	return a == b
}

// TestTxnRelease: the End handler closes the session on Txn.Release, which
// sqlclass reads from tokens, not from comments.
func TestTxnRelease(t *testing.T) {
	for sql, want := range map[string]bool{
		"COMMIT /* RELEASE */":          false,
		"COMMIT RELEASE":                true,
		"COMMIT -- RELEASE\n":           false,
		"ROLLBACK AND CHAIN NO RELEASE": false,
		"ROLLBACK WORK RELEASE":         true,
	} {
		if st := sqlclass.Classify(sql, sqlclass.Options{}); st.Txn.Release != want {
			t.Errorf("%q: Txn.Release = %v, want %v", sql, st.Txn.Release, want)
		}
	}
}
