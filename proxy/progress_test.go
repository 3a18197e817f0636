package proxy_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	fb "github.com/fwdproxy/fwdproxy/proxy/internal/fakebackend"
)

// extProgress is MARIADB_CLIENT_PROGRESS (1<<32), in the handshake
// response's last 4 reserved bytes.
const extProgress = 1

// A MariaDB client that asks for progress reports gets the backends'
// before and among the answers the proxy relays: a LOAD DATA LOCAL into
// a temporary table (after the file, as MariaDB sends it), a read's
// result set (CHECK TABLE), a forwarded write's OK and a prepared
// execute's rows, each numbered in the client's sequence. Where the proxy
// reads an answer itself (its guard around temporary-table DDL, the
// SESSION wait) it passes them over. A client that did not ask gets none:
// the fake sends them only to a connection that asked, so the proxy did not.
func TestFakeProgressReports(t *testing.T) {
	r := startRig(t, withLevel("SESSION"))
	const load = "LOAD DATA LOCAL INFILE 'p.csv' INTO TABLE tmp"
	prog := fb.Progress{Stage: 1, MaxStage: 2, Done: 50000, State: "copy"}
	r.reader.On("SET SESSION tx_read_only = 0", prog, fb.OK{})
	r.reader.On("CREATE TEMPORARY TABLE tmp (a INT)", fb.OK{})
	r.reader.On("SET SESSION tx_read_only = 1", prog, fb.OK{})
	r.reader.On(load, fb.LocalInfile{Name: "p.csv"}, fb.Progress{Stage: 2, MaxStage: 2, State: "End bulk insert"}, fb.OK{AffectedRows: 2})
	r.reader.On("CHECK TABLE t", prog, fb.Rows{Columns: []string{"Table", "Op", "Msg_type", "Msg_text"}, Values: [][]any{{"app.t", "check", "status", "OK"}}})
	r.writer.On("INSERT INTO t SELECT * FROM big", prog, prog, fb.OK{AffectedRows: 5, GTID: "0-1-7"})
	r.reader.OnPrefix("SELECT MASTER_GTID_WAIT('0-1-7', ", prog, one("w", 0))
	r.reader.On("SELECT 2 FROM t", prog, one("2", 2))
	r.reader.On("SELECT 1", one("1", 1))

	for _, ext := range []uint32{extProgress, 0} {
		c := progressClient(t, r.addr, ext)
		want := func(sql string, reports int, kind byte) {
			t.Helper()
			progress, end := c.query(t, sql, []byte("1\n2\n"))
			if ext == 0 {
				reports = 0
			}
			if len(progress) != reports || end[0] != kind {
				t.Errorf("extended caps %#x, %s: %d progress reports, then % x; want %d, then %#x", ext, sql, len(progress), end, reports, kind)
			}
		}
		want("CREATE TEMPORARY TABLE tmp (a INT)", 0, 0x00)
		want(load, 1, 0x00)
		want("CHECK TABLE t", 1, 0xfe)
		want("INSERT INTO t SELECT * FROM big", 2, 0x00)
		want("SELECT 2 FROM t", 1, 0xfe) // after the SESSION wait
		id := c.prepare(t, "SELECT 2 FROM t")
		progress, end := c.command(t, binary.LittleEndian.AppendUint32([]byte{mysql.COM_STMT_EXECUTE}, id), []byte{0, 1, 0, 0, 0}, nil)
		if reports := map[uint32]int{extProgress: 1}[ext]; len(progress) != reports || end[0] != 0xfe {
			t.Errorf("extended caps %#x, execute: %d progress reports, then % x; want %d, then EOF", ext, len(progress), end, reports)
		}
		if progress, end := c.query(t, "SELECT 1", nil); len(progress) != 0 || end[0] != 0xfe {
			t.Errorf("extended caps %#x: the next query got %d progress reports, then % x", ext, len(progress), end)
		}
	}
}

// mariaConn is a client connection speaking raw packets after go-mysql's
// handshake, as a MariaDB client: CLIENT_MYSQL cleared, ext asked for.
type mariaConn struct {
	conn net.Conn
	r    *bufio.Reader
	seq  uint8
}

func progressClient(t *testing.T, addr string, ext uint32) *mariaConn {
	t.Helper()
	cc, err := client.ConnectWithDialer(context.Background(), "tcp", addr, "app", "secret", "", extDialer(ext), func(c *client.Conn) error {
		c.UnsetCapability(mysql.CLIENT_DEPRECATE_EOF)
		return c.SetCapability(mysql.CLIENT_LOCAL_FILES)
	})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	raw := cc.Conn.Conn
	t.Cleanup(func() { raw.Close() })
	_ = raw.SetDeadline(time.Now().Add(20 * time.Second))
	return &mariaConn{conn: raw, r: bufio.NewReader(raw)}
}

func (c *mariaConn) write(payload []byte) {
	n := len(payload)
	_, _ = c.conn.Write(append([]byte{byte(n), byte(n >> 8), byte(n >> 16), c.seq}, payload...))
	c.seq++
}

// read reads one packet, which must carry the next sequence number.
func (c *mariaConn) read(t *testing.T) []byte {
	t.Helper()
	var h [4]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		t.Fatalf("read: %v", err)
	}
	if h[3] != c.seq {
		t.Fatalf("packet sequence %d, want %d", h[3], c.seq)
	}
	c.seq++
	p := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	if _, err := io.ReadFull(c.r, p); err != nil {
		t.Fatalf("read: %v", err)
	}
	return p
}

func (c *mariaConn) query(t *testing.T, sql string, file []byte) (progress [][]byte, end []byte) {
	t.Helper()
	return c.command(t, []byte{mysql.COM_QUERY}, []byte(sql), file)
}

// command sends cmd followed by body and reads a text or binary answer of
// one result: the progress reports it holds and the packet that ends it
// (OK, ERR or the EOF after the rows). A LOCAL INFILE request gets file.
func (c *mariaConn) command(t *testing.T, cmd, body, file []byte) (progress [][]byte, end []byte) {
	t.Helper()
	c.seq = 0
	c.write(append(cmd, body...))
	columns := -1
	for {
		p := c.read(t)
		switch {
		case p[0] == 0xff && len(p) >= 3 && p[1] == 0xff && p[2] == 0xff:
			progress = append(progress, p)
		case columns < 0 && (p[0] == 0x00 || p[0] == 0xff):
			return progress, p
		case columns < 0 && p[0] == 0xfb:
			c.write(file)
			c.write(nil)
		case columns < 0:
			columns = int(p[0])
			for i := 0; i <= columns; i++ { // the definitions and their EOF
				c.read(t)
			}
		case p[0] == 0xfe && len(p) < 9 || p[0] == 0xff:
			return progress, p
		}
	}
}

// prepare prepares sql and returns the statement id.
func (c *mariaConn) prepare(t *testing.T, sql string) uint32 {
	t.Helper()
	c.seq = 0
	c.write(append([]byte{mysql.COM_STMT_PREPARE}, sql...))
	p := c.read(t)
	if p[0] != 0x00 || len(p) < 12 {
		t.Fatalf("prepare %s: % x", sql, p)
	}
	for _, n := range []uint16{binary.LittleEndian.Uint16(p[7:]), binary.LittleEndian.Uint16(p[5:])} {
		for i := 0; n > 0 && i <= int(n); i++ { // the definitions and their EOF
			c.read(t)
		}
	}
	return binary.LittleEndian.Uint32(p[1:])
}
