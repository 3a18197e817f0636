package sqlclass

import (
	"reflect"
	"strings"
	"testing"
)

var (
	nbe  = Options{NoBackslashEscapes: true}
	ansi = Options{ANSIQuotes: true}
)

// ic values: 0 not checked, 1 true, -1 false.
type classCase struct {
	sql   string
	class Class
	op    string // checked when set
	ic    int8
	opt   Options
}

// classCases covers every statement form the routing and forwarding-off
// rules name (docs/compatibility.md), every form
// DESIGN.md lists as unparseable by the TiDB parser, and executable comments.
var classCases = []classCase{
	// reads
	{sql: "SELECT 1", class: Read, op: "SELECT", ic: -1},
	{sql: "SELECT c FROM sbtest1 WHERE id=42", class: Read},
	{sql: "SELECT c FROM sbtest1 WHERE id=?", class: Read},
	{sql: "select c from sbtest1 where id between 1 and 10 order by c", class: Read},
	{sql: "SELECT 1 UNION SELECT 2", class: Read},
	{sql: "(SELECT a FROM t) UNION (SELECT b FROM u) ORDER BY 1", class: Read, op: "SELECT"},
	{sql: "((SELECT 1))", class: Read},
	{sql: "WITH c AS (SELECT 1) SELECT * FROM c", class: Read, op: "SELECT"},
	{sql: "WITH RECURSIVE c (n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c WHERE n < 3) SELECT * FROM c", class: Read},
	{sql: "WITH a AS (SELECT 1), b AS (SELECT 2) (SELECT * FROM a)", class: Read},
	{sql: "SHOW TABLES", class: Read, op: "SHOW"},
	{sql: "SHOW VARIABLES LIKE 'aurora%'", class: Read},
	{sql: "show full processlist", class: Read},
	{sql: "SHOW CREATE TABLE t", class: Read},
	{sql: "DESCRIBE t", class: Read, op: "DESCRIBE"},
	{sql: "DESC t", class: Read},
	{sql: "DESC db.t col", class: Read},
	{sql: "EXPLAIN t", class: Read},
	{sql: "EXPLAIN SELECT * FROM t", class: Read, op: "EXPLAIN"},
	{sql: "EXPLAIN FORMAT=JSON SELECT * FROM t", class: Read},
	{sql: "EXPLAIN FORMAT = TREE SELECT * FROM t", class: Read},
	{sql: "EXPLAIN EXTENDED SELECT 1", class: Read},
	{sql: "EXPLAIN PARTITIONS SELECT 1", class: Read},
	{sql: "EXPLAIN UPDATE t SET a=1", class: Read},
	{sql: "EXPLAIN DELETE FROM t", class: Read},
	{sql: "EXPLAIN INSERT INTO t VALUES (1)", class: Read},
	{sql: "EXPLAIN REPLACE INTO t VALUES (1)", class: Read},
	{sql: "DESCRIBE UPDATE t SET a=1", class: Read},
	{sql: "EXPLAIN WITH c AS (SELECT 1) UPDATE t JOIN c SET t.a=1", class: Read},
	{sql: "EXPLAIN FOR CONNECTION 12", class: Read},
	{sql: "EXPLAIN ANALYZE SELECT * FROM t", class: Read},
	{sql: "EXPLAIN INTO @v FORMAT=JSON SELECT 1", class: Read},
	{sql: "ANALYZE SELECT * FROM t", class: Read, op: "ANALYZE"},
	{sql: "ANALYZE FORMAT=JSON SELECT * FROM t", class: Read},
	{sql: "DO 1", class: Read, op: "DO"},
	{sql: "DO SLEEP(0.1), GET_LOCK('x', 1)", class: Read},
	{sql: "HELP 'contents'", class: Read, op: "HELP"},
	{sql: "SELECT a INTO @v FROM t WHERE id = 1", class: Read},
	{sql: "SELECT a, b INTO @x, @y FROM t LIMIT 1", class: Read},
	{sql: "SELECT * FROM t INTO OUTFILE '/tmp/x'", class: Read},
	{sql: "SELECT * INTO OUTFILE '/tmp/x' FIELDS TERMINATED BY ',' FROM t", class: Read},
	{sql: "SELECT a INTO DUMPFILE '/tmp/x' FROM t LIMIT 1", class: Read},
	{sql: "VALUES ROW(1, 2), ROW(3, 4)", class: Read},
	{sql: "VALUES (1, 2), (3, 4)", class: Read},
	{sql: "TABLE t", class: Read},
	{sql: "TABLE t ORDER BY a LIMIT 1", class: Read},
	{sql: "CHECKSUM TABLE t1, t2", class: Read, op: "CHECKSUM TABLE"},
	{sql: "CHECK TABLE t", class: Read, op: "CHECK TABLE", ic: 1},
	{sql: "SELECT 'FOR UPDATE' FROM t", class: Read},
	{sql: "SELECT `for`, `update` FROM t", class: Read},
	{sql: "SELECT * FROM t -- FOR UPDATE", class: Read},
	{sql: "SELECT * FROM t /* FOR UPDATE */", class: Read},
	{sql: "SELECT 'a\\' FOR UPDATE'", class: Read},
	{sql: "SELECT LASTVAL(s)", class: Read},
	{sql: "SELECT PREVIOUS VALUE FOR s", class: Read},
	{sql: "SELECT * FROM JSON_TABLE('[1,2]', '$[*]' COLUMNS (a INT PATH '$')) AS jt", class: Read},
	{sql: "SELECT * FROM t FOR SYSTEM_TIME AS OF TIMESTAMP '2020-01-01 00:00:00'", class: Read},
	{sql: "SELECT * FROM t FOR SYSTEM_TIME ALL", class: Read},
	{sql: "SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM t", class: Read},
	{sql: "  \n\t/* leading */ -- line\n# hash\nSELECT 1", class: Read},
	{sql: "SELECT 1;", class: Read},
	{sql: "SELECT 1 ; ;", class: Read},

	// locking reads
	{sql: "SELECT * FROM t WHERE id = 1 FOR UPDATE", class: LockingRead, op: "SELECT"},
	{sql: "SELECT * FROM t FOR SHARE", class: LockingRead},
	{sql: "SELECT * FROM t LOCK IN SHARE MODE", class: LockingRead},
	{sql: "select * from t for update nowait", class: LockingRead},
	{sql: "SELECT * FROM t FOR UPDATE SKIP LOCKED", class: LockingRead},
	{sql: "SELECT * FROM t FOR SHARE OF t NOWAIT", class: LockingRead},
	{sql: "SELECT * FROM t FOR UPDATE WAIT 5", class: LockingRead},
	{sql: "SELECT * FROM t WHERE a IN (SELECT a FROM u FOR UPDATE)", class: LockingRead},
	{sql: "(SELECT * FROM t FOR UPDATE) UNION (SELECT * FROM u)", class: LockingRead},
	{sql: "WITH c AS (SELECT * FROM t FOR UPDATE) SELECT * FROM c", class: LockingRead},
	{sql: "EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE", class: LockingRead},
	{sql: "SELECT a INTO @v FROM t FOR UPDATE", class: LockingRead},

	// writes
	{sql: "INSERT INTO t VALUES (1)", class: Write, op: "INSERT", ic: -1},
	{sql: "insert ignore into t (a) values (1), (2)", class: Write},
	{sql: "INSERT INTO t SET a = 1", class: Write},
	{sql: "INSERT t VALUES (1)", class: Write},
	{sql: "INSERT LOW_PRIORITY IGNORE INTO t VALUES (1)", class: Write},
	{sql: "REPLACE INTO t VALUES (1)", class: Write, op: "REPLACE"},
	{sql: "UPDATE t SET a = 1 WHERE id = 2", class: Write, op: "UPDATE"},
	{sql: "UPDATE LOW_PRIORITY IGNORE t SET a = 1", class: Write},
	{sql: "DELETE FROM t WHERE id = 1", class: Write, op: "DELETE"},
	{sql: "DELETE QUICK IGNORE FROM t", class: Write},
	{sql: "UPDATE t1 JOIN t2 ON t1.id = t2.id SET t1.a = t2.b", class: Write},
	{sql: "DELETE t1, t2 FROM t1 JOIN t2 ON t1.id = t2.id", class: Write},
	{sql: "DELETE FROM t1, t2 USING t1 JOIN t2", class: Write},
	{sql: "INSERT INTO t SELECT * FROM u", class: Write},
	{sql: "INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = a + 1", class: Write},
	{sql: "INSERT INTO t (a, b) VALUES (1, 2) AS new ON DUPLICATE KEY UPDATE b = new.b", class: Write},
	{sql: "INSERT INTO t (a, b) VALUES (1, 2) AS new (x, y) ON DUPLICATE KEY UPDATE b = y", class: Write},
	{sql: "INSERT INTO t VALUES (1) RETURNING id", class: Write},
	{sql: "REPLACE INTO t VALUES (1) RETURNING *", class: Write},
	{sql: "DELETE FROM t WHERE a = 1 RETURNING a, b", class: Write},
	{sql: "INSERT INTO t SELECT * FROM JSON_TABLE('[1]', '$[*]' COLUMNS (a INT PATH '$')) AS jt", class: Write},
	{sql: "UPDATE t FOR PORTION OF p FROM '2020-01-01' TO '2021-01-01' SET a = 1", class: Write},
	{sql: "DELETE FROM t FOR PORTION OF p FROM '2020-01-01' TO '2021-01-01'", class: Write},
	{sql: "DELETE HISTORY FROM t BEFORE SYSTEM_TIME '2020-01-01'", class: Write},
	{sql: "WITH c AS (SELECT id FROM u) UPDATE t JOIN c ON t.id = c.id SET t.a = 1", class: Write, op: "UPDATE"},
	{sql: "WITH c AS (SELECT id FROM u) DELETE FROM t WHERE id IN (SELECT id FROM c)", class: Write, op: "DELETE"},
	{sql: "SELECT NEXTVAL(s)", class: Write, op: "SELECT"},
	{sql: "SELECT NEXT VALUE FOR s", class: Write},
	{sql: "SELECT SETVAL(s, 100)", class: Write},
	{sql: "SELECT s.nextval", class: Write},
	{sql: "DO NEXTVAL(s)", class: Write},
	{sql: "SELECT * FROM t WHERE id = NEXTVAL(s) FOR UPDATE", class: Write},
	{sql: "ANALYZE UPDATE t SET a = 1", class: Write, op: "UPDATE"},
	{sql: "ANALYZE DELETE FROM t", class: Write, op: "DELETE"},
	{sql: "ANALYZE INSERT INTO t VALUES (1)", class: Write},
	{sql: "ANALYZE FORMAT=JSON UPDATE t SET a = 1", class: Write},
	{sql: "EXPLAIN ANALYZE UPDATE t1 JOIN t2 SET t1.a = 1", class: Write},
	{sql: "EXPLAIN ANALYZE DELETE FROM t", class: Write},
	{sql: "INSERT INTO t VALUES (1); ", class: Write},

	// executable comments
	{sql: "/*M!100000 INSERT INTO t2 (id, v) */ SELECT 99999, 1", class: Write, op: "INSERT"},
	{sql: "/*!INSERT INTO t VALUES (1)*/", class: Write},
	{sql: "/*! SELECT 1 */", class: Read},
	{sql: "/*!40101 SET NAMES utf8 */", class: Set},
	{sql: "/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */", class: Set},
	{sql: "/*!40101 SET @saved_cs_client = @@character_set_client */", class: Set},
	{sql: "SELECT /*!40001 SQL_NO_CACHE */ * FROM t", class: Read},
	{sql: "SELECT * FROM t /*!50000 FOR UPDATE */", class: LockingRead},
	{sql: "SELECT * FROM t /*M! FOR UPDATE */", class: LockingRead},
	{sql: "SELECT * FROM t /*!FOR UPDATE*/", class: LockingRead},
	{sql: "/*!99999 DELETE FROM t WHERE 1 OR */ SELECT 1", class: Write},
	{sql: "/*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */ /*!50001 VIEW `v` AS select 1 AS `1` */", class: DDL, op: "CREATE VIEW"},
	{sql: "/*!40000 ALTER TABLE `t` DISABLE KEYS */", class: DDL},
	{sql: "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1 */", class: DDL, op: "CREATE TRIGGER"},
	{sql: "SELECT '/*!99999 x */' FROM t", class: Read},
	{sql: "/*!99999 SET @a = 1 */ SELECT 1", class: Unknown},
	{sql: "/*!99999 /* c */ SET @a = 1 */ SELECT 1", class: Unknown},
	{sql: "/*!99999 SET @a = '*/' */ SELECT 1", class: Unknown},
	{sql: "SELECT 1 /*!99999 FOR UPDATE", class: LockingRead},
	{sql: "/*M!100000 CREATE TEMPORARY TABLE t (a int) */ SELECT 1", class: Unknown},
	{sql: "/* plain */ /*+ hint */ DELETE FROM t", class: Write},
	{sql: "/*M!999999\\- enable the sandbox mode */ ", class: Empty},
	{sql: "/*M!999999 DELETE FROM t WHERE 1 OR */ SELECT 1", class: Read},
	{sql: "/*!999999 DELETE FROM t WHERE 1 OR */ SELECT 1", class: Write},

	// LOAD
	{sql: "LOAD DATA INFILE '/tmp/x' INTO TABLE t", class: LoadData, op: "LOAD DATA", ic: -1},
	{sql: "LOAD DATA LOCAL INFILE '/tmp/x' INTO TABLE t FIELDS TERMINATED BY ','", class: LoadData},
	{sql: "LOAD DATA LOW_PRIORITY LOCAL INFILE 'x' REPLACE INTO TABLE t", class: LoadData},
	{sql: "LOAD XML LOCAL INFILE '/tmp/x.xml' INTO TABLE t ROWS IDENTIFIED BY '<row>'", class: LoadData, op: "LOAD XML"},
	{sql: "LOAD XML INFILE 'x' INTO TABLE t", class: LoadData, op: "LOAD XML"},

	// temporary tables
	{sql: "CREATE TEMPORARY TABLE t (a INT)", class: CreateTempTable, op: "CREATE TEMPORARY TABLE", ic: -1},
	{sql: "CREATE TEMPORARY TABLE IF NOT EXISTS t (a INT)", class: CreateTempTable},
	{sql: "CREATE TEMPORARY TABLE t LIKE u", class: CreateTempTable},
	{sql: "CREATE TEMPORARY TABLE t (LIKE u)", class: CreateTempTable},
	{sql: "CREATE TEMPORARY TABLE t AS SELECT * FROM u", class: CreateTempTable},
	{sql: "CREATE TEMPORARY TABLE t SELECT * FROM u", class: CreateTempTable},
	{sql: "CREATE TEMPORARY TABLE t ENGINE=InnoDB SELECT a FROM u WHERE b IN (SELECT b FROM v)", class: CreateTempTable},
	{sql: "CREATE OR REPLACE TEMPORARY TABLE t (a INT)", class: CreateTempTable},
	{sql: "create temporary table t select * from u for update", class: CreateTempTable},
	{sql: "CREATE TEMPORARY TABLE t SELECT NEXTVAL(s)", class: Unknown},
	{sql: "CREATE TEMPORARY SEQUENCE s", class: Unknown},
	{sql: "DROP TEMPORARY TABLE t", class: DropTempTable, op: "DROP TEMPORARY TABLE", ic: -1},
	{sql: "DROP TEMPORARY TABLE IF EXISTS t1, t2", class: DropTempTable},

	// DDL and DCL
	{sql: "CREATE TABLE t (a INT)", class: DDL, op: "CREATE TABLE", ic: 1},
	{sql: "CREATE TABLE IF NOT EXISTS db.t (a INT)", class: DDL, op: "CREATE TABLE"},
	{sql: "CREATE TABLE t AS SELECT * FROM u", class: DDL, op: "CREATE TABLE"},
	{sql: "CREATE TABLE t LIKE u", class: DDL},
	{sql: "CREATE OR REPLACE TABLE t (a INT)", class: DDL, op: "CREATE TABLE"},
	{sql: "ALTER TABLE t ADD COLUMN b INT", class: DDL, op: "ALTER TABLE", ic: 1},
	{sql: "ALTER ONLINE TABLE t ADD COLUMN b INT", class: DDL, op: "ALTER TABLE"},
	{sql: "ALTER IGNORE TABLE t ADD UNIQUE (a)", class: DDL, op: "ALTER TABLE"},
	{sql: "DROP TABLE t", class: DDL, op: "DROP TABLE", ic: 1},
	{sql: "DROP TABLE IF EXISTS t1, t2", class: DDL, op: "DROP TABLE"},
	{sql: "DROP TABLES t1", class: DDL, op: "DROP TABLE"},
	{sql: "RENAME TABLE a TO b, c TO d", class: DDL, op: "RENAME TABLE", ic: 1},
	{sql: "TRUNCATE TABLE t", class: DDL, op: "TRUNCATE TABLE", ic: 1},
	{sql: "TRUNCATE t", class: DDL, op: "TRUNCATE TABLE"},
	{sql: "CREATE INDEX i ON t (a)", class: DDL, op: "CREATE INDEX", ic: 1},
	{sql: "CREATE UNIQUE INDEX i ON t (a)", class: DDL, op: "CREATE INDEX"},
	{sql: "CREATE FULLTEXT INDEX i ON t (a)", class: DDL, op: "CREATE INDEX"},
	{sql: "CREATE SPATIAL INDEX i ON t (g)", class: DDL, op: "CREATE INDEX"},
	{sql: "DROP INDEX i ON t", class: DDL, op: "DROP INDEX"},
	{sql: "CREATE VIEW v AS SELECT 1", class: DDL, op: "CREATE VIEW"},
	{sql: "CREATE OR REPLACE VIEW v AS SELECT 1", class: DDL, op: "CREATE VIEW"},
	{sql: "CREATE ALGORITHM=MERGE DEFINER=`root`@`localhost` SQL SECURITY INVOKER VIEW v AS SELECT 1", class: DDL, op: "CREATE VIEW"},
	{sql: "CREATE DEFINER=root@localhost VIEW v AS SELECT 1", class: DDL, op: "CREATE VIEW"},
	{sql: "CREATE DEFINER=CURRENT_USER() VIEW v AS SELECT 1", class: DDL, op: "CREATE VIEW"},
	{sql: "ALTER VIEW v AS SELECT 2", class: DDL, op: "ALTER VIEW"},
	{sql: "DROP VIEW IF EXISTS v", class: DDL, op: "DROP VIEW"},
	{sql: "CREATE PROCEDURE p() BEGIN SELECT 1; END", class: DDL, op: "CREATE PROCEDURE"},
	{sql: "CREATE DEFINER='u'@'%' PROCEDURE p(IN a INT) SELECT a", class: DDL, op: "CREATE PROCEDURE"},
	{sql: "ALTER PROCEDURE p COMMENT 'x'", class: DDL, op: "ALTER PROCEDURE"},
	{sql: "DROP PROCEDURE IF EXISTS p", class: DDL, op: "DROP PROCEDURE"},
	{sql: "CREATE FUNCTION f(a INT) RETURNS INT DETERMINISTIC RETURN a + 1", class: DDL, op: "CREATE FUNCTION"},
	{sql: "CREATE AGGREGATE FUNCTION f RETURNS STRING SONAME 'udf.so'", class: DDL, op: "CREATE FUNCTION"},
	{sql: "CREATE FUNCTION f RETURNS INTEGER SONAME 'udf.so'", class: DDL, op: "CREATE FUNCTION"},
	{sql: "DROP FUNCTION f", class: DDL, op: "DROP FUNCTION"},
	{sql: "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1", class: DDL, op: "CREATE TRIGGER"},
	{sql: "CREATE DEFINER=`root`@`localhost` TRIGGER tr AFTER UPDATE ON t FOR EACH ROW BEGIN INSERT INTO log VALUES (1); END", class: DDL, op: "CREATE TRIGGER"},
	{sql: "DROP TRIGGER IF EXISTS tr", class: DDL, op: "DROP TRIGGER"},
	{sql: "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t", class: DDL, op: "CREATE EVENT"},
	{sql: "ALTER EVENT e DISABLE", class: DDL, op: "ALTER EVENT"},
	{sql: "DROP EVENT e", class: DDL, op: "DROP EVENT"},
	{sql: "CREATE DATABASE d", class: DDL, op: "CREATE DATABASE"},
	{sql: "CREATE SCHEMA IF NOT EXISTS d", class: DDL, op: "CREATE SCHEMA"},
	{sql: "ALTER DATABASE d CHARACTER SET utf8mb4", class: DDL, op: "ALTER DATABASE"},
	{sql: "DROP DATABASE d", class: DDL, op: "DROP DATABASE"},
	{sql: "DROP SCHEMA d", class: DDL, op: "DROP SCHEMA"},
	{sql: "CREATE SEQUENCE s START WITH 1", class: DDL, op: "CREATE SEQUENCE"},
	{sql: "ALTER SEQUENCE s RESTART 1", class: DDL, op: "ALTER SEQUENCE"},
	{sql: "DROP SEQUENCE s", class: DDL, op: "DROP SEQUENCE"},
	{sql: "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (HOST 'h')", class: DDL, op: "CREATE SERVER"},
	{sql: "DROP SERVER s", class: DDL, op: "DROP SERVER"},
	{sql: "CREATE USER 'u'@'localhost' IDENTIFIED BY 'p'", class: DDL, op: "CREATE USER", ic: 1},
	{sql: "ALTER USER u@'%' IDENTIFIED BY 'p'", class: DDL, op: "ALTER USER"},
	{sql: "DROP USER 'u'@'%'", class: DDL, op: "DROP USER"},
	{sql: "RENAME USER a TO b", class: DDL, op: "RENAME USER"},
	{sql: "CREATE ROLE r", class: DDL, op: "CREATE ROLE"},
	{sql: "DROP ROLE r", class: DDL, op: "DROP ROLE"},
	{sql: "CREATE TABLESPACE ts ADD DATAFILE 'ts.ibd'", class: DDL, op: "CREATE TABLESPACE"},
	{sql: "CREATE LOGFILE GROUP g ADD UNDOFILE 'u'", class: DDL, op: "CREATE LOGFILE GROUP"},
	{sql: "CREATE RESOURCE GROUP g TYPE = USER", class: DDL, op: "CREATE RESOURCE GROUP"},
	{sql: "CREATE PACKAGE BODY p AS BEGIN END", class: DDL, op: "CREATE PACKAGE BODY"},
	{sql: "ALTER INSTANCE ROTATE INNODB MASTER KEY", class: DDL, op: "ALTER INSTANCE"},
	{sql: "CREATE WIDGET w", class: DDL, op: "CREATE"},
	{sql: "GRANT SELECT ON db.* TO 'u'@'%'", class: DDL, op: "GRANT", ic: 1},
	{sql: "REVOKE ALL ON *.* FROM u", class: DDL, op: "REVOKE"},
	{sql: "SET PASSWORD = 'x'", class: DDL, op: "SET PASSWORD", ic: 1},
	{sql: "SET PASSWORD FOR 'u'@'%' = PASSWORD('x')", class: DDL, op: "SET PASSWORD"},
	{sql: "SET DEFAULT ROLE r TO u", class: DDL, op: "SET DEFAULT ROLE"},
	{sql: "ANALYZE TABLE t", class: DDL, op: "ANALYZE TABLE", ic: 1},
	{sql: "ANALYZE NO_WRITE_TO_BINLOG TABLE t1, t2", class: DDL, op: "ANALYZE TABLE"},
	{sql: "ANALYZE LOCAL TABLE t", class: DDL, op: "ANALYZE TABLE"},
	{sql: "OPTIMIZE TABLE t", class: DDL, op: "OPTIMIZE TABLE", ic: 1},
	{sql: "OPTIMIZE LOCAL TABLE t", class: DDL, op: "OPTIMIZE TABLE"},
	{sql: "REPAIR TABLE t QUICK", class: DDL, op: "REPAIR TABLE", ic: 1},
	{sql: "FLUSH PRIVILEGES", class: DDL, op: "FLUSH", ic: 1},
	{sql: "FLUSH TABLES WITH READ LOCK", class: DDL, op: "FLUSH"},
	{sql: "FLUSH LOCAL TABLES", class: DDL, op: "FLUSH"},
	{sql: "RESET MASTER", class: DDL, op: "RESET", ic: 1},
	{sql: "RESET PERSIST", class: DDL, op: "RESET", ic: -1},
	{sql: "PURGE BINARY LOGS TO 'mysql-bin.000010'", class: DDL, op: "PURGE", ic: 1},
	{sql: "PURGE MASTER LOGS BEFORE NOW()", class: DDL, op: "PURGE"},
	{sql: "CHANGE MASTER TO MASTER_HOST = 'h', MASTER_USE_GTID = slave_pos", class: DDL, op: "CHANGE MASTER", ic: 1},
	{sql: "CHANGE MASTER 'conn' TO MASTER_HOST = 'h'", class: DDL, op: "CHANGE MASTER"},
	{sql: "CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'h'", class: DDL, op: "CHANGE REPLICATION SOURCE"},
	{sql: "CHANGE REPLICATION FILTER REPLICATE_DO_DB = (d)", class: DDL, op: "CHANGE REPLICATION FILTER"},
	{sql: "START SLAVE", class: DDL, op: "START SLAVE", ic: 1},
	{sql: "START SLAVE IO_THREAD", class: DDL, op: "START SLAVE"},
	{sql: "STOP SLAVE", class: DDL, op: "STOP SLAVE"},
	{sql: "START REPLICA", class: DDL, op: "START REPLICA"},
	{sql: "STOP REPLICA SQL_THREAD", class: DDL, op: "STOP REPLICA"},
	{sql: "START ALL SLAVES", class: DDL, op: "START ALL SLAVES"},
	{sql: "STOP ALL SLAVES", class: DDL, op: "STOP ALL SLAVES"},
	{sql: "START GROUP_REPLICATION", class: DDL, op: "START GROUP_REPLICATION"},
	{sql: "RESET SLAVE ALL", class: DDL, op: "RESET"},
	{sql: "RESET REPLICA", class: DDL, op: "RESET"},
	{sql: "SHUTDOWN", class: DDL, op: "SHUTDOWN"},
	{sql: "RESTART", class: DDL, op: "RESTART"},
	{sql: "IMPORT TABLE FROM '/tmp/t.sdi'", class: DDL, op: "IMPORT TABLE"},
	{sql: "CLONE LOCAL DATA DIRECTORY = '/tmp/c'", class: DDL, op: "CLONE"},

	// plugins
	{sql: "INSTALL PLUGIN p SONAME 'p.so'", class: Plugin, op: "INSTALL PLUGIN", ic: 1},
	{sql: "UNINSTALL PLUGIN p", class: Plugin, op: "UNINSTALL PLUGIN"},
	{sql: "INSTALL SONAME 'ha_x'", class: Plugin, op: "INSTALL SONAME"},
	{sql: "UNINSTALL SONAME 'ha_x'", class: Plugin, op: "UNINSTALL SONAME"},
	{sql: "INSTALL COMPONENT 'file://c'", class: Plugin, op: "INSTALL COMPONENT"},

	// SET
	{sql: "SET a = 1", class: Set, op: "SET", ic: -1},
	{sql: "SET a=1, @@session.b=2, @u := 3, SESSION c = DEFAULT, LOCAL d=1, @@e=1, aurora_replica_read_consistency='session'", class: Set},
	{sql: "SET NAMES utf8mb4", class: Set},
	{sql: "SET NAMES utf8mb4 COLLATE utf8mb4_bin", class: Set},
	{sql: "SET CHARACTER SET utf8", class: Set},
	{sql: "SET CHARSET utf8", class: Set},
	{sql: "SET autocommit = 0", class: Set},
	{sql: "SET tx_read_only = 1", class: Set},
	{sql: "SET transaction_read_only = 1", class: Set},
	{sql: "SET tx_isolation = 'READ-COMMITTED'", class: Set},
	{sql: "SET SESSION transaction_isolation = 'READ-COMMITTED'", class: Set},
	{sql: "SET time_zone = '+00:00'", class: Set},
	{sql: "SET @x = (SELECT a FROM t LIMIT 1)", class: Set},
	{sql: "SET @x = NEXTVAL(s)", class: Unknown},
	{sql: "SET @x = (SELECT a FROM t FOR UPDATE)", class: Unknown},
	{sql: "SET GLOBAL max_connections = 10", class: SetGlobal, op: "SET"},
	{sql: "SET @@global.max_connections = 10", class: SetGlobal},
	{sql: "SET @@GLOBAL.read_only = ON", class: SetGlobal},
	{sql: "SET PERSIST max_connections = 10", class: SetGlobal},
	{sql: "SET PERSIST_ONLY max_connections = 10", class: SetGlobal},
	{sql: "SET @@persist.max_connections = 10", class: SetGlobal},
	{sql: "SET a = 1, GLOBAL b = 2", class: SetGlobal},
	{sql: "SET GLOBAL a = 1, b = 2", class: SetGlobal},
	{sql: "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", class: SetTransaction, op: "SET TRANSACTION"},
	{sql: "SET SESSION TRANSACTION READ ONLY", class: SetTransaction},
	{sql: "SET GLOBAL TRANSACTION ISOLATION LEVEL SERIALIZABLE", class: SetTransaction},
	{sql: "SET TRANSACTION READ WRITE, ISOLATION LEVEL REPEATABLE READ", class: SetTransaction},
	{sql: "SET TRANSACTION ISOLATION LEVEL", class: Unknown},
	{sql: "SET STATEMENT max_statement_time = 1 FOR SELECT 1", class: Unknown, op: "SET STATEMENT"},
	{sql: "SET STATEMENT sql_log_bin = 0 FOR INSERT INTO t VALUES (1)", class: SetGlobal, op: "SET STATEMENT"},
	{sql: "SET STATEMENT max_statement_time = 1, SQL_LOG_BIN=0 FOR DELETE FROM t", class: SetGlobal},
	{sql: "SET STATEMENT max_statement_time = 1 FOR INSERT INTO sql_log_bin VALUES (1)", class: Unknown},
	{sql: "SET ROLE r", class: Session, op: "SET ROLE"},
	{sql: "SET ROLE DEFAULT", class: Session},
	{sql: "SET RESOURCE GROUP g", class: Unknown},
	{sql: "SET", class: Unknown},
	{sql: "SET a", class: Unknown},
	{sql: "SET a =", class: Unknown},

	// USE
	{sql: "USE db", class: Use, op: "USE"},
	{sql: "use `my db`;", class: Use},
	{sql: "USE", class: Unknown},

	// transactions
	{sql: "BEGIN", class: Begin, op: "BEGIN", ic: 1},
	{sql: "BEGIN WORK", class: Begin},
	{sql: "begin;", class: Begin},
	{sql: "START TRANSACTION", class: Begin, op: "START TRANSACTION", ic: 1},
	{sql: "START TRANSACTION READ ONLY", class: Begin},
	{sql: "START TRANSACTION READ WRITE", class: Begin},
	{sql: "START TRANSACTION WITH CONSISTENT SNAPSHOT", class: Begin},
	{sql: "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", class: Begin},
	{sql: "START TRANSACTION READ", class: Unknown},
	{sql: "COMMIT", class: Commit, op: "COMMIT", ic: -1},
	{sql: "COMMIT WORK", class: Commit},
	{sql: "COMMIT AND NO CHAIN", class: Commit},
	{sql: "COMMIT WORK AND CHAIN NO RELEASE", class: Commit},
	{sql: "COMMIT RELEASE", class: Commit},
	{sql: "COMMIT foo", class: Unknown},
	{sql: "ROLLBACK", class: Rollback, op: "ROLLBACK"},
	{sql: "ROLLBACK WORK", class: Rollback},
	{sql: "ROLLBACK AND CHAIN", class: Rollback},
	{sql: "ROLLBACK NO RELEASE", class: Rollback},
	{sql: "SAVEPOINT s1", class: Savepoint, op: "SAVEPOINT", ic: -1},
	{sql: "ROLLBACK TO s1", class: Savepoint, op: "ROLLBACK TO SAVEPOINT"},
	{sql: "ROLLBACK TO SAVEPOINT s1", class: Savepoint, op: "ROLLBACK TO SAVEPOINT"},
	{sql: "ROLLBACK WORK TO SAVEPOINT s1", class: Savepoint},
	{sql: "RELEASE SAVEPOINT s1", class: Savepoint, op: "RELEASE SAVEPOINT"},
	{sql: "BEGIN NOT ATOMIC SELECT 1; END", class: Unknown},
	{sql: "XA START 'x'", class: XA, op: "XA", ic: -1},
	{sql: "XA BEGIN 'x'", class: XA},
	{sql: "XA END 'x'", class: XA},
	{sql: "XA PREPARE 'x'", class: XA},
	{sql: "XA COMMIT 'x'", class: XA},
	{sql: "XA COMMIT 'x' ONE PHASE", class: XA},
	{sql: "XA ROLLBACK 'x'", class: XA},
	{sql: "XA RECOVER", class: XA},
	{sql: "XA RECOVER CONVERT XID", class: XA},
	{sql: "XA FOO", class: Unknown},

	// locks
	{sql: "LOCK TABLES t READ", class: LockTables, op: "LOCK TABLES", ic: 1},
	{sql: "LOCK TABLE t WRITE, u AS x READ LOCAL", class: LockTables},
	{sql: "LOCK INSTANCE FOR BACKUP", class: LockTables, op: "LOCK INSTANCE", ic: -1},
	{sql: "UNLOCK TABLES", class: UnlockTables, op: "UNLOCK TABLES", ic: 1},
	{sql: "UNLOCK TABLE", class: UnlockTables},
	{sql: "UNLOCK INSTANCE", class: UnlockTables, op: "UNLOCK INSTANCE"},

	// CALL, prepared statements
	{sql: "CALL p()", class: Call, op: "CALL"},
	{sql: "CALL db.p(1, @x)", class: Call},
	{sql: "CALL p", class: Call},
	{sql: "PREPARE s FROM 'SELECT 1'", class: Prepare, op: "PREPARE"},
	{sql: "PREPARE s FROM @q", class: Prepare},
	{sql: "PREPARE s FROM 42", class: Unknown},
	{sql: "PREPARE s FROM \"SELECT 1\"", class: Prepare},
	{sql: "PREPARE s FROM \"SELECT 1\"", class: Unknown, opt: ansi},
	{sql: "EXECUTE s", class: Execute, op: "EXECUTE"},
	{sql: "EXECUTE s USING @a, @b", class: Execute},
	{sql: "EXECUTE IMMEDIATE 'SELECT 1'", class: Unknown, op: "EXECUTE IMMEDIATE"},
	{sql: "EXECUTE IMMEDIATE CONCAT('DELETE', ' FROM t')", class: Unknown},
	{sql: "DEALLOCATE PREPARE s", class: Deallocate, op: "DEALLOCATE PREPARE"},
	{sql: "DROP PREPARE s", class: Deallocate},

	// session-local
	{sql: "KILL 5", class: Session, op: "KILL"},
	{sql: "KILL QUERY 5", class: Session},
	{sql: "KILL CONNECTION 5", class: Session},
	{sql: "GET DIAGNOSTICS @n = NUMBER", class: Session, op: "GET DIAGNOSTICS"},
	{sql: "GET CURRENT DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT", class: Session},
	{sql: "GET STACKED DIAGNOSTICS @n = NUMBER", class: Session},
	{sql: "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'x'", class: Session, op: "SIGNAL"},
	{sql: "RESIGNAL", class: Session, op: "RESIGNAL"},
	{sql: "HANDLER t OPEN", class: Session, op: "HANDLER"},
	{sql: "HANDLER t OPEN AS h", class: Session},
	{sql: "HANDLER h READ FIRST", class: Session},
	{sql: "HANDLER h READ idx NEXT WHERE a > 1 LIMIT 5", class: Session},
	{sql: "HANDLER h CLOSE", class: Session},

	// empty
	{sql: "", class: Empty},
	{sql: "   \n\t", class: Empty},
	{sql: "/* nothing */", class: Empty},
	{sql: "-- nothing", class: Empty},
	{sql: "--", class: Empty},
	{sql: "# nothing\n", class: Empty},
	{sql: ";", class: Empty},
	{sql: " ; ; ", class: Empty},
	{sql: "/*!40101 */", class: Empty},

	// unknown
	{sql: "FOO BAR", class: Unknown, op: "FOO"},
	{sql: "42", class: Unknown},
	{sql: "'SELECT 1'", class: Unknown},
	{sql: "SELECT 1; DELETE FROM t", class: Unknown},
	{sql: "SELECT 1; SELECT 2", class: Unknown},
	{sql: "INSERT INTO tmp VALUES (1); DELETE FROM t", class: Unknown},
	{sql: "; SELECT 1", class: Unknown},
	{sql: "DROP TABLE tmp; DELETE FROM t", class: Unknown},
	{sql: "CREATE TEMPORARY TABLE t (a INT); DELETE FROM u", class: Unknown},
	{sql: "CREATE PROCEDURE p() BEGIN SELECT 1; DELETE FROM t; END; DELETE FROM u", class: Unknown},
	{sql: "SELECT 1 /*! ; DELETE FROM t */", class: Unknown},
	{sql: "/*!99999 ; DELETE FROM t */ SELECT 1", class: Unknown},
	{sql: "CACHE INDEX t IN k", class: Unknown, op: "CACHE INDEX", ic: 1},
	{sql: "LOAD INDEX INTO CACHE t", class: Unknown, op: "LOAD INDEX", ic: 1},
	{sql: "BINLOG 'AAAA'", class: Unknown, op: "BINLOG"},
	{sql: "BACKUP STAGE START", class: Unknown},
	{sql: "IF 1 THEN SELECT 1; END IF", class: Unknown},
	{sql: "(DELETE FROM t)", class: Unknown},
	{sql: "WITH c AS (SELECT 1) INSERT INTO t SELECT * FROM c", class: Unknown},
	{sql: "WITH", class: Unknown},
	{sql: "EXPLAIN", class: Unknown},
	{sql: "ANALYZE t", class: Unknown},
	{sql: "LOCK", class: Unknown},
	{sql: "CHECK", class: Unknown},

	// options change lexing
	{sql: "SELECT 'a\\' FOR UPDATE", class: LockingRead, opt: nbe},
	{sql: "SELECT \"a\" FROM t FOR UPDATE", class: LockingRead, opt: ansi},
	{sql: "SELECT \"for update\" FROM t", class: Read, opt: ansi},
}

func TestClassifyClasses(t *testing.T) {
	for _, tc := range classCases {
		st := Classify(tc.sql, tc.opt)
		if st.Class != tc.class {
			t.Errorf("Classify(%q) = %v, want %v", tc.sql, st.Class, tc.class)
		}
		if tc.op != "" && st.Op != tc.op {
			t.Errorf("Classify(%q).Op = %q, want %q", tc.sql, st.Op, tc.op)
		}
		if tc.ic != 0 && st.ImplicitCommit != (tc.ic > 0) {
			t.Errorf("Classify(%q).ImplicitCommit = %v", tc.sql, st.ImplicitCommit)
		}
		if st.Class != Unknown && st.Class != Empty && st.Op == "" {
			t.Errorf("Classify(%q): empty Op for %v", tc.sql, st.Class)
		}
	}
}

func tn(names ...string) []TableName {
	var out []TableName
	for _, n := range names {
		t := TableName{Name: n}
		for i := 0; i < len(n); i++ {
			if n[i] == '.' {
				t = TableName{Schema: n[:i], Name: n[i+1:]}
				break
			}
		}
		out = append(out, t)
	}
	return out
}

// detailCases compare whole Statements.
var detailCases = []struct {
	sql  string
	opt  Options
	want Statement
}{
	// Targets and Sources
	{sql: "UPDATE sbtest1 SET k=k+1 WHERE id=?", want: Statement{Class: Write, Op: "UPDATE", Targets: tn("sbtest1")}},
	{sql: "UPDATE `db`.`t` AS x SET x.a = 1", want: Statement{Class: Write, Op: "UPDATE", Targets: tn("db.t")}},
	{sql: "UPDATE t1 JOIN t2 ON t1.id = t2.id SET t1.a = t2.b", want: Statement{Class: Write, Op: "UPDATE", Targets: tn("t1"), Sources: tn("t2")}},
	{sql: "UPDATE t1 a JOIN db.t2 b ON a.id = b.id JOIN t3 ON t3.id = a.id SET a.x = 1, b.y = 2", want: Statement{Class: Write, Op: "UPDATE", Targets: tn("t1", "db.t2"), Sources: tn("t3")}},
	{sql: "UPDATE t1, t2 SET a = 1", want: Statement{Class: Write, Op: "UPDATE", Targets: tn("t1", "t2")}},
	{sql: "UPDATE t SET a = (SELECT MAX(b) FROM u) WHERE c IN (SELECT c FROM v)", want: Statement{Class: Write, Op: "UPDATE", Targets: tn("t"), Sources: tn("u", "v")}},
	{sql: "UPDATE t1 JOIN (SELECT id FROM t2) d ON d.id = t1.id SET t1.a = 1", want: Statement{Class: Write, Op: "UPDATE", Targets: tn("t1"), Sources: tn("t2")}},
	{sql: "DELETE FROM sbtest1 WHERE id=?", want: Statement{Class: Write, Op: "DELETE", Targets: tn("sbtest1")}},
	{sql: "DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id", want: Statement{Class: Write, Op: "DELETE", Targets: tn("t1"), Sources: tn("t2")}},
	{sql: "DELETE FROM t1, t2 USING t1 JOIN t2 JOIN t3", want: Statement{Class: Write, Op: "DELETE", Targets: tn("t1", "t2"), Sources: tn("t3")}},
	{sql: "DELETE a FROM t1 AS a JOIN t2 b ON a.id = b.id", want: Statement{Class: Write, Op: "DELETE", Targets: tn("t1"), Sources: tn("t2")}},
	{sql: "DELETE a.* FROM db.t1 a, t2 WHERE a.id = t2.id", want: Statement{Class: Write, Op: "DELETE", Targets: tn("db.t1"), Sources: tn("t2")}},
	{sql: "DELETE FROM t WHERE id IN (SELECT id FROM u)", want: Statement{Class: Write, Op: "DELETE", Targets: tn("t"), Sources: tn("u")}},
	{sql: "INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)", want: Statement{Class: Write, Op: "INSERT", Targets: tn("sbtest1")}},
	{sql: "INSERT INTO db.t (a) VALUES (1)", want: Statement{Class: Write, Op: "INSERT", Targets: tn("db.t")}},
	{sql: "INSERT INTO t SELECT * FROM u JOIN v ON u.a = v.a WHERE u.x IN (SELECT y FROM w)", want: Statement{Class: Write, Op: "INSERT", Targets: tn("t"), Sources: tn("u", "v", "w")}},
	{sql: "INSERT INTO t VALUES ((SELECT MAX(a) FROM u))", want: Statement{Class: Write, Op: "INSERT", Targets: tn("t"), Sources: tn("u")}},
	{sql: "INSERT INTO t SELECT * FROM t", want: Statement{Class: Write, Op: "INSERT", Targets: tn("t")}},
	{sql: "INSERT INTO t (a) SELECT a FROM u ON DUPLICATE KEY UPDATE a = VALUES(a)", want: Statement{Class: Write, Op: "INSERT", Targets: tn("t"), Sources: tn("u")}},
	{sql: "INSERT INTO t WITH c AS (SELECT * FROM u) SELECT * FROM c", want: Statement{Class: Write, Op: "INSERT", Targets: tn("t"), Sources: tn("u")}},
	{sql: "INSERT INTO t TABLE u", want: Statement{Class: Write, Op: "INSERT", Targets: tn("t"), Sources: tn("u")}},
	{sql: "REPLACE INTO t SELECT * FROM u", want: Statement{Class: Write, Op: "REPLACE", Targets: tn("t"), Sources: tn("u")}},
	{sql: "WITH c AS (SELECT id FROM u) UPDATE t JOIN c ON t.id = c.id SET t.a = 1", want: Statement{Class: Write, Op: "UPDATE", Targets: tn("t"), Sources: tn("u")}},
	{sql: "WITH t AS (SELECT * FROM t) SELECT 1", want: Statement{Class: Read, Op: "SELECT"}},
	{sql: "INSERT INTO t (a, b) VALUES (1, 2) AS new ON DUPLICATE KEY UPDATE b = new.b", want: Statement{Class: Write, Op: "INSERT", Targets: tn("t")}},
	{sql: "INSERT INTO t (a) SELECT a FROM u AS new ON DUPLICATE KEY UPDATE a = new.a", want: Statement{Class: Write, Op: "INSERT", Targets: tn("t"), Sources: tn("u")}},
	{sql: "DELETE FROM t WHERE id IN (SELECT id FROM u) RETURNING id", want: Statement{Class: Write, Op: "DELETE", Targets: tn("t"), Sources: tn("u")}},
	{sql: "INSERT INTO t SELECT * FROM u RETURNING *", want: Statement{Class: Write, Op: "INSERT", Targets: tn("t"), Sources: tn("u")}},
	{sql: "INSERT INTO t SELECT * FROM u FOR SYSTEM_TIME AS OF TIMESTAMP '2020-01-01'", want: Statement{Class: Write, Op: "INSERT", Targets: tn("t"), Sources: tn("u")}},
	{sql: "INSERT INTO t SELECT * FROM JSON_TABLE('[1]', '$[*]' COLUMNS (a INT PATH '$')) AS jt", want: Statement{Class: Write, Op: "INSERT", Targets: tn("t")}},
	{sql: "UPDATE t FOR PORTION OF p FROM '2020-01-01' TO '2021-01-01' SET a = 1", want: Statement{Class: Write, Op: "UPDATE", Targets: tn("t")}},
	{sql: "INSERT t SELECT * FROM u RETURNING *", want: Statement{Class: Write, Op: "INSERT", Targets: tn("t"), Sources: tn("u")}},
	{sql: "UPDATE t1 JOIN t2 ON t1.a = t2.a FOR PORTION OF p FROM '2020-01-01' TO '2021-01-01' SET t2.b = (SELECT 1 FROM u)", want: Statement{Class: Write, Op: "UPDATE", Targets: tn("t1", "t2"), Sources: tn("u")}},
	{sql: "UPDATE (t1 JOIN t2 ON t1.a = t2.a) FOR PORTION OF p FROM 1 TO 2 SET t2.b = 1", want: Statement{Class: Write, Op: "UPDATE", Targets: tn("t1", "t2")}},
	{sql: "DELETE t1, t2 FROM t1 JOIN t2 USING (id) WHERE t1.a IN (SELECT a FROM u) RETURNING t1.a", want: Statement{Class: Write, Op: "DELETE", Targets: tn("t1", "t2"), Sources: tn("u")}},
	{sql: "DELETE HISTORY FROM db.t BEFORE SYSTEM_TIME '2020-01-01'", want: Statement{Class: Write, Op: "DELETE", Targets: tn("db.t")}},
	{sql: "CREATE PROCEDURE p() BEGIN SELECT 1; DELETE FROM t; END", want: Statement{Class: DDL, Op: "CREATE PROCEDURE", ImplicitCommit: true}},
	{sql: "/*M!100000 INSERT INTO t2 (id, v) */ SELECT 99999, 1", want: Statement{Class: Write, Op: "INSERT", Targets: tn("t2")}},
	{sql: "ANALYZE UPDATE t1 JOIN t2 ON t1.a = t2.a SET t1.b = 1", want: Statement{Class: Write, Op: "UPDATE", Targets: tn("t1"), Sources: tn("t2")}},
	{sql: "LOAD DATA LOCAL INFILE 'x' INTO TABLE db.t", want: Statement{Class: LoadData, Op: "LOAD DATA", Local: true, Targets: tn("db.t")}},
	{sql: "LOAD XML INFILE 'x' INTO TABLE t", want: Statement{Class: LoadData, Op: "LOAD XML", Targets: tn("t")}},
	{sql: "CREATE TEMPORARY TABLE tmp AS SELECT * FROM t JOIN u ON t.a = u.a", want: Statement{Class: CreateTempTable, Op: "CREATE TEMPORARY TABLE", Targets: tn("tmp"), Sources: tn("t", "u")}},
	{sql: "CREATE TEMPORARY TABLE tmp LIKE db.t", want: Statement{Class: CreateTempTable, Op: "CREATE TEMPORARY TABLE", Targets: tn("tmp"), Sources: tn("db.t")}},
	{sql: "CREATE TEMPORARY TABLE t SELECT * FROM t", want: Statement{Class: CreateTempTable, Op: "CREATE TEMPORARY TABLE", Targets: tn("t"), Sources: tn("t")}},
	{sql: "CREATE TEMPORARY TABLE t (a INT)", want: Statement{Class: CreateTempTable, Op: "CREATE TEMPORARY TABLE", Targets: tn("t")}},
	{sql: "CREATE TEMPORARY TABLE t SELECT * FROM u FOR SYSTEM_TIME ALL", want: Statement{Class: CreateTempTable, Op: "CREATE TEMPORARY TABLE", Targets: tn("t"), Sources: tn("u")}},
	{sql: "DROP TEMPORARY TABLE IF EXISTS a, db.b", want: Statement{Class: DropTempTable, Op: "DROP TEMPORARY TABLE", Targets: tn("a", "db.b")}},
	{sql: "DROP TABLE t1, `t 2`", want: Statement{Class: DDL, Op: "DROP TABLE", ImplicitCommit: true, Targets: tn("t1", "t 2")}},
	{sql: "ALTER TABLE db.t ADD c INT", want: Statement{Class: DDL, Op: "ALTER TABLE", ImplicitCommit: true, Targets: tn("db.t")}},
	{sql: "RENAME TABLE a TO b, c TO d", want: Statement{Class: DDL, Op: "RENAME TABLE", ImplicitCommit: true, Targets: tn("a", "b", "c", "d")}},
	{sql: "TRUNCATE t", want: Statement{Class: DDL, Op: "TRUNCATE TABLE", ImplicitCommit: true, Targets: tn("t")}},
	{sql: "CREATE INDEX i ON db.t (a)", want: Statement{Class: DDL, Op: "CREATE INDEX", ImplicitCommit: true, Targets: tn("db.t")}},
	{sql: "CREATE OR REPLACE TABLE t (a INT)", want: Statement{Class: DDL, Op: "CREATE TABLE", ImplicitCommit: true, Targets: tn("t")}},
	{sql: "OPTIMIZE TABLE t1, t2", want: Statement{Class: DDL, Op: "OPTIMIZE TABLE", ImplicitCommit: true, Targets: tn("t1", "t2")}},

	// sql_mode reaches the parser
	{sql: `UPDATE "t1" JOIN "t2" ON "t1".a = "t2".a SET "t1".b = 1`, opt: ansi, want: Statement{Class: Write, Op: "UPDATE", Targets: tn("t1"), Sources: tn("t2")}},
	{sql: `INSERT INTO t SELECT 'a\' FROM u`, opt: nbe, want: Statement{Class: Write, Op: "INSERT", Targets: tn("t"), Sources: tn("u")}},

	// sequence writes name their sequences
	{sql: "SELECT NEXTVAL(s)", want: Statement{Class: Write, Op: "SELECT", Targets: tn("s")}},
	{sql: "SELECT NEXT VALUE FOR db.s, PREVIOUS VALUE FOR q", want: Statement{Class: Write, Op: "SELECT", Targets: tn("db.s")}},
	{sql: "SELECT `s`.nextval", want: Statement{Class: Write, Op: "SELECT", Targets: tn("s")}},
	{sql: "SELECT SETVAL(s, 10), LASTVAL(q)", want: Statement{Class: Write, Op: "SELECT", Targets: tn("s")}},
	{sql: "DO NEXTVAL(s)", want: Statement{Class: Write, Op: "DO", Targets: tn("s")}},
	{sql: "UPDATE tmp SET a = NEXTVAL(s)", want: Statement{Class: Write, Op: "UPDATE", Targets: tn("tmp", "s")}},
	{sql: "INSERT INTO tmp SELECT NEXTVAL(s), a FROM u", want: Statement{Class: Write, Op: "INSERT", Targets: tn("tmp", "s"), Sources: tn("u")}},
	{sql: "SELECT nextval('s')", want: Statement{Class: Unknown, Op: "SELECT"}},
	{sql: "INSERT INTO", want: Statement{Class: Unknown, Op: "INSERT"}},
	{sql: "LOAD DATA INFILE 'x'", want: Statement{Class: Unknown, Op: "LOAD DATA"}},

	// UserVars and Funcs
	{sql: "SELECT @a, @B, @a", want: Statement{Class: Read, Op: "SELECT", UserVars: []string{"a", "b"}}},
	{sql: "SELECT @`x y`, @'q', @\"r\"", want: Statement{Class: Read, Op: "SELECT", UserVars: []string{"x y", "q", "r"}}},
	{sql: "SELECT @a.b, @$c", want: Statement{Class: Read, Op: "SELECT", UserVars: []string{"a.b", "$c"}}},
	{sql: "SELECT '@notvar', `@col` FROM t", want: Statement{Class: Read, Op: "SELECT"}},
	{sql: "INSERT INTO t VALUES (@v, @@session.sql_mode)", want: Statement{Class: Write, Op: "INSERT", Targets: tn("t"), UserVars: []string{"v"}}},
	{sql: "SELECT 1 INTO @v", want: Statement{Class: Read, Op: "SELECT", UserVars: []string{"v"}}},
	{sql: "CREATE USER 'u'@'localhost' IDENTIFIED BY 'p'", want: Statement{Class: DDL, Op: "CREATE USER", ImplicitCommit: true}},
	{sql: "GRANT ALL ON *.* TO u@'%', `v`@`h`", want: Statement{Class: DDL, Op: "GRANT", ImplicitCommit: true}},
	{sql: "SELECT * FROM t WHERE a=@x AND b IN(@y)", want: Statement{Class: Read, Op: "SELECT", UserVars: []string{"x", "y"}}},
	{sql: "SELECT LAST_INSERT_ID()", want: Statement{Class: Read, Op: "SELECT", Funcs: FnLastInsertID}},
	{sql: "SELECT last_insert_id(), ROW_COUNT(), FOUND_ROWS()", want: Statement{Class: Read, Op: "SELECT", Funcs: FnLastInsertID | FnRowCount | FnFoundRows}},
	{sql: "SELECT @@warning_count, @@session.error_count", want: Statement{Class: Read, Op: "SELECT", Funcs: FnWarningCount}},
	{sql: "SELECT @@`warning_count`", want: Statement{Class: Read, Op: "SELECT", Funcs: FnWarningCount}},
	{sql: "SHOW WARNINGS", want: Statement{Class: Read, Op: "SHOW", Funcs: FnShowWarnings, Show: Show{What: "WARNINGS"}}},
	{sql: "SHOW ERRORS LIMIT 1", want: Statement{Class: Read, Op: "SHOW", Funcs: FnShowWarnings, Show: Show{What: "ERRORS"}}},
	{sql: "SHOW COUNT(*) WARNINGS", want: Statement{Class: Read, Op: "SHOW", Funcs: FnShowWarnings, Show: Show{What: "COUNT"}}},
	{sql: "INSERT INTO t VALUES (LAST_INSERT_ID())", want: Statement{Class: Write, Op: "INSERT", Targets: tn("t"), Funcs: FnLastInsertID}},

	// SET
	{sql: "SET a=1, @@session.b=2, @u := 3, SESSION c = DEFAULT, LOCAL d=1, @@e=1, aurora_replica_read_consistency='session'", want: Statement{Class: Set, Op: "SET", UserVars: []string{"u"}, Assignments: []Assignment{
		{ScopeSession, "a", "1", "a=1"},
		{ScopeSession, "b", "2", "@@session.b=2"},
		{ScopeUser, "u", "3", "@u := 3"},
		{ScopeSession, "c", "DEFAULT", "SESSION c = DEFAULT"},
		{ScopeSession, "d", "1", "LOCAL d=1"},
		{ScopeSession, "e", "1", "@@e=1"},
		{ScopeSession, "aurora_replica_read_consistency", "'session'", "aurora_replica_read_consistency='session'"},
	}}},
	{sql: "SET NAMES utf8mb4 COLLATE utf8mb4_bin", want: Statement{Class: Set, Op: "SET", Assignments: []Assignment{
		{ScopeNames, "names", "utf8mb4 COLLATE utf8mb4_bin", "NAMES utf8mb4 COLLATE utf8mb4_bin"}}}},
	{sql: "SET NAMES 'utf8', @a = 1", want: Statement{Class: Set, Op: "SET", UserVars: []string{"a"}, Assignments: []Assignment{
		{ScopeNames, "names", "'utf8'", "NAMES 'utf8'"}, {ScopeUser, "a", "1", "@a = 1"}}}},
	{sql: "SET CHARACTER SET utf8", want: Statement{Class: Set, Op: "SET", Assignments: []Assignment{
		{ScopeNames, "character set", "utf8", "CHARACTER SET utf8"}}}},
	{sql: "SET charset DEFAULT", want: Statement{Class: Set, Op: "SET", Assignments: []Assignment{
		{ScopeNames, "character set", "DEFAULT", "charset DEFAULT"}}}},
	// A nested query reads tables: the proxy waits as for a SELECT.
	{sql: "SET @q = (TABLE t LIMIT 1)", want: Statement{Class: Set, Op: "SET", UserVars: []string{"q"}, Subquery: true, Assignments: []Assignment{
		{ScopeUser, "q", "(TABLE t LIMIT 1)", "@q = (TABLE t LIMIT 1)"}}}},
	{sql: "SET @s = 'SELECT 1', @t = CONCAT('a', 'b')", want: Statement{Class: Set, Op: "SET", UserVars: []string{"s", "t"}, Assignments: []Assignment{
		{ScopeUser, "s", "'SELECT 1'", "@s = 'SELECT 1'"}, {ScopeUser, "t", "CONCAT('a', 'b')", "@t = CONCAT('a', 'b')"}}}},
	{sql: "SET @X = (SELECT a FROM t WHERE b IN (1, 2)), sql_mode = CONCAT(@@sql_mode, ',ANSI') ;", want: Statement{Class: Set, Op: "SET", UserVars: []string{"x"}, Subquery: true, Assignments: []Assignment{
		{ScopeUser, "x", "(SELECT a FROM t WHERE b IN (1, 2))", "@X = (SELECT a FROM t WHERE b IN (1, 2))"},
		{ScopeSession, "sql_mode", "CONCAT(@@sql_mode, ',ANSI')", "sql_mode = CONCAT(@@sql_mode, ',ANSI')"}}}},
	{sql: "SET GLOBAL a=1, b=2, SESSION c=3", want: Statement{Class: SetGlobal, Op: "SET", Assignments: []Assignment{
		{ScopeGlobal, "a", "1", "GLOBAL a=1"}, {ScopeGlobal, "b", "2", "b=2"}, {ScopeSession, "c", "3", "SESSION c=3"}}}},
	{sql: "SET @@GLOBAL.Max_Connections = 10", want: Statement{Class: SetGlobal, Op: "SET", Assignments: []Assignment{
		{ScopeGlobal, "max_connections", "10", "@@GLOBAL.Max_Connections = 10"}}}},
	{sql: "SET PERSIST x = 1", want: Statement{Class: SetGlobal, Op: "SET", Assignments: []Assignment{{ScopeGlobal, "x", "1", "PERSIST x = 1"}}}},
	{sql: "SET @@session.`sql_mode` = ''", want: Statement{Class: Set, Op: "SET", Assignments: []Assignment{{ScopeSession, "sql_mode", "''", "@@session.`sql_mode` = ''"}}}},
	{sql: "SET GLOBAL validate_password.length = 8", want: Statement{Class: SetGlobal, Op: "SET", Assignments: []Assignment{{ScopeGlobal, "validate_password.length", "8", "GLOBAL validate_password.length = 8"}}}},
	{sql: "SET sql_mode = 'a,b', autocommit=0", want: Statement{Class: Set, Op: "SET", Assignments: []Assignment{{ScopeSession, "sql_mode", "'a,b'", "sql_mode = 'a,b'"}, {ScopeSession, "autocommit", "0", "autocommit=0"}}}},
	{sql: "SET `tx_read_only` = 1", want: Statement{Class: Set, Op: "SET", Assignments: []Assignment{{ScopeSession, "tx_read_only", "1", "`tx_read_only` = 1"}}}},
	{sql: "SET @x = LAST_INSERT_ID()", want: Statement{Class: Set, Op: "SET", UserVars: []string{"x"}, Funcs: FnLastInsertID, Assignments: []Assignment{{ScopeUser, "x", "LAST_INSERT_ID()", "@x = LAST_INSERT_ID()"}}}},
	{sql: "/*!40101 SET NAMES utf8 */", want: Statement{Class: Set, Op: "SET", Assignments: []Assignment{{ScopeNames, "names", "utf8", "NAMES utf8"}}}},

	// transactions
	{sql: "START TRANSACTION READ ONLY", want: Statement{Class: Begin, Op: "START TRANSACTION", ImplicitCommit: true, Txn: Txn{Access: AccessReadOnly}}},
	{sql: "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ WRITE", want: Statement{Class: Begin, Op: "START TRANSACTION", ImplicitCommit: true, Txn: Txn{Access: AccessReadWrite, ConsistentSnapshot: true}}},
	{sql: "BEGIN WORK", want: Statement{Class: Begin, Op: "BEGIN", ImplicitCommit: true}},
	{sql: "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", want: Statement{Class: SetTransaction, Op: "SET TRANSACTION", Txn: Txn{Isolation: "READ COMMITTED", Scope: TxnNext}}},
	{sql: "SET SESSION TRANSACTION READ ONLY", want: Statement{Class: SetTransaction, Op: "SET TRANSACTION", Txn: Txn{Access: AccessReadOnly, Scope: TxnSession}}},
	{sql: "set local transaction isolation level read uncommitted", want: Statement{Class: SetTransaction, Op: "SET TRANSACTION", Txn: Txn{Isolation: "READ UNCOMMITTED", Scope: TxnSession}}},
	{sql: "SET GLOBAL TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE", want: Statement{Class: SetTransaction, Op: "SET TRANSACTION", Txn: Txn{Isolation: "SERIALIZABLE", Access: AccessReadWrite, Scope: TxnGlobal}}},
	{sql: "SET TRANSACTION READ WRITE, ISOLATION LEVEL REPEATABLE READ", want: Statement{Class: SetTransaction, Op: "SET TRANSACTION", Txn: Txn{Isolation: "REPEATABLE READ", Access: AccessReadWrite}}},
	{sql: "SAVEPOINT `Sp1`", want: Statement{Class: Savepoint, Op: "SAVEPOINT", Name: "sp1"}},
	{sql: "ROLLBACK WORK TO SAVEPOINT sp1", want: Statement{Class: Savepoint, Op: "ROLLBACK TO SAVEPOINT", Name: "sp1"}},
	{sql: "RELEASE SAVEPOINT sp1", want: Statement{Class: Savepoint, Op: "RELEASE SAVEPOINT", Name: "sp1"}},
	{sql: "USE `My DB`", want: Statement{Class: Use, Op: "USE", DB: "My DB"}},
	{sql: "LOCK TABLES t READ", want: Statement{Class: LockTables, Op: "LOCK TABLES", ImplicitCommit: true}},

	// prepared statements
	{sql: "PREPARE S1 FROM 'SELECT * FROM t WHERE id = ?'", want: Statement{Class: Prepare, Op: "PREPARE", Name: "s1", PrepareText: "SELECT * FROM t WHERE id = ?"}},
	{sql: "PREPARE s FROM 'SELECT \\'a\\', ''b'''", want: Statement{Class: Prepare, Op: "PREPARE", Name: "s", PrepareText: "SELECT 'a', 'b'"}},
	{sql: "PREPARE s FROM 'SELECT \\n'", opt: nbe, want: Statement{Class: Prepare, Op: "PREPARE", Name: "s", PrepareText: "SELECT \\n"}},
	{sql: "PREPARE s FROM 'SELECT ' '1'", want: Statement{Class: Prepare, Op: "PREPARE", Name: "s", PrepareText: "SELECT 1"}},
	{sql: "PREPARE s FROM \"SELECT \\\"x\\\"\"", want: Statement{Class: Prepare, Op: "PREPARE", Name: "s", PrepareText: "SELECT \"x\""}},
	{sql: "PREPARE s FROM @Q", want: Statement{Class: Prepare, Op: "PREPARE", Name: "s", PrepareVar: "q", UserVars: []string{"q"}}},
	{sql: "EXECUTE S1 USING @a, @B", want: Statement{Class: Execute, Op: "EXECUTE", Name: "s1", UserVars: []string{"a", "b"}}},
	{sql: "DEALLOCATE PREPARE s1", want: Statement{Class: Deallocate, Op: "DEALLOCATE PREPARE", Name: "s1"}},
	{sql: "DROP PREPARE s1", want: Statement{Class: Deallocate, Op: "DEALLOCATE PREPARE", Name: "s1"}},
}

func TestClassifyDetails(t *testing.T) {
	for _, tc := range detailCases {
		got := Classify(tc.sql, tc.opt)
		norm := func(s Statement) Statement {
			if len(s.Targets) == 0 {
				s.Targets = nil
			}
			if len(s.Sources) == 0 {
				s.Sources = nil
			}
			if len(s.UserVars) == 0 {
				s.UserVars = nil
			}
			if len(s.Assignments) == 0 {
				s.Assignments = nil
			}
			return s
		}
		if g, w := norm(got), norm(tc.want); !reflect.DeepEqual(g, w) {
			t.Errorf("Classify(%q)\n got %+v\nwant %+v", tc.sql, g, w)
		}
	}
}

func TestTables(t *testing.T) {
	cases := []struct {
		sql  string
		want []TableName
		ok   bool
	}{
		{"SELECT c FROM sbtest1 WHERE id = 1", tn("sbtest1"), true},
		{"SELECT * FROM a JOIN db.b ON a.id = b.id WHERE x IN (SELECT y FROM c)", tn("a", "db.b", "c"), true},
		{"WITH c AS (SELECT * FROM t) SELECT * FROM c JOIN u", tn("t", "u"), true},
		{"WITH t AS (SELECT * FROM t) SELECT * FROM t", tn("t"), true},
		{"WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r", nil, true},
		{"WITH a AS (SELECT * FROM b), b AS (SELECT * FROM a) SELECT * FROM b", tn("b"), true},
		{"SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) d, x", tn("x"), true},
		{"UPDATE t1 JOIN t2 ON t1.a = t2.a SET t1.b = 1", tn("t1", "t2"), true},
		{"DELETE a FROM t1 a JOIN t2 b", tn("t1", "t2"), true},
		{"INSERT INTO t SELECT * FROM u", tn("t", "u"), true},
		{"SELECT a INTO @v FROM t", tn("t"), true},
		{"SELECT a FROM t INTO @v, @w", tn("t"), true},
		{"SELECT a INTO DUMPFILE '/tmp/x' FROM t", tn("t"), true},
		{"SELECT 1", nil, true},
		{"SELECT * FROM t /*!50000 JOIN u */", tn("t", "u"), true},
		{"SELECT * FROM t FOR SYSTEM_TIME ALL", nil, false},
		{"SELECT 1; SELECT 2", nil, false},
		{"NOT SQL", nil, false},
	}
	for _, tc := range cases {
		got, ok := Tables(tc.sql, Options{})
		if ok != tc.ok || !sameTables(got, tc.want) {
			t.Errorf("Tables(%q) = %v, %v; want %v, %v", tc.sql, got, ok, tc.want, tc.ok)
		}
	}
}

// sameTables compares as sets: the parser visits INSERT's source first.
func sameTables(a, b []TableName) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !hasTable(b, x) {
			return false
		}
	}
	return true
}

func TestSplit(t *testing.T) {
	cases := []struct {
		sql  string
		opt  Options
		want []string
	}{
		{"SELECT 1; SELECT 2", Options{}, []string{"SELECT 1", "SELECT 2"}},
		{"SELECT 1;", Options{}, []string{"SELECT 1"}},
		{"SELECT 1", Options{}, []string{"SELECT 1"}},
		{"", Options{}, nil},
		{"  ;  ; ", Options{}, nil},
		{";;; SELECT 1;;", Options{}, []string{"SELECT 1"}},
		{"SELECT ';'; SELECT 2", Options{}, []string{"SELECT ';'", "SELECT 2"}},
		{"SELECT \"a;b\"; SELECT 2", Options{}, []string{"SELECT \"a;b\"", "SELECT 2"}},
		{"SELECT \"a;b\"; SELECT 2", ansi, []string{"SELECT \"a;b\"", "SELECT 2"}},
		{"SELECT `a;b` FROM t; SELECT 2", Options{}, []string{"SELECT `a;b` FROM t", "SELECT 2"}},
		{"SELECT 'it''s;'; SELECT 2", Options{}, []string{"SELECT 'it''s;'", "SELECT 2"}},
		{"SELECT 1 -- x;y\n, 2; SELECT 3", Options{}, []string{"SELECT 1 -- x;y\n, 2", "SELECT 3"}},
		{"SELECT 1 # ;\n; SELECT 2", Options{}, []string{"SELECT 1 # ;", "SELECT 2"}},
		{"SELECT 1 /* ; */; SELECT 2", Options{}, []string{"SELECT 1 /* ; */", "SELECT 2"}},
		{"SELECT 1 --; SELECT 2", Options{}, []string{"SELECT 1 --", "SELECT 2"}},
		{"/* only a comment */; SELECT 1; -- tail", Options{}, []string{"SELECT 1"}},
		// A backslash escapes the quote: one unterminated string.
		{`SELECT 'a\'; SELECT 1`, Options{}, []string{`SELECT 'a\'; SELECT 1`}},
		// Under NO_BACKSLASH_ESCAPES the string ends at \'.
		{`SELECT 'a\'; SELECT 1`, nbe, []string{`SELECT 'a\'`, "SELECT 1"}},
		{`SELECT 'a\\'; SELECT 1`, Options{}, []string{`SELECT 'a\\'`, "SELECT 1"}},
		{`SELECT "a\"; SELECT 1"; SELECT 2`, Options{}, []string{`SELECT "a\"; SELECT 1"`, "SELECT 2"}},
		{`SELECT "a\"; SELECT 1"; SELECT 2`, nbe, []string{`SELECT "a\"`, `SELECT 1"; SELECT 2`}},
		{"/*!40101 SET NAMES utf8 */; SELECT 1", Options{}, []string{"/*!40101 SET NAMES utf8 */", "SELECT 1"}},
		{"/*!40101 */; SELECT 1", Options{}, []string{"SELECT 1"}},
		{"SELECT 1 /*!; SELECT 2 */", Options{}, []string{"SELECT 1 /*!", "SELECT 2 */"}},
		{"BEGIN; SELECT 1; COMMIT", Options{}, []string{"BEGIN", "SELECT 1", "COMMIT"}},
		{"BEGIN WORK; COMMIT", Options{}, []string{"BEGIN WORK", "COMMIT"}},
		{"CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END; SELECT 3", Options{},
			[]string{"CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", "SELECT 3"}},
		{"CREATE DEFINER=`u`@`%` PROCEDURE p() BEGIN IF 1 THEN SELECT 1; ELSE SELECT CASE WHEN 1 THEN 2 END; END IF; lbl: LOOP LEAVE lbl; END LOOP; END; SELECT 3", Options{},
			[]string{"CREATE DEFINER=`u`@`%` PROCEDURE p() BEGIN IF 1 THEN SELECT 1; ELSE SELECT CASE WHEN 1 THEN 2 END; END IF; lbl: LOOP LEAVE lbl; END LOOP; END", "SELECT 3"}},
		{"CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; END; SELECT 1", Options{},
			[]string{"CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; END", "SELECT 1"}},
		{"CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1; SELECT 1", Options{},
			[]string{"CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1", "SELECT 1"}},
		{"CREATE FUNCTION f() RETURNS INT RETURN 1; SELECT f()", Options{}, []string{"CREATE FUNCTION f() RETURNS INT RETURN 1", "SELECT f()"}},
		{"BEGIN NOT ATOMIC INSERT INTO t VALUES (1); WHILE 1 DO SELECT 1; END WHILE; END; SELECT 1", Options{},
			[]string{"BEGIN NOT ATOMIC INSERT INTO t VALUES (1); WHILE 1 DO SELECT 1; END WHILE; END", "SELECT 1"}},
		{"IF 1 THEN SELECT 1; END IF; SELECT 2", Options{}, []string{"IF 1 THEN SELECT 1; END IF", "SELECT 2"}},
		{"CREATE TABLE t (a INT); INSERT INTO t VALUES (1)", Options{}, []string{"CREATE TABLE t (a INT)", "INSERT INTO t VALUES (1)"}},
		{"SELECT IF(a, 1, 2) FROM t; SELECT REPEAT('a', 2)", Options{}, []string{"SELECT IF(a, 1, 2) FROM t", "SELECT REPEAT('a', 2)"}},
	}
	for _, tc := range cases {
		got := Split(tc.sql, tc.opt)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Split(%q, %+v)\n got %q\nwant %q", tc.sql, tc.opt, got, tc.want)
		}
	}
}

func TestClassString(t *testing.T) {
	for c := Unknown; c <= Empty; c++ {
		if s := c.String(); s == "" || s[0] == 'C' && s != "Call" && s != "Commit" && s != "CreateTempTable" {
			t.Errorf("Class(%d).String() = %q", c, s)
		}
	}
	if s := Class(200).String(); s != "Class(200)" {
		t.Errorf("Class(200).String() = %q", s)
	}
}

// TestConcurrent runs the parser paths from many goroutines (the pool).
func TestConcurrent(t *testing.T) {
	done := make(chan bool)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				st := Classify("UPDATE t1 JOIN t2 ON t1.id = t2.id SET t1.a = t2.b", Options{})
				if len(st.Targets) != 1 || st.Targets[0].Name != "t1" {
					t.Errorf("targets %v", st.Targets)
				}
				if ts, ok := Tables("SELECT * FROM a JOIN b", Options{}); !ok || len(ts) != 2 {
					t.Errorf("tables %v", ts)
				}
			}
			done <- true
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
}

// TestInvariance: keyword case and the comments or blanks between tokens
// never change a class.
func TestInvariance(t *testing.T) {
	for _, tc := range classCases {
		if strings.Contains(tc.sql, "--") || strings.Contains(tc.sql, "#") {
			continue
		}
		vs := []string{
			strings.ToUpper(tc.sql),
			strings.ToLower(tc.sql),
			strings.ReplaceAll(tc.sql, " ", " \n\t "),
			"/* lead */ " + tc.sql + " -- trail",
		}
		if !strings.Contains(tc.sql, "/*") {
			vs = append(vs, strings.ReplaceAll(tc.sql, " ", "/* x */"))
		}
		for _, v := range vs {
			if got := Classify(v, tc.opt).Class; got != tc.class {
				t.Errorf("Classify(%q) = %v, want %v (from %q)", v, got, tc.class, tc.sql)
			}
		}
	}
}

func TestStatusTableFlag(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want bool
	}{
		{"SELECT * FROM information_schema.global_status", true},
		{"SELECT * FROM `performance_schema`.`session_status` WHERE 1", true},
		{"select variable_value from INFORMATION_SCHEMA.SESSION_STATUS", true},
		{"SELECT global_status FROM t", false},
		{"SELECT * FROM t.global_statuses", false},
		{"SELECT 'information_schema.global_status'", false},
	} {
		st := Classify(c.sql, Options{})
		if got := st.Funcs&FnStatusTable != 0; got != c.want {
			t.Errorf("%s: FnStatusTable = %v, want %v", c.sql, got, c.want)
		}
	}
}
