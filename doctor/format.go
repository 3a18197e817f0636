package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteText prints the report as a table; each WARN or FAIL is followed by
// its fix lines.
func (r *Report) WriteText(out io.Writer) error {
	fmt.Fprintf(out, "fwdproxy doctor: writer %s, replica %s\n\n", r.Writer.Addr, r.Replica.Addr)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tSERVER\tCHECK\tRESULT")
	for _, x := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", x.Status, x.Server, x.Check, x.Detail)
		for _, f := range x.Fix {
			fmt.Fprintf(tw, "\t\t  fix:\t%s\n", f)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := "OK"
	if r.Failed() {
		verdict = "NOT READY"
	}
	_, err := fmt.Fprintf(out, "\n%d PASS, %d WARN, %d FAIL, %d INFO: %s\n", r.Counts.Pass, r.Counts.Warn, r.Counts.Fail, r.Counts.Info, verdict)
	return err
}

// WriteJSON prints the report as one JSON object.
func (r *Report) WriteJSON(out io.Writer) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
