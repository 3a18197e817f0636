package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fwdproxy/fwdproxy/lint"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

const lintUsage = `usage: fwdproxy lint [--format text|json] [--consistency ''|EVENTUAL|SESSION|GLOBAL] [--exposure-lag DURATION] FILE... | -

Checks SQL files, general query logs and slow query logs (detected per file;
- reads standard input) for statements fwdproxy rejects or runs differently
under write forwarding. Exit status: 0 nothing rejected, 1 some statement
would be rejected, 2 usage error or unreadable input. See docs/lint.md.

flags:
  --format text|json        text: FILE:LINE: CODE OPERATION: WHY (default);
                            json: one JSON array of findings
  --consistency LEVEL       the sessions' aurora_replica_read_consistency
                            (default SESSION; '' = forwarding off)
  --exposure-lag DURATION   also report the reads EVENTUAL would serve stale
                            from a reader DURATION behind (e.g. 500ms), by
                            digest, as fwdproxy audit report does; needs
                            general logs with timestamps. With --format json
                            the output is {"findings": [...], "exposure": {...}}
  --ansi-quotes             lex with sql_mode ANSI_QUOTES
  --no-backslash-escapes    lex with sql_mode NO_BACKSLASH_ESCAPES
`

// lintMain runs `fwdproxy lint`; it returns the exit status.
func lintMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lint", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	format := fs.String("format", "text", "")
	cons := fs.String("consistency", "SESSION", "")
	ansi := fs.Bool("ansi-quotes", false, "")
	nbe := fs.Bool("no-backslash-escapes", false, "")
	lag := fs.Duration("exposure-lag", -1, "")
	usageErr := func(msg string) int {
		fmt.Fprintf(stderr, "fwdproxy lint: %s (fwdproxy lint --help for usage)\n", msg)
		return 2
	}
	// Flags may come before or after the files.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, lintUsage)
				return 0
			}
			return usageErr(err.Error())
		}
		if fs.NArg() == 0 {
			break
		}
		if n := len(args) - fs.NArg(); n > 0 && args[n-1] == "--" {
			files = append(files, fs.Args()...) // all files after --
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if *format != "text" && *format != "json" {
		return usageErr(fmt.Sprintf("--format must be text or json, got %q", *format))
	}
	level, ok := lint.ParseLevel(*cons)
	if !ok {
		return usageErr(fmt.Sprintf("--consistency must be '', EVENTUAL, SESSION or GLOBAL, got %q", *cons))
	}
	if len(files) == 0 {
		return usageErr("no input: name files, or - for standard input")
	}
	withExposure := *lag >= 0
	// Open everything first: an unreadable file stops the run before any output.
	type input struct {
		name string
		r    io.Reader
	}
	var inputs []input
	defer func() {
		for _, in := range inputs {
			if c, ok := in.r.(io.Closer); ok {
				c.Close()
			}
		}
	}()
	stdinUsed := false
	for _, name := range files {
		if name == "-" {
			if stdinUsed {
				return usageErr("- (standard input) given twice")
			}
			stdinUsed = true
			inputs = append(inputs, input{"<stdin>", io.NopCloser(stdin)})
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			return usageErr(strings.TrimPrefix(err.Error(), "open "))
		}
		inputs = append(inputs, input{name, f})
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return usageErr(name + ": is a directory")
		}
	}

	cfg := lint.Config{Consistency: level, Options: lintOptions(*ansi, *nbe)}
	var exp *lint.Exposure
	if withExposure {
		// The report reads each input a second time, at EVENTUAL.
		exp = lint.NewExposure(cfg, *lag)
		for i, in := range inputs {
			data, err := io.ReadAll(in.r)
			if err == nil {
				err = exp.Add(in.name, bytes.NewReader(data))
			}
			if err != nil {
				fmt.Fprintf(stderr, "fwdproxy lint: %s: %v\n", in.name, err)
				return 2
			}
			inputs[i].r = bytes.NewReader(data)
		}
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	rejected, n := false, 0
	emit := func(f lint.Finding) {
		if f.Severity == lint.SeverityError {
			rejected = true
		}
		if *format == "json" {
			if n == 0 {
				if withExposure {
					out.WriteString(`{"findings": `)
				}
				out.WriteString("[\n  ")
			} else {
				out.WriteString(",\n  ")
			}
			out.Write(f.JSON())
		} else {
			out.WriteString(f.Text())
			out.WriteByte('\n')
		}
		n++
	}
	for _, in := range inputs {
		if err := lint.Run(in.name, in.r, cfg, emit); err != nil {
			out.Flush()
			fmt.Fprintf(stderr, "fwdproxy lint: %s: %v\n", in.name, err)
			return 2
		}
	}
	switch {
	case *format == "json" && withExposure:
		if n == 0 {
			out.WriteString(`{"findings": []`)
		} else {
			out.WriteString("\n]")
		}
		b, _ := json.MarshalIndent(exp.Report(), "", "  ")
		fmt.Fprintf(out, ",\n\"exposure\": %s}\n", b)
	case *format == "json":
		if n == 0 {
			out.WriteString("[]\n")
		} else {
			out.WriteString("\n]\n")
		}
	case withExposure:
		if n > 0 {
			out.WriteByte('\n')
		}
		printExposure(out, exp.Report())
	}
	if rejected {
		return 1
	}
	return 0
}

func lintOptions(ansi, nbe bool) sqlclass.Options {
	return sqlclass.Options{ANSIQuotes: ansi, NoBackslashEscapes: nbe}
}
