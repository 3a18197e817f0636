// Command fwdproxy is a MySQL proxy with the contract of Aurora MySQL write
// forwarding. This file parses flags and wires packages; nothing else.
package main

import (
	"fmt"
	"os"
)

const usage = `usage: fwdproxy <command> [flags]

commands:
  serve     run the proxy (fwdproxy serve --help)
  doctor    check a writer and replica for what fwdproxy and GTID replication need
  sandbox   a local writer, a lagging replica and fwdproxy in front (up|down|status)
  lint      check SQL files and query logs for what write forwarding rejects or changes
  audit     report what a proxy in audit mode recorded (audit report)
  replay    play a capture (serve --capture-file) through a fwdproxy and report what differs
  version   print the version
`

var version = "dev"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		os.Exit(serve(os.Args[2:]))
	case "doctor":
		os.Exit(doctorMain(os.Args[2:], os.Stdout, os.Stderr))
	case "sandbox":
		os.Exit(sandboxMain(os.Args[2:], os.Stdout, os.Stderr))
	case "lint":
		os.Exit(lintMain(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	case "audit":
		os.Exit(auditMain(os.Args[2:], os.Stdout, os.Stderr))
	case "replay":
		os.Exit(replayMain(os.Args[2:], os.Stdout, os.Stderr))
	case "version", "--version":
		fmt.Println("fwdproxy", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "fwdproxy: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}
