package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fwdproxy/fwdproxy/proxy"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func parseServeConfig(args []string, getenv func(string) string, out io.Writer) (proxy.Config, error) {
	set, err := parseServe(args, getenv, out)
	return set.cfg, err
}

func TestParseServePrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "fwd.yaml")
	os.WriteFile(file, []byte(`
listen: 127.0.0.1:5000
writer: w-file:3306
reader: r-file:3306
user: ["app:filepass"]
writer-idle-timeout: 30
default-consistency: eventual
read-wait-timeout: 250ms
`), 0o600)
	cfg, err := parseServeConfig([]string{"--config", file, "--reader", "r-flag:3306"},
		env(map[string]string{"FWDPROXY_WRITER": "w-env:3306", "FWDPROXY_READER": "r-env:3306"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:5000" || cfg.Writer != "w-env:3306" || cfg.Reader != "r-flag:3306" {
		t.Errorf("precedence file < env < flag broken: %+v", cfg)
	}
	if cfg.Users["app"] != "filepass" || cfg.WriterIdleTimeout != 30 || cfg.DefaultConsistency != "EVENTUAL" || cfg.ReadWaitTimeout != 250*time.Millisecond {
		t.Errorf("file values: %+v", cfg)
	}
}

func TestParseServeErrors(t *testing.T) {
	base := []string{"--writer", "w:1", "--reader", "r:1", "--user", "u:p"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--reader", "r:1", "--user", "u:p"}, "--writer is required"},
		{append(base, "--writer-idle-timeout", "0"), "--writer-idle-timeout must be 1..86400"},
		{append(base, "--writer-idle-timeout", "86401"), "--writer-idle-timeout must be 1..86400"},
		{append(base, "--writer-max-connections-pct", "91"), "--writer-max-connections-pct must be 0..90"},
		{append(base, "--writer-max-connections-pct", "-1"), "--writer-max-connections-pct must be 0..90"},
		{append(base, "--forwarding", "maybe"), "--forwarding must be enabled or disabled"},
		{append(base, "--default-consistency", "strong"), "--default-consistency must be"},
		{append(base, "--read-wait-timeout", "soon"), "--read-wait-timeout"},
		{append(base, "--read-wait-timeout-action", "retry"), "--read-wait-timeout-action must be error or writer"},
		{[]string{"--writer", "w:1", "--reader", "r:1", "--user", "nopassword"}, "--user must be NAME:PASSWORD"},
	} {
		_, err := parseServe(tc.args, env(nil), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestPasswordFromEnvAndFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(f, []byte("frompath\n"), 0o600)
	cfg, err := parseServeConfig([]string{"--writer", "w:1", "--reader", "r:1", "--user", "a:env:PW", "--user", "b:file:" + f},
		env(map[string]string{"PW": "fromenv"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Users["a"] != "fromenv" || cfg.Users["b"] != "frompath" {
		t.Fatalf("%v", cfg.Users)
	}
}

// Invalid flags or config give one clear line and exit code 2.
func TestServeExitCode2(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary with go build (-short)")
	}
	bin := filepath.Join(t.TempDir(), "fwdproxy")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v %s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("writer: [unclosed\n"), 0o600)
	for _, args := range [][]string{
		{"serve", "--writer-idle-timeout", "0", "--writer", "w:1", "--reader", "r:1", "--user", "u:p"},
		{"serve", "--config", bad},
		{"serve", "--no-such-flag"},
		{"no-such-command"},
	} {
		cmd := exec.Command(bin, args...)
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Errorf("%v: exit %v, want 2 (%s)", args, err, out)
		}
		if len(strings.TrimSpace(string(out))) == 0 {
			t.Errorf("%v: no message", args)
		}
	}
}

// The files with secrets are found wherever a setting names them, and
// serve warns of those every user can read.
func TestReadableSecretsWarned(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), mode)
		os.Chmod(p, mode) // whatever the umask
		return p
	}
	users := file("users", "app:pw\n", 0o644)
	token := file("token", "tok\n", 0o600)
	pw := file("pw", "pw\n", 0o604)
	inline := file("inline.yaml", "user: [app2:secret]\n", 0o644)
	indirect := file("indirect.yaml", "user: [app2:env:PW]\n", 0o644)
	for _, tc := range []struct {
		args []string
		want []string // the files warned of
	}{
		{[]string{"--user-file", users, "--admin-token-file", token, "--user", "b:file:" + pw}, []string{users, pw}},
		{[]string{"--config", inline}, []string{inline}},
		{[]string{"--config", indirect}, nil}, // no secret in it
		{[]string{"--user", "a:b"}, nil},
	} {
		_, secrets, _, err := readSettings(tc.args, env(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		core, logs := observer.New(zap.WarnLevel)
		warnReadableSecrets(zap.New(core), secrets)
		var got []string
		for _, e := range logs.All() {
			got = append(got, e.ContextMap()["file"].(string))
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: warned of %v, want %v", tc.args, got, tc.want)
		}
	}
}
