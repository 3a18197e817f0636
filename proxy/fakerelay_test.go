package proxy_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	gomysql "github.com/go-sql-driver/mysql"

	fb "github.com/fwdproxy/fwdproxy/proxy/internal/fakebackend"
)

// A result set reaches the client whole: many rows, NULLs, a row wider
// than the proxy's buffers and one wider than a packet (16 MiB, sent in
// two pieces).
func TestFakeRelayRows(t *testing.T) {
	r := startRig(t, nil)
	const n = 3000
	var want [][]string
	var vals [][]any
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("row %d", i)
		switch i {
		case 7:
			v = strings.Repeat("w", 100<<10)
		case 2999:
			v = strings.Repeat("p", 1<<24+10)
		}
		vals = append(vals, []any{i, v, nil})
		want = append(want, []string{fmt.Sprint(i), v, "NULL"})
	}
	r.reader.On("SELECT id, v, n FROM big", fb.Rows{Columns: []string{"id", "v", "n"}, Values: vals})
	r.reader.On("SELECT 1", one("1", 1))
	c := r.client(t, "")
	got := query(t, c, "SELECT id, v, n FROM big")
	if len(got) != n {
		t.Fatalf("%d rows, want %d", len(got), n)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("row %d differs (%d bytes, want %d)", i, len(got[i][1]), len(want[i][1]))
		}
	}
	// The stream is still in step.
	if got := query(t, c, "SELECT 1"); got[0][0] != "1" {
		t.Errorf("next query got %v", got)
	}
}

// resultSets reads every result set of one query.
func resultSets(t *testing.T, c *sql.Conn, q string) [][][]string {
	t.Helper()
	rows, err := c.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sets [][][]string
	for {
		set, err := scanAll(rows)
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, set)
		if !rows.NextResultSet() {
			return sets
		}
	}
}

// A multi-statement batch is split and each statement routed on its own;
// the client gets one response with MORE_RESULTS between its parts.
func TestFakeRelayBatch(t *testing.T) {
	r := startRig(t, nil)
	r.reader.On("SELECT 'a' AS a", one("a", "a"))
	r.writer.On("INSERT INTO t VALUES (16)", fb.OK{AffectedRows: 1})
	r.reader.On("SELECT 'b' AS b", one("b", "b"))
	c := r.client(t, "multiStatements=true")
	m := r.mark()
	got := resultSets(t, c, "SELECT 'a' AS a; INSERT INTO t VALUES (16); SELECT 'b' AS b")
	if want := [][][]string{{{"a"}}, {{"b"}}}; !reflect.DeepEqual(got, want) {
		t.Errorf("result sets %q, want %q", got, want)
	}
	r.expect(t, m, []string{trackingSetup, "INSERT INTO t VALUES (16)"}, []string{"SELECT 'a' AS a", "SELECT 'b' AS b"})
}

// An error ends a batch: the client gets the backend's ERR as it was, and
// the statements after it do not run.
func TestFakeRelayErr(t *testing.T) {
	r := startRig(t, nil)
	r.reader.On("SELECT 'a' AS a", one("a", "a"))
	r.reader.On("SELECT nope FROM t", fb.Err{Code: 1054, State: "42S22", Message: "Unknown column 'nope' in 'field list'"})
	r.reader.On("SELECT * FROM gone", fb.Err{Code: 1146, State: "42S02", Message: "Table 'app.gone' doesn't exist"})
	c := r.client(t, "multiStatements=true")
	m := r.mark()
	_, err := c.QueryContext(context.Background(), "SELECT * FROM gone")
	wantErr(t, err, 1146, "Table 'app.gone' doesn't exist")
	rows, err := c.QueryContext(context.Background(), "SELECT 'a' AS a; SELECT nope FROM t; SELECT 'b' AS b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scanAll(rows); err != nil {
		t.Fatal(err)
	}
	if rows.NextResultSet() {
		t.Error("a result set after the error")
	}
	wantErr(t, rows.Err(), 1054, "Unknown column 'nope'")
	rows.Close()
	if got := query(t, c, "SELECT 'a' AS a"); got[0][0] != "a" {
		t.Errorf("next query got %v", got)
	}
	r.expect(t, m, nil, []string{"SELECT * FROM gone", "SELECT 'a' AS a", "SELECT nope FROM t", "SELECT 'a' AS a"})
}

// A writer's ERR inside a transaction is the client's error and leaves the
// transaction open on the writer.
func TestFakeRelayWriterErrInTransaction(t *testing.T) {
	r := startRig(t, nil)
	r.writer.On("INSERT INTO t VALUES (17)", fb.Err{Code: 1062, State: "23000", Message: "Duplicate entry '17' for key 'PRIMARY'"})
	r.writer.On("INSERT INTO t VALUES (18)", fb.OK{AffectedRows: 1})
	c := r.client(t, "")
	m := r.mark()
	exec(t, c, "BEGIN")
	_, err := c.ExecContext(context.Background(), "INSERT INTO t VALUES (17)")
	wantErr(t, err, 1062, "Duplicate entry '17'")
	exec(t, c, "INSERT INTO t VALUES (18)")
	exec(t, c, "COMMIT")
	r.expect(t, m, []string{trackingSetup, "START TRANSACTION", "INSERT INTO t VALUES (17)", "INSERT INTO t VALUES (18)", "COMMIT"}, nil)
}

// A backend's own multi-result response (a CALL, which runs on the reader
// in a session that does not forward) is relayed with its MORE_RESULTS.
func TestFakeRelayMultiResult(t *testing.T) {
	r := startRig(t, withLevel(""))
	r.reader.On("CALL report()", one("a", "x"), fb.Rows{Columns: []string{"b"}, Values: [][]any{{"y"}, {"z"}}}, fb.OK{})
	r.reader.On("SELECT 1", one("1", 1))
	c := r.client(t, "")
	got := resultSets(t, c, "CALL report()")
	if want := [][][]string{{{"x"}}, {{"y"}, {"z"}}}; !reflect.DeepEqual(got, want) {
		t.Errorf("result sets %q, want %q", got, want)
	}
	if got := query(t, c, "SELECT 1"); got[0][0] != "1" {
		t.Errorf("next query got %v", got)
	}
}

// A prepared read is prepared and executed on the reader; a prepared write
// is prepared on the reader (its guard lifted for the prepare, so that the
// metadata comes from a server) and executed on the writer, where the
// proxy prepares it first.
func TestFakePreparedRouting(t *testing.T) {
	r := startRig(t, nil)
	const sel, upd = "SELECT v FROM t WHERE id = ?", "UPDATE t SET v = ? WHERE id = ?"
	r.reader.On(sel, one("v", "seven"))
	r.writer.On(upd, fb.OK{AffectedRows: 1})
	r.reader.On("SELECT 1", one("1", 1))
	c := r.client(t, "")
	m := r.mark()
	if got := query(t, c, sel, 7); got[0][0] != "seven" {
		t.Errorf("prepared read got %v", got)
	}
	if n, _ := exec(t, c, upd, "x", 7).RowsAffected(); n != 1 {
		t.Errorf("prepared write affected %d", n)
	}
	query(t, c, "SELECT 1") // the Closes travel unanswered: this follows them on the reader
	// The writer's Close is on another connection, not ordered with the
	// reader's SELECT 1: wait for it (the bound only keeps a lost one from hanging).
	for i := 0; i < 500 && !slices.Contains(r.writer.Since(m.w), "Close "+upd); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	r.expect(t, m,
		[]string{trackingSetup, "Prepare " + upd, "Execute " + upd + " [x, 7]", "Close " + upd},
		[]string{"Prepare " + sel, "Execute " + sel + " [7]", "Close " + sel,
			"SET SESSION tx_read_only = 0", "Prepare " + upd, "SET SESSION tx_read_only = 1", "Close " + upd,
			"SELECT 1"})
}

// At SESSION a prepared read inside a forwarded transaction executes on
// the writer, as its text would; a statement PREPAREd in SQL too.
func TestFakePreparedInTransaction(t *testing.T) {
	r := startRig(t, withLevel("SESSION"))
	const sel = "SELECT v FROM t WHERE id = ?"
	r.writer.On("INSERT INTO t VALUES (19)", fb.OK{AffectedRows: 1})
	r.writer.On(sel, one("v", "on writer"))
	r.reader.On("PREPARE s FROM 'SELECT v FROM t'", fb.OK{Info: "Statement prepared"})
	r.writer.On("PREPARE `s` FROM @fwdproxy_prepare", fb.OK{Info: "Statement prepared"})
	r.writer.On("EXECUTE s", one("v", "on writer"))
	r.writer.On("COMMIT", fb.OK{GTID: "0-1-60"})
	r.reader.OnPrefix("SELECT MASTER_GTID_WAIT('0-1-60', ", one("w", 0))
	r.reader.On("SELECT 1", one("1", 1))
	c := r.client(t, "")
	exec(t, c, "PREPARE s FROM 'SELECT v FROM t'")
	m := r.mark()
	exec(t, c, "BEGIN")
	exec(t, c, "INSERT INTO t VALUES (19)")
	if got := query(t, c, sel, 19); got[0][0] != "on writer" {
		t.Errorf("prepared read got %v", got)
	}
	if got := query(t, c, "EXECUTE s"); got[0][0] != "on writer" {
		t.Errorf("EXECUTE got %v", got)
	}
	exec(t, c, "COMMIT")
	query(t, c, "SELECT 1") // the reader's COMMIT travels unanswered: this follows it
	// The reader's START TRANSACTION travels with the first statement it
	// gets in the transaction, the prepare.
	r.expect(t, m,
		[]string{trackingSetup, "START TRANSACTION", "INSERT INTO t VALUES (19)",
			"Prepare " + sel, "Execute " + sel + " [19]", "Close " + sel,
			"SET @fwdproxy_prepare = X'" + fmt.Sprintf("%x", "SELECT v FROM t") + "'", "PREPARE `s` FROM @fwdproxy_prepare", "EXECUTE s",
			"COMMIT"},
		[]string{"START TRANSACTION", "Prepare " + sel, "Close " + sel, "COMMIT", "SELECT MASTER_GTID_WAIT('0-1-60', *", "SELECT 1"})
}

// Temporary tables live on the reader: their statements run there with
// the read-only guard lifted for just that statement, LOAD DATA LOCAL
// INFILE into one relays the client's file, and inside a forwarded
// transaction at SESSION their reads stay on the reader.
func TestFakeTemporaryTables(t *testing.T) {
	r := startRig(t, withLevel("SESSION"))
	const load = "LOAD DATA LOCAL INFILE 'Reader::fake-rows' INTO TABLE tmp"
	r.reader.On("CREATE TEMPORARY TABLE tmp (a INT)", fb.OK{})
	r.reader.On(load, fb.LocalInfile{Name: "Reader::fake-rows"}, fb.OK{AffectedRows: 2})
	r.reader.On("SELECT a FROM tmp", fb.Rows{Columns: []string{"a"}, Values: [][]any{{1}, {2}}})
	r.reader.On("DROP TEMPORARY TABLE tmp", fb.OK{})
	r.writer.On("INSERT INTO t VALUES (23)", fb.OK{AffectedRows: 1})
	gomysql.RegisterReaderHandler("fake-rows", func() io.Reader { return strings.NewReader("1\n2\n") })
	defer gomysql.DeregisterReaderHandler("fake-rows")
	c := r.client(t, "")
	m := r.mark()
	exec(t, c, "CREATE TEMPORARY TABLE tmp (a INT)")
	if n, _ := exec(t, c, load).RowsAffected(); n != 2 {
		t.Errorf("LOAD DATA affected %d", n)
	}
	exec(t, c, "BEGIN")
	exec(t, c, "INSERT INTO t VALUES (23)")
	if got := query(t, c, "SELECT a FROM tmp"); len(got) != 2 {
		t.Errorf("read of the temporary table got %q", got)
	}
	exec(t, c, "COMMIT")
	exec(t, c, "DROP TEMPORARY TABLE tmp")
	guardDown, guardUp := "SET SESSION tx_read_only = 0", "SET SESSION tx_read_only = 1"
	r.expect(t, m,
		[]string{trackingSetup, "START TRANSACTION", "INSERT INTO t VALUES (23)", "COMMIT"},
		[]string{guardDown, "CREATE TEMPORARY TABLE tmp (a INT)", guardUp,
			load, "InfileData 1\n2\n", // DML on a temporary table keeps the guard up
			"START TRANSACTION", "SELECT a FROM tmp", "COMMIT",
			guardDown, "DROP TEMPORARY TABLE tmp", guardUp})
}

// A prepared write whose value is sent as long data: the long data goes to
// the writer, where the execute runs. After the writer connection is
// replaced, the statement is prepared again on the new one.
func TestFakePreparedLongDataAndReprepare(t *testing.T) {
	r := startRig(t, nil)
	const ins = "INSERT INTO t (id, doc) VALUES (?, ?)"
	r.writer.On(ins, fb.OK{AffectedRows: 1})
	c := r.client(t, "maxAllowedPacket=1000") // a value past 1000/3 bytes is long data
	ctx := context.Background()
	st, err := c.PrepareContext(ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := r.mark()
	doc := strings.Repeat("d", 400)
	if _, err := st.ExecContext(ctx, 1, doc); err != nil {
		t.Fatal(err)
	}
	r.writer.CloseConns()
	if _, err := st.ExecContext(ctx, 2, "short"); err != nil {
		t.Fatal(err)
	}
	r.expect(t, m,
		[]string{trackingSetup, "Prepare " + ins, "LongData " + ins, "Execute " + ins + " [1, " + doc + "]",
			trackingSetup, "Prepare " + ins, "Execute " + ins + " [2, short]"},
		nil)
}

// A prepared statement's execute after the writer lost the transaction
// gets the terminated error, as a text statement would.
func TestFakePreparedTerminated(t *testing.T) {
	r := startRig(t, nil)
	const upd = "UPDATE t SET v = ? WHERE id = ?"
	r.writer.On("INSERT INTO t VALUES (24)", fb.OK{AffectedRows: 1})
	r.writer.On(upd, fb.OK{AffectedRows: 1})
	c := r.client(t, "")
	ctx := context.Background()
	st, err := c.PrepareContext(ctx, upd)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	exec(t, c, "BEGIN")
	exec(t, c, "INSERT INTO t VALUES (24)")
	r.writer.CloseConns()
	_, err = st.ExecContext(ctx, "x", 24)
	wantErr(t, err, 1105, terminated)
	if _, err := st.ExecContext(ctx, "x", 24); err != nil {
		t.Fatal(err)
	}
}

// MariaDB's statement id -1 names the statement prepared last: the npm
// mariadb connector sends a PREPARE and its first EXECUTE in one go. After
// a prepare that failed (here one the proxy rejects), or after the last
// statement was closed, it names none: 1243, as MariaDB answers, and never
// an earlier statement.
func TestFakeLastStatementID(t *testing.T) {
	r := startRig(t, withLevel("SESSION"))
	const a, b = "SELECT a FROM t WHERE id = ?", "SELECT b FROM t WHERE id = ?"
	r.reader.On(a, one("a", "from a"))
	r.reader.On(b, one("b", "from b"))
	c := mariaClient(t, r.addr, extCacheMetadata) // as the connector connects
	prepare := func(sql string) { command(t, c, append([]byte{mysql.COM_STMT_PREPARE}, sql...)) }
	last := func() []byte { // the ERR, or the row
		got := command(t, c, executeOne(0xffffffff, 7))
		return got[max(0, len(got)-2)]
	}
	steps := []struct {
		name    string
		prepare string
		closeID uint32 // COM_STMT_CLOSE of this id first
		want    string // the row, or the error
	}{
		{"after a prepare", a, 0, "from a"},
		{"again", "", 0, "from a"},
		{"after another prepare", b, 0, "from b"},
		{"after a rejected prepare", "CREATE TABLE t2 (i INT)", 0, "1243"},
		{"after a prepare again", a, 0, "from a"},
		{"after its close", "", 3, "1243"},
	}
	for _, st := range steps {
		if st.prepare != "" {
			prepare(st.prepare)
		}
		if st.closeID != 0 {
			sendRaw(t, c, binary.LittleEndian.AppendUint32([]byte{mysql.COM_STMT_CLOSE}, st.closeID))
		}
		got := last()
		var text string
		if got[0] == 0xff {
			text = fmt.Sprint(binary.LittleEndian.Uint16(got[1:]))
		} else {
			text = string(got[3:]) // header, null bitmap, length, value
		}
		if text != st.want {
			t.Errorf("%s: execute of statement -1 got %q (% x), want %s", st.name, text, got, st.want)
		}
	}
}

// rawClient is a go-mysql client through the proxy, for the protocol's
// details: status flags and the commands database/sql never sends.
func (r *rig) rawClient(t *testing.T) *client.Conn {
	t.Helper()
	c, err := client.Connect(r.addr, "app", "secret", "", func(c *client.Conn) error {
		return c.SetCapability(mysql.CLIENT_MULTI_STATEMENTS)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sendRaw sends one command on c and returns the reader of its answer's
// packets, which fails t on an error.
func sendRaw(t *testing.T, c *client.Conn, payload []byte) func() []byte {
	t.Helper()
	c.ResetSequence()
	if err := c.WritePacket(append([]byte{0, 0, 0, 0}, payload...)); err != nil {
		t.Fatal(err)
	}
	return func() []byte {
		p, err := c.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// statuses sends one COM_QUERY and returns the status flags of each part
// of its response (the OK, or the EOF that ends a result set), reading
// the packets as they come; an ERR ends the list with 0xffff.
func statuses(t *testing.T, c *client.Conn, q string) []uint16 {
	t.Helper()
	read := sendRaw(t, c, append([]byte{mysql.COM_QUERY}, q...))
	var out []uint16
	for {
		p := read()
		var st uint16
		switch p[0] {
		case 0xff:
			return append(out, 0xffff)
		case 0x00:
			st = c.HandleOKPacket(p).Status
		default:
			for n := int(p[0]); n > 0; n-- { // column definitions
				read()
			}
			read() // EOF
			for p = read(); p[0] != 0xfe || len(p) >= 9; p = read() {
			}
			st = uint16(p[3]) | uint16(p[4])<<8
		}
		out = append(out, st)
		if st&mysql.SERVER_MORE_RESULTS_EXISTS == 0 {
			return out
		}
	}
}

// The client's status flags are the session's, whichever backend ran the
// statement: IN_TRANS through a forwarded transaction, MORE_RESULTS
// between the parts of a batch and never after the last.
func TestFakeClientStatusFlags(t *testing.T) {
	r := startRig(t, nil)
	r.writer.On("INSERT INTO t VALUES (25)", fb.OK{AffectedRows: 1})
	r.reader.On("SELECT 1", one("1", 1))
	r.reader.On("SELECT nope", fb.Err{Code: 1054, State: "42S22", Message: "Unknown column 'nope' in 'field list'"})
	c := r.rawClient(t)
	const auto, inTx, more = mysql.SERVER_STATUS_AUTOCOMMIT, mysql.SERVER_STATUS_IN_TRANS, mysql.SERVER_MORE_RESULTS_EXISTS
	for _, step := range []struct {
		sql  string
		want []uint16
	}{
		{"SELECT 1", []uint16{auto}},
		{"BEGIN", []uint16{auto | inTx}},
		{"INSERT INTO t VALUES (25)", []uint16{auto | inTx}},
		{"SELECT 1", []uint16{auto | inTx}},
		{"COMMIT", []uint16{auto}},
		{"INSERT INTO t VALUES (25); SELECT 1; SELECT 1", []uint16{auto | more, auto | more, auto}},
		{"BEGIN; INSERT INTO t VALUES (25); COMMIT", []uint16{auto | inTx | more, auto | inTx | more, auto}},
		{"SELECT 1; SELECT nope; SELECT 1", []uint16{auto | more, 0xffff}},
	} {
		if got := statuses(t, c, step.sql); !reflect.DeepEqual(got, step.want) {
			t.Errorf("%s: status %#x, want %#x", step.sql, got, step.want)
		}
	}
}

// Commands other than queries: COM_INIT_DB and COM_RESET_CONNECTION reach
// the reader, COM_PING the proxy answers itself; an unknown command is 1047.
func TestFakeOtherCommands(t *testing.T) {
	r := startRig(t, nil)
	r.writer.On("INSERT INTO t VALUES (26)", fb.OK{AffectedRows: 1})
	c := r.rawClient(t)
	m := r.mark()
	if err := c.UseDB("app"); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Execute("INSERT INTO t VALUES (26)"); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []byte{mysql.COM_RESET_CONNECTION, 0x7f} {
		c.ResetSequence()
		if err := c.WritePacket([]byte{0, 0, 0, 0, cmd}); err != nil {
			t.Fatal(err)
		}
		p, err := c.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		if ok := p[0] == 0x00; ok != (cmd == mysql.COM_RESET_CONNECTION) {
			t.Errorf("command %#x answered % x", cmd, p)
		}
	}
	// The reset dropped the writer connection: the next write opens
	// another, in the database the client chose.
	if _, err := c.Execute("INSERT INTO t VALUES (26)"); err != nil {
		t.Fatal(err)
	}
	r.expect(t, m,
		[]string{trackingSetup, "INSERT INTO t VALUES (26)", trackingSetup, "INSERT INTO t VALUES (26)"},
		[]string{"InitDB app", "ResetConnection", "SET SESSION tx_read_only = 1"})
}
