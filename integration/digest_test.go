package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fwdproxy/fwdproxy/digest"
	"github.com/fwdproxy/fwdproxy/proxy"
)

// Per-digest statistics in /status and the statement log (issue 18):
// forwarded writes, a SESSION read whose wait times out and falls back to
// the writer, a plain read on the reader and a rejected statement each
// count under their digest with their route.
func TestDigestStatistics(t *testing.T) {
	table(t, "dig1")
	delayReplica(t, 3) // the read after the insert cannot catch up within the wait
	logFile := filepath.Join(t.TempDir(), "statements.jsonl")
	srv, addr := startServer(t, func(c *proxy.Config) {
		c.DefaultConsistency = "SESSION"
		c.ReadWaitTimeout = 300 * time.Millisecond
		c.ReadWaitTimeoutAction = "writer"
		c.StatementLog = logFile
	})
	c := conn(t, addr, "")
	exec(t, c, "INSERT INTO dig1 (v) VALUES (1)")
	exec(t, c, "INSERT INTO dig1 (v) VALUES (2)")
	one(t, c, "SELECT COUNT(*) FROM dig1 WHERE v > 0") // waits, times out, the writer serves it
	wantErr(t, errOf(c, "SET sql_log_bin = 0"), 1227, "")
	other := conn(t, addr, "")
	one(t, other, "SELECT 'x' FROM DUAL") // nothing of its own to wait for: the reader
	// A statement is recorded after its answer, before the session reads
	// the next one: these answers say the ones above are recorded.
	one(t, c, "SELECT 1")
	one(t, other, "SELECT 1")

	_, body := get(t, srv.AdminHandler(), "GET", "/status", "")
	var st proxy.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err, body)
	}
	got := map[string]digest.Stats{}
	for _, d := range st.Digests {
		got[d.Digest] = d
	}
	check := func(dg string, count int64, route string, timeouts, errs int64, waited bool) {
		t.Helper()
		d, ok := got[dg]
		if !ok {
			t.Errorf("no digest %q in %s", dg, body)
			return
		}
		if d.Count != count || d.Routes[route] != count || d.Timeouts != timeouts || d.Errors != errs || (d.WaitUS > 0) != waited {
			t.Errorf("%q: %+v; want count %d on %s, %d timeouts, %d errors, waited %v", dg, d, count, route, timeouts, errs, waited)
		}
	}
	check("insert into dig1 (v) values (?)", 2, "forwarded", 0, 0, false)
	check("select count(*) from dig1 where v > ?", 1, "writer", 1, 0, true)
	check("set sql_log_bin = ?", 1, "rejected", 0, 1, false)
	check("select ? from dual", 1, "reader", 0, 0, false)

	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e digest.Entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if strings.Contains(e.Digest, "dig1") || strings.Contains(e.Digest, "sql_log_bin") || strings.Contains(e.Digest, "dual") {
			waited := e.WaitUS > 0
			lines = append(lines, strings.Join([]string{e.Digest, e.Route, map[bool]string{true: "waited", false: "-"}[waited], strconv.Itoa(int(e.Error))}, " | "))
		}
		if e.Session == 0 || e.Time.IsZero() {
			t.Errorf("log line without session or time: %q", l)
		}
	}
	want := []string{
		"insert into dig1 (v) values (?) | forwarded | - | 0",
		"insert into dig1 (v) values (?) | forwarded | - | 0",
		"select count(*) from dig1 where v > ? | writer | waited | 0",
		"set sql_log_bin = ? | rejected | - | 1227",
		"select ? from dual | reader | - | 0",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("statement log:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// The serve flag turns the statement log on. A statement's line is written
// after its answer, before the session reads its next statement: the next
// statement's answer says the line is there.
func TestStatementLogFlag(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "statements.jsonl")
	_, addr := startBinary(t, "--statement-log", logFile)
	c := conn(t, addr, "")
	one(t, c, "SELECT 42 FROM DUAL")
	one(t, c, "SELECT 1")
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"digest":"select ? from dual","route":"reader","wait_us":0,"error":0}`) {
		t.Errorf("statement log:\n%s", b)
	}
}
