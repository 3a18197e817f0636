package capture

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"

	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// prepared is what a session's capture knows of one prepared statement.
type prepared struct {
	sql      string
	redacted bool
	params   int
	types    []byte // the parameter types last bound (2 bytes each)
}

var commandNames = map[byte]string{
	comInitDB: "init_db", comQuery: "query", comFieldList: "field_list", comStatistics: "statistics",
	comPing: "ping", comChangeUser: "change_user", comStmtPrepare: "prepare", comStmtExecute: "execute",
	comStmtSendLong: "send_long_data", comStmtClose: "close_stmt", comStmtReset: "reset_stmt",
	comSetOption: "set_option", comStmtFetch: "fetch", comResetConnection: "reset_connection",
}

// lastStmt is the statement id that names the statement prepared last
// (MariaDB; the npm mariadb connector sends it with a pipelined prepare).
const lastStmt = 0xffffffff

// describe fills rec with command data: its name and what replay needs.
// Nothing of COM_CHANGE_USER but the user is kept (the rest is
// authentication data). last is the statement prepared last, which id -1
// names (0: none).
func describe(rec *Record, data []byte, stmts map[uint32]*prepared, last uint32) {
	rec.Name = commandNames[data[0]]
	if rec.Name == "" {
		rec.Name = "other"
	}
	body := data[1:]
	switch data[0] {
	case comQuery, comStmtPrepare:
		rec.SQL, rec.Redacted = sqlclass.RedactPasswords(string(body), sqlclass.Options{})
	case comInitDB:
		rec.SQL = string(body)
	case comChangeUser:
		if i := bytes.IndexByte(body, 0); i >= 0 {
			rec.User = string(body[:i])
		}
	case comStmtExecute, comStmtSendLong, comStmtClose, comStmtReset, comStmtFetch:
		if len(body) < 4 {
			return
		}
		rec.Stmt = binary.LittleEndian.Uint32(body)
		if rec.Stmt == lastStmt && last != 0 {
			rec.Stmt = last // MariaDB's id of the statement prepared last
		}
		p := stmts[rec.Stmt]
		if p != nil {
			rec.SQL, rec.Redacted = p.sql, p.redacted
		}
		switch {
		case data[0] == comStmtClose || data[0] == comStmtReset:
		case rec.Redacted:
			return // the parameters may be the password
		case data[0] == comStmtExecute && p != nil:
			rec.Params = executeParams(body, p)
			fallthrough
		default:
			rec.Packet = append([]byte(nil), data...)
		}
	case comSetOption:
		rec.Packet = append([]byte(nil), data...)
	}
}

// MySQL binary protocol types (the ones read as numbers; the rest are
// length-encoded strings or temporal values).
const (
	typeTiny      = 1
	typeShort     = 2
	typeLong      = 3
	typeFloat     = 4
	typeDouble    = 5
	typeNull      = 6
	typeTimestamp = 7
	typeLongLong  = 8
	typeInt24     = 9
	typeDate      = 10
	typeTime      = 11
	typeDateTime  = 12
	typeYear      = 13
)

// executeParams decodes a COM_STMT_EXECUTE's bound parameters (body: after
// the command byte), as text; nil when it cannot. The types come from
// the packet or, when it sends none, from the statement's last execute.
func executeParams(body []byte, p *prepared) []*string {
	n := p.params
	if n == 0 || len(body) < 9 {
		return nil
	}
	b := body[9:] // statement id, flags, iteration count
	nb := (n + 7) / 8
	if len(b) < nb+1 {
		return nil
	}
	nulls, bound := b[:nb], b[nb]
	b = b[nb+1:]
	if bound == 1 {
		if len(b) < 2*n {
			return nil
		}
		p.types = append(p.types[:0], b[:2*n]...)
		b = b[2*n:]
	}
	if len(p.types) != 2*n {
		return nil
	}
	out := make([]*string, n)
	for i := 0; i < n; i++ {
		if nulls[i/8]&(1<<(i%8)) != 0 {
			continue
		}
		v, k, ok := binaryValue(b, p.types[2*i], p.types[2*i+1]&0x80 != 0)
		if !ok {
			return nil
		}
		out[i] = &v
		b = b[k:]
	}
	return out
}

// binaryValue reads one binary-protocol value of type typ from b.
func binaryValue(b []byte, typ byte, unsigned bool) (string, int, bool) {
	fixed := func(size int) (uint64, bool) {
		if len(b) < size {
			return 0, false
		}
		var v uint64
		for i := size - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		return v, true
	}
	signed := func(v uint64, bits uint) string {
		if unsigned {
			return strconv.FormatUint(v, 10)
		}
		return strconv.FormatInt(int64(v<<(64-bits))>>(64-bits), 10)
	}
	switch typ {
	case typeNull:
		return "", 0, false
	case typeTiny:
		v, ok := fixed(1)
		return signed(v, 8), 1, ok
	case typeShort, typeYear:
		v, ok := fixed(2)
		return signed(v, 16), 2, ok
	case typeLong, typeInt24:
		v, ok := fixed(4)
		return signed(v, 32), 4, ok
	case typeLongLong:
		v, ok := fixed(8)
		return signed(v, 64), 8, ok
	case typeFloat:
		v, ok := fixed(4)
		return strconv.FormatFloat(float64(math.Float32frombits(uint32(v))), 'g', -1, 32), 4, ok
	case typeDouble:
		v, ok := fixed(8)
		return strconv.FormatFloat(math.Float64frombits(v), 'g', -1, 64), 8, ok
	case typeDate, typeDateTime, typeTimestamp, typeTime:
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return "", 0, false
		}
		return temporal(typ, b[1:1+int(b[0])]), 1 + int(b[0]), true
	}
	n, k := lenEnc(b)
	if k == 0 || uint64(len(b)-k) < n {
		return "", 0, false
	}
	return string(b[k : k+int(n)]), k + int(n), true
}

// temporal formats a binary DATE, DATETIME, TIMESTAMP or TIME value.
func temporal(typ byte, v []byte) string {
	get := func(i, size int) int {
		if len(v) < i+size {
			return 0
		}
		x := 0
		for j := size - 1; j >= 0; j-- {
			x = x<<8 | int(v[i+j])
		}
		return x
	}
	if typ == typeTime {
		sign := ""
		if get(0, 1) == 1 {
			sign = "-"
		}
		h := get(1, 4)*24 + get(5, 1)
		return sign + strconv.Itoa(h) + ":" + two(get(6, 1)) + ":" + two(get(7, 1)) + micros(get(8, 4))
	}
	s := strconv.Itoa(get(0, 2)) + "-" + two(get(2, 1)) + "-" + two(get(3, 1))
	if typ == typeDate {
		return s
	}
	return s + " " + two(get(4, 1)) + ":" + two(get(5, 1)) + ":" + two(get(6, 1)) + micros(get(7, 4))
}

func two(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

func micros(us int) string {
	if us == 0 {
		return ""
	}
	s := strconv.Itoa(us)
	for len(s) < 6 {
		s = "0" + s
	}
	return "." + s
}
