// Package audit runs `serve --audit` in front of a private MariaDB writer
// (the statements really run there) and checks that what it records matches
// what `fwdproxy lint` finds in the same statements.
package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql"

	"github.com/fwdproxy/fwdproxy/exposure"
	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/integration/pair/pairproxy"
	"github.com/fwdproxy/fwdproxy/lint"
	"github.com/fwdproxy/fwdproxy/proxy"
)

var thePair *pair.Pair

func TestMain(m *testing.M) {
	p, err := pair.New() // private: the corpus runs DDL on the writer
	if err != nil {
		fmt.Fprintln(os.Stderr, "pair:", err)
		os.Exit(1)
	}
	thePair = p
	code := m.Run()
	_ = p.Stop()
	os.Exit(code)
}

func startAudit(t *testing.T) (*proxy.Server, string) {
	t.Helper()
	return pairproxy.Start(t, thePair, pairproxy.Configure(auditConfig))
}

// auditConfig is serve --audit with lint's models, without a reader.
func auditConfig(cfg *proxy.Config) {
	cfg.Reader = ""
	cfg.Audit = true
	cfg.AuditModel = func(emit func(proxy.AuditFinding)) proxy.AuditModel {
		return lint.NewAuditor(lint.Config{Consistency: lint.Session}, func(f lint.Finding) {
			emit(proxy.AuditFinding{Statement: f.Statement, Code: f.Code, Severity: f.Severity,
				Operation: f.Operation, Why: f.Why, Message: f.Message})
		})
	}
	cfg.ExposureModel = func(routed func(exposure.Statement)) proxy.AuditModel {
		a := lint.NewAuditor(lint.Config{Consistency: lint.Eventual}, func(lint.Finding) {})
		a.OnRoute(func(r lint.Routed) {
			routed(exposure.Statement{SQL: r.Statement, Write: r.Write, Tables: r.Tables, AnyTable: r.Unknown})
		})
		return a
	}
}

func key(code int, op string) string { return fmt.Sprintf("%d %s", code, op) }

// The lint corpus (every routing and rejection rule, 299 statements)
// through the mariadb CLI
// and the audit proxy: the audit summary counts what lint reports.
func TestAuditMatchesLint(t *testing.T) {
	srv, addr := startAudit(t)
	if _, err := exec.LookPath("mariadb"); err != nil {
		t.Fatal("the mariadb client is needed (apt-get install mariadb-client)")
	}
	w, err := thePair.WriterDB("")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Exec("CREATE DATABASE IF NOT EXISTS audit_app"); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr)
	corpus := "../../lint/testdata/app.sql"
	f, err := os.Open(corpus)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("mariadb", "--force", "-h", host, "-P", port, "-u", thePair.User, "-p"+thePair.Password, "audit_app")
	cmd.Stdin = f
	out, _ := cmd.CombinedOutput() // statements fail on the writer too (missing tables): --force goes on
	f.Close()

	want := map[string]int{}
	rf, _ := os.Open(corpus)
	findings, err := lint.Lint(corpus, rf, lint.Config{Consistency: lint.Session})
	rf.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Rejections must match exactly. Warnings may differ where the mariadb
	// client splits a line differently from lint (BEGIN NOT ATOMIC … END
	// without DELIMITER is sent as three statements).
	warnings := map[string]bool{}
	for _, fd := range findings {
		if fd.Code == 0 {
			warnings[fd.Operation] = true
			continue
		}
		want[key(fd.Code, fd.Operation)]++
	}
	got := map[string]int{}
	for _, e := range srv.AuditSummary() {
		if e.Code == 0 {
			delete(warnings, e.Operation)
			continue
		}
		got[key(e.Code, e.Operation)] += int(e.Count)
	}
	for op := range warnings {
		t.Errorf("lint warns about %s, audit never did", op)
	}
	var diffs []string
	for k, n := range want {
		if got[k] != n {
			diffs = append(diffs, fmt.Sprintf("%s: lint %d, audit %d", k, n, got[k]))
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: lint 0, audit %d", k, n))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("audit and lint disagree on the corpus:\n%s\nmariadb output (head): %s", strings.Join(diffs, "\n"), head(string(out), 1500))
	}
	if len(findings) < 50 {
		t.Fatalf("only %d findings in the corpus", len(findings))
	}
}

// Audit passes statements through unchanged: DDL really runs, results and
// errors are the writer's; findings are grouped by digest and served as JSON.
func TestAuditPassThroughAndSummary(t *testing.T) {
	srv, addr := startAudit(t)
	db, err := sql.Open("mysql", pair.DSN(addr, thePair.User, thePair.Password, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS audit_pt",
		"USE audit_pt",
		"CREATE TABLE IF NOT EXISTS t1 (id INT PRIMARY KEY, v INT)",
		"INSERT INTO t1 VALUES (1, 1), (2, 2)",
		"SAVEPOINT nope", // fine on the writer outside a transaction? it is: no-op
		"LOCK TABLES t1 WRITE",
		"UNLOCK TABLES",
	} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s through audit: %v", q, err)
		}
	}
	for i := 0; i < 3; i++ {
		if _, err := c.ExecContext(ctx, fmt.Sprintf("CREATE TABLE IF NOT EXISTS tx (i INT DEFAULT %d)", i)); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := c.QueryRowContext(ctx, "SELECT COUNT(*) FROM t1").Scan(&n); err != nil || n != 2 {
		t.Fatalf("data written through audit: %d %v", n, err)
	}
	// Prepared statements are audited by their text.
	if _, err := c.ExecContext(ctx, "UPDATE t1 SET v = ? WHERE id = ?", 5, 1); err != nil {
		t.Fatal(err)
	}
	entries := srv.AuditSummary()
	var ddl *proxy.AuditEntry
	for i, e := range entries {
		if e.Code == 1235 && e.Digest == "create table if not exists tx (i int default ?)" {
			ddl = &entries[i]
		}
	}
	if ddl == nil || ddl.Count != 3 {
		t.Fatalf("the three CREATE TABLE differing in a literal should share one digest with count 3: %+v", entries)
	}
	// GET /audit serves the same JSON.
	rec := httptest.NewRecorder()
	srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:4001/audit", nil))
	var body struct {
		Findings []proxy.AuditEntry `json:"findings"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Findings) != len(entries) {
		t.Fatalf("/audit: %v %s", err, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:4001/metrics", nil))
	if !strings.Contains(rec.Body.String(), `fwdproxy_audit_findings_total{code="1235"`) {
		t.Fatal("/metrics lacks fwdproxy_audit_findings_total")
	}
}

func head(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
