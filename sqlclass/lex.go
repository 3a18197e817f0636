package sqlclass

import (
	"strings"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF     tokKind = iota
	tWord            // unquoted identifier or keyword
	tQIdent          // `x`, or "x" under ANSI_QUOTES
	tString          // 'x', or "x" without ANSI_QUOTES
	tNumber          // 42, 0x1f, 1e5
	tUserVar         // @x, @'x', @`x`, @"x"
	tSysVar          // @@x, @@session.x
	tParam           // ?
	tAssign          // :=
	tPunct           // any other single byte
)

type token struct {
	kind       tokKind
	adj        bool // touches the previous token (no space or comment between)
	start, end int
}

// lexer is a zero-allocation tokenizer. It sees executable comments as plain
// comments: callers normalise them first (see normalize).
type lexer struct {
	s       string
	pos     int
	prevEnd int
	opt     Options
}

func isIdentChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// skipQuoted returns the index just past the string or quoted identifier that
// starts with the quote at s[i]. Doubled quotes stay inside; a backslash
// escapes the next byte when esc is set. Unterminated runs to the end.
func skipQuoted(s string, i int, esc bool) int {
	q := s[i]
	i++
	for i < len(s) {
		j := strings.IndexByte(s[i:], q)
		if j < 0 {
			return len(s)
		}
		if esc {
			if k := strings.IndexByte(s[i:i+j], '\\'); k >= 0 {
				i += k + 2
				continue
			}
		}
		i += j + 1
		if i < len(s) && s[i] == q {
			i++ // doubled quote
			continue
		}
		return i
	}
	return len(s)
}

// quoteEscapes tells whether backslash escapes apply inside quote q.
func quoteEscapes(q byte, opt Options) bool {
	switch q {
	case '\'':
		return !opt.NoBackslashEscapes
	case '"':
		return !opt.NoBackslashEscapes && !opt.ANSIQuotes
	}
	return false
}

// commentEnd returns the end of a comment starting at s[i], or -1 when s[i]
// does not start one. '-- ' needs a blank or control byte after the dashes.
func commentEnd(s string, i int) int {
	switch s[i] {
	case '#':
		return lineEnd(s, i)
	case '-':
		if i+1 < len(s) && s[i+1] == '-' && (i+2 == len(s) || s[i+2] <= ' ') {
			return lineEnd(s, i)
		}
	case '/':
		if i+1 < len(s) && s[i+1] == '*' {
			if j := strings.Index(s[i+2:], "*/"); j >= 0 {
				return i + 2 + j + 2
			}
			return len(s)
		}
	}
	return -1
}

func lineEnd(s string, i int) int {
	if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(s)
}

func (l *lexer) skipSpace() {
	s := l.s
	for l.pos < len(s) {
		c := s[l.pos]
		if isSpace(c) {
			l.pos++
			continue
		}
		if c == '#' || c == '-' || c == '/' {
			if e := commentEnd(s, l.pos); e >= 0 {
				l.pos = e
				continue
			}
		}
		return
	}
}

func (l *lexer) next() token {
	l.skipSpace()
	s := l.s
	start := l.pos
	t := token{start: start, adj: start == l.prevEnd && start > 0}
	if start >= len(s) {
		t.kind, t.end = tEOF, len(s)
		l.prevEnd = len(s)
		return t
	}
	c := s[start]
	i := start + 1
	switch {
	case isDigit(c):
		for i < len(s) && isIdentChar(s[i]) {
			i++
		}
		t.kind = tNumber
		if !isNumber(s[start:i]) {
			t.kind = tWord // identifiers may start with a digit
		}
	case isIdentChar(c):
		for i < len(s) && isIdentChar(s[i]) {
			i++
		}
		t.kind = tWord
	case c == '\'':
		i = skipQuoted(s, start, !l.opt.NoBackslashEscapes)
		t.kind = tString
	case c == '"':
		i = skipQuoted(s, start, quoteEscapes('"', l.opt))
		t.kind = tString
		if l.opt.ANSIQuotes {
			t.kind = tQIdent
		}
	case c == '`':
		i = skipQuoted(s, start, false)
		t.kind = tQIdent
	case c == '@':
		if i < len(s) && s[i] == '@' {
			i = l.sysVarEnd(i + 1)
			t.kind = tSysVar
			break
		}
		if i < len(s) && (s[i] == '\'' || s[i] == '"' || s[i] == '`') {
			i = skipQuoted(s, i, quoteEscapes(s[i], l.opt))
			t.kind = tUserVar
			break
		}
		for i < len(s) && (isIdentChar(s[i]) || s[i] == '.') {
			i++
		}
		t.kind = tUserVar
		if i == start+1 {
			t.kind = tPunct
		}
	case c == '?':
		t.kind = tParam
	case c == ':' && i < len(s) && s[i] == '=':
		i++
		t.kind = tAssign
	default:
		t.kind = tPunct
	}
	t.end = i
	l.pos = i
	l.prevEnd = i
	return t
}

// sysVarEnd scans the name after '@@': dotted segments, each bare or `quoted`.
func (l *lexer) sysVarEnd(i int) int {
	s := l.s
	for i < len(s) {
		if s[i] == '`' {
			i = skipQuoted(s, i, false)
		} else {
			j := i
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			if j == i {
				return i
			}
			i = j
		}
		if i+1 < len(s) && s[i] == '.' && (isIdentChar(s[i+1]) || s[i+1] == '`') {
			i++
			continue
		}
		return i
	}
	return i
}

// isNumber tells a numeric literal from an identifier that starts with a digit.
func isNumber(w string) bool {
	if len(w) > 2 && w[0] == '0' && (w[1] == 'x' || w[1] == 'b') {
		for i := 2; i < len(w); i++ {
			c := w[i] | 0x20
			if !(isDigit(w[i]) || w[1] == 'x' && c >= 'a' && c <= 'f') {
				return false
			}
		}
		return true
	}
	e := false
	for i := 0; i < len(w); i++ {
		c := w[i]
		if isDigit(c) {
			continue
		}
		if (c == 'e' || c == 'E') && !e && i > 0 {
			e = true
			continue
		}
		return false
	}
	return true
}

// upperEq reports whether w equals the upper-case keyword kw, ignoring case.
func upperEq(w, kw string) bool {
	if len(w) != len(kw) {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != kw[i] {
			return false
		}
	}
	return true
}

// upper returns s in ASCII upper case, without allocating when it already is.
func upper(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			b := []byte(s)
			for j, c := range b {
				if c >= 'a' && c <= 'z' {
					b[j] = c - ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return s
}

// decimal reads an unsigned decimal number; ok is false for anything else,
// or when it overflows.
func decimal(s string) (n uint64, ok bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		d := uint64(s[i] - '0')
		if d > 9 || n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// lower returns s in lower case, without allocating when it already is.
// Invalid UTF-8 is lowered byte-wise so that no byte is replaced.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			if utf8.ValidString(s) {
				if l := strings.ToLower(s); l != s {
					return l
				}
				return s
			}
			b := []byte(s)
			for j, c := range b {
				if c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// unquote strips the quotes of a quoted identifier or string token and
// resolves doubled quotes and, where they apply, backslash escapes.
func unquote(s string, opt Options) string {
	if len(s) < 2 {
		return s
	}
	q := s[0]
	if q != '\'' && q != '"' && q != '`' {
		return s
	}
	body := s[1:]
	if body[len(body)-1] == q && len(body) >= 1 {
		body = body[:len(body)-1]
	}
	esc := quoteEscapes(q, opt)
	if !strings.ContainsRune(body, rune(q)) && (!esc || !strings.Contains(body, `\`)) {
		return body
	}
	var b strings.Builder
	b.Grow(len(body))
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == q && i+1 < len(body) && body[i+1] == q {
			b.WriteByte(q)
			i++
			continue
		}
		if c == '\\' && esc && i+1 < len(body) {
			i++
			switch d := body[i]; d {
			case '0':
				b.WriteByte(0)
			case 'b':
				b.WriteByte('\b')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'Z':
				b.WriteByte(26)
			case '%', '_':
				b.WriteByte('\\') // MySQL keeps these for LIKE patterns
				b.WriteByte(d)
			default:
				b.WriteByte(d)
			}
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// hasExecComment reports whether s may hold an executable comment: /*! or /*M!.
func hasExecComment(s string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], "/*")
		if j < 0 {
			return false
		}
		i += j + 2
		if i < len(s) && (s[i] == '!' || (s[i] == 'M' || s[i] == 'm') && i+1 < len(s) && s[i+1] == '!') {
			return true
		}
	}
}

// normalize rewrites executable comments so that a plain lexer or the TiDB
// parser reads them as the server does, keeping every byte offset: the
// markers "/*!NNNNN", "/*M!NNNNNN" and the closing "*/" become spaces. With
// keepCond false, conditional ones (versioned, or MariaDB-only /*M!) are
// blanked entirely, as a server that does not run them sees them. cond
// reports whether any conditional comment exists.
func normalize(s string, opt Options, keepCond bool) (out string, cond bool) {
	b := []byte(s)
	inExec, drop := false, false // drop: blank the whole current comment
	execStart := 0
	blank := func(from, to int) {
		for k := from; k < to; k++ {
			if b[k] != '\n' {
				b[k] = ' '
			}
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			i = skipQuoted(s, i, quoteEscapes(c, opt))
			continue
		case inExec && c == '*' && i+1 < len(s) && s[i+1] == '/':
			if drop {
				blank(execStart, i+2)
			} else {
				blank(i, i+2)
			}
			inExec, drop = false, false
			i += 2
			continue
		case c == '/' && i+1 < len(s) && s[i+1] == '*' && !inExec:
			j := i + 2
			m := j < len(s) && (s[j] == 'M' || s[j] == 'm') && j+1 < len(s) && s[j+1] == '!'
			if j < len(s) && s[j] == '!' || m {
				if m {
					j++
				}
				j++
				k := j
				for k < len(s) && k-j < 6 && isDigit(s[k]) {
					k++
				}
				isCond := m || k > j
				cond = cond || isCond
				// /*M!999999 is for no server: mariadb-dump's
				// "/*M!999999\- enable the sandbox mode */" is read by the
				// mariadb client alone.
				never := m && s[j:k] == "999999"
				inExec, drop, execStart = true, never || isCond && !keepCond, i
				blank(i, k)
				i = k
				continue
			}
		}
		if c == '#' || c == '-' || c == '/' {
			if e := commentEnd(s, i); e >= 0 {
				i = e
				continue
			}
		}
		i++
	}
	if drop {
		blank(execStart, len(s)) // unterminated
	}
	return string(b), cond
}
