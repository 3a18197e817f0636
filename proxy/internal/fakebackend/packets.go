package fakebackend

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// The packets the fake writes, in the classic framing (the fake offers no
// CLIENT_DEPRECATE_EOF, so results end with EOF packets).

const typeVarString = 0xfd

func appendOK(b []byte, ok OK, status uint16, sessionTrack bool) []byte {
	var state []byte
	if ok.GTID != "" && sessionTrack {
		// One SESSION_TRACK_SYSTEM_VARIABLES entry: last_gtid = GTID.
		entry := appendLenEnc(nil, "last_gtid")
		entry = appendLenEnc(entry, ok.GTID)
		state = append([]byte{0}, mysql.AppendLengthEncodedInteger(nil, uint64(len(entry)))...)
		state = append(state, entry...)
		status |= mysql.SERVER_SESSION_STATE_CHANGED
	}
	b = append(b, 0x00)
	b = mysql.AppendLengthEncodedInteger(b, ok.AffectedRows)
	b = mysql.AppendLengthEncodedInteger(b, ok.InsertID)
	b = binary.LittleEndian.AppendUint16(b, status)
	b = binary.LittleEndian.AppendUint16(b, ok.Warnings)
	if !sessionTrack {
		return append(b, ok.Info...)
	}
	if ok.Info == "" && state == nil {
		return b
	}
	b = appendLenEnc(b, ok.Info)
	if state != nil {
		b = mysql.AppendLengthEncodedInteger(b, uint64(len(state)))
		b = append(b, state...)
	}
	return b
}

func appendErr(b []byte, e Err) []byte {
	state := e.State
	if len(state) != 5 {
		state = "HY000"
	}
	b = append(b, 0xff)
	b = binary.LittleEndian.AppendUint16(b, e.Code)
	b = append(b, '#')
	b = append(b, state...)
	return append(b, e.Message...)
}

// appendProgress is MariaDB's progress packet: 0xFF, 0xFFFF, one string
// to come, stage, last stage, progress (3 bytes), the state.
func appendProgress(b []byte, p Progress) []byte {
	b = append(b, 0xff, 0xff, 0xff, 1, p.Stage, p.MaxStage, byte(p.Done), byte(p.Done>>8), byte(p.Done>>16))
	return appendLenEnc(b, p.State)
}

func appendEOF(b []byte, status uint16) []byte {
	return append(b, 0xfe, 0, 0, byte(status), byte(status>>8))
}

// appendColumn is a ColumnDefinition41 of a VAR_STRING column.
func appendColumn(b []byte, name string) []byte {
	for _, s := range []string{"def", "", "", "", name, name} {
		b = appendLenEnc(b, s)
	}
	b = append(b, 0x0c)
	b = binary.LittleEndian.AppendUint16(b, 45) // utf8mb4_general_ci
	b = binary.LittleEndian.AppendUint32(b, 1024)
	return append(b, typeVarString, 0, 0, 0, 0, 0) // type, flags, decimals, filler
}

func appendTextRow(b []byte, row []any) []byte {
	for _, v := range row {
		if v == nil {
			b = append(b, 0xfb)
			continue
		}
		b = appendLenEnc(b, fmt.Sprint(v))
	}
	return b
}

// appendBinaryRow is a row of the binary protocol (COM_STMT_EXECUTE):
// a NULL bitmap with an offset of 2, then the non-NULL values.
func appendBinaryRow(b []byte, row []any) []byte {
	b = append(b, 0x00)
	bitmap := make([]byte, (len(row)+7+2)/8)
	for i, v := range row {
		if v == nil {
			bitmap[(i+2)/8] |= 1 << ((i + 2) % 8)
		}
	}
	b = append(b, bitmap...)
	for _, v := range row {
		if v != nil {
			b = appendLenEnc(b, fmt.Sprint(v))
		}
	}
	return b
}

// appendPrepareOK is the first packet of a COM_STMT_PREPARE response.
func appendPrepareOK(b []byte, id uint32, cols, params int) []byte {
	b = append(b, 0x00)
	b = binary.LittleEndian.AppendUint32(b, id)
	b = binary.LittleEndian.AppendUint16(b, uint16(cols))
	b = binary.LittleEndian.AppendUint16(b, uint16(params))
	return append(b, 0, 0, 0) // filler, warnings
}

func appendLenEnc(b []byte, s string) []byte {
	b = mysql.AppendLengthEncodedInteger(b, uint64(len(s)))
	return append(b, s...)
}

// params decodes the parameters of a COM_STMT_EXECUTE payload (after the
// command byte and the statement id) as text; NULL is "NULL". types are
// the types bound earlier, replaced when the packet binds new ones; long
// holds the values sent as long data, which the packet leaves out. The
// types a test sends through drivers are covered; others are an error.
func params(data []byte, n int, types []byte, long map[int][]byte) (args []string, bound []byte, err error) {
	if n == 0 {
		return nil, types, nil
	}
	pos := 5 // flags, iteration count
	nb := (n + 7) / 8
	if len(data) < pos+nb+1 {
		return nil, types, fmt.Errorf("short execute packet")
	}
	nulls := data[pos : pos+nb]
	pos += nb
	if data[pos] == 1 {
		pos++
		if len(data) < pos+2*n {
			return nil, types, fmt.Errorf("short parameter types")
		}
		types = append([]byte(nil), data[pos:pos+2*n]...)
		pos += 2 * n
	} else {
		pos++
	}
	if len(types) != 2*n {
		return nil, types, fmt.Errorf("parameters sent without types, and none were bound before")
	}
	for i := 0; i < n; i++ {
		if v, ok := long[i]; ok {
			args = append(args, string(v))
			continue
		}
		if nulls[i/8]&(1<<(i%8)) != 0 {
			args = append(args, "NULL")
			continue
		}
		v, w, err := binaryValue(data[pos:], types[2*i], types[2*i+1]&0x80 != 0)
		if err != nil {
			return nil, types, fmt.Errorf("parameter %d: %w", i+1, err)
		}
		args = append(args, v)
		pos += w
	}
	return args, types, nil
}

// binaryValue reads one parameter value of the binary protocol.
func binaryValue(b []byte, typ byte, unsigned bool) (string, int, error) {
	fixed := map[byte]int{mysql.MYSQL_TYPE_TINY: 1, mysql.MYSQL_TYPE_SHORT: 2, mysql.MYSQL_TYPE_LONG: 4,
		mysql.MYSQL_TYPE_LONGLONG: 8, mysql.MYSQL_TYPE_DOUBLE: 8}
	if w, ok := fixed[typ]; ok {
		if len(b) < w {
			return "", 0, fmt.Errorf("short value")
		}
		var u uint64
		for i := w - 1; i >= 0; i-- {
			u = u<<8 | uint64(b[i])
		}
		switch {
		case typ == mysql.MYSQL_TYPE_DOUBLE:
			return strconv.FormatFloat(math.Float64frombits(u), 'g', -1, 64), w, nil
		case unsigned:
			return strconv.FormatUint(u, 10), w, nil
		}
		shift := 64 - 8*w // sign-extend
		return strconv.FormatInt(int64(u<<shift)>>shift, 10), w, nil
	}
	switch typ {
	case mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_VARCHAR,
		mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_TINY_BLOB, mysql.MYSQL_TYPE_MEDIUM_BLOB, mysql.MYSQL_TYPE_LONG_BLOB:
		s, _, w, err := mysql.LengthEncodedString(b)
		if err != nil {
			return "", 0, err
		}
		return string(s), w, nil
	}
	return "", 0, fmt.Errorf("type %#x not supported by the fake", typ)
}
