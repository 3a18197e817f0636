package sqlclass

import (
	"unicode"
	"unicode/utf8"
)

// MatchLike implements SQL LIKE (% and _, backslash escape, case-insensitive as SHOW STATUS LIKE
// is) so the proxy can filter rows for SHOW STATUS LIKE '…'. A trailing lone backslash matches
// itself, as in MySQL. Greedy matching with one backtrack point: only the last % needs retrying.
func MatchLike(pattern, s string) bool {
	p, i := 0, 0
	starP, starI := -1, -1
	for {
		if p < len(pattern) {
			c, n := utf8.DecodeRuneInString(pattern[p:])
			switch c {
			case '%':
				p += n
				starP, starI = p, i
				continue
			case '_':
				if i < len(s) {
					_, m := utf8.DecodeRuneInString(s[i:])
					p, i = p+n, i+m
					continue
				}
			default:
				if c == '\\' && p+n < len(pattern) {
					var e int
					c, e = utf8.DecodeRuneInString(pattern[p+n:])
					n += e
				}
				if i < len(s) {
					r, m := utf8.DecodeRuneInString(s[i:])
					if foldEq(r, c) {
						p, i = p+n, i+m
						continue
					}
				}
			}
		} else if i == len(s) {
			return true
		}
		// Mismatch: let the last % swallow one more character, or fail.
		if starP < 0 || starI >= len(s) {
			return false
		}
		_, m := utf8.DecodeRuneInString(s[starI:])
		starI += m
		p, i = starP, starI
	}
}

// foldEq reports whether a and b are equal under simple Unicode case folding.
func foldEq(a, b rune) bool {
	if a == b {
		return true
	}
	if a < utf8.RuneSelf && b < utf8.RuneSelf {
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		return a == b
	}
	for f := unicode.SimpleFold(a); f != a; f = unicode.SimpleFold(f) {
		if f == b {
			return true
		}
	}
	return false
}
