package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/fwdproxy/fwdproxy/doctor"
)

const doctorUsage = `usage: fwdproxy doctor --writer HOST:PORT --reader HOST:PORT [--reader …] --user NAME:PASSWORD [--max-lag 5s] [--accounts writer] [--format text|json]

Checks that the writer and its GTID replica are set up as fwdproxy needs them and
prints a PASS/WARN/FAIL table; every WARN and FAIL carries the statement or config
line that fixes it. With several --reader (repeated or comma-separated) every one
is checked against the writer: one table each (JSON: an array of reports).
Exit status: 0 no FAIL, 1 some FAIL, 2 usage error.

flags:
`

// doctorMain runs `fwdproxy doctor`.
func doctorMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	writer := fs.String("writer", "", "writer address HOST:PORT, or a Unix socket path")
	var readerAddrs []string
	fs.Func("reader", "reader (GTID replica) address HOST:PORT, or a Unix socket path; repeats", func(v string) error {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				readerAddrs = append(readerAddrs, a)
			}
		}
		return nil
	})
	user := fs.String("user", "", "NAME:PASSWORD of the account fwdproxy logs in to the backends with")
	maxLag := fs.Duration("max-lag", 5*time.Second, "replica lag above this fails")
	accountsFrom := fs.String("accounts", "", "writer: also check what serve --accounts writer needs (the --user reads the writer's accounts)")
	format := fs.String("format", "text", "text|json")
	timeout := fs.Duration("timeout", 10*time.Second, "connect and query timeout per server")
	usageErr := func(msg string) int {
		fmt.Fprintf(stderr, "fwdproxy doctor: %s\n", msg)
		fmt.Fprint(stderr, doctorUsage)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, doctorUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		return usageErr(err.Error())
	}
	switch {
	case fs.NArg() > 0:
		return usageErr(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	case *writer == "" || len(readerAddrs) == 0:
		return usageErr("--writer and --reader are required")
	case !strings.Contains(*user, ":"):
		return usageErr("--user NAME:PASSWORD is required")
	case *accountsFrom != "" && *accountsFrom != "writer":
		return usageErr(fmt.Sprintf("--accounts %q: want writer", *accountsFrom))
	case *format != "text" && *format != "json":
		return usageErr(fmt.Sprintf("--format %q: want text or json", *format))
	case *maxLag < 0 || *timeout <= 0:
		return usageErr("--max-lag must be >= 0 and --timeout > 0")
	}
	name, password, _ := strings.Cut(*user, ":")

	ctx, cancel := context.WithTimeout(context.Background(), 6**timeout)
	defer cancel()
	// Every server is reached at once, so that unreachable ones cost one timeout.
	addrs := append([]string{*writer}, readerAddrs...)
	servers := make([]*doctor.Server, len(addrs))
	closers := make([]func() error, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		role := "replica"
		if i == 0 {
			role = "writer"
		}
		wg.Go(func() {
			q, closeFn, err := doctor.Connect(ctx, addr, name, password, *timeout)
			closers[i] = closeFn
			servers[i] = doctor.NewServer(ctx, role, addr, q, err)
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range closers {
			if c != nil {
				_ = c()
			}
		}
	}()
	var reps []*doctor.Report
	failed := false
	for _, r := range servers[1:] {
		rep := doctor.Run(ctx, servers[0], r, doctor.Options{MaxLag: *maxLag, Accounts: *accountsFrom == "writer"})
		reps = append(reps, rep)
		failed = failed || rep.Failed()
	}
	if err := writeReports(stdout, reps, *format); err != nil {
		fmt.Fprintln(stderr, "fwdproxy doctor:", err)
		return 1
	}
	if failed {
		return 1
	}
	return 0
}

// writeReports prints one report as before, or several: text tables one
// after another, each under its replica's address, or a JSON array.
func writeReports(w io.Writer, reps []*doctor.Report, format string) error {
	if format == "json" {
		if len(reps) == 1 {
			return reps[0].WriteJSON(w)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(reps)
	}
	for i, rep := range reps {
		if len(reps) > 1 {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "== replica %d of %d: %s\n", i+1, len(reps), rep.Replica.Addr)
		}
		if err := rep.WriteText(w); err != nil {
			return err
		}
	}
	return nil
}
