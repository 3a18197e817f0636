package integration

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/fwdproxy/fwdproxy/proxy"
	"github.com/fwdproxy/fwdproxy/proxy/wire"
)

// causalToken reads the session's token.
func causalToken(t *testing.T, c *sql.Conn) string {
	t.Helper()
	var tok string
	if err := c.QueryRowContext(ctx, "SELECT @@fwdproxy_causal_token").Scan(&tok); err != nil {
		t.Fatalf("SELECT @@fwdproxy_causal_token: %v", err)
	}
	return tok
}

// TestCausalTokenAcrossProxies: a write on one proxy at EVENTUAL, its token
// handed to a session on a second proxy (another process in front of the
// same pair) and to a second session of the first: with the replica a
// second behind, each read after SET fwdproxy_read_after sees the row.
func TestCausalTokenAcrossProxies(t *testing.T) {
	table(t, "causal1")
	delayReplica(t, 1)
	_, addrA := startBinary(t, "--default-consistency", "EVENTUAL")
	_, addrB := startBinary(t, "--default-consistency", "EVENTUAL")
	w := conn(t, addrA, "")
	if tok := causalToken(t, w); tok != "" {
		t.Fatalf("token before any write = %q, want ''", tok)
	}
	readers := map[string]*sql.Conn{"proxy B": conn(t, addrB, ""), "proxy A, another session": conn(t, addrA, "")}
	stale := map[string]int{}
	control := conn(t, addrB, "") // no token: shows the lag is real (logged, not asserted)
	controlStale := 0
	for i := 0; i < 20; i++ {
		v := 1000 + i
		exec(t, w, "INSERT INTO causal1 (v) VALUES (?)", v)
		var n int
		if err := control.QueryRowContext(ctx, "SELECT COUNT(*) FROM causal1 WHERE v = ?", v).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			controlStale++
		}
		tok := causalToken(t, w)
		if !strings.HasPrefix(tok, "fp1:ma:") || strings.ContainsAny(tok, " \t\n") {
			t.Fatalf("token %q: want fp1:ma:… without spaces", tok)
		}
		for name, r := range readers {
			exec(t, r, "SET fwdproxy_read_after = '"+tok+"'")
			var n int
			if err := r.QueryRowContext(ctx, "SELECT COUNT(*) FROM causal1 WHERE v = ?", v).Scan(&n); err != nil {
				t.Fatalf("%s: read: %v", name, err)
			}
			if n != 1 {
				stale[name]++
			}
		}
	}
	t.Logf("without a token, %d of 20 reads on proxy B were stale", controlStale)
	for name := range readers {
		if stale[name] != 0 {
			t.Errorf("%s: %d of 20 reads after the token were stale", name, stale[name])
		}
	}
	// Read back, other spellings, and clearing.
	r := readers["proxy B"]
	var got string
	if err := r.QueryRowContext(ctx, "SELECT @@session.fwdproxy_read_after").Scan(&got); err != nil || !strings.HasPrefix(got, "fp1:ma:") {
		t.Fatalf("SELECT @@session.fwdproxy_read_after = %q, %v", got, err)
	}
	exec(t, r, "SET @@fwdproxy_read_after = ''")
	if err := r.QueryRowContext(ctx, "SELECT @@fwdproxy_read_after").Scan(&got); err != nil || got != "" {
		t.Fatalf("after clearing, @@fwdproxy_read_after = %q, %v", got, err)
	}
	exec(t, r, "SET SESSION fwdproxy_read_after = '"+causalToken(t, w)+"'")
}

// TestCausalTokenRefused: malformed tokens, another flavour's and another
// cluster's get 1231 and leave the session's token as it was.
func TestCausalTokenRefused(t *testing.T) {
	table(t, "causal2")
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "EVENTUAL" })
	w := conn(t, addr, "")
	// Prepared before the write, executed after it: the token is the
	// execute's.
	ps, err := w.PrepareContext(ctx, "SELECT @@fwdproxy_causal_token, @@fwdproxy_read_after")
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	exec(t, w, "INSERT INTO causal2 (v) VALUES (7)")
	tok := causalToken(t, w)
	var ptok, pra string
	if err := ps.QueryRowContext(ctx).Scan(&ptok, &pra); err != nil || ptok != tok || pra != "" {
		t.Errorf("prepared read of the token = %q, %q, %v; want %q, ''", ptok, pra, err, tok)
	}
	parts := strings.SplitN(tok, ":", 4)
	if len(parts) != 4 {
		t.Fatalf("token %q has no four parts", tok)
	}
	r := conn(t, addr, "")
	exec(t, r, "SET fwdproxy_read_after = '"+tok+"'")
	for _, bad := range []string{
		"garbage",
		"fp9:ma:" + parts[2] + ":" + parts[3],
		"fp1:my:" + parts[2] + ":" + parts[3],
		"fp1:ma:999999." + parts[2] + ":" + parts[3],
		"fp1:ma:" + parts[2] + ":not-a-gtid",
	} {
		_, err := r.ExecContext(ctx, "SET fwdproxy_read_after = '"+bad+"'")
		if code := errCode(err); code != 1231 {
			t.Errorf("SET fwdproxy_read_after = %q: %v (code %d), want 1231", bad, err, code)
		}
	}
	var got string
	if err := r.QueryRowContext(ctx, "SELECT @@fwdproxy_read_after").Scan(&got); err != nil || got != tok {
		t.Fatalf("after refused SETs, @@fwdproxy_read_after = %q, %v; want %q", got, err, tok)
	}
	if _, err := r.ExecContext(ctx, "SET fwdproxy_causal_token = 'x'"); errCode(err) != 1238 {
		t.Errorf("SET fwdproxy_causal_token: %v, want 1238", err)
	}
}

// TestCausalTokenTrackedAndReset: a client that negotiated session
// tracking finds the token in the OK packet of the write that changed it;
// COM_RESET_CONNECTION clears fwdproxy_read_after.
func TestCausalTokenTrackedAndReset(t *testing.T) {
	table(t, "causal3")
	addr := startProxy(t, func(c *proxy.Config) { c.DefaultConsistency = "EVENTUAL" })
	c := rawConn(t, addr, sessionTrack)
	// Untracked by default: the OK is what the writer sent.
	if tr := insertTracked(t, c, "INSERT INTO causal3 (v) VALUES (4)"); tr != "" {
		t.Fatalf("with the server's tracking list, the OK tracks fwdproxy_causal_token %q, want nothing", tr)
	}
	// The name is taken out of the list the servers see (they refuse it).
	rawExec(t, c, "SET session_track_system_variables = 'autocommit,fwdproxy_causal_token'")
	if v := rawValue(t, c, "SELECT @@session_track_system_variables"); v != "autocommit" {
		t.Errorf("@@session_track_system_variables = %q, want autocommit", v)
	}
	tracked := insertTracked(t, c, "INSERT INTO causal3 (v) VALUES (5)")
	tok := rawValue(t, c, "SELECT @@fwdproxy_causal_token")
	if tracked == "" || tracked != tok {
		t.Fatalf("tracked fwdproxy_causal_token %q, @@fwdproxy_causal_token %q: want the same token", tracked, tok)
	}
	rawExec(t, c, "SET fwdproxy_read_after = '"+tok+"'")
	sendCmd(t, c, gmysql.COM_RESET_CONNECTION)
	wantOKPkt(t, readPkt(t, c), "COM_RESET_CONNECTION")
	if v := rawValue(t, c, "SELECT @@fwdproxy_read_after"); v != "" {
		t.Errorf("fwdproxy_read_after after COM_RESET_CONNECTION = %q, want ''", v)
	}
	if v := rawValue(t, c, "SELECT @@fwdproxy_causal_token"); v != "" {
		t.Errorf("fwdproxy_causal_token after COM_RESET_CONNECTION = %q, want ''", v)
	}
	if tr := insertTracked(t, c, "INSERT INTO causal3 (v) VALUES (6)"); tr != "" {
		t.Errorf("after COM_RESET_CONNECTION the OK tracks fwdproxy_causal_token %q, want nothing", tr)
	}
	rawExec(t, c, "SET SESSION session_track_system_variables = '*'")
	if tr := insertTracked(t, c, "INSERT INTO causal3 (v) VALUES (7)"); tr == "" {
		t.Errorf("with '*' tracked, the OK has no fwdproxy_causal_token")
	}
}

// insertTracked runs a write and returns the fwdproxy_causal_token its OK
// tracks, "" when none.
func insertTracked(t *testing.T, c *client.Conn, q string) string {
	t.Helper()
	sendCmd(t, c, append([]byte{gmysql.COM_QUERY}, q...)...)
	p := readPkt(t, c)
	ok, valid := wire.ParseOK(p, true)
	if !valid {
		t.Fatalf("%s answered %x, want an OK", q, p)
	}
	var tracked string
	wire.EachStateEntry(ok.SessionState, func(typ byte, data []byte) bool {
		if name, n, good := wire.LenEncString(data); good && typ == wire.TrackSystemVariables && string(name) == "fwdproxy_causal_token" {
			v, _, _ := wire.LenEncString(data[n:])
			tracked = string(v)
		}
		return true
	})
	return tracked
}
