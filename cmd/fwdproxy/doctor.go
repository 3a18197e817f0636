package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/fwdproxy/fwdproxy/doctor"
)

const doctorUsage = `usage: fwdproxy doctor --writer HOST:PORT --reader HOST:PORT --user NAME:PASSWORD [--max-lag 5s] [--format text|json]

Checks that the writer and its GTID replica are set up as fwdproxy needs them and
prints a PASS/WARN/FAIL table; every WARN and FAIL carries the statement or config
line that fixes it. Exit status: 0 no FAIL, 1 some FAIL, 2 usage error.

flags:
`

// doctorMain runs `fwdproxy doctor`.
func doctorMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	writer := fs.String("writer", "", "writer address HOST:PORT, or a Unix socket path")
	reader := fs.String("reader", "", "reader (GTID replica) address HOST:PORT, or a Unix socket path")
	user := fs.String("user", "", "NAME:PASSWORD of the account fwdproxy logs in to the backends with")
	maxLag := fs.Duration("max-lag", 5*time.Second, "replica lag above this fails")
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
	case *writer == "" || *reader == "":
		return usageErr("--writer and --reader are required")
	case !strings.Contains(*user, ":"):
		return usageErr("--user NAME:PASSWORD is required")
	case *format != "text" && *format != "json":
		return usageErr(fmt.Sprintf("--format %q: want text or json", *format))
	case *maxLag < 0 || *timeout <= 0:
		return usageErr("--max-lag must be >= 0 and --timeout > 0")
	}
	name, password, _ := strings.Cut(*user, ":")

	ctx, cancel := context.WithTimeout(context.Background(), 6**timeout)
	defer cancel()
	// Both servers are reached at once, so that two unreachable ones cost one timeout.
	servers := make([]*doctor.Server, 2)
	closers := make([]func() error, 2)
	var wg sync.WaitGroup
	for i, t := range []struct{ role, addr string }{{"writer", *writer}, {"replica", *reader}} {
		wg.Go(func() {
			q, closeFn, err := doctor.Connect(ctx, t.addr, name, password, *timeout)
			closers[i] = closeFn
			servers[i] = doctor.NewServer(ctx, t.role, t.addr, q, err)
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
	rep := doctor.Run(ctx, servers[0], servers[1], doctor.Options{MaxLag: *maxLag})
	var err error
	if *format == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "fwdproxy doctor:", err)
		return 1
	}
	if rep.Failed() {
		return 1
	}
	return 0
}
