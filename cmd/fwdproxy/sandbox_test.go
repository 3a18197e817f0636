package main

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// asBinaryEnv makes the test binary behave as the fwdproxy binary for the
// commands the sandbox runs (serve, sandbox …), so that the test needs no
// build and does not depend on main.go's dispatch.
const asBinaryEnv = "FWDPROXY_TEST_AS_BINARY"

func TestMain(m *testing.M) {
	if os.Getenv(asBinaryEnv) == "1" && len(os.Args) > 1 {
		switch os.Args[1] {
		case "serve":
			os.Exit(serve(os.Args[2:]))
		case "sandbox":
			os.Exit(sandboxMain(os.Args[2:], os.Stdout, os.Stderr))
		}
		fmt.Fprintf(os.Stderr, "%s: unknown command %q\n", asBinaryEnv, os.Args[1])
		os.Exit(2)
	}
	os.Exit(m.Run())
}

func TestSandboxUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "up, down or status?"},
		{[]string{"sideways"}, 2, `unknown command "sideways"`},
		{[]string{"up", "--lag", "soon"}, 2, `invalid duration "soon"`},
		{[]string{"up", "--lag", "0,50ms"}, 2, "2 values for 1 replicas"},
		{[]string{"up", "--readers", "3", "--lag", "0,50ms"}, 2, "2 values for 3 replicas"},
		{[]string{"up", "--readers", "0"}, 2, "--readers 0: from 1 to 15"},
		{[]string{"up", "--readers", "16"}, 2, "--readers 16: from 1 to 15"},
		{[]string{"down", "--readers", "2"}, 2, "flag provided but not defined"},
		{[]string{"down", "--lag", "1s"}, 2, "flag provided but not defined"},
		{[]string{"status", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"up", "--lag", "-1s", "--dir", t.TempDir()}, 2, "must not be negative"},
		{[]string{"link"}, 2, "--upstream HOST:PORT is required"},
	} {
		var out, errOut bytes.Buffer
		if code := sandboxMain(tc.args, &out, &errOut); code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut.String(), tc.code, tc.want)
		}
	}
	var out bytes.Buffer
	if code := sandboxMain([]string{"up", "--help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "-rtt") {
		t.Errorf("up --help: exit %d\n%s", code, out.String())
	}
}

func TestSandboxDownRefusesOtherDirectories(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "precious"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := sandboxMain([]string{"down", "--dir", dir}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "not a sandbox directory") {
		t.Fatalf("exit %d, %q", code, errOut.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "precious")); err != nil {
		t.Fatal("down touched a directory that is not a sandbox's:", err)
	}
	if code := sandboxMain([]string{"down", "--dir", filepath.Join(dir, "none")}, &out, &errOut); code != 0 {
		t.Fatalf("down of a missing sandbox: exit %d, %q", code, errOut.String())
	}
}

func haveMariaDB() bool {
	for _, d := range append(filepath.SplitList(os.Getenv("PATH")), "/usr/sbin", "/sbin") {
		if _, err := os.Stat(filepath.Join(d, "mariadbd")); err == nil {
			return true
		}
	}
	return false
}

// processAlive: the pid runs and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || (b[i+2] != 'Z' && b[i+2] != 'X')
}

// newSandboxRun gives a sandbox directory, two free ports for the proxy
// (released before up binds them) and a way to run `fwdproxy sandbox`
// commands; the sandbox is brought down at the end of the test. It skips
// the test where no sandbox can run.
func newSandboxRun(t *testing.T) (dir string, ports []string, run func(args ...string) (string, int)) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts MariaDB servers")
	}
	if !haveMariaDB() {
		t.Skip("no mariadbd installed (apt-get install -y mariadb-server)")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("checks processes through /proc")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(t.TempDir(), "sandbox")
	var lns []net.Listener
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	for _, ln := range lns {
		ln.Close()
	}
	run = func(args ...string) (string, int) {
		cmd := exec.Command(exe, append([]string{"sandbox"}, args...)...)
		cmd.Env = append(os.Environ(), asBinaryEnv+"=1")
		out, err := cmd.CombinedOutput()
		code := 0
		if err != nil {
			code = -1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
		}
		return string(out), code
	}
	t.Cleanup(func() {
		if _, err := os.Stat(dir); err == nil {
			out, _ := run("down", "--dir", dir)
			t.Logf("cleanup: %s", out)
		}
	})
	return dir, ports, run
}

// sandboxConnector connects through the sandbox's fwdproxy on port.
func sandboxConnector(t *testing.T, port string) driver.Connector {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "fwd", "fwdpass", "tcp", "127.0.0.1:"+port, "fwdtest"
	cfg.Timeout = 5 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// The whole life of a sandbox through the command line: up (detached),
// EVENTUAL reads stale right after the session's own write, SESSION reads
// fresh, status, down leaves no process and no directory.
func TestSandboxUpReadDown(t *testing.T) {
	dir, ports, run := newSandboxRun(t)
	port, adminPort := ports[0], ports[1]
	const lag = 300 * time.Millisecond
	start := time.Now()
	out, code := run("up", "--dir", dir, "--lag", lag.String(), "--rtt", "20ms", "--port", port, "--admin-port", adminPort)
	if code != 0 {
		t.Fatalf("up: exit %d\n%s", code, out)
	}
	t.Logf("up took %s", time.Since(start).Round(time.Millisecond))
	if want := "mariadb -h 127.0.0.1 -P " + port + " -u fwd -pfwdpass fwdtest"; !strings.Contains(out, want) {
		t.Errorf("up does not print %q:\n%s", want, out)
	}
	pids := map[string]int{}
	for _, n := range []string{"writer", "replica", "link-replication", "link-writer", "fwdproxy"} {
		b, err := os.ReadFile(filepath.Join(dir, n+".pid"))
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if !processAlive(pid) {
			t.Fatalf("%s (pid %d) does not run after up returned", n, pid)
		}
		pids[n] = pid
		// No password on a command line, which every user sees in ps.
		if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && bytes.Contains(cl, []byte("fwdpass")) {
			t.Errorf("%s has the password on its command line: %q", n, cl)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "fwdproxy.users")); err != nil {
		t.Error(err)
	} else if st.Mode().Perm() != 0o600 {
		t.Errorf("fwdproxy.users has mode %v, want 0600", st.Mode().Perm())
	}

	if out, code := run("up", "--dir", dir, "--port", port); code != 1 || !strings.Contains(out, "already runs") {
		t.Errorf("second up: exit %d\n%s", code, out)
	}

	conn := sandboxConnector(t, port)
	db := sql.OpenDB(conn)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	count := func(note string) int {
		t.Helper()
		var n int
		if err := c.QueryRowContext(ctx, "SELECT COUNT(*) FROM demo WHERE note = '"+note+"'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	exec("SET aurora_replica_read_consistency = 'eventual'")
	wrote := time.Now()
	exec("INSERT INTO demo (note) VALUES ('eventual')")
	if n := count("eventual"); n != 0 {
		t.Errorf("EVENTUAL read right after the insert found the row (%d): the replica is not behind", n)
	}
	for count("eventual") == 0 {
		if time.Since(wrote) > 20*time.Second {
			t.Fatal("the row never reached the replica")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if seen := time.Since(wrote); seen < lag {
		t.Errorf("the row reached the replica %s after the insert, want >= the %s lag", seen, lag)
	} else {
		t.Logf("EVENTUAL: the row showed up on the replica %s after the insert", seen.Round(time.Millisecond))
	}

	exec("SET aurora_replica_read_consistency = 'session'")
	exec("INSERT INTO demo (note) VALUES ('session')")
	if n := count("session"); n != 1 {
		t.Errorf("SESSION read after the insert found %d rows, want 1", n)
	}
	c.Close()
	db.Close()

	out, code = run("status", "--dir", dir)
	if code != 0 || strings.Count(out, " running ") != 5 || !strings.Contains(out, "GlobalWriteForwardingStatus") ||
		!strings.Contains(out, "replication of replica: IO Yes, SQL Yes") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	t.Logf("status:\n%s", out)

	// fwdproxy follows the sandbox's writer changes: a write and a SESSION read after each.
	write := func(note string) { t.Helper(); readOwnWrites(t, conn, note, 1) }
	// Over and back: the failover then kills the first writer, and fwdproxy keeps its reader.
	for _, note := range []string{"after switchover", "after switchback"} {
		if out, code := run("switchover", "--dir", dir); code != 0 || !strings.Contains(out, "switchover done") {
			t.Fatalf("%s: exit %d\n%s", note, code, out)
		}
		write(note)
	}
	if out, code := run("failover", "--dir", dir); code != 1 || !strings.Contains(out, "--allow-data-loss") {
		t.Errorf("failover without --allow-data-loss: exit %d\n%s", code, out)
	}
	if out, code := run("failover", "--dir", dir, "--allow-data-loss"); code != 0 || !strings.Contains(out, "failover done") {
		t.Fatalf("failover: exit %d\n%s", code, out)
	} else {
		t.Logf("failover: %s", out)
	}
	// The first write right after the failover succeeds: the dead writer's link still accepts
	// (and closes at once), which must send the statement on to the promoted replica.
	failedOver := time.Now()
	write("after failover")
	t.Logf("the first write after the failover command returned took %s", time.Since(failedOver).Round(time.Millisecond))

	downLeavesNothing(t, run, dir, pids)
}

// readOwnWrites writes n rows in one SESSION session through the sandbox's
// fwdproxy and reads each right after its write. After a switchover the
// reader may be the writer itself, where a GTID wait for the session's own
// write would never end.
func readOwnWrites(t *testing.T, conn driver.Connector, note string, n int) {
	t.Helper()
	db := sql.OpenDB(conn)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatalf("%s: %v", note, err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "SET SESSION aurora_replica_read_consistency = 'session'"); err != nil {
		t.Fatalf("%s: %v", note, err)
	}
	for i := range n {
		v := note
		if n > 1 {
			v = fmt.Sprintf("%s %d", note, i)
		}
		if _, err := c.ExecContext(ctx, "INSERT INTO demo (note) VALUES (?)", v); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		var got int
		if err := c.QueryRowContext(ctx, "SELECT COUNT(*) FROM demo WHERE note = ?", v).Scan(&got); err != nil || got != 1 {
			t.Errorf("%s: the SESSION read of the session's write: %d rows, %v", v, got, err)
		}
	}
}

// downLeavesNothing runs down and checks that none of pids runs any more
// and that dir is gone.
func downLeavesNothing(t *testing.T, run func(args ...string) (string, int), dir string, pids map[string]int) {
	t.Helper()
	if out, code := run("down", "--dir", dir); code != 0 {
		t.Fatalf("down: exit %d\n%s", code, out)
	}
	for n, pid := range pids {
		if processAlive(pid) {
			t.Errorf("%s (pid %d) still runs after down", n, pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("down left %s: %v", dir, err)
	}
}

// `make demo 2>&1 | tee demo.log` and Ctrl-C: tee is gone when the EXIT
// trap runs `sandbox down`, so its stdout and stderr are a pipe without a
// reader. down must still stop the processes and remove the directory.
func TestSandboxDownWithoutReader(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "sbx")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sandbox.json"), []byte(`{"dir": "`+dir+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Stand-ins for the writer and a third replica's link: down only
	// signals processes that have the sandbox directory on their command
	// line, and stops every one with a pid file.
	var standIns []*exec.Cmd
	for _, name := range []string{"writer", "link-replication3"} {
		c := exec.Command("sh", "-c", "sleep 300", dir+"/"+name)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
		if err := os.WriteFile(filepath.Join(dir, name+".pid"), []byte(strconv.Itoa(c.Process.Pid)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		standIns = append(standIns, c)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	down := exec.Command(exe, "sandbox", "down", "--dir", dir)
	down.Env = append(os.Environ(), asBinaryEnv+"=1")
	down.Stdout, down.Stderr = w, w
	err = down.Run()
	w.Close()
	if err != nil {
		t.Fatalf("sandbox down with a closed stdout: %v (%v)", err, down.ProcessState)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there (%v)", dir, err)
	}
	// Gone, or a zombie until the Wait above reaps it.
	for _, c := range standIns {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Process.Pid)); err == nil && !strings.Contains(string(b), ") Z ") {
			t.Errorf("a stand-in still runs: %s", b)
		}
	}
}

// `make demo 2>&1 | tee demo.log` and Ctrl-C while up is still starting:
// tee is gone, so up's next progress line goes to a pipe without a reader.
// up must not die of that before it has stopped what it started.
func TestSandboxUpInterruptedWithoutReader(t *testing.T) {
	dir, ports, _ := newSandboxRun(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	up := exec.Command(exe, "sandbox", "up", "--dir", dir, "--lag", "10ms", "--port", ports[0], "--admin-port", ports[1])
	up.Env = append(os.Environ(), asBinaryEnv+"=1")
	up.Stdout, up.Stderr = w, w
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	done := make(chan error, 1)
	go func() { done <- up.Wait() }()
	// Ctrl-C once the writer runs (its pid file is there).
	for {
		if _, err := os.Stat(filepath.Join(dir, "writer.pid")); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("up ended before the writer started: %v (%v)", err, up.ProcessState)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := up.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = <-done
	if ws, ok := up.ProcessState.Sys().(interface{ Signaled() bool }); ok && ws.Signaled() {
		t.Fatalf("up was killed by a signal (%v): it did not clean up", up.ProcessState)
	}
	if err == nil {
		t.Fatal("up interrupted: exit 0")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there after the interrupted up (%v)", dir, err)
	}
}

// Messages name the command as it was started: after make demo that is
// bin/fwdproxy, which is not on PATH.
func TestSandboxMessagesNameTheCommandAsStarted(t *testing.T) {
	var out, errOut bytes.Buffer
	code := sandboxMain([]string{"status", "--dir", filepath.Join(t.TempDir(), "none")}, &out, &errOut)
	if want := os.Args[0] + " sandbox up"; code == 0 || !strings.Contains(errOut.String(), want) {
		t.Fatalf("status of no sandbox: exit %d, %q; want it to say %q", code, errOut.String(), want)
	}
}
