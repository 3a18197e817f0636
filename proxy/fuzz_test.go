package proxy_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fwdproxy/fwdproxy/proxy"
	fb "github.com/fwdproxy/fwdproxy/proxy/internal/fakebackend"
	"github.com/fwdproxy/fwdproxy/proxy/wire"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// The fuzz target's client sends its commands as records of cmds, each a
// sequence number, a payload length (two bytes, little-endian) and the
// payload (whose first byte is the command), framed as one packet; then
// tail, written to the socket as it is (any framing at all), after which
// it closes its side.
const (
	fuzzMaxPacket  = 4 << 10 // the proxy's client packet limit, small enough to cross
	fuzzMaxRecords = 64
	// fuzzHang only turns a hang into a failure (no answer takes near it),
	// under the fuzzing engine's 10 s for one input, so that it says what hung.
	fuzzHang = 8 * time.Second
)

// The flags say how the fuzzed client logs in and answers.
const (
	fzMultiStatements = 1 << iota
	fzSessionTrack
	fzLocalFiles
	fzDatabase      // log in to database shop
	fzRightPassword // answer COM_CHANGE_USER's auth switch with the right scramble
	fzDeprecateEOF  // CLIENT_DEPRECATE_EOF: results end with an OK
)

// FuzzClientCommands runs a real Server in front of scripted backends and
// sends it, after a normal login, whatever a client could: any command
// byte, payload, sequence number and framing. The proxy must answer each
// command with a whole, well-formed response in sequence (or none, where
// the server sends none), or close that connection; it must never panic
// (a session's panic is recovered and logged, so the log is watched);
// and a well-behaved session afterwards must work: read, forwarded write
// and prepared statement.
func FuzzClientCommands(f *testing.F) {
	addFuzzSeeds(f)
	core, logs := observer.New(zapcore.InfoLevel)
	fr := &fuzzRig{logs: logs, rig: newRig(f, rigOptions{
		fake:   fb.Config{Unrecorded: true}, // unscripted statements just get an error
		log:    zap.New(core),
		mutate: func(c *proxy.Config) { c.MaxPacket = fuzzMaxPacket },
	})}
	fr.script()
	f.Fuzz(func(t *testing.T, flags uint8, cmds, tail []byte) {
		fr.fuzzed(t, flags, cmds, tail)
		fr.settle(t)
		fr.wellBehaved(t)
		fr.settle(t)
	})
}

type fuzzRig struct {
	*rig
	logs   *observer.ObservedLogs
	opened int // sessions logged in
	ended  int // sessions the proxy saw end
}

// script gives the backends answers to the statements a fuzzer's
// inputs most often start with, so that results are relayed too; the
// rest get the fake's error.
func (fr *fuzzRig) script() {
	fr.reader.On("SELECT 1", one("1", 1))
	fr.writer.On("INSERT INTO t VALUES (1)", fb.OK{AffectedRows: 1, GTID: "0-1-1"})
	rows := fb.Rows{Columns: []string{"a", "b"}, Values: [][]any{{1, "x"}, {nil, "y"}}}
	for _, b := range []*fb.Server{fr.reader, fr.writer} {
		for _, p := range []string{"SELECT", "SHOW", "WITH", "DESC", "EXPLAIN", "select"} {
			b.OnPrefix(p, rows)
		}
		for _, p := range []string{"INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "DO", "insert", "PREPARE", "EXECUTE", "DEALLOCATE"} {
			b.OnPrefix(p, fb.OK{AffectedRows: 1, GTID: "0-1-2"})
		}
		b.OnPrefix("LOAD DATA LOCAL", fb.LocalInfile{Name: "x.csv"}, fb.OK{AffectedRows: 1})
	}
}

// fuzzed logs in as a real client does and sends the input.
func (fr *fuzzRig) fuzzed(t *testing.T, flags uint8, cmds, tail []byte) {
	db := ""
	if flags&fzDatabase != 0 {
		db = "shop"
	}
	cc, err := client.Connect(fr.addr, "app", "secret", db, func(c *client.Conn) error {
		for bit, cap := range map[uint8]uint32{fzMultiStatements: mysql.CLIENT_MULTI_STATEMENTS,
			fzSessionTrack: mysql.CLIENT_SESSION_TRACK, fzLocalFiles: mysql.CLIENT_LOCAL_FILES} {
			if flags&bit != 0 {
				if err := c.SetCapability(cap); err != nil {
					return err
				}
			}
		}
		if flags&fzDeprecateEOF == 0 { // go-mysql's client asks for it by default
			c.UnsetCapability(mysql.CLIENT_DEPRECATE_EOF)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	fr.opened++
	raw := cc.Conn.Conn // from here on, packets of the test's own
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(fuzzHang))
	p := &fuzzPeer{t: t, conn: raw, r: bufio.NewReader(raw), flags: flags}
	for i := 0; i < fuzzMaxRecords && len(cmds) >= 3; i++ {
		seq, n := cmds[0], int(binary.LittleEndian.Uint16(cmds[1:]))
		cmds = cmds[3:]
		payload := cmds[:min(n, len(cmds))]
		cmds = cmds[len(payload):]
		if !p.write(seq, payload) || !p.answer(seq, payload) {
			return // the proxy closed this connection
		}
	}
	if len(tail) == 0 {
		if p.write(0, []byte{mysql.COM_QUIT}) {
			p.answer(0, []byte{mysql.COM_QUIT})
		}
		return
	}
	p.rawTail(tail)
}

// settle waits until every session logged in has ended, and fails on
// anything the proxy logged at error level: its panics.
func (fr *fuzzRig) settle(t *testing.T) {
	give := time.Now().Add(fuzzHang)
	for {
		for _, e := range fr.logs.TakeAll() {
			if e.Level >= zapcore.ErrorLevel {
				t.Errorf("the proxy logged %q: %v\n%v", e.Message, e.ContextMap()["panic"], e.ContextMap()["stack"])
			}
			if e.Message == "session end" || e.Message == "connection failed" {
				fr.ended++
			}
		}
		if fr.ended >= fr.opened {
			return
		}
		if time.Now().After(give) {
			t.Fatalf("%d sessions still open %s after their clients left", fr.opened-fr.ended, fuzzHang)
		}
		time.Sleep(time.Millisecond)
	}
}

// wellBehaved is a session after the fuzzed one: a read, a forwarded
// write and a prepared statement must work.
func (fr *fuzzRig) wellBehaved(t *testing.T) {
	cc, err := client.Connect(fr.addr, "app", "secret", "")
	if err != nil {
		t.Fatalf("a session after the fuzzed one: login: %v", err)
	}
	fr.opened++
	defer cc.Close()
	_ = cc.SetDeadline(time.Now().Add(fuzzHang))
	res, err := cc.Execute("SELECT 1")
	if err != nil {
		t.Fatalf("a session after the fuzzed one: SELECT 1: %v", err)
	}
	if v, _ := res.GetInt(0, 0); v != 1 {
		t.Fatalf("a session after the fuzzed one: SELECT 1 gave %d", v)
	}
	if res, err = cc.Execute("INSERT INTO t VALUES (1)"); err != nil || res.AffectedRows != 1 {
		t.Fatalf("a session after the fuzzed one: INSERT: %v", err)
	}
	st, err := cc.Prepare("SELECT 1")
	if err == nil {
		_, err = st.Execute()
		_ = st.Close()
	}
	if err != nil {
		t.Fatalf("a session after the fuzzed one: prepared SELECT 1: %v", err)
	}
}

// fuzzPeer is the fuzzed client's end of the connection.
type fuzzPeer struct {
	t     *testing.T
	conn  net.Conn
	r     *bufio.Reader
	seq   uint8 // the sequence number the next packet must carry
	flags uint8
}

// gone says err is the proxy's closing of the connection.
func gone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// write sends one packet; false: the proxy has closed the connection.
func (p *fuzzPeer) write(seq uint8, payload []byte) bool {
	pkt := append([]byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}, payload...)
	if _, err := p.conn.Write(pkt); err != nil {
		if gone(err) {
			return false
		}
		p.t.Fatalf("writing a command: %v", err)
	}
	return true
}

// read is the proxy's next packet; false: the proxy closed the connection
// between packets, which ends only this session. Anything cut off inside
// a packet, out of sequence, or no answer at all fails.
func (p *fuzzPeer) read() ([]byte, bool) {
	pkt, seq, ok := p.readAny()
	if !ok {
		return nil, false
	}
	if seq != p.seq {
		// An error that refuses the command and closes the connection may
		// number itself as it likes.
		if pkt[0] == 0xff {
			if _, _, more := p.readAny(); !more {
				return nil, false
			}
		}
		p.t.Fatalf("packet % x has sequence number %d, want %d", trim(pkt), seq, p.seq)
	}
	p.seq++
	return pkt, true
}

func (p *fuzzPeer) readAny() (pkt []byte, seq uint8, ok bool) {
	var hdr [4]byte
	n, err := io.ReadFull(p.r, hdr[:])
	if n == 0 && gone(err) {
		return nil, 0, false
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		p.t.Fatalf("no answer within %s", fuzzHang)
	}
	if err != nil {
		p.t.Fatalf("packet header cut off after %d bytes: %v", n, err)
	}
	size := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if size == wire.MaxPayload {
		p.t.Fatalf("an answer of 16 MiB")
	}
	pkt = make([]byte, size)
	if _, err := io.ReadFull(p.r, pkt); err != nil {
		p.t.Fatalf("packet of %d bytes cut off: %v", size, err)
	}
	if size == 0 {
		p.t.Fatalf("an empty packet")
	}
	return pkt, hdr[3], true
}

func trim(b []byte) []byte { return b[:min(len(b), 64)] }

// answer reads the whole answer to the command payload sent as seq, as
// that command's answer is shaped; false: the proxy closed the
// connection instead.
func (p *fuzzPeer) answer(seq uint8, payload []byte) bool {
	if seq != 0 {
		// Whatever the command, as MariaDB: 1156 at sequence 0, closed.
		pkt, got, ok := p.readAny()
		if !ok || got != 0 || !bytes.HasPrefix(pkt, []byte("\xff\x84\x04#08S01Got packets out of order")) {
			p.t.Fatalf("a command at sequence %d answered % x at %d (ok %v), want 1156 at 0", seq, trim(pkt), got, ok)
		}
		if pkt, _, more := p.readAny(); more {
			p.t.Fatalf("after 1156 the connection stayed open: % x", trim(pkt))
		}
		return false
	}
	p.seq = seq + 1
	if len(payload) == 0 || len(payload) > fuzzMaxPacket {
		return p.errOnly()
	}
	switch payload[0] {
	case mysql.COM_QUIT:
		if pkt, _, ok := p.readAny(); ok {
			p.t.Fatalf("COM_QUIT answered % x", trim(pkt))
		}
		return false
	case mysql.COM_STMT_CLOSE, mysql.COM_STMT_SEND_LONG_DATA:
		return true // the server answers neither
	case mysql.COM_STATISTICS:
		_, ok := p.read() // a line of text, or an error
		return ok
	case mysql.COM_FIELD_LIST:
		_, ok := p.columns(-1)
		return ok
	case mysql.COM_SET_OPTION:
		pkt, ok := p.read()
		if ok && !p.isEnd(pkt) {
			p.checkErr(pkt)
		}
		return ok
	case mysql.COM_STMT_PREPARE:
		return p.prepared()
	case mysql.COM_STMT_FETCH:
		_, ok := p.rows()
		return ok
	case mysql.COM_CHANGE_USER:
		return p.changeUser()
	}
	return p.results()
}

func (p *fuzzPeer) errOnly() bool {
	pkt, ok := p.read()
	if ok {
		p.checkErr(pkt)
	}
	return ok
}

func isEOF(pkt []byte) bool { return pkt[0] == 0xfe && len(pkt) < 9 }

// isEnd says pkt ends rows or definitions: a classic EOF, or under
// CLIENT_DEPRECATE_EOF an OK with header 0xfe (a row starting 0xfe is
// 16 MiB long).
func (p *fuzzPeer) isEnd(pkt []byte) bool {
	if p.flags&fzDeprecateEOF != 0 {
		return pkt[0] == 0xfe && len(pkt) < 0xffffff
	}
	return isEOF(pkt)
}

// endStatus is the status of a packet isEnd accepted.
func (p *fuzzPeer) endStatus(pkt []byte) uint16 {
	if p.flags&fzDeprecateEOF != 0 {
		return p.checkOK(pkt)
	}
	return eofStatus(pkt)
}

func (p *fuzzPeer) checkErr(pkt []byte) {
	if pkt[0] != 0xff || len(pkt) < 9 || pkt[3] != '#' {
		p.t.Fatalf("want an ERR packet, got % x", trim(pkt))
	}
}

// checkOK returns an OK packet's status.
func (p *fuzzPeer) checkOK(pkt []byte) uint16 {
	pos := 1
	for i := 0; i < 2; i++ { // affected rows, insert id
		_, _, n := mysql.LengthEncodedInt(pkt[pos:])
		pos += n
	}
	if len(pkt) < pos+4 {
		p.t.Fatalf("malformed OK packet % x", trim(pkt))
	}
	return binary.LittleEndian.Uint16(pkt[pos:])
}

// results reads the answer to a statement: OKs, result sets and a final
// error, linked by MORE_RESULTS.
func (p *fuzzPeer) results() bool {
	for {
		pkt, ok := p.read()
		if !ok {
			return false
		}
		var status uint16
		switch {
		case pkt[0] == 0x00:
			status = p.checkOK(pkt)
		case pkt[0] == 0xff:
			p.checkErr(pkt)
			return true
		case pkt[0] == 0xfb: // LOCAL INFILE: the client has no such file
			if !p.write(p.seq, nil) {
				return false
			}
			p.seq++
			continue
		case pkt[0] == 0xfe:
			p.t.Fatalf("EOF % x where a result should start", trim(pkt))
		default:
			n, _, w := mysql.LengthEncodedInt(pkt)
			if w != len(pkt) || n == 0 || n > 4096 {
				p.t.Fatalf("malformed column count % x", trim(pkt))
			}
			if status, ok = p.columns(int(n)); !ok {
				return false
			}
			if status&mysql.SERVER_STATUS_CURSOR_EXISTS == 0 {
				if status, ok = p.rows(); !ok || status == 0xffff {
					return ok
				}
			}
		}
		if status&mysql.SERVER_MORE_RESULTS_EXISTS == 0 {
			return true
		}
	}
}

// columns reads n column definitions and the EOF after them (none under
// CLIENT_DEPRECATE_EOF; n < 0: up to the end, or an error, as
// COM_FIELD_LIST answers) and returns its status.
func (p *fuzzPeer) columns(n int) (uint16, bool) {
	for i := 0; n < 0 || i < n; i++ {
		pkt, ok := p.read()
		if !ok {
			return 0, false
		}
		if n < 0 && pkt[0] == 0xff {
			p.checkErr(pkt)
			return 0, true
		}
		if n < 0 && p.isEnd(pkt) {
			return p.endStatus(pkt), true
		}
		if !bytes.HasPrefix(pkt, []byte("\x03def")) {
			p.t.Fatalf("malformed column definition % x", trim(pkt))
		}
	}
	if p.flags&fzDeprecateEOF != 0 {
		return 0, true // no EOF: rows (or a cursor's OK) follow at once
	}
	pkt, ok := p.read()
	if ok && !isEOF(pkt) {
		p.t.Fatalf("want the EOF after %d columns, got % x", n, trim(pkt))
	}
	return eofStatus(pkt), ok
}

func eofStatus(pkt []byte) uint16 {
	if len(pkt) < 5 {
		return 0
	}
	return binary.LittleEndian.Uint16(pkt[3:])
}

// rows reads rows up to the EOF (its status) or an error (0xffff).
func (p *fuzzPeer) rows() (uint16, bool) {
	for {
		pkt, ok := p.read()
		switch {
		case !ok:
			return 0, false
		case pkt[0] == 0xff:
			p.checkErr(pkt)
			return 0xffff, true
		case p.isEnd(pkt):
			return p.endStatus(pkt), true
		}
	}
}

// prepared reads a COM_STMT_PREPARE answer: an error, or the statement's
// OK and its parameter and column definitions.
func (p *fuzzPeer) prepared() bool {
	pkt, ok := p.read()
	if !ok {
		return false
	}
	if pkt[0] == 0xff {
		p.checkErr(pkt)
		return true
	}
	if pkt[0] != 0x00 || len(pkt) < 12 {
		p.t.Fatalf("malformed prepare OK % x", trim(pkt))
	}
	for _, n := range []uint16{binary.LittleEndian.Uint16(pkt[7:]), binary.LittleEndian.Uint16(pkt[5:])} {
		if n == 0 {
			continue
		}
		if _, ok := p.columns(int(n)); !ok {
			return false
		}
	}
	return true
}

// changeUser reads a COM_CHANGE_USER answer, answering its auth switch.
func (p *fuzzPeer) changeUser() bool {
	for switches := 0; ; switches++ {
		pkt, ok := p.read()
		switch {
		case !ok:
			return false
		case pkt[0] == 0x00:
			p.checkOK(pkt)
			return true
		case pkt[0] == 0xff:
			p.checkErr(pkt)
			return true
		case pkt[0] == 0xfe && switches == 0:
			plugin, salt, _ := bytes.Cut(pkt[1:], []byte{0})
			if string(plugin) != mysql.AUTH_NATIVE_PASSWORD {
				p.t.Fatalf("auth switch to %q", plugin)
			}
			reply := bytes.Repeat([]byte{'x'}, 20)
			if p.flags&fzRightPassword != 0 {
				reply = mysql.CalcNativePassword(bytes.TrimSuffix(salt, []byte{0}), []byte("secret"))
			}
			if !p.write(p.seq, reply) {
				return false
			}
			p.seq++
		default:
			p.t.Fatalf("COM_CHANGE_USER answered % x", trim(pkt))
		}
	}
}

// rawTail writes tail as it is and closes the client's side: whatever the
// proxy makes of it, what comes back must be whole packets, and then the
// end of the connection.
func (p *fuzzPeer) rawTail(tail []byte) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := p.conn.Write(tail); err == nil {
			_ = p.conn.(*net.TCPConn).CloseWrite()
		}
	}()
	for {
		if _, _, ok := p.readAny(); !ok {
			break
		}
	}
	<-done
}

// addFuzzSeeds: every command byte with short payloads, the statements of
// lint's application corpus as COM_QUERY, prepared statements executed
// with broken parameters, odd framing and sequence numbers.
func addFuzzSeeds(f *testing.F) {
	add := func(flags uint8, tail []byte, cmds ...[]byte) { f.Add(flags, bytes.Join(cmds, nil), tail) }
	prep := func(sql string) []byte { return rec(0, mysql.COM_STMT_PREPARE, []byte(sql)...) }
	query := func(sql string) []byte { return rec(0, mysql.COM_QUERY, []byte(sql)...) }
	for c := 0; c < 256; c++ {
		add(0, nil, prep("SELECT ? FROM t"), rec(0, byte(c)), rec(0, byte(c), 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0xfe, 0, 1, 'a'))
	}
	app, err := os.ReadFile("../lint/testdata/app.sql")
	if err != nil {
		f.Fatal(err)
	}
	stmts := sqlclass.Split(string(app), sqlclass.Options{})
	var session [][]byte
	sessions := 0
	for i, s := range stmts {
		add(uint8(i%2)*fzMultiStatements|fzSessionTrack, nil, query(s))
		if session = append(session, query(s)); len(session) == fuzzMaxRecords || i == len(stmts)-1 {
			add(fzLocalFiles|fzDatabase|uint8(sessions%2)*fzDeprecateEOF, nil, session...)
			session, sessions = nil, sessions+1
		}
	}
	add(fzMultiStatements, nil, query(strings.Join(stmts[:20], ";\n")))

	// Prepared statements and their executes, whole and broken.
	ins := prep("INSERT INTO t VALUES (?, ?)")
	exec := func(tail ...byte) []byte {
		return rec(0, mysql.COM_STMT_EXECUTE, append([]byte{1, 0, 0, 0}, tail...)...)
	}
	long := []byte{mysql.MYSQL_TYPE_LONGLONG, 0}
	str := []byte{mysql.MYSQL_TYPE_VAR_STRING, 0}
	for _, e := range [][]byte{
		exec(),                    // no flags
		exec(0, 1, 0, 0, 0),       // no NULL bitmap
		exec(0, 1, 0, 0, 0, 0),    // no new-params-bound flag
		exec(0, 1, 0, 0, 0, 0, 0), // no types ever bound
		exec(0, 1, 0, 0, 0, 0, 1, long[0], long[1]),                                                            // one type for two parameters
		exec(append([]byte{0, 1, 0, 0, 0, 0, 1}, append(long, long...)...)...),                                 // types, no values
		exec(append(append([]byte{0, 1, 0, 0, 0, 0, 1}, append(long, long...)...), 7, 0, 0, 0, 0, 0, 0, 0)...), // one value
		exec(append([]byte{0, 1, 0, 0, 0, 3, 1}, append(long, str...)...)...),                                  // both NULL
		exec(append(append([]byte{0, 1, 0, 0, 0, 0, 1}, append(str, str...)...), 0xfc, 0xff, 0xff)...),         // a string longer than the packet
		exec(append([]byte{1, 0, 0, 0, 0, 0, 1}, append(long, long...)...)...),                                 // a cursor, no iterations
		rec(0, mysql.COM_STMT_EXECUTE, 0, 0, 0, 0, 0, 1, 0, 0, 0),                                              // statement 0
		rec(0, mysql.COM_STMT_EXECUTE, 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0, 0),                                  // statement 2^32-1
	} {
		add(0, nil, ins, e)
		add(0, nil, query("BEGIN"), ins, e, e, query("COMMIT"))
		add(0, nil, prep("SELECT ? FROM t"), e, rec(0, mysql.COM_STMT_FETCH, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff))
	}
	add(0, nil, ins, rec(0, mysql.COM_STMT_SEND_LONG_DATA, 1, 0, 0, 0, 7, 0, 'x'), rec(0, mysql.COM_STMT_SEND_LONG_DATA, 1, 0, 0, 0, 0, 0, 'y'),
		exec(0, 1, 0, 0, 0, 0, 0), rec(0, mysql.COM_STMT_RESET, 1, 0, 0, 0), rec(0, mysql.COM_STMT_CLOSE, 1, 0, 0, 0), exec(0, 1, 0, 0, 0, 0, 0))
	add(0, nil, prep("SELECT @@aurora_replica_read_consistency, ?"), exec(0, 1, 0, 0, 0, 0, 0))
	add(0, nil, prep("SELECT "+strings.Repeat("?, ", 299)+"?"), exec(0, 1, 0, 0, 0, 0xff, 0))
	add(0, nil, query("PREPARE s FROM 'INSERT INTO t VALUES (?)'"), query("SET @a = 1"), query("EXECUTE s USING @a"), query("EXECUTE s"),
		query("EXECUTE s USING @a, @b"), query("DEALLOCATE PREPARE s"), query("EXECUTE s USING @a"))

	// Sessions: transactions, levels, other commands.
	add(0, nil, query("BEGIN"), query("INSERT INTO t VALUES (1)"), query("SELECT 1"), rec(0, mysql.COM_RESET_CONNECTION), query("COMMIT"))
	add(0, nil, query("SET autocommit = 0"), query("INSERT INTO t VALUES (1)"), rec(0, mysql.COM_PING), query("ROLLBACK RELEASE"), query("SELECT 1"))
	add(0, nil, query("SET aurora_replica_read_consistency = 'SESSION'"), query("INSERT INTO t VALUES (1)"), query("SELECT a FROM t"),
		query("SET aurora_replica_read_consistency = 'GLOBAL'"), query("SELECT a FROM t"))
	add(fzMultiStatements, nil, query("SELECT 1; INSERT INTO t VALUES (1); SELECT a FROM t; BEGIN; INSERT INTO t VALUES (1); COMMIT"))
	add(0, nil, query("SELECT 1; SELECT 2")) // multi-statements not negotiated
	add(fzLocalFiles, nil, query("LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE t"))
	add(fzLocalFiles, nil, query("CREATE TEMPORARY TABLE tmp (x INT)"), query("LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE tmp"))
	add(0, nil, query("KILL QUERY 1"), query("KILL 99999"), query("KILL CONNECTION_ID()"), query("SELECT 1"))
	add(0, nil, rec(0, mysql.COM_INIT_DB, []byte("shop")...), rec(0, mysql.COM_INIT_DB), rec(0, mysql.COM_FIELD_LIST, []byte("t\x00")...), rec(0, mysql.COM_REFRESH, 1))
	add(0, nil, rec(0, mysql.COM_SET_OPTION, 0, 0), rec(0, mysql.COM_SET_OPTION, 1, 0), rec(0, mysql.COM_SET_OPTION, 5, 0), rec(0, mysql.COM_SET_OPTION))
	for _, flags := range []uint8{0, fzRightPassword} {
		add(flags, nil, query("INSERT INTO t VALUES (1)"), rec(0, mysql.COM_CHANGE_USER, []byte("app\x00\x14xxxxxxxxxxxxxxxxxxxxshop\x00")...), query("SELECT 1"))
		add(flags, nil, rec(0, mysql.COM_CHANGE_USER, []byte("nobody\x00\x00\x00")...), rec(0, mysql.COM_CHANGE_USER, []byte("app")...), rec(0, mysql.COM_CHANGE_USER, []byte("app\x00\xff")...))
	}

	// Framing: sequence numbers, empty and oversized packets, and tails
	// that break off or claim more than they hold.
	add(0, nil, rec(0xff, mysql.COM_QUERY, []byte("SELECT 1")...), rec(7, mysql.COM_PING), []byte{0, 0, 0}) // the last: an empty packet
	add(0, nil, rec(0, mysql.COM_QUERY, bytes.Repeat([]byte{'x'}, fuzzMaxPacket)...), query("SELECT 1"))
	add(0, nil, rec(0, mysql.COM_QUERY, append([]byte("SELECT '"), bytes.Repeat([]byte{'x'}, fuzzMaxPacket-9)...)...), query("SELECT 1"))
	frame := func(seq byte, payload ...byte) []byte {
		return append([]byte{byte(len(payload)), byte(len(payload) >> 8), 0, seq}, payload...)
	}
	for _, tail := range [][]byte{
		append(frame(0, []byte("\x03SELECT 1")...), 0xe8, 0x03, 0, 0, 0x03, 'S', 'E'), // a packet claiming 1000 bytes
		{0x05, 0, 0},
		append([]byte{0xff, 0xff, 0xff, 0, 0x03}, "SELECT"...), // a continuation never completed
		bytes.Join([][]byte{frame(0, 0x0e), frame(0, []byte("\x03SELECT 1")...), frame(1, 0x03)}, nil),
		append([]byte{0x10, 0x27, 0, 0}, bytes.Repeat([]byte{'x'}, 10000)...), // over the limit
		frame(0, []byte("\x11app\x00\x14xxxxxxxxxxxxxxxxxxxx\x00")...),        // a change of user, its auth switch unanswered
		frame(0, []byte("\x03LOAD DATA LOCAL INFILE 'x' INTO TABLE t")...),
		frame(0, []byte("\x16SELECT ?")...),
	} {
		add(fzLocalFiles, tail)
	}
}

// rec is one record of the fuzz target's cmds.
func rec(seq byte, cmd byte, body ...byte) []byte {
	n := 1 + len(body)
	return append([]byte{seq, byte(n), byte(n >> 8), cmd}, body...)
}
