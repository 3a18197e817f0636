package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/fwdproxy/fwdproxy/capture"
	"github.com/fwdproxy/fwdproxy/replay"
)

const replayUsage = `usage: fwdproxy replay --file CAPTURE --target HOST:PORT --user NAME:PASSWORD [flags]

Plays a capture (serve --capture-file) through the fwdproxy at --target:
every captured session at once, each in its order and at its captured
times (scaled by --speed), and reports results that differ from the
capture's, errors by code and statement digest, and latency per digest.
It connects to --target only. Statements that set a password were
redacted in the capture and are not replayed.
`

// userList is --user, repeatable: NAME:PASSWORD.
type userList []string

func (u *userList) String() string     { return strings.Join(*u, ",") }
func (u *userList) Set(v string) error { *u = append(*u, v); return nil }

func replayMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, replayUsage); fs.PrintDefaults() }
	file := fs.String("file", "", "the capture file")
	target := fs.String("target", "", "the fwdproxy to replay through, HOST:PORT")
	var users userList
	fs.Var(&users, "user", "NAME:PASSWORD to log in with (repeatable): a captured session of NAME logs in as NAME, any other as the first --user")
	speed := fs.Float64("speed", 1, "time scale: 2 replays twice as fast; 0 sends each command as soon as the one before it ended")
	consistency := fs.String("consistency", "", "aurora_replica_read_consistency every replayed session sets first: EVENTUAL, SESSION or GLOBAL (default: the proxy's)")
	format := fs.String("report", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	opt, err := replayOptions(*target, users, *speed, *consistency, *format)
	if err == nil && *file == "" {
		err = fmt.Errorf("--file is required")
	}
	if err != nil {
		fmt.Fprintln(stderr, "fwdproxy replay:", err)
		return 2
	}
	f, err := os.Open(*file)
	if err != nil {
		fmt.Fprintln(stderr, "fwdproxy replay:", err)
		return 1
	}
	defer f.Close()
	rd, err := capture.NewReader(f)
	if err != nil {
		fmt.Fprintln(stderr, "fwdproxy replay:", err)
		return 1
	}
	recs, err := rd.ReadAll()
	if err != nil {
		fmt.Fprintln(stderr, "fwdproxy replay:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := replay.Run(ctx, recs, opt)
	if err != nil {
		fmt.Fprintln(stderr, "fwdproxy replay:", err)
		return 1
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.WriteText(stdout)
	}
	if len(rep.Failures) > 0 {
		return 1
	}
	return 0
}

func replayOptions(target string, users []string, speed float64, consistency, format string) (replay.Options, error) {
	opt := replay.Options{Target: target, Users: map[string]string{}, Speed: speed, Consistency: strings.ToUpper(consistency)}
	switch {
	case target == "":
		return opt, fmt.Errorf("--target is required")
	case len(users) == 0:
		return opt, fmt.Errorf("--user NAME:PASSWORD is required")
	case speed < 0:
		return opt, fmt.Errorf("--speed must not be negative")
	case format != "text" && format != "json":
		return opt, fmt.Errorf("--report is text or json, not %q", format)
	}
	switch opt.Consistency {
	case "", "EVENTUAL", "SESSION", "GLOBAL":
	default:
		return opt, fmt.Errorf("--consistency is EVENTUAL, SESSION or GLOBAL, not %q", consistency)
	}
	for i, u := range users {
		name, pass, ok := strings.Cut(u, ":")
		if !ok || name == "" {
			return opt, fmt.Errorf("--user %q: want NAME:PASSWORD", u)
		}
		opt.Users[name] = pass
		if i == 0 {
			opt.DefaultUser = name
		}
	}
	return opt, nil
}
