package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fwdproxy/fwdproxy/proxy"
)

// sample is, for every setting, a value other than its default.
var sample = map[string]string{
	"listen": "127.0.0.1:5000", "writer": "w:2", "reader": "r:2", "user": "other:pw", "proxy-user": "app", "accounts": "writer", "accounts-refresh": "5m",
	"admin": "127.0.0.1:4444", "forwarding": "disabled", "default-consistency": "GLOBAL", "session-scope": "user", "writer-idle-timeout": "30",
	"writer-max-connections-pct": "20", "read-wait-timeout": "250ms", "read-wait-timeout-action": "writer", "max-reader-lag": "500", "no-reader-policy": "error",
	"writer-change-wait": "3s", "shared-writer-limits": "true",
	"aurora-read-write-quirk": "true", "audit": "true", "audit-lag": "500ms", "digest-top": "5", "statement-log": "/tmp/statements.jsonl",
	"capture-file": "/tmp/capture.jsonl", "topology-file": "/tmp/topology.json", "capture-max-bytes": "4096", "push-tracking": "true", "forward-timeout": "30s", "config-watch": "10s",
	"auth-method": "caching_sha2_password", "tls-cert": "c.pem", "tls-key": "k.pem", "require-tls": "true",
	"backend-tls": "skip-verify", "backend-ca": "ca.pem", "log-level": "debug", "log-format": "json",
	"user-file": "users", "admin-token": "tok", "admin-token-file": "token", "admin-pprof": "true",
	"max-client-connections": "10", "handshake-timeout": "3s", "max-allowed-packet": "1048576",
	"max-connect-errors": "0", "host-block-time": "1m", "proxy-protocol-networks": "10.0.0.0/8", "shutdown-timeout": "5s", "graceful-wait-before-shutdown": "2s",
}

// sampleFiles are the contents of the files the *-file samples name.
var sampleFiles = map[string]string{"user-file": "# users\nu2:pw\n", "admin-token-file": "tok\n"}

// Every setting is a flag, a YAML key and a variable, and the three give
// the same values and the same Config.
func TestEverySettingFromEverySource(t *testing.T) {
	dir := t.TempDir()
	rows := map[string]proxy.Setting{}
	for _, s := range proxy.Settings {
		rows[s.Name] = s
	}
	for _, s := range proxy.Settings {
		text, ok := sample[s.Name]
		if !ok {
			t.Errorf("%s: no sample value in this test", s.Name)
			continue
		}
		if content, ok := sampleFiles[s.Name]; ok {
			text = filepath.Join(dir, text)
			if err := os.WriteFile(text, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		set := map[string]string{"writer": "w:1", "reader": "r:1", "user": "app:pw"}
		set[s.Name] = text
		var args []string
		vars := map[string]string{}
		yml := ""
		for name, v := range set {
			args = append(args, "--"+name+"="+v)
			vars[rows[name].Env()] = v
			yml += name + ": '" + v + "'\n"
		}
		file := filepath.Join(dir, s.Name+".yaml")
		if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
		fromFlags, _, _, err := readSettings(args, env(nil), io.Discard)
		if err != nil {
			t.Fatalf("%s: flags: %v", s.Name, err)
		}
		fromEnv, _, _, err := readSettings(nil, env(vars), io.Discard)
		if err != nil {
			t.Fatalf("%s: environment: %v", s.Name, err)
		}
		fromFile, _, _, err := readSettings([]string{"--config", file}, env(nil), io.Discard)
		if err != nil {
			t.Fatalf("%s: YAML: %v", s.Name, err)
		}
		if got := fromFlags.Text(s.Name); got != text {
			t.Errorf("--%s=%s reads as %q", s.Name, text, got)
		}
		if !reflect.DeepEqual(fromFlags, fromEnv) || !reflect.DeepEqual(fromFlags, fromFile) {
			t.Errorf("%s: flags %v, environment %v, YAML %v", s.Name, fromFlags, fromEnv, fromFile)
		}
		if strings.HasPrefix(s.Name, "tls-") || s.Name == "require-tls" {
			continue // their Config needs certificate files
		}
		a, errA := proxy.ConfigFrom(fromFlags, env(nil))
		b, errB := proxy.ConfigFrom(fromFile, env(nil))
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("%s: the Config from flags (%v) and from YAML (%v) differ", s.Name, errA, errB)
		}
	}
}

// A boolean setting takes --flag alone, --flag=VALUE and, as before it was
// a boolean flag, --flag VALUE.
func TestBoolFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--audit"}, "true"},
		{[]string{"--audit", "--writer", "w:9"}, "true"},
		{[]string{"--audit", "false"}, "false"},
		{[]string{"--audit=false"}, "false"},
		{[]string{"-audit", "1", "--writer", "w:9"}, "1"},
		{[]string{"--writer", "--audit"}, ""}, // --audit is the writer's value here, as the flag package reads it
	} {
		v, _, _, err := readSettings(tc.args, env(nil), io.Discard)
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if got := strings.Join(v["audit"], ","); got != tc.want {
			t.Errorf("%v: audit %q, want %q", tc.args, got, tc.want)
		}
	}
	// Every boolean setting, bare, before another flag.
	for _, st := range proxy.Settings {
		if !st.IsBool() {
			continue
		}
		args := []string{"--" + st.Name, "--writer", "w:9"}
		v, _, _, err := readSettings(args, env(nil), io.Discard)
		if err != nil || v.Text(st.Name) != "true" || v.Text("writer") != "w:9" {
			t.Errorf("%v: %s %q, writer %q, %v", args, st.Name, v.Text(st.Name), v.Text("writer"), err)
		}
	}
	if _, _, _, err := readSettings([]string{"--audit", "yes"}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), `unexpected argument "yes"`) {
		t.Errorf("--audit yes: %v", err)
	}
}

func TestConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ yaml, want string }{
		{"writer: w:1\nno-such: 1\n", `line 2: unknown setting "no-such"`},
		{"listen: [a, b]\n", "line 1: listen takes one value"},
		{"- writer\n", "want NAME: VALUE lines"},
		{"writer: [unclosed\n", "--config"},
	} {
		f := filepath.Join(dir, "c.yaml")
		os.WriteFile(f, []byte(tc.yaml), 0o600)
		_, _, _, err := readSettings([]string{"--config", f}, env(nil), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// The proxy's own user: the first --user in order, or --proxy-user.
func TestProxyUserFlag(t *testing.T) {
	base := []string{"--writer", "w:1", "--reader", "r:1", "--user", "zed:1", "--user", "amy:2"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{base, "zed"},
		{append(base, "--proxy-user", "amy"), "amy"},
		{append(base, "--proxy-user", "bob"), `--proxy-user "bob" is not one of the --user names`},
	} {
		cfg, err := parseServeConfig(tc.args, env(nil), io.Discard)
		got := cfg.ProxyUser
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%v: %q, want %q", tc.args, got, tc.want)
		}
	}
}

// --help lists every setting; the operations guide documents every one.
func TestEverySettingDocumented(t *testing.T) {
	var help bytes.Buffer
	readSettings([]string{"--help"}, env(nil), &help)
	guide, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range proxy.Settings {
		if !strings.Contains(help.String(), "--"+s.Name+" ") {
			t.Errorf("--help lacks --%s", s.Name)
		}
		if !strings.Contains(string(guide), "`"+s.Name+"`") {
			t.Errorf("docs/operations.md does not document `%s`", s.Name)
		}
	}
}
