package integration

// The client matrix of issue 4: every stack runs the same scenario through
// the proxy against the real pair, and the writer's table is checked after:
//
//  1. connect, SET aurora_replica_read_consistency = 'SESSION'
//  2. a forwarded INSERT and its insert id
//  3. read-your-write
//  4. a prepared INSERT and a prepared SELECT, each executed twice
//  5. a transaction with COMMIT and one with ROLLBACK
//  6. CREATE TABLE gets 1235
//  7. a 1000-row result (count and checksum)
//
// The scripts for the other stacks are in clients/; each prints
// "insert_id=N" and, last, "OK <stack>", and exits non-zero on a failure.
// What a stack needs is installed here (Debian packages, npm into
// clients/node/node_modules); a failed install fails the test.
//
// While a scenario runs the replica applies everything a second late
// (MASTER_DELAY), so step 3 fails every time a SESSION read does not wait,
// not only when replication happens to lag. sysbench runs without the delay
// and with SESSION as the proxy's default (it cannot SET the variable).

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/proxy"
)

// matrixRows is what every scenario leaves in its table, as (v, s).
var matrixRows = [][2]string{{"1", "first"}, {"2", "p2"}, {"3", "p3"}, {"4", "commit"}}

// matrixTable creates the scenario's table on the writer (AUTO_INCREMENT
// starting at 1000, so an insert id cannot be right by accident) and drops
// the ones the rejections name, then waits for the replica.
func matrixTable(t *testing.T, name string) {
	t.Helper()
	w := writerDB(t)
	for _, q := range []string{
		"DROP TABLE IF EXISTS " + name + ", " + name + "_x, " + name + "_y",
		"CREATE TABLE " + name + " (id INT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL, s VARCHAR(64) NOT NULL) AUTO_INCREMENT = 1000",
	} {
		if _, err := w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	waitReplicated(t)
}

// checkMatrixWriter checks the writer after a scenario: exactly matrixRows,
// the first at insertID (0: not checked), and no table from a rejected DDL.
func checkMatrixWriter(t *testing.T, name string, insertID int64) {
	t.Helper()
	w := writerDB(t)
	rows, err := w.Query("SELECT id, v, s FROM " + name + " ORDER BY v")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got [][2]string
	var firstID int64
	for rows.Next() {
		var id int64
		var v, s string
		if err := rows.Scan(&id, &v, &s); err != nil {
			t.Fatal(err)
		}
		if v == "1" {
			firstID = id
		}
		got = append(got, [2]string{v, s})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(matrixRows) {
		t.Errorf("writer's %s holds %v, want %v", name, got, matrixRows)
	}
	if insertID != 0 && firstID != insertID {
		t.Errorf("the client saw insert id %d, the writer has the row at id %d", insertID, firstID)
	}
	if n := count(t, w, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '"+testDB+"' AND table_name IN ('"+name+"_x', '"+name+"_y')"); n != 0 {
		t.Errorf("a rejected CREATE TABLE ran on the writer")
	}
}

// delayReplica makes the replica apply every writer transaction `seconds`
// late (MASTER_DELAY) until the test ends. A read that should wait for the
// session's own write (SESSION) but does not then misses it every time,
// instead of only when replication happens to lag.
func delayReplica(t *testing.T, seconds int) {
	t.Helper()
	r, err := thePair.RootDB(thePair.ReaderAddr)
	if err != nil {
		t.Fatal(err)
	}
	set := func(n int) error {
		for _, q := range []string{"STOP SLAVE", fmt.Sprintf("CHANGE MASTER TO MASTER_DELAY = %d", n), "START SLAVE"} {
			if _, err := r.Exec(q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		// Wait for both replication threads, so that CheckReplicaClean
		// does not see them still connecting.
		for end := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			var io, sqlRunning string
			rows, err := r.Query("SHOW SLAVE STATUS")
			if err != nil {
				return err
			}
			cols, _ := rows.Columns()
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					rows.Close()
					return err
				}
				for i, c := range cols {
					switch c {
					case "Slave_IO_Running":
						io = string(vals[i])
					case "Slave_SQL_Running":
						sqlRunning = string(vals[i])
					}
				}
			}
			rows.Close()
			if io == "Yes" && sqlRunning == "Yes" {
				return nil
			}
			if time.Now().After(end) {
				return fmt.Errorf("replication threads IO=%q SQL=%q after START SLAVE", io, sqlRunning)
			}
		}
	}
	if err := set(seconds); err != nil {
		r.Close()
		t.Fatalf("delay the replica: %v", err)
	}
	t.Cleanup(func() {
		if err := set(0); err != nil {
			t.Errorf("undo the replica delay: %v", err)
		}
		r.Close()
	})
}

// ---- installs ----

// needCommand fails the test when name is not on PATH (after its install).
func needCommand(t *testing.T, name string) string {
	t.Helper()
	p, err := osexec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found after installing it: %v", name, err)
	}
	return p
}

// ---- running a script ----

// clientEnv is the environment a scenario script reads.
func clientEnv(addr, table, stack, mode string) []string {
	host, port, _ := strings.Cut(addr, ":")
	return append(os.Environ(),
		"FWD_HOST="+host, "FWD_PORT="+port,
		"FWD_USER="+thePair.User, "FWD_PASSWORD="+thePair.Password,
		"FWD_DB="+testDB, "FWD_TABLE="+table, "FWD_STACK="+stack, "FWD_MODE="+mode,
	)
}

var insertIDLine = regexp.MustCompile(`(?m)^insert_id=(\d+)\s*$`)

// runScenario runs one stack's script, asserts its exit code and its
// "OK <stack>" line, and returns the insert id it reported.
func runScenario(t *testing.T, stack string, env []string, dir string, name string, args ...string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := osexec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Dir = dir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%s (%s):\n%s", stack, time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("%s: %s %v: %v", stack, name, args, err)
	}
	if !regexp.MustCompile(`(?m)^OK ` + regexp.QuoteMeta(stack) + `\s*$`).Match(out) {
		t.Fatalf("%s: no 'OK %s' line", stack, stack)
	}
	m := insertIDLine.FindSubmatch(out)
	if m == nil {
		t.Fatalf("%s: no insert_id line", stack)
	}
	id, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return id
}

func clientsDir(t *testing.T, stack string) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("clients", stack))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// ---- go-sql-driver/mysql ----

func TestClientGoDriver(t *testing.T) {
	delayReplica(t, 1)
	addr := startProxy(t, nil)
	for _, tc := range []struct {
		name, table, params string
		prepared            bool
	}{
		{"server-side prepared", "cm_go_ps", "", true},
		{"interpolateParams", "cm_go_interp", "interpolateParams=true", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			matrixTable(t, tc.table)
			c := conn(t, addr, tc.params)
			id := goScenario(t, c, tc.table, tc.prepared)
			checkMatrixWriter(t, tc.table, id)
		})
	}
}

// goScenario is the scenario with database/sql. prepared: the parameterised
// statements are explicit server-side prepared statements; otherwise they go
// through Exec/Query with arguments (interpolated when the DSN says so).
func goScenario(t *testing.T, c *sql.Conn, table string, prepared bool) int64 {
	t.Helper()
	// 1.
	exec(t, c, "SET aurora_replica_read_consistency = 'SESSION'")
	if v := one(t, c, "SELECT @@aurora_replica_read_consistency"); v != "SESSION" {
		t.Fatalf("consistency %q", v)
	}
	// 2.
	r := exec(t, c, "INSERT INTO "+table+" (v, s) VALUES (1, 'first')")
	firstID, _ := r.LastInsertId()
	if n, _ := r.RowsAffected(); n != 1 || firstID < 1000 {
		t.Fatalf("insert: %d rows, id %d", n, firstID)
	}
	if v := one(t, c, "SELECT LAST_INSERT_ID()"); v != fmt.Sprint(firstID) {
		t.Errorf("LAST_INSERT_ID() = %s, want %d", v, firstID)
	}
	// 3.
	var v int
	var s string
	if err := c.QueryRowContext(ctx, "SELECT v, s FROM "+table+" WHERE id = ?", firstID).Scan(&v, &s); err != nil {
		t.Fatalf("read-your-write: %v", err)
	}
	if v != 1 || s != "first" {
		t.Fatalf("read-your-write: %d %q", v, s)
	}
	// 4.
	insQ := "INSERT INTO " + table + " (v, s) VALUES (?, ?)"
	selQ := "SELECT s FROM " + table + " WHERE v = ?"
	ins := func(v int, s string) sql.Result { return exec(t, c, insQ, v, s) }
	sel := func(v int) []string {
		t.Helper()
		rows, err := c.QueryContext(ctx, selQ, v)
		if err != nil {
			t.Fatalf("%s [%d]: %v", selQ, v, err)
		}
		return scanStrings(t, rows)
	}
	if prepared {
		insS, err := c.PrepareContext(ctx, insQ)
		if err != nil {
			t.Fatalf("prepare %s: %v", insQ, err)
		}
		defer insS.Close()
		selS, err := c.PrepareContext(ctx, selQ)
		if err != nil {
			t.Fatalf("prepare %s: %v", selQ, err)
		}
		defer selS.Close()
		ins = func(v int, s string) sql.Result {
			t.Helper()
			r, err := insS.ExecContext(ctx, v, s)
			if err != nil {
				t.Fatalf("prepared insert %d: %v", v, err)
			}
			return r
		}
		sel = func(v int) []string {
			t.Helper()
			rows, err := selS.QueryContext(ctx, v)
			if err != nil {
				t.Fatalf("prepared select %d: %v", v, err)
			}
			return scanStrings(t, rows)
		}
	}
	for _, p := range []struct {
		v int
		s string
	}{{2, "p2"}, {3, "p3"}} {
		r := ins(p.v, p.s)
		id, _ := r.LastInsertId()
		if n, _ := r.RowsAffected(); n != 1 || id <= firstID {
			t.Errorf("prepared insert %d: %d rows, id %d", p.v, n, id)
		}
	}
	for _, p := range []struct {
		v int
		s string
	}{{2, "p2"}, {3, "p3"}} {
		if got := sel(p.v); fmt.Sprint(got) != fmt.Sprint([]string{p.s}) {
			t.Errorf("prepared select %d: %v", p.v, got)
		}
	}
	// 5.
	exec(t, c, "BEGIN")
	ins(4, "commit")
	if got := sel(4); len(got) != 1 {
		t.Errorf("transaction does not see its own insert: %v", got)
	}
	exec(t, c, "COMMIT")
	exec(t, c, "START TRANSACTION")
	ins(5, "rollback")
	exec(t, c, "ROLLBACK")
	if got := sel(5); len(got) != 0 {
		t.Errorf("rolled-back row visible: %v", got)
	}
	if got := sel(4); len(got) != 1 {
		t.Errorf("committed row not visible: %v", got)
	}
	// 6.
	wantErr(t, errOf(c, "CREATE TABLE "+table+"_x (i INT)"), 1235, "")
	if prepared {
		st, err := c.PrepareContext(ctx, "CREATE TABLE "+table+"_y (i INT)")
		if err == nil {
			_, err = st.ExecContext(ctx)
			st.Close()
		}
		wantErr(t, err, 1235, "")
	}
	if v := one(t, c, "SELECT 1"); v != "1" {
		t.Fatalf("after the rejection: %q", v)
	}
	// 7.
	rows, err := c.QueryContext(ctx, "SELECT seq, CONCAT('r', seq) FROM seq_1_to_1000 WHERE seq <= ?", 1000)
	if err != nil {
		t.Fatal(err)
	}
	n, sum := 0, 0
	for rows.Next() {
		var seq int
		var s string
		if err := rows.Scan(&seq, &s); err != nil {
			t.Fatal(err)
		}
		if s != "r"+strconv.Itoa(seq) {
			t.Fatalf("row %d %q", seq, s)
		}
		n++
		sum += seq
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if n != 1000 || sum != 500500 {
		t.Errorf("multi-row: %d rows, sum %d", n, sum)
	}
	return firstID
}

func scanStrings(t *testing.T, rows *sql.Rows) []string {
	t.Helper()
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// ---- the mariadb CLI ----

func TestClientMariaDBCLI(t *testing.T) {
	pair.AptInstall(t, "mariadb-client")
	needCommand(t, "mariadb")
	delayReplica(t, 1)
	addr := startProxy(t, nil)
	matrixTable(t, "cm_cli")
	id := runScenario(t, "cli", clientEnv(addr, "cm_cli", "cli", ""), clientsDir(t, "shell"), "bash", "scenario.sh")
	checkMatrixWriter(t, "cm_cli", id)
}

// ---- sysbench ----

const sysbenchDB = "sbtest_cm"

func TestClientSysbench(t *testing.T) {
	pair.AptInstall(t, "sysbench")
	needCommand(t, "sysbench")
	scratchDatabase(t, sysbenchDB)
	common := []string{"oltp_read_write", "--mysql-user=" + thePair.User, "--mysql-password=" + thePair.Password,
		"--mysql-db=" + sysbenchDB, "--tables=2", "--table-size=1000", "--db-driver=mysql"}
	hostPort := func(addr string) []string {
		h, p, _ := strings.Cut(addr, ":")
		return []string{"--mysql-host=" + h, "--mysql-port=" + p}
	}
	// The tables are made on the writer: DDL through the proxy gets 1235.
	out, err := osexec.Command("sysbench", append(append(common, hostPort(thePair.WriterAddr)...), "prepare")...).CombinedOutput()
	if err != nil {
		t.Fatalf("sysbench prepare on the writer: %v\n%s", err, out)
	}
	waitReplicated(t)

	// sysbench cannot SET the session variable: SESSION is the proxy's default.
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	for _, tc := range []struct{ name, mode string }{{"prepared", "auto"}, {"ps-mode disable", "disable"}} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append(append([]string{}, common...), hostPort(addr)...),
				"--threads=2", "--time=3", "--report-interval=0", "--db-ps-mode="+tc.mode,
				// Only deadlocks are retried (sysbench's default also ignores
				// 1205 and 1020); they happen on the writer alone too. Any
				// other error aborts the run.
				"--mysql-ignore-errors=1213", "run")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			start := time.Now()
			out, err := osexec.CommandContext(ctx, "sysbench", args...).CombinedOutput()
			t.Logf("sysbench run --db-ps-mode=%s (%s):\n%s", tc.mode, time.Since(start).Round(time.Millisecond), out)
			if err != nil {
				t.Fatalf("sysbench run: %v", err)
			}
			if strings.Contains(string(out), "FATAL") {
				t.Fatalf("sysbench reported a fatal error")
			}
			stat := func(name string) int {
				m := regexp.MustCompile(`(?m)^\s*` + name + `:\s+(\d+)`).FindSubmatch(out)
				if m == nil {
					t.Fatalf("no %q in sysbench's output", name)
				}
				n, _ := strconv.Atoi(string(m[1]))
				return n
			}
			tx, ignored, reconnects := stat("transactions"), stat("ignored errors"), stat("reconnects")
			t.Logf("transactions %d, ignored errors (1213 deadlocks, retried) %d, reconnects %d", tx, ignored, reconnects)
			if tx == 0 {
				t.Errorf("no transaction completed")
			}
			if reconnects != 0 {
				t.Errorf("%d reconnects", reconnects)
			}
		})
	}
	// Every table still has its rows (oltp_read_write deletes and re-inserts).
	w, err := thePair.WriterDB(sysbenchDB)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, tb := range []string{"sbtest1", "sbtest2"} {
		if n := count(t, w, "SELECT COUNT(*) FROM "+tb); n != 1000 {
			t.Errorf("writer's %s has %d rows after the runs, want 1000", tb, n)
		}
	}
}

// ---- Python ----

func TestClientPython(t *testing.T) {
	pair.AptInstall(t, "python3", "python3-pymysql", "python3-mysqldb")
	// Debian's interpreter: the packages above are not in another python3 on PATH.
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s: %v", python, err)
	}
	delayReplica(t, 1)
	addr := startProxy(t, nil)
	dir := clientsDir(t, "python")
	for _, driver := range []string{"pymysql", "mysqldb"} {
		t.Run(driver, func(t *testing.T) {
			table := "cm_py_" + driver
			matrixTable(t, table)
			env := append(clientEnv(addr, table, "python-"+driver, ""), "FWD_DRIVER="+driver)
			id := runScenario(t, "python-"+driver, env, dir, python, "scenario.py")
			checkMatrixWriter(t, table, id)
		})
	}
}

// ---- Node ----

var npmMu sync.Mutex // one npm install at a time

// npmInstall installs clients/node's locked dependencies (mysql2, mariadb
// and the ORMs of the stacks matrix) into clients/node/node_modules unless they are
// all there already.
func npmInstall(t *testing.T, dir string) {
	t.Helper()
	npmMu.Lock()
	defer npmMu.Unlock()
	check := osexec.Command("node", "-e", `const lock = require("./package-lock.json").packages;
for (const name of Object.keys(require("./package.json").dependencies)) {
  const want = lock["node_modules/" + name].version;
  let v;
  try { v = require("./node_modules/" + name + "/package.json").version; } catch (e) { v = "missing"; }
  if (v !== want) { console.error(name + " " + v + ", lock has " + want); process.exit(1); }
}`)
	check.Dir = dir
	if check.Run() == nil {
		return
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := osexec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s failed: %v\n%s", dir, err, out)
	}
	t.Logf("npm ci in %s: %s", dir, time.Since(start).Round(time.Millisecond))
}

func TestClientNode(t *testing.T) {
	if _, err := osexec.LookPath("npm"); err != nil {
		pair.AptInstall(t, "nodejs", "npm")
	}
	needCommand(t, "node")
	dir := clientsDir(t, "node")
	npmInstall(t, dir)
	delayReplica(t, 1)
	addr := startProxy(t, nil)
	for _, mode := range []string{"query", "execute"} {
		t.Run(mode, func(t *testing.T) {
			table := "cm_node_" + mode
			matrixTable(t, table)
			id := runScenario(t, "node-"+mode, clientEnv(addr, table, "node-"+mode, mode), dir, "node", "scenario.js")
			checkMatrixWriter(t, table, id)
		})
	}
	// MariaDB's connector, with its metadata cache (mariadb.js).
	t.Run("mariadb", func(t *testing.T) {
		const table = "cm_node_mariadb"
		matrixTable(t, table)
		id := runScenario(t, "node-mariadb", clientEnv(addr, table, "node-mariadb", ""), dir, "node", "mariadb.js")
		checkMatrixWriter(t, table, id)
	})
}

// ---- Java ----

const connectorJ = "/usr/share/java/mariadb-java-client.jar"

func TestClientJava(t *testing.T) {
	pair.AptInstall(t, "libmariadb-java", "default-jre-headless")
	java := needCommand(t, "java")
	if _, err := os.Stat(connectorJ); err != nil {
		t.Fatalf("Connector/J: %v", err)
	}
	delayReplica(t, 1)
	addr := startProxy(t, nil)
	dir := clientsDir(t, "java")
	for _, mode := range []string{"ssps", "default"} {
		t.Run(mode, func(t *testing.T) {
			table := "cm_java_" + mode
			matrixTable(t, table)
			id := runScenario(t, "java-"+mode, clientEnv(addr, table, "java-"+mode, mode), dir,
				java, "-cp", connectorJ+string(os.PathListSeparator)+".", "Scenario.java")
			checkMatrixWriter(t, table, id)
		})
	}
}

// TestClientMariaDBCLILostReader: the session's reader connection is killed under a read. The
// CLI (libmariadb) shows the proxy's lost-connection error as sent; an ERR packet with the client
// code 2013 used to arrive as "ERROR 2027 (HY000): Received malformed packet".
func TestClientMariaDBCLILostReader(t *testing.T) {
	pair.AptInstall(t, "mariadb-client")
	needCommand(t, "mariadb")
	addr := startProxy(t, nil)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	root, err := thePair.RootDB(thePair.ReaderAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	go func() {
		var id int64
		for i := 0; i < 200; i++ {
			time.Sleep(20 * time.Millisecond)
			if root.QueryRow("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(5)%' AND ID <> CONNECTION_ID()").Scan(&id) == nil {
				_, _ = root.Exec(fmt.Sprintf("KILL %d", id))
				return
			}
		}
	}()
	out, _ := osexec.Command("mariadb", "-h", host, "-P", port, "-u", thePair.User, "-p"+thePair.Password,
		"--skip-ssl", "-e", "SELECT SLEEP(5) AS fwdproxy_lost_reader").CombinedOutput()
	if !strings.Contains(string(out), "ERROR 1158 (08S01)") || !strings.Contains(string(out), "Lost connection to reader during query") {
		t.Errorf("the CLI's answer to a read whose reader connection was killed:\n%s", out)
	}
	t.Logf("the CLI: %s", out)
}
