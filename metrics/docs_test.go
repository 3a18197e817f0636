package metrics

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A status name the README or a doc mentions, with what may follow it in a
// pattern: {a,b} alternatives, a <placeholder>, and * or % (LIKE) wildcards.
var docName = regexp.MustCompile(`\b(?:Fwdproxy|Aurora_fwd)_(?:[A-Za-z0-9_]|\*|%|<[a-z_]+>|\{[a-z0-9_,]+\})*`)

// TestDocsNameRealStatusVariables checks every Fwdproxy_* and Aurora_fwd_*
// name in the README and docs against the rows SHOW STATUS gives, so a doc
// cannot keep a counter's old name; a pattern must match at least one row.
func TestDocsNameRealStatusVariables(t *testing.T) {
	var real []string
	for _, r := range New().StatusRows() {
		real = append(real, r[0])
	}
	files, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../README.md", "../deploy/helm/README.md")
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, mention := range docName.FindAllString(string(b), -1) {
			for _, name := range expand(mention) {
				seen++
				if re := namePattern(name); !matchesAny(re, real) {
					t.Errorf("%s names %s, which no status variable is (SHOW STATUS has %s)", f, name, strings.Join(real, ", "))
				}
			}
		}
	}
	if seen == 0 {
		t.Fatal("no status variable found in the docs: is the pattern still right?")
	}
}

// expand spells out the first {a,b} of name and, through recursion, the
// rest: Fwdproxy_x_{a,b} is Fwdproxy_x_a and Fwdproxy_x_b, each checked.
func expand(name string) []string {
	open := strings.IndexByte(name, '{')
	if open < 0 {
		return []string{name}
	}
	end := open + strings.IndexByte(name[open:], '}')
	var out []string
	for _, alt := range strings.Split(name[open+1:end], ",") {
		out = append(out, expand(name[:open]+alt+name[end+1:])...)
	}
	return out
}

// namePattern turns a doc's name or pattern into an anchored regexp.
func namePattern(name string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for rest := name; rest != ""; {
		switch c := rest[0]; {
		case c == '*' || c == '%':
			b.WriteString(".*")
			rest = rest[1:]
		case c == '<':
			end := strings.IndexByte(rest, '>')
			b.WriteString("[a-z0-9_]+")
			rest = rest[end+1:]
		default:
			b.WriteString(regexp.QuoteMeta(rest[:1]))
			rest = rest[1:]
		}
	}
	return regexp.MustCompile(b.String() + "$")
}

func matchesAny(re *regexp.Regexp, names []string) bool {
	for _, n := range names {
		if re.MatchString(n) {
			return true
		}
	}
	return false
}
