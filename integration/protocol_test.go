package integration

// Session state and prepared statements (issue 4), command by command:
// targeted tests through go-sql-driver/mysql and through raw packets with
// the go-mysql client (github.com/go-mysql-org/go-mysql/client), against
// the real pair.

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"

	"github.com/fwdproxy/fwdproxy/proxy"
)

// ---- helpers ----

// protoTable makes a table on the writer with the given columns and waits
// for the replica.
func protoTable(t *testing.T, name, cols string) {
	t.Helper()
	w := writerDB(t)
	for _, q := range []string{"DROP TABLE IF EXISTS " + name, "CREATE TABLE " + name + " (" + cols + ")"} {
		if _, err := w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	waitReplicated(t)
}

// rawConn is a go-mysql client connection through the proxy. It does not
// ask for CLIENT_DEPRECATE_EOF, so result sets end with classic EOF packets
// (what the raw readers below parse).
func rawConn(t *testing.T, addr string, opts ...client.Option) *client.Conn {
	t.Helper()
	opts = append([]client.Option{func(c *client.Conn) error {
		c.UnsetCapability(gmysql.CLIENT_DEPRECATE_EOF)
		return nil
	}}, opts...)
	c, err := client.ConnectWithTimeout(addr, thePair.User, thePair.Password, testDB, 10*time.Second, opts...)
	if err != nil {
		t.Fatalf("go-mysql connect through the proxy: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func rawExec(t *testing.T, c *client.Conn, q string) *gmysql.Result {
	t.Helper()
	r, err := c.Execute(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return r
}

// rawValue runs a one-value query and returns it as a string ("<nil>" for NULL).
func rawValue(t *testing.T, c *client.Conn, q string) string {
	t.Helper()
	return resultValue(t, rawExec(t, c, q), q)
}

// resultValue is the one value of a one-row result (text or binary), as a
// string ("<nil>" for NULL).
func resultValue(t *testing.T, r *gmysql.Result, what string) string {
	t.Helper()
	if r.Resultset == nil || len(r.Values) != 1 {
		t.Fatalf("%s: not one row", what)
	}
	switch v := r.Values[0][0].Value().(type) {
	case nil:
		return "<nil>"
	case []byte:
		return string(v)
	default:
		return fmt.Sprint(v)
	}
}

// sendCmd sends one command packet (payload = command byte + arguments).
func sendCmd(t *testing.T, c *client.Conn, payload ...byte) {
	t.Helper()
	c.ResetSequence()
	if err := c.WritePacket(append(make([]byte, 4, 4+len(payload)), payload...)); err != nil {
		t.Fatalf("write command 0x%02x: %v", payload, err)
	}
}

func readPkt(t *testing.T, c *client.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	p, err := c.ReadPacket()
	if err != nil {
		t.Fatalf("read packet: %v", err)
	}
	return append([]byte(nil), p...)
}

func isEOF(p []byte) bool { return len(p) > 0 && p[0] == 0xfe && len(p) < 9 }

// errPkt decodes an ERR packet as (code, message), or fails.
func errPkt(t *testing.T, p []byte) (uint16, string) {
	t.Helper()
	if len(p) < 3 || p[0] != 0xff {
		t.Fatalf("want an ERR packet, got % x", p[:min(len(p), 32)])
	}
	code := binary.LittleEndian.Uint16(p[1:])
	msg := p[3:]
	if len(msg) > 0 && msg[0] == '#' && len(msg) >= 6 {
		msg = msg[6:]
	}
	return code, string(msg)
}

func wantOKPkt(t *testing.T, p []byte, what string) {
	t.Helper()
	if len(p) == 0 || p[0] != 0x00 {
		if len(p) > 0 && p[0] == 0xff {
			code, msg := errPkt(t, p)
			t.Fatalf("%s: error %d %s", what, code, msg)
		}
		t.Fatalf("%s: want OK, got % x", what, p[:min(len(p), 32)])
	}
}

func wantErrPkt(t *testing.T, p []byte, code uint16, what string) {
	t.Helper()
	if len(p) == 0 || p[0] != 0xff {
		t.Fatalf("%s: want error %d, got % x", what, code, p[:min(len(p), 32)])
	}
	if got, msg := errPkt(t, p); got != code {
		t.Fatalf("%s: want error %d, got %d %s", what, code, got, msg)
	}
}

// eofStatus is the status flags of a classic EOF packet.
func eofStatus(p []byte) uint16 { return binary.LittleEndian.Uint16(p[3:]) }

const (
	statusCursorExists = 0x0040
	statusLastRowSent  = 0x0080
	statusMoreResults  = 0x0008
)

// binParam is one COM_STMT_EXECUTE parameter.
type binParam struct {
	typ  byte
	val  []byte // encoded value; nil with long data
	null bool
}

func pInt(v int64) binParam {
	return binParam{typ: gmysql.MYSQL_TYPE_LONGLONG, val: binary.LittleEndian.AppendUint64(nil, uint64(v))}
}

func pStr(s string) binParam {
	return binParam{typ: gmysql.MYSQL_TYPE_VAR_STRING, val: append(gmysql.PutLengthEncodedInt(uint64(len(s))), s...)}
}

// pLong is a parameter whose value went by COM_STMT_SEND_LONG_DATA.
func pLong() binParam { return binParam{typ: gmysql.MYSQL_TYPE_BLOB} }

// execPayload builds COM_STMT_EXECUTE. bound=false sends
// new-params-bound-flag 0 (types as in the previous execute).
func execPayload(id uint32, flags byte, bound bool, ps ...binParam) []byte {
	b := []byte{gmysql.COM_STMT_EXECUTE}
	b = binary.LittleEndian.AppendUint32(b, id)
	b = append(b, flags)
	b = binary.LittleEndian.AppendUint32(b, 1)
	if len(ps) == 0 {
		return b
	}
	nb := make([]byte, (len(ps)+7)/8)
	for i, p := range ps {
		if p.null {
			nb[i/8] |= 1 << (i % 8)
		}
	}
	b = append(b, nb...)
	if bound {
		b = append(b, 1)
		for _, p := range ps {
			b = append(b, p.typ, 0)
		}
	} else {
		b = append(b, 0)
	}
	for _, p := range ps {
		if !p.null {
			b = append(b, p.val...)
		}
	}
	return b
}

func longDataPayload(id uint32, param uint16, data []byte) []byte {
	b := []byte{gmysql.COM_STMT_SEND_LONG_DATA}
	b = binary.LittleEndian.AppendUint32(b, id)
	b = binary.LittleEndian.AppendUint16(b, param)
	return append(b, data...)
}

func stmtIDPayload(cmd byte, id uint32, extra ...byte) []byte {
	return append(binary.LittleEndian.AppendUint32([]byte{cmd}, id), extra...)
}

// readRows reads classic-EOF-terminated rows and returns them with the
// final EOF's status.
func readRows(t *testing.T, c *client.Conn) ([][]byte, uint16) {
	t.Helper()
	var rows [][]byte
	for {
		p := readPkt(t, c)
		if isEOF(p) {
			return rows, eofStatus(p)
		}
		if p[0] == 0xff {
			code, msg := errPkt(t, p)
			t.Fatalf("error in rows: %d %s", code, msg)
		}
		rows = append(rows, p)
	}
}

// readResultHead reads a result set's column count, columns and EOF
// (first: the packet already read), returning the column count and the
// EOF status.
func readResultHead(t *testing.T, c *client.Conn, first []byte) (int, uint16) {
	t.Helper()
	if first[0] == 0xff {
		code, msg := errPkt(t, first)
		t.Fatalf("want a result set, got error %d %s", code, msg)
	}
	if first[0] == 0x00 {
		t.Fatalf("want a result set, got OK")
	}
	n, _, _ := gmysql.LengthEncodedInt(first)
	for i := 0; i < int(n); i++ {
		readPkt(t, c)
	}
	eof := readPkt(t, c)
	if !isEOF(eof) {
		t.Fatalf("want EOF after the columns, got % x", eof[:min(len(eof), 16)])
	}
	return int(n), eofStatus(eof)
}

// binRowSeqStr decodes a binary row of (BIGINT, string).
func binRowSeqStr(t *testing.T, row []byte) (uint64, string) {
	t.Helper()
	if len(row) < 1+1+8+1 || row[0] != 0x00 {
		t.Fatalf("bad binary row % x", row)
	}
	seq := binary.LittleEndian.Uint64(row[2:])
	s, _, _, err := gmysql.LengthEncodedString(row[10:])
	if err != nil {
		t.Fatalf("bad binary row % x: %v", row, err)
	}
	return seq, string(s)
}

// writerRows returns the writer's rows of q, each column as a string ("<nil>" for NULL).
func writerRows(t *testing.T, q string) [][]string {
	t.Helper()
	rows, err := writerDB(t).Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			if v == nil {
				row[i] = "<nil>"
			} else {
				row[i] = string(v)
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// ---- COM_PING ----

func TestProtocolPing(t *testing.T) {
	addr := startProxy(t, nil)
	c := rawConn(t, addr)
	for i := 0; i < 3; i++ {
		if err := c.Ping(); err != nil {
			t.Fatalf("COM_PING: %v", err)
		}
	}
	if v := rawValue(t, c, "SELECT 1"); v != "1" {
		t.Fatalf("after ping: %s", v)
	}
	g := conn(t, addr, "")
	if err := g.PingContext(ctx); err != nil {
		t.Fatalf("go-sql-driver ping: %v", err)
	}
}

// ---- COM_INIT_DB and USE ----

func TestProtocolInitDB(t *testing.T) {
	const other = "fwdit_proto_db"
	scratchDatabase(t, other)
	w := writerDB(t)
	for _, q := range []string{
		"CREATE TABLE " + other + ".pi (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
		"DROP TABLE IF EXISTS pi", "CREATE TABLE pi (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
	} {
		if _, err := w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	waitReplicated(t)
	delayReplica(t, 1) // read-your-write below must wait
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })

	t.Run("COM_INIT_DB", func(t *testing.T) {
		c := rawConn(t, addr)
		if err := c.UseDB(other); err != nil {
			t.Fatalf("COM_INIT_DB %s: %v", other, err)
		}
		if v := rawValue(t, c, "SELECT DATABASE()"); v != other {
			t.Fatalf("DATABASE() = %s", v)
		}
		rawExec(t, c, "INSERT INTO pi (v) VALUES (1)")
		if v := rawValue(t, c, "SELECT COUNT(*) FROM pi WHERE v = 1"); v != "1" {
			t.Errorf("read-your-write in %s: %s", other, v)
		}
		err := c.UseDB("no_such_db_here")
		var me *gmysql.MyError
		if err == nil || !asMyError(err, &me) || me.Code != 1049 {
			t.Fatalf("COM_INIT_DB of a missing database: %v", err)
		}
		if v := rawValue(t, c, "SELECT DATABASE()"); v != other {
			t.Fatalf("after a failed COM_INIT_DB, DATABASE() = %s", v)
		}
		rawExec(t, c, "INSERT INTO pi (v) VALUES (2)") // still the other database on the writer
		if err := c.UseDB(testDB); err != nil {
			t.Fatal(err)
		}
		rawExec(t, c, "INSERT INTO pi (v) VALUES (3)")
		if got := writerRows(t, "SELECT v FROM "+other+".pi ORDER BY v"); fmt.Sprint(got) != "[[1] [2]]" {
			t.Errorf("writer's %s.pi: %v", other, got)
		}
		if got := writerRows(t, "SELECT v FROM "+testDB+".pi WHERE v = 3"); len(got) != 1 {
			t.Errorf("INSERT after COM_INIT_DB %s went elsewhere: %v", testDB, got)
		}
	})

	t.Run("USE", func(t *testing.T) {
		c := conn(t, addr, "")
		exec(t, c, "USE "+other)
		exec(t, c, "INSERT INTO pi (v) VALUES (10)")
		exec(t, c, "USE `"+testDB+"`")
		exec(t, c, "INSERT INTO pi (v) VALUES (11)")
		if got := writerRows(t, "SELECT v FROM "+other+".pi WHERE v >= 10"); fmt.Sprint(got) != "[[10]]" {
			t.Errorf("writer's %s.pi: %v", other, got)
		}
		if got := writerRows(t, "SELECT v FROM "+testDB+".pi WHERE v >= 10"); fmt.Sprint(got) != "[[11]]" {
			t.Errorf("writer's %s.pi: %v", testDB, got)
		}
	})
}

func asMyError(err error, out **gmysql.MyError) bool {
	for err != nil {
		if me, ok := err.(*gmysql.MyError); ok {
			*out = me
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			// pingcap/errors wraps with Cause().
			if c, ok := err.(interface{ Cause() error }); ok && c.Cause() != err {
				err = c.Cause()
				continue
			}
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// ---- COM_RESET_CONNECTION ----

func TestProtocolResetConnection(t *testing.T) {
	protoTable(t, "prc", "id INT AUTO_INCREMENT PRIMARY KEY, v INT")
	rawW := writerDB(t)
	if _, err := rawW.Exec("INSERT INTO prc (id, v) VALUES (1, 0)"); err != nil {
		t.Fatal(err)
	}
	waitReplicated(t)
	addr := startProxy(t, nil)
	c := rawConn(t, addr)
	rawExec(t, c, "SET aurora_replica_read_consistency = 'SESSION'")
	rawExec(t, c, "SET time_zone = '+05:00'")
	rawExec(t, c, "SET @u = 5")
	rawExec(t, c, "CREATE TEMPORARY TABLE prc_tmp (i INT)")
	st, err := c.Prepare("SELECT ? + 1")
	if err != nil {
		t.Fatal(err)
	}
	rawExec(t, c, "INSERT INTO prc (v) VALUES (@u)") // the writer gets a connection and @u
	if tz := rawValue(t, c, "SELECT @@time_zone FROM prc WHERE id = 1 FOR UPDATE"); tz != "+05:00" {
		t.Fatalf("writer time_zone before the reset: %s", tz)
	}
	rawExec(t, c, "BEGIN")
	rawExec(t, c, "INSERT INTO prc (v) VALUES (99)") // open on the writer

	sendCmd(t, c, gmysql.COM_RESET_CONNECTION)
	wantOKPkt(t, readPkt(t, c), "COM_RESET_CONNECTION")

	if n := count(t, rawW, "SELECT COUNT(*) FROM prc WHERE v = 99"); n != 0 {
		t.Errorf("the transaction open at the reset was not rolled back on the writer")
	}
	if v := rawValue(t, c, "SELECT @u"); v != "<nil>" {
		t.Errorf("user variable survived the reset: %s", v)
	}
	if v := rawValue(t, c, "SELECT @@aurora_replica_read_consistency"); v != "" {
		t.Errorf("aurora_replica_read_consistency after the reset: %q, want the default ''", v)
	}
	if v := rawValue(t, c, "SELECT @@time_zone"); v != "SYSTEM" {
		t.Errorf("reader time_zone after the reset: %s", v)
	}
	if _, err := c.Execute("SELECT * FROM prc_tmp"); err == nil {
		t.Errorf("temporary table survived the reset")
	}
	if _, err := st.Execute(1); err == nil {
		t.Errorf("prepared statement survived the reset")
	}
	var me *gmysql.MyError
	if _, err := c.Execute("INSERT INTO prc (v) VALUES (7)"); err == nil || !asMyError(err, &me) || me.Code != 1290 {
		t.Errorf("write after the reset (consistency ''): want 1290, got %v", err)
	}
	rawExec(t, c, "SET aurora_replica_read_consistency = 'SESSION'")
	if tz := rawValue(t, c, "SELECT @@time_zone FROM prc WHERE id = 1 FOR UPDATE"); tz != "SYSTEM" {
		t.Errorf("writer time_zone after the reset: %s (session state kept on the writer)", tz)
	}
	if v := rawValue(t, c, "SELECT LAST_INSERT_ID()"); v != "0" {
		t.Errorf("LAST_INSERT_ID() after the reset: %s", v)
	}
	rawExec(t, c, "INSERT INTO prc (v) VALUES (@u)")
	if got := writerRows(t, "SELECT v FROM prc ORDER BY id"); fmt.Sprint(got) != "[[0] [5] [<nil>]]" {
		t.Errorf("writer's rows: %v, want [[0] [5] [<nil>]]", got)
	}
}

// ---- COM_STMT_SEND_LONG_DATA ----

// go-sql-driver sends a []byte argument as long data when it is at least
// maxAllowedPacket/(params+1) bytes.
func TestProtocolSendLongData(t *testing.T) {
	protoTable(t, "pld", "id INT PRIMARY KEY, b LONGBLOB")
	delayReplica(t, 1) // read-your-write below must wait
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := conn(t, addr, "maxAllowedPacket=65536")
	blob := make([]byte, 300_000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range blob {
		blob[i] = byte(r.UintN(256))
	}
	ins, err := c.PrepareContext(ctx, "INSERT INTO pld (id, b) VALUES (?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	if _, err := ins.ExecContext(ctx, 1, blob); err != nil {
		t.Fatalf("prepared INSERT with long data: %v", err)
	}
	if got := writerRows(t, "SELECT LENGTH(b), SHA2(b, 256) FROM pld WHERE id = 1"); len(got) != 1 ||
		got[0][0] != "300000" || got[0][1] != fmt.Sprintf("%x", sha256.Sum256(blob)) {
		t.Fatalf("writer's blob: %v", got)
	}
	var back []byte
	if err := c.QueryRowContext(ctx, "SELECT b FROM pld WHERE id = ?", 1).Scan(&back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, blob) {
		t.Errorf("blob read back through the proxy differs (%d bytes)", len(back))
	}
	// A read-class statement with long data runs on the reader.
	var n int
	var id string
	if err := c.QueryRowContext(ctx, "SELECT LENGTH(?), @@server_id", blob).Scan(&n, &id); err != nil {
		t.Fatalf("read with long data: %v", err)
	}
	if n != len(blob) || id != "2" {
		t.Errorf("read with long data: LENGTH %d on server %s", n, id)
	}
}

// ---- COM_STMT_RESET, new-params-bound = 0, COM_STMT_CLOSE (raw) ----

func TestProtocolStmtReset(t *testing.T) {
	protoTable(t, "psr", "id INT AUTO_INCREMENT PRIMARY KEY, v BIGINT, b BLOB")
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := rawConn(t, addr)
	st, err := c.Prepare("INSERT INTO psr (v, b) VALUES (?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	if st.ParamNum() != 2 {
		t.Fatalf("params %d", st.ParamNum())
	}
	// Long data, reset, long data again: only the second reaches the row.
	sendCmd(t, c, longDataPayload(st.ID, 1, []byte("junk-"))...)
	sendCmd(t, c, stmtIDPayload(gmysql.COM_STMT_RESET, st.ID)...)
	wantOKPkt(t, readPkt(t, c), "COM_STMT_RESET")
	sendCmd(t, c, longDataPayload(st.ID, 1, []byte("go"))...)
	sendCmd(t, c, longDataPayload(st.ID, 1, []byte("od"))...)
	sendCmd(t, c, execPayload(st.ID, 0, true, pInt(1), pLong())...)
	wantOKPkt(t, readPkt(t, c), "execute after COM_STMT_RESET")
	// Re-execute with new-params-bound = 0: the types of the first execute hold.
	sendCmd(t, c, longDataPayload(st.ID, 1, []byte("again"))...)
	sendCmd(t, c, execPayload(st.ID, 0, false, pInt(2), pLong())...)
	wantOKPkt(t, readPkt(t, c), "re-execute, new-params-bound 0, long data")
	sendCmd(t, c, execPayload(st.ID, 0, true, pInt(3), pStr("inline"))...)
	wantOKPkt(t, readPkt(t, c), "execute with new types")
	sendCmd(t, c, execPayload(st.ID, 0, false, pInt(4), pStr("inline-2"))...)
	wantOKPkt(t, readPkt(t, c), "re-execute, new-params-bound 0")
	if got := writerRows(t, "SELECT v, b FROM psr ORDER BY id"); fmt.Sprint(got) != "[[1 good] [2 again] [3 inline] [4 inline-2]]" {
		t.Errorf("writer's rows: %v", got)
	}

	// The same on a read-class statement (reader).
	rd, err := c.Prepare("SELECT ? + 0, CONCAT('x', ?)")
	if err != nil {
		t.Fatal(err)
	}
	for i, bound := range []bool{true, false} {
		sendCmd(t, c, execPayload(rd.ID, 0, bound, pInt(int64(40+i)), pStr(fmt.Sprint(i)))...)
		readResultHead(t, c, readPkt(t, c))
		rows, _ := readRows(t, c)
		if len(rows) != 1 {
			t.Fatalf("read execute %d: %d rows", i, len(rows))
		}
	}

	// COM_STMT_CLOSE: no reply; the id is gone afterwards.
	sendCmd(t, c, stmtIDPayload(gmysql.COM_STMT_CLOSE, st.ID)...)
	sendCmd(t, c, execPayload(st.ID, 0, true, pInt(5), pStr("closed"))...)
	wantErrPkt(t, readPkt(t, c), 1243, "execute of a closed statement")
	sendCmd(t, c, stmtIDPayload(gmysql.COM_STMT_RESET, 0xdeadbeef)...)
	wantErrPkt(t, readPkt(t, c), 1243, "COM_STMT_RESET of an unknown statement")
	if v := rawValue(t, c, "SELECT COUNT(*) FROM psr"); v != "4" {
		t.Errorf("COUNT(*) through the proxy: %s", v)
	}
}

// ---- COM_STMT_FETCH with a cursor (raw) ----

func TestProtocolCursorFetch(t *testing.T) {
	protoTable(t, "pcf", "id INT AUTO_INCREMENT PRIMARY KEY, v INT")
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := rawConn(t, addr)

	// fetchAll opens a read-only cursor on st and fetches it `per` rows at a time.
	fetchAll := func(t *testing.T, st *client.Stmt, per uint32) [][]byte {
		t.Helper()
		sendCmd(t, c, execPayload(st.ID, 0x01 /* CURSOR_TYPE_READ_ONLY */, true)...)
		_, status := readResultHead(t, c, readPkt(t, c))
		if status&statusCursorExists == 0 {
			t.Fatalf("no cursor opened (status 0x%04x)", status)
		}
		var all [][]byte
		for i := 0; ; i++ {
			if i > 1000 {
				t.Fatal("cursor never ends")
			}
			sendCmd(t, c, stmtIDPayload(gmysql.COM_STMT_FETCH, st.ID, binary.LittleEndian.AppendUint32(nil, per)...)...)
			rows, status := readRows(t, c)
			if len(rows) > int(per) {
				t.Fatalf("fetch of %d returned %d rows", per, len(rows))
			}
			all = append(all, rows...)
			if status&statusLastRowSent != 0 {
				return all
			}
		}
	}

	st, err := c.Prepare("SELECT seq, CONCAT('r', seq) FROM seq_1_to_100")
	if err != nil {
		t.Fatal(err)
	}
	rows := fetchAll(t, st, 30)
	var sum uint64
	for _, r := range rows {
		seq, s := binRowSeqStr(t, r)
		if s != fmt.Sprintf("r%d", seq) {
			t.Fatalf("row %d %q", seq, s)
		}
		sum += seq
	}
	if len(rows) != 100 || sum != 5050 {
		t.Fatalf("cursor: %d rows, sum %d", len(rows), sum)
	}
	// The statement works again without a cursor.
	if r, err := st.Execute(); err != nil || len(r.Values) != 100 {
		t.Fatalf("execute without cursor after the cursor: %v", err)
	}

	// Inside a forwarded transaction the cursor is on the writer and sees
	// the transaction's own rows: COM_STMT_FETCH must follow it there.
	rawExec(t, c, "SET aurora_replica_read_consistency = 'SESSION'")
	rawExec(t, c, "BEGIN")
	rawExec(t, c, "INSERT INTO pcf (v) VALUES (1), (2), (3)")
	wst, err := c.Prepare("SELECT CAST(v AS SIGNED), CONCAT('w', @@server_id) FROM pcf ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	rows = fetchAll(t, wst, 2)
	if len(rows) != 3 {
		t.Errorf("cursor in a forwarded transaction: %d rows, want 3 (its own uncommitted rows)", len(rows))
	}
	for _, r := range rows {
		if _, s := binRowSeqStr(t, r); s != "w1" {
			t.Errorf("cursor row from server %q, want the writer", s)
		}
	}
	rawExec(t, c, "ROLLBACK")
}

// ---- multi-statements ----

func TestProtocolMultiStatements(t *testing.T) {
	protoTable(t, "pms", "id INT AUTO_INCREMENT PRIMARY KEY, v INT, s VARCHAR(64)")
	delayReplica(t, 1) // read-your-write below must wait
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	w := writerDB(t)

	t.Run("results in order (go-mysql)", func(t *testing.T) {
		c := rawConn(t, addr, func(c *client.Conn) error { return c.SetCapability(gmysql.CLIENT_MULTI_STATEMENTS) })
		var got []string
		_, err := c.ExecuteMultiple("INSERT INTO pms (v) VALUES (1), (1); SELECT COUNT(*) FROM pms WHERE v = 1; UPDATE pms SET v = 2 WHERE v = 1; SELECT @@server_id",
			func(r *gmysql.Result, err error) {
				switch {
				case err != nil:
					got = append(got, "error "+err.Error())
				case r.Resultset != nil && len(r.Fields) > 0:
					got = append(got, fmt.Sprintf("rows %v", r.Values[0][0].Value()))
				default:
					got = append(got, fmt.Sprintf("ok %d", r.AffectedRows))
				}
			})
		if err != nil {
			t.Fatal(err)
		}
		if want := "[ok 2 rows 2 ok 2 rows 2]"; fmt.Sprint(got) != want {
			t.Errorf("results %v, want %s", got, want)
		}
		if n := count(t, w, "SELECT COUNT(*) FROM pms WHERE v = 2"); n != 2 {
			t.Errorf("writer has %d rows with v = 2", n)
		}
		if v := rawValue(t, c, "SELECT 5"); v != "5" {
			t.Errorf("after the batch: %s", v)
		}
	})

	t.Run("results in order (go-sql-driver)", func(t *testing.T) {
		c := conn(t, addr, "multiStatements=true")
		rows, err := c.QueryContext(ctx, "SELECT 'a'; INSERT INTO pms (v) VALUES (3); SELECT v FROM pms WHERE v = 3; SELECT 'z'")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				got = append(got, s)
			}
			if !rows.NextResultSet() {
				break
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if fmt.Sprint(got) != "[a 3 z]" {
			t.Errorf("got %v, want [a 3 z]", got)
		}
	})

	t.Run("a rejected statement ends the batch", func(t *testing.T) {
		c := conn(t, addr, "multiStatements=true")
		_, err := c.ExecContext(ctx, "INSERT INTO pms (v) VALUES (10); CREATE TABLE pms_x (i INT); INSERT INTO pms (v) VALUES (11)")
		wantErr(t, err, 1235, "")
		if n := count(t, w, "SELECT COUNT(*) FROM pms WHERE v = 10"); n != 1 {
			t.Errorf("the statement before the rejection: %d rows", n)
		}
		if n := count(t, w, "SELECT COUNT(*) FROM pms WHERE v = 11"); n != 0 {
			t.Errorf("the statement after the rejection ran")
		}
		if n := count(t, w, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '"+testDB+"' AND table_name = 'pms_x'"); n != 0 {
			t.Errorf("the rejected DDL ran")
		}
		if v := one(t, c, "SELECT 6"); v != "6" {
			t.Errorf("after the batch: %s", v)
		}
		// A failing statement of the writer ends the batch too.
		_, err = c.ExecContext(ctx, "INSERT INTO pms (id, v) VALUES (1, 12); INSERT INTO pms (v) VALUES (13)")
		wantErr(t, err, 1062, "")
		if n := count(t, w, "SELECT COUNT(*) FROM pms WHERE v = 13"); n != 0 {
			t.Errorf("the statement after a duplicate-key error ran")
		}
	})

	t.Run("splitting under NO_BACKSLASH_ESCAPES", func(t *testing.T) {
		c := conn(t, addr, "multiStatements=true")
		exec(t, c, "INSERT INTO pms (v, s) VALUES (20, 'x\\'; INSERT INTO pms (v, s) VALUES (21, '); SELECT 1")
		exec(t, c, "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
		exec(t, c, "INSERT INTO pms (v, s) VALUES (22, 'a\\'); INSERT INTO pms (v, s) VALUES (23, 'b;c') /* ; */; -- x;\nINSERT INTO pms (v, s) VALUES (24, \"q\\\")")
		got := writerRows(t, "SELECT v, s FROM pms WHERE v >= 20 ORDER BY v")
		want := [][]string{{"20", "x'; INSERT INTO pms (v, s) VALUES (21, "}, {"22", `a\`}, {"23", "b;c"}, {"24", `q\`}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("writer has %q, want %q", got, want)
		}
	})
}

// ---- user variables carried to the writer ----

func TestProtocolUserVariables(t *testing.T) {
	protoTable(t, "puv", "id INT AUTO_INCREMENT PRIMARY KEY, tag VARCHAR(16), v BIGINT, s VARCHAR(32) CHARACTER SET utf8mb4, d DECIMAL(10,3), b VARBINARY(16)")
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := conn(t, addr, "")
	steps := []string{
		"SET @v = 5", "INSERT INTO puv (tag, v) VALUES ('set', @v)",
		"SELECT 7 INTO @w", "INSERT INTO puv (tag, v) VALUES ('into', @w)",
		"SET @s = 'héllo wörld ✓'", "INSERT INTO puv (tag, s) VALUES ('string', @s)",
		"SET @q = (SELECT MAX(v) FROM puv)", "INSERT INTO puv (tag, v) VALUES ('subquery', @q)",
		"SET @d = 12.345", "INSERT INTO puv (tag, d) VALUES ('decimal', @d)",
		"SET @b = X'00FF10'", "INSERT INTO puv (tag, b) VALUES ('binary', @b)",
		"SET @n = NULL", "INSERT INTO puv (tag, v) VALUES ('null', @n)",
		"SET @big = 9007199254740993", "INSERT INTO puv (tag, v) VALUES ('bigint', @big)",
		"SET @v = 8", "INSERT INTO puv (tag, v) VALUES ('changed', @v)",
		"INSERT INTO puv (tag, v) SELECT 'expr', @v + @w",
		"SET @a = 1, @c = 2", "UPDATE puv SET v = @a + @c WHERE tag = 'null'",
		"PREPARE pst FROM 'INSERT INTO puv (tag, v) VALUES (''prepared'', ?)'", "SET @p = 31", "EXECUTE pst USING @p",
		"SET @p = 32", "EXECUTE pst USING @p",
	}
	for _, q := range steps {
		exec(t, c, q)
	}
	got := map[string]string{}
	for _, r := range writerRows(t, "SELECT tag, COALESCE(v, s, d, HEX(b), 'NULL') FROM puv ORDER BY id") {
		got[r[0]] += r[1] + " "
	}
	want := map[string]string{
		"set": "5 ", "into": "7 ", "string": "héllo wörld ✓ ", "subquery": "7 ", "decimal": "12.345 ",
		"binary": "00FF10 ", "null": "3 ", "bigint": "9007199254740993 ", "changed": "8 ", "expr": "15 ",
		"prepared": "31 32 ",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: writer has %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("writer rows %v", got)
	}
}

// ---- LAST_INSERT_ID(), ROW_COUNT(), SHOW WARNINGS/ERRORS after a forwarded statement ----

func TestProtocolDiagnosticsAfterForward(t *testing.T) {
	protoTable(t, "pdg", "id INT AUTO_INCREMENT PRIMARY KEY, s VARCHAR(4)")
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := conn(t, addr, "")
	exec(t, c, "SET SESSION sql_mode = ''")
	exec(t, c, "INSERT INTO pdg (s) VALUES ('toolong')")
	rows, err := c.QueryContext(ctx, "SHOW WARNINGS")
	if err != nil {
		t.Fatal(err)
	}
	var warns []string
	for rows.Next() {
		var level, code, msg string
		if err := rows.Scan(&level, &code, &msg); err != nil {
			t.Fatal(err)
		}
		warns = append(warns, level+" "+code+" "+msg)
	}
	rows.Close()
	if fmt.Sprint(warns) != "[Warning 1265 Data truncated for column 's' at row 1]" {
		t.Errorf("SHOW WARNINGS after a forwarded INSERT: %q", warns)
	}
	exec(t, c, "INSERT INTO pdg (s) VALUES ('toolong2')")
	if v := one(t, c, "SELECT @@warning_count"); v != "1" {
		t.Errorf("@@warning_count after a forwarded INSERT: %s", v)
	}
	r := exec(t, c, "INSERT INTO pdg (s) VALUES ('ok')")
	id, _ := r.LastInsertId()
	if v := one(t, c, "SELECT LAST_INSERT_ID()"); v != fmt.Sprint(id) {
		t.Errorf("LAST_INSERT_ID() = %s, want %d", v, id)
	}
	exec(t, c, "UPDATE pdg SET s = 'x' WHERE s LIKE 'tool'")
	if v := one(t, c, "SELECT ROW_COUNT()"); v != "2" {
		t.Errorf("ROW_COUNT() after a forwarded UPDATE: %s, want 2", v)
	}
	if got := writerRows(t, "SELECT s FROM pdg ORDER BY id"); fmt.Sprint(got) != "[[x] [x] [ok]]" {
		t.Errorf("writer's rows %v (non-strict sql_mode not carried?)", got)
	}
	// A forwarded error: SHOW ERRORS answers from the writer.
	wantErr(t, errOf(c, fmt.Sprintf("INSERT INTO pdg (id, s) VALUES (%d, 'dup')", id)), 1062, "")
	var level, code, msg string
	if err := c.QueryRowContext(ctx, "SHOW ERRORS").Scan(&level, &code, &msg); err != nil || code != "1062" {
		t.Errorf("SHOW ERRORS after a forwarded error: %s %s %v", code, msg, err)
	}
	// sql_mode back to strict: the writer refuses the long value.
	exec(t, c, "SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
	wantErr(t, errOf(c, "INSERT INTO pdg (s) VALUES ('toolong')"), 1406, "")
	// Reads between do not lose the writer's values.
	r = exec(t, c, "INSERT INTO pdg (s) VALUES ('y')")
	id, _ = r.LastInsertId()
	if v := one(t, c, "SELECT COUNT(*) FROM pdg"); v == "" {
		t.Fatal("count")
	}
	if v := one(t, c, "SELECT LAST_INSERT_ID()"); v != fmt.Sprint(id) {
		t.Errorf("LAST_INSERT_ID() after a read = %s, want %d", v, id)
	}
}

// ---- LOAD DATA LOCAL INFILE ----

func TestProtocolLoadDataLocal(t *testing.T) {
	protoTable(t, "pldl", "v INT, s VARCHAR(32)")
	path := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(path, []byte("1,one\n2,two\n3,three\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mysql.RegisterLocalFile(path)
	t.Cleanup(func() { mysql.DeregisterLocalFile(path) })
	var handlerCalls atomic.Int32
	mysql.RegisterReaderHandler("pldl", func() io.Reader {
		handlerCalls.Add(1)
		return strings.NewReader("7,seven\n")
	})
	t.Cleanup(func() { mysql.DeregisterReaderHandler("pldl") })

	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := conn(t, addr, "")
	exec(t, c, "CREATE TEMPORARY TABLE pldl_tmp (v INT, s VARCHAR(32))")
	r, err := c.ExecContext(ctx, "LOAD DATA LOCAL INFILE '"+path+"' INTO TABLE pldl_tmp FIELDS TERMINATED BY ','")
	if err != nil {
		t.Fatalf("LOAD DATA LOCAL into a temporary table: %v", err)
	}
	if n, _ := r.RowsAffected(); n != 3 {
		t.Errorf("rows affected %d", n)
	}
	if v := one(t, c, "SELECT CONCAT(COUNT(*), ':', SUM(v), ':', GROUP_CONCAT(s ORDER BY v)) FROM pldl_tmp"); v != "3:6:one,two,three" {
		t.Errorf("temporary table after LOAD: %s", v)
	}
	_, err = c.ExecContext(ctx, "LOAD DATA LOCAL INFILE 'Reader::pldl' INTO TABLE pldl FIELDS TERMINATED BY ','")
	wantErr(t, err, 1235, "")
	if n := handlerCalls.Load(); n != 0 {
		t.Errorf("the proxy asked the client for the file (%d times) before rejecting", n)
	}
	if v := one(t, c, "SELECT 8"); v != "8" {
		t.Errorf("after the rejection: %s", v)
	}
	if n := count(t, writerDB(t), "SELECT COUNT(*) FROM pldl"); n != 0 {
		t.Errorf("the permanent table got %d rows", n)
	}
	// The session goes on: the same handler, into the temporary table.
	_, err = c.ExecContext(ctx, "LOAD DATA LOCAL INFILE 'Reader::pldl' INTO TABLE pldl_tmp FIELDS TERMINATED BY ','")
	if err != nil {
		t.Fatalf("second LOAD into the temporary table: %v", err)
	}
	if v := one(t, c, "SELECT COUNT(*) FROM pldl_tmp"); v != "4" {
		t.Errorf("temporary table has %s rows, want 4", v)
	}
}

// ---- packets of 16 MB and more ----

// setMaxAllowedPacket sets max_allowed_packet on both servers (new
// connections) and puts the old values back when the test ends.
func setMaxAllowedPacket(t *testing.T, n int) {
	t.Helper()
	for _, addr := range []string{thePair.WriterAddr, thePair.ReaderAddr} {
		db, err := thePair.RootDB(addr)
		if err != nil {
			t.Fatal(err)
		}
		var old int
		if err := db.QueryRow("SELECT @@GLOBAL.max_allowed_packet").Scan(&old); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(fmt.Sprintf("SET GLOBAL max_allowed_packet = %d", n)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if _, err := db.Exec(fmt.Sprintf("SET GLOBAL max_allowed_packet = %d", old)); err != nil {
				t.Errorf("restore max_allowed_packet: %v", err)
			}
			db.Close()
		})
	}
}

func TestProtocolLargeRow(t *testing.T) {
	setMaxAllowedPacket(t, 64<<20)
	protoTable(t, "pbig", "id INT PRIMARY KEY, b LONGBLOB")
	delayReplica(t, 1) // read-your-write below must wait
	// The proxy's max-allowed-packet goes up with the backends'.
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION"; c.MaxPacket = 64 << 20 })
	r := rand.New(rand.NewPCG(3, 4))
	mk := func(n int) []byte {
		b := make([]byte, n+8)
		for i := 0; i < n; i += 8 {
			binary.LittleEndian.PutUint64(b[i:], r.Uint64())
		}
		return b[:n]
	}
	const maxPayload = 1<<24 - 1
	blobs := map[int][]byte{
		1: mk(20 << 20), // prepared INSERT, packets split in both directions
		// The COM_STMT_EXECUTE payload is exactly 0xffffff (then an empty
		// packet): 1+4+1+4 header, null bitmap 1, bound 1, types 4, id 8,
		// length prefix 4.
		2: mk(maxPayload - 28),
		// A text result row of exactly 0xffffff: length prefix 4.
		3: mk(maxPayload - 4),
		4: mk(20 << 20), // text COM_QUERY > 16 MB (interpolateParams)
	}
	c := conn(t, addr, "")
	ins, err := c.PrepareContext(ctx, "INSERT INTO pbig (id, b) VALUES (?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	for _, id := range []int{1, 2, 3} {
		if _, err := ins.ExecContext(ctx, id, blobs[id]); err != nil {
			t.Fatalf("prepared INSERT of %d bytes: %v", len(blobs[id]), err)
		}
	}
	ci := conn(t, addr, "interpolateParams=true")
	if _, err := ci.ExecContext(ctx, "INSERT INTO pbig (id, b) VALUES (?, ?)", 4, blobs[4]); err != nil {
		t.Fatalf("text INSERT of %d bytes: %v", len(blobs[4]), err)
	}
	for id, b := range blobs {
		want := fmt.Sprintf("%d %x", len(b), sha256.Sum256(b))
		if got := writerRows(t, fmt.Sprintf("SELECT CONCAT(LENGTH(b), ' ', SHA2(b, 256)) FROM pbig WHERE id = %d", id)); fmt.Sprint(got) != "[["+want+"]]" {
			t.Errorf("writer's row %d: %v, want %s", id, got, want)
		}
	}
	// Each session reads its own rows first (SESSION read-your-write), then,
	// once the replica has everything, the other session's.
	readBack := func(g *sql.Conn, proto string, id int) {
		t.Helper()
		var back []byte
		var err error
		if proto == "binary" { // prepared: binary protocol
			err = g.QueryRowContext(ctx, "SELECT b FROM pbig WHERE id = ?", id).Scan(&back)
		} else {
			err = g.QueryRowContext(ctx, fmt.Sprintf("SELECT b FROM pbig WHERE id = %d", id)).Scan(&back)
		}
		if err != nil {
			t.Fatalf("%s SELECT of row %d: %v", proto, id, err)
		}
		if !bytes.Equal(back, blobs[id]) {
			t.Errorf("row %d read back (%s) differs: %d bytes, want %d", id, proto, len(back), len(blobs[id]))
		}
	}
	for _, id := range []int{1, 2, 3} {
		readBack(c, "binary", id)
	}
	readBack(ci, "text", 4)
	waitReplicated(t)
	for _, id := range []int{1, 2, 3} {
		readBack(ci, "text", id)
	}
	readBack(c, "binary", 4)
	if v := one(t, c, "SELECT COUNT(*) FROM pbig"); v != "4" {
		t.Errorf("after the large rows: %s", v)
	}
}

// ---- unknown commands and the other simple commands (raw) ----

func TestProtocolUnknownCommand(t *testing.T) {
	protoTable(t, "puc", "id INT AUTO_INCREMENT PRIMARY KEY, v INT")
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := rawConn(t, addr)
	rawExec(t, c, "SET @keep = 41")
	for _, payload := range [][]byte{{0x63}, {0x63, 0x00}, {0x20}, {0xee, 1, 2, 3}, {}} {
		sendCmd(t, c, payload...)
		wantErrPkt(t, readPkt(t, c), 1047, fmt.Sprintf("command % x", payload))
		if v := rawValue(t, c, "SELECT @keep + 1"); v != "42" {
			t.Fatalf("after command % x: %s", payload, v)
		}
	}
	rawExec(t, c, "INSERT INTO puc (v) VALUES (@keep)")
	if n := count(t, writerDB(t), "SELECT COUNT(*) FROM puc WHERE v = 41"); n != 1 {
		t.Errorf("forwarding after unknown commands: %d rows", n)
	}

	t.Run("COM_FIELD_LIST", func(t *testing.T) {
		fs, err := c.FieldList("puc", "")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range fs {
			names = append(names, string(f.Name))
		}
		if fmt.Sprint(names) != "[id v]" {
			t.Errorf("fields %v", names)
		}
	})
	// No column matches the wildcard: the answer is a lone EOF, and the
	// session goes on (the relay once waited for definitions after it).
	t.Run("COM_FIELD_LIST matching nothing", func(t *testing.T) {
		sendCmd(t, c, append([]byte{gmysql.COM_FIELD_LIST}, "puc\x00nomatch%"...)...)
		if p := readPkt(t, c); !isEOF(p) {
			t.Fatalf("answer % x, want an EOF", p)
		}
		if v := rawValue(t, c, "SELECT @keep + 1"); v != "42" {
			t.Fatalf("after the field list: %s", v)
		}
	})
	t.Run("COM_STATISTICS", func(t *testing.T) {
		sendCmd(t, c, gmysql.COM_STATISTICS)
		p := readPkt(t, c)
		if !bytes.Contains(p, []byte("Uptime")) {
			t.Errorf("COM_STATISTICS: %q", p)
		}
	})
	t.Run("COM_SET_OPTION", func(t *testing.T) {
		sendCmd(t, c, gmysql.COM_SET_OPTION, 0, 0) // MYSQL_OPTION_MULTI_STATEMENTS_ON
		if p := readPkt(t, c); !isEOF(p) {
			t.Fatalf("COM_SET_OPTION on: % x", p)
		}
		var n int
		if _, err := c.ExecuteMultiple("SELECT 1; SELECT 2", func(r *gmysql.Result, err error) {
			if err == nil {
				n++
			}
		}); err != nil || n != 2 {
			t.Fatalf("multi-statement after COM_SET_OPTION on: %d results, %v", n, err)
		}
		sendCmd(t, c, gmysql.COM_SET_OPTION, 1, 0) // off
		if p := readPkt(t, c); !isEOF(p) {
			t.Fatalf("COM_SET_OPTION off: % x", p)
		}
		var me *gmysql.MyError
		if _, err := c.Execute("SELECT 1; SELECT 2"); err == nil || !asMyError(err, &me) || me.Code != 1064 {
			t.Errorf("multi-statement with the option off: want 1064, got %v", err)
		}
		if v := rawValue(t, c, "SELECT 3"); v != "3" {
			t.Errorf("after: %s", v)
		}
	})
}

// ---- a write-class prepared statement survives the writer connection's replacement ----

func TestProtocolReprepareAfterWriterIdle(t *testing.T) {
	protoTable(t, "prp", "id INT AUTO_INCREMENT PRIMARY KEY, v INT")
	addr := startProxy(t, func(c *proxy.Config) {
		c.DefaultConsistency = "SESSION"
		c.WriterIdleTimeout = 1
	})
	g := conn(t, addr, "")
	st, err := g.PrepareContext(ctx, "INSERT INTO prp (v) VALUES (?)")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.ExecContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	c := rawConn(t, addr)
	rst, err := c.Prepare("INSERT INTO prp (v) VALUES (?)")
	if err != nil {
		t.Fatal(err)
	}
	sendCmd(t, c, execPayload(rst.ID, 0, true, pInt(10))...)
	wantOKPkt(t, readPkt(t, c), "raw execute")

	time.Sleep(2500 * time.Millisecond) // the writer connections idle out
	if _, err := st.ExecContext(ctx, 2); err != nil {
		t.Errorf("execute after the writer connection was replaced: %v", err)
	}
	// new-params-bound = 0 on a statement the new writer connection never saw.
	sendCmd(t, c, execPayload(rst.ID, 0, false, pInt(11))...)
	wantOKPkt(t, readPkt(t, c), "raw re-execute (bound 0) after the writer connection was replaced")
	if got := writerRows(t, "SELECT v FROM prp ORDER BY id"); fmt.Sprint(got) != "[[1] [10] [2] [11]]" {
		t.Errorf("writer's rows %v", got)
	}
}

// ---- the proxy's variable inside expressions ----

// Aurora's aurora_replica_read_consistency is a server variable: clients
// read it inside expressions and next to other variables too.
func TestProtocolAuroraVariableInExpressions(t *testing.T) {
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := conn(t, addr, "")
	for q, want := range map[string]string{
		"SELECT CONCAT('c:', @@aurora_replica_read_consistency)":  "c:SESSION",
		"SELECT LOWER(@@session.aurora_replica_read_consistency)": "session",
		"SELECT @@aurora_replica_read_consistency = 'SESSION'":    "1",
		"SELECT @@aurora_replica_read_consistency, @@autocommit":  "SESSION",
		"SELECT @@autocommit, @@aurora_replica_read_consistency":  "1",
		"select @@aurora_replica_read_consistency as c from dual": "SESSION",
	} {
		var got string
		rows, err := c.QueryContext(ctx, q)
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		if rows.Next() {
			cols, _ := rows.Columns()
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Errorf("%s: %v", q, err)
			}
			got = vals[0].String
		}
		rows.Close()
		if got != want {
			t.Errorf("%s = %q, want %q", q, got, want)
		}
	}
}

// LAST_INSERT_ID() of a forwarded INSERT used inside other statements, as
// SQL scripts do (`SET @id = LAST_INSERT_ID()`, `WHERE id = LAST_INSERT_ID()`).
// A server (and Aurora's reader) keeps it in the session; the proxy must
// not let the reader's 0 answer.
func TestProtocolLastInsertIDInExpressions(t *testing.T) {
	protoTable(t, "plid", "id INT AUTO_INCREMENT PRIMARY KEY, v INT")
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := conn(t, addr, "")
	r := exec(t, c, "INSERT INTO plid (v) VALUES (1)")
	id, _ := r.LastInsertId()
	want := fmt.Sprint(id)
	if v := one(t, c, "SELECT LAST_INSERT_ID()"); v != want {
		t.Fatalf("SELECT LAST_INSERT_ID() = %s, want %s", v, want)
	}
	for q, w := range map[string]string{
		"SELECT LAST_INSERT_ID() + 0":                           want,
		"SELECT CONCAT('id=', LAST_INSERT_ID())":                "id=" + want,
		"SELECT v FROM plid WHERE id = LAST_INSERT_ID()":        "1",
		"SELECT last_insert_id() AS id":                         want,
		"SELECT LAST_INSERT_ID(), @@server_id IS NOT NULL AS x": want,
	} {
		var got sql.NullString
		rows, err := c.QueryContext(ctx, q)
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		if rows.Next() {
			cols, _ := rows.Columns()
			dst := make([]any, len(cols))
			dst[0] = &got
			for i := 1; i < len(cols); i++ {
				dst[i] = new(sql.RawBytes)
			}
			if err := rows.Scan(dst...); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
		rows.Close()
		if got.String != w {
			t.Errorf("%s = %q, want %q", q, got.String, w)
		}
	}
	exec(t, c, "SET @id = LAST_INSERT_ID()")
	if v := one(t, c, "SELECT @id"); v != want {
		t.Errorf("SET @id = LAST_INSERT_ID(): @id = %s, want %s", v, want)
	}
}

// Session statements as binary prepared statements (sysbench prepares
// BEGIN and COMMIT; Connector/J and mysql2 `execute` prepare whatever they
// are given): a prepared statement goes where its prepared text would, so
// they behave as their text forms, with forwarding off or on.
func TestProtocolPreparedSessionStatements(t *testing.T) {
	protoTable(t, "ppss", "id INT AUTO_INCREMENT PRIMARY KEY, v INT")
	addr := startProxy(t, nil)
	w := writerDB(t)
	for _, level := range []string{"", "SESSION"} {
		t.Run("consistency '"+level+"'", func(t *testing.T) {
			c := conn(t, addr, "")
			exec(t, c, "SET aurora_replica_read_consistency = '"+level+"'")
			for _, q := range []string{"SET @a = 1", "BEGIN", "COMMIT", "START TRANSACTION", "ROLLBACK", "SET SESSION sql_mode = 'STRICT_ALL_TABLES'"} {
				if err := prepErrOf(c, q); err != nil {
					t.Errorf("prepared %s: %v", q, err)
				}
			}
			if v := one(t, c, "SELECT @a"); v != "1" {
				t.Errorf("after a prepared SET @a = 1, the session has @a = %q", v)
			}
			var got string
			if st, err := c.PrepareContext(ctx, "SELECT @@aurora_replica_read_consistency"); err != nil {
				t.Errorf("prepare SELECT @@aurora_replica_read_consistency: %v", err)
			} else {
				if err := st.QueryRowContext(ctx).Scan(&got); err != nil || got != level {
					t.Errorf("prepared SELECT @@aurora_replica_read_consistency: %q, %v", got, err)
				}
				st.Close()
			}
			if level == "" {
				return
			}
			if err := prepErrOf(c, "SET @b = 7"); err != nil {
				t.Errorf("prepared SET @b = 7: %v", err)
			}
			exec(t, c, "INSERT INTO ppss (v) VALUES (@b)")
			if n := count(t, w, "SELECT COUNT(*) FROM ppss WHERE v = 7"); n != 1 {
				t.Errorf("@b from a prepared SET did not reach the writer")
			}
			// A prepared BEGIN opens a transaction the proxy knows about.
			if err := prepErrOf(c, "BEGIN"); err != nil {
				t.Fatalf("prepared BEGIN: %v", err)
			}
			exec(t, c, "INSERT INTO ppss (v) VALUES (1)")
			if id := one(t, c, "SELECT @@server_id"); id != "1" {
				t.Errorf("read in a forwarded transaction opened by a prepared BEGIN ran on server %s", id)
			}
			if err := prepErrOf(c, "ROLLBACK"); err != nil {
				t.Fatalf("prepared ROLLBACK: %v", err)
			}
			if n := count(t, w, "SELECT COUNT(*) FROM ppss WHERE v = 1"); n != 0 {
				t.Errorf("prepared ROLLBACK left the forwarded INSERT committed")
			}
			if err := prepErrOf(c, "START TRANSACTION"); err != nil {
				t.Fatalf("prepared START TRANSACTION: %v", err)
			}
			exec(t, c, "INSERT INTO ppss (v) VALUES (2)")
			if n := count(t, w, "SELECT COUNT(*) FROM ppss WHERE v = 2"); n != 0 {
				t.Errorf("INSERT after a prepared START TRANSACTION committed at once")
			}
			if err := prepErrOf(c, "COMMIT"); err != nil {
				t.Fatalf("prepared COMMIT: %v", err)
			}
			if n := count(t, w, "SELECT COUNT(*) FROM ppss WHERE v = 2"); n != 1 {
				t.Errorf("prepared COMMIT did not commit")
			}
		})
	}
}

// A command packet with a wrong sequence number: MariaDB answers 1156
// (08S01) "Got packets out of order" at sequence 0 and closes the
// connection; the proxy answers the same bytes and closes too. Before, it
// ran the command.
func TestProtocolCommandOutOfOrder(t *testing.T) {
	addr := startProxy(t, nil)
	for _, seq := range []byte{1, 5, 255} {
		want := outOfOrder(t, thePair.WriterAddr, seq)
		if got := outOfOrder(t, addr, seq); got != want {
			t.Errorf("COM_QUERY at sequence %d: the proxy answered\n  %s\nMariaDB\n  %s", seq, got, want)
		}
	}
}

// outOfOrder logs in to addr, sends COM_QUERY "SELECT 1" at sequence seq
// and describes every packet of the answer, then whether the connection
// closed.
func outOfOrder(t *testing.T, addr string, seq byte) string {
	t.Helper()
	c, err := client.Connect(addr, thePair.User, thePair.Password, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw := c.Conn.Conn
	q := "SELECT 1"
	if _, err := raw.Write(append([]byte{byte(len(q) + 1), 0, 0, seq, 0x03}, q...)); err != nil {
		t.Fatal(err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second)) // a bound that only catches a connection left open
	var out []string
	for len(out) < 8 {
		var h [4]byte
		if _, err := io.ReadFull(raw, h[:]); errors.Is(err, os.ErrDeadlineExceeded) {
			return strings.Join(append(out, "still open"), "; ")
		} else if err != nil {
			return strings.Join(append(out, "closed"), "; ")
		}
		p := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
		if _, err := io.ReadFull(raw, p); err != nil {
			return strings.Join(append(out, "cut"), "; ")
		}
		out = append(out, fmt.Sprintf("seq %d %q", h[3], p))
	}
	return strings.Join(append(out, "still open"), "; ")
}

// Session variables set through COM_STMT_EXECUTE with bound values reach
// the writer as the text form's do, alone or mixed in one SET with the
// proxy's own variables (issue 14): a forwarded write sees the session's
// time_zone, and the proxy's variable takes the bound value.
func TestProtocolBoundSessionSet(t *testing.T) {
	protoTable(t, "bss", "id INT AUTO_INCREMENT PRIMARY KEY, form VARCHAR(40), tz VARCHAR(20), mode VARCHAR(200)")
	addr := startProxy(t, nil)
	w := writerDB(t)
	type form struct {
		name string
		set  func(c *sql.Conn) error
		tz   string // the session's time_zone after it
		lvl  string // the session's consistency after it
	}
	text := func(q string) func(c *sql.Conn) error { return func(c *sql.Conn) error { return errOf(c, q) } }
	texts := func(qs ...string) func(c *sql.Conn) error {
		return func(c *sql.Conn) error {
			for _, q := range qs {
				if err := errOf(c, q); err != nil {
					return err
				}
			}
			return nil
		}
	}
	bound := func(q string, args ...any) func(c *sql.Conn) error {
		return func(c *sql.Conn) error { _, err := c.ExecContext(ctx, q, args...); return err } // COM_STMT_EXECUTE
	}
	for _, f := range []form{
		{"text time_zone", text("SET time_zone = '+05:00'"), "+05:00", "SESSION"},
		{"bound time_zone", bound("SET time_zone = ?", "+05:00"), "+05:00", "SESSION"},
		{"text mixed", text("SET aurora_replica_read_consistency = 'GLOBAL', time_zone = '+06:00'"), "+06:00", "GLOBAL"},
		{"bound mixed", bound("SET aurora_replica_read_consistency = ?, time_zone = ?", "GLOBAL", "+06:00"), "+06:00", "GLOBAL"},
		{"bound mixed, own variable bound last", bound("SET SESSION time_zone = ?, aurora_replica_read_consistency = ?", "+07:00", "EVENTUAL"), "+07:00", "EVENTUAL"},
		{"bound mixed with a user variable", bound("SET @u = ?, aurora_replica_read_consistency = ?, time_zone = ?", 3, "GLOBAL", "+08:00"), "+08:00", "GLOBAL"},
		{"EXECUTE USING", texts("PREPARE sz FROM 'SET time_zone = ?'", "SET @tz = '+04:00'", "EXECUTE sz USING @tz"), "+04:00", "SESSION"},
		{"EXECUTE USING mixed", texts("PREPARE sm FROM 'SET aurora_replica_read_consistency = ?, time_zone = CONCAT(?, ?)'",
			"SET @l = 'GLOBAL', @h = '+09', @m = ':30'", "EXECUTE sm USING @l, @h, @m"), "+09:30", "GLOBAL"},
	} {
		t.Run(f.name, func(t *testing.T) {
			c := conn(t, addr, "")
			exec(t, c, "SET aurora_replica_read_consistency = 'SESSION'")
			if err := f.set(c); err != nil {
				t.Fatalf("SET: %v", err)
			}
			if got := one(t, c, "SELECT @@aurora_replica_read_consistency"); got != f.lvl {
				t.Errorf("consistency %q, want %q", got, f.lvl)
			}
			if got := one(t, c, "SELECT @@session.time_zone"); got != f.tz {
				t.Errorf("the reader's time_zone %q, want %q", got, f.tz)
			}
			if f.name == "bound mixed with a user variable" {
				if got := one(t, c, "SELECT @u"); got != "3" {
					t.Errorf("@u = %q, want 3", got)
				}
			}
			exec(t, c, "INSERT INTO bss (form, tz) VALUES ('"+f.name+"', @@session.time_zone)")
			var got string
			if err := w.QueryRow("SELECT tz FROM bss WHERE form = ?", f.name).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != f.tz {
				t.Errorf("the writer ran the forwarded INSERT at time_zone %q, want %q", got, f.tz)
			}
		})
	}
}

// A bound SET's errors are its text form's: a bad value of the proxy's
// variable is refused before any of the SET runs, and an unknown variable
// gets the server's error.
func TestProtocolBoundSessionSetErrors(t *testing.T) {
	addr := startProxy(t, nil)
	for _, tc := range []struct {
		text, bound string
		args        []any
	}{
		{"SET aurora_replica_read_consistency = 'BOGUS', time_zone = '+03:00'",
			"SET aurora_replica_read_consistency = ?, time_zone = ?", []any{"BOGUS", "+03:00"}},
		{"SET time_zone = '+03:00', no_such_variable = 1", "SET time_zone = ?, no_such_variable = ?", []any{"+03:00", 1}},
		{"SET sql_select_limit = 'ten'", "SET sql_select_limit = ?", []any{"ten"}},
	} {
		c := conn(t, addr, "")
		textErr := errOf(c, tc.text)
		_, boundErr := c.ExecContext(ctx, tc.bound, tc.args...)
		var te, be *mysql.MySQLError
		if !errors.As(textErr, &te) || !errors.As(boundErr, &be) || te.Number != be.Number {
			t.Errorf("%s: text %v, bound %v", tc.bound, textErr, boundErr)
		}
		if got := one(t, c, "SELECT @@session.time_zone"); got != "SYSTEM" {
			t.Errorf("%s: time_zone %q after the refused SETs, want SYSTEM", tc.bound, got)
		}
	}
	c := conn(t, addr, "")
	exec(t, c, "PREPARE sz FROM 'SET time_zone = ?'")
	wantErr(t, errOf(c, "EXECUTE sz USING @a, @b"), 1210, "Incorrect arguments to EXECUTE")
	wantErr(t, errOf(c, "EXECUTE sz"), 1210, "Incorrect arguments to EXECUTE")
}

// The compressed protocol (CLIENT_COMPRESS) between a client and the
// proxy: reads, a forwarded write, a prepared statement and a result
// larger than a compressed frame come through whole (integration/diff
// checks that the proxy negotiates it and answers as MariaDB does).
func TestProtocolCompressed(t *testing.T) {
	protoTable(t, "pcz", "id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20)")
	addr := startProxy(t, nil)
	c := conn(t, addr, "compress=true")
	exec(t, c, "SET aurora_replica_read_consistency = 'SESSION'")
	exec(t, c, "INSERT INTO pcz (v) VALUES (?)", "zipped")
	if got := one(t, c, "SELECT v FROM pcz WHERE id = LAST_INSERT_ID()"); got != "zipped" {
		t.Errorf("read back %q", got)
	}
	if got := one(t, c, "SELECT MD5(GROUP_CONCAT(seq)) FROM (SELECT seq FROM seq_1_to_200000) s"); got == "" {
		t.Error("no digest")
	}
	if got := one(t, c, "SELECT COUNT(*) FROM (SELECT REPEAT('y', 200) FROM seq_1_to_100000) s"); got != "100000" {
		t.Errorf("count %s", got)
	}
	rows, err := c.QueryContext(ctx, "SELECT REPEAT('x', seq) FROM seq_1_to_3000")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		if n++; len(s) != n {
			t.Fatalf("row %d has %d bytes", n, len(s))
		}
	}
	if err := rows.Err(); err != nil || n != 3000 {
		t.Fatalf("%d rows, %v", n, err)
	}
	if got := one(t, c, "SELECT REPEAT('x', 5000000)"); len(got) != 5000000 {
		t.Errorf("a 5 MB value came as %d bytes", len(got))
	}
}
