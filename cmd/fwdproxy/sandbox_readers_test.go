package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fwdproxy/fwdproxy/integration/pair"
)

// A sandbox of three replicas with different lags: fwdproxy has each as a
// --reader, status shows each, a switchover and a failover leave the
// servers labelled by the role they have now and the other replicas behind
// their lag links, and down stops all of them. No replica ever writes a
// transaction of its own.
func TestSandboxThreeReaders(t *testing.T) {
	dir, ports, run := newSandboxRun(t)
	port, adminPort := ports[0], ports[1]
	out, code := run("up", "--dir", dir, "--readers", "3", "--lag", "0,50ms,300ms", "--rtt", "10ms", "--port", port, "--admin-port", adminPort)
	if code != 0 {
		t.Fatalf("up: exit %d\n%s", code, out)
	}
	for _, want := range []string{"replica2 replicating through", "(writer → replica3 +300ms)", "  replica3  127.0.0.1:"} {
		if !strings.Contains(out, want) {
			t.Errorf("up does not print %q:\n%s", want, out)
		}
	}
	var st struct {
		Replicas []struct {
			Name     string
			Addr     string
			ServerID int `json:"server_id"`
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "sandbox.json"))
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil || len(st.Replicas) != 3 {
		t.Fatalf("sandbox.json: %v, %d replicas\n%s", err, len(st.Replicas), b)
	}
	var addrs []string
	for _, r := range st.Replicas {
		addrs = append(addrs, r.Addr)
	}
	pids := map[string]int{}
	readPids := func(names ...string) {
		t.Helper()
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join(dir, n+".pid"))
			if err != nil {
				t.Fatal(err)
			}
			if pids[n], _ = strconv.Atoi(strings.TrimSpace(string(b))); !processAlive(pids[n]) {
				t.Fatalf("%s (pid %d) does not run", n, pids[n])
			}
		}
	}
	readPids("writer", "replica", "replica2", "replica3", "link-replication", "link-replication2", "link-replication3", "link-writer", "fwdproxy")

	// fwdproxy has every replica as a reader, and sees each up.
	admin := "http://127.0.0.1:" + adminPort + "/status"
	pair.WaitUntil(t, "fwdproxy's readers", strings.Join(addrs, ",")+" up", func() string {
		var s struct {
			Readers []struct{ Addr, State string }
		}
		if err := getJSON(admin, &s); err != nil {
			return err.Error()
		}
		var got []string
		for _, r := range s.Readers {
			if r.State == "up" {
				got = append(got, r.Addr)
			}
		}
		return strings.Join(got, ",") + " up"
	})
	// The replicas as a pair: the check that none wrote a transaction of its own.
	clean := func(names ...string) {
		t.Helper()
		p := &pair.Pair{RootUser: "fwd", RootPassword: "fwdpass"}
		for _, r := range st.Replicas {
			if slices.Contains(names, r.Name) {
				p.Replicas = append(p.Replicas, pair.Replica{Name: r.Name, Addr: r.Addr, ServerID: uint32(r.ServerID)})
			}
		}
		if err := p.CheckReplicaClean(); err != nil {
			t.Error(err)
		}
	}
	conn := sandboxConnector(t, port)
	writeAndRead := func(note string) { t.Helper(); readOwnWrites(t, conn, note, 10) }
	status := func(wantCode int) string {
		t.Helper()
		out, code := run("status", "--dir", dir)
		if code != wantCode {
			t.Errorf("status: exit %d, want %d\n%s", code, wantCode, out)
		}
		return out
	}
	expect := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("status lacks %q:\n%s", w, out)
			}
		}
	}

	writeAndRead("three readers")
	out = status(0)
	t.Logf("status:\n%s", out)
	expect(out, "replication lag 0s, 50ms, 300ms (writer → replica, replica2, replica3)",
		"replication of replica: IO Yes, SQL Yes", "replication of replica2: IO Yes, SQL Yes", "replication of replica3: IO Yes, SQL Yes",
		"← writer through link-replication3 (+300ms)", "fwdproxy's readers:")
	wantRoles(t, out, map[string]string{"writer": "writer", "replica": "replica", "replica2": "replica", "replica3": "replica"})
	clean("replica", "replica2", "replica3")

	out, code = run("switchover", "--dir", dir)
	if code != 0 {
		t.Fatalf("switchover: exit %d\n%s", code, out)
	}
	t.Logf("switchover:\n%s", out)
	expect(out, "switchover done: replica (", "replicating from replica: writer, replica2, replica3",
		"replica2 replicates through link-replication2 (+50ms) again", "replica3 replicates through link-replication3 (+300ms) again")
	writeAndRead("after switchover")
	out = status(0)
	t.Logf("status after the switchover:\n%s", out)
	wantRoles(t, out, map[string]string{"writer": "replica", "replica": "writer", "replica2": "replica", "replica3": "replica"})
	expect(out, "← replica directly", "← replica through link-replication2 (+50ms)", "← replica through link-replication3 (+300ms)",
		"replication of writer: IO Yes, SQL Yes", "replication of replica3: IO Yes, SQL Yes", "→ replica (+50ms replica → replica2)",
		"(+0s writer → replica), not in use: replica is the writer")
	clean("replica2", "replica3")

	out, code = run("failover", "--dir", dir, "--allow-data-loss")
	if code != 0 {
		t.Fatalf("failover: exit %d\n%s", code, out)
	}
	t.Logf("failover:\n%s", out)
	expect(out, "failover done: writer (", "replica was killed", "replicating from writer: replica2, replica3")
	writeAndRead("after failover")
	out = status(1) // the killed replica does not run
	t.Logf("status after the failover:\n%s", out)
	wantRoles(t, out, map[string]string{"writer": "writer", "replica": "down", "replica2": "replica", "replica3": "replica"})
	expect(out, "← writer through link-replication2 (+50ms)", "← writer through link-replication3 (+300ms)", "replication of replica2: IO Yes, SQL Yes")
	clean("replica2", "replica3")

	readPids("link-replication2", "link-replication3") // restarted by the writer changes
	downLeavesNothing(t, run, dir, pids)
}

// wantRoles checks the role column of status's rows: NAME STATE pid PID ROLE ….
func wantRoles(t *testing.T, out string, want map[string]string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		i := slices.Index(f, "pid")
		if i < 1 || i+2 >= len(f) {
			continue
		}
		if w, ok := want[f[0]]; ok && f[i+2] != w {
			t.Errorf("status shows %s as %s, want %s:\n%s", f[0], f[i+2], w, out)
		}
	}
}

func getJSON(url string, into any) error {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(into)
}
