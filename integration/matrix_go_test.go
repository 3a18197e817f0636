package integration

// The stacks matrix (matrix_test.go) for Go's ORMs, in this process: GORM
// on its MySQL driver and sqlx, both on go-sql-driver/mysql.

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/fwdproxy/fwdproxy/integration/pair"
)

// goStack runs steps in this process with matrix_test.go's rules: each
// step on its own, a reconnect after a failed one.
type goStack struct {
	t         *testing.T
	results   map[string]string
	reconnect func()
}

func newGoStack(t *testing.T, reconnect func()) *goStack {
	return &goStack{t: t, results: map[string]string{}, reconnect: reconnect}
}

func (g *goStack) step(name string, f func() error) {
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return f()
	}()
	if err != nil {
		g.results[name] = "FAIL " + err.Error()
		g.t.Logf("FAIL %s: %v", name, err)
		g.reconnect()
		return
	}
	g.results[name] = "PASS"
	g.t.Logf("PASS %s", name)
}

// design is a step whose f must fail with server error code; after then
// checks that the connection is still usable.
func (g *goStack) design(name string, code uint16, f func() error, after func() error) {
	g.step(name, func() error {
		err := f()
		var me *mysql.MySQLError
		if !errors.As(err, &me) {
			return fmt.Errorf("want error %d, got %v", code, err)
		}
		g.t.Logf("DESIGN %s: Error %d (%s): %s", name, me.Number, me.SQLState, me.Message)
		if me.Number != code {
			return fmt.Errorf("want error %d, got %v", code, err)
		}
		if after != nil {
			return after()
		}
		return nil
	})
}

// errNumber is err's server error number. GORM joins a failed statement's
// error with its own rollback's as text, so the text counts too.
func errNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	var n uint16
	if err != nil {
		fmt.Sscanf(err.Error(), "Error %d (", &n)
	}
	return n
}

// stackBlob is what the types step writes into b: the bytes 0..255.
func stackBlob() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func stackTime() time.Time {
	tm, err := time.Parse("2006-01-02 15:04:05.999999", stackDatetime)
	if err != nil {
		panic(err)
	}
	return tm
}

// stackDSN is the go-sql-driver DSN of addr with the options the ORMs use.
func stackDSN(addr string) string {
	return pair.DSN(addr, thePair.User, thePair.Password, testDB) + "&charset=utf8mb4&parseTime=true&loc=UTC"
}

const stackBig = 12000

func want(cond bool, format string, args ...any) error {
	if cond {
		return nil
	}
	return fmt.Errorf(format, args...)
}

// ---- GORM ----

type gormRow struct {
	ID int64 `gorm:"primaryKey"`
	K  string
	N  *int
	S  *string
	D  *string
	T  *time.Time
	B  []byte
}

func ptr[T any](v T) *T { return &v }

func TestClientStackGORM(t *testing.T) {
	addr := stackProxy(t)
	w := writerDB(t)
	c := stackCase{stack: "gorm", extra: stackExtra{
		steps: []string{"readback-skiptx", "design-savepoint", "design-nosavepoint", "design-ddl"},
		rows: map[string]string{"skiptx": "41|NULL|NULL|NULL|NULL",
			"nosp-outer": "31|NULL|NULL|NULL|NULL", "nosp-inner": "32|NULL|NULL|NULL|NULL"},
	}}
	table := c.table()
	stackTable(t, w, table)

	open := func(cfg *gorm.Config) *gorm.DB {
		cfg.Logger = logger.Default.LogMode(logger.Silent)
		db, err := gorm.Open(gormmysql.Open(stackDSN(addr)), cfg)
		if err != nil {
			t.Fatalf("gorm.Open: %v", err)
		}
		sqlDB, _ := db.DB()
		sqlDB.SetMaxOpenConns(1) // one session: LAST_INSERT_ID() is the session's
		t.Cleanup(func() { sqlDB.Close() })
		// Session: a chain that is safe to reuse, every statement on table.
		return db.Table(table).Session(&gorm.Session{})
	}
	db := open(&gorm.Config{})
	g := newGoStack(t, func() {
		if s, err := db.DB(); err == nil {
			s.Close()
		}
		db = open(&gorm.Config{})
	})
	nOf := func(k string) []int {
		var ns []int
		db.Session(&gorm.Session{NewDB: true}).Table(table).Where("k = ?", k).Pluck("n", &ns)
		return ns
	}
	var firstID int64

	g.step("connect", func() error {
		var cons string
		var ac int
		if err := db.Raw("SELECT @@aurora_replica_read_consistency, @@autocommit").Row().Scan(&cons, &ac); err != nil {
			return err
		}
		return want(cons == "SESSION" && ac == 1, "consistency %q autocommit %d", cons, ac)
	})
	g.step("readback", func() error {
		r := gormRow{K: "first", N: ptr(1), S: ptr("first")}
		if err := db.Create(&r).Error; err != nil {
			return err
		}
		firstID = r.ID
		t.Logf("insert_id=%d", r.ID)
		var got gormRow
		if err := db.Session(&gorm.Session{NewDB: true}).Table(table).First(&got, r.ID).Error; err != nil {
			return fmt.Errorf("read back id %d: %w", r.ID, err)
		}
		return want(got.N != nil && *got.N == 1 && got.S != nil && *got.S == "first", "read back %+v", got)
	})
	// SkipDefaultTransaction (GORM's advice for speed): the INSERT … RETURNING
	// is not followed by a COMMIT whose OK packet carries a GTID.
	g.step("readback-skiptx", func() error {
		skip := open(&gorm.Config{SkipDefaultTransaction: true})
		r := gormRow{K: "skiptx", N: ptr(41)}
		if err := skip.Create(&r).Error; err != nil {
			return err
		}
		var got gormRow
		if err := skip.Session(&gorm.Session{NewDB: true}).Table(table).First(&got, r.ID).Error; err != nil {
			return fmt.Errorf("read back id %d: %w", r.ID, err)
		}
		return want(got.N != nil && *got.N == 41, "read back %+v", got)
	})
	g.step("lastid", func() error {
		r := gormRow{K: "lastid", N: ptr(9)}
		if err := db.Create(&r).Error; err != nil {
			return err
		}
		var id int64
		if err := db.Raw("SELECT LAST_INSERT_ID()").Scan(&id).Error; err != nil {
			return err
		}
		return want(id == r.ID && id >= 1000, "LAST_INSERT_ID() %d, generated key %d", id, r.ID)
	})
	g.step("prepared", func() error {
		// PrepareStmt: every statement is a server-side prepared statement.
		ps := db.Session(&gorm.Session{PrepareStmt: true})
		var ids []int64
		for _, r := range []gormRow{{K: "ps1", N: ptr(11), S: ptr("ps")}, {K: "ps2", N: ptr(12), S: ptr("ps")}} {
			if err := ps.Create(&r).Error; err != nil {
				return err
			}
			ids = append(ids, r.ID)
		}
		if ids[0] < 1000 || ids[1] <= ids[0] {
			return fmt.Errorf("generated keys %v", ids)
		}
		var lid int64
		if err := ps.Raw("SELECT LAST_INSERT_ID()").Scan(&lid).Error; err != nil {
			return err
		}
		if lid != ids[1] {
			return fmt.Errorf("prepared LAST_INSERT_ID() %d, generated key %d", lid, ids[1])
		}
		var ks []string
		if err := ps.Raw("SELECT k FROM "+table+" WHERE n = ?", 12).Scan(&ks).Error; err != nil {
			return err
		}
		return want(fmt.Sprint(ks) == "[ps2]", "prepared SELECT: %v", ks)
	})
	g.step("commit", func() error {
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&gormRow{K: "commit", N: ptr(3)}).Error; err != nil {
				return err
			}
			var n int64
			tx.Session(&gorm.Session{NewDB: true}).Table(table).Where("k = ?", "commit").Count(&n)
			return want(n == 1, "transaction misses its insert")
		})
		if err != nil {
			return err
		}
		return want(fmt.Sprint(nOf("commit")) == "[3]", "committed row: %v", nOf("commit"))
	})
	errRollback := errors.New("roll back")
	g.step("rollback", func() error {
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&gormRow{K: "rollback", N: ptr(4)}).Error; err != nil {
				return err
			}
			return errRollback
		})
		if err != errRollback {
			return err
		}
		return want(len(nOf("rollback")) == 0, "rolled-back row visible: %v", nOf("rollback"))
	})
	g.step("forupdate", func() error {
		if err := db.Create(&gormRow{K: "lock", N: ptr(1)}).Error; err != nil {
			return err
		}
		err := db.Transaction(func(tx *gorm.DB) error {
			var r gormRow
			if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("k = ?", "lock").First(&r).Error; err != nil {
				return err
			}
			if r.N == nil || *r.N != 1 {
				return fmt.Errorf("FOR UPDATE read %+v", r)
			}
			return tx.Session(&gorm.Session{NewDB: true}).Table(table).Where("id = ?", r.ID).Update("n", 2).Error
		})
		if err != nil {
			return err
		}
		return want(fmt.Sprint(nOf("lock")) == "[2]", "after the update: %v", nOf("lock"))
	})
	g.step("utf8mb4", func() error {
		if err := db.Create(&gormRow{K: "utf8", S: ptr(stackUTF8)}).Error; err != nil {
			return err
		}
		var got gormRow
		if err := db.Session(&gorm.Session{NewDB: true}).Table(table).Where("k = ?", "utf8").First(&got).Error; err != nil {
			return err
		}
		return want(got.S != nil && *got.S == stackUTF8, "read back %v", got.S)
	})
	g.step("types", func() error {
		if err := db.Create(&gormRow{K: "types", D: ptr(stackDecimal), T: ptr(stackTime()), B: stackBlob()}).Error; err != nil {
			return err
		}
		var got gormRow
		if err := db.Session(&gorm.Session{NewDB: true}).Table(table).Where("k = ?", "types").First(&got).Error; err != nil {
			return err
		}
		return want(got.N == nil && got.S == nil && got.D != nil && *got.D == stackDecimal &&
			got.T != nil && got.T.Equal(stackTime()) && bytes.Equal(got.B, stackBlob()), "read back %+v", got)
	})
	g.step("bigresult", func() error {
		rows, err := db.Raw(fmt.Sprintf("SELECT seq, CONCAT('r', seq) FROM seq_1_to_%d", stackBig)).Rows()
		if err != nil {
			return err
		}
		return checkBig(rows)
	})
	g.step("dupkey", func() error {
		if err := db.Create(&gormRow{K: "dup", N: ptr(5)}).Error; err != nil {
			return err
		}
		err := db.Create(&gormRow{K: "dup", N: ptr(55)}).Error
		if errNumber(err) != 1062 {
			return fmt.Errorf("second k='dup': want 1062, got %v", err)
		}
		if err := db.Create(&gormRow{K: "afterdup", N: ptr(6)}).Error; err != nil {
			return err
		}
		return want(fmt.Sprint(nOf("afterdup")) == "[6]", "after the duplicate: %v", nOf("afterdup"))
	})
	g.design("design-savepoint", 1235, func() error {
		return db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&gormRow{K: "sp-outer", N: ptr(7)}).Error; err != nil {
				return err
			}
			return tx.Transaction(func(tx2 *gorm.DB) error {
				return tx2.Create(&gormRow{K: "sp-inner", N: ptr(8)}).Error
			})
		})
	}, func() error {
		return want(len(nOf("sp-outer")) == 0, "the outer transaction's row is there")
	})
	g.step("design-nosavepoint", func() error {
		flat := open(&gorm.Config{DisableNestedTransaction: true})
		return flat.Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&gormRow{K: "nosp-outer", N: ptr(31)}).Error; err != nil {
				return err
			}
			return tx.Transaction(func(tx2 *gorm.DB) error {
				return tx2.Create(&gormRow{K: "nosp-inner", N: ptr(32)}).Error
			})
		})
	})
	g.design("design-ddl", 1235, func() error {
		type ddlRow struct{ I int }
		return db.Session(&gorm.Session{NewDB: true}).Table(table + "_ddl").Migrator().CreateTable(&ddlRow{})
	}, nil)

	checkSteps(t, c.stack, g.results, c.extra)
	checkStackWriter(t, w, testDB, table, firstID, c.extra)
}

func checkBig(rows *sql.Rows) error {
	defer rows.Close()
	n, sum := 0, 0
	for rows.Next() {
		var seq int
		var s string
		if err := rows.Scan(&seq, &s); err != nil {
			return err
		}
		if s != fmt.Sprintf("r%d", seq) {
			return fmt.Errorf("row %d %q", seq, s)
		}
		n++
		sum += seq
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return want(n == stackBig && sum == stackBig*(stackBig+1)/2, "%d rows, sum %d", n, sum)
}

// ---- sqlx ----

type sqlxRow struct {
	ID int64          `db:"id"`
	K  string         `db:"k"`
	N  sql.NullInt64  `db:"n"`
	S  sql.NullString `db:"s"`
	D  sql.NullString `db:"d"`
	T  sql.NullTime   `db:"t"`
	B  []byte         `db:"b"`
}

func TestClientStackSqlx(t *testing.T) {
	addr := stackProxy(t)
	w := writerDB(t)
	c := stackCase{stack: "sqlx"}
	table := c.table()
	stackTable(t, w, table)
	open := func() *sqlx.DB {
		db, err := sqlx.Connect("mysql", stackDSN(addr))
		if err != nil {
			t.Fatalf("sqlx.Connect: %v", err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	db := open()
	g := newGoStack(t, func() { db.Close(); db = open() })
	ins := "INSERT INTO " + table + " (k, n, s, d, t, b) VALUES (:k, :n, :s, :d, :t, :b)"
	nOf := func(k string) string {
		var ns []int
		if err := db.Select(&ns, "SELECT n FROM "+table+" WHERE k = ?", k); err != nil {
			return err.Error()
		}
		return fmt.Sprint(ns)
	}
	var firstID int64

	g.step("connect", func() error {
		var v struct {
			C string `db:"c"`
			A int    `db:"a"`
		}
		if err := db.Get(&v, "SELECT @@aurora_replica_read_consistency AS c, @@autocommit AS a"); err != nil {
			return err
		}
		return want(v.C == "SESSION" && v.A == 1, "consistency %q autocommit %d", v.C, v.A)
	})
	g.step("readback", func() error {
		r, err := db.NamedExec(ins, sqlxRow{K: "first", N: sql.NullInt64{Int64: 1, Valid: true}, S: sql.NullString{String: "first", Valid: true}})
		if err != nil {
			return err
		}
		firstID, _ = r.LastInsertId()
		t.Logf("insert_id=%d", firstID)
		var got sqlxRow
		if err := db.Get(&got, "SELECT * FROM "+table+" WHERE id = ?", firstID); err != nil {
			return fmt.Errorf("read back id %d: %w", firstID, err)
		}
		return want(got.N.Int64 == 1 && got.S.String == "first", "read back %+v", got)
	})
	g.step("lastid", func() error {
		r, err := db.Exec("INSERT INTO " + table + " (k, n) VALUES ('lastid', 9)")
		if err != nil {
			return err
		}
		key, _ := r.LastInsertId()
		var id int64
		if err := db.Get(&id, "SELECT LAST_INSERT_ID()"); err != nil {
			return err
		}
		return want(id == key && id >= 1000, "LAST_INSERT_ID() %d, generated key %d", id, key)
	})
	g.step("prepared", func() error {
		st, err := db.Preparex("INSERT INTO " + table + " (k, n, s) VALUES (?, ?, 'ps')")
		if err != nil {
			return err
		}
		defer st.Close()
		var ids []int64
		for _, p := range []struct {
			k string
			n int
		}{{"ps1", 11}, {"ps2", 12}} {
			r, err := st.Exec(p.k, p.n)
			if err != nil {
				return err
			}
			id, _ := r.LastInsertId()
			ids = append(ids, id)
		}
		if ids[0] < 1000 || ids[1] <= ids[0] {
			return fmt.Errorf("generated keys %v", ids)
		}
		lid, err := db.Preparex("SELECT LAST_INSERT_ID()")
		if err != nil {
			return err
		}
		defer lid.Close()
		var got int64
		if err := lid.Get(&got); err != nil {
			return err
		}
		if got != ids[1] {
			return fmt.Errorf("prepared LAST_INSERT_ID() %d, generated key %d", got, ids[1])
		}
		sel, err := db.Preparex("SELECT k FROM " + table + " WHERE n = ?")
		if err != nil {
			return err
		}
		defer sel.Close()
		var ks []string
		if err := sel.Select(&ks, 12); err != nil {
			return err
		}
		return want(fmt.Sprint(ks) == "[ps2]", "prepared SELECT: %v", ks)
	})
	g.step("commit", func() error {
		tx, err := db.Beginx()
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.Exec("INSERT INTO " + table + " (k, n) VALUES ('commit', 3)"); err != nil {
			return err
		}
		var n int
		if err := tx.Get(&n, "SELECT COUNT(*) FROM "+table+" WHERE k = 'commit'"); err != nil || n != 1 {
			return fmt.Errorf("transaction sees %d of its insert: %v", n, err)
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		return want(nOf("commit") == "[3]", "committed row: %s", nOf("commit"))
	})
	g.step("rollback", func() error {
		tx, err := db.Beginx()
		if err != nil {
			return err
		}
		if _, err := tx.Exec("INSERT INTO " + table + " (k, n) VALUES ('rollback', 4)"); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Rollback(); err != nil {
			return err
		}
		return want(nOf("rollback") == "[]", "rolled-back row visible: %s", nOf("rollback"))
	})
	g.step("forupdate", func() error {
		if _, err := db.Exec("INSERT INTO " + table + " (k, n) VALUES ('lock', 1)"); err != nil {
			return err
		}
		tx, err := db.Beginx()
		if err != nil {
			return err
		}
		defer tx.Rollback()
		var n int
		if err := tx.Get(&n, "SELECT n FROM "+table+" WHERE k = ? FOR UPDATE", "lock"); err != nil || n != 1 {
			return fmt.Errorf("FOR UPDATE read n=%d: %v", n, err)
		}
		if _, err := tx.Exec("UPDATE "+table+" SET n = ? WHERE k = ?", 2, "lock"); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		return want(nOf("lock") == "[2]", "after the update: %s", nOf("lock"))
	})
	g.step("utf8mb4", func() error {
		if _, err := db.NamedExec(ins, sqlxRow{K: "utf8", S: sql.NullString{String: stackUTF8, Valid: true}}); err != nil {
			return err
		}
		var s string
		if err := db.Get(&s, "SELECT s FROM "+table+" WHERE k = 'utf8'"); err != nil {
			return err
		}
		return want(s == stackUTF8, "read back %q", s)
	})
	g.step("types", func() error {
		r := sqlxRow{K: "types", D: sql.NullString{String: stackDecimal, Valid: true}, T: sql.NullTime{Time: stackTime(), Valid: true}, B: stackBlob()}
		if _, err := db.NamedExec(ins, r); err != nil {
			return err
		}
		var got sqlxRow
		if err := db.Get(&got, "SELECT * FROM "+table+" WHERE k = ?", "types"); err != nil {
			return err
		}
		return want(!got.N.Valid && !got.S.Valid && got.D.String == stackDecimal && got.T.Time.Equal(stackTime()) &&
			bytes.Equal(got.B, stackBlob()), "read back %+v", got)
	})
	g.step("bigresult", func() error {
		rows, err := db.Query(fmt.Sprintf("SELECT seq, CONCAT('r', seq) FROM seq_1_to_%d WHERE seq > ?", stackBig), 0)
		if err != nil {
			return err
		}
		return checkBig(rows)
	})
	g.step("dupkey", func() error {
		if _, err := db.Exec("INSERT INTO " + table + " (k, n) VALUES ('dup', 5)"); err != nil {
			return err
		}
		_, err := db.Exec("INSERT INTO "+table+" (k, n) VALUES (?, ?)", "dup", 55)
		if errNumber(err) != 1062 {
			return fmt.Errorf("second k='dup': want 1062, got %v", err)
		}
		if _, err := db.Exec("INSERT INTO " + table + " (k, n) VALUES ('afterdup', 6)"); err != nil {
			return err
		}
		return want(nOf("afterdup") == "[6]", "after the duplicate: %s", nOf("afterdup"))
	})
	checkSteps(t, c.stack, g.results, c.extra)
	checkStackWriter(t, w, testDB, table, firstID, c.extra)
}
