package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/fwdproxy/fwdproxy/integration/pair"
)

func TestDoctorUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no flags", nil, "--writer and --reader are required"},
		{"no reader", []string{"--writer", "h:1", "--user", "u:p"}, "--writer and --reader are required"},
		{"no user", []string{"--writer", "h:1", "--reader", "h:2"}, "--user NAME:PASSWORD is required"},
		{"user without password", []string{"--writer", "h:1", "--reader", "h:2", "--user", "u"}, "--user NAME:PASSWORD is required"},
		{"bad format", []string{"--writer", "h:1", "--reader", "h:2", "--user", "u:p", "--format", "xml"}, `--format "xml"`},
		{"bad lag", []string{"--writer", "h:1", "--reader", "h:2", "--user", "u:p", "--max-lag", "soon"}, "invalid value"},
		{"unknown flag", []string{"--bogus"}, "flag provided but not defined"},
		{"argument", []string{"--writer", "h:1", "--reader", "h:2", "--user", "u:p", "extra"}, `unexpected argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := doctorMain(tc.args, &out, &errOut); code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.want) || !strings.Contains(errOut.String(), "usage: fwdproxy doctor") {
				t.Fatalf("stderr lacks %q and the usage:\n%s", tc.want, errOut.String())
			}
		})
	}
}

func TestDoctorHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := doctorMain([]string{"--help"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, f := range []string{"-writer", "-reader", "-user", "-max-lag", "-format"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("help lacks %s:\n%s", f, out.String())
		}
	}
}

// An unreachable server is a FAIL (exit 1), not a usage error.
func TestDoctorUnreachable(t *testing.T) {
	var out, errOut bytes.Buffer
	code := doctorMain([]string{"--writer", "127.0.0.1:1", "--reader", "127.0.0.1:1", "--user", "u:p", "--timeout", "2s"}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "FAIL    writer   connect") || !strings.Contains(out.String(), "FAIL    replica  connect") {
		t.Fatalf("want connect FAILs:\n%s", out.String())
	}
}

// Several readers: each is checked against the writer, one table (or JSON report) each.
func TestDoctorSeveralReaders(t *testing.T) {
	args := []string{"--writer", "127.0.0.1:1", "--reader", "127.0.0.1:2,127.0.0.1:3", "--reader", "127.0.0.1:4", "--user", "u:p", "--timeout", "2s"}
	var out, errOut bytes.Buffer
	if code := doctorMain(args, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errOut.String())
	}
	for i, addr := range []string{"127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4"} {
		if !strings.Contains(out.String(), fmt.Sprintf("== replica %d of 3: %s", i+1, addr)) {
			t.Fatalf("no table for %s:\n%s", addr, out.String())
		}
	}
	if n := strings.Count(out.String(), "FAIL    replica  connect"); n != 3 {
		t.Fatalf("%d replica connect FAILs, want 3:\n%s", n, out.String())
	}
	out.Reset()
	if code := doctorMain(append(args, "--format", "json"), &out, &errOut); code != 1 {
		t.Fatalf("json: exit %d", code)
	}
	var reps []struct{ Replica struct{ Addr string } }
	if err := json.Unmarshal(out.Bytes(), &reps); err != nil || len(reps) != 3 || reps[2].Replica.Addr != "127.0.0.1:4" {
		t.Fatalf("json: %v %+v\n%s", err, reps, out.String())
	}
}

// Against the shared pair ($FWDPROXY_PAIR_ENV; read-only checks only): no FAIL,
// and the JSON form carries the same verdicts.
func TestDoctorSharedPair(t *testing.T) {
	env := os.Getenv(pair.EnvVar)
	if env == "" {
		t.Skip(pair.EnvVar + " not set")
	}
	p, err := pair.Load(env)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--writer", p.WriterAddr, "--reader", p.ReaderAddr, "--user", p.User + ":" + p.Password}
	var out, errOut bytes.Buffer
	if code := doctorMain(args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	t.Logf("\n%s", out.String())
	out.Reset()
	if code := doctorMain(append(args, "--format", "json"), &out, &errOut); code != 0 {
		t.Fatalf("json: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	var rep struct {
		Results []struct{ Status, Server, Check string }
		Counts  struct{ Pass, Fail int }
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, out.String())
	}
	if rep.Counts.Fail != 0 || rep.Counts.Pass < 15 || len(rep.Results) == 0 {
		t.Fatalf("json counts %+v\n%s", rep.Counts, out.String())
	}
}
