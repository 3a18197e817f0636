package fakebackend

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// conn is one logged-in connection, speaking raw packets after the
// handshake.
type conn struct {
	srv          *Server
	id           int
	r            *bufio.Reader
	w            *bufio.Writer
	seq          uint8
	sessionTrack bool // CLIENT_SESSION_TRACK was negotiated
	progress     bool // the client asked for MARIADB_CLIENT_PROGRESS

	// The session's state, as the status flags report it.
	inTx, autocommit bool
	stmts            map[uint32]*stmt
	lastStmt         uint32
}

// stmt is a statement prepared on this connection.
type stmt struct {
	sql    string
	params int
	types  []byte         // parameter types bound by an execute
	long   map[int][]byte // COM_STMT_SEND_LONG_DATA, by parameter, until the next execute
}

func newConn(s *Server, raw net.Conn, caps uint32, progress bool) *conn {
	return &conn{
		srv: s, r: bufio.NewReader(raw), w: bufio.NewWriter(raw),
		sessionTrack: caps&mysql.CLIENT_SESSION_TRACK != 0,
		progress:     progress,
		autocommit:   true,
		stmts:        map[uint32]*stmt{},
	}
}

// run answers commands until the client quits, a Hangup or a broken
// connection.
func (c *conn) run() {
	for {
		data, err := c.readPacket()
		if err != nil || len(data) == 0 {
			return
		}
		if !c.command(data) {
			return
		}
		if c.w.Flush() != nil {
			return
		}
	}
}

// command handles one command; false ends the connection.
func (c *conn) command(data []byte) bool {
	rec := Command{Conn: c.id}
	body := string(data[1:])
	switch data[0] {
	case mysql.COM_QUIT:
		return false
	case mysql.COM_QUERY:
		rec.Cmd, rec.SQL = "Query", body
		c.srv.record(rec)
		a, _ := c.srv.answerFor(body)
		return c.respond(body, a, false)
	case mysql.COM_INIT_DB, mysql.COM_PING, mysql.COM_RESET_CONNECTION:
		rec.Cmd = map[byte]string{mysql.COM_INIT_DB: "InitDB", mysql.COM_PING: "Ping", mysql.COM_RESET_CONNECTION: "ResetConnection"}[data[0]]
		if data[0] == mysql.COM_INIT_DB {
			rec.SQL = body
		}
		if data[0] == mysql.COM_RESET_CONNECTION {
			c.inTx, c.autocommit, c.stmts = false, true, map[uint32]*stmt{}
		}
		c.srv.record(rec)
		c.write(appendOK(nil, OK{}, c.status(false), c.sessionTrack))
		return true
	case mysql.COM_STMT_PREPARE:
		rec.Cmd, rec.SQL = "Prepare", body
		c.srv.record(rec)
		c.prepare(body)
		return true
	case mysql.COM_STMT_EXECUTE, mysql.COM_STMT_CLOSE, mysql.COM_STMT_RESET, mysql.COM_STMT_SEND_LONG_DATA:
		return c.stmtCommand(data, rec)
	}
	rec.Cmd, rec.SQL = "Unknown", fmt.Sprintf("0x%02x", data[0])
	c.srv.record(rec)
	c.write(appendErr(nil, Err{Code: 1047, State: "08S01", Message: "Unknown command"}))
	return true
}

// prepare answers COM_STMT_PREPARE: the text's question marks are its
// parameters, the columns those of the answer its text would get now.
func (c *conn) prepare(sql string) {
	st := &stmt{sql: sql, params: countParams(sql)}
	c.lastStmt++
	c.stmts[c.lastStmt] = st
	var cols []string
	if a := c.srv.peekFor(sql); len(a) > 0 {
		if rows, ok := a.first().(Rows); ok {
			cols = rows.Columns
		}
	}
	c.write(appendPrepareOK(nil, c.lastStmt, len(cols), st.params))
	if st.params > 0 {
		for i := 0; i < st.params; i++ {
			c.write(appendColumn(nil, "?"))
		}
		c.write(appendEOF(nil, c.status(false)))
	}
	if len(cols) > 0 {
		for _, name := range cols {
			c.write(appendColumn(nil, name))
		}
		c.write(appendEOF(nil, c.status(false)))
	}
}

// stmtCommand handles the commands that name a prepared statement.
func (c *conn) stmtCommand(data []byte, rec Command) bool {
	rec.Cmd = map[byte]string{mysql.COM_STMT_EXECUTE: "Execute", mysql.COM_STMT_CLOSE: "Close",
		mysql.COM_STMT_RESET: "Reset", mysql.COM_STMT_SEND_LONG_DATA: "LongData"}[data[0]]
	var st *stmt
	if len(data) >= 5 {
		st = c.stmts[binary.LittleEndian.Uint32(data[1:])]
	}
	if st == nil {
		rec.SQL = "unknown statement"
		c.srv.record(rec)
		if data[0] == mysql.COM_STMT_EXECUTE || data[0] == mysql.COM_STMT_RESET {
			c.write(appendErr(nil, Err{Code: 1243, Message: "Unknown prepared statement handler given to fakebackend"}))
		}
		return true
	}
	rec.SQL = st.sql
	switch data[0] {
	case mysql.COM_STMT_CLOSE:
		delete(c.stmts, binary.LittleEndian.Uint32(data[1:]))
		c.srv.record(rec)
	case mysql.COM_STMT_SEND_LONG_DATA:
		if len(data) >= 7 {
			if st.long == nil {
				st.long = map[int][]byte{}
			}
			i := int(binary.LittleEndian.Uint16(data[5:]))
			st.long[i] = append(st.long[i], data[7:]...)
		}
		c.srv.record(rec)
	case mysql.COM_STMT_RESET:
		c.srv.record(rec)
		c.write(appendOK(nil, OK{}, c.status(false), c.sessionTrack))
	case mysql.COM_STMT_EXECUTE:
		args, types, err := params(data[5:], st.params, st.types, st.long)
		st.long = nil
		rec.Args = args
		c.srv.record(rec)
		if err != nil {
			c.write(appendErr(nil, Err{Code: 1210, Message: "fakebackend: " + err.Error()}))
			return true
		}
		st.types = types
		a, _ := c.srv.answerFor(st.sql)
		return c.respond(st.sql, a, true)
	}
	return true
}

// respond sends an answer; binary sends its rows in the binary protocol.
// false: the answer was Hangup.
func (c *conn) respond(sql string, a answer, binary bool) bool {
	if len(a) == 0 {
		a = answer{OK{}}
	}
	switch a.first().(type) {
	case Hangup:
		return false
	case Err:
	default:
		c.track(sql)
	}
	for i, r := range a {
		status := c.status(a.moreAfter(i))
		switch r := r.(type) {
		case Progress:
			if c.progress {
				c.write(appendProgress(nil, r))
				if c.w.Flush() != nil {
					return false
				}
			}
		case OK:
			c.write(appendOK(nil, r, status, c.sessionTrack))
		case Err:
			c.write(appendErr(nil, r))
			return true // an error ends the response
		case Rows:
			c.writeRows(r, status, binary)
		case Hangup:
			return false
		case LocalInfile:
			if !c.localInfile(r.Name) {
				return false
			}
		}
	}
	return true
}

// localInfile requests a file and reads it, up to the empty packet that
// ends it.
func (c *conn) localInfile(name string) bool {
	c.write(append([]byte{0xfb}, name...))
	if c.w.Flush() != nil {
		return false
	}
	var file []byte
	for {
		data, err := c.readPacket()
		if err != nil {
			return false
		}
		if len(data) == 0 {
			break
		}
		file = append(file, data...)
	}
	c.srv.record(Command{Conn: c.id, Cmd: "InfileData", SQL: string(file)})
	return true
}

// writeRows sends a result set; status goes on its last EOF.
func (c *conn) writeRows(r Rows, status uint16, binary bool) {
	c.write(mysql.AppendLengthEncodedInteger(nil, uint64(len(r.Columns))))
	for _, name := range r.Columns {
		c.write(appendColumn(nil, name))
	}
	c.write(appendEOF(nil, status&^mysql.SERVER_MORE_RESULTS_EXISTS))
	for _, row := range r.Values {
		if binary {
			c.write(appendBinaryRow(nil, row))
		} else {
			c.write(appendTextRow(nil, row))
		}
	}
	c.write(appendEOF(nil, status))
}

// status is the connection's status flags.
func (c *conn) status(more bool) uint16 {
	var st uint16
	if c.autocommit {
		st |= mysql.SERVER_STATUS_AUTOCOMMIT
	}
	if c.inTx {
		st |= mysql.SERVER_STATUS_IN_TRANS
	}
	if more {
		st |= mysql.SERVER_MORE_RESULTS_EXISTS
	}
	return st
}

var setAutocommit = regexp.MustCompile(`^SET (?:SESSION |LOCAL )?(?:@@(?:SESSION\.|LOCAL\.)?)?AUTOCOMMIT ?= ?'?(\w+)'?$`)

// track follows the transaction state a statement that succeeded leaves,
// the way a server's status flags report it.
func (c *conn) track(sql string) {
	u := strings.ToUpper(strings.Join(strings.Fields(sql), " "))
	switch kw := keyword(u); {
	case kw == "BEGIN" || strings.HasPrefix(u, "START TRANSACTION"):
		c.inTx = true
	case kw == "COMMIT" || (kw == "ROLLBACK" && !strings.HasPrefix(u, "ROLLBACK TO")):
		c.inTx = strings.Contains(u, "AND CHAIN") && !strings.Contains(u, "AND NO CHAIN")
	case setAutocommit.MatchString(u):
		on := map[string]bool{"1": true, "ON": true, "TRUE": true}[setAutocommit.FindStringSubmatch(u)[1]]
		if on {
			c.inTx = false // turning autocommit on commits
		}
		c.autocommit = on
	case !c.autocommit && kw != "SET":
		c.inTx = true // autocommit=0: any statement opens a transaction
	}
}

// countParams counts the question marks outside quotes.
func countParams(sql string) int {
	n := 0
	var quote byte
	for i := 0; i < len(sql); i++ {
		ch := sql[i]
		switch {
		case quote != 0 && quote != '`' && ch == '\\':
			i++ // an escaped character
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"' || ch == '`':
			quote = ch
		case ch == '?':
			n++
		}
	}
	return n
}

// readPacket reads one command, joining its pieces.
func (c *conn) readPacket() ([]byte, error) {
	var data []byte
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
			return nil, err
		}
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		start := len(data)
		data = append(data, make([]byte, n)...)
		if _, err := io.ReadFull(c.r, data[start:]); err != nil {
			return nil, err
		}
		c.seq = hdr[3] + 1
		if n < maxPayload {
			return data, nil
		}
	}
}

// write buffers one packet, split into 16 MiB pieces as the protocol
// says; run flushes after each command.
func (c *conn) write(payload []byte) {
	for {
		n := min(len(payload), maxPayload)
		_, _ = c.w.Write([]byte{byte(n), byte(n >> 8), byte(n >> 16), c.seq})
		_, _ = c.w.Write(payload[:n])
		c.seq++
		payload = payload[n:]
		if n < maxPayload {
			return
		}
	}
}

const maxPayload = 1<<24 - 1
