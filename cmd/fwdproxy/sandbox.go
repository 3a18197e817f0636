package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fwdproxy/fwdproxy/sandbox"
)

const sandboxUsage = `usage: fwdproxy sandbox up|down|status|switchover|failover [flags]

A secondary region on a laptop: a writer and --readers GTID replicas started
from the mariadbd (or mysqld) on PATH, each replica replicating through a link
of its own that delays the writer → replica direction by its --lag, and
fwdproxy in front of the replicas (every one a --reader), reaching the writer
through a link with a --rtt round trip. All on 127.0.0.1, running in the
background; pid files, logs and data in --dir.

  up      start everything, return when it is ready, print how to connect
  down    stop everything and remove --dir
  status  what runs, each server's role now, each replica's lag, fwdproxy's
          view of its readers and its /status
  switchover  make the first running server in the order writer, replica,
          replica2, … that is not the writer now the writer, with no data
          loss; the old writer and the other replicas replicate from it
          (fwdproxy has every server as a --writer candidate)
  failover --allow-data-loss  kill the writer and promote that server with
          what it has applied, as Aurora's FailoverGlobalCluster does

The account is fwd / fwdpass (ALL PRIVILEGES), the database fwdtest with a
table demo (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100)).

flags:
`

// sandboxMain runs `fwdproxy sandbox`.
func sandboxMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "fwdproxy sandbox: up, down or status?\n"+sandboxUsage)
		sandboxFlags("up", nil, nil, stderr)
		return 2
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, sandboxUsage)
		sandboxFlags("up", nil, nil, stdout)
		return 0
	case "link":
		return sandboxLink(args, stderr)
	case "up", "down", "status", "switchover", "failover":
	default:
		fmt.Fprintf(stderr, "fwdproxy sandbox: unknown command %q\n%s", cmd, sandboxUsage)
		sandboxFlags("up", nil, nil, stderr)
		return 2
	}
	var o sandbox.Options
	var lags string
	fs := sandboxFlags(cmd, &o, &lags, io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, sandboxUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "fwdproxy sandbox %s: %v\n", cmd, err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fwdproxy sandbox %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return 2
	}
	if cmd == "up" {
		if o.Readers < 1 || o.Readers > sandbox.MaxReaders {
			fmt.Fprintf(stderr, "fwdproxy sandbox up: --readers %d: from 1 to %d\n", o.Readers, sandbox.MaxReaders)
			return 2
		}
		var err error
		if o.Lags, err = sandbox.ParseLags(lags, o.Readers); err != nil {
			fmt.Fprintf(stderr, "fwdproxy sandbox up: %v\n", err)
			return 2
		}
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "fwdproxy sandbox %s: %v\n", cmd, err)
		return 1
	}
	// Messages name commands as this one was started (bin/fwdproxy from
	// make demo), which may not be on PATH.
	if strings.ContainsRune(os.Args[0], filepath.Separator) {
		sandbox.Command = os.Args[0]
	}
	switch cmd {
	case "up":
		exe, err := os.Executable()
		if err != nil {
			return fail(err)
		}
		o.Bin, o.Out = exe, stdout
		// Ctrl-C while starting stops what has started. Under `make demo |
		// tee` the same Ctrl-C ends tee: a progress line to the pipe
		// without a reader then fails instead of killing up half-way.
		signal.Ignore(syscall.SIGPIPE)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		defer stop()
		st, err := sandbox.Up(ctx, o)
		if err != nil {
			return fail(err)
		}
		down := sandbox.Command + " sandbox down"
		if def, _ := sandbox.DefaultDir(); o.Dir != "" && filepath.Clean(st.Dir) != filepath.Clean(def) {
			down += " --dir " + st.Dir
		}
		fmt.Fprint(stdout, st.ConnectHelp(down))
	case "down":
		// down is the cleanup of `make demo | tee`, run after Ctrl-C or a
		// closed terminal took the reader of its output away: it must finish
		// whatever happens to stdout, so output is best-effort (a write to a
		// pipe without a reader fails instead of killing the process). A
		// second Ctrl-C reaches it too (make demo runs it from its trap):
		// stopping half-way would leave servers running.
		signal.Ignore(syscall.SIGPIPE, syscall.SIGHUP, syscall.SIGINT)
		if err := sandbox.Down(o.Dir, stdout); err != nil {
			return fail(err)
		}
	case "switchover", "failover":
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := sandbox.ChangeWriter(ctx, o.Dir, cmd == "failover", o.AllowDataLoss, stdout); err != nil {
			return fail(err)
		}
	case "status":
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ok, err := sandbox.Status(ctx, o.Dir, stdout)
		if err != nil {
			return fail(err)
		}
		if !ok {
			return 1
		}
	}
	return 0
}

// sandboxFlags defines the flags of up, down and status (down and status
// take --dir only), printing their defaults to out when o is nil. up's
// --lag goes to lags, which needs --readers to be read (ParseLags).
func sandboxFlags(cmd string, o *sandbox.Options, lags *string, out io.Writer) *flag.FlagSet {
	if o == nil {
		o, lags = &sandbox.Options{}, new(string)
	}
	fs := flag.NewFlagSet("sandbox "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.Dir, "dir", "", "sandbox directory: data, pid files, logs (default ~/.fwdproxy-sandbox)")
	if cmd == "up" {
		fs.IntVar(&o.Readers, "readers", 1, fmt.Sprintf("GTID replicas, each behind its own lag link and each one of fwdproxy's readers (1 to %d)", sandbox.MaxReaders))
		fs.StringVar(lags, "lag", "200ms", "replication delay, writer → replica (one way): one for every replica, or a comma list of one per replica (0,50ms,200ms)")
		fs.DurationVar(&o.RTT, "rtt", 70*time.Millisecond, "round trip between fwdproxy and the writer (half each way)")
		fs.IntVar(&o.Port, "port", 4000, "fwdproxy's MySQL port on 127.0.0.1")
		fs.IntVar(&o.AdminPort, "admin-port", 0, "fwdproxy's admin HTTP port (default --port + 1)")
	}
	if cmd == "failover" {
		fs.BoolVar(&o.AllowDataLoss, "allow-data-loss", false, "promote the replica although the writes it has not applied are lost (required)")
	}
	if out != io.Discard {
		fs.SetOutput(out)
		fs.PrintDefaults()
	}
	return fs
}

// sandboxLink runs the hidden `fwdproxy sandbox link`: one latency link,
// until SIGTERM or SIGINT.
func sandboxLink(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandbox link", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var l sandbox.Link
	fs.StringVar(&l.Listen, "listen", "127.0.0.1:0", "address to listen on")
	fs.StringVar(&l.Upstream, "upstream", "", "address to relay to")
	fs.DurationVar(&l.DelayUp, "delay-up", 0, "delay of data towards upstream")
	fs.DurationVar(&l.DelayDown, "delay-down", 0, "delay of data from upstream")
	pidFile := fs.String("pid-file", "", "file to write the pid to once listening")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if l.Upstream == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "fwdproxy sandbox link: --upstream HOST:PORT is required, and no arguments")
		return 2
	}
	lg := log.New(stderr, "", log.LstdFlags|log.Lmicroseconds)
	l.Logf = lg.Printf
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if err := l.Start(); err != nil {
		lg.Printf("link: %v", err)
		return 1
	}
	if *pidFile != "" {
		if err := os.WriteFile(*pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			lg.Printf("link: %v", err)
			l.Close()
			return 1
		}
	}
	lg.Printf("link listening: %s", &l)
	s := <-sig
	lg.Printf("link stopping (%s)", s)
	l.Close()
	return 0
}
