package sqlclass

import "strings"

// Redacted replaces a string literal that RedactPasswords removed.
const Redacted = "'<redacted>'"

// RedactPasswords replaces the string literals that can hold a password:
// in a statement with IDENTIFIED (CREATE USER, ALTER USER, GRANT …
// IDENTIFIED BY 'x', IDENTIFIED VIA … USING PASSWORD('x')) every literal
// after that word, and in SET PASSWORD every literal after PASSWORD, up to
// the statement's end. It redacts more than the password (a user named in
// a string after the word) rather than less. Executable comments count as
// their contents, so a redacted one comes back without its markers.
// changed says something was replaced.
func RedactPasswords(sql string, opt Options) (out string, changed bool) {
	if !containsFold(sql, "identified") && !containsFold(sql, "password") {
		return sql, false // the common case, without lexing
	}
	if hasExecComment(sql) {
		sql, _ = normalize(sql, opt, true)
	}
	l := lexer{s: sql, opt: opt}
	var b strings.Builder
	last := 0        // sql[:last] is in b
	words := 0       // words of the current statement so far
	setStmt := false // the current statement starts with SET
	secret := false  // literals from here to the statement's end are redacted
	for t := l.next(); t.kind != tEOF; t = l.next() {
		switch {
		case t.kind == tPunct && sql[t.start] == ';':
			words, setStmt, secret = 0, false, false
		case t.kind == tWord:
			w := sql[t.start:t.end]
			if words == 0 && upperEq(w, "SET") {
				setStmt = true
			}
			if upperEq(w, "IDENTIFIED") || setStmt && words == 1 && upperEq(w, "PASSWORD") {
				secret = true
			}
			words++
		case t.kind == tString && secret:
			b.WriteString(sql[last:t.start])
			b.WriteString(Redacted)
			last, changed = t.end, true
		}
	}
	if !changed {
		return sql, false
	}
	b.WriteString(sql[last:])
	return b.String(), true
}

func containsFold(s, lowerWord string) bool {
	return strings.Contains(strings.ToLower(s), lowerWord)
}
