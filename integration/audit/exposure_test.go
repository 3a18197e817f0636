package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fwdproxy/fwdproxy/exposure"
	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/proxy"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// serveAudit runs `fwdproxy serve --audit` in front of the pair's writer
// with the given flags; it returns the MySQL and admin addresses.
func serveAudit(t *testing.T, flags ...string) (string, string) {
	t.Helper()
	addr, admin := pair.FreeAddr(t), pair.FreeAddr(t)
	args := append([]string{"serve", "--audit", "--listen", addr, "--admin", admin, "--writer", thePair.WriterAddr,
		"--user", thePair.User + ":" + thePair.Password, "--proxy-user", thePair.User, "--log-level", "warn"}, flags...)
	cmd := exec.Command(pair.Binary(t), args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("fwdproxy %v:\n%s", flags, logs.String())
		}
		if err := thePair.CheckReplicaClean(); err != nil {
			t.Errorf("replica is not clean: %v", err)
		}
	})
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, admin
			}
		}
		if i == 200 {
			t.Fatalf("audit proxy not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The scripted application: one session writes and reads back, another
// only reads. The planted stale-prone reads are those that read a table
// the same session wrote before: right after an autocommit write (stale
// within the lag), and inside the writing transaction (stale at any lag).
const (
	plantedAfterInsert  = "SELECT COUNT(*) FROM orders WHERE item = 1"
	plantedInTx         = "SELECT stock FROM items WHERE id = 1"
	plantedPrepared     = "SELECT qty FROM orders WHERE id = ?"
	safeOtherTable      = "SELECT name FROM items WHERE id = 1"
	safeOtherSession    = "SELECT COUNT(*) FROM orders"
	safeBeforeAnyWrites = "SELECT qty FROM orders WHERE item = 1"
)

func runApp(t *testing.T, addr string) {
	t.Helper()
	ctx := context.Background()
	dsn := pair.DSN(addr, thePair.User, thePair.Password, "audit_exp") + "&connectionAttributes=program_name:orders-app"
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var id int64
	step := func(q string, args ...any) {
		t.Helper()
		rows, err := c.QueryContext(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		rows.Close()
	}
	step(safeBeforeAnyWrites)
	res, err := c.ExecContext(ctx, "INSERT INTO orders (item, qty) VALUES (1, 2)")
	if err != nil {
		t.Fatal(err)
	}
	id, _ = res.LastInsertId()
	step(plantedAfterInsert)
	step(safeOtherTable)
	step(plantedPrepared, id) // a binary prepared statement
	for _, q := range []string{"BEGIN", "UPDATE items SET stock = stock - 1 WHERE id = 1"} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	step(plantedInTx)
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	other, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	rows, err := other.QueryContext(ctx, safeOtherSession)
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
}

// appTables creates the application's tables on the writer.
func appTables(t *testing.T) {
	t.Helper()
	w, err := thePair.WriterDB("")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS audit_exp",
		"CREATE TABLE IF NOT EXISTS audit_exp.orders (id INT AUTO_INCREMENT PRIMARY KEY, item INT, qty INT)",
		"CREATE TABLE IF NOT EXISTS audit_exp.items (id INT PRIMARY KEY, name VARCHAR(20), stock INT)",
		"INSERT IGNORE INTO audit_exp.items VALUES (1, 'pen', 100)",
	} {
		if _, err := w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}

func digest(q string) string { return sqlclass.Digest(q, sqlclass.Options{}) }

func getReport(t *testing.T, admin string) proxy.AuditReport {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/audit")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var rep proxy.AuditReport
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("/audit: %v %s", err, body)
	}
	return rep
}

// The exposure report finds exactly the planted stale-prone reads: at a
// lag longer than the whole run, every read of a table after the same
// session's write to it; at lag 0 only the read inside the writing
// transaction. `fwdproxy audit report` prints the same.
func TestExposureFindsPlantedReads(t *testing.T) {
	appTables(t)
	for _, tc := range []struct {
		lag     string
		exposed map[string]bool
	}{
		{"1h", map[string]bool{digest(plantedAfterInsert): true, digest(plantedInTx): true, digest(plantedPrepared): true}},
		{"0", map[string]bool{digest(plantedInTx): true}},
	} {
		t.Run("lag="+tc.lag, func(t *testing.T) {
			addr, admin := serveAudit(t, "--audit-lag", tc.lag)
			runApp(t, addr)
			rep := getReport(t, admin)
			seen := map[string]bool{}
			for _, r := range rep.Exposure.Reads {
				seen[r.Digest] = true
				want := tc.exposed[r.Digest]
				if got := r.Exposed > 0; got != want {
					t.Errorf("%s: exposed %d of %d, want exposed %v", r.Digest, r.Exposed, r.Reads, want)
				}
				if want && (r.Needs != "SESSION" || len(r.Programs) != 1 || r.Programs[0] != "orders-app") {
					t.Errorf("%s: needs %s, programs %v; want SESSION, [orders-app]", r.Digest, r.Needs, r.Programs)
				}
				if !want && r.Needs != "EVENTUAL" {
					t.Errorf("%s: needs %s, want EVENTUAL", r.Digest, r.Needs)
				}
				if r.Digest == digest(plantedInTx) && r.InTransaction != 1 {
					t.Errorf("%s: in_transaction %d, want 1", r.Digest, r.InTransaction)
				}
			}
			for _, q := range []string{plantedAfterInsert, plantedInTx, plantedPrepared, safeOtherTable, safeOtherSession, safeBeforeAnyWrites} {
				if !seen[digest(q)] {
					t.Errorf("no entry for %s in %+v", q, rep.Exposure.Reads)
				}
			}
			out, err := exec.Command(pair.Binary(t), "audit", "report", "--admin", admin).CombinedOutput()
			if err != nil {
				t.Fatalf("audit report: %v %s", err, out)
			}
			t.Logf("fwdproxy audit report (--audit-lag %s):\n%s", tc.lag, out)
			for _, line := range strings.Split(string(out), "\n") {
				for _, q := range []string{plantedAfterInsert, plantedInTx, plantedPrepared} {
					if strings.HasSuffix(line, q) && tc.exposed[digest(q)] != strings.HasPrefix(line, "SESSION") {
						t.Errorf("audit report line %q", line)
					}
				}
			}
		})
	}
}

// lint --exposure-lag on the writer's general log of the same run gives
// the same report offline: at a lag longer than the run, the same digests
// need SESSION with the same counts. MariaDB's log has whole seconds, so
// at lag 0 lint counts a read in the second of its write's commit as
// exposed (it may have come at once): never fewer than audit mode, and the
// safe reads stay safe.
func TestLintExposureFromGeneralLog(t *testing.T) {
	appTables(t)
	root, err := thePair.RootDB(thePair.WriterAddr)
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "general.log")
	for _, q := range []string{"SET GLOBAL log_output = 'FILE'", "SET GLOBAL general_log_file = '" + log + "'", "SET GLOBAL general_log = ON"} {
		if _, err := root.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	logOff := func() {
		if _, err := root.Exec("SET GLOBAL general_log = OFF"); err != nil {
			t.Fatal(err)
		}
	}
	defer logOff()
	addr, admin := serveAudit(t, "--audit-lag", "1h")
	runApp(t, addr)
	logOff()
	audit := getReport(t, admin).Exposure

	lintReport := func(lag string) exposure.Report {
		t.Helper()
		out, err := exec.Command(pair.Binary(t), "lint", "--format", "json", "--exposure-lag", lag, log).Output()
		if ee := (*exec.ExitError)(nil); err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
			t.Fatalf("lint: %v\n%s", err, out)
		}
		var doc struct{ Exposure exposure.Report }
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatalf("lint output: %v\n%s", err, out)
		}
		return doc.Exposure
	}
	byDigest := func(r exposure.Report) map[string]exposure.Entry {
		m := map[string]exposure.Entry{}
		for _, e := range r.Reads {
			m[e.Digest] = e
		}
		return m
	}
	offline := byDigest(lintReport("1h"))
	for _, a := range audit.Reads {
		o, ok := offline[a.Digest]
		if !ok || o.Needs != a.Needs || o.Reads != a.Reads || o.Exposed != a.Exposed || o.InTransaction != a.InTransaction {
			t.Errorf("%s: audit mode %+v, lint %+v", a.Digest, a, o)
		}
	}
	for d, o := range offline {
		if o.Needs != "EVENTUAL" && !slices.ContainsFunc(audit.Reads, func(a exposure.Entry) bool { return a.Digest == d }) {
			t.Errorf("lint alone says %s needs SESSION: %+v", d, o)
		}
	}
	atZero := byDigest(lintReport("0"))
	for _, q := range []string{plantedInTx, safeOtherTable, safeOtherSession, safeBeforeAnyWrites} {
		want := map[bool]string{true: "SESSION", false: "EVENTUAL"}[q == plantedInTx]
		if e := atZero[digest(q)]; e.Needs != want {
			t.Errorf("lag 0: %s needs %s, want %s (%+v)", q, e.Needs, want, e)
		}
	}
	out, _ := exec.Command(pair.Binary(t), "lint", "--exposure-lag", "1h", log).CombinedOutput()
	t.Logf("fwdproxy lint --exposure-lag 1h:\n%s", out)
}
