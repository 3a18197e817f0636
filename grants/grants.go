// Package grants reads SHOW GRANTS: which privileges a user holds, where.
package grants

import (
	"sort"
	"strings"
)

// Grant is one parsed SHOW GRANTS line.
type Grant struct {
	Privs []string // normalised names (see NormPriv); column lists dropped
	Scope string   // as printed: "*.*", "`db`.*", "`db`.`t`", "PROCEDURE `db`.`p`"; "" for a role grant
	Role  bool     // GRANT `role` TO user: the role's privileges are not listed here
}

// Global reports whether the grant is on *.*.
func (g Grant) Global() bool { return g.Scope == "*.*" }

// routine reports a grant on a stored routine, which gives no table privileges.
func (g Grant) routine() bool {
	u := strings.ToUpper(g.Scope)
	return strings.HasPrefix(u, "PROCEDURE ") || strings.HasPrefix(u, "FUNCTION ") || strings.HasPrefix(u, "PACKAGE ")
}

// NormPriv normalises a privilege name for comparison: upper case, column
// list dropped, '_' read as a space (MariaDB prints "READ_ONLY ADMIN", MySQL
// "CONNECTION_ADMIN"), single spaces, "ALL" as "ALL PRIVILEGES", and
// MariaDB's BINLOG MONITOR (its name for REPLICATION CLIENT since 10.5) as
// REPLICATION CLIENT.
func NormPriv(p string) string {
	if i := strings.IndexByte(p, '('); i >= 0 {
		p = p[:i]
	}
	p = strings.ToUpper(strings.ReplaceAll(p, "_", " "))
	p = strings.Join(strings.Fields(p), " ")
	switch p {
	case "ALL":
		return "ALL PRIVILEGES"
	case "BINLOG MONITOR":
		return "REPLICATION CLIENT"
	}
	return p
}

// ParseLine reads one line of SHOW GRANTS. ok is false for lines that grant
// nothing (SET DEFAULT ROLE …) or that it cannot read.
func ParseLine(line string) (g Grant, ok bool) {
	s := strings.TrimSpace(line)
	if len(s) < 6 || !strings.EqualFold(s[:6], "GRANT ") {
		return Grant{}, false
	}
	s = s[6:]
	on := findWord(s, "ON")
	to := findWord(s, "TO")
	if to < 0 {
		return Grant{}, false
	}
	if on < 0 || on > to {
		return Grant{Role: true}, true
	}
	g.Scope = strings.TrimSpace(s[on+len(" ON ") : to])
	for _, p := range splitTop(s[:on]) {
		if p = NormPriv(p); p != "" {
			g.Privs = append(g.Privs, p)
		}
	}
	return g, true
}

// findWord returns the index of " WORD " in s outside quotes, backticks and
// parentheses, or -1.
func findWord(s, word string) int {
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '`' || c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ' ' && depth == 0:
			n := len(word)
			if i+n+2 <= len(s) && strings.EqualFold(s[i+1:i+1+n], word) && s[i+1+n] == ' ' {
				return i
			}
		}
	}
	return -1
}

// splitTop splits a privilege list at commas outside parentheses.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// List is a user's parsed SHOW GRANTS.
type List []Grant

// Parse parses every line, skipping the ones that grant nothing.
func Parse(lines []string) List {
	var gs List
	for _, l := range lines {
		if g, ok := ParseLine(l); ok {
			gs = append(gs, g)
		}
	}
	return gs
}

// tablePrivs are the privileges that ALL PRIVILEGES implies at any level.
var tablePrivs = map[string]bool{"SELECT": true, "INSERT": true, "UPDATE": true, "DELETE": true}

// HasGlobal reports whether priv is granted on *.* (directly or by ALL PRIVILEGES).
func (gs List) HasGlobal(priv string) bool {
	priv = NormPriv(priv)
	for _, g := range gs {
		if !g.Global() {
			continue
		}
		for _, p := range g.Privs {
			if p == priv || p == "ALL PRIVILEGES" {
				return true
			}
		}
	}
	return false
}

// Scopes returns the non-global scopes where a table privilege is granted.
func (gs List) Scopes(priv string) []string {
	priv = NormPriv(priv)
	seen := map[string]bool{}
	for _, g := range gs {
		if g.Global() || g.Role || g.routine() {
			continue
		}
		for _, p := range g.Privs {
			if p == priv || (p == "ALL PRIVILEGES" && tablePrivs[priv]) {
				seen[g.Scope] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// HasRoles reports whether some privileges come through roles, which SHOW
// GRANTS does not always expand.
func (gs List) HasRoles() bool {
	for _, g := range gs {
		if g.Role {
			return true
		}
	}
	return false
}

// SuperLike reports whether SHOW GRANTS lines give SUPER or CONNECTION ADMIN
// on *.* (ALL PRIVILEGES among them): the privileges that write through
// read_only and that Aurora lets start a READ WRITE transaction. A role
// counts only through the lines of its grants that SHOW GRANTS prints.
func SuperLike(lines []string) bool {
	gs := Parse(lines)
	return gs.HasGlobal("SUPER") || gs.HasGlobal("CONNECTION ADMIN")
}
