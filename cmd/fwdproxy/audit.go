package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fwdproxy/fwdproxy/exposure"
	"github.com/fwdproxy/fwdproxy/lint"
	"github.com/fwdproxy/fwdproxy/proxy"
)

const auditUsage = `usage: fwdproxy audit report [--admin HOST:PORT] [--admin-token-file FILE] [--json]

Prints what a proxy in audit mode (serve --audit) recorded: the statements
write forwarding would reject or change, and the reads EVENTUAL would have
served stale (after the session's own write, within --audit-lag), by digest.
`

func auditMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "report" {
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	fs := flag.NewFlagSet("audit report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := fs.String("admin", "127.0.0.1:4001", "the audit proxy's admin address")
	tokenFile := fs.String("admin-token-file", "", "file holding the admin API's token (--admin-token of serve)")
	asJSON := fs.Bool("json", false, "print GET /audit's JSON as it came")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	body, err := fetchAudit(*admin, *tokenFile)
	if err != nil {
		fmt.Fprintln(stderr, "fwdproxy audit report:", err)
		return 1
	}
	if *asJSON {
		_, _ = stdout.Write(body)
		return 0
	}
	var rep proxy.AuditReport
	if err := json.Unmarshal(body, &rep); err != nil {
		fmt.Fprintln(stderr, "fwdproxy audit report: GET /audit:", err)
		return 1
	}
	printAudit(stdout, &rep)
	return 0
}

func fetchAudit(admin, tokenFile string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+admin+"/audit", nil)
	if err != nil {
		return nil, err
	}
	if tokenFile != "" {
		tok, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%s has no /audit: is it running serve --audit?", admin)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET /audit: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

func printAudit(w io.Writer, rep *proxy.AuditReport) {
	fmt.Fprintf(w, "Statements write forwarding would reject (code) or change (0): %d digests\n", len(rep.Findings))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CODE\tCOUNT\tOPERATION\tEXAMPLE")
	for _, f := range rep.Findings {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\n", f.Code, f.Count, f.Operation, lint.Shorten(f.Example, 70))
	}
	tw.Flush()
	fmt.Fprintln(w)
	printExposure(w, rep.Exposure)
}

// printExposure prints the stale-read exposure report (audit report, and
// lint --exposure-lag).
func printExposure(w io.Writer, x exposure.Report) {
	var exposed int
	for _, r := range x.Reads {
		if r.Exposed > 0 {
			exposed++
		}
	}
	lag := time.Duration(x.LagMS * float64(time.Millisecond))
	fmt.Fprintf(w, "Reads after the session's own write at EVENTUAL, simulated lag %s: %d of %d read digests need SESSION\n", lag, exposed, len(x.Reads))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NEEDS\tREADS\tEXPOSED\tIN-TX\tMAX-WAIT-MS\tPROGRAMS\tEXAMPLE")
	for _, r := range x.Reads {
		progs := strings.Join(r.Programs, ",")
		if progs == "" {
			progs = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t%s\t%s\n", r.Needs, r.Reads, r.Exposed, r.InTransaction, r.MaxWaitMS, progs, lint.Shorten(r.Example, 70))
	}
	tw.Flush()
}
