package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runLint(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = lintMain(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLintMainExitCodes(t *testing.T) {
	dir := t.TempDir()
	clean := writeFile(t, dir, "clean.sql", "SELECT 1;\nINSERT INTO t VALUES (1);\nBEGIN;\nUPDATE t SET a = 1;\nCOMMIT;\n")
	warn := writeFile(t, dir, "warn.sql", "START TRANSACTION READ WRITE;\nCOMMIT;\n")
	bad := writeFile(t, dir, "bad.sql", "SELECT 1;\nCREATE TABLE t (a INT);\n")
	write := writeFile(t, dir, "write.sql", "SELECT 1;\nINSERT INTO t VALUES (1);\n")
	log := writeFile(t, dir, "general.log", "2024-03-01T10:00:00.000000Z\t   12 Query\tCALL p()\n")

	cases := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stdout string // exact, when not "*"
		stderr string // substring
	}{
		{"compatible file prints nothing", "", []string{clean}, 0, "", ""},
		{"warnings only", "", []string{warn}, 0, warn + ":1: warning start-transaction-read-write: ", ""},
		{"rejection", "", []string{clean, bad}, 1, bad + ":2: 1235 CREATE TABLE: ", ""},
		{"general log", "", []string{log}, 1, log + ":1: 1235 CALL: ", ""},
		{"stdin", "XA RECOVER;\n", []string{"-"}, 1, "<stdin>:1: 1235 XA: ", ""},
		{"flags after files", "", []string{write, "--consistency", ""}, 1, write + ":2: 1290 INSERT: ", ""},
		{"forwarding off", "", []string{"--consistency=", write}, 1, write + ":2: 1290 INSERT: ", ""},
		{"consistency is case-insensitive", "", []string{"--consistency", "eventual", clean}, 0, "", ""},
		{"no files", "", nil, 2, "", "no input"},
		{"bad format", "", []string{"--format", "xml", clean}, 2, "", "--format must be text or json"},
		{"bad consistency", "", []string{"--consistency", "STRONG", clean}, 2, "", "--consistency must be"},
		{"unknown flag", "", []string{"--frobnicate", clean}, 2, "", "flag provided but not defined"},
		{"missing file", "", []string{clean, filepath.Join(dir, "nope.sql")}, 2, "", "nope.sql: no such file"},
		{"directory", "", []string{dir}, 2, "", "is a directory"},
		{"stdin twice", "", []string{"-", "-"}, 2, "", "given twice"},
		{"help", "", []string{"--help"}, 0, "*", ""},
		{"files after --", "", []string{"--consistency=", "--", write}, 1, write + ":2: 1290 INSERT: ", ""},
	}
	for _, tc := range cases {
		code, out, errOut := runLint(t, tc.stdin, tc.args...)
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d (stderr %q)", tc.name, code, tc.code, errOut)
		}
		switch {
		case tc.stdout == "*":
			if !strings.HasPrefix(out, "usage: fwdproxy lint") {
				t.Errorf("%s: stdout %q", tc.name, out)
			}
		case tc.stdout == "":
			if out != "" {
				t.Errorf("%s: stdout %q, want nothing", tc.name, out)
			}
		default:
			if !strings.HasPrefix(out, tc.stdout) || strings.Count(out, "\n") != 1 {
				t.Errorf("%s: stdout %q, want one line starting %q", tc.name, out, tc.stdout)
			}
		}
		if tc.stderr == "" && errOut != "" || !strings.Contains(errOut, tc.stderr) {
			t.Errorf("%s: stderr %q, want %q", tc.name, errOut, tc.stderr)
		}
		if tc.code == 2 && strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: stderr should be one line: %q", tc.name, errOut)
		}
	}
}

func TestLintMainJSON(t *testing.T) {
	dir := t.TempDir()
	in := writeFile(t, dir, "app.sql", "-- setup\nCREATE TEMPORARY TABLE tmp (a INT);\n"+
		"INSERT INTO perm\n  SELECT * FROM tmp;\nSET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;\nUPDATE t SET a = 1;\n")
	code, out, errOut := runLint(t, "", "--format", "json", in)
	if code != 1 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var fs []struct {
		File      string `json:"file"`
		Line      int    `json:"line"`
		Code      int    `json:"code"`
		Severity  string `json:"severity"`
		Operation string `json:"operation"`
		Why       string `json:"why"`
		Message   string `json:"message"`
		Statement string `json:"statement"`
	}
	if err := json.Unmarshal([]byte(out), &fs); err != nil {
		t.Fatalf("not one JSON array: %v\n%s", err, out)
	}
	if len(fs) != 2 {
		t.Fatalf("findings: %+v", fs)
	}
	e, w := fs[0], fs[1]
	if e.File != in || e.Line != 3 || e.Code != 1235 || e.Severity != "error" ||
		e.Operation != "DML on a permanent table that references a temporary table" || e.Why == "" ||
		e.Message != "This version of MySQL doesn't yet support 'DML on a permanent table that references a temporary table with write forwarding'" ||
		e.Statement != "INSERT INTO perm SELECT * FROM tmp" {
		t.Errorf("error finding: %+v", e)
	}
	if w.Line != 6 || w.Code != 0 || w.Severity != "warning" || w.Operation != "isolation" || w.Statement != "UPDATE t SET a = 1" {
		t.Errorf("warning finding: %+v", w)
	}

	// Nothing to report: an empty array, exit 0.
	clean := writeFile(t, dir, "clean.sql", "SELECT 1;\n")
	code, out, _ = runLint(t, "", "--format=json", clean)
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("clean: exit %d, %q", code, out)
	}
}

// --exposure-lag adds the exposure report after the findings, as audit
// report prints it, or under "exposure" in JSON.
func TestLintMainExposure(t *testing.T) {
	dir := t.TempDir()
	log := writeFile(t, dir, "general.log", "2024-03-01T10:00:00.000000Z\t   12 Query\tINSERT INTO t VALUES (1)\n"+
		"2024-03-01T10:00:00.100000Z\t   12 Query\tSELECT a FROM t\n"+
		"2024-03-01T10:00:00.200000Z\t   12 Query\tCREATE TABLE u (a INT)\n")
	code, out, errOut := runLint(t, "", "--exposure-lag", "500ms", log)
	if code != 1 || !strings.HasPrefix(out, log+":3: 1235 CREATE TABLE: ") ||
		!strings.Contains(out, "\nReads after the session's own write at EVENTUAL, simulated lag 500ms: 1 of 1 read digests need SESSION\n") ||
		!strings.Contains(out, "SESSION  1      1        0      400.0        -         SELECT a FROM t") {
		t.Errorf("exit %d, stdout:\n%s\nstderr: %s", code, out, errOut)
	}
	code, out, _ = runLint(t, "", "--format", "json", "--exposure-lag", "50ms", log)
	var doc struct {
		Findings []json.RawMessage
		Exposure struct {
			LagMS float64 `json:"lag_ms"`
			Reads []struct{ Needs string }
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 1 || len(doc.Findings) != 1 ||
		doc.Exposure.LagMS != 50 || len(doc.Exposure.Reads) != 1 || doc.Exposure.Reads[0].Needs != "EVENTUAL" {
		t.Errorf("exit %d, %v, json:\n%s", code, err, out)
	}
	sql := writeFile(t, dir, "app.sql", "INSERT INTO t VALUES (1);\nSELECT a FROM t;\n")
	if code, _, errOut := runLint(t, "", "--exposure-lag", "1s", sql); code != 2 || !strings.Contains(errOut, "needs a general query log with timestamps") {
		t.Errorf("SQL file: exit %d, stderr %s", code, errOut)
	}
}
