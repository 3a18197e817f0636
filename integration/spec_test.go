package integration

// Every rule of the two switches, routing, and forwarding off,
// transactions and isolation (docs/compatibility.md) against the real
// MariaDB pair, through the
// proxy, as a user with ALL PRIVILEGES (who could write to the read_only
// replica: each proxy's cleanup checks that nothing did).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/fwdproxy/fwdproxy/proxy"
)

var ctx = context.Background()

// table creates a fresh table on the writer and waits for the replica.
func table(t *testing.T, name string) {
	t.Helper()
	w := writerDB(t)
	for _, q := range []string{
		"DROP TABLE IF EXISTS " + name,
		"CREATE TABLE " + name + " (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
		"INSERT INTO " + name + " (v) VALUES (1), (2), (3)",
	} {
		if _, err := w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	waitReplicated(t)
}

func exec(t *testing.T, c *sql.Conn, q string, args ...any) sql.Result {
	t.Helper()
	r, err := c.ExecContext(ctx, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return r
}

func one(t *testing.T, c interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, q string, args ...any) string {
	t.Helper()
	var v sql.NullString
	if err := c.QueryRowContext(ctx, q, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v.String
}

// wantErr asserts a MySQL error code (and, when msg is not empty, message).
func wantErr(t *testing.T, err error, code uint16, msg string) {
	t.Helper()
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		t.Fatalf("want error %d, got %v", code, err)
	}
	if me.Number != code {
		t.Fatalf("want error %d, got %d %s", code, me.Number, me.Message)
	}
	if msg != "" && me.Message != msg {
		t.Fatalf("want message %q, got %q", msg, me.Message)
	}
}

func errOf(c *sql.Conn, q string) error {
	_, err := c.ExecContext(ctx, q)
	return err
}

// prepErrOf runs q as a binary prepared statement (COM_STMT_PREPARE,
// EXECUTE, CLOSE) and returns its error. It reads the answer as rows:
// go-sql-driver 1.10's Stmt.Exec, under MariaDB's metadata cache, skips as
// many packets as there are columns when the server sent no definitions,
// so an Exec of a SELECT with fewer rows than columns hangs, against
// MariaDB directly as through the proxy (docs/stacks.md, Go).
func prepErrOf(c *sql.Conn, q string) error {
	st, err := c.PrepareContext(ctx, q)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := st.QueryContext(ctx)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

func count(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// The session variable and its rules.
func TestConsistencyVariable(t *testing.T) {
	addr := startProxy(t, nil)
	c := conn(t, addr, "")
	if v := one(t, c, "SELECT @@aurora_replica_read_consistency"); v != "" {
		t.Fatalf("initial value %q, want ''", v)
	}
	exec(t, c, "SET aurora_replica_read_consistency = 'session'")
	if v := one(t, c, "SELECT @@aurora_replica_read_consistency"); v != "SESSION" {
		t.Fatalf("got %q", v)
	}
	exec(t, c, "SET SESSION aurora_replica_read_consistency = 'Eventual'")
	if v := one(t, c, "SELECT @@session.aurora_replica_read_consistency"); v != "EVENTUAL" {
		t.Fatalf("got %q", v)
	}
	exec(t, c, "SET @@aurora_replica_read_consistency = 'GLOBAL'")
	if v := one(t, c, "select @@aurora_replica_read_consistency"); v != "GLOBAL" {
		t.Fatalf("got %q", v)
	}

	t.Run("show variables", func(t *testing.T) {
		rows, err := c.QueryContext(ctx, "SHOW VARIABLES LIKE 'aurora%'")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			got[k] = v
		}
		rows.Close()
		want := map[string]string{"aurora_replica_read_consistency": "GLOBAL", "aurora_fwd_writer_idle_timeout": "60", "aurora_fwd_writer_max_connections_pct": "10"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
			}
		}
		if v := one(t, c, "SELECT @@aurora_fwd_writer_idle_timeout"); v != "60" {
			t.Errorf("idle timeout %q", v)
		}
		// Merged with the reader's own rows.
		var k, v string
		if err := c.QueryRowContext(ctx, "SHOW SESSION VARIABLES LIKE 'autocommit'").Scan(&k, &v); err != nil || v != "ON" {
			t.Errorf("autocommit row: %q %v", v, err)
		}
	})

	t.Run("invalid value 1231", func(t *testing.T) {
		wantErr(t, errOf(c, "SET aurora_replica_read_consistency = 'sometimes'"), 1231,
			"Variable 'aurora_replica_read_consistency' can't be set to the value of 'sometimes'")
	})
	t.Run("read-only figures 1238", func(t *testing.T) {
		wantErr(t, errOf(c, "SET aurora_fwd_writer_idle_timeout = 5"), 1238, "")
	})
	t.Run("mixed SET applies both parts", func(t *testing.T) {
		exec(t, c, "SET @mixed = 42, aurora_replica_read_consistency = 'session'")
		if v := one(t, c, "SELECT @@aurora_replica_read_consistency"); v != "SESSION" {
			t.Fatalf("got %q", v)
		}
		if v := one(t, c, "SELECT @mixed"); v != "42" {
			t.Fatalf("@mixed = %q", v)
		}
	})
	t.Run("1766 between '' and a value inside a transaction", func(t *testing.T) {
		exec(t, c, "BEGIN")
		exec(t, c, "SET aurora_replica_read_consistency = 'eventual'") // value to value: allowed
		wantErr(t, errOf(c, "SET aurora_replica_read_consistency = ''"), 1766,
			"The system variable aurora_replica_read_consistency cannot be set when there is an ongoing transaction.")
		exec(t, c, "COMMIT")
		exec(t, c, "SET aurora_replica_read_consistency = ''")
		exec(t, c, "START TRANSACTION")
		wantErr(t, errOf(c, "SET aurora_replica_read_consistency = 'session'"), 1766, "")
		exec(t, c, "ROLLBACK")
	})
	t.Run("default from configuration", func(t *testing.T) {
		addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
		c := conn(t, addr, "")
		if v := one(t, c, "SELECT @@aurora_replica_read_consistency"); v != "SESSION" {
			t.Fatalf("got %q", v)
		}
	})
	t.Run("1238 while forwarding is disabled", func(t *testing.T) {
		addr := startProxy(t, func(c *proxy.Config) { c.Forwarding = false })
		c := conn(t, addr, "")
		wantErr(t, errOf(c, "SET aurora_replica_read_consistency = 'session'"), 1238,
			"Variable 'aurora_replica_read_consistency' is a read only variable")
	})
}

// serverID tells which backend answered: 1 writer, 2 reader.
func serverID(t *testing.T, c *sql.Conn, q string) string {
	t.Helper()
	return one(t, c, q)
}

// Where each statement goes.
func TestRouting(t *testing.T) {
	table(t, "r1")
	table(t, "r2")
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "EVENTUAL" })
	c := conn(t, addr, "")
	w := writerDB(t)

	reads := []string{
		"SELECT @@server_id",
		"SELECT @@server_id FROM r1 LIMIT 1",
		"(SELECT @@server_id) UNION (SELECT @@server_id)",
		"WITH x AS (SELECT 1) SELECT @@server_id FROM x",
	}
	for _, q := range reads {
		if id := serverID(t, c, q); id != "2" {
			t.Errorf("%s ran on server %s, want the reader", q, id)
		}
	}
	for _, q := range []string{"SHOW TABLES", "DESCRIBE r1", "EXPLAIN SELECT * FROM r1", "DO 1", "SELECT id INTO @into FROM r1 LIMIT 1"} {
		exec(t, c, q)
	}
	if v := one(t, c, "SELECT @into"); v != "1" {
		t.Errorf("SELECT … INTO @v on the reader: @into = %q", v)
	}

	locking := []string{
		"SELECT @@server_id FROM r1 WHERE id = 1 FOR UPDATE",
		"SELECT @@server_id FROM r1 WHERE id = 1 LOCK IN SHARE MODE",
		"SELECT @@server_id FROM r1 WHERE id IN (SELECT id FROM r2 FOR UPDATE) LIMIT 1",
		"SELECT @@server_id FROM r1 WHERE id = 1 FOR UPDATE NOWAIT",
		"SELECT @@server_id FROM r1 WHERE id = 1 FOR UPDATE SKIP LOCKED",
	}
	for _, q := range locking {
		if id := serverID(t, c, q); id != "1" {
			t.Errorf("%s ran on server %s, want the writer", q, id)
		}
	}

	writes := []struct{ q, check string }{
		{"INSERT INTO r1 (v) VALUES (10)", "SELECT COUNT(*) FROM r1 WHERE v = 10"},
		{"REPLACE INTO r1 (id, v) VALUES (100, 11)", "SELECT COUNT(*) FROM r1 WHERE v = 11"},
		{"UPDATE r1 SET v = 12 WHERE id = 1", "SELECT COUNT(*) FROM r1 WHERE v = 12"},
		{"DELETE FROM r1 WHERE id = 2", "SELECT COUNT(*) = 0 FROM r1 WHERE id = 2"},
		{"INSERT INTO r2 (v) SELECT 13 FROM r1 LIMIT 1", "SELECT COUNT(*) FROM r2 WHERE v = 13"},
		{"INSERT INTO r1 (id, v) VALUES (3, 0) ON DUPLICATE KEY UPDATE v = 14", "SELECT COUNT(*) FROM r1 WHERE v = 14"},
		{"UPDATE r1 JOIN r2 ON r1.id = r2.id SET r1.v = 15, r2.v = 15 WHERE r1.id = 1", "SELECT COUNT(*) FROM r2 WHERE v = 15"},
		{"DELETE r2 FROM r2 JOIN r1 ON r1.id = r2.id WHERE r2.v = 15", "SELECT COUNT(*) = 0 FROM r2 WHERE v = 15"},
		{"/*M!100000 INSERT INTO r2 (id, v) */ SELECT 99999, 16", "SELECT COUNT(*) FROM r2 WHERE v = 16"},
		{"SET STATEMENT max_statement_time = 100 FOR INSERT INTO r2 (v) VALUES (17)", "SELECT COUNT(*) FROM r2 WHERE v = 17"},
		{"INSERT INTO r2 (v) VALUES (18) RETURNING id", "SELECT COUNT(*) FROM r2 WHERE v = 18"},
	}
	for _, tc := range writes {
		if strings.Contains(tc.q, "RETURNING") {
			rows, err := c.QueryContext(ctx, tc.q)
			if err != nil {
				t.Fatalf("%s: %v", tc.q, err)
			}
			rows.Close()
		} else {
			exec(t, c, tc.q)
		}
		if n := count(t, w, tc.check); n < 1 {
			t.Errorf("%s did not reach the writer (%s = %d)", tc.q, tc.check, n)
		}
	}

	t.Run("OK packet whole", func(t *testing.T) {
		r := exec(t, c, "INSERT INTO r1 (v) VALUES (20), (21)")
		id, _ := r.LastInsertId()
		n, _ := r.RowsAffected()
		if n != 2 || id == 0 {
			t.Fatalf("rows %d id %d", n, id)
		}
		want := fmt.Sprint(id)
		if got := one(t, c, "SELECT LAST_INSERT_ID()"); got != want {
			t.Errorf("LAST_INSERT_ID() = %s, want %s", got, want)
		}
		exec(t, c, "UPDATE r1 SET v = v + 1 WHERE v IN (20, 21)")
		if got := one(t, c, "SELECT ROW_COUNT()"); got != "2" {
			t.Errorf("ROW_COUNT() = %s, want 2", got)
		}
	})

	t.Run("text prepared statements follow the prepared class", func(t *testing.T) {
		exec(t, c, "PREPARE pr FROM 'SELECT @@server_id'")
		if id := one(t, c, "EXECUTE pr"); id != "2" {
			t.Errorf("prepared read ran on %s", id)
		}
		exec(t, c, "PREPARE pw FROM 'INSERT INTO r2 (v) VALUES (?)'")
		exec(t, c, "SET @pv = 30")
		exec(t, c, "EXECUTE pw USING @pv")
		if n := count(t, w, "SELECT COUNT(*) FROM r2 WHERE v = 30"); n != 1 {
			t.Errorf("prepared write reached the writer %d times", n)
		}
		exec(t, c, "DEALLOCATE PREPARE pw")
		exec(t, c, "DEALLOCATE PREPARE pr")
	})

	t.Run("session SET and USE reach both backends", func(t *testing.T) {
		exec(t, c, "SET time_zone = '+03:00'")
		exec(t, c, "SET NAMES utf8mb4")
		if tz := one(t, c, "SELECT @@time_zone"); tz != "+03:00" {
			t.Errorf("reader time_zone %s", tz)
		}
		if tz := one(t, c, "SELECT @@time_zone FROM r1 WHERE id = 1 FOR UPDATE"); tz != "+03:00" {
			t.Errorf("writer time_zone %s", tz)
		}
	})
}

// Rejections with 1235.
func TestRejections(t *testing.T) {
	table(t, "rj")
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := conn(t, addr, "")
	always := []string{
		"CREATE TABLE rj_new (i INT)",
		"ALTER TABLE rj ADD COLUMN w INT",
		"DROP TABLE rj",
		"RENAME TABLE rj TO rj2",
		"TRUNCATE TABLE rj",
		"CREATE INDEX ix ON rj (v)",
		"DROP INDEX ix ON rj",
		"CREATE VIEW rjv AS SELECT 1",
		"CREATE PROCEDURE rjp() SELECT 1",
		"CREATE FUNCTION rjf() RETURNS INT RETURN 1",
		"CREATE TRIGGER rjt BEFORE INSERT ON rj FOR EACH ROW SET NEW.v = 1",
		"CREATE EVENT rje ON SCHEDULE EVERY 1 DAY DO SELECT 1",
		"CREATE DATABASE rjdb",
		"DROP DATABASE fwdit",
		"GRANT SELECT ON *.* TO 'nobody'@'%'",
		"REVOKE SELECT ON *.* FROM 'nobody'@'%'",
		"CREATE USER 'rjuser'@'%'",
		"DROP USER 'nobody'@'%'",
		"CREATE OR REPLACE TABLE rj3 (i INT)",
		"LOAD DATA INFILE '/tmp/none' INTO TABLE rj",
		"LOAD XML INFILE '/tmp/none' INTO TABLE rj",
		"INSTALL PLUGIN x SONAME 'x.so'",
		"UNINSTALL PLUGIN x",
		"INSTALL SONAME 'x'",
	}
	whenForwarding := []string{
		"XA START 'x'",
		"XA END 'x'",
		"XA PREPARE 'x'",
		"XA COMMIT 'x'",
		"XA ROLLBACK 'x'",
		"XA RECOVER",
		"SAVEPOINT s1",
		"ROLLBACK TO SAVEPOINT s1",
		"RELEASE SAVEPOINT s1",
		"LOCK TABLES rj WRITE",
		"CALL rjp()",
	}
	for _, q := range append(append([]string{}, always...), whenForwarding...) {
		err := errOf(c, q)
		wantErr(t, err, 1235, "")
		if !strings.Contains(err.Error(), "with write forwarding") {
			t.Errorf("%s: message %q", q, err)
		}
	}
	// With forwarding off in the session, DDL is still refused, with the
	// plain read-only replica's 1290; XA and SAVEPOINT run on the reader
	// like on a plain replica.
	exec(t, c, "SET aurora_replica_read_consistency = ''")
	for _, q := range always[:3] {
		wantErr(t, errOf(c, q), 1290, "")
	}
	exec(t, c, "XA START 'xoff'")
	exec(t, c, "XA END 'xoff'")
	exec(t, c, "XA ROLLBACK 'xoff'")
	exec(t, c, "BEGIN")
	exec(t, c, "SAVEPOINT s1")
	exec(t, c, "ROLLBACK TO SAVEPOINT s1")
	exec(t, c, "RELEASE SAVEPOINT s1")
	exec(t, c, "COMMIT")
	if n := count(t, writerDB(t), "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'fwdit' AND table_name IN ('rj_new', 'rj2', 'rj3', 'rjv')"); n != 0 {
		t.Fatalf("a rejected DDL ran: %d tables", n)
	}
}

// Forwarding off: writes get 1290 from the proxy and never reach the reader.
func TestForwardingOff(t *testing.T) {
	table(t, "off1")
	for name, mutate := range map[string]func(*proxy.Config){
		"session value ''":     nil,
		"proxy-level disabled": func(c *proxy.Config) { c.Forwarding = false; c.DefaultConsistency = "SESSION" },
	} {
		t.Run(name, func(t *testing.T) {
			addr := startProxy(t, mutate)
			c := conn(t, addr, "")
			for _, q := range []string{
				"INSERT INTO off1 (v) VALUES (99)",
				"UPDATE off1 SET v = 99",
				"DELETE FROM off1",
				"REPLACE INTO off1 (id, v) VALUES (1, 99)",
				"/*M!100000 INSERT INTO off1 (id, v) */ SELECT 999, 99",
				"SET STATEMENT max_statement_time = 100 FOR DELETE FROM off1",
			} {
				wantErr(t, errOf(c, q), 1290, "The MySQL server is running with the --read-only option so it cannot execute this statement")
			}
			if id := one(t, c, "SELECT @@server_id FROM off1 WHERE id = 1 FOR UPDATE"); id != "2" {
				t.Errorf("locking read with forwarding off ran on %s, want the reader", id)
			}
			if n := count(t, readerDB(t), "SELECT COUNT(*) FROM off1 WHERE v = 99 OR id = 999"); n != 0 {
				t.Fatalf("a write reached the replica")
			}
		})
	}
}

// Access mode decides forwarding: READ ONLY transactions get 1792.
func TestReadOnlyAccess(t *testing.T) {
	table(t, "ro1")
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := conn(t, addr, "")
	const msg = "Cannot execute statement in a READ ONLY transaction."
	exec(t, c, "START TRANSACTION READ ONLY")
	wantErr(t, errOf(c, "INSERT INTO ro1 (v) VALUES (7)"), 1792, msg)
	exec(t, c, "COMMIT")
	exec(t, c, "SET SESSION TRANSACTION READ ONLY")
	wantErr(t, errOf(c, "INSERT INTO ro1 (v) VALUES (7)"), 1792, msg)
	exec(t, c, "SET SESSION TRANSACTION READ WRITE")
	exec(t, c, "SET tx_read_only = 1")
	wantErr(t, errOf(c, "UPDATE ro1 SET v = 7"), 1792, msg)
	exec(t, c, "SET tx_read_only = 0")
	exec(t, c, "SET SESSION transaction_read_only = ON")
	wantErr(t, errOf(c, "DELETE FROM ro1"), 1792, msg)
	exec(t, c, "SET SESSION transaction_read_only = OFF")
	exec(t, c, "SET TRANSACTION READ ONLY") // the next transaction only
	exec(t, c, "BEGIN")
	wantErr(t, errOf(c, "INSERT INTO ro1 (v) VALUES (7)"), 1792, msg)
	exec(t, c, "ROLLBACK")
	exec(t, c, "START TRANSACTION READ WRITE")
	exec(t, c, "INSERT INTO ro1 (v) VALUES (8)")
	exec(t, c, "COMMIT")
	if n := count(t, writerDB(t), "SELECT COUNT(*) FROM ro1 WHERE v = 7"); n != 0 {
		t.Fatalf("a write in a READ ONLY transaction ran")
	}
	if n := count(t, writerDB(t), "SELECT COUNT(*) FROM ro1 WHERE v = 8"); n != 1 {
		t.Fatalf("READ WRITE transaction did not forward")
	}
}

// Transactions: reads before the first write on the reader, after it on
// the writer (SESSION/GLOBAL), on the reader with EVENTUAL.
func TestTransactions(t *testing.T) {
	table(t, "tx1")
	addr := startProxy(t, nil)
	w := writerDB(t)

	t.Run("session: reads follow the transaction to the writer", func(t *testing.T) {
		c := conn(t, addr, "")
		exec(t, c, "SET aurora_replica_read_consistency = 'SESSION'")
		exec(t, c, "BEGIN")
		if id := one(t, c, "SELECT @@server_id"); id != "2" {
			t.Errorf("read before the first write ran on %s", id)
		}
		exec(t, c, "INSERT INTO tx1 (v) VALUES (50)")
		if id := one(t, c, "SELECT @@server_id"); id != "1" {
			t.Errorf("read after the first write ran on %s", id)
		}
		if n := one(t, c, "SELECT COUNT(*) FROM tx1 WHERE v = 50"); n != "1" {
			t.Errorf("transaction does not see its own write")
		}
		if n := count(t, w, "SELECT COUNT(*) FROM tx1 WHERE v = 50"); n != 0 {
			t.Errorf("uncommitted write visible to others")
		}
		exec(t, c, "COMMIT")
		if n := count(t, w, "SELECT COUNT(*) FROM tx1 WHERE v = 50"); n != 1 {
			t.Errorf("COMMIT did not commit on the writer")
		}
		exec(t, c, "START TRANSACTION")
		exec(t, c, "INSERT INTO tx1 (v) VALUES (51)")
		exec(t, c, "ROLLBACK")
		if n := count(t, w, "SELECT COUNT(*) FROM tx1 WHERE v = 51"); n != 0 {
			t.Errorf("ROLLBACK did not roll back")
		}
	})

	t.Run("eventual: reads stay on the reader", func(t *testing.T) {
		c := conn(t, addr, "")
		exec(t, c, "SET aurora_replica_read_consistency = 'EVENTUAL'")
		exec(t, c, "BEGIN")
		exec(t, c, "INSERT INTO tx1 (v) VALUES (52)")
		if id := one(t, c, "SELECT @@server_id"); id != "2" {
			t.Errorf("EVENTUAL read in a forwarded transaction ran on %s", id)
		}
		exec(t, c, "COMMIT")
	})

	t.Run("autocommit=0 is one long transaction", func(t *testing.T) {
		c := conn(t, addr, "")
		exec(t, c, "SET aurora_replica_read_consistency = 'GLOBAL'")
		exec(t, c, "SET autocommit = 0")
		exec(t, c, "INSERT INTO tx1 (v) VALUES (53)")
		if n := count(t, w, "SELECT COUNT(*) FROM tx1 WHERE v = 53"); n != 0 {
			t.Errorf("autocommit=0 write committed early")
		}
		wantErr(t, errOf(c, "SET aurora_replica_read_consistency = ''"), 1766, "")
		exec(t, c, "COMMIT")
		if n := count(t, w, "SELECT COUNT(*) FROM tx1 WHERE v = 53"); n != 1 {
			t.Errorf("COMMIT under autocommit=0 did not commit")
		}
		exec(t, c, "INSERT INTO tx1 (v) VALUES (54)")
		exec(t, c, "SET autocommit = 1") // implicit commit
		if n := count(t, w, "SELECT COUNT(*) FROM tx1 WHERE v = 54"); n != 1 {
			t.Errorf("SET autocommit=1 did not commit")
		}
	})

	t.Run("prepared SET autocommit = ? commits like the text form", func(t *testing.T) {
		c := conn(t, addr, "")
		ctx := context.Background()
		exec(t, c, "SET aurora_replica_read_consistency = 'GLOBAL'")
		st, err := c.PrepareContext(ctx, "SET autocommit = ?") // COM_STMT_PREPARE
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		exec(t, c, "SET autocommit = 0")
		exec(t, c, "INSERT INTO tx1 (v) VALUES (58)")
		if _, err := st.ExecContext(ctx, 0); err != nil { // 0 -> 0 commits nothing
			t.Fatal(err)
		}
		if n := count(t, w, "SELECT COUNT(*) FROM tx1 WHERE v = 58"); n != 0 {
			t.Errorf("binary SET autocommit = 0 committed")
		}
		if _, err := st.ExecContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if n := count(t, w, "SELECT COUNT(*) FROM tx1 WHERE v = 58"); n != 1 {
			t.Errorf("binary SET autocommit = 1 did not commit the writer's transaction")
		}
		exec(t, c, "SET autocommit = 0")
		exec(t, c, "INSERT INTO tx1 (v) VALUES (59)")
		exec(t, c, "PREPARE sa FROM 'SET autocommit = ?'")
		exec(t, c, "SET @one = 1")
		exec(t, c, "EXECUTE sa USING @one")
		if n := count(t, w, "SELECT COUNT(*) FROM tx1 WHERE v = 59"); n != 1 {
			t.Errorf("EXECUTE … USING of SET autocommit = ? did not commit the writer's transaction")
		}
		exec(t, c, "ROLLBACK") // nothing left to roll back
		if n := count(t, w, "SELECT COUNT(*) FROM tx1 WHERE v IN (58, 59)"); n != 2 {
			t.Errorf("after ROLLBACK: %d rows, want 2", n)
		}
	})

	t.Run("BEGIN commits the open transaction", func(t *testing.T) {
		c := conn(t, addr, "")
		exec(t, c, "SET aurora_replica_read_consistency = 'SESSION'")
		exec(t, c, "BEGIN")
		exec(t, c, "INSERT INTO tx1 (v) VALUES (55)")
		exec(t, c, "BEGIN")
		if n := count(t, w, "SELECT COUNT(*) FROM tx1 WHERE v = 55"); n != 1 {
			t.Errorf("implicit commit by BEGIN missing")
		}
		exec(t, c, "ROLLBACK")
	})

	// The reader's START TRANSACTION travels with the transaction's first
	// statement there, so a transaction that only writes never opens one.
	t.Run("the reader's transaction opens with its first read", func(t *testing.T) {
		c := conn(t, addr, "")
		exec(t, c, "SET aurora_replica_read_consistency = 'EVENTUAL'")
		status := func(name string) string {
			var n, v string
			if err := c.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE '"+name+"'").Scan(&n, &v); err != nil {
				t.Fatal(err)
			}
			return v
		}
		begins := func() string { return status("Com_begin") }
		b0 := begins()
		exec(t, c, "BEGIN")
		exec(t, c, "INSERT INTO tx1 (v) VALUES (57)")
		exec(t, c, "COMMIT")
		exec(t, c, "START TRANSACTION READ ONLY")
		exec(t, c, "ROLLBACK")
		if b := begins(); b != b0 {
			t.Errorf("transactions that never read on the reader began there: Com_begin %s -> %s", b0, b)
		}
		id := count(t, w, "SELECT MAX(id) FROM tx1")
		waitReplicated(t) // EVENTUAL reads do not wait for the row
		exec(t, c, "BEGIN")
		exec(t, c, "BEGIN") // nothing to commit yet on the reader
		// Prepared: COM_STMT_PREPARE is the first statement on the reader.
		before := one(t, c, "SELECT v FROM tx1 WHERE id = ?", id)
		if _, err := w.Exec("UPDATE tx1 SET v = v + 1000 WHERE id = ?", id); err != nil {
			t.Fatal(err)
		}
		waitReplicated(t)
		if v := one(t, c, "SELECT v FROM tx1 WHERE id = ?", id); v != before {
			t.Errorf("the transaction's snapshot moved: %s, then %s", before, v)
		}
		if v := one(t, c, "SELECT @@in_transaction"); v != "1" {
			t.Errorf("@@in_transaction = %s on the reader", v)
		}
		c0 := status("Com_commit")
		exec(t, c, "COMMIT") // the client does not wait for the reader's COMMIT
		if v := one(t, c, "SELECT @@in_transaction"); v != "0" {
			t.Errorf("@@in_transaction = %s on the reader after COMMIT", v)
		}
		if c1 := status("Com_commit"); c1 == c0 {
			t.Errorf("the reader's COMMIT did not run: Com_commit %s -> %s", c0, c1)
		}
		if v := one(t, c, "SELECT v FROM tx1 WHERE id = ?", id); v == before {
			t.Errorf("after COMMIT the read still sees the old snapshot")
		}
		if b := begins(); b == b0 {
			t.Errorf("a transaction that read never began on the reader")
		}
	})

	t.Run("isolation other than REPEATABLE READ warns", func(t *testing.T) {
		c := conn(t, addr, "")
		exec(t, c, "SET aurora_replica_read_consistency = 'SESSION'")
		exec(t, c, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
		if v := one(t, c, "SELECT @@tx_isolation"); v != "READ-COMMITTED" {
			t.Errorf("reader isolation %q", v)
		}
		exec(t, c, "INSERT INTO tx1 (v) VALUES (56)")
		rows, err := c.QueryContext(ctx, "SHOW WARNINGS")
		if err != nil {
			t.Fatal(err)
		}
		var n int
		for rows.Next() {
			var l, code, m string
			_ = rows.Scan(&l, &code, &m)
			if strings.Contains(m, "REPEATABLE READ") {
				n++
			}
		}
		rows.Close()
		if n != 1 {
			t.Errorf("no isolation warning after a forwarded statement")
		}
	})
}

// Temporary tables live on the reader; DML on a permanent table that
// reads one is rejected.
func TestTemporaryTables(t *testing.T) {
	table(t, "perm1")
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := conn(t, addr, "")
	exec(t, c, "CREATE TEMPORARY TABLE tmp1 (id INT, v INT)")
	exec(t, c, "INSERT INTO tmp1 VALUES (1, 1), (2, 2)")
	exec(t, c, "UPDATE tmp1 SET v = 5 WHERE id = 1")
	exec(t, c, "DELETE FROM tmp1 WHERE id = 2")
	if v := one(t, c, "SELECT v FROM tmp1 WHERE id = 1"); v != "5" {
		t.Errorf("temporary table on the reader: v = %s", v)
	}
	wantErr(t, errOf(c, "INSERT INTO perm1 (v) SELECT v FROM tmp1"), 1235, "")
	wantErr(t, errOf(c, "UPDATE perm1 SET v = (SELECT MAX(v) FROM tmp1)"), 1235, "")
	exec(t, c, "INSERT INTO tmp1 SELECT id, v FROM perm1") // temp target reading permanent: fine
	exec(t, c, "DROP TEMPORARY TABLE tmp1")
	wantErr(t, errOf(c, "SELECT * FROM tmp1"), 1146, "")
	// After the drop the name is permanent again: this goes to the writer.
	exec(t, c, "INSERT INTO perm1 (v) VALUES (77)")
	if n := count(t, writerDB(t), "SELECT COUNT(*) FROM perm1 WHERE v = 77"); n != 1 {
		t.Fatal("write after DROP TEMPORARY did not forward")
	}
}

// No write reaches the reader, in depth: a SELECT that calls a stored
// function which writes is classified as a read and sent to the reader,
// whose session is pinned read-only: it fails there instead of writing to
// the replica.
func TestReaderGuard(t *testing.T) {
	table(t, "guard1")
	w := writerDB(t)
	if _, err := w.Exec("DROP FUNCTION IF EXISTS guard_write"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec("CREATE FUNCTION guard_write() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN INSERT INTO guard1 (v) VALUES (900); RETURN 1; END"); err != nil {
		t.Fatal(err)
	}
	waitReplicated(t)
	for _, lvl := range []string{"''", "'SESSION'"} {
		addr := startProxy(t, nil)
		c := conn(t, addr, "")
		exec(t, c, "SET aurora_replica_read_consistency = "+lvl)
		wantErr(t, errOf(c, "SELECT guard_write()"), 1792, "")
		exec(t, c, "CREATE TEMPORARY TABLE guard_tmp (i INT)") // lifts the guard for itself only
		wantErr(t, errOf(c, "SELECT guard_write()"), 1792, "")
	}
	if n := count(t, readerDB(t), "SELECT COUNT(*) FROM guard1 WHERE v = 900"); n != 0 {
		t.Fatal("the function wrote to the replica")
	}
}

// Aurora's quirk, off by default: START TRANSACTION READ WRITE gets 1290 for a
// user without SUPER or CONNECTION ADMIN.
func TestReadWriteQuirk(t *testing.T) {
	w := writerDB(t)
	for _, q := range []string{
		"DROP USER IF EXISTS 'plain'@'%'",
		"CREATE USER 'plain'@'%' IDENTIFIED BY 'plainpass'",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON fwdit.* TO 'plain'@'%'",
	} {
		if _, err := w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	waitReplicated(t)
	users := func(c *proxy.Config) {
		c.Users["plain"] = "plainpass"
		c.DefaultConsistency = "SESSION"
	}
	plainConn := func(addr string) *sql.Conn {
		db, err := sql.Open("mysql", "plain:plainpass@tcp("+addr+")/fwdit")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	off := startProxy(t, users)
	exec(t, plainConn(off), "START TRANSACTION READ WRITE")
	on := startProxy(t, func(c *proxy.Config) { users(c); c.ReadWriteQuirk = true })
	wantErr(t, errOf(plainConn(on), "START TRANSACTION READ WRITE"), 1290, "")
	exec(t, plainConn(on), "START TRANSACTION")              // plain form is fine
	exec(t, conn(t, on, ""), "START TRANSACTION READ WRITE") // ALL PRIVILEGES user
}

func TestKillAndChain(t *testing.T) {
	table(t, "ch1")
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := conn(t, addr, "")
	wantErr(t, errOf(c, "KILL 1"), 1094, "") // never a reader thread
	exec(t, c, "BEGIN")
	exec(t, c, "INSERT INTO ch1 (v) VALUES (70)")
	exec(t, c, "COMMIT AND CHAIN")
	exec(t, c, "INSERT INTO ch1 (v) VALUES (71)")
	if n := count(t, writerDB(t), "SELECT COUNT(*) FROM ch1 WHERE v = 71"); n != 0 {
		t.Error("COMMIT AND CHAIN did not start a new transaction")
	}
	exec(t, c, "ROLLBACK")
	if n := count(t, writerDB(t), "SELECT COUNT(*) FROM ch1 WHERE v IN (70, 71)"); n != 1 {
		t.Errorf("chain: %d rows, want only the committed one", n)
	}
}

// Multi-statement batches split under the session's sql_mode.
func TestMultiStatementsAndSQLMode(t *testing.T) {
	table(t, "ms1")
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := conn(t, addr, "multiStatements=true")
	exec(t, c, `INSERT INTO ms1 (v) VALUES (80); UPDATE ms1 SET v = 81 WHERE v = 80; SELECT 1`)
	if n := count(t, writerDB(t), "SELECT COUNT(*) FROM ms1 WHERE v = 81"); n != 1 {
		t.Errorf("batch did not run in order")
	}
	err := errOf(c, "INSERT INTO ms1 (v) VALUES (82); CREATE TABLE ms_x (i INT); INSERT INTO ms1 (v) VALUES (83)")
	wantErr(t, err, 1235, "")
	if n := count(t, writerDB(t), "SELECT COUNT(*) FROM ms1 WHERE v = 83"); n != 0 {
		t.Errorf("statement after a rejected one ran")
	}
	exec(t, c, "SET sql_mode = 'NO_BACKSLASH_ESCAPES'")
	// With NO_BACKSLASH_ESCAPES the string ends at \' : two statements.
	exec(t, c, `INSERT INTO ms1 (v) SELECT LENGTH('a\'); INSERT INTO ms1 (v) VALUES (84)`)
	if n := count(t, writerDB(t), "SELECT COUNT(*) FROM ms1 WHERE v = 84"); n != 1 {
		t.Errorf("NO_BACKSLASH_ESCAPES split wrong")
	}
}

// CALL with forwarding off runs on the reader and relays every result set
// of the procedure, with the MORE_RESULTS flags a client expects.
func TestCallMultipleResults(t *testing.T) {
	w := writerDB(t)
	for _, q := range []string{"DROP PROCEDURE IF EXISTS two_results",
		"CREATE PROCEDURE two_results() BEGIN SELECT 1 AS a; SELECT 2 AS b UNION ALL SELECT 3; END"} {
		if _, err := w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	waitReplicated(t)
	addr := startProxy(t, nil)
	c := conn(t, addr, "")
	rows, err := c.QueryContext(ctx, "CALL two_results()")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("CALL results %v", got)
	}
	if v := one(t, c, "SELECT 42"); v != "42" {
		t.Fatalf("after CALL: %s", v)
	}
	exec(t, c, "SET aurora_replica_read_consistency = 'SESSION'")
	wantErr(t, errOf(c, "CALL two_results()"), 1235, "This version of MySQL doesn't yet support 'CALL with write forwarding'")
}
