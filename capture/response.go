package capture

import "encoding/binary"

// MySQL command bytes the capture tells apart.
const (
	comInitDB          = 0x02
	comQuery           = 0x03
	comFieldList       = 0x04
	comStatistics      = 0x09
	comPing            = 0x0e
	comChangeUser      = 0x11
	comStmtPrepare     = 0x16
	comStmtExecute     = 0x17
	comStmtSendLong    = 0x18
	comStmtClose       = 0x19
	comStmtReset       = 0x1a
	comSetOption       = 0x1b
	comStmtFetch       = 0x1c
	comResetConnection = 0x1f
)

const (
	statusMoreResults  = 0x0008
	statusCursorExists = 0x0040
	maxPayload         = 1<<24 - 1
)

// headBytes is how much of a packet the response parser looks at: enough
// for an OK's affected rows, insert id and status, or a prepare's counts.
const headBytes = 32

// Response follows the server's response to one command, packet by
// packet, and says what the client got: an error, affected rows, rows
// returned, a prepared statement. It never holds a whole packet.
type Response struct {
	cmd          byte
	deprecateEOF bool
	cacheMeta    bool // MARIADB_CLIENT_CACHE_METADATA: a column count is followed by the metadata-follows byte
	state        respState
	pending      int // column or parameter definitions still to come
	params       int // a prepare's parameter definitions, after its columns' count
	cols         int
	Result       Result
	done         bool
}

type respState uint8

const (
	stFirst    respState = iota // a result starts: OK, ERR, LOCAL INFILE or a column count
	stColumns                   // column definitions, then (without DEPRECATE_EOF) an EOF
	stColsEOF                   // the EOF after the column definitions
	stRows                      // rows until EOF (or OK with DEPRECATE_EOF) or ERR
	stPrepDefs                  // a prepare's parameter then column definitions
	stPrepEOF                   // the EOF after one group of a prepare's definitions
	stOther                     // a response the capture does not read (COM_STATISTICS, COM_FIELD_LIST, COM_SET_OPTION)
)

// NewResponse starts following the response to command cmd; deprecateEOF
// and cacheMeta say the connection negotiated CLIENT_DEPRECATE_EOF and
// MariaDB's MARIADB_CLIENT_CACHE_METADATA.
func NewResponse(cmd byte, deprecateEOF, cacheMeta bool) Response {
	r := Response{cmd: cmd, deprecateEOF: deprecateEOF, cacheMeta: cacheMeta}
	switch cmd {
	case comStmtFetch:
		r.state = stRows
	case comStatistics, comFieldList, comSetOption:
		r.state = stOther
	case comStmtClose, comStmtSendLong:
		r.done = true // no response
	}
	return r
}

// Done says the response is complete.
func (r *Response) Done() bool { return r.done }

// Packet takes the next packet of the response: head is its first bytes
// (up to headBytes or all), n its whole length. It returns Done().
func (r *Response) Packet(head []byte, n int) bool {
	if r.done || len(head) == 0 {
		return r.done
	}
	if len(head) >= 3 && head[0] == 0xff && head[1] == 0xff && head[2] == 0xff && r.state != stColumns && r.state != stPrepDefs {
		return false // MariaDB's progress report (error code 0xFFFF): the answer follows
	}
	if head[0] == 0xff && r.state != stColumns && r.state != stPrepDefs {
		if len(head) >= 3 {
			r.Result.Error = binary.LittleEndian.Uint16(head[1:3])
		}
		r.done = true
		return true
	}
	eof := head[0] == 0xfe && n < maxPayload && (n < 9 || r.deprecateEOF)
	switch r.state {
	case stOther:
		// COM_STATISTICS and COM_SET_OPTION (an EOF) are one packet;
		// COM_FIELD_LIST ends with an EOF.
		r.done = r.cmd != comFieldList || eof
	case stFirst:
		r.first(head)
	case stColumns:
		if r.pending--; r.pending <= 0 {
			r.columnsDone()
		}
	case stColsEOF:
		r.state = stRows
		if st, ok := eofStatus(head); ok && st&statusCursorExists != 0 {
			r.done = true // rows come with COM_STMT_FETCH
		}
	case stRows:
		if !eof {
			r.Result.Rows++
			break
		}
		st, _ := eofStatus(head)
		if r.deprecateEOF {
			st = okStatus(head)
		}
		r.more(st)
	case stPrepDefs:
		if r.pending--; r.pending <= 0 {
			r.prepGroupEnd()
		}
	case stPrepEOF:
		r.prepNext()
	}
	return r.done
}

func (r *Response) first(head []byte) {
	switch {
	case head[0] == 0x00 && r.cmd == comStmtPrepare:
		if len(head) >= 9 {
			r.Result.Stmt = binary.LittleEndian.Uint32(head[1:5])
			r.cols = int(binary.LittleEndian.Uint16(head[5:7]))
			r.params = int(binary.LittleEndian.Uint16(head[7:9]))
			r.Result.Params = r.params
		}
		r.prepNext()
	case head[0] == 0x00:
		b := head[1:]
		affected, n := lenEnc(b)
		r.Result.Affected += affected
		b = b[n:]
		_, n = lenEnc(b) // insert id
		b = b[n:]
		var st uint16
		if len(b) >= 2 {
			st = binary.LittleEndian.Uint16(b)
		}
		r.more(st)
	case head[0] == 0xfb || r.cmd == comChangeUser:
		// LOCAL INFILE: the client sends the file, then the OK or ERR
		// come; COM_CHANGE_USER: an authentication exchange before them.
	default:
		cols, n := lenEnc(head)
		r.Result.Sets++
		r.pending, r.state = int(cols), stColumns
		switch {
		case cols == 0:
			r.state = stColsEOF
		case r.cacheMeta && n < len(head) && head[n] == 0:
			r.columnsDone() // the client has the definitions from an earlier answer
		}
	}
}

// columnsDone: a result set's column definitions are over (or skipped);
// its EOF follows, or without one its rows.
func (r *Response) columnsDone() {
	r.state = stColsEOF
	if r.deprecateEOF {
		r.state = stRows
	}
}

// more ends one result: another follows when the status says so.
func (r *Response) more(status uint16) {
	if status&statusMoreResults != 0 {
		r.state = stFirst
		return
	}
	r.done = true
}

// prepNext moves to a prepare's next group of definitions (parameters,
// then columns), or ends the response.
func (r *Response) prepNext() {
	switch {
	case r.params > 0:
		r.pending, r.params, r.state = r.params, 0, stPrepDefs
	case r.cols > 0:
		r.pending, r.cols, r.state = r.cols, 0, stPrepDefs
	default:
		r.done = true
	}
}

func (r *Response) prepGroupEnd() {
	if r.deprecateEOF {
		r.prepNext()
		return
	}
	r.state = stPrepEOF
}

// eofStatus is an EOF packet's status flags.
func eofStatus(head []byte) (uint16, bool) {
	if len(head) >= 5 {
		return binary.LittleEndian.Uint16(head[3:5]), true
	}
	return 0, false
}

// okStatus is an OK packet's status flags (CLIENT_PROTOCOL_41).
func okStatus(head []byte) uint16 {
	b := head[1:]
	_, n := lenEnc(b)
	b = b[n:]
	_, n = lenEnc(b)
	b = b[n:]
	if len(b) >= 2 {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

// lenEnc reads a length-encoded integer; a short or empty b reads as 0
// and consumes what there is.
func lenEnc(b []byte) (uint64, int) {
	if len(b) == 0 {
		return 0, 0
	}
	size := 1
	switch b[0] {
	case 0xfc:
		size = 3
	case 0xfd:
		size = 4
	case 0xfe:
		size = 9
	}
	if size == 1 {
		return uint64(b[0]), 1
	}
	if len(b) < size {
		return 0, len(b)
	}
	var v uint64
	for i := size - 1; i >= 1; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, size
}
