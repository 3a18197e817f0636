package sqlclass

import "strings"

// Digest normalises a statement so that statements differing only in their
// values group together: literals become ?, comments go, blanks between
// tokens become one space and the rest is lower-cased (ASCII only).
// Executable comments count as their contents. It allocates; callers that
// want it only sometimes ask for it only then.
func Digest(sql string, opt Options) string {
	if hasExecComment(sql) {
		sql, _ = normalize(sql, opt, true)
	}
	l := lexer{s: sql, opt: opt}
	var b strings.Builder
	b.Grow(len(sql))
	for t := l.next(); t.kind != tEOF; {
		if !t.adj && b.Len() > 0 {
			b.WriteByte(' ')
		}
		switch {
		case t.kind == tString:
			b.WriteByte('?')
			t = l.next()
			continue
		case t.kind == tNumber:
			b.WriteByte('?')
			// 1.5 and 1.5e3 lex as a number, '.' and a number: one literal.
			t = l.next()
			for t.adj && (t.kind == tNumber || t.kind == tPunct && sql[t.start] == '.') {
				t = l.next()
			}
			continue
		case isDigit(sql[t.start]):
			b.WriteString(sql[t.start:t.end]) // 0B1 is a name, 0b1 a number
			t = l.next()
			continue
		}
		for i := t.start; i < t.end; i++ {
			c := sql[i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
		}
		t = l.next()
	}
	return b.String()
}
