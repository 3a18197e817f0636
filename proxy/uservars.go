package proxy

import (
	"encoding/hex"
	"strings"

	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// carryUserVars copies the values of the user variables a forwarded
// statement uses from the reader session (where SET @v and SELECT … INTO @v
// ran) to the writer session, keeping their types.
func (s *session) carryUserVars(st *sqlclass.Statement) *sqlError {
	if len(st.UserVars) == 0 {
		return nil
	}
	return s.copyUserVars(s.reader, s.writer, st.UserVars)
}

// copyUserVars copies user variables from one backend session to another.
func (s *session) copyUserVars(from, to *backend, vars []string) *sqlError {
	st := &sqlclass.Statement{UserVars: vars}
	var q strings.Builder
	q.WriteString("SELECT ")
	for i, v := range st.UserVars {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("@" + quoteIdent(v))
	}
	res, err := from.exec(q.String())
	if err != nil {
		if se, ok := err.(*sqlError); ok {
			return se
		}
		return errLostConnection(from.role, "")
	}
	if len(res.rows) != 1 {
		return nil
	}
	var set strings.Builder
	set.WriteString("SET ")
	for i, v := range st.UserVars {
		if i > 0 {
			set.WriteString(", ")
		}
		set.WriteString("@" + quoteIdent(v) + " = ")
		set.WriteString(s.literal(res.rows[0][i], res.types, res.charsets, i))
	}
	if to == s.writer {
		return s.writerExec(set.String())
	}
	if _, err := to.exec(set.String()); err != nil {
		if se, ok := err.(*sqlError); ok {
			return se
		}
		return errLostConnection(to.role, "")
	}
	return nil
}

// MySQL column types whose text form is a valid numeric literal.
var numericTypes = map[byte]bool{0x00: true, 0x01: true, 0x02: true, 0x03: true, 0x04: true, 0x05: true, 0x08: true, 0x09: true, 0xf6: true}

// literal renders a value read from the reader as SQL of the same type.
func (s *session) literal(v sqlValue, types []byte, charsets []uint16, i int) string {
	if v.null {
		return "NULL"
	}
	if i < len(types) && numericTypes[types[i]] {
		return v.s
	}
	hx := "X'" + hex.EncodeToString([]byte(v.s)) + "'"
	if i < len(charsets) && charsets[i] == 63 {
		return hx
	}
	cs := s.collation
	if k := strings.IndexByte(cs, '_'); k > 0 {
		cs = cs[:k]
	}
	if cs == "" {
		cs = "utf8mb4"
	}
	return "CONVERT(" + hx + " USING " + cs + ")"
}

func lowerASCII(s string) string { return strings.ToLower(s) }
