package integration

import (
	"crypto/sha1"
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/proxy"
)

// get sends a request as curl on the proxy's host would: to a loopback
// address, and JSON when it changes something.
func get(t *testing.T, h http.Handler, method, path, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, "http://127.0.0.1:4001"+path, strings.NewReader(body))
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

// The admin API and the figures (Aurora_fwd_* status and /metrics),
// through HTTP and SQL (issue 5).
func TestAdminAPIAndFigures(t *testing.T) {
	table(t, "adm1")
	srv, addr := startServer(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	h := srv.AdminHandler()
	c := conn(t, addr, "")
	exec(t, c, "INSERT INTO adm1 (v) VALUES (1)")
	one(t, c, "SELECT v FROM adm1 WHERE id = 4") // waits for the insert
	one(t, c, "SELECT v FROM adm1 WHERE id = 1 FOR UPDATE")

	code, body := get(t, h, "GET", "/status", "")
	var st proxy.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("/status %d %s", code, body)
	}
	if st.GlobalWriteForwardingStatus != "enabled" || st.Flavor != "mariadb" || st.WriterSessionLimit != 15 || st.ClientSessions < 1 {
		t.Errorf("/status: %+v", st)
	}
	if strings.Contains(body, thePair.Password) {
		t.Error("/status shows a password")
	}
	if code, _ := get(t, h, "GET", "/healthz", ""); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	if code, _ := get(t, h, "GET", "/readyz", ""); code != 200 {
		t.Errorf("/readyz %d", code)
	}
	if code, _ := get(t, h, "POST", "/forwarding", `{"enabled": "yes"}`); code != 400 {
		t.Errorf("bad /forwarding body: %d", code)
	}
	code, body = get(t, h, "POST", "/forwarding", `{"enabled": false}`)
	if code != 200 || !strings.Contains(body, `"GlobalWriteForwardingStatus": "disabled"`) {
		t.Errorf("POST /forwarding false: %d %s", code, body)
	}
	wantErr(t, errOf(c, "INSERT INTO adm1 (v) VALUES (2)"), 1290, "")
	if code, _ = get(t, h, "POST", "/forwarding", `{"enabled": true}`); code != 200 {
		t.Errorf("POST /forwarding true: %d", code)
	}

	// The same figures in Prometheus and in SQL.
	_, metrics := get(t, h, "GET", "/metrics", "")
	for _, want := range []string{
		"fwdproxy_replica_dml_duration_seconds_count 1",
		"fwdproxy_replica_select_duration_seconds_count 1",
		"fwdproxy_replica_read_wait_duration_seconds_count",
		"fwdproxy_replica_open_sessions 1",
		`fwdproxy_rejected_statements_total{code="1290"} 1`,
		"fwdproxy_client_connections_open",
		"go_goroutines",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if v := one(t, c, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'Aurora_fwd_replica_dml_stmt_count'"); v != "1" {
		t.Errorf("information_schema.GLOBAL_STATUS: %q", v)
	}
	if v := one(t, c, "SELECT COUNT(*) FROM performance_schema.global_status g WHERE g.VARIABLE_NAME LIKE 'Aurora_fwd%'"); v != "18" {
		t.Errorf("performance_schema.global_status Aurora rows: %q", v)
	}
	if v := one(t, c, "SELECT COUNT(*) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME'"); v != "1" {
		t.Errorf("the reader's own rows: %q", v)
	}
	var k, v string
	if err := c.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Aurora_fwd_writer_select_stmt_count'").Scan(&k, &v); err != nil || v != "1" {
		t.Errorf("SHOW GLOBAL STATUS: %q %v", v, err)
	}
}

// COM_CHANGE_USER resets the session: the proxy asks for a scramble of a
// fresh salt, checks it, and starts clean with the new user.
func TestChangeUser(t *testing.T) {
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "SESSION" })
	c := rawConn(t, addr)
	rawExec(t, c, "SET @before = 1")
	rawExec(t, c, "SET aurora_replica_read_consistency = 'GLOBAL'")
	if err := changeUser(t, c, thePair.User, "wrong"); err == nil || !strings.Contains(err.Error(), "1045") {
		t.Fatalf("change user with a wrong password: %v", err)
	}
	if err := changeUser(t, c, thePair.User, thePair.Password); err != nil {
		t.Fatalf("change user: %v", err)
	}
	if v := rawValue(t, c, "SELECT @before"); v != "" && v != "<nil>" {
		t.Errorf("user variable survived COM_CHANGE_USER: %q", v)
	}
	if v := rawValue(t, c, "SELECT @@aurora_replica_read_consistency"); v != "SESSION" {
		t.Errorf("consistency after COM_CHANGE_USER: %q", v)
	}
}

// changeUser sends COM_CHANGE_USER to user in testDB and answers the
// proxy's auth switch with password's scramble: nil on OK, the ERR
// otherwise.
func changeUser(t *testing.T, c *client.Conn, user, password string) error {
	t.Helper()
	pkt := []byte{0x11}
	pkt = append(pkt, user...)
	pkt = append(pkt, 0, 0) // user NUL, empty auth response
	pkt = append(pkt, testDB...)
	pkt = append(pkt, 0, 33, 0) // db NUL, charset
	pkt = append(pkt, gmysql.AUTH_NATIVE_PASSWORD...)
	pkt = append(pkt, 0)
	c.ResetSequence()
	if err := c.WritePacket(append(make([]byte, 4), pkt...)); err != nil {
		return err
	}
	sw, err := c.ReadPacket()
	if err != nil {
		return err
	}
	if sw[0] != 0xfe {
		t.Fatalf("expected an auth switch, got %x", sw)
	}
	salt := sw[1+len(gmysql.AUTH_NATIVE_PASSWORD)+1:]
	salt = salt[:len(salt)-1]
	if err := c.WritePacket(append(make([]byte, 4), scramble(salt, password)...)); err != nil {
		return err
	}
	res, err := c.ReadPacket()
	if err != nil {
		return err
	}
	if res[0] == 0xff {
		return c.HandleErrorPacket(res)
	}
	return nil
}

func scramble(salt []byte, password string) []byte {
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	k := sha1.Sum(append(append([]byte{}, salt...), h2[:]...))
	out := make([]byte, 20)
	for i := range out {
		out[i] = h1[i] ^ k[i]
	}
	return out
}

// An admin address beyond loopback needs a token: without one the binary
// refuses to start, saying so in one line.
func TestAdminBeyondLoopbackNeedsToken(t *testing.T) {
	listen := pair.FreeAddr(t)
	cmd := osexec.Command(pair.Binary(t), "serve", "--listen", listen, "--admin", "0.0.0.0:0",
		"--writer", thePair.WriterAddr, "--reader", thePair.ReaderAddr, "--user", thePair.User+":"+thePair.Password)
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	for exited := false; !exited; {
		select {
		case err = <-done:
			exited = true
		default:
			if c, dialErr := net.Dial("tcp", listen); dialErr == nil {
				c.Close()
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("it started, serving clients on %s:\n%s", listen, logs.String())
			}
			runtime.Gosched()
		}
	}
	out := logs.String()
	if ee, ok := err.(*osexec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2:\n%s", err, out)
	}
	if want := "--admin 0.0.0.0:0 is not a loopback address, so the admin API needs a token"; !strings.Contains(out, want) ||
		strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("want one line with %q, got:\n%s", want, out)
	}
}

// The binary on 0.0.0.0 with a token from a file: it warns that it listens
// beyond loopback and that the token file is world-readable, asks every
// request for the token, refuses a state change that is not JSON, and has
// no profiles unless --admin-pprof.
func TestAdminTokenBinary(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(tokenFile, []byte("t0ken-from-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tokenFile, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	port := strings.TrimPrefix(pair.FreeAddr(t), "127.0.0.1:")
	_, addr, logs := startBinaryLogs(t, "--admin", "0.0.0.0:"+port, "--admin-token-file", tokenFile, "--log-format", "json")
	admin := "http://127.0.0.1:" + port
	waitListening(t, "127.0.0.1:"+port)
	do := func(method, path, token, contentType, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, admin+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const tok = "t0ken-from-file"
	for _, tc := range []struct {
		method, path, token, contentType, body string
		want                                   int
	}{
		{"GET", "/status", "", "", "", 401},
		{"GET", "/status", "wrong", "", "", 401},
		{"GET", "/metrics", "", "", "", 401},
		{"POST", "/forwarding", "", "application/json", `{"enabled": false}`, 401},
		// What any web page can send: a simple cross-origin POST.
		{"POST", "/forwarding", "", "text/plain", `{"enabled": false}`, 401},
		{"POST", "/forwarding", tok, "text/plain", `{"enabled": false}`, 415},
		{"GET", "/healthz", "", "", "", 200},
		{"GET", "/status", tok, "", "", 200},
		{"GET", "/debug/pprof/", tok, "", "", 404},
	} {
		if code, body := do(tc.method, tc.path, tc.token, tc.contentType, tc.body); code != tc.want {
			t.Errorf("%s %s token %q %s: %d %s, want %d", tc.method, tc.path, tc.token, tc.contentType, code, body, tc.want)
		}
	}
	if v := one(t, conn(t, addr, ""), "SELECT 1"); v != "1" { // it serves clients all the while
		t.Fatal(v)
	}
	if _, body := do("GET", "/status", tok, "", ""); !strings.Contains(body, `"GlobalWriteForwardingStatus": "enabled"`) {
		t.Fatalf("a refused request changed forwarding: %s", body)
	}
	if code, body := do("POST", "/forwarding", tok, "application/json", `{"enabled": false}`); code != 200 ||
		!strings.Contains(body, `"GlobalWriteForwardingStatus": "disabled"`) {
		t.Errorf("POST /forwarding with the token: %d %s", code, body)
	}
	for _, want := range []string{`"the admin API listens beyond loopback`, `"a file with secrets is readable by every user`, tokenFile} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs.String(), tok) {
		t.Error("the token reached the log")
	}
}

// --admin-pprof serves profiles, as bench/run.sh takes them.
func TestAdminPprofBinary(t *testing.T) {
	port := strings.TrimPrefix(pair.FreeAddr(t), "127.0.0.1:")
	startBinary(t, "--admin", "127.0.0.1:"+port, "--admin-pprof")
	waitListening(t, "127.0.0.1:"+port)
	resp, err := http.Get("http://127.0.0.1:" + port + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "heap profile") {
		t.Errorf("/debug/pprof/heap: %d %.200s", resp.StatusCode, b)
	}
}

// A failed login is one warning with the client's address and the user,
// without a stack trace.
func TestFailedLoginLogged(t *testing.T) {
	_, addr, logs := startBinaryLogs(t, "--log-format", "json")
	db, err := sql.Open("mysql", pair.DSN(addr, thePair.User, "wrong-password", testDB))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err == nil || !strings.Contains(err.Error(), "1045") {
		t.Fatalf("login with a wrong password: %v", err)
	}
	// The client may hear of the failure before the line has come through
	// the process's output pipe.
	for i := 0; i < 100 && !strings.Contains(logs.String(), `"login failed"`); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	var line map[string]any
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"login failed"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("%v: %s", err, l)
			}
			if len(l) > 400 {
				t.Errorf("the line has %d bytes: %s", len(l), l)
			}
		}
	}
	if line == nil {
		t.Fatalf("no login failed line in:\n%s", logs)
	}
	if line["level"] != "warn" || line["user"] != thePair.User || !strings.HasPrefix(line["remote"].(string), "127.0.0.1") ||
		!strings.Contains(line["error"].(string), "Access denied") {
		t.Errorf("login failed line: %v", line)
	}
	for _, k := range []string{"errorVerbose", "stacktrace"} {
		if _, ok := line[k]; ok {
			t.Errorf("login failed line has %s: %v", k, line)
		}
	}
	if strings.Contains(logs.String(), "wrong-password") {
		t.Error("the password tried reached the log")
	}
}
