-- fwdproxy lint corpus: one application session, written as a SQL file.
-- Expected findings at --consistency SESSION are marked "want:" on the line
-- where the statement starts; lint_test.go checks them, and the golden files
-- under golden/ hold the full output at SESSION, EVENTUAL and '' (off).

/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET TIME_ZONE='+00:00' */;
SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci;
SET CHARACTER SET utf8mb4;
SET time_zone = '+02:00';
SET sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION';
USE shop;

# ---- §2 reads: reader, no finding
SELECT 1;
SELECT id, name FROM customers WHERE id = 42;
SELECT c.id, o.total FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.id IN (SELECT customer_id FROM vip);
SELECT COUNT(*) FROM orders GROUP BY status HAVING COUNT(*) > 1 ORDER BY 1 LIMIT 10;
WITH recent AS (SELECT * FROM orders WHERE created_at > NOW() - INTERVAL 1 DAY) SELECT * FROM recent;
SELECT 1 UNION ALL SELECT 2;
SHOW TABLES;
SHOW CREATE TABLE orders;
SHOW VARIABLES LIKE 'aurora%';
SHOW STATUS LIKE 'Aurora_fwd%';
DESCRIBE orders;
DESC customers;
EXPLAIN SELECT * FROM orders WHERE id = 1;
EXPLAIN FORMAT=JSON UPDATE orders SET status = 'x' WHERE id = 1;
DO SLEEP(0);
SELECT total INTO @t FROM orders WHERE id = 1;
SELECT * FROM orders INTO OUTFILE '/tmp/orders.csv' FIELDS TERMINATED BY ',';
SELECT @@aurora_replica_read_consistency;
SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM orders;
TABLE customers;
VALUES ROW(1, 2), ROW(3, 4);
CHECKSUM TABLE orders;
HELP 'contents';
SELECT * FROM orders FOR SYSTEM_TIME ALL;
SELECT PREVIOUS VALUE FOR order_seq;

# ---- locking reads: writer, no finding
SELECT * FROM orders WHERE id = 1 FOR UPDATE;
SELECT * FROM orders WHERE id = 1 FOR SHARE;
SELECT * FROM orders WHERE id = 1 LOCK IN SHARE MODE;
SELECT * FROM orders WHERE id = 1 FOR UPDATE NOWAIT;
SELECT * FROM orders WHERE status = 'new' LIMIT 5 FOR UPDATE SKIP LOCKED;
SELECT * FROM customers WHERE id IN (SELECT customer_id FROM orders FOR UPDATE);
SELECT * FROM orders /*!50000 FOR UPDATE */;

# ---- DML: forwarded whole, no finding at SESSION
INSERT INTO orders (customer_id, total) VALUES (42, 10.5);
INSERT IGNORE INTO orders (customer_id, total) VALUES (42, 1), (43, 2);
INSERT INTO orders SET customer_id = 44, total = 3;
INSERT INTO orders (id, total) VALUES (1, 5) ON DUPLICATE KEY UPDATE total = total + VALUES(total);
INSERT INTO orders (id, total) VALUES (1, 5) AS new ON DUPLICATE KEY UPDATE total = new.total;
INSERT INTO archive SELECT * FROM orders WHERE created_at < '2020-01-01';
REPLACE INTO settings (k, v) VALUES ('theme', 'dark');
UPDATE orders SET status = 'paid' WHERE id = 1;
UPDATE LOW_PRIORITY orders SET status = 'paid' ORDER BY id LIMIT 1;
UPDATE orders o JOIN customers c ON c.id = o.customer_id SET o.vip = c.vip;
DELETE FROM orders WHERE id = 1;
DELETE o, i FROM orders o JOIN items i ON i.order_id = o.id WHERE o.id = 2;
DELETE FROM orders USING orders JOIN customers ON customers.id = orders.customer_id WHERE customers.gone;
WITH old AS (SELECT id FROM orders WHERE created_at < '2020-01-01') DELETE FROM orders WHERE id IN (SELECT id FROM old);
/*M!100000 INSERT INTO audit (id, v) */ SELECT 99999, 1;
/*!INSERT INTO audit VALUES (1, 2)*/;
INSERT INTO orders (customer_id, total)
VALUES (45, 7);
UPDATE orders
   SET total = 0
 WHERE id = 3;

# ---- MariaDB syntax
INSERT INTO orders (customer_id, total) VALUES (46, 1) RETURNING id;
DELETE FROM orders WHERE id = 4 RETURNING id, total;
SELECT NEXTVAL(order_seq);
SELECT NEXT VALUE FOR order_seq;
DELETE HISTORY FROM orders BEFORE SYSTEM_TIME '2020-01-01 00:00:00';
UPDATE prices FOR PORTION OF valid FROM '2024-01-01' TO '2025-01-01' SET amount = 2;
SET STATEMENT max_statement_time = 5 FOR SELECT * FROM orders; -- want: warning unknown
EXECUTE IMMEDIATE 'SELECT 1'; -- want: warning unknown
BEGIN NOT ATOMIC INSERT INTO t1 VALUES (1); INSERT INTO t2 VALUES (2); END; -- want: warning unknown
CREATE OR REPLACE TABLE scratch (a INT); -- want: 1235
CREATE SEQUENCE order_seq2 START WITH 100; -- want: 1235
INSTALL SONAME 'ha_archive'; -- want: 1235
UNINSTALL SONAME 'ha_archive'; -- want: 1235

# ---- statements sqlclass cannot place: writer, warning
WITH c AS (SELECT 1 AS a) INSERT INTO orders (total) SELECT a FROM c; -- want: warning unknown
CACHE INDEX orders IN hot_cache; -- want: warning unknown
BACKUP STAGE START; -- want: warning unknown
/*!99999 SET @a = 1 */ SELECT 1; -- want: warning unknown

# ---- DDL and DCL on permanent objects: 1235 always
CREATE TABLE t_new (id INT PRIMARY KEY); -- want: 1235
CREATE TABLE t_copy AS SELECT * FROM orders; -- want: 1235
CREATE TABLE t_like LIKE orders; -- want: 1235
ALTER TABLE orders ADD COLUMN note TEXT; -- want: 1235
DROP TABLE IF EXISTS t_new; -- want: 1235
RENAME TABLE t_copy TO t_copy2; -- want: 1235
TRUNCATE TABLE t_like; -- want: 1235
TRUNCATE t_like; -- want: 1235
CREATE INDEX ix_status ON orders (status); -- want: 1235
CREATE UNIQUE INDEX ux ON orders (ref); -- want: 1235
DROP INDEX ix_status ON orders; -- want: 1235
CREATE VIEW v_paid AS SELECT * FROM orders WHERE status = 'paid'; -- want: 1235
ALTER VIEW v_paid AS SELECT id FROM orders; -- want: 1235
DROP VIEW v_paid; -- want: 1235
CREATE DATABASE reports; -- want: 1235
ALTER DATABASE reports CHARACTER SET utf8mb4; -- want: 1235
DROP DATABASE reports; -- want: 1235
CREATE USER 'app'@'%' IDENTIFIED BY 'secret'; -- want: 1235
ALTER USER 'app'@'%' IDENTIFIED BY 'secret2'; -- want: 1235
GRANT SELECT, INSERT ON shop.* TO 'app'@'%'; -- want: 1235
REVOKE INSERT ON shop.* FROM 'app'@'%'; -- want: 1235
SET PASSWORD FOR 'app'@'%' = 'x'; -- want: 1235
DROP USER 'app'@'%'; -- want: 1235
CREATE ROLE reader_role; -- want: 1235
FLUSH PRIVILEGES; -- want: 1235
ANALYZE TABLE orders; -- want: 1235
OPTIMIZE TABLE orders; -- want: 1235
REPAIR TABLE orders; -- want: 1235
DROP PROCEDURE IF EXISTS close_order; -- want: 1235
DROP FUNCTION IF EXISTS order_total; -- want: 1235
DROP TRIGGER IF EXISTS orders_ai; -- want: 1235
DROP EVENT IF EXISTS purge_orders; -- want: 1235
/*!40000 ALTER TABLE `orders` DISABLE KEYS */; -- want: 1235

DELIMITER $$
CREATE PROCEDURE close_order(IN p_id INT) -- want: 1235
BEGIN
  UPDATE orders SET status = 'closed' WHERE id = p_id;
  INSERT INTO audit (id, v) VALUES (p_id, 1);
END$$
CREATE FUNCTION order_total(p_id INT) RETURNS DECIMAL(10,2) -- want: 1235
READS SQL DATA
BEGIN
  DECLARE t DECIMAL(10,2);
  SELECT total INTO t FROM orders WHERE id = p_id;
  RETURN t;
END$$
CREATE TRIGGER orders_ai AFTER INSERT ON orders FOR EACH ROW -- want: 1235
BEGIN
  INSERT INTO audit (id, v) VALUES (NEW.id, 0);
END$$
CREATE EVENT purge_orders ON SCHEDULE EVERY 1 DAY DO -- want: 1235
  DELETE FROM orders WHERE created_at < NOW() - INTERVAL 1 YEAR$$
SELECT 'in a $$ block'; SELECT 2$$
DELIMITER ;

DELIMITER //
/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER orders_bu BEFORE UPDATE ON orders FOR EACH ROW SET NEW.updated_at = NOW() */ // -- want: 1235
DELIMITER ;

# ---- plugins: 1235 always
INSTALL PLUGIN auth_pam SONAME 'auth_pam.so'; -- want: 1235
UNINSTALL PLUGIN auth_pam; -- want: 1235
INSTALL COMPONENT 'file://component_validate_password'; -- want: 1235

# ---- LOAD DATA / LOAD XML into a permanent table: 1235 always
LOAD DATA INFILE '/tmp/orders.csv' INTO TABLE orders FIELDS TERMINATED BY ','; -- want: 1235
LOAD DATA LOCAL INFILE 'orders.csv' REPLACE INTO TABLE orders; -- want: 1235
LOAD XML LOCAL INFILE 'orders.xml' INTO TABLE orders ROWS IDENTIFIED BY '<order>'; -- want: 1235

# ---- CALL, XA, SAVEPOINT, LOCK TABLES: 1235 with forwarding on
CALL close_order(1); -- want: 1235
CALL refresh_stats; -- want: 1235
XA START 'trx1'; -- want: 1235
XA END 'trx1'; -- want: 1235
XA PREPARE 'trx1'; -- want: 1235
XA COMMIT 'trx1'; -- want: 1235
XA BEGIN 'trx2'; -- want: 1235
XA ROLLBACK 'trx2'; -- want: 1235
XA RECOVER; -- want: 1235
LOCK TABLES orders WRITE, customers READ; -- want: 1235
UNLOCK TABLES;
LOCK TABLES `orders` READ /*!32311 LOCAL */,`customers` READ /*!32311 LOCAL */; -- want: 1235
UNLOCK TABLES;
BEGIN;
INSERT INTO orders (customer_id, total) VALUES (47, 1);
SAVEPOINT before_items; -- want: 1235
INSERT INTO items (order_id, sku) VALUES (LAST_INSERT_ID(), 'A-1'); -- want: warning last-insert-id
ROLLBACK TO SAVEPOINT before_items; -- want: 1235
ROLLBACK WORK TO before_items; -- want: 1235
RELEASE SAVEPOINT before_items; -- want: 1235
COMMIT;
SELECT LAST_INSERT_ID();

# ---- temporary tables: reader; DML on a permanent table reading one: 1235
CREATE TEMPORARY TABLE tmp_ids (id INT PRIMARY KEY);
INSERT INTO tmp_ids VALUES (1), (2), (3);
INSERT INTO tmp_ids SELECT id FROM orders WHERE status = 'new';
UPDATE tmp_ids SET id = id + 100 WHERE id < 3;
DELETE FROM tmp_ids WHERE id = 3;
LOAD DATA LOCAL INFILE 'ids.csv' INTO TABLE tmp_ids;
SELECT * FROM tmp_ids;
SELECT o.* FROM orders o JOIN tmp_ids t ON t.id = o.id;
INSERT INTO archive SELECT o.* FROM orders o JOIN tmp_ids t ON t.id = o.id; -- want: 1235
UPDATE orders o JOIN tmp_ids t ON t.id = o.id SET o.status = 'archived'; -- want: 1235
DELETE FROM orders WHERE id IN (SELECT id FROM tmp_ids); -- want: 1235
REPLACE INTO archive SELECT * FROM tmp_ids; -- want: 1235
INSERT INTO orders (id) SELECT id FROM tmp_ids ON DUPLICATE KEY UPDATE status = 'seen'; -- want: 1235
DELETE tmp_ids, orders FROM tmp_ids JOIN orders ON orders.id = tmp_ids.id; -- want: 1235
INSERT INTO orders (id) SELECT id FROM shop.tmp_ids; -- want: 1235
UPDATE orders SET status = 'x' WHERE id = 99;
CREATE TEMPORARY TABLE tmp_copy AS SELECT * FROM tmp_ids;
CREATE TEMPORARY TABLE tmp_orders SELECT * FROM orders WHERE status = 'new';
TRUNCATE TABLE tmp_ids; -- want: 1235
ALTER TABLE tmp_ids ADD COLUMN n INT; -- want: 1235
DROP TABLE tmp_orders; -- want: 1235
DROP TEMPORARY TABLE tmp_orders;
DROP TEMPORARY TABLE IF EXISTS tmp_ids;
INSERT INTO archive SELECT * FROM tmp_ids;
CREATE OR REPLACE TEMPORARY TABLE tmp_x (a INT);
INSERT INTO tmp_x VALUES (1);
DROP TEMPORARY TABLE tmp_x;

# ---- prepared statements (text): by the class of the prepared statement
PREPARE s_read FROM 'SELECT * FROM orders WHERE id = ?';
SET @id = 1;
EXECUTE s_read USING @id;
PREPARE s_ins FROM 'INSERT INTO orders (customer_id) VALUES (?)';
EXECUTE s_ins USING @id;
DEALLOCATE PREPARE s_ins;
PREPARE s_ddl FROM 'CREATE TABLE t9 (a INT)'; -- want: 1235
SET @q = 'CALL close_order(?)';
PREPARE s_call FROM @q;
EXECUTE s_call USING @id; -- want: 1235
SET @q2 = 'INSERT INTO orders (customer_id) VALUES (1)';
PREPARE s_ins2 FROM @q2;
SET @q3 = CONCAT('DELETE FROM ', 'orders');
PREPARE s_dyn FROM @q3;
EXECUTE s_dyn;
DROP PREPARE s_read;

# ---- transactions and isolation
START TRANSACTION;
SELECT * FROM orders WHERE id = 5;
UPDATE orders SET total = 1 WHERE id = 5;
SELECT * FROM orders WHERE id = 5;
COMMIT;
BEGIN WORK;
INSERT INTO orders (customer_id) VALUES (48);
ROLLBACK;
START TRANSACTION WITH CONSISTENT SNAPSHOT;
SELECT * FROM orders;
COMMIT AND CHAIN;
UPDATE orders SET total = 2 WHERE id = 6;
COMMIT;
START TRANSACTION READ WRITE; -- want: warning start-transaction-read-write
UPDATE orders SET total = 3 WHERE id = 6;
COMMIT;
SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;
SELECT * FROM orders WHERE id = 7;
UPDATE orders SET total = 4 WHERE id = 7; -- want: warning isolation
UPDATE orders SET total = 5 WHERE id = 7;
SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;
BEGIN;
SELECT * FROM orders WHERE id = 8 FOR UPDATE; -- want: warning isolation
UPDATE orders SET total = 6 WHERE id = 8;
COMMIT;
SET SESSION transaction_isolation = 'REPEATABLE-READ';
UPDATE orders SET total = 7 WHERE id = 8;
SET tx_isolation = 'READ-UNCOMMITTED';
DELETE FROM orders WHERE id = 9; -- want: warning isolation
SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;
SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED; -- want: warning set-global
SET autocommit = 0;
SELECT * FROM orders WHERE id = 10;
UPDATE orders SET total = 8 WHERE id = 10;
COMMIT;
SET autocommit = 1;

# ---- READ ONLY transactions: 1792
START TRANSACTION READ ONLY;
SELECT * FROM orders;
UPDATE orders SET total = 9 WHERE id = 11; -- want: 1792
SELECT * FROM orders FOR UPDATE;
COMMIT;
START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;
INSERT INTO orders (customer_id) VALUES (49); -- want: 1792
ROLLBACK;
SET TRANSACTION READ ONLY;
DELETE FROM orders WHERE id = 12; -- want: 1792
SET SESSION TRANSACTION READ ONLY;
BEGIN;
INSERT INTO orders (customer_id) VALUES (50); -- want: 1792
COMMIT;
START TRANSACTION READ WRITE; -- want: warning start-transaction-read-write
INSERT INTO orders (customer_id) VALUES (51);
COMMIT;
SET SESSION TRANSACTION READ WRITE;
SET tx_read_only = 1;
REPLACE INTO settings VALUES ('a', 'b'); -- want: 1792
SET tx_read_only = 0;
SET transaction_read_only = ON;
UPDATE settings SET v = 'c'; -- want: 1792
SET transaction_read_only = OFF;
INSERT INTO settings VALUES ('d', 'e');

# ---- the session variable and server settings
SET GLOBAL max_connections = 500; -- want: warning set-global
SET @@global.long_query_time = 1; -- want: warning set-global
SET PERSIST innodb_buffer_pool_size = 1073741824; -- want: warning set-global
SET aurora_replica_read_consistency = 'bogus'; -- want: 1231
SET aurora_fwd_writer_idle_timeout = 10; -- want: 1238
SET @@session.aurora_replica_read_consistency = 'GLOBAL';
SELECT * FROM orders WHERE id = 1;
BEGIN;
SET aurora_replica_read_consistency = ''; -- want: 1766
SET aurora_replica_read_consistency = 'SESSION';
COMMIT;
SET SESSION aurora_replica_read_consistency = '', @x = 1;
INSERT INTO orders (customer_id) VALUES (52); -- want: 1290
UPDATE orders SET total = 1; -- want: 1290
SELECT * FROM orders FOR UPDATE;
XA START 'local';
XA END 'local';
XA ROLLBACK 'local';
BEGIN;
SAVEPOINT sp1;
RELEASE SAVEPOINT sp1;
COMMIT;
LOCK TABLES orders READ;
UNLOCK TABLES;
CALL report_only(); -- want: warning call-on-reader
CREATE TABLE t_off (a INT); -- want: 1290
LOAD DATA INFILE 'x.csv' INTO TABLE orders; -- want: 1290
SET STATEMENT max_statement_time = 5 FOR UPDATE orders SET total = 0; -- want: 1290
CREATE TEMPORARY TABLE tmp_off (a INT);
INSERT INTO tmp_off VALUES (1);
DROP TEMPORARY TABLE tmp_off;
SET aurora_replica_read_consistency = 'EVENTUAL';

# ---- EVENTUAL: a read of a table the session just wrote
INSERT INTO carts (id, customer_id) VALUES (100, 42);
SELECT * FROM carts WHERE id = 100; -- want: warning read-after-write
SELECT * FROM carts WHERE id = 100;
UPDATE shop.carts SET customer_id = 43 WHERE id = 100;
SELECT c.*, o.* FROM carts c JOIN orders o ON o.customer_id = c.customer_id; -- want: warning read-after-write
BEGIN;
INSERT INTO carts (id, customer_id) VALUES (101, 44);
SELECT COUNT(*) FROM carts; -- want: warning read-after-write
SELECT * FROM carts;
COMMIT;
SELECT * FROM carts WHERE id = 101; -- want: warning read-after-write
DELETE FROM carts WHERE id = 101;
SELECT * FROM carts FOR UPDATE;
SELECT * FROM customers;
SET aurora_replica_read_consistency = 'SESSION';
INSERT INTO carts (id, customer_id) VALUES (102, 45);
SELECT * FROM carts WHERE id = 102;
COMMIT RELEASE;
UPDATE orders SET total = 1 WHERE id = 1;
