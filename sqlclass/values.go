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

// Params counts sql's ? placeholders (outside strings and comments).
func Params(sql string, opt Options) int {
	n := 0
	l := lexer{s: sql, opt: opt}
	for t := l.next(); t.kind != tEOF; t = l.next() {
		if t.kind == tParam {
			n++
		}
	}
	return n
}

// BindParams replaces sql's placeholders, in order, by args; false when
// their numbers differ.
func BindParams(sql string, opt Options, args []string) (string, bool) {
	var b strings.Builder
	l := lexer{s: sql, opt: opt}
	last, n := 0, 0
	for t := l.next(); t.kind != tEOF; t = l.next() {
		if t.kind != tParam {
			continue
		}
		if n == len(args) {
			return "", false
		}
		b.WriteString(sql[last:t.start])
		b.WriteString(args[n])
		last, n = t.end, n+1
	}
	b.WriteString(sql[last:])
	return b.String(), n == len(args)
}
