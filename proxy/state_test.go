package proxy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// stateWrite is the grep of route.Session's comment: a write to a field of
// session.state (assignment, map write, delete) or a pointer taken to it.
var stateWrite = regexp.MustCompile(`s\.state\.[A-Z][A-Za-z]*(\[[^]]*\])? *([-+]?=[^=]|\+\+|--|,[^()]*[^=!<>]=[^=])|delete\(s\.state\.|&s\.state\b`)

// TestStateWrittenOnlyByApply: the session's state changes only through
// route.Session.Apply and resetState's reset.
func TestStateWrittenOnlyByApply(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range strings.Split(string(data), "\n") {
			if stateWrite.MatchString(l) {
				t.Errorf("%s:%d writes session.state outside Apply: %s", f, i+1, strings.TrimSpace(l))
			}
		}
	}
}
