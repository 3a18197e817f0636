package integration

// The stacks matrix of issue 13: the drivers and ORMs people use, each
// through the fwdproxy binary at --default-consistency SESSION while the
// replica applies everything a second late (MASTER_DELAY), so a read that
// does not wait for the session's own write misses it every time.
//
// Every stack runs the same steps, each on its own so that one failure does
// not hide the next (a script reconnects after a failed step):
//
//	connect    the stack's own connect-time statements; the session is at
//	           SESSION and @@autocommit is what the stack believes it is
//	readback   insert k='first' (n=1, s='first') and read it back at once
//	lastid     insert k='lastid' (n=9): its generated key equals SELECT
//	           LAST_INSERT_ID() (its own insert: a reconnect after a failed
//	           readback would reset LAST_INSERT_ID())
//	prepared   a server-side prepared INSERT executed twice (k='ps1' n=11,
//	           k='ps2' n=12, s='ps'), its generated keys, a prepared
//	           SELECT LAST_INSERT_ID() and a prepared SELECT by parameter
//	commit     a transaction inserts k='commit' (n=3), sees it, commits
//	rollback   a transaction inserts k='rollback' (n=4) and rolls back
//	forupdate  k='lock' inserted with n=1; a transaction reads it with
//	           SELECT … FOR UPDATE, sets n=2, commits; then reads n=2
//	utf8mb4    k='utf8', s=stackUTF8 as a parameter, read back the same
//	types      k='types': n and s NULL, d DECIMAL(14,4) stackDecimal,
//	           t DATETIME(6) stackDatetime, b BLOB the bytes 0..255
//	bigresult  SELECT seq, CONCAT('r', seq) FROM seq_1_to_12000: all rows
//	dupkey     k='dup' (n=5), then k='dup' again gets 1062, and the same
//	           connection inserts k='afterdup' (n=6) and reads it back
//
// Some stacks add steps (stackExtra). Steps named design-… check what a
// stack trips over by Aurora's design (docs/stacks.md): the exact error
// through the proxy and that the connection stays usable.
//
// A script prints "PASS <step>" or "FAIL <step>: <why>" for each step,
// "DESIGN <step>: <error>" for what docs/stacks.md quotes, "insert_id=<id of
// k='first'>" and, last, "DONE <stack>". The Go test then checks the
// writer directly: exactly the rows above (and the extras), nothing rolled
// back, and no table a rejected DDL named.

import (
	"database/sql"
	"fmt"
	"os"
	osexec "os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fwdproxy/fwdproxy/integration/pair"
)

// The values the utf8mb4 and types steps write, as the scripts spell them.
const (
	stackUTF8     = "ñ 😀 中文 𝄞"
	stackDecimal  = "12345678.9012"
	stackDatetime = "2024-02-29 12:34:56.789012"
)

// stackSteps are the steps every stack runs, in order.
var stackSteps = []string{"connect", "readback", "lastid", "prepared", "commit", "rollback",
	"forupdate", "utf8mb4", "types", "bigresult", "dupkey"}

// stackRows is what the steps leave on the writer: k → "n|s|d|t|hex(b)".
func stackRows() map[string]string {
	blob := make([]byte, 256)
	for i := range blob {
		blob[i] = byte(i)
	}
	return map[string]string{
		"first":    "1|first|NULL|NULL|NULL",
		"lastid":   "9|NULL|NULL|NULL|NULL",
		"ps1":      "11|ps|NULL|NULL|NULL",
		"ps2":      "12|ps|NULL|NULL|NULL",
		"commit":   "3|NULL|NULL|NULL|NULL",
		"lock":     "2|NULL|NULL|NULL|NULL",
		"utf8":     "NULL|" + stackUTF8 + "|NULL|NULL|NULL",
		"types":    "NULL|NULL|" + stackDecimal + "|" + stackDatetime + "|" + fmt.Sprintf("%X", blob),
		"dup":      "5|NULL|NULL|NULL|NULL",
		"afterdup": "6|NULL|NULL|NULL|NULL",
	}
}

// stackExtra is a stack's own steps and the rows they leave.
type stackExtra struct {
	steps []string
	rows  map[string]string
}

const stackSchema = " (id BIGINT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(32) NOT NULL, n INT NULL," +
	" s VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL, d DECIMAL(14,4) NULL," +
	" t DATETIME(6) NULL, b BLOB NULL, UNIQUE KEY uk_k (k)) AUTO_INCREMENT = 1000 DEFAULT CHARSET = utf8mb4"

// stackTable creates a stack's table on the writer (ids from 1000, so an id
// cannot be right by accident), drops what its DDL steps would create, and
// waits for the replica.
func stackTable(t *testing.T, w *sql.DB, name string) {
	t.Helper()
	for _, q := range []string{
		"DROP TABLE IF EXISTS " + name + ", " + name + "_ddl",
		"CREATE TABLE " + name + stackSchema,
	} {
		if _, err := w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	waitReplicated(t)
}

// checkStackWriter checks the writer's table after a scenario.
func checkStackWriter(t *testing.T, w *sql.DB, db, name string, firstID int64, extra stackExtra) {
	t.Helper()
	want := stackRows()
	for k, v := range extra.rows {
		want[k] = v
	}
	rows, err := w.Query("SELECT id, k, IFNULL(n, 'NULL'), IFNULL(s, 'NULL'), IFNULL(d, 'NULL')," +
		" IFNULL(t, 'NULL'), IFNULL(HEX(b), 'NULL') FROM " + db + "." + name)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var id int64
		var k, n, s, d, tm, b string
		if err := rows.Scan(&id, &k, &n, &s, &d, &tm, &b); err != nil {
			t.Fatal(err)
		}
		got[k] = strings.Join([]string{n, s, d, tm, b}, "|")
		if k == "first" && firstID != 0 && id != firstID {
			t.Errorf("writer: the stack saw id %d for k='first', the writer has %d", firstID, id)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("writer: no row k=%q (want %s)", k, want[k])
		case want[k] == "":
			t.Errorf("writer: row k=%q should not be there (%s)", k, g)
		case g != want[k]:
			t.Errorf("writer: row k=%q is %s, want %s", k, g, want[k])
		}
	}
	if n := count(t, w, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '"+db+
		"' AND table_name = '"+name+"_ddl'"); n != 0 {
		t.Errorf("writer: a rejected DDL created %s_ddl", name)
	}
}

var stepLine = regexp.MustCompile(`(?m)^(PASS|FAIL) (\S+?)(?:: (.*))?\s*$`)

// runStack runs one stack's script and reports every step it did not pass.
// It returns the id the stack saw for k='first' (0 when none).
func runStack(t *testing.T, stack string, env []string, dir string, extra stackExtra, name string, args ...string) int64 {
	t.Helper()
	cmd := osexec.Command(name, args...)
	cmd.Env = env
	cmd.Dir = dir
	start := time.Now()
	timer := time.AfterFunc(4*time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	t.Logf("%s ran in %s:\n%s", stack, time.Since(start).Round(time.Millisecond), out)
	results := map[string]string{}
	for _, m := range stepLine.FindAllSubmatch(out, -1) {
		results[string(m[2])] = string(m[1]) + " " + string(m[3])
	}
	checkSteps(t, stack, results, extra)
	if !regexp.MustCompile(`(?m)^DONE ` + regexp.QuoteMeta(stack) + `\s*$`).Match(out) {
		t.Errorf("%s: no 'DONE %s' line (exit: %v)", stack, stack, err)
	}
	if m := insertIDLine.FindSubmatch(out); m != nil {
		id, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return id
	}
	return 0
}

// runOnly runs a script that does one step (a migration) and fails the
// test unless it passed.
func runOnly(t *testing.T, stack string, env []string, dir, step, name string, args ...string) {
	t.Helper()
	cmd := osexec.Command(name, args...)
	cmd.Env, cmd.Dir = env, dir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%s %s ran in %s:\n%s", stack, step, time.Since(start).Round(time.Millisecond), out)
	if err != nil || !regexp.MustCompile(`(?m)^PASS `+regexp.QuoteMeta(step)+`\s*$`).Match(out) {
		t.Fatalf("%s: %s did not pass (exit: %v)", stack, step, err)
	}
}

// checkSteps reports every step of stackSteps and extra.steps that is not
// "PASS" in results (step → "PASS" or "FAIL <why>"), and logs the tally.
func checkSteps(t *testing.T, stack string, results map[string]string, extra stackExtra) {
	t.Helper()
	checkStepList(t, stack, results, append(append([]string{}, stackSteps...), extra.steps...))
}

func checkStepList(t *testing.T, stack string, results map[string]string, steps []string) {
	t.Helper()
	var passed, failed []string
	for _, s := range steps {
		r, ok := results[s]
		switch {
		case !ok:
			failed = append(failed, s)
			t.Errorf("%s: step %s did not run", stack, s)
		case strings.HasPrefix(r, "PASS"):
			passed = append(passed, s)
		default:
			failed = append(failed, s)
			t.Errorf("%s: step %s: %s", stack, s, strings.TrimSpace(strings.TrimPrefix(r, "FAIL")))
		}
	}
	t.Logf("%s: passed %v; failed %v", stack, passed, failed)
}

// stackProxy starts the fwdproxy binary at SESSION in front of the pair,
// with the replica a second behind.
//
// FWDPROXY_STACKS_DIRECT=1 points the stacks at the writer instead, to tell
// a stack's own behaviour from the proxy's (connect and the design- steps
// fail there by construction).
func stackProxy(t *testing.T) string {
	t.Helper()
	if os.Getenv("FWDPROXY_STACKS_DIRECT") == "1" {
		t.Logf("FWDPROXY_STACKS_DIRECT=1: the stacks talk to the writer directly")
		return thePair.WriterAddr
	}
	delayReplica(t, 1)
	_, addr := startBinary(t, "--default-consistency", "SESSION")
	return addr
}

// stackEnv is clientEnv plus the writer's address, for what a stack runs on
// the writer directly (migrations).
func stackEnv(addr, table, stack, mode string) []string {
	wh, wp, _ := strings.Cut(thePair.WriterAddr, ":")
	return append(clientEnv(addr, table, stack, mode), "FWD_WRITER_HOST="+wh, "FWD_WRITER_PORT="+wp)
}

// stackCase is one stack of a Test: its table, FWD_STACK and FWD_MODE.
type stackCase struct {
	stack, mode string
	extra       stackExtra
}

func (c stackCase) table() string {
	return "st_" + strings.NewReplacer("-", "_", ".", "_").Replace(c.stack)
}

// runStacks runs each case's script through one proxy and checks the writer.
func runStacks(t *testing.T, dir string, cases []stackCase, name string, args ...string) {
	t.Helper()
	addr := stackProxy(t)
	w := writerDB(t)
	for _, c := range cases {
		t.Run(c.stack, func(t *testing.T) {
			stackTable(t, w, c.table())
			id := runStack(t, c.stack, stackEnv(addr, c.table(), c.stack, c.mode), dir, c.extra, name, args...)
			checkStackWriter(t, w, testDB, c.table(), id, c.extra)
		})
	}
}

// timed logs how long an install took.
func timed(t *testing.T, what string, f func()) {
	t.Helper()
	start := time.Now()
	f()
	t.Logf("%s ready in %s", what, time.Since(start).Round(time.Millisecond))
}

// debianPython is Debian's interpreter: the python3-* packages are not in
// another python3 on PATH.
const debianPython = "/usr/bin/python3"

func TestClientStackSQLAlchemy(t *testing.T) {
	timed(t, "python3-sqlalchemy", func() {
		pair.AptInstall(t, "python3", "python3-sqlalchemy", "python3-pymysql", "python3-mysqldb")
	})
	design := stackExtra{steps: []string{"design-savepoint", "design-ddl"}}
	runStacks(t, clientsDir(t, "python"), []stackCase{
		{"sqlalchemy-pymysql", "pymysql", design},
		{"sqlalchemy-mysqldb", "mysqldb", design},
	}, debianPython, "sqlalchemy_scenario.py")
}

// djangoDB is the Django scenario's own database: its migration records
// (django_migrations) start empty every run.
const djangoDB = "fwdit_django"

func TestClientStackDjango(t *testing.T) {
	timed(t, "python3-django", func() { pair.AptInstall(t, "python3", "python3-django", "python3-mysqldb") })
	scratchDatabase(t, djangoDB)
	addr := stackProxy(t)
	dir := clientsDir(t, "python")
	c := stackCase{stack: "django", extra: stackExtra{
		steps: []string{"design-savepoint", "design-nosavepoint", "design-ddl"},
		rows:  map[string]string{"nosp-outer": "31|NULL|NULL|NULL|NULL", "nosp-inner": "32|NULL|NULL|NULL|NULL"},
	}}
	// The migration runs on the writer; the proxy's sessions do not wait
	// for another connection's DDL, so the test waits for the replica
	// before the CRUD run, as a deployment would.
	migrate := append(stackEnv(addr, c.table(), c.stack, "migrate"), "FWD_DB="+djangoDB)
	runOnly(t, c.stack, migrate, dir, "migrate", debianPython, "django_scenario.py")
	waitReplicated(t)
	env := append(stackEnv(addr, c.table(), c.stack, ""), "FWD_DB="+djangoDB)
	id := runStack(t, c.stack, env, dir, c.extra, debianPython, "django_scenario.py")
	checkStackWriter(t, writerDB(t), djangoDB, c.table(), id, c.extra)
}

func TestClientStackPHP(t *testing.T) {
	timed(t, "php-cli php-mysql", func() { pair.AptInstall(t, "php-cli", "php-mysql") })
	php := needCommand(t, "php")
	design := stackExtra{steps: []string{"design-savepoint"}}
	runStacks(t, clientsDir(t, "php"), []stackCase{
		{"php-mysqli", "mysqli", design},
		{"php-pdo-native", "pdo-native", design},
		{"php-pdo-emulated", "pdo-emulated", design},
	}, php, "scenario.php")
}

// designRows are the rows of a design-nosavepoint step: a nested
// transaction that joins the outer one instead of making a savepoint.
var designRows = map[string]string{"nosp-outer": "31|NULL|NULL|NULL|NULL", "nosp-inner": "32|NULL|NULL|NULL|NULL"}

func TestClientStackRuby(t *testing.T) {
	timed(t, "ruby-mysql2 ruby-sequel ruby-activerecord", func() {
		pair.AptInstall(t, "ruby", "ruby-mysql2", "ruby-sequel", "ruby-activerecord")
	})
	ruby := needCommand(t, "ruby")
	design := stackExtra{steps: []string{"design-savepoint", "design-nosavepoint", "design-ddl"}, rows: designRows}
	runStacks(t, clientsDir(t, "ruby"), []stackCase{
		{"ruby-sequel", "sequel", design},
		{"ruby-activerecord", "activerecord", design},
	}, ruby, "scenario.rb")
}

func TestClientStackPerl(t *testing.T) {
	timed(t, "libdbd-mariadb-perl", func() { pair.AptInstall(t, "perl", "libdbi-perl", "libdbd-mariadb-perl") })
	perl := needCommand(t, "perl")
	runStacks(t, clientsDir(t, "perl"), []stackCase{
		{"perl-dbd-mariadb", "", stackExtra{steps: []string{"design-savepoint"}}},
	}, perl, "scenario.pl")
}

// MySQL's Connector/J is not in Debian (and Maven Central is out of reach
// here): MariaDB's Connector/J stands for JDBC.
func TestClientStackJava(t *testing.T) {
	timed(t, "libmariadb-java", func() { pair.AptInstall(t, "libmariadb-java", "default-jre-headless") })
	java := needCommand(t, "java")
	batch := stackExtra{steps: []string{"batch", "batch-nokeys", "design-savepoint"}, rows: map[string]string{
		"batch1": "21|NULL|NULL|NULL|NULL", "batch2": "22|NULL|NULL|NULL|NULL", "batch3": "23|NULL|NULL|NULL|NULL",
		"bulk1": "24|NULL|NULL|NULL|NULL", "bulk2": "25|NULL|NULL|NULL|NULL", "bulk3": "26|NULL|NULL|NULL|NULL"}}
	runStacks(t, clientsDir(t, "java"), []stackCase{
		{"java-rewrite", "rewrite", batch},
		{"java-ssps", "ssps", batch},
		{"java-bulk", "bulk", batch}, // COM_STMT_BULK_EXECUTE
	}, java, "-cp", connectorJ, "Stacks.java")
}

func TestClientStackNode(t *testing.T) {
	if _, err := osexec.LookPath("npm"); err != nil {
		pair.AptInstall(t, "nodejs", "npm")
	}
	needCommand(t, "node")
	dir := clientsDir(t, "node")
	timed(t, "npm ci (sequelize, knex, typeorm, mysql2)", func() { npmInstall(t, dir) })
	design := stackExtra{steps: []string{"design-savepoint", "design-ddl"}}
	runStacks(t, dir, []stackCase{
		{"node-sequelize", "sequelize", design},
		{"node-knex", "knex", design},
		{"node-typeorm-mysql", "typeorm-mysql", design},
		{"node-typeorm-mariadb", "typeorm-mariadb", design},
	}, "node", "orm.js")
}

// mariadb-dump through the proxy: its default LOCK TABLES and
// --single-transaction's SAVEPOINT are refused by Aurora's design;
// --skip-lock-tables dumps what a dump of the writer holds.
func TestClientStackMariaDBDump(t *testing.T) {
	timed(t, "mariadb-client", func() { pair.AptInstall(t, "mariadb-client") })
	needCommand(t, "mariadb-dump")
	addr := stackProxy(t)
	w := writerDB(t)
	for _, q := range []string{
		"DROP TABLE IF EXISTS st_dump",
		"CREATE TABLE st_dump (id INT PRIMARY KEY, s VARCHAR(32) CHARACTER SET utf8mb4) DEFAULT CHARSET = utf8mb4",
		"INSERT INTO st_dump VALUES (1, 'one'), (2, '" + stackUTF8 + "'), (3, NULL)",
	} {
		if _, err := w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	waitReplicated(t)
	dump := func(addr string, opts ...string) (string, string, error) {
		host, port, _ := strings.Cut(addr, ":")
		args := append([]string{"--no-defaults", "--protocol=TCP", "-h", host, "-P", port, "-u", thePair.User,
			"--skip-dump-date", "--default-character-set=utf8mb4"}, opts...)
		cmd := osexec.Command("mariadb-dump", append(args, testDB, "st_dump")...)
		cmd.Env = append(os.Environ(), "MYSQL_PWD="+thePair.Password)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		// The header names the server it dumped.
		out := regexp.MustCompile(`(?m)^-- (Host|Server version):.*$`).ReplaceAllString(stdout.String(), "")
		return out, strings.TrimSpace(stderr.String()), err
	}
	results := map[string]string{}
	refused := func(step, wantStmt string, opts ...string) {
		_, stderr, err := dump(addr, opts...)
		t.Logf("DESIGN %s: mariadb-dump %v: exit %v: %s", step, opts, err, stderr)
		if err != nil && strings.Contains(stderr, "1235") && strings.Contains(stderr, wantStmt) {
			results[step] = "PASS"
		} else {
			results[step] = fmt.Sprintf("FAIL want a 1235 on %s, got exit %v: %s", wantStmt, err, stderr)
		}
	}
	refused("design-lock-tables", "LOCK TABLES")
	refused("design-single-transaction", "SAVEPOINT sp", "--single-transaction")
	results["skip-lock-tables"] = func() string {
		got, stderr, err := dump(addr, "--skip-lock-tables")
		if err != nil {
			return fmt.Sprintf("FAIL through the proxy: %v: %s", err, stderr)
		}
		want, stderr, err := dump(thePair.WriterAddr, "--skip-lock-tables")
		if err != nil {
			return fmt.Sprintf("FAIL on the writer: %v: %s", err, stderr)
		}
		if got != want {
			return fmt.Sprintf("FAIL the dump through the proxy differs from the writer's:\n%s\n---- writer:\n%s", got, want)
		}
		if !strings.Contains(got, stackUTF8) {
			return "FAIL the dump misses the utf8mb4 row"
		}
		return "PASS"
	}()
	checkStepList(t, "mariadb-dump", results, []string{"design-lock-tables", "design-single-transaction", "skip-lock-tables"})
}
