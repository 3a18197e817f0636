package integration

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	osexec "os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/proxy"
)

// Aurora's failures on demand (issue 18 part 3): each kind, injected
// through POST /faults or SET fwdproxy_inject_fault, reaches a Go client
// with the error a real occurrence gives through the proxy, moves the same
// Aurora_fwd_* figures, is counted, and stops when turned off.

const terminatedMsg = "Forwarded connection on Writer terminated; try restarting transaction"

// faultProxy starts a proxy at SESSION with a short read-wait timeout
// and returns its admin handler.
func faultProxy(t *testing.T, mutate func(*proxy.Config)) (*proxy.Server, http.Handler, string) {
	t.Helper()
	srv, addr := startServer(t, func(c *proxy.Config) {
		c.DefaultConsistency = "SESSION"
		// Short enough for the spikes past it to end soon, long enough that
		// real lag on a loaded machine (a fresh machine's make test ran at
		// load 20) does not time a read out after a spike ends.
		c.ReadWaitTimeout = 2 * time.Second
		if mutate != nil {
			mutate(c)
		}
	})
	return srv, srv.AdminHandler(), addr
}

// statusOf reads one figure as /status shows it.
func statusOf(t *testing.T, h http.Handler, name string) uint64 {
	t.Helper()
	code, body := get(t, h, "GET", "/status", "")
	var st proxy.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("/status %d %s", code, body)
	}
	v, ok := st.StatusVariables[name]
	if !ok {
		t.Fatalf("/status has no %s", name)
	}
	return v
}

func addFault(t *testing.T, h http.Handler, spec string) int {
	t.Helper()
	code, body := get(t, h, "POST", "/faults", spec)
	var out struct{ ID int }
	if err := json.Unmarshal([]byte(body), &out); code != http.StatusCreated || err != nil {
		t.Fatalf("POST /faults %s: %d %s", spec, code, body)
	}
	return out.ID
}

func clearFaults(t *testing.T, h http.Handler) {
	t.Helper()
	if code, body := get(t, h, "DELETE", "/faults", ""); code != 200 {
		t.Fatalf("DELETE /faults: %d %s", code, body)
	}
}

// TestFaultKinds: every kind, from the admin API and from the session
// variable, gives the client Aurora's error; the session goes on, and the
// transaction the failure ended left nothing on the writer.
func TestFaultKinds(t *testing.T) {
	table(t, "flt1")
	w := writerDB(t)
	// inTx opens a forwarded transaction that the fault then ends.
	inTx := func(t *testing.T, c *sql.Conn, v int) {
		exec(t, c, "BEGIN")
		exec(t, c, fmt.Sprintf("INSERT INTO flt1 (v) VALUES (%d)", v)) // text: one command
	}
	// afterWrite gives the session a GTID of its own, so its next read waits.
	afterWrite := func(t *testing.T, c *sql.Conn, v int) { exec(t, c, fmt.Sprintf("INSERT INTO flt1 (v) VALUES (%d)", v)) }
	for i, c := range []struct {
		kind   string
		lag    string // for lag_spike: past the 2 s read-wait timeout
		setup  func(*testing.T, *sql.Conn, int)
		stmt   string // gets the error
		code   uint16
		msg    string
		figure string // the Aurora_fwd_* figure a real occurrence moves too
		undone bool   // the transaction's insert must not be on the writer
	}{
		{"idle_timeout", "", inTx, "INSERT INTO flt1 (v) VALUES (0)", 1105, terminatedMsg, "Aurora_fwd_writer_errors_session_timeout", true},
		{"forwarding_disabled", "", inTx, "INSERT INTO flt1 (v) VALUES (0)", 1105, terminatedMsg, "Aurora_fwd_replica_errors_session_terminated", true},
		{"connection_lost", "", inTx, "INSERT INTO flt1 (v) VALUES (0)", 1105, terminatedMsg, "Aurora_fwd_replica_errors_session_terminated", true},
		{"session_limit", "", nil, "INSERT INTO flt1 (v) VALUES (0)", 1040, "Not enough connections on writer to handle your request", "Aurora_fwd_replica_errors_session_limit", false},
		{"read_wait_timeout", "", afterWrite, "SELECT COUNT(*) FROM flt1", 3024, "", "Fwdproxy_read_wait_timeouts_error", false},
		{"lag_spike", "5000", afterWrite, "SELECT COUNT(*) FROM flt1", 3024, "", "Fwdproxy_read_wait_timeouts_error", false},
	} {
		for _, via := range []string{"admin", "variable"} {
			t.Run(c.kind+"/"+via, func(t *testing.T) {
				_, h, addr := faultProxy(t, nil)
				s := conn(t, addr, "")
				mark := 1000 + 10*i
				if via == "variable" {
					mark += 5
				}
				before := statusOf(t, h, c.figure)
				if via == "admin" {
					spec := `{"kind": "` + c.kind + `", "share": 1`
					if c.lag != "" {
						spec += `, "lag_ms": ` + c.lag
					}
					addFault(t, h, spec+"}")
				} else {
					v := c.kind
					if c.lag != "" {
						v += ":" + c.lag
					}
					exec(t, s, "SET fwdproxy_inject_fault = '"+v+"'")
					if got := one(t, s, "SELECT @@fwdproxy_inject_fault"); got != v {
						t.Errorf("@@fwdproxy_inject_fault = %q, want %q", got, v)
					}
				}
				// The setup has no chance of the fault: the transaction
				// is forwarded from its first write on, and a read
				// waits only after a write.
				if c.setup != nil {
					c.setup(t, s, mark)
				}
				_, err := s.ExecContext(ctx, c.stmt)
				wantErr(t, err, c.code, c.msg)
				if n := statusOf(t, h, "Fwdproxy_faults_injected_"+c.kind); n != 1 {
					t.Errorf("Fwdproxy_faults_injected_%s = %d, want 1", c.kind, n)
				}
				if n := statusOf(t, h, c.figure); n != before+1 {
					t.Errorf("%s went %d -> %d, want one more", c.figure, before, n)
				}
				// Off means off: the same statements run clean again.
				if via == "admin" {
					clearFaults(t, h)
				} else {
					exec(t, s, "SET fwdproxy_inject_fault = ''")
				}
				if c.setup != nil {
					c.setup(t, s, mark+1)
				}
				if _, err := s.ExecContext(ctx, c.stmt); err != nil {
					t.Fatalf("after turning %s off: %v", c.kind, err)
				}
				if one(t, s, "SELECT @@in_transaction") == "1" {
					exec(t, s, "COMMIT")
				}
				if n := statusOf(t, h, "Fwdproxy_faults_injected_"+c.kind); n != 1 {
					t.Errorf("injected again after it was turned off: %d", n)
				}
				if c.undone {
					if n := count(t, w, fmt.Sprintf("SELECT COUNT(*) FROM flt1 WHERE v = %d", mark)); n != 0 {
						t.Errorf("the transaction the fault ended left its row")
					}
					if n := count(t, w, fmt.Sprintf("SELECT COUNT(*) FROM flt1 WHERE v = %d", mark+1)); n != 1 {
						t.Errorf("the retried transaction did not commit")
					}
				}
			})
		}
	}
}

// TestFaultShares: share 1 takes every chance, 0 none, 0.5 every second;
// per session, every second session gets all of them; a user filter skips
// other users; DELETE /faults/ID turns one rule off.
func TestFaultShares(t *testing.T) {
	table(t, "flt2")
	_, h, addr := faultProxy(t, nil)
	// reads runs n reads after an own write and returns which got 3024.
	reads := func(c *sql.Conn, n int) string {
		var b strings.Builder
		for range n {
			exec(t, c, "INSERT INTO flt2 (v) VALUES (7)")
			if _, err := c.ExecContext(ctx, "SELECT COUNT(*) FROM flt2"); errCode(err) == 3024 {
				b.WriteByte('x')
			} else if err != nil {
				t.Fatalf("read: %v", err)
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	a := conn(t, addr, "")
	for _, c := range []struct{ spec, want string }{
		{`{"kind": "read_wait_timeout", "share": 1}`, "xxxxxx"},
		{`{"kind": "read_wait_timeout", "share": 0}`, "......"},
		{`{"kind": "read_wait_timeout", "share": 0.5}`, ".x.x.x"},
		{`{"kind": "read_wait_timeout", "every": 3}`, "..x..x"},
		{`{"kind": "read_wait_timeout", "share": 1, "user": "someone_else"}`, "......"},
		{`{"kind": "read_wait_timeout", "share": 1, "duration": "1ns"}`, "......"},
	} {
		id := addFault(t, h, c.spec)
		if got := reads(a, 6); got != c.want {
			t.Errorf("%s: %s, want %s", c.spec, got, c.want)
		}
		if code, body := get(t, h, "DELETE", "/faults/"+strconv.Itoa(id), ""); code != 200 && !strings.Contains(c.spec, "duration") {
			t.Errorf("DELETE /faults/%d: %d %s", id, code, body)
		}
	}

	// Per session: the rule picks every second session it sees, then
	// every read of a picked session fails.
	addFault(t, h, `{"kind": "read_wait_timeout", "share": 0.5, "per": "session"}`)
	sessions := []*sql.Conn{conn(t, addr, ""), conn(t, addr, ""), conn(t, addr, ""), conn(t, addr, "")}
	for round := range 2 {
		for i, s := range sessions {
			want := "..."
			if i%2 == 1 {
				want = "xxx"
			}
			if got := reads(s, 3); got != want {
				t.Errorf("round %d, session %d: %s, want %s", round, i, got, want)
			}
		}
	}
	code, body := get(t, h, "GET", "/faults", "")
	var list []struct {
		Kind              string
		Chances, Injected uint64
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || code != 200 || len(list) != 1 ||
		list[0].Chances != 4 || list[0].Injected != 12 {
		t.Errorf("GET /faults: %d %s", code, body)
	}
	clearFaults(t, h)
	if code, body := get(t, h, "GET", "/faults", ""); strings.TrimSpace(body) != "[]" {
		t.Errorf("GET /faults after DELETE: %d %s", code, body)
	}
	for i, s := range sessions {
		if got := reads(s, 3); got != "..." {
			t.Errorf("session %d after DELETE /faults: %s", i, got)
		}
	}
}

// TestFaultLagBelowTimeout: a lag spike shorter than the read-wait
// timeout makes reads that wait for consistency wait, and they succeed; a
// read with nothing to wait for (no own write yet) does not wait.
func TestFaultLagBelowTimeout(t *testing.T) {
	table(t, "flt4")
	_, h, addr := faultProxy(t, nil)
	c := conn(t, addr, "")
	exec(t, c, "SET fwdproxy_inject_fault = 'lag_spike:50'")
	one(t, c, "SELECT COUNT(*) FROM flt4")
	if n := statusOf(t, h, "Fwdproxy_faults_injected_lag_spike"); n != 0 {
		t.Errorf("a read with nothing to wait for had a lag spike")
	}
	waits := statusOf(t, h, "Aurora_fwd_replica_read_wait_count")
	exec(t, c, "INSERT INTO flt4 (v) VALUES (40)")
	if v := one(t, c, "SELECT COUNT(*) FROM flt4 WHERE v = 40"); v != "1" {
		t.Errorf("read after the lag spike saw %s rows", v)
	}
	if n := statusOf(t, h, "Fwdproxy_faults_injected_lag_spike"); n != 1 {
		t.Errorf("Fwdproxy_faults_injected_lag_spike = %d", n)
	}
	if n := statusOf(t, h, "Aurora_fwd_replica_read_wait_count"); n <= waits {
		t.Errorf("Aurora_fwd_replica_read_wait_count stayed %d: the spike was not a wait", n)
	}
}

// TestFaultOthersGoOn: a session that asked for failures gets them while
// another session of the same user, and new ones, work as before; the
// figures are on /metrics; bad requests are refused.
func TestFaultOthersGoOn(t *testing.T) {
	table(t, "flt3")
	_, h, addr := faultProxy(t, func(c *proxy.Config) { c.ReadWaitTimeoutAction = "writer" })
	a, b := conn(t, addr, ""), conn(t, addr, "")
	ps, err := a.PrepareContext(ctx, "SELECT @@fwdproxy_inject_fault")
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	exec(t, a, "SET fwdproxy_inject_fault = 'session_limit,read_wait_timeout'")
	var got string
	if err := ps.QueryRowContext(ctx).Scan(&got); err != nil || got != "session_limit,read_wait_timeout" {
		t.Errorf("prepared SELECT @@fwdproxy_inject_fault = %q, %v after the SET", got, err)
	}
	wantErr(t, errOf(a, "INSERT INTO flt3 (v) VALUES (30)"), 1040, "")
	exec(t, b, "INSERT INTO flt3 (v) VALUES (31)")
	// With --read-wait-timeout-action writer the injected timeout serves
	// the read from the writer, as a real one does: no error.
	before := statusOf(t, h, "Fwdproxy_read_wait_timeouts_writer")
	exec(t, a, "SET fwdproxy_inject_fault = 'read_wait_timeout'")
	exec(t, a, "INSERT INTO flt3 (v) VALUES (32)")
	if v := one(t, a, "SELECT COUNT(*) FROM flt3 WHERE v = 32"); v != "1" {
		t.Errorf("the read served by the writer saw %s rows", v)
	}
	if n := statusOf(t, h, "Fwdproxy_read_wait_timeouts_writer"); n != before+1 {
		t.Errorf("Fwdproxy_read_wait_timeouts_writer %d -> %d", before, n)
	}
	if v := one(t, b, "SELECT COUNT(*) FROM flt3 WHERE v = 31"); v != "1" {
		t.Errorf("the other session read %s", v)
	}
	if v := one(t, conn(t, addr, ""), "SELECT @@fwdproxy_inject_fault"); v != "" {
		t.Errorf("a new session starts with fwdproxy_inject_fault = %q", v)
	}
	var name, val string
	if err := a.QueryRowContext(ctx, "SHOW VARIABLES LIKE 'fwdproxy_inject_fault'").Scan(&name, &val); err != nil || val != "read_wait_timeout" {
		t.Errorf("SHOW VARIABLES: %q %q %v", name, val, err)
	}
	wantErr(t, errOf(a, "SET fwdproxy_inject_fault = 'meteor'"), 1231, "")
	r := rawConn(t, addr)
	rawExec(t, r, "SET fwdproxy_inject_fault = 'idle_timeout'")
	sendCmd(t, r, gmysql.COM_RESET_CONNECTION)
	wantOKPkt(t, readPkt(t, r), "COM_RESET_CONNECTION")
	if v := rawValue(t, r, "SELECT @@fwdproxy_inject_fault"); v != "" {
		t.Errorf("fwdproxy_inject_fault after COM_RESET_CONNECTION = %q", v)
	}
	if _, err := a.ExecContext(ctx, "SET fwdproxy_inject_fault = ''"); err != nil {
		t.Fatal(err)
	}

	_, metrics := get(t, h, "GET", "/metrics", "")
	for _, want := range []string{`fwdproxy_faults_injected_total{kind="session_limit"} 1`, `fwdproxy_faults_injected_total{kind="read_wait_timeout"} 1`,
		`fwdproxy_faults_injected_total{kind="idle_timeout"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, bad := range []string{`{"kind": "meteor"}`, `{"kind": "idle_timeout", "share": 2}`, `{"kind": "idle_timeout", "colour": 1}`, `not json`} {
		if code, _ := get(t, h, "POST", "/faults", bad); code != 400 {
			t.Errorf("POST /faults %s: %d, want 400", bad, code)
		}
	}
	if code, _ := get(t, h, "DELETE", "/faults/99", ""); code != 404 {
		t.Errorf("DELETE /faults/99: %d", code)
	}
}

// TestFaultSampleApp runs docs/before-forwarding.md's sample application
// (clients/python/orders_app.py) under the page's three rules: its retry
// logic survives them (every order once, none given up), the rules
// injected each kind, and with them off it retries nothing.
func TestFaultSampleApp(t *testing.T) {
	pair.AptInstall(t, "python3", "python3-pymysql")
	const db = "fltshop"
	scratchDatabase(t, db)
	root, err := thePair.RootDB(thePair.WriterAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, q := range []string{
		"CREATE TABLE " + db + ".orders (id INT AUTO_INCREMENT PRIMARY KEY, customer VARCHAR(20), total DECIMAL(8,2), status VARCHAR(10) DEFAULT 'new')",
		"CREATE TABLE " + db + ".stock (sku VARCHAR(20) PRIMARY KEY, qty INT)",
		"INSERT INTO " + db + ".stock VALUES ('A-100', 1000)",
	} {
		if _, err := root.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	waitReplicated(t)
	_, h, addr := faultProxy(t, nil)
	host, port, _ := strings.Cut(addr, ":")
	app := func() string {
		cmd := osexec.Command("/usr/bin/python3", "orders_app.py")
		cmd.Dir = clientsDir(t, "python")
		cmd.Env = append(os.Environ(), "FWD_HOST="+host, "FWD_PORT="+port, "FWD_USER="+thePair.User,
			"FWD_PASSWORD="+thePair.Password, "FWD_DB="+db, "ORDERS=10")
		out, err := cmd.CombinedOutput()
		t.Logf("orders_app.py:\n%s", out)
		if err != nil {
			t.Fatalf("orders_app.py: %v", err)
		}
		return string(out)
	}
	for _, spec := range []string{`{"kind": "idle_timeout", "share": 0.3}`, `{"kind": "session_limit", "every": 4}`,
		`{"kind": "read_wait_timeout", "share": 0.2}`} {
		addFault(t, h, spec)
	}
	if out := app(); !strings.Contains(out, "10 in the database, 0 duplicated, 0 given up") {
		t.Errorf("under faults: %s", out)
	}
	for _, k := range []string{"idle_timeout", "session_limit", "read_wait_timeout"} {
		if n := statusOf(t, h, "Fwdproxy_faults_injected_"+k); n == 0 {
			t.Errorf("no %s injected", k)
		}
	}
	clearFaults(t, h)
	if out := app(); !strings.Contains(out, "retries: none") {
		t.Errorf("with the faults off: %s", out)
	}
	var orders, stock int
	if err := root.QueryRow("SELECT (SELECT COUNT(*) FROM "+db+".orders), (SELECT qty FROM "+db+".stock)").Scan(&orders, &stock); err != nil {
		t.Fatal(err)
	}
	if orders != 20 || stock != 1000-orders {
		t.Errorf("writer holds %d orders and stock %d: a retried transaction was half done or doubled", orders, stock)
	}
}
