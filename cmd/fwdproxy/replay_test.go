package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestReplayFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--target", "h:1", "--user", "u:p"}, "--file is required"},
		{[]string{"--file", "f", "--user", "u:p"}, "--target is required"},
		{[]string{"--file", "f", "--target", "h:1"}, "--user NAME:PASSWORD is required"},
		{[]string{"--file", "f", "--target", "h:1", "--user", "nopass"}, `--user "nopass": want NAME:PASSWORD`},
		{[]string{"--file", "f", "--target", "h:1", "--user", "u:p", "--consistency", "strong"}, "--consistency is EVENTUAL, SESSION or GLOBAL"},
		{[]string{"--file", "f", "--target", "h:1", "--user", "u:p", "--report", "xml"}, "--report is text or json"},
		{[]string{"--file", "f", "--target", "h:1", "--user", "u:p", "--speed", "-1"}, "--speed must not be negative"},
		{[]string{"--file", "/nonexistent/capture", "--target", "h:1", "--user", "u:p"}, "no such file"},
	} {
		var out, errOut bytes.Buffer
		if code := replayMain(c.args, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: exit %d, %q; want %q", c.args, code, errOut.String(), c.want)
		}
	}
	opt, err := replayOptions("h:1", []string{"app:pw", "admin:x:y"}, 2, "session", "json")
	if err != nil || opt.DefaultUser != "app" || opt.Users["admin"] != "x:y" || opt.Consistency != "SESSION" {
		t.Errorf("options %+v, %v", opt, err)
	}
}
