package proxy

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fwdproxy/fwdproxy/exposure"
	"github.com/fwdproxy/fwdproxy/metrics"
)

// changed is, for every row with a field, a text other than its default.
var changed = map[string]string{
	"listen": "127.0.0.1:5000", "writer": "127.0.0.1:2", "reader": "127.0.0.1:3", "user": "other:pw",
	"proxy-user": "other", "accounts": "writer", "accounts-refresh": "5m", "admin": "", "forwarding": "disabled", "default-consistency": "session", "session-scope": "user",
	"writer-idle-timeout": "30", "writer-max-connections-pct": "20", "read-wait-timeout": "250ms",
	"read-wait-timeout-action": "writer", "max-reader-lag": "500", "no-reader-policy": "error", "writer-change-wait": "3s", "shared-writer-limits": "true", "aurora-read-write-quirk": "true", "audit": "true", "audit-lag": "2s", "digest-top": "5", "statement-log": "/tmp/statements.jsonl", "topology-file": "/tmp/topology.json",
	"capture-file": "/tmp/capture.jsonl", "capture-max-bytes": "4096",
	"push-tracking": "true", "forward-timeout": "30s", "config-watch": "10s", "auth-method": "caching_sha2_password", "require-tls": "true",
	"admin-token": "tok", "admin-pprof": "true",
	"max-client-connections": "10", "handshake-timeout": "3s", "max-allowed-packet": "1048576", "max-connect-errors": "0",
	"host-block-time": "1m", "shutdown-timeout": "5s", "graceful-wait-before-shutdown": "2s", "proxy-protocol-networks": "10.0.0.0/8",
}

// base is a valid set of values; nothing listens on port 1, so a server's
// probes fail at once.
func base() Values {
	return Values{"writer": {"127.0.0.1:1"}, "reader": {"127.0.0.1:1"}, "user": {"app:pw", "other:pw"}}
}

func TestDefaultsAreTheRows(t *testing.T) {
	c := Defaults()
	for _, s := range Settings {
		if s.field == nil {
			if s.Reload {
				t.Errorf("%s: reloadable without a Config field to copy", s.Name)
			}
			continue
		}
		want, err := s.parse([]string{s.Default}, nil)
		if s.IsList() {
			want, err = s.parse(nil, nil)
		}
		if err != nil || !reflect.DeepEqual(reflect.ValueOf(s.field(&c)).Elem().Interface(), want) {
			t.Errorf("%s: Defaults has %v, the row's default %q reads as %v (%v)", s.Name, s.field(&c), s.Default, want, err)
		}
	}
}

// Reload changes every reloadable row of the live config and keeps the
// running value of every other.
func TestReloadFollowsTheTable(t *testing.T) {
	for _, s := range Settings {
		if s.field == nil {
			continue
		}
		text, ok := changed[s.Name]
		if !ok {
			t.Errorf("%s: no changed value in this test", s.Name)
			continue
		}
		t.Run(s.Name, func(t *testing.T) {
			cur, err := ConfigFrom(base(), nil)
			if err != nil {
				t.Fatal(err)
			}
			v := base()
			v[s.Name] = []string{text}
			if s.Name == "require-tls" { // valid only with a certificate, which takes files
				v, cur.ClientTLS = base(), &tls.Config{}
			}
			next, err := ConfigFrom(v, nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name == "require-tls" {
				next.RequireTLS, next.ClientTLS = true, cur.ClientTLS
			}
			field := func(c *Config) any { return reflect.ValueOf(s.field(c)).Elem().Interface() }
			if reflect.DeepEqual(field(&cur), field(&next)) {
				t.Fatalf("%q does not change %s", text, s.Name)
			}
			srv := &Server{log: zap.NewNop(), Metrics: metrics.New()}
			srv.live.Store(&cur)
			srv.forwarding.Store(cur.Forwarding)
			if err := srv.Reload(next); err != nil {
				t.Fatal(err)
			}
			live := *srv.conf()
			want := cur
			if s.Reload && s.Name != "reader" { // one reader: a change needs a restart (TestReloadReaders)
				want = next
			}
			if got := field(&live); !reflect.DeepEqual(got, field(&want)) {
				t.Errorf("reload %v: live %s is %v, want %v", s.Reload, s.Name, got, field(&want))
			}
			if s.Name == "forwarding" && srv.Forwarding() {
				t.Error("forwarding still on after reloading it off")
			}
		})
	}
}

func TestProxyUser(t *testing.T) {
	for _, tc := range []struct {
		users     []string
		proxyUser string
		want      string // the proxy user, or the error
	}{
		{[]string{"b:1", "a:2", "c:3"}, "", "b"}, // the first --user, not a map's order
		{[]string{"b:1", "a:2"}, "a", "a"},
		{[]string{"b:1", "a:2"}, "c", `--proxy-user "c" is not one of the --user names`},
	} {
		v := base()
		v["user"] = tc.users
		if tc.proxyUser != "" {
			v["proxy-user"] = []string{tc.proxyUser}
		}
		for range 20 {
			c, err := ConfigFrom(v, nil)
			got := c.ProxyUser
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("%v --proxy-user %q: got %q, want %q", tc.users, tc.proxyUser, got, tc.want)
			}
		}
		if c, err := ConfigFrom(v, nil); err == nil {
			srv := &Server{}
			srv.live.Store(&c)
			if u, p := srv.proxyUser(); u != tc.want || p != c.Users[tc.want] {
				t.Errorf("proxyUser() = %s:%s", u, p)
			}
		}
	}
}

// A Config built in code gets the rows' checks too.
func TestValidateChecksTheRows(t *testing.T) {
	for _, tc := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.WriterIdleTimeout = 0 }, "--writer-idle-timeout must be 1..86400, got 0"},
		{func(c *Config) { c.WriterMaxConnectionsPct = 91 }, "--writer-max-connections-pct must be 0..90, got 91"},
		{func(c *Config) { c.ReadWaitTimeout = 0 }, "--read-wait-timeout must be positive"},
		{func(c *Config) { c.ForwardTimeout = -1 }, "--forward-timeout must not be negative"},
		{func(c *Config) { c.DefaultConsistency = "strong" }, "--default-consistency must be '', EVENTUAL, SESSION or GLOBAL"},
		{func(c *Config) { c.AuthMethod = "plain" }, "--auth-method must be mysql_native_password or caching_sha2_password"},
		{func(c *Config) { c.ProxyUser = "" }, `--proxy-user "" is not one of`},
		{func(c *Config) { c.Admin = "0.0.0.0:4001" }, "--admin 0.0.0.0:4001 is not a loopback address, so the admin API needs a token"},
		{func(c *Config) { c.Admin = ":4001" }, "needs a token"},
		{func(c *Config) { c.Admin = "proxy.example:4001" }, "needs a token"},
		{func(c *Config) { c.Admin, c.AdminToken = "0.0.0.0:4001", "tok" }, ""},
		{func(c *Config) { c.Admin = "[::1]:4001" }, ""},
		{func(c *Config) { c.Admin = "" }, ""},
		{func(c *Config) { c.DefaultConsistency = "session" }, ""},
	} {
		c, err := ConfigFrom(base(), nil)
		if err != nil {
			t.Fatal(err)
		}
		tc.change(&c)
		err = c.Validate()
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

// --user-file and --admin-token-file keep secrets off the command line.
func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	users := file("users", "# the application\r\napp:pw:with:colons\r\n\n  # another\nrep: spaced pass \n")
	for _, tc := range []struct {
		name   string
		values Values
		check  func(Config) bool
		want   string // the error
	}{
		{"users from the file", Values{"user-file": {users}},
			func(c Config) bool {
				return len(c.Users) == 2 && c.Users["app"] == "pw:with:colons" && c.Users["rep"] == " spaced pass " && c.ProxyUser == "app"
			}, ""},
		{"with --user, which comes first", Values{"user-file": {users}, "user": {"first:x"}},
			func(c Config) bool { return len(c.Users) == 3 && c.ProxyUser == "first" }, ""},
		{"a user twice", Values{"user-file": {users}, "user": {"app:x"}}, nil, `line 2: user "app" is given twice`},
		{"a line without a name", Values{"user-file": {file("bad", "app:pw\njustapassword\n")}}, nil,
			"line 2 is not NAME:PASSWORD"},
		{"no such file", Values{"user-file": {filepath.Join(dir, "none")}}, nil, "--user-file: open"},
		{"token file", Values{"user": {"a:b"}, "admin": {"0.0.0.0:1"}, "admin-token-file": {file("tok", "# rotated daily\n  t0ken \n")}},
			func(c Config) bool { return c.AdminToken == "t0ken" }, ""},
		{"empty token file", Values{"user": {"a:b"}, "admin-token-file": {file("empty", "\n# nothing\n")}}, nil, "holds no token"},
		{"token twice", Values{"user": {"a:b"}, "admin-token": {"x"}, "admin-token-file": {file("tok2", "y")}}, nil,
			"--admin-token and --admin-token-file: give one of them"},
	} {
		v := Values{"writer": {"127.0.0.1:1"}, "reader": {"127.0.0.1:1"}}
		for k, x := range tc.values {
			v[k] = x
		}
		c, err := ConfigFrom(v, nil)
		switch {
		case tc.want != "":
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "justapassword") {
				t.Errorf("%s: the error shows the line: %v", tc.name, err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.check(c):
			t.Errorf("%s: users %v, proxy user %q, token %q", tc.name, c.Users, c.ProxyUser, c.AdminToken)
		}
	}
	got := SecretFiles(Values{"user": {"a:b", "c:file:/p/c", "d:env:D"}, "user-file": {"/p/u"}, "admin-token-file": {"/p/t"}, "tls-key": {"/p/k"}})
	if want := []string{"/p/u", "/p/t", "/p/k", "/p/c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("SecretFiles: %v, want %v", got, want)
	}
}

// --writer repeats: every candidate is kept, Writer is the first.
func TestWriterCandidates(t *testing.T) {
	v := base()
	v["writer"] = []string{"127.0.0.1:2", " 127.0.0.1:5 "}
	c, err := ConfigFrom(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Writer != "127.0.0.1:2" || !reflect.DeepEqual(c.WriterAddrs(), []string{"127.0.0.1:2", "127.0.0.1:5"}) {
		t.Errorf("Writer %q, WriterAddrs %v", c.Writer, c.WriterAddrs())
	}
	if got := (&Config{Writer: "w:1"}).WriterAddrs(); !reflect.DeepEqual(got, []string{"w:1"}) {
		t.Errorf("a Config built in code: WriterAddrs %v", got)
	}
}

// SIGHUP's --reader: an endpoint of several adds and removes readers but
// its first; a proxy started with one keeps it. Nothing listens on the
// ports: the readers stay down, which is all this looks at.
func TestReloadReaders(t *testing.T) {
	cfgWith := func(readers ...string) Config {
		v := base()
		v["reader"] = readers
		c, err := ConfigFrom(v, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	addrs := func(s *Server) []string {
		var out []string
		for _, r := range s.Status().Readers {
			out = append(out, r.Addr)
		}
		return out
	}
	srv, err := NewServer(cfgWith("127.0.0.1:1", "127.0.0.1:2"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, step := range []struct {
		readers []string
		err     bool
		want    []string
	}{
		{[]string{"127.0.0.1:1", "127.0.0.1:3"}, false, []string{"127.0.0.1:1", "127.0.0.1:3"}},
		{[]string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}, false, []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}},
		{[]string{"127.0.0.1:1"}, false, []string{"127.0.0.1:1"}},
		{[]string{"127.0.0.1:2", "127.0.0.1:3"}, true, []string{"127.0.0.1:1"}}, // the first stays
	} {
		err := srv.Reload(cfgWith(step.readers...))
		if (err != nil) != step.err {
			t.Fatalf("reload %v: error %v", step.readers, err)
		}
		if got := addrs(srv); !slices.Equal(got, step.want) {
			t.Fatalf("reload %v: readers %v, want %v", step.readers, got, step.want)
		}
	}
	if n := len(srv.readers.all()); n != 3 {
		t.Errorf("%d reader nodes, want 3 (a removed one is kept for the indexes sessions hold)", n)
	}

	one, err := NewServer(cfgWith("127.0.0.1:1"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if err := one.Reload(cfgWith("127.0.0.1:1", "127.0.0.1:2")); err != nil {
		t.Fatal(err)
	}
	if got := one.conf().ReaderAddrs(); !slices.Equal(got, []string{"127.0.0.1:1"}) {
		t.Errorf("started with one reader, a reload made it %v", got)
	}

	// Audit mode has no --reader: a reload does not ask for a restart.
	audit := func() Config {
		v := base()
		delete(v, "reader")
		v["audit"] = []string{"true"}
		c, err := ConfigFrom(v, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.AuditModel = func(func(AuditFinding)) AuditModel { return nil }
		c.ExposureModel = func(func(exposure.Statement)) AuditModel { return nil }
		return c
	}
	core, logs := observer.New(zap.WarnLevel)
	au, err := NewServer(audit(), zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer au.Close()
	if err := au.Reload(audit()); err != nil {
		t.Fatal(err)
	}
	if n := logs.FilterMessageSnippet("--reader").Len(); n != 0 {
		t.Errorf("audit mode: a reload warned about --reader %d times", n)
	}
}
