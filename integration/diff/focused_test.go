package diff

// One test per fixed difference, each failing on the code before its fix.

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
)

// exchange sends one COM_QUERY on c, reads the whole answer and returns
// its first packet.
func exchange(t *testing.T, c *rawClient, sql string) []byte {
	t.Helper()
	if err := c.command(append([]byte{gmysql.COM_QUERY}, sql...)); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if _, err := c.readResponse(textResult, nil); err != nil {
		t.Fatalf("%s: %v (read: %v)", sql, err, hexLines(c.got))
	}
	return c.got[0]
}

func rawDial(t *testing.T, addr string, caps uint32) *rawClient {
	t.Helper()
	c, err := dialRaw(dialOptions{addr: addr, user: thePair.User, password: thePair.Password, db: testDB, caps: caps, charset: 45})
	if err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
	t.Cleanup(c.close)
	return c
}

// The greeting and the handshake's OK announce autocommit, and the
// default collation, as the reader's do: PyMySQL and mysqlclient skip
// their SET autocommit=0 when the greeting says autocommit is off, and
// then rollback() does nothing. The OK carries the schema as MariaDB's
// does for a client with CLIENT_SESSION_TRACK.
func TestHandshakeSaysWhatTheReaderSays(t *testing.T) {
	h := newHarness(t)
	for _, caps := range []uint32{baseCaps, baseCaps | gmysql.CLIENT_SESSION_TRACK} {
		r := rawDial(t, thePair.ReaderAddr, caps)
		p := rawDial(t, h.proxyAddr, caps)
		if r.greet.status != gmysql.SERVER_STATUS_AUTOCOMMIT {
			t.Fatalf("the reader's greeting says status %s; this test expects MariaDB's default", statusString(r.greet.status))
		}
		if p.greet.status != r.greet.status {
			t.Errorf("greeting status: proxy %s, reader %s", statusString(p.greet.status), statusString(r.greet.status))
		}
		if p.greet.charset != r.greet.charset {
			t.Errorf("greeting collation: proxy %d, reader %d", p.greet.charset, r.greet.charset)
		}
		// The OK whole: status, and the schema in a session-state block
		// for a client that tracks it.
		if !bytes.Equal(p.authOK, r.authOK) {
			t.Errorf("handshake OK (caps %s):\n proxy  % x\n reader % x", capsString(caps), p.authOK, r.authOK)
		}
	}
}

// A forwarded UPDATE's OK reaches a client without CLIENT_SESSION_TRACK
// byte for byte as the writer sends it, info length-prefixed (PHP mysqlnd
// lost the connection on the unprefixed form), and the connection goes on.
func TestForwardedOKForPlainClients(t *testing.T) {
	h := newHarness(t)
	setup := []string{"DROP TABLE IF EXISTS okinfo", "CREATE TABLE okinfo (id INT PRIMARY KEY, v INT)",
		"INSERT INTO okinfo VALUES (1, 1), (2, 2), (3, 3)"}
	for _, q := range []string{
		"UPDATE okinfo SET v = 2 WHERE id <= 2",
		"INSERT INTO okinfo VALUES (1, 9), (4, 4) ON DUPLICATE KEY UPDATE v = VALUES(v)",
		"INSERT INTO okinfo VALUES (5, 5), (6, 6)",
		"DELETE FROM okinfo WHERE id = 3",
	} {
		h.execAll(t, setup)
		want := exchange(t, rawDial(t, thePair.WriterAddr, baseCaps), q)
		h.execAll(t, setup)
		c := rawDial(t, h.proxyAddr, baseCaps)
		if got := exchange(t, c, q); !bytes.Equal(got, want) {
			t.Errorf("%s:\n proxy  % x\n writer % x", q, got, want)
		}
		if got := exchange(t, c, "SELECT 1"); got[0] != 1 {
			t.Errorf("after %s the connection is out of step: % x", q, got)
		}
	}
}

// CLIENT_FOUND_ROWS reaches the backends, so an UPDATE reports the rows it
// matched, not only those it changed (Connector/J asks for it by default).
func TestFoundRowsReachesTheWriter(t *testing.T) {
	h := newHarness(t)
	h.execAll(t, []string{"DROP TABLE IF EXISTS found", "CREATE TABLE found (id INT PRIMARY KEY, v INT)",
		"INSERT INTO found VALUES (1, 1), (2, 2)"})
	c := rawDial(t, h.proxyAddr, baseCaps|gmysql.CLIENT_FOUND_ROWS)
	if c.caps&gmysql.CLIENT_FOUND_ROWS == 0 {
		t.Fatal("the proxy does not offer CLIENT_FOUND_ROWS")
	}
	var f fields
	decodeOK(&f, "", exchange(t, c, "UPDATE found SET v = 2"), c.caps)
	if got := value(f, "affected_rows"); got != "2" {
		t.Fatalf("affected rows %s, want 2 (matched): %v", got, f)
	}
}

// An interactive client's session has wait_timeout = interactive_timeout
// on every server it uses: the proxy offers CLIENT_INTERACTIVE and asks the
// backends for it. The writer's interactive_timeout is set apart for the
// test (and restored), and a forwarded write records the writer session's
// wait_timeout.
func TestInteractiveClientsWaitTimeout(t *testing.T) {
	h := newHarness(t)
	var was, wait string
	if err := h.writer.QueryRow("SELECT @@global.interactive_timeout, @@global.wait_timeout").Scan(&was, &wait); err != nil {
		t.Fatal(err)
	}
	h.execAll(t, []string{"DROP TABLE IF EXISTS itimeout", "CREATE TABLE itimeout (who VARCHAR(16), v BIGINT)"})
	if _, err := h.writer.Exec("SET GLOBAL interactive_timeout = 1234"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = h.writer.Exec("SET GLOBAL interactive_timeout = " + was) })
	for _, caps := range []uint32{baseCaps, baseCaps | gmysql.CLIENT_INTERACTIVE} {
		d := rawDial(t, thePair.WriterAddr, caps)
		p := rawDial(t, h.proxyAddr, caps)
		if p.caps != d.caps {
			t.Fatalf("negotiated caps: proxy %s, writer %s", capsString(p.caps), capsString(d.caps))
		}
		exchange(t, d, "INSERT INTO itimeout SELECT 'direct', @@wait_timeout")
		exchange(t, p, "INSERT INTO itimeout SELECT 'proxy', @@wait_timeout")
		var direct, proxied string
		if err := h.writer.QueryRow("SELECT (SELECT v FROM itimeout WHERE who = 'direct'), (SELECT v FROM itimeout WHERE who = 'proxy')").Scan(&direct, &proxied); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]string{false: wait, true: "1234"}[caps&gmysql.CLIENT_INTERACTIVE != 0]; direct != want {
			t.Fatalf("the writer itself gives wait_timeout %s for caps %s; this test expects %s", direct, capsString(caps), want)
		}
		if proxied != direct {
			t.Errorf("wait_timeout of the writer session (caps %s): proxy %s, direct %s", capsString(caps), proxied, direct)
		}
		if _, err := h.writer.Exec("DELETE FROM itimeout"); err != nil {
			t.Fatal(err)
		}
	}
}

// MariaDB's extended capabilities (the upper 32 bits):
// MARIADB_CLIENT_PROGRESS (1<<32: progress reports, ERR-headed packets with
// code 0xFFFF before or among a long statement's answer),
// MARIADB_CLIENT_STMT_BULK_OPERATIONS (1<<34),
// MARIADB_CLIENT_EXTENDED_METADATA (1<<35) and
// MARIADB_CLIENT_CACHE_METADATA (1<<36).
const (
	extProgress      = 1 << 0
	extStmtBulk      = 1 << 2
	extExtendedTypes = 1 << 3
	extCacheMetadata = 1 << 4
)

// mariaDial connects as a MariaDB client (no CLIENT_LONG_PASSWORD, so
// extended capabilities count) that asks for ext, and checks it got them.
func mariaDial(t *testing.T, addr string, ext uint32) *rawClient {
	t.Helper()
	c, err := dialRaw(dialOptions{addr: addr, user: thePair.User, password: thePair.Password, db: testDB,
		caps: baseCaps &^ gmysql.CLIENT_LONG_PASSWORD, ext: ext, charset: 45})
	if err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
	t.Cleanup(c.close)
	if c.ext != ext {
		t.Fatalf("%s: extended capabilities %#x, asked for %#x", addr, c.ext, ext)
	}
	return c
}

// bulkPacket is COM_STMT_BULK_EXECUTE of stmt with the parameter types
// and, per row, an indicator and value per parameter (nil: NULL).
func bulkPacket(stmt uint32, types []byte, rows [][][]byte) []byte {
	b := binary.LittleEndian.AppendUint32([]byte{0xfa}, stmt)
	b = binary.LittleEndian.AppendUint16(b, 128) // the types follow
	for _, t := range types {
		b = append(b, t, 0)
	}
	for _, r := range rows {
		for _, v := range r {
			if v == nil {
				b = append(b, 1) // NULL
				continue
			}
			b = append(append(b, 0), v...)
		}
	}
	return b
}

// A bulk execute (MariaDB Connector/J's batches) runs where an execute of
// its statement runs, here the writer, with the writer's answer; the
// session learns its GTID, so a read right after sees the rows. A client
// that did not ask for bulk operations gets what the server gives it.
func TestBulkExecute(t *testing.T) {
	h := newHarness(t)
	rows := [][][]byte{{le(4, 1), lenencBytes("a")}, {le(4, 2), nil}, {le(4, 3), lenencBytes("c")}}
	run := func(addr string, ext uint32) (*rawClient, fields) {
		h.execAll(t, []string{"DROP TABLE IF EXISTS bulkt", "CREATE TABLE bulkt (id INT PRIMARY KEY, v VARCHAR(10))"})
		c := mariaDial(t, addr, ext)
		if err := c.command(append([]byte{gmysql.COM_STMT_PREPARE}, "INSERT INTO bulkt VALUES (?, ?)"...)); err != nil {
			t.Fatal(err)
		}
		f, err := c.readResponse(prepareOK, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.command(bulkPacket(f.statementID(), []byte{gmysql.MYSQL_TYPE_LONG, gmysql.MYSQL_TYPE_VAR_STRING}, rows)); err != nil {
			t.Fatal(err)
		}
		if f, err = c.readResponse(textResult, nil); err != nil {
			t.Fatal(err)
		}
		return c, f
	}
	for _, ext := range []uint32{extStmtBulk, 0} {
		_, want := run(thePair.WriterAddr, ext)
		c, got := run(h.proxyAddr, ext)
		if ext != 0 && value(want, "r0.ok.affected_rows") != "3" {
			t.Fatalf("the writer's answer to a bulk insert of 3 rows: %v", want)
		}
		if d := compare(want, got); len(d) > 0 {
			t.Errorf("bulk execute (extended caps %#x): proxy and writer differ: %v\n writer %v\n proxy  %v", ext, d, want, got)
		}
		if ext == 0 {
			continue
		}
		if n := c.scalar(t, "SELECT COUNT(*) FROM bulkt"); n != `"3"` {
			t.Errorf("a read right after the bulk insert through the proxy counts %s rows, want 3", n)
		}
	}
}

// A client with MariaDB's extended type info gets the type info block in
// every column definition: the reader's as the reader sends them, and an
// empty one in the proxy's own result sets.
func TestExtendedTypeInfo(t *testing.T) {
	h := newHarness(t)
	h.execAll(t, []string{"DROP TABLE IF EXISTS xtypes", "CREATE TABLE xtypes (j JSON, ip INET6, pt POINT, n INT)",
		`INSERT INTO xtypes VALUES ('{"a": 1}', '::1', POINT(1, 2), 7)`})
	query := func(c *rawClient, q string) fields {
		if err := c.command(append([]byte{gmysql.COM_QUERY}, q...)); err != nil {
			t.Fatal(err)
		}
		f, err := c.readResponse(textResult, nil)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	r, p := mariaDial(t, thePair.ReaderAddr, extExtendedTypes), mariaDial(t, h.proxyAddr, extExtendedTypes)
	for _, q := range []string{"SELECT j, ip, pt, n FROM xtypes", "SELECT JSON_OBJECT('k', n) AS o FROM xtypes"} {
		want := query(r, q)
		if !strings.Contains(value(want, "r0.col0.type_info"), "json") {
			t.Fatalf("%s: the reader sends no type info for a JSON column: %v", q, want)
		}
		if d := compare(want, query(p, q)); len(d) > 0 {
			t.Errorf("%s: proxy and reader differ: %v", q, d)
		}
	}
	f := query(p, "SELECT @@aurora_replica_read_consistency")
	if v, fixed := value(f, "r0.col0.type_info"), value(f, "r0.col0.type"); v != `""` || fixed != "0xfd" {
		t.Errorf("the proxy's own column definition: type info %s, type %s: %v", v, fixed, f)
	}
}
