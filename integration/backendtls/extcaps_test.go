package backendtls

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/fwdproxy/fwdproxy/proxy/wire"
)

// MariaDB's extended capabilities (the upper 32 bits of the flags, in the
// handshake's reserved bytes): progress reports (1<<32), bulk execute
// (1<<34) and extended type info (1<<35), the ones the proxy offers.
const (
	extProgress      = 1 << 0
	extStmtBulk      = 1 << 2
	extExtendedTypes = 1 << 3
	extAsked         = extProgress | extStmtBulk | extExtendedTypes
)

const extDB = "fwdtlsext"

// A client that negotiates MariaDB's extended capabilities gets, through a
// proxy that talks TLS to its backends, the very packets it gets through
// one that does not: column definitions with extended type info (a JSON
// and an INET6 column, by query and by prepare), a COM_STMT_BULK_EXECUTE
// of three rows into a forwarded table (and its rows read back at
// SESSION), and a LOAD DATA LOCAL with its progress report. Issue 13.
func TestExtendedCapabilitiesOverTLS(t *testing.T) {
	if err := thePair.CreateTables(extDB,
		"CREATE TABLE bulk (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
		"CREATE TABLE typed (id INT PRIMARY KEY, j JSON, a INET6)",
		`INSERT INTO typed VALUES (1, '{"k": [1, 2]}', '2001:db8::1')`,
	); err != nil {
		t.Fatal(err)
	}
	var file []byte
	for i := 0; i < 1000; i++ {
		file = append(file, fmt.Sprintf("%d,v%d\n", i, i)...)
	}
	// Each session's answers, step by step; base keeps the bulk rows apart.
	session := func(backend *tls.Config, base int) (answers map[string][][]byte, cipher string) {
		c := dialExt(t, startProxy(t, backend))
		answers = map[string][][]byte{}
		step := func(name string, payload []byte) [][]byte {
			t.Helper()
			got := c.exchange(t, payload, file)
			answers[name] = got
			return got
		}
		cipher = c.value(t, readerCipher) + "/" + c.value(t, writerCipher)
		step("query typed", query("SELECT j, a FROM typed"))
		prep := step("prepare typed", append([]byte{mysql.COM_STMT_PREPARE}, "SELECT j, a FROM typed WHERE id = ?"...))
		sel := c.stmtID(t, prep)
		step("execute typed", execute(sel, 1))
		ins := c.stmtID(t, step("prepare insert", append([]byte{mysql.COM_STMT_PREPARE}, "INSERT INTO bulk VALUES (?, ?)"...)))
		step("bulk insert", bulkInsert(ins, base, "one", "two", "three"))
		step("read back", query(fmt.Sprintf("SELECT v FROM bulk WHERE id > %d ORDER BY id", base)))
		step("temporary table", query("CREATE TEMPORARY TABLE tprog (id INT PRIMARY KEY, v VARCHAR(20))"))
		answers["load data progress"] = nil
		step("load data", query("LOAD DATA LOCAL INFILE 'p.csv' INTO TABLE tprog FIELDS TERMINATED BY ','"))
		answers["load data progress"] = c.progress
		step("count", query("SELECT COUNT(*) FROM tprog"))
		return answers, cipher
	}
	plain, plainCipher := session(nil, 0)
	overTLS, tlsCipher := session(&tls.Config{RootCAs: caPool, MinVersion: tls.VersionTLS12}, 10)
	if plainCipher != "/" || strings.HasPrefix(tlsCipher, "/") || strings.HasSuffix(tlsCipher, "/") {
		t.Fatalf("backend ciphers (reader/writer): %q without TLS, %q with", plainCipher, tlsCipher)
	}
	for _, name := range []string{"query typed", "prepare typed", "execute typed", "prepare insert", "bulk insert", "read back",
		"temporary table", "load data", "load data progress", "count"} {
		if !equalPackets(plain[name], overTLS[name]) {
			t.Errorf("%s: over TLS\n%s\nwithout\n%s", name, hexLines(overTLS[name]), hexLines(plain[name]))
		}
	}
	// What the answers must be, so that equal answers are not equally wrong.
	for _, typ := range []string{"json", "inet6"} {
		if !bytes.Contains(bytes.Join(overTLS["query typed"], nil), []byte(typ)) || !bytes.Contains(bytes.Join(overTLS["prepare typed"], nil), []byte(typ)) {
			t.Errorf("no extended type info %q in the column definitions over TLS:\n%s", typ, hexLines(overTLS["query typed"]))
		}
	}
	if ok, isOK := wire.ParseOK(last(overTLS["bulk insert"]), false); !isOK || ok.AffectedRows != 3 {
		t.Errorf("bulk insert over TLS: %s, want an OK of 3 rows", hexLines(overTLS["bulk insert"]))
	}
	if rows := overTLS["read back"]; len(rows) < 3 || !bytes.Contains(bytes.Join(rows, nil), []byte("\x05three")) {
		t.Errorf("the bulk rows read back over TLS: %s", hexLines(rows))
	}
	if len(overTLS["load data progress"]) == 0 {
		t.Error("no progress report before the answer to LOAD DATA LOCAL over TLS")
	}
	if ok, isOK := wire.ParseOK(last(overTLS["load data"]), false); !isOK || ok.AffectedRows != 1000 {
		t.Errorf("LOAD DATA LOCAL over TLS: %s, want an OK of 1000 rows", hexLines(overTLS["load data"]))
	}
	w, err := thePair.WriterDB(extDB)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var n int
	if err := w.QueryRow("SELECT COUNT(*) FROM bulk WHERE id IN (1, 2, 3, 11, 12, 13)").Scan(&n); err != nil || n != 6 {
		t.Errorf("the writer has %d of the 6 bulk rows (%v)", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := thePair.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("backend ciphers (reader/writer): %s; %d packets over TLS in %d steps, %d progress reports", tlsCipher,
		countPackets(overTLS), len(overTLS), len(overTLS["load data progress"]))
}

// extClient is go-mysql's client made a MariaDB client that asks for
// extended capabilities; the test speaks packets on it.
type extClient struct {
	*client.Conn
	progress [][]byte // the progress reports of the last exchange
}

// dialExt logs in to addr with extAsked and CLIENT_LOCAL_FILES, and fails
// unless the proxy offered them all.
func dialExt(t *testing.T, addr string) *extClient {
	t.Helper()
	pc := &patchConn{patch: func(resp []byte) {
		caps := binary.LittleEndian.Uint32(resp) | mysql.CLIENT_LOCAL_FILES
		binary.LittleEndian.PutUint32(resp, caps)
		binary.LittleEndian.PutUint32(resp[28:], extAsked)
	}}
	c, err := client.ConnectWithDialer(context.Background(), "tcp", addr, thePair.User, thePair.Password, extDB,
		func(ctx context.Context, network, address string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, address)
			pc.Conn = nc
			return pc, err
		},
		func(c *client.Conn) error {
			// Without CLIENT_MYSQL (CLIENT_LONG_PASSWORD) a MariaDB server reads the extended
			// capabilities; without the other two the answers are the classic ones this test reads.
			for _, f := range []uint32{mysql.CLIENT_LONG_PASSWORD, mysql.CLIENT_DEPRECATE_EOF, mysql.CLIENT_QUERY_ATTRIBUTES} {
				c.UnsetCapability(f)
			}
			return nil
		})
	if err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	if offered := greetingExt(pc.greeting); offered&extAsked != extAsked {
		t.Fatalf("the proxy offers extended capabilities %#x, want %#x among them", offered, extAsked)
	}
	return &extClient{Conn: c}
}

// greetingExt is the extended capabilities in a greeting (with its packet
// header): the last 4 of the 10 reserved bytes after the flags.
func greetingExt(p []byte) uint32 {
	if len(p) < 5 {
		return 0
	}
	p = p[4:]
	end := bytes.IndexByte(p[1:], 0)
	pos := 2 + end + 4 + 9 + 2 + 1 + 2 + 2 + 1 + 6
	if end < 0 || len(p) < pos+4 {
		return 0
	}
	return binary.LittleEndian.Uint32(p[pos:])
}

// exchange sends one command and returns every packet of its answer
// (result sets to their last EOF or OK, more results too), but the
// progress reports, kept in c.progress; a LOAD DATA LOCAL gets file.
func (c *extClient) exchange(t *testing.T, payload, file []byte) [][]byte {
	t.Helper()
	c.ResetSequence()
	c.progress = nil
	if err := c.WritePacket(append(make([]byte, 4), payload...)); err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	read := func() []byte {
		t.Helper()
		for {
			p, err := c.ReadPacket()
			if err != nil {
				t.Fatalf("% x: %v (read %s)", payload, err, hexLines(got))
			}
			if wire.IsProgress(p) {
				c.progress = append(c.progress, p)
				continue
			}
			got = append(got, p)
			return p
		}
	}
	if payload[0] == mysql.COM_STMT_PREPARE {
		if ok, isOK := wire.ParsePrepareOK(read()); isOK {
			for i := 0; i < ok.MetaPackets(); i++ {
				read()
			}
		}
		return got
	}
	for {
		p := read()
		switch p[0] {
		case 0x00, 0xfe: // OK, or EOF
		case 0xff:
			return got
		case 0xfb: // LOCAL INFILE: the file, then an empty packet
			for _, b := range [][]byte{file, nil} {
				if err := c.WritePacket(append(make([]byte, 4), b...)); err != nil {
					t.Fatal(err)
				}
			}
			continue
		default: // a result set
			n, _, _ := wire.LenEncInt(p)
			for i := uint64(0); i <= n; i++ { // the definitions and their EOF
				read()
			}
			for p = read(); !wire.IsEOF(p) && p[0] != 0xff; p = read() {
			}
		}
		if !moreResults(p) {
			return got
		}
	}
}

// moreResults: an OK or EOF with SERVER_MORE_RESULTS_EXISTS.
func moreResults(p []byte) bool {
	if wire.IsEOF(p) && len(p) == 5 {
		return binary.LittleEndian.Uint16(p[3:])&mysql.SERVER_MORE_RESULTS_EXISTS != 0
	}
	ok, isOK := wire.ParseOK(p, false)
	return isOK && ok.Status&mysql.SERVER_MORE_RESULTS_EXISTS != 0
}

// value is the first column of the one row a text query returns.
func (c *extClient) value(t *testing.T, q string) string {
	t.Helper()
	got := c.exchange(t, query(q), nil)
	n, _, _ := wire.LenEncInt(got[0])
	row := 2 + int(n) // after the count, the definitions and their EOF
	if len(got) <= row || got[row][0] == 0xfe {
		t.Fatalf("%s: no row: %s", q, hexLines(got))
	}
	if got[row][0] == 0xfb {
		return "" // NULL
	}
	s, _, _ := wire.LenEncString(got[row])
	return string(s)
}

// stmtID is the statement of a prepare answer.
func (c *extClient) stmtID(t *testing.T, answer [][]byte) uint32 {
	t.Helper()
	ok, isOK := wire.ParsePrepareOK(answer[0])
	if !isOK {
		t.Fatalf("prepare: %s", hexLines(answer))
	}
	return ok.ID
}

func query(q string) []byte { return append([]byte{mysql.COM_QUERY}, q...) }

// execute is a COM_STMT_EXECUTE of one LONG parameter.
func execute(stmt uint32, v int32) []byte {
	b := []byte{mysql.COM_STMT_EXECUTE}
	b = binary.LittleEndian.AppendUint32(b, stmt)
	b = append(b, 0)                              // no cursor
	b = binary.LittleEndian.AppendUint32(b, 1)    // iterations
	b = append(b, 0, 1, mysql.MYSQL_TYPE_LONG, 0) // null bitmap, types bound, LONG
	return binary.LittleEndian.AppendUint32(b, uint32(v))
}

// comStmtBulkExecute and its flag STMT_BULK_FLAG_SEND_TYPES_TO_SERVER.
const (
	comStmtBulkExecute = 0xfa
	bulkSendTypes      = 128
)

// bulkInsert is a COM_STMT_BULK_EXECUTE of (base+1, vs[0]), (base+2, vs[1]), ...
// into a statement of a LONG and a VAR_STRING parameter.
func bulkInsert(stmt uint32, base int, vs ...string) []byte {
	b := []byte{comStmtBulkExecute}
	b = binary.LittleEndian.AppendUint32(b, stmt)
	b = binary.LittleEndian.AppendUint16(b, bulkSendTypes)
	b = append(b, mysql.MYSQL_TYPE_LONG, 0, mysql.MYSQL_TYPE_VAR_STRING, 0)
	for i, v := range vs {
		b = append(b, 0) // indicator: a value follows
		b = binary.LittleEndian.AppendUint32(b, uint32(base+i+1))
		b = append(b, 0)
		b = mysql.AppendLengthEncodedInteger(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// patchConn lets patch change the handshake response, the first packet the
// client writes (sequence 1), and keeps the greeting read before it.
type patchConn struct {
	net.Conn
	patch    func(payload []byte)
	done     bool
	greeting []byte
}

func (c *patchConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if !c.done {
		c.greeting = append(c.greeting, b[:n]...)
	}
	return n, err
}

func (c *patchConn) Write(b []byte) (int, error) {
	if !c.done && len(b) >= 4+32 && b[3] == 1 {
		c.done = true
		c.patch(b[4:])
	}
	return c.Conn.Write(b)
}

func equalPackets(a, b [][]byte) bool {
	return bytes.Equal(bytes.Join(a, []byte{'|'}), bytes.Join(b, []byte{'|'})) && len(a) == len(b)
}

func last(ps [][]byte) []byte {
	if len(ps) == 0 {
		return nil
	}
	return ps[len(ps)-1]
}

func countPackets(m map[string][][]byte) int {
	n := 0
	for _, ps := range m {
		n += len(ps)
	}
	return n
}

func hexLines(ps [][]byte) string {
	var s []string
	for _, p := range ps {
		s = append(s, fmt.Sprintf("  % x  %q", p, p))
	}
	return strings.Join(s, "\n")
}
