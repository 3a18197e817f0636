package integration

// The fwdproxy binary as operators run it: config file, SIGHUP reload,
// graceful SIGTERM.

import (
	"bytes"
	"database/sql"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fwdproxy/fwdproxy/integration/pair"
)

func waitListening(t *testing.T, addr string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// startBinary runs the fwdproxy binary in front of the pair with the pair's
// ALL PRIVILEGES user and the given extra flags, and stops it when the test
// ends, then checks that nothing wrote to the replica.
func startBinary(t *testing.T, flags ...string) (*osexec.Cmd, string) {
	t.Helper()
	cmd, addr, _ := startBinaryLogs(t, flags...)
	return cmd, addr
}

// startBinaryLogs is startBinary that also returns the process's output.
func startBinaryLogs(t *testing.T, flags ...string) (*osexec.Cmd, string, *lockedBuffer) {
	t.Helper()
	addr := pair.FreeAddr(t)
	args := append([]string{"serve", "--listen", addr, "--admin", "", "--writer", thePair.WriterAddr,
		"--reader", thePair.ReaderAddr, "--user", thePair.User + ":" + thePair.Password, "--log-level", "warn"}, flags...)
	cmd := osexec.Command(pair.Binary(t), args...)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() && logs.String() != "" {
			t.Logf("fwdproxy %v:\n%s", flags, logs.String())
		}
		if err := thePair.CheckReplicaClean(); err != nil {
			t.Errorf("replica is not clean after %s: %v", t.Name(), err)
		}
	})
	waitListening(t, addr)
	return cmd, addr, logs
}

func TestProcessReloadAndShutdown(t *testing.T) {
	table(t, "proc1")
	addr := pair.FreeAddr(t)
	cfgFile := filepath.Join(t.TempDir(), "fwdproxy.yaml")
	write := func(consistency string, users ...string) {
		y := fmt.Sprintf("listen: %s\nadmin: ''\nwriter: %s\nreader: %s\ndefault-consistency: %s\nuser:\n", addr, thePair.WriterAddr, thePair.ReaderAddr, consistency)
		for _, u := range users {
			y += "  - " + u + "\n"
		}
		if err := os.WriteFile(cfgFile, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("EVENTUAL", thePair.User+":"+thePair.Password)
	var logs lockedBuffer // written by exec's copier, read here
	cmd := osexec.Command(pair.Binary(t), "serve", "--config", cfgFile, "--log-format", "json")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	waitListening(t, addr)

	c := conn(t, addr, "")
	if v := one(t, c, "SELECT @@aurora_replica_read_consistency"); v != "EVENTUAL" {
		t.Fatalf("from the file: %q", v)
	}

	// SIGHUP: new default for new sessions, and a new user.
	w := writerDB(t)
	for _, q := range []string{"DROP USER IF EXISTS 'hup'@'%'", "CREATE USER 'hup'@'%' IDENTIFIED BY 'huppass'", "GRANT SELECT ON fwdit.* TO 'hup'@'%'"} {
		if _, err := w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	waitReplicated(t)
	write("GLOBAL", thePair.User+":"+thePair.Password, "hup:huppass")
	_ = cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "settings reloaded") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if v := one(t, conn(t, addr, ""), "SELECT @@aurora_replica_read_consistency"); v != "GLOBAL" {
		t.Fatalf("after SIGHUP: %q", v)
	}
	hup, _ := sql.Open("mysql", pair.DSN(addr, "hup", "huppass", testDB))
	defer hup.Close()
	if err := hup.Ping(); err != nil {
		t.Fatalf("user added by SIGHUP: %v", err)
	}
	if strings.Contains(logs.String(), thePair.Password) || strings.Contains(logs.String(), "huppass") {
		t.Fatal("a password reached the log")
	}

	// SIGTERM with a transaction open: no new clients, the transaction may
	// still commit, then the process exits 0.
	tx := conn(t, addr, "")
	exec(t, tx, "SET aurora_replica_read_consistency = 'SESSION'")
	exec(t, tx, "BEGIN")
	exec(t, tx, "INSERT INTO proc1 (v) VALUES (800)")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("still accepting connections after SIGTERM")
	}
	exec(t, tx, "COMMIT")
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not exit after the transaction ended")
	}
	if n := count(t, w, "SELECT COUNT(*) FROM proc1 WHERE v = 800"); n != 1 {
		t.Fatal("the transaction open at SIGTERM was lost")
	}
	for _, want := range []string{`"session start"`, `"session end"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s", want)
		}
	}
}

// rssKB reads a process's resident set size.
func rssKB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var kb int
			fmt.Sscanf(strings.TrimSpace(l[6:]), "%d", &kb)
			return kb
		}
	}
	return 0
}

// sampleRSS samples a process's RSS every 10 ms from now on; it returns
// the RSS now and the function that stops and returns the peak.
func sampleRSS(t *testing.T, pid int) (before int, stop func() (peak int)) {
	before = rssKB(t, pid)
	peak := before
	done, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
				peak = max(peak, rssKB(t, pid))
			}
		}
	}()
	return before, func() int {
		close(done)
		<-sampled
		return peak
	}
}

// Issue 4: 1 GB of result through the proxy with RSS growth under 32 MB —
// rows are relayed packet by packet, never held.
func TestLargeResultBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 1 GB")
	}
	cmd, addr := startBinary(t)
	c := conn(t, addr, "")
	one(t, c, "SELECT 1")
	before, peakRSS := sampleRSS(t, cmd.Process.Pid)
	// 100,000 rows of 10,000 bytes: 1 GB of values.
	rows, err := c.QueryContext(ctx, "SELECT REPEAT('x', 10000) FROM seq_1_to_100000")
	if err != nil {
		t.Fatal(err)
	}
	var n, total int
	var v sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		n++
		total += len(v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	peak := peakRSS()
	if n != 100000 || total != 1e9 {
		t.Fatalf("got %d rows, %d bytes", n, total)
	}
	growth := peak - before
	t.Logf("RSS before %d kB, peak %d kB, growth %d kB for 1 GB", before, peak, growth)
	if growth > 32*1024 {
		t.Fatalf("RSS grew %d kB streaming 1 GB; the limit is 32 MB", growth)
	}
}

// lockedBuffer is a bytes.Buffer safe to read while a process writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
