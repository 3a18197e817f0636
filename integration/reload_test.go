package integration

// SIGHUP to the fwdproxy process: readers, limits, users and the statement
// log change without a restart and without dropping sessions.

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/proxy"
)

// adminJSON GETs path from the admin address into v.
func adminJSON(t *testing.T, admin, path string, v any) {
	t.Helper()
	resp, err := http.Get("http://" + admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
}

func TestProcessReloadReadersLimitsUsersLog(t *testing.T) {
	if thePair.ReaderSocket == "" {
		t.Skip("the pair has no reader socket: the second reader address of the endpoint is the replica's socket")
	}
	table(t, "hup2")
	w := writerDB(t)
	for _, q := range []string{"DROP USER IF EXISTS 'hup2'@'%'", "CREATE USER 'hup2'@'%' IDENTIFIED BY 'hup2pass'", "GRANT SELECT ON fwdit.* TO 'hup2'@'%'"} {
		if _, err := w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = w.Exec("DROP USER IF EXISTS 'hup2'@'%'") })
	waitReplicated(t)

	dir := t.TempDir()
	addr, admin := pair.FreeAddr(t), pair.FreeAddr(t)
	cfgFile, stmtLog := filepath.Join(dir, "fwdproxy.yaml"), filepath.Join(dir, "statements.jsonl")
	// The endpoint's two readers are the one replica by TCP and by its socket.
	tcp, sock := thePair.ReaderAddr, thePair.ReaderSocket
	write := func(readers []string, maxClients, pct int, users ...string) {
		y := fmt.Sprintf("listen: %s\nadmin: %s\nwriter: %s\nstatement-log: %s\nmax-client-connections: %d\nwriter-max-connections-pct: %d\nreader:\n",
			addr, admin, thePair.WriterAddr, stmtLog, maxClients, pct)
		for _, r := range readers {
			y += "  - " + r + "\n"
		}
		y += "user:\n"
		for _, u := range users {
			y += "  - " + u + "\n"
		}
		if err := os.WriteFile(cfgFile, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fwd, hup2 := thePair.User+":"+thePair.Password, "hup2:hup2pass"
	write([]string{tcp, sock}, 50, 10, fwd, hup2)
	cmd, logs := serveConfig(t, cfgFile, addr, admin)
	reload := func(want string) {
		t.Helper()
		n := strings.Count(logs.String(), want)
		_ = cmd.Process.Signal(syscall.SIGHUP)
		for i := 0; i < 250 && strings.Count(logs.String(), want) == n; i++ {
			time.Sleep(20 * time.Millisecond)
		}
		if strings.Count(logs.String(), want) == n {
			t.Fatalf("no %q after SIGHUP", want)
		}
	}
	readerStates := func() map[string]string {
		var st proxy.Status
		adminJSON(t, admin, "/status", &st)
		m := map[string]string{}
		for _, r := range st.Readers {
			m[r.Addr] = r.State
		}
		return m
	}
	waitReaderUp := func(r string) {
		t.Helper()
		for i := 0; i < 250 && readerStates()[r] != "up"; i++ {
			time.Sleep(20 * time.Millisecond)
		}
		if s := readerStates()[r]; s != "up" {
			t.Fatalf("reader %s is %q, want up", r, s)
		}
	}
	waitReaderUp(tcp)
	waitReaderUp(sock)

	a := conn(t, addr, "")
	one(t, a, "SELECT COUNT(*) FROM hup2")
	bdb, _ := sql.Open("mysql", pair.DSN(addr, "hup2", "hup2pass", testDB))
	defer bdb.Close()
	bdb.SetMaxOpenConns(1)
	b, err := bdb.Conn(ctx)
	if err != nil {
		t.Fatalf("hup2 before the reload: %v", err)
	}
	defer b.Close()
	one(t, b, "SELECT COUNT(*) FROM hup2")
	var st proxy.Status
	adminJSON(t, admin, "/status", &st)
	if st.WriterMaxConnectionsPct != 10 || st.WriterSessionLimit != 15 {
		t.Fatalf("before: pct %d, cap %d", st.WriterMaxConnectionsPct, st.WriterSessionLimit)
	}

	// Rotate the statement log as logrotate does (rename, then SIGHUP), and
	// reload one reader fewer, hup2 gone, two clients at most, 20 %.
	rotated := stmtLog + ".1"
	if err := os.Rename(stmtLog, rotated); err != nil {
		t.Fatal(err)
	}
	write([]string{tcp}, 2, 20, fwd)
	reload(`"settings reloaded"`)
	rotatedLines := lines(t, rotated)

	// Both sessions go on, hup2's too; a's next read is on the TCP reader.
	one(t, a, "SELECT COUNT(*) FROM hup2 WHERE v > 0")
	one(t, b, "SELECT COUNT(*) FROM hup2 WHERE v > 1")
	var sessions []proxy.SessionStatus
	adminJSON(t, admin, "/sessions", &sessions)
	if len(sessions) != 2 {
		t.Fatalf("%d sessions after the reload, want 2: %+v", len(sessions), sessions)
	}
	for _, s := range sessions {
		if s.Reader != tcp {
			t.Errorf("session %d (%s) reads on %s after its reader was removed", s.ID, s.User, s.Reader)
		}
	}
	if got := readerStates(); len(got) != 1 || got[tcp] != "up" {
		t.Errorf("readers after the reload: %v, want only %s", got, tcp)
	}
	// The new limits: a third client gets 1040, the writer cap is 20 %.
	third, _ := sql.Open("mysql", pair.DSN(addr, thePair.User, thePair.Password, testDB))
	defer third.Close()
	wantErr(t, third.Ping(), 1040, "Too many connections")
	adminJSON(t, admin, "/status", &st)
	if st.WriterMaxConnectionsPct != 20 || st.WriterSessionLimit != 30 {
		t.Errorf("after: pct %d, cap %d, want 20 and 30", st.WriterMaxConnectionsPct, st.WriterSessionLimit)
	}
	// hup2 cannot log in any more (its session went on above). Its
	// session's end frees a client slot, a moment after the close.
	b.Close()
	bdb.Close()
	gone, _ := sql.Open("mysql", pair.DSN(addr, "hup2", "hup2pass", testDB))
	defer gone.Close()
	err = gone.Ping()
	for i := 0; i < 100 && isCode(err, 1040); i++ {
		time.Sleep(20 * time.Millisecond)
		err = gone.Ping()
	}
	wantErr(t, err, 1045, "")
	// The statement log: the statements after the SIGHUP are in the new
	// file only.
	if n := len(lines(t, rotated)); n != len(rotatedLines) || n < 2 {
		t.Errorf("the rotated log has %d lines, had %d at the reload", n, len(rotatedLines))
	}
	if fresh := lines(t, stmtLog); len(fresh) < 2 || !strings.Contains(strings.Join(fresh, "\n"), "from hup2 where v") {
		t.Errorf("the reopened log: %q", fresh)
	}

	// The socket reader comes back; a reload may not remove the first.
	write([]string{tcp, sock}, 50, 20, fwd)
	reload(`"settings reloaded"`)
	waitReaderUp(sock)
	write([]string{sock}, 50, 20, fwd)
	reload(`"reload failed; settings unchanged"`)
	if got := readerStates(); !slices.Equal(sortedKeys(got), sortedKeys(map[string]string{tcp: "", sock: ""})) {
		t.Errorf("after the refused reload: %v", got)
	}
	one(t, a, "SELECT 1")
}

// serveConfig runs `fwdproxy serve --config cfgFile` until the test ends,
// with its log (printed if the test fails), once addr and admin listen.
func serveConfig(t *testing.T, cfgFile, addr, admin string) (*osexec.Cmd, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	cmd := osexec.Command(pair.Binary(t), "serve", "--config", cfgFile, "--log-format", "json")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("fwdproxy:\n%s", logs.String())
		}
		if err := thePair.CheckReplicaClean(); err != nil {
			t.Errorf("replica is not clean: %v", err)
		}
	})
	waitListening(t, addr)
	waitListening(t, admin)
	return cmd, logs
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

func isCode(err error, code uint16) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == code
}

// With --config-watch the process reloads when the config file or a file it
// names changes, with no SIGHUP: what a Kubernetes ConfigMap or Secret
// mounted as a directory needs, since kubelet rewrites it in place.
func TestProcessConfigWatch(t *testing.T) {
	dir := t.TempDir()
	addr, admin := pair.FreeAddr(t), pair.FreeAddr(t)
	cfgFile, usersFile := filepath.Join(dir, "fwdproxy.yaml"), filepath.Join(dir, "users")
	write := func(pct int) {
		y := fmt.Sprintf("listen: %s\nadmin: %s\nwriter: %s\nreader: %s\nuser-file: %s\nconfig-watch: 100ms\nwriter-max-connections-pct: %d\n",
			addr, admin, thePair.WriterAddr, thePair.ReaderAddr, usersFile, pct)
		if err := os.WriteFile(cfgFile, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	users := func(lines ...string) {
		if err := os.WriteFile(usersFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fwd := thePair.User + ":" + thePair.Password
	users("other:otherpass")
	write(10)
	_, logs := serveConfig(t, cfgFile, addr, admin)
	waitReloads := func(n int) {
		t.Helper()
		for i := 0; i < 250 && strings.Count(logs.String(), `"settings reloaded"`) < n; i++ {
			time.Sleep(20 * time.Millisecond)
		}
		if got := strings.Count(logs.String(), `"settings reloaded"`); got != n {
			t.Fatalf("%d reloads, want %d", got, n)
		}
	}
	db, _ := sql.Open("mysql", pair.DSN(addr, thePair.User, thePair.Password, testDB))
	defer db.Close()
	wantErr(t, db.Ping(), 1045, "")

	users("other:otherpass", fwd) // the Secret changes: the user can log in, no signal sent
	waitReloads(1)
	if err := db.Ping(); err != nil {
		t.Fatalf("after the users file changed: %v", err)
	}
	write(20) // the ConfigMap changes
	waitReloads(2)
	var st proxy.Status
	adminJSON(t, admin, "/status", &st)
	if st.WriterMaxConnectionsPct != 20 {
		t.Errorf("writer-max-connections-pct %d after the config changed, want 20", st.WriterMaxConnectionsPct)
	}
	// Unchanged files reload nothing.
	time.Sleep(500 * time.Millisecond)
	waitReloads(2)
}
