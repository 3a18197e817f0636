package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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

func TestParseLags(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, n := range v {
			d = append(d, time.Duration(n)*time.Millisecond)
		}
		return d
	}
	for _, tc := range []struct {
		in   string
		n    int
		want []time.Duration
		err  string
	}{
		{"200ms", 1, ms(200), ""},
		{"200ms", 3, ms(200, 200, 200), ""},
		{"0,50ms,200ms", 3, ms(0, 50, 200), ""},
		{" 0 , 1s ,2ms", 3, ms(0, 1000, 2), ""},
		{"0", 2, ms(0, 0), ""},
		{"0,50ms", 3, nil, "2 values for 3 replicas"},
		{"0,50ms,200ms", 1, nil, "3 values for 1 replicas: give one for all, or one per replica (--readers 3)"},
		{"0,,1s", 3, nil, "invalid duration"},
		{"soon", 1, nil, `invalid duration "soon"`},
		{"10ms,-1ms", 2, nil, "must not be negative"},
	} {
		got, err := ParseLags(tc.in, tc.n)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseLags(%q, %d) = %v, %v; want an error with %q", tc.in, tc.n, got, err, tc.err)
		case tc.err == "" && (err != nil || !slices.Equal(got, tc.want)):
			t.Errorf("ParseLags(%q, %d) = %v, %v; want %v", tc.in, tc.n, got, err, tc.want)
		}
	}
}

// Replicas and their links are named as pair.sh names them, and every
// process with a pid file is stopped, fwdproxy first.
func TestNames(t *testing.T) {
	var names []string
	for i := range 3 {
		names = append(names, replicaName(i), linkName(i))
	}
	if want := []string{"replica", "link-replication", "replica2", "link-replication2", "replica3", "link-replication3"}; !slices.Equal(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
	dir := t.TempDir()
	for _, n := range []string{"writer", "replica3", "fwdproxy", "link-replication2"} {
		if err := os.WriteFile(filepath.Join(dir, n+".pid"), []byte("1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := procNames(dir), []string{"fwdproxy", "link-replication2", "replica3", "writer"}; !slices.Equal(got, want) {
		t.Errorf("procNames %v, want %v", got, want)
	}
}

// A replica's source is named by what its replication points at: a lag
// link (to the server the link relays to now) or a server directly.
func TestSourceOf(t *testing.T) {
	st := &State{Writer: "127.0.0.1:1", Replicas: []Replica{
		{Name: "replica", Addr: "127.0.0.1:2", LinkName: "link-replication", Link: "127.0.0.1:12", LinkTo: "writer", Lag: "0s"},
		{Name: "replica2", Addr: "127.0.0.1:3", LinkName: "link-replication2", Link: "127.0.0.1:13", LinkTo: "replica", Lag: "50ms"},
	}}
	for addr, want := range map[string]string{
		"127.0.0.1:12":  "writer through link-replication (+0s)",
		"127.0.0.1:13":  "replica through link-replication2 (+50ms)",
		"127.0.0.1:2":   "replica directly",
		"127.0.0.1:1":   "writer directly",
		"10.0.0.1:3306": "10.0.0.1:3306",
	} {
		if got := st.sourceOf(addr); got != want {
			t.Errorf("sourceOf(%s) = %q, want %q", addr, got, want)
		}
	}
}

// What up prints says to paste the demo's INSERT and SELECT together while
// the lag is too short for a person typing them to see the replica behind.
func TestConnectHelpTypingHint(t *testing.T) {
	for _, tc := range []struct {
		lags []string
		want string
	}{
		{[]string{"250ms"}, "paste each INSERT together with the SELECT"},
		{[]string{"5s"}, "Then try, line by line:"},
		{[]string{"5s", "0s"}, "paste each INSERT together"}, // a read may go to the replica without lag
		{[]string{"3s", "10s"}, "Then try, line by line:"},
	} {
		st := &State{Flavor: "MariaDB", Proxy: "127.0.0.1:4000", Dir: "/tmp/sb"}
		for i, l := range tc.lags {
			st.Replicas = append(st.Replicas, Replica{Name: fmt.Sprintf("replica%d", i+1), Lag: l})
		}
		if got := st.ConnectHelp("fwdproxy sandbox down"); !strings.Contains(got, tc.want) {
			t.Errorf("lags %v: no %q in\n%s", tc.lags, tc.want, got)
		}
	}
}

// The topology file is the state's servers and links, each link from the
// server it relays from now (replica2's from replica, as after a writer
// change that made replica the writer).
func TestTopologyFile(t *testing.T) {
	st := &State{Dir: t.TempDir(), RTT: "70ms", Writer: "127.0.0.1:1", WriterLink: "127.0.0.1:11", Replicas: []Replica{
		{Name: "replica", Addr: "127.0.0.1:2", LinkName: "link-replication", Link: "127.0.0.1:12", LinkTo: "writer", Lag: "0s"},
		{Name: "replica2", Addr: "127.0.0.1:3", LinkName: "link-replication2", Link: "127.0.0.1:13", LinkTo: "replica", Lag: "50ms"},
	}}
	if err := writeState(st); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(st.Dir, topologyFile))
	if err != nil {
		t.Fatal(err)
	}
	var got Topology
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := Topology{
		Servers: []TopologyServer{{"writer", "127.0.0.1:1"}, {"replica", "127.0.0.1:2"}, {"replica2", "127.0.0.1:3"}},
		Links: []TopologyLink{
			{Name: "link-writer", Addr: "127.0.0.1:11", From: "fwdproxy", To: "writer", RTT: "70ms"},
			{Name: "link-replication", Addr: "127.0.0.1:12", From: "writer", To: "replica", Lag: "0s"},
			{Name: "link-replication2", Addr: "127.0.0.1:13", From: "replica", To: "replica2", Lag: "50ms"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("topology.json:\n%s\nwant %+v", b, want)
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
	needServers(t)
	dir := filepath.Join(t.TempDir(), strings.Repeat("long-", 20), "sb")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := Up(ctx, Options{Dir: dir, Port: freePort(t), AdminPort: freePort(t), Lags: []time.Duration{10 * time.Millisecond}, Bin: "/bin/false"})
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

// An Up interrupted while it starts the servers (Ctrl-C) stops them and
// removes its directory: nothing is left, as after down.
func TestUpInterruptedLeavesNothing(t *testing.T) {
	needServers(t)
	dir := filepath.Join(t.TempDir(), "sb")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() { // interrupt once the writer runs
		for ctx.Err() == nil {
			if _, err := os.Stat(filepath.Join(dir, procWriter+".pid")); err == nil {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	_, err := Up(ctx, Options{Dir: dir, Port: freePort(t), AdminPort: freePort(t), Lags: []time.Duration{10 * time.Millisecond}, Bin: "/bin/false"})
	if err == nil || !strings.Contains(err.Error(), "interrupted") || !strings.Contains(err.Error(), "removed "+dir) {
		t.Fatalf("Up interrupted: %v", err)
	}
	t.Log(err)
	if left := processesIn(t, dir); len(left) > 0 {
		t.Errorf("still running after the interrupted Up: %v", left)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the interrupted Up left %s", dir)
	}
}

// needServers skips a test that starts MariaDB servers and checks their
// processes where it cannot.
func needServers(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts MariaDB servers")
	}
	if _, err := findFlavor(); err != nil {
		t.Skip(err)
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("checks processes through /proc")
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
