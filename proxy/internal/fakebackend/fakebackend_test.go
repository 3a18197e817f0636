package fakebackend

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	gomysql "github.com/go-sql-driver/mysql"
)

// open connects one go-sql-driver connection to s.
func open(t *testing.T, s *Server, params string) *sql.Conn {
	t.Helper()
	db, err := sql.Open("mysql", "app:secret@tcp("+s.Addr()+")/?"+params)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mysqlErr(t *testing.T, err error) *gomysql.MySQLError {
	t.Helper()
	var me *gomysql.MySQLError
	if !errors.As(err, &me) {
		t.Fatalf("got %v, want a server error", err)
	}
	return me
}

func TestRowsAndLog(t *testing.T) {
	s := Start(t, Config{})
	s.On("SELECT id, v FROM t", Rows{Columns: []string{"id", "v"}, Values: [][]any{{1, "a"}, {2, nil}}})
	c := open(t, s, "")
	rows, err := c.QueryContext(context.Background(), "SELECT id, v FROM t")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id int
		var v sql.NullString
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v.String)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []string{"a", ""}) {
		t.Errorf("rows %q", got)
	}
	if got := s.Since(0); !reflect.DeepEqual(got, []string{"SELECT id, v FROM t"}) {
		t.Errorf("received %q", got)
	}
	if s.Received()[0].Conn != 1 || s.Accepted() != 1 {
		t.Errorf("connections: %+v, %d accepted", s.Received(), s.Accepted())
	}
}

// Answers to one text come in order and the last repeats; a prefix
// answers what has no answer of its own; the rest is unscripted.
func TestScriptOrder(t *testing.T) {
	s := Start(t, Config{})
	s.On("SELECT n", Rows{Columns: []string{"n"}, Values: [][]any{{1}}})
	s.On("SELECT n", Rows{Columns: []string{"n"}, Values: [][]any{{2}}})
	s.OnPrefix("SELECT MASTER_GTID_WAIT(", Rows{Columns: []string{"w"}, Values: [][]any{{0}}})
	c := open(t, s, "")
	var got []int
	for _, q := range []string{"SELECT n", "SELECT n", "SELECT n", "SELECT MASTER_GTID_WAIT('0-1-5', 9.5)"} {
		var n int
		if err := c.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
			t.Fatal(q, err)
		}
		got = append(got, n)
	}
	if !reflect.DeepEqual(got, []int{1, 2, 2, 0}) {
		t.Errorf("answers %v", got)
	}
	_, err := c.ExecContext(context.Background(), "DELETE FROM t")
	if me := mysqlErr(t, err); me.Number != 1105 {
		t.Errorf("unscripted: %v", me)
	}
	if got := s.Unscripted(); !reflect.DeepEqual(got, []string{"DELETE FROM t"}) {
		t.Errorf("unscripted %q", got)
	}
}

func TestErrAndOK(t *testing.T) {
	s := Start(t, Config{})
	s.On("INSERT INTO t VALUES (1)", OK{AffectedRows: 1, InsertID: 42})
	s.On("INSERT INTO t VALUES (1)", Err{Code: 1062, State: "23000", Message: "Duplicate entry '1' for key 'PRIMARY'"})
	c := open(t, s, "")
	res, err := c.ExecContext(context.Background(), "INSERT INTO t VALUES (1)")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Errorf("affected %d", n)
	}
	if id, _ := res.LastInsertId(); id != 42 {
		t.Errorf("insert id %d", id)
	}
	_, err = c.ExecContext(context.Background(), "INSERT INTO t VALUES (1)")
	if me := mysqlErr(t, err); me.Number != 1062 || string(me.SQLState[:]) != "23000" {
		t.Errorf("got %v", me)
	}
}

// The OK packet with a GTID is byte for byte what MariaDB 10.11 sent for an
// autocommit INSERT (recorded in consistency/owngtid_test.go).
func TestOKSessionStateMatchesMariaDB(t *testing.T) {
	recorded := []byte{
		0x00, 0x01, 0x01, 0x02, 0x40, 0x00, 0x00, 0x00, 0x12, 0x00, 0x10,
		0x09, 'l', 'a', 's', 't', '_', 'g', 't', 'i', 'd',
		0x05, '0', '-', '7', '-', '6'}
	s := Start(t, Config{})
	s.On("INSERT INTO t (v) VALUES (1)", OK{AffectedRows: 1, InsertID: 1, GTID: "0-7-6"})
	c, err := client.Connect(s.Addr(), "app", "secret", "", func(c *client.Conn) error {
		return c.SetCapability(mysql.CLIENT_SESSION_TRACK)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.ResetSequence()
	if err := c.WritePacket(append([]byte{0, 0, 0, 0, mysql.COM_QUERY}, "INSERT INTO t (v) VALUES (1)"...)); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, recorded) {
		t.Errorf("OK packet\n got % x\nwant % x", got, recorded)
	}
}

// The status flags follow the transaction as a server's do.
func TestTransactionStatus(t *testing.T) {
	s := Start(t, Config{})
	s.On("SELECT 1", Rows{Columns: []string{"1"}, Values: [][]any{{1}}})
	c, err := client.Connect(s.Addr(), "app", "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, step := range []struct {
		sql  string
		inTx bool
		auto bool
	}{
		{"SELECT 1", false, true},
		{"START TRANSACTION", true, true},
		{"SELECT 1", true, true},
		{"COMMIT", false, true},
		{"BEGIN", true, true},
		{"ROLLBACK", false, true},
		{"SET autocommit = 0", false, false},
		{"SELECT 1", true, false},
		{"COMMIT", false, false},
		{"SET SESSION autocommit=1", false, true},
	} {
		r, err := c.Execute(step.sql)
		if err != nil {
			t.Fatal(step.sql, err)
		}
		if inTx, auto := r.Status&mysql.SERVER_STATUS_IN_TRANS != 0, r.Status&mysql.SERVER_STATUS_AUTOCOMMIT != 0; inTx != step.inTx || auto != step.auto {
			t.Errorf("%s: in transaction %v, autocommit %v", step.sql, inTx, auto)
		}
	}
}

// Several results are one multi-result response.
func TestMultiResult(t *testing.T) {
	s := Start(t, Config{})
	s.On("CALL p()", Rows{Columns: []string{"a"}, Values: [][]any{{"x"}}}, Rows{Columns: []string{"b"}, Values: [][]any{{"y"}, {"z"}}}, OK{})
	c := open(t, s, "")
	rows, err := c.QueryContext(context.Background(), "CALL p()")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
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
	if !reflect.DeepEqual(got, []string{"x", "y", "z"}) {
		t.Errorf("got %q", got)
	}
}

// Prepared statements answer from the script in the binary protocol, and
// the log shows the parameters each execute bound.
func TestPrepared(t *testing.T) {
	s := Start(t, Config{})
	s.On("SELECT v FROM t WHERE id = ? AND k = ?", Rows{Columns: []string{"v"}, Values: [][]any{{"seven"}}})
	s.On("UPDATE t SET v = ? WHERE id = ?", OK{AffectedRows: 1})
	c := open(t, s, "")
	ctx := context.Background()
	var v string
	if err := c.QueryRowContext(ctx, "SELECT v FROM t WHERE id = ? AND k = ?", 7, "x").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != "seven" {
		t.Errorf("got %q", v)
	}
	if _, err := c.ExecContext(ctx, "UPDATE t SET v = ? WHERE id = ?", nil, -3); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Prepare SELECT v FROM t WHERE id = ? AND k = ?",
		"Execute SELECT v FROM t WHERE id = ? AND k = ? [7, x]",
		"Close SELECT v FROM t WHERE id = ? AND k = ?",
		"Prepare UPDATE t SET v = ? WHERE id = ?",
		"Execute UPDATE t SET v = ? WHERE id = ? [NULL, -3]",
		"Close UPDATE t SET v = ? WHERE id = ?",
	}
	// The last Close travels without an answer: a Ping behind it makes
	// sure it has arrived.
	if err := c.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.Since(0); !reflect.DeepEqual(got, append(want, "Ping")) {
		t.Errorf("received\n%q\nwant\n%q", got, want)
	}
}

func TestParamsCount(t *testing.T) {
	for q, n := range map[string]int{
		"SELECT ?":                        1,
		"SELECT '?', \"?\", `?`, ?":       1,
		`SELECT 'it\'s ?', ?`:             1,
		"UPDATE t SET a = ?, b = ? WHERE": 2,
	} {
		if got := countParams(q); got != n {
			t.Errorf("%s: %d, want %d", q, got, n)
		}
	}
}

// Hangup and CloseConns end connections the way a server that goes away does.
func TestHangupAndCloseConns(t *testing.T) {
	s := Start(t, Config{})
	s.On("UPDATE t SET v = 2", Hangup{})
	ctx := context.Background()
	c := open(t, s, "")
	if _, err := c.ExecContext(ctx, "UPDATE t SET v = 2"); err == nil {
		t.Fatal("no error after a hangup")
	}
	c2, err := client.Connect(s.Addr(), "app", "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	s.CloseConns()
	if _, err := c2.Execute("SET @a = 1"); err == nil {
		t.Fatal("no error after CloseConns")
	}
	if got := s.Since(0); !reflect.DeepEqual(got, []string{"UPDATE t SET v = 2"}) {
		t.Errorf("received %q", got)
	}
	// It still accepts new connections.
	c3, err := client.Connect(s.Addr(), "app", "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	c3.Close()
}

func TestWrongPassword(t *testing.T) {
	s := Start(t, Config{User: "fwd", Password: "pw"})
	if _, err := client.Connect(s.Addr(), "fwd", "other", ""); err == nil {
		t.Fatal("logged in with a wrong password")
	}
	c, err := client.Connect(s.Addr(), "fwd", "pw", "db1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v := c.GetServerVersion(); v != MariaDB {
		t.Errorf("version %q", v)
	}
}

// A value sent as long data is the parameter's value; a row wider than a
// packet goes in pieces.
func TestLongDataAndLargeRow(t *testing.T) {
	s := Start(t, Config{})
	big := strings.Repeat("b", 1<<24+3)
	s.On("INSERT INTO t VALUES (?, ?)", OK{AffectedRows: 1})
	s.On("SELECT big", Rows{Columns: []string{"big"}, Values: [][]any{{big}}})
	c := open(t, s, "maxAllowedPacket=1000")
	ctx := context.Background()
	long := strings.Repeat("l", 2000) // past maxAllowedPacket/3: sent as long data
	if _, err := c.ExecContext(ctx, "INSERT INTO t VALUES (?, ?)", 1, long); err != nil {
		t.Fatal(err)
	}
	got := s.Received() // the Close after them may still be on its way
	if len(got) < 5 || got[1].Cmd != "LongData" || got[4].Cmd != "Execute" || !reflect.DeepEqual(got[4].Args, []string{"1", long}) {
		t.Errorf("received %+v", got)
	}
	c2 := open(t, s, "")
	var v string
	if err := c2.QueryRowContext(ctx, "SELECT big").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != big {
		t.Errorf("got %d bytes, want %d", len(v), len(big))
	}
}

func TestLocalInfile(t *testing.T) {
	s := Start(t, Config{})
	s.On("LOAD DATA LOCAL INFILE 'Reader::rows' INTO TABLE t", LocalInfile{Name: "Reader::rows"}, OK{AffectedRows: 2})
	gomysql.RegisterReaderHandler("rows", func() io.Reader { return strings.NewReader("1\n2\n") })
	defer gomysql.DeregisterReaderHandler("rows")
	c := open(t, s, "")
	res, err := c.ExecContext(context.Background(), "LOAD DATA LOCAL INFILE 'Reader::rows' INTO TABLE t")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 2 {
		t.Errorf("affected %d", n)
	}
	if got := s.Since(0); !reflect.DeepEqual(got, []string{"LOAD DATA LOCAL INFILE 'Reader::rows' INTO TABLE t", "InfileData 1\n2\n"}) {
		t.Errorf("received %q", got)
	}
}
