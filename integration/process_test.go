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
	"syscall"
	"testing"
	"time"

	"github.com/fwdproxy/fwdproxy/integration/pair"
)

// binary returns the fwdproxy binary: FWDPROXY_BIN (make test builds it) or
// a fresh build.
func proxyBinary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("FWDPROXY_BIN"); b != "" {
		return b
	}
	b := filepath.Join(t.TempDir(), "fwdproxy")
	out, err := osexec.Command("go", "build", "-o", b, "../cmd/fwdproxy").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v %s", err, out)
	}
	return b
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

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

func TestProcessReloadAndShutdown(t *testing.T) {
	table(t, "proc1")
	addr := freeAddr(t)
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
	var logs bytes.Buffer
	cmd := osexec.Command(proxyBinary(t), "serve", "--config", cfgFile, "--log-format", "json")
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
