package diff

// Responses decoded into named fields, so two servers' answers compare
// field by field and a difference names what differs.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
)

// absent is the value of a field one side did not send.
const absent = "<absent>"

type field struct{ name, value string }

type fields []field

func (f *fields) add(name, format string, args ...any) {
	*f = append(*f, field{name, fmt.Sprintf(format, args...)})
}

// respKind says how to read a command's response.
type respKind int

const (
	textResult   respKind = iota // COM_QUERY: text rows
	binaryResult                 // COM_STMT_EXECUTE: binary rows
	prepareOK                    // COM_STMT_PREPARE
	fieldList                    // COM_FIELD_LIST: column definitions, then EOF
	fetchRows                    // COM_STMT_FETCH: binary rows, then EOF
	noResponse                   // COM_STMT_CLOSE
)

// readResponse reads one command's whole response: every result of a
// multi-result answer until one without SERVER_MORE_RESULTS_EXISTS. A
// LOCAL INFILE request is answered with infile.
func (c *rawClient) readResponse(kind respKind, infile []byte) (fields, error) {
	var out fields
	if kind == noResponse {
		return out, nil
	}
	deprecateEOF := c.caps&gmysql.CLIENT_DEPRECATE_EOF != 0
	if kind == fieldList || kind == fetchRows {
		for j := 0; ; j++ {
			p, err := c.readPacket()
			if err != nil {
				return out, err
			}
			switch {
			case p[0] == 0xff:
				decodeErrFields(&out, "err.", p)
				return out, nil
			case p[0] == 0xfe && len(p) < 0xffffff:
				decodeEnd(&out, "end.", p, c.caps)
				return out, nil
			}
			if kind == fetchRows {
				out.add(fmt.Sprintf("row%d", j), "% x", p)
			} else {
				c.decodeColumn(&out, fmt.Sprintf("col%d.", j), p)
			}
		}
	}
	for i := 0; ; i++ {
		pre := fmt.Sprintf("r%d.", i)
		p, err := c.readPacket()
		if err != nil {
			return out, err
		}
		switch {
		case p[0] == 0x00 && kind == prepareOK:
			return c.readPrepareOK(out, p, deprecateEOF)
		case p[0] == 0x00:
			st := decodeOK(&out, pre+"ok.", p, c.caps)
			if st&gmysql.SERVER_MORE_RESULTS_EXISTS == 0 {
				return out, nil
			}
			continue
		case p[0] == 0xff:
			decodeErrFields(&out, pre+"err.", p)
			return out, nil
		case p[0] == 0xfe && len(p) < 9: // COM_SET_OPTION's answer
			decodeEnd(&out, pre+"end.", p, c.caps)
			return out, nil
		case p[0] == 0xfb:
			out.add(pre+"infile.request", "%q", p[1:])
			if err := c.sendInfile(infile); err != nil {
				return out, err
			}
			i--
			continue
		}
		n, w, _ := lenEncInt(p)
		out.add(pre+"columns", "%d", n)
		follows := true
		if c.ext&extCacheMetadata != 0 && w < len(p) {
			// MARIADB_CLIENT_CACHE_METADATA: 0 = the client has the
			// definitions from the statement's prepare or last execute.
			out.add(pre+"metadata_follows", "%d", p[w])
			follows = p[w] != 0
		}
		for j := 0; follows && j < int(n); j++ {
			cp, err := c.readPacket()
			if err != nil {
				return out, err
			}
			c.decodeColumn(&out, fmt.Sprintf("%scol%d.", pre, j), cp)
		}
		if !deprecateEOF {
			ep, err := c.readPacket()
			if err != nil {
				return out, err
			}
			if decodeEnd(&out, pre+"cols_end.", ep, c.caps)&gmysql.SERVER_STATUS_CURSOR_EXISTS != 0 {
				return out, nil // rows come with COM_STMT_FETCH
			}
		}
		for row := 0; ; row++ {
			rp, err := c.readPacket()
			if err != nil {
				return out, err
			}
			if rp[0] == 0xff {
				decodeErrFields(&out, pre+"err.", rp)
				return out, nil
			}
			if rp[0] == 0xfe && len(rp) < 0xffffff && (deprecateEOF || len(rp) < 9) {
				st := decodeEnd(&out, pre+"end.", rp, c.caps)
				if st&gmysql.SERVER_MORE_RESULTS_EXISTS == 0 {
					return out, nil
				}
				break
			}
			rowName := fmt.Sprintf("%srow%d", pre, row)
			if kind == binaryResult {
				out.add(rowName, "% x", rp)
			} else {
				decodeTextRow(&out, rowName, rp, int(n))
			}
		}
	}
}

func (c *rawClient) sendInfile(data []byte) error {
	for len(data) > 0 {
		n := min(len(data), 16<<10)
		if err := c.writePacket(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return c.writePacket(nil)
}

// readPrepareOK reads COM_STMT_PREPARE's answer: the statement, its
// parameter and column definitions.
func (c *rawClient) readPrepareOK(out fields, p []byte, deprecateEOF bool) (fields, error) {
	if len(p) < 12 {
		out.add("prepare.short", "% x", p)
		return out, nil
	}
	out.add("prepare.statement_id", "%d", binary.LittleEndian.Uint32(p[1:]))
	cols := int(binary.LittleEndian.Uint16(p[5:]))
	params := int(binary.LittleEndian.Uint16(p[7:]))
	out.add("prepare.columns", "%d", cols)
	out.add("prepare.params", "%d", params)
	out.add("prepare.filler", "%d", p[9])
	out.add("prepare.warnings", "%d", binary.LittleEndian.Uint16(p[10:]))
	if len(p) > 12 {
		out.add("prepare.tail", "% x", p[12:])
	}
	for _, part := range []struct {
		name string
		n    int
	}{{"param", params}, {"col", cols}} {
		for j := 0; j < part.n; j++ {
			cp, err := c.readPacket()
			if err != nil {
				return out, err
			}
			c.decodeColumn(&out, fmt.Sprintf("prepare.%s%d.", part.name, j), cp)
		}
		if part.n > 0 && !deprecateEOF {
			ep, err := c.readPacket()
			if err != nil {
				return out, err
			}
			decodeEnd(&out, "prepare."+part.name+"s_end.", ep, c.caps)
		}
	}
	return out, nil
}

// statementID is the id a prepare answer gave, or 0.
func (f fields) statementID() uint32 {
	for _, x := range f {
		if x.name == "prepare.statement_id" {
			var id uint32
			fmt.Sscan(x.value, &id)
			return id
		}
	}
	return 0
}

// decodeOK decodes an OK packet (header 0x00, or 0xfe for the OK that ends
// a result under CLIENT_DEPRECATE_EOF) the way MariaDB's and MySQL's
// net_send_ok write it: the info text is length-prefixed with or without
// CLIENT_SESSION_TRACK, and session state follows it when flagged.
func decodeOK(out *fields, pre string, p []byte, caps uint32) uint16 {
	out.add(pre+"header", "0x%02x", p[0])
	rest := p[1:]
	for _, name := range []string{"affected_rows", "insert_id"} {
		v, n, ok := lenEncInt(rest)
		if !ok {
			out.add(pre+name, "<malformed % x>", rest)
			return 0
		}
		out.add(pre+name, "%d", v)
		rest = rest[n:]
	}
	if len(rest) < 4 {
		out.add(pre+"status", "<missing: % x>", rest)
		return 0
	}
	st := binary.LittleEndian.Uint16(rest)
	out.add(pre+"status", "%s", statusString(st))
	out.add(pre+"warnings", "%d", binary.LittleEndian.Uint16(rest[2:]))
	rest = rest[4:]
	if len(rest) == 0 {
		out.add(pre+"info", absent)
		return st
	}
	info, n, ok := lenEnc(rest)
	if !ok {
		out.add(pre+"info", "<not length-prefixed: %q>", rest)
		return st
	}
	out.add(pre+"info", "%q", info)
	rest = rest[n:]
	if caps&gmysql.CLIENT_SESSION_TRACK != 0 && st&gmysql.SERVER_SESSION_STATE_CHANGED != 0 {
		block, n, ok := lenEnc(rest)
		if !ok {
			out.add(pre+"state", "<malformed % x>", rest)
			return st
		}
		decodeState(out, pre+"state.", block)
		rest = rest[n:]
	}
	if len(rest) > 0 {
		out.add(pre+"tail", "% x", rest)
	}
	return st
}

// decodeState names each session-state entry by its type (and the
// variable, for system variables).
func decodeState(out *fields, pre string, block []byte) {
	seen := map[string]int{}
	for len(block) > 0 {
		typ := block[0]
		data, n, ok := lenEnc(block[1:])
		if !ok {
			out.add(pre+"malformed", "% x", block)
			return
		}
		block = block[1+n:]
		name, value := fmt.Sprintf("type%d", typ), fmt.Sprintf("% x", data)
		switch typ {
		case 0: // SESSION_TRACK_SYSTEM_VARIABLES: name, value
			if k, kn, ok := lenEnc(data); ok {
				if v, _, ok := lenEnc(data[kn:]); ok {
					name, value = "sysvar."+string(k), fmt.Sprintf("%q", v)
				}
			}
		case 1: // SESSION_TRACK_SCHEMA
			if v, _, ok := lenEnc(data); ok {
				name, value = "schema", fmt.Sprintf("%q", v)
			}
		case 2: // SESSION_TRACK_STATE_CHANGE
			if v, _, ok := lenEnc(data); ok {
				name, value = "state_change", fmt.Sprintf("%q", v)
			}
		case 4, 5: // transaction characteristics, transaction state
			if v, _, ok := lenEnc(data); ok {
				name, value = map[byte]string{4: "trx_characteristics", 5: "trx_state"}[typ], fmt.Sprintf("%q", v)
			}
		}
		if seen[name]++; seen[name] > 1 {
			name = fmt.Sprintf("%s#%d", name, seen[name])
		}
		out.add(pre+name, "%s", value)
	}
}

// decodeEnd decodes the packet that ends column definitions or rows: a
// classic EOF, or under CLIENT_DEPRECATE_EOF an OK with header 0xfe.
func decodeEnd(out *fields, pre string, p []byte, caps uint32) uint16 {
	if p[0] == 0xfe && len(p) < 9 && caps&gmysql.CLIENT_DEPRECATE_EOF == 0 {
		out.add(pre+"eof.warnings", "%d", binary.LittleEndian.Uint16(p[1:]))
		st := binary.LittleEndian.Uint16(p[3:])
		out.add(pre+"eof.status", "%s", statusString(st))
		if len(p) != 5 {
			out.add(pre+"eof.length", "%d", len(p))
		}
		return st
	}
	if p[0] == 0xfe {
		return decodeOK(out, pre+"ok.", p, caps)
	}
	out.add(pre+"unexpected", "% x", p)
	return 0
}

func decodeErrFields(out *fields, pre string, p []byte) {
	if len(p) < 3 {
		out.add(pre+"short", "% x", p)
		return
	}
	out.add(pre+"code", "%d", binary.LittleEndian.Uint16(p[1:]))
	rest := p[3:]
	if len(rest) >= 6 && rest[0] == '#' {
		out.add(pre+"state", "%s", rest[1:6])
		rest = rest[6:]
	} else {
		out.add(pre+"state", absent)
	}
	out.add(pre+"message", "%q", rest)
}

// decodeColumn decodes a Protocol::ColumnDefinition41.
// decodeColumn decodes a column definition; with MariaDB's extended type
// info it has a type_info block after the names.
func (c *rawClient) decodeColumn(out *fields, pre string, p []byte) {
	rest := p
	names := []string{"catalog", "schema", "table", "org_table", "name", "org_name"}
	if c.ext&extExtendedTypes != 0 {
		names = append(names, "type_info")
	}
	for _, name := range names {
		v, n, ok := lenEnc(rest)
		if !ok {
			out.add(pre+name, "<malformed % x>", rest)
			return
		}
		out.add(pre+name, "%q", v)
		rest = rest[n:]
	}
	if len(rest) < 13 || rest[0] != 0x0c {
		out.add(pre+"fixed", "<malformed % x>", rest)
		return
	}
	out.add(pre+"charset", "%d", binary.LittleEndian.Uint16(rest[1:]))
	out.add(pre+"length", "%d", binary.LittleEndian.Uint32(rest[3:]))
	out.add(pre+"type", "0x%02x", rest[7])
	out.add(pre+"flags", "0x%04x", binary.LittleEndian.Uint16(rest[8:]))
	out.add(pre+"decimals", "%d", rest[10])
	if tail := rest[13:]; len(tail) > 0 || !bytes.Equal(rest[11:13], []byte{0, 0}) {
		out.add(pre+"tail", "% x", rest[11:])
	}
}

func decodeTextRow(out *fields, pre string, p []byte, cols int) {
	rest := p
	for j := 0; j < cols; j++ {
		if len(rest) > 0 && rest[0] == 0xfb {
			out.add(fmt.Sprintf("%s.c%d", pre, j), "NULL")
			rest = rest[1:]
			continue
		}
		v, n, ok := lenEnc(rest)
		if !ok {
			out.add(pre, "<malformed % x>", p)
			return
		}
		out.add(fmt.Sprintf("%s.c%d", pre, j), "%q", v)
		rest = rest[n:]
	}
	if len(rest) > 0 {
		out.add(pre+".tail", "% x", rest)
	}
}

// lenEnc reads a length-encoded string.
func lenEnc(b []byte) ([]byte, int, bool) {
	v, n, ok := lenEncInt(b)
	if !ok || v > uint64(len(b)-n) {
		return nil, 0, false
	}
	return b[n : n+int(v)], n + int(v), true
}

// lenEncInt reads a length-encoded integer; NULL (0xfb) and 0xff fail.
func lenEncInt(b []byte) (uint64, int, bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	size := map[byte]int{0xfc: 2, 0xfd: 3, 0xfe: 8}[b[0]]
	switch {
	case b[0] < 0xfb:
		return uint64(b[0]), 1, true
	case size == 0 || len(b) < 1+size:
		return 0, 0, false
	}
	var v uint64
	for i := size; i >= 1; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, 1 + size, true
}

var statusNames = []struct {
	bit  uint16
	name string
}{
	{gmysql.SERVER_STATUS_IN_TRANS, "IN_TRANS"}, {gmysql.SERVER_STATUS_AUTOCOMMIT, "AUTOCOMMIT"},
	{0x0004, "0x0004"}, {gmysql.SERVER_MORE_RESULTS_EXISTS, "MORE_RESULTS"},
	{gmysql.SERVER_STATUS_NO_GOOD_INDEX_USED, "NO_GOOD_INDEX_USED"}, {gmysql.SERVER_STATUS_NO_INDEX_USED, "NO_INDEX_USED"},
	{gmysql.SERVER_STATUS_CURSOR_EXISTS, "CURSOR_EXISTS"}, {gmysql.SERVER_STATUS_LAST_ROW_SEND, "LAST_ROW_SENT"},
	{gmysql.SERVER_STATUS_DB_DROPPED, "DB_DROPPED"}, {gmysql.SERVER_STATUS_NO_BACKSLASH_ESCAPED, "NO_BACKSLASH_ESCAPES"},
	{gmysql.SERVER_STATUS_METADATA_CHANGED, "METADATA_CHANGED"}, {gmysql.SERVER_QUERY_WAS_SLOW, "QUERY_WAS_SLOW"},
	{gmysql.SERVER_PS_OUT_PARAMS, "PS_OUT_PARAMS"}, {gmysql.SERVER_STATUS_IN_TRANS_READONLY, "IN_TRANS_READONLY"},
	{gmysql.SERVER_SESSION_STATE_CHANGED, "SESSION_STATE_CHANGED"}, {0x8000, "0x8000"},
}

// statusString shows status flags by name, hex first.
func statusString(st uint16) string {
	var names []string
	for _, s := range statusNames {
		if st&s.bit != 0 {
			names = append(names, s.name)
		}
	}
	return fmt.Sprintf("0x%04x %s", st, strings.Join(names, "|"))
}

var capNames = map[uint32]string{}

func init() {
	for bit := uint32(1); bit != 0; bit <<= 1 {
		if n, ok := gmysql.CapNames[bit]; ok {
			capNames[bit] = n
		}
	}
}

// capsString shows capability flags by name.
func capsString(caps uint32) string {
	var names []string
	for bit := uint32(1); bit != 0; bit <<= 1 {
		if caps&bit == 0 {
			continue
		}
		if n, ok := capNames[bit]; ok {
			names = append(names, n)
		} else {
			names = append(names, fmt.Sprintf("1<<%d", bitIndex(bit)))
		}
	}
	return fmt.Sprintf("0x%08x %s", caps, strings.Join(names, "|"))
}

func bitIndex(b uint32) int {
	i := 0
	for b > 1 {
		b >>= 1
		i++
	}
	return i
}
