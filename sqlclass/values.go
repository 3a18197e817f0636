package sqlclass

import "strings"

// Unquote strips one level of SQL string quotes from a value as written in
// a statement, undoing doubled quotes and backslash escapes.
func Unquote(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
		q := v[0]
		var b strings.Builder
		for i := 1; i < len(v)-1; i++ {
			c := v[i]
			if c == '\\' && i+1 < len(v)-1 {
				i++
				b.WriteByte(v[i])
				continue
			}
			if c == q && i+1 < len(v)-1 && v[i+1] == q {
				i++
			}
			b.WriteByte(c)
		}
		return b.String()
	}
	return v
}

// BoolValue reads 0/1/ON/OFF/TRUE/FALSE as the server does for boolean
// variables; ok is false for anything else.
func BoolValue(v string) (value, ok bool) {
	switch strings.ToUpper(Unquote(v)) {
	case "1", "ON", "TRUE":
		return true, true
	case "0", "OFF", "FALSE":
		return false, true
	}
	return false, false
}

// HasParams says sql has a ? placeholder outside strings and comments.
func HasParams(sql string, opt Options) bool {
	l := lexer{s: sql, opt: opt}
	for t := l.next(); t.kind != tEOF; t = l.next() {
		if t.kind == tParam {
			return true
		}
	}
	return false
}
