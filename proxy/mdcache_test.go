package proxy_test

import (
	"context"
	"encoding/binary"
	"net"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/fwdproxy/fwdproxy/proxy"
	fb "github.com/fwdproxy/fwdproxy/proxy/internal/fakebackend"
)

// extCacheMetadata is MARIADB_CLIENT_CACHE_METADATA (1<<36) in the upper
// half of the capabilities.
const extCacheMetadata = 1 << (36 - 32)

// A client with MARIADB_CLIENT_CACHE_METADATA gets the metadata-follows
// byte after every column count. The backends send every execute's column
// definitions (they are asked without the capability); the proxy leaves
// them out when they are what the client holds for the statement, from
// its prepare or its last execute: on the reader, after the columns
// changed (an ALTER TABLE between two executes), and on the writer, where
// the statement runs under another id, and back. Text results and the proxy's own
// always have the definitions.
func TestFakeMetadataCache(t *testing.T) {
	r := startRig(t, withLevel("SESSION"))
	const sel = "SELECT a FROM t WHERE id = ?"
	one := fb.Rows{Columns: []string{"a"}, Values: [][]any{{"x"}}}
	two := fb.Rows{Columns: []string{"a", "b"}, Values: [][]any{{"x", "y"}}}
	for _, a := range []fb.Rows{one, one, two, two} { // an ALTER TABLE between the second and third
		r.reader.On(sel, a)
	}
	r.writer.On(sel, two)
	r.writer.On("INSERT INTO t VALUES (1)", fb.OK{AffectedRows: 1})
	r.reader.On("SELECT a FROM t", one)
	c := mariaClient(t, r.addr, extCacheMetadata)

	first := command(t, c, append([]byte{mysql.COM_STMT_PREPARE}, sel...))
	if len(first) != 3 || first[0][0] != 0 { // the OK, one parameter, one column
		t.Fatalf("prepare answered %q", first)
	}
	id := binary.LittleEndian.Uint32(first[0][1:])
	steps := []struct {
		name    string
		before  []string // statements the client sends first
		cols    int
		follows bool
	}{
		{"columns as prepared", nil, 1, false},
		{"again", nil, 1, false},
		{"columns changed", nil, 2, true},
		{"unchanged", nil, 2, false},
		{"on the writer", []string{"BEGIN", "INSERT INTO t VALUES (1)"}, 2, false},
		{"back on the reader", []string{"COMMIT"}, 2, false},
	}
	for _, st := range steps {
		for _, q := range st.before {
			if _, err := c.Execute(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		cols, follows, rows := resultSet(t, command(t, c, executeOne(id, 7)))
		if cols != st.cols || follows != st.follows || rows != 1 {
			t.Errorf("%s: %d columns, definitions follow %v, %d rows; want %d, %v, 1", st.name, cols, follows, rows, st.cols, st.follows)
		}
	}
	for _, q := range []string{"SELECT a FROM t", "SELECT @@aurora_replica_read_consistency"} {
		if cols, follows, rows := resultSet(t, command(t, c, append([]byte{mysql.COM_QUERY}, q...))); cols != 1 || !follows || rows != 1 {
			t.Errorf("%s: %d columns, definitions follow %v, %d rows; want 1, true, 1", q, cols, follows, rows)
		}
	}
}

// extDialer dials the proxy as a client that asks for MariaDB's extended
// capabilities ext in its handshake response.
func extDialer(ext uint32) client.Dialer {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return proxy.WithMariaDBExt(c, ext), nil
	}
}

// mariaClient is a go-mysql client through the proxy that asks for
// MariaDB's extended capabilities ext, for raw commands (command): go-mysql
// reads no metadata-follows byte.
func mariaClient(t *testing.T, addr string, ext uint32) *client.Conn {
	t.Helper()
	c, err := client.ConnectWithDialer(context.Background(), "tcp", addr, "app", "secret", "", extDialer(ext))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// command sends one command and reads its answer's packets, as a client
// with CLIENT_DEPRECATE_EOF: up to the OK (header 0x00, or 0xfe after
// rows), an ERR, or a prepare's definitions.
func command(t *testing.T, c *client.Conn, payload []byte) [][]byte {
	t.Helper()
	read := sendRaw(t, c, payload)
	p := read()
	out := [][]byte{p}
	switch {
	case p[0] == 0x00 && payload[0] == mysql.COM_STMT_PREPARE:
		n := int(binary.LittleEndian.Uint16(p[5:])) + int(binary.LittleEndian.Uint16(p[7:]))
		for ; n > 0; n-- {
			out = append(out, read())
		}
	case p[0] == 0x00 || p[0] == 0xff:
	default: // a result set: definitions when its flag says so, rows, the OK
		if p[len(p)-1] == 1 {
			for n := int(p[0]); n > 0; n-- {
				out = append(out, read())
			}
		}
		for {
			p = read()
			out = append(out, p)
			if p[0] == 0xfe && len(p) < 9 || p[0] == 0xff {
				return out
			}
		}
	}
	return out
}

// resultSet reads a result set that command read: its column count,
// whether the definitions came, and how many rows.
func resultSet(t *testing.T, pkts [][]byte) (cols int, follows bool, rows int) {
	t.Helper()
	count := pkts[0]
	if len(count) != 2 {
		t.Fatalf("column count packet %x: want a count and the metadata-follows byte", count)
	}
	cols, follows = int(count[0]), count[1] == 1
	rows = len(pkts) - 2
	if follows {
		rows -= cols
	}
	return cols, follows, rows
}

// executeOne is a COM_STMT_EXECUTE of statement id with one BIGINT
// parameter v, its type bound.
func executeOne(id uint32, v int64) []byte {
	b := []byte{mysql.COM_STMT_EXECUTE}
	b = binary.LittleEndian.AppendUint32(b, id)
	b = append(b, 0)                           // no cursor
	b = binary.LittleEndian.AppendUint32(b, 1) // iterations
	b = append(b, 0, 1, mysql.MYSQL_TYPE_LONGLONG, 0)
	return binary.LittleEndian.AppendUint64(b, uint64(v))
}
