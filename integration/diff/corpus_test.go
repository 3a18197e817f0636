package diff

// The corpus: what each entry sends, and where the proxy runs it (so where
// the direct run goes).

import (
	"encoding/binary"
	"fmt"
	"math"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
)

// entry is a few commands on one fresh connection. Before each side runs,
// setup runs on the writer (and reaches the reader), so both sides start
// from the same data.
type entry struct {
	name   string
	writer bool // the proxy forwards it: compare with the writer, else with the reader
	setup  []string
	steps  []step
	// wantProxy are fields the proxy's answer must have where an
	// allowance replaces the comparison (a statement the proxy refuses).
	wantProxy map[string]string
}

// step is one command.
type step struct {
	query     string  // COM_QUERY
	prepare   string  // COM_STMT_PREPARE
	execute   []param // COM_STMT_EXECUTE of the last prepared statement (with exec)
	exec      bool
	cursor    bool       // with exec: open a read-only cursor
	fetch     uint32     // COM_STMT_FETCH of this many rows of the last prepared statement's cursor
	closeStmt bool       // COM_STMT_CLOSE of the last prepared statement
	bulk      [][][]byte // COM_STMT_BULK_EXECUTE of the last prepared statement: rows of values (bulkPacket), bulkTypes
	bulkTypes []byte
	raw       []byte // any other command, answered as kind
	kind      respKind
	infile    []byte // the file a LOAD DATA LOCAL asks for
	proxyOnly bool   // the proxy's own variable: sent through the proxy only, not compared
}

func (s step) String() string {
	switch {
	case s.query != "":
		return "COM_QUERY " + s.query
	case s.prepare != "":
		return "COM_STMT_PREPARE " + s.prepare
	case s.exec:
		return fmt.Sprintf("COM_STMT_EXECUTE with %d parameters", len(s.execute))
	case s.closeStmt:
		return "COM_STMT_CLOSE"
	case s.bulk != nil:
		return fmt.Sprintf("COM_STMT_BULK_EXECUTE of %d rows", len(s.bulk))
	case s.fetch > 0:
		return fmt.Sprintf("COM_STMT_FETCH of %d rows", s.fetch)
	}
	return fmt.Sprintf("command % x", s.raw)
}

// payload is the command packet; stmt is the id of the last prepared
// statement on this connection.
func (s step) payload(stmt uint32) ([]byte, respKind) {
	switch {
	case s.query != "":
		return append([]byte{gmysql.COM_QUERY}, s.query...), textResult
	case s.prepare != "":
		return append([]byte{gmysql.COM_STMT_PREPARE}, s.prepare...), prepareOK
	case s.exec:
		return executePacket(stmt, s.execute, s.cursor), binaryResult
	case s.fetch > 0:
		return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32([]byte{gmysql.COM_STMT_FETCH}, stmt), s.fetch), fetchRows
	case s.closeStmt:
		return binary.LittleEndian.AppendUint32([]byte{gmysql.COM_STMT_CLOSE}, stmt), noResponse
	case s.bulk != nil:
		return bulkPacket(stmt, s.bulkTypes, s.bulk), textResult
	}
	return s.raw, s.kind
}

func q(sql string) step { return step{query: sql} }

func qs(sqls ...string) []step {
	var out []step
	for _, s := range sqls {
		out = append(out, q(s))
	}
	return out
}

// param is one COM_STMT_EXECUTE parameter: its type and binary value.
type param struct {
	typ      byte
	unsigned bool
	null     bool
	value    []byte
}

func executePacket(stmt uint32, params []param, cursor bool) []byte {
	b := binary.LittleEndian.AppendUint32([]byte{gmysql.COM_STMT_EXECUTE}, stmt)
	if cursor {
		b = append(b, 1) // CURSOR_TYPE_READ_ONLY
	} else {
		b = append(b, 0)
	}
	b = binary.LittleEndian.AppendUint32(b, 1) // iteration count
	if len(params) == 0 {
		return b
	}
	nulls := make([]byte, (len(params)+7)/8)
	for i, p := range params {
		if p.null {
			nulls[i/8] |= 1 << (i % 8)
		}
	}
	b = append(b, nulls...)
	b = append(b, 1) // new params bound: the types follow
	for _, p := range params {
		flag := byte(0)
		if p.unsigned {
			flag = 0x80
		}
		b = append(b, p.typ, flag)
	}
	for _, p := range params {
		if !p.null {
			b = append(b, p.value...)
		}
	}
	return b
}

func le(n int, v uint64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	return b[:n]
}

func lenencBytes(s string) []byte { return append(gmysql.PutLengthEncodedInt(uint64(len(s))), s...) }

// everyParam has one parameter of each type a client can bind.
var everyParam = []param{
	{typ: gmysql.MYSQL_TYPE_TINY, value: []byte{0xfb}},                // -5
	{typ: gmysql.MYSQL_TYPE_TINY, unsigned: true, value: []byte{250}}, //
	{typ: gmysql.MYSQL_TYPE_SHORT, value: le(2, uint64(0x10000-300))}, // -300
	{typ: gmysql.MYSQL_TYPE_LONG, value: le(4, 70000)},                //
	{typ: gmysql.MYSQL_TYPE_INT24, value: le(4, 123456)},              //
	{typ: gmysql.MYSQL_TYPE_LONGLONG, value: le(8, uint64(1<<64-1<<40))},
	{typ: gmysql.MYSQL_TYPE_LONGLONG, unsigned: true, value: le(8, 1<<63+5)},
	{typ: gmysql.MYSQL_TYPE_FLOAT, value: le(4, uint64(math.Float32bits(1.5)))},
	{typ: gmysql.MYSQL_TYPE_DOUBLE, value: le(8, math.Float64bits(-2.25))},
	{typ: gmysql.MYSQL_TYPE_NEWDECIMAL, value: lenencBytes("123.4500")},
	{typ: gmysql.MYSQL_TYPE_DECIMAL, value: lenencBytes("-0.5")},
	{typ: gmysql.MYSQL_TYPE_STRING, value: lenencBytes("str")},
	{typ: gmysql.MYSQL_TYPE_VAR_STRING, value: lenencBytes("vs é")},
	{typ: gmysql.MYSQL_TYPE_VARCHAR, value: lenencBytes("vc")},
	{typ: gmysql.MYSQL_TYPE_BLOB, value: lenencBytes("\x00\x01\xff")},
	{typ: gmysql.MYSQL_TYPE_TINY_BLOB, value: lenencBytes("tb")},
	{typ: gmysql.MYSQL_TYPE_MEDIUM_BLOB, value: lenencBytes("mb")},
	{typ: gmysql.MYSQL_TYPE_LONG_BLOB, value: lenencBytes("lb")},
	{typ: gmysql.MYSQL_TYPE_BIT, value: lenencBytes("\x02\x01")},
	{typ: gmysql.MYSQL_TYPE_DATE, value: append([]byte{4}, append(le(2, 2024), 2, 29)...)},
	{typ: gmysql.MYSQL_TYPE_DATETIME, value: append([]byte{11}, append(append(le(2, 2023), 12, 31, 23, 59, 58), le(4, 123456)...)...)},
	{typ: gmysql.MYSQL_TYPE_TIMESTAMP, value: append([]byte{7}, append(le(2, 2001), 1, 2, 3, 4, 5)...)},
	{typ: gmysql.MYSQL_TYPE_TIME, value: append([]byte{12, 1}, append(append(le(4, 2), 3, 4, 5), le(4, 600000)...)...)},
	{typ: gmysql.MYSQL_TYPE_TIME, value: []byte{0}},
	{typ: gmysql.MYSQL_TYPE_YEAR, value: le(2, 1999)},
	{typ: gmysql.MYSQL_TYPE_NULL, null: true},
	{typ: gmysql.MYSQL_TYPE_LONG, null: true},
}

func placeholders(n int) string {
	s := ""
	for i := 0; i < n; i++ {
		if i > 0 {
			s += ", "
		}
		s += "?"
	}
	return s
}

// corpusSetup runs once: objects the entries read and call.
var corpusSetup = []string{
	"DROP TABLE IF EXISTS types",
	`CREATE TABLE types (id INT PRIMARY KEY, ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT, i INT,
		bi BIGINT, bu BIGINT UNSIGNED, z INT(5) ZEROFILL, d DECIMAL(12,4), f FLOAT, db DOUBLE, bt BIT(10),
		dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(2), y YEAR, c CHAR(4), vc VARCHAR(20),
		bn BINARY(4), vb VARBINARY(8), tt TINYTEXT, tx TEXT, mt MEDIUMTEXT, lt LONGTEXT, tb TINYBLOB, b BLOB,
		mb MEDIUMBLOB, lb LONGBLOB, e ENUM('a','b'), st SET('x','y'), j JSON, g POINT, ip INET6, u UUID,
		l1 VARCHAR(10) CHARACTER SET latin1)`,
	`INSERT INTO types VALUES (1, -128, 255, -32768, -8388608, -2147483648, -9223372036854775808,
		18446744073709551615, 42, -12345678.1234, 1.25, -2.5e-300, b'1010101010', '2024-02-29',
		'2023-12-31 23:59:59.999999', '2001-01-02 03:04:05.678', '-838:59:59.99', 2155, 'ab', 'vç', 'b\0',
		X'00ff', 'tiny', 'text', 'medium', 'long', X'01', X'0203', X'04', X'05', 'b', 'x,y', '{"k": [1, 2]}',
		POINT(1, 2), '::1', '123e4567-e89b-12d3-a456-426614174000', 'l\xe9')`,
	"INSERT INTO types (id) VALUES (2)",
	`INSERT INTO types (id, ti, i, d, f, dt, tm, vc, tx) VALUES (3, 0, 0, 0, 0, '0000-00-00', '00:00:00', '', '')`,
	"DROP PROCEDURE IF EXISTS p2",
	"CREATE PROCEDURE p2() BEGIN SELECT 1 AS a; SELECT 'x' AS b, 2.5 AS c FROM DUAL; END",
	"DROP PROCEDURE IF EXISTS p0",
	"CREATE PROCEDURE p0() BEGIN DECLARE x INT; SET x = 1; END",
	"DROP PROCEDURE IF EXISTS perr",
	"CREATE PROCEDURE perr() BEGIN SELECT 1; SELECT * FROM no_such_table; END",
}

// writeSetup gives every write entry a fresh table.
var writeSetup = []string{
	"DROP TABLE IF EXISTS w",
	"CREATE TABLE w (id INT AUTO_INCREMENT PRIMARY KEY, k INT UNIQUE, v INT, s VARCHAR(5))",
	"INSERT INTO w (k, v, s) VALUES (1, 10, 'a'), (2, 20, 'b'), (3, 30, 'c')",
	"DROP TABLE IF EXISTS wp",
	`CREATE TABLE wp (id INT AUTO_INCREMENT PRIMARY KEY, ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, i INT,
		i24 MEDIUMINT, bi BIGINT, bu BIGINT UNSIGNED, f FLOAT, db DOUBLE, d DECIMAL(10,4), d2 DECIMAL(4,2),
		c CHAR(4), vs VARCHAR(10), vc VARCHAR(10), b BLOB, tb TINYBLOB, mb MEDIUMBLOB, lb LONGBLOB, bt BIT(10),
		dt DATE, dtm DATETIME(6), ts TIMESTAMP NULL, tm TIME(6), tm0 TIME, y YEAR, n1 INT, n2 INT)`,
}

// consistencyOff turns forwarding off for the session: a proxy variable,
// so it is sent through the proxy only.
var consistencyOff = step{query: "SET aurora_replica_read_consistency = ''", proxyOnly: true}

func theCorpus() []entry {
	var prepParams = []step{{prepare: "SELECT " + placeholders(len(everyParam))}, {exec: true, execute: everyParam},
		{exec: true, execute: everyParam}, {closeStmt: true}, q("SELECT 1")}
	return []entry{
		// Reads: the proxy runs them on the reader.
		{name: "select literals", steps: qs(`SELECT 1, -2, 1.5, 1e3, 'x', NULL, _binary 'b', X'00ff', TRUE, 18446744073709551615 AS big`)},
		{name: "select every column type", steps: qs("SELECT * FROM types ORDER BY id")},
		{name: "select no rows", steps: qs("SELECT id, vc FROM types WHERE 1 = 0")},
		{name: "select with warnings", steps: qs("SELECT 1/0, CAST('12abc' AS SIGNED)", "SHOW WARNINGS", "SELECT @@warning_count")},
		{name: "show and explain", steps: qs("SHOW COLUMNS FROM types", "EXPLAIN SELECT * FROM types WHERE id = 1", "DESCRIBE types")},
		{name: "select errors", steps: qs("SELECT * FROM no_such_table", "SELECT nope FROM types", "SELECT * FROM `tâble`",
			"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'custom é', MYSQL_ERRNO = 1644", "SELECT 1")},
		{name: "read-only transaction", steps: qs("START TRANSACTION READ ONLY", "SELECT COUNT(*) FROM types", "COMMIT",
			"BEGIN", "SELECT 1", "ROLLBACK")},
		{name: "session variables", steps: qs("SELECT @@autocommit, @@session.tx_read_only, @@in_transaction, @@session_track_system_variables")},
		{name: "large and many rows", steps: qs("SELECT REPEAT('x', 70000), REPEAT('y', 300)", "SELECT seq FROM seq_1_to_3000")},
		{name: "multi-statement reads", steps: qs("SELECT 1; SELECT 'two', 2; DO 1; SELECT * FROM types WHERE id = 2")},
		{name: "multi-statement read error", steps: qs("SELECT 1; SELECT * FROM no_such_table; SELECT 3", "SELECT 4")},
		{name: "set tracked variables", steps: qs("SET time_zone = '+01:00'", "SET @a = 5, @b = 'x'", "SELECT @a, @b, @@time_zone", "SET NAMES latin1", "SELECT 'é'", "USE fwddiff",
			"SELECT 7 INTO @v", "SELECT @v")},
		{name: "CALL returning result sets", steps: []step{consistencyOff, q("CALL p2()"), q("CALL p0()"), q("CALL perr()"), q("SELECT 1")}},
		{name: "CALL at SESSION", writer: true, steps: qs("CALL p2()"), wantProxy: map[string]string{"s0.r0.err.code": "1235"}},
		{name: "prepared select of every parameter type", steps: prepParams},
		{name: "prepared select of every column type", steps: []step{{prepare: "SELECT * FROM types WHERE id > ? ORDER BY id"},
			{exec: true, execute: []param{{typ: gmysql.MYSQL_TYPE_LONG, value: le(4, 0)}}}, {closeStmt: true}}},
		{name: "prepared select through a cursor", steps: []step{{prepare: "SELECT id, vc FROM types WHERE id > ? ORDER BY id"},
			{exec: true, cursor: true, execute: []param{{typ: gmysql.MYSQL_TYPE_LONG, value: le(4, 0)}}},
			{fetch: 2}, {fetch: 5}, {closeStmt: true}, q("SELECT 1")}},
		{name: "prepared errors", steps: []step{{prepare: "SELECT * FROM no_such_table"},
			{prepare: "SELECT (SELECT id FROM types) FROM types WHERE id = ?"},
			{exec: true, execute: []param{{typ: gmysql.MYSQL_TYPE_LONG, value: le(4, 1)}}}, q("SELECT 1")}},
		{name: "prepared CALL", steps: []step{consistencyOff, {prepare: "CALL p2()"}, {exec: true}, {closeStmt: true}, q("SELECT 1")}},
		{name: "other commands", steps: []step{{raw: append([]byte{gmysql.COM_FIELD_LIST}, "w\x00"...), kind: fieldList},
			{raw: append([]byte{gmysql.COM_FIELD_LIST}, "types\x00"...), kind: fieldList},
			{raw: []byte{gmysql.COM_PING}}, {raw: append([]byte{gmysql.COM_INIT_DB}, testDB...)},
			{raw: append([]byte{gmysql.COM_INIT_DB}, "no_such_db"...)}, q("SELECT DATABASE()"),
			{raw: []byte{gmysql.COM_SET_OPTION, 1, 0}}, q("SELECT 1; SELECT 2"), {raw: []byte{gmysql.COM_SET_OPTION, 0, 0}},
			q("SET @x = 1"), {raw: []byte{gmysql.COM_RESET_CONNECTION}}, q("SELECT @x")}, setup: writeSetup},
		// Temporary tables: the proxy keeps them on the reader; the direct
		// run uses the writer, as no test writes to the replica itself.
		{name: "temporary table", writer: true, steps: qs("CREATE TEMPORARY TABLE tt (a INT, b VARCHAR(3))",
			"INSERT INTO tt VALUES (1, 'a'), (2, 'b')", "UPDATE tt SET a = a + 1", "INSERT IGNORE INTO tt VALUES (9, 'long')",
			"SELECT * FROM tt", "DELETE FROM tt WHERE a = 2", "DROP TEMPORARY TABLE tt")},
		{name: "LOAD DATA LOCAL into a temporary table", writer: true, steps: []step{
			q("CREATE TEMPORARY TABLE tl (a INT, b VARCHAR(3))"),
			{query: "LOAD DATA LOCAL INFILE 'rows.csv' INTO TABLE tl FIELDS TERMINATED BY ','", infile: []byte("1,a\n2,b\nx,toolong\n")},
			{query: "LOAD DATA LOCAL INFILE 'none.csv' INTO TABLE tl", infile: nil},
			q("SELECT * FROM tl")}},

		// Writes: the proxy forwards them to the writer.
		{name: "INSERT one row", writer: true, setup: writeSetup, steps: qs("INSERT INTO w (k, v) VALUES (10, 1)", "SELECT LAST_INSERT_ID(), ROW_COUNT()")},
		{name: "INSERT several rows", writer: true, setup: writeSetup, steps: qs("INSERT INTO w (k, v) VALUES (11, 1), (12, 2)")},
		// No cell asks for MariaDB's bulk operations (CLIENT_LONG_PASSWORD
		// is on): the server's refusal, relayed (TestBulkExecute runs them).
		{name: "bulk execute not negotiated", writer: true, setup: writeSetup, steps: []step{{prepare: "INSERT INTO w (k, v) VALUES (?, ?)"},
			{bulk: [][][]byte{{le(4, 13), le(4, 1)}, {le(4, 14), nil}}, bulkTypes: []byte{gmysql.MYSQL_TYPE_LONG, gmysql.MYSQL_TYPE_LONG}},
			{closeStmt: true}, q("SELECT 1")}},
		{name: "UPDATE rows matched", writer: true, setup: writeSetup, steps: qs("UPDATE w SET v = 20 WHERE k <= 2", "SELECT ROW_COUNT()")},
		{name: "UPDATE nothing changed", writer: true, setup: writeSetup, steps: qs("UPDATE w SET v = v WHERE k <= 3", "UPDATE w SET v = 0 WHERE k = 99")},
		{name: "DELETE", writer: true, setup: writeSetup, steps: qs("DELETE FROM w WHERE k = 3")},
		{name: "INSERT ON DUPLICATE KEY UPDATE", writer: true, setup: writeSetup, steps: qs(
			"INSERT INTO w (k, v) VALUES (1, 5), (50, 5) ON DUPLICATE KEY UPDATE v = VALUES(v)",
			"INSERT INTO w (k, v) VALUES (2, 20) ON DUPLICATE KEY UPDATE v = VALUES(v)")},
		{name: "REPLACE", writer: true, setup: writeSetup, steps: qs("REPLACE INTO w (id, k, v) VALUES (1, 1, 7), (9, 9, 9)")},
		{name: "INSERT with warnings", writer: true, setup: writeSetup, steps: qs(
			"INSERT IGNORE INTO w (k, v, s) VALUES (60, 1, 'toolong'), (1, 1, 'dup')", "SHOW WARNINGS", "SELECT @@warning_count")},
		{name: "INSERT SELECT and multi-table UPDATE", writer: true, setup: writeSetup, steps: qs(
			"INSERT INTO w (k, v) SELECT k + 100, v FROM w", "UPDATE w a JOIN w b ON a.id = b.id SET a.v = b.v + 1")},
		{name: "write errors", writer: true, setup: writeSetup, steps: qs("INSERT INTO w (k, v) VALUES (1, 1)",
			"INSRT INTO w VALUES (1)", "UPDATE w SET nope = 1", "SELECT 1")},
		{name: "multi-statement writes", writer: true, setup: writeSetup, steps: qs(
			"INSERT INTO w (k, v) VALUES (70, 7); UPDATE w SET v = v + 1 WHERE k = 70; SELECT v FROM w WHERE k = 70",
			"UPDATE w SET v = 1 WHERE k = 1; INSERT INTO w (k) VALUES (2); SELECT 'not reached'", "SELECT 1")},
		{name: "transaction commit", writer: true, setup: writeSetup, steps: qs("BEGIN", "INSERT INTO w (k, v) VALUES (80, 8)",
			"SELECT v FROM w WHERE k = 80", "COMMIT", "SELECT COUNT(*) FROM w")},
		{name: "transaction rollback", writer: true, setup: writeSetup, steps: qs("START TRANSACTION", "UPDATE w SET v = 99",
			"ROLLBACK", "SELECT SUM(v) FROM w")},
		{name: "autocommit off", writer: true, setup: writeSetup, steps: qs("SET autocommit = 0", "INSERT INTO w (k, v) VALUES (90, 9)",
			"COMMIT", "SET autocommit = 1")},
		{name: "RETURNING", writer: true, setup: writeSetup, steps: qs("INSERT INTO w (k, v) VALUES (95, 9), (96, 9) RETURNING id, k",
			"DELETE FROM w WHERE k = 96 RETURNING id")},
		{name: "SELECT FOR UPDATE", writer: true, setup: writeSetup, steps: qs("SELECT id, v FROM w WHERE k = 1 FOR UPDATE")},
		{name: "prepared INSERT of every parameter type", writer: true, setup: writeSetup, steps: []step{
			{prepare: "INSERT INTO wp (ti, tu, si, i, i24, bi, bu, f, db, d, d2, c, vs, vc, b, tb, mb, lb, bt, dt, dtm, ts, tm, tm0, y, n1, n2) VALUES (" +
				placeholders(len(everyParam)) + ")"},
			{exec: true, execute: everyParam}, {exec: true, execute: everyParam}, {closeStmt: true}, q("SELECT * FROM wp")}},
		{name: "prepared UPDATE", writer: true, setup: writeSetup, steps: []step{{prepare: "UPDATE w SET v = ? WHERE k <= ?"},
			{exec: true, execute: []param{{typ: gmysql.MYSQL_TYPE_LONG, value: le(4, 20)}, {typ: gmysql.MYSQL_TYPE_LONG, value: le(4, 2)}}},
			{exec: true, execute: []param{{typ: gmysql.MYSQL_TYPE_LONG, value: le(4, 20)}, {typ: gmysql.MYSQL_TYPE_LONG, value: le(4, 2)}}},
			{prepare: "INSERT INTO w (k, v) VALUES (?, 1)"},
			{exec: true, execute: []param{{typ: gmysql.MYSQL_TYPE_LONG, value: le(4, 1)}}}, q("SELECT 1")}},
	}
}
