package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]string{
		"mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)\n": "10.11.19",
		"/usr/sbin/mysqld  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)\n":     "8.0.36",
		"garbage": "unknown version",
	} {
		if got := parseVersion(in); got != want {
			t.Errorf("parseVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBehind(t *testing.T) {
	for _, tc := range []struct {
		w, r string
		n    int64
		ok   bool
	}{
		{"0-1-10", "0-1-10", 0, true},
		{"0-1-12", "0-1-10", 2, true},
		{"0-1-12,1-1-5", "0-1-10", 7, true},
		{"0-1-12", "", 12, true},
		{"3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5", "", 0, false},
	} {
		if n, ok := behind(tc.w, tc.r); n != tc.n || ok != tc.ok {
			t.Errorf("behind(%q, %q) = %d, %v; want %d, %v", tc.w, tc.r, n, ok, tc.n, tc.ok)
		}
	}
}

func TestCnf(t *testing.T) {
	maria := &flavor{Name: "MariaDB"}
	w := maria.cnf("/s", "writer", "/s/writer.sock", 20001, 1, false)
	r := maria.cnf("/s", "replica", "/s/replica.sock", 20002, 2, true)
	for _, want := range []string{"[mysqld]", "port=20001", "server-id=1", "bind-address=127.0.0.1", "log-bin=binlog",
		"gtid_strict_mode=ON", "log_slave_updates=ON", "pid-file=/s/writer.pid", "log-error=/s/writer.log",
		"datadir=/s/writer/data", "socket=/s/writer.sock", "last_gtid"} {
		if !strings.Contains(w, want+"\n") && !strings.Contains(w, want) {
			t.Errorf("writer cnf lacks %q:\n%s", want, w)
		}
	}
	if strings.Contains(w, "read_only") || !strings.Contains(r, "read_only=ON\n") || !strings.Contains(r, "skip-slave-start\n") {
		t.Errorf("read_only and skip-slave-start belong to the replica only:\n%s\n%s", w, r)
	}
	my := (&flavor{Name: "MySQL"}).cnf("/s", "replica", "/s/replica.sock", 20002, 2, true)
	for _, want := range []string{"gtid_mode=ON", "enforce_gtid_consistency=ON", "mysqlx=OFF", "skip-replica-start", "read_only=ON"} {
		if !strings.Contains(my, want) {
			t.Errorf("MySQL replica cnf lacks %q:\n%s", want, my)
		}
	}
	if strings.Contains(my, "gtid_strict_mode") {
		t.Errorf("MySQL cnf has a MariaDB setting:\n%s", my)
	}
}

func TestUpRefusesForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mine"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := prepareDir(dir); err == nil || !strings.Contains(err.Error(), "not a sandbox directory") {
		t.Fatalf("prepareDir of a foreign directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mine")); err != nil {
		t.Fatal(err)
	}
}

// A failed Up (here: the links cannot start) stops the servers it started;
// Down then removes the directory and the separate socket directory a long
// path needs.
func TestUpFailureStopsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB servers")
	}
	if _, err := findFlavor(); err != nil {
		t.Skip(err)
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("checks processes through /proc")
	}
	dir := filepath.Join(t.TempDir(), strings.Repeat("long-", 20), "sb")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := Up(ctx, Options{Dir: dir, Port: freePort(t), AdminPort: freePort(t), Lag: 10 * time.Millisecond, Bin: "/bin/false"})
	if err == nil || !strings.Contains(err.Error(), "link-replication exited at start") {
		t.Fatalf("Up with a broken fwdproxy binary: %v", err)
	}
	st, lerr := loadState(dir)
	if lerr != nil {
		t.Fatal(lerr)
	}
	if st.SocketDir == dir || !strings.HasPrefix(filepath.Base(st.SocketDir), "fwdsbx-") {
		t.Errorf("a %d-byte directory keeps its sockets in %s", len(dir), st.SocketDir)
	}
	if left := processesIn(t, dir); len(left) > 0 {
		t.Errorf("still running after the failed Up: %v", left)
	}
	if err := Down(dir, &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, st.SocketDir} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("Down left %s", d)
		}
	}
}

// processesIn lists the live processes with dir on their command line.
func processesIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var r []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cl := commandLine(pid); strings.Contains(cl, dir+"/") && alive(pid) {
			r = append(r, cl)
		}
	}
	return r
}

func freePort(t *testing.T) int {
	t.Helper()
	u := &upper{used: map[int]bool{}}
	p, err := u.port()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
