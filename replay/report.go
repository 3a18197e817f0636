package replay

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/fwdproxy/fwdproxy/capture"
)

// Report is what a replay found.
type Report struct {
	Sessions   int     `json:"sessions"`
	Replayed   int     `json:"replayed"` // commands sent and compared
	DurationMS float64 `json:"duration_ms"`
	// Skipped: commands not replayed, by why.
	Skipped map[string]int `json:"skipped,omitempty"`
	// Failures: sessions that could not go on (a failed connect, a lost
	// connection), with the command they stopped at.
	Failures []string `json:"failures,omitempty"`
	// Differences counts commands whose result differs from the capture's.
	Differences int `json:"differences"`
	// Diffs groups them by digest and what differed.
	Diffs []Diff `json:"diffs,omitempty"`
	// Errors are the errors the replay got, by code and digest, with how
	// often the capture got the same.
	Errors []ErrorCount `json:"errors,omitempty"`
	// Digests: latency per digest, captured against replayed.
	Digests []Latency `json:"digests"`

	mu      sync.Mutex
	diffs   map[diffKey]*Diff
	errs    map[errKey]*ErrorCount
	latency map[string]*Latency
}

// Diff is one kind of difference (rows, affected or error) of one digest.
type Diff struct {
	Digest  string `json:"digest"`
	What    string `json:"what"` // rows, affected or error
	Count   int    `json:"count"`
	Example string `json:"example"`
	// Samples: the first few, as captured → replayed.
	Samples []Sample `json:"samples"`
}

// Sample is one differing command.
type Sample struct {
	Session  uint32 `json:"session"`
	Captured int64  `json:"captured"`
	Replayed int64  `json:"replayed"`
}

// ErrorCount is one error code of one digest.
type ErrorCount struct {
	Code     uint16 `json:"code"`
	Digest   string `json:"digest"`
	Count    int    `json:"count"`    // in the replay
	Captured int    `json:"captured"` // of the same commands, in the capture
	Example  string `json:"example"`
}

// Latency compares the time of one command (query, prepare, execute…) of
// one digest in the capture and in the replay.
type Latency struct {
	Command      string  `json:"command"`
	Digest       string  `json:"digest"`
	Count        int     `json:"count"`
	CapturedMS   float64 `json:"captured_mean_ms"`
	ReplayedMS   float64 `json:"replayed_mean_ms"`
	Ratio        float64 `json:"ratio"` // replayed / captured
	capUS, repUS int64
}

type diffKey struct{ digest, what string }
type errKey struct {
	code   uint16
	digest string
}

const maxSamples = 5

func newReport() *Report {
	return &Report{Skipped: map[string]int{}, diffs: map[diffKey]*Diff{}, errs: map[errKey]*ErrorCount{}, latency: map[string]*Latency{}}
}

func (r *Report) skip(why string) {
	r.mu.Lock()
	r.Skipped[why]++
	r.mu.Unlock()
}

func (r *Report) failed(session uint32, why string) {
	r.mu.Lock()
	r.Failures = append(r.Failures, fmt.Sprintf("session %d: %s", session, why))
	r.mu.Unlock()
}

// add compares one replayed command's result with the captured one.
func (r *Report) add(rec capture.Record, got capture.Result) {
	d := digestOf(rec)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Replayed++
	lk := rec.Name + " " + d
	l := r.latency[lk]
	if l == nil {
		l = &Latency{Command: rec.Name, Digest: d}
		r.latency[lk] = l
	}
	want := rec.Result
	if got.Error != 0 {
		k := errKey{got.Error, d}
		e := r.errs[k]
		if e == nil {
			e = &ErrorCount{Code: got.Error, Digest: d, Example: rec.SQL}
			r.errs[k] = e
		}
		e.Count++
		if want != nil && want.Error == got.Error {
			e.Captured++
		}
	}
	if want == nil || !answered(rec.Name) {
		return // the session ended before the capture saw the result, or none comes
	}
	l.Count++
	l.capUS += want.DurUS
	l.repUS += got.DurUS
	diffs := differences(*want, got)
	for _, c := range diffs {
		k := diffKey{d, c.what}
		df := r.diffs[k]
		if df == nil {
			df = &Diff{Digest: d, What: c.what, Example: rec.SQL}
			r.diffs[k] = df
		}
		df.Count++
		if len(df.Samples) < maxSamples {
			df.Samples = append(df.Samples, Sample{Session: rec.Session, Captured: c.captured, Replayed: c.replayed})
		}
	}
	if len(diffs) > 0 {
		r.Differences++
	}
}

// answered says the command has a response, so a time to compare.
func answered(name string) bool { return name != "close_stmt" && name != "send_long_data" }

type difference struct {
	what               string
	captured, replayed int64
}

// differences says how got differs from want: in the error code, or
// (with the same error or none) in rows returned and affected rows.
func differences(want, got capture.Result) []difference {
	if want.Error != got.Error {
		return []difference{{"error", int64(want.Error), int64(got.Error)}}
	}
	var out []difference
	if want.Rows != got.Rows {
		out = append(out, difference{"rows", want.Rows, got.Rows})
	}
	if want.Affected != got.Affected {
		out = append(out, difference{"affected", int64(want.Affected), int64(got.Affected)})
	}
	return out
}

// finish turns the maps into sorted lists.
func (r *Report) finish(sessions int, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Sessions, r.DurationMS = sessions, ms(took.Microseconds())
	for _, d := range r.diffs {
		r.Diffs = append(r.Diffs, *d)
	}
	sort.Slice(r.Diffs, func(i, j int) bool {
		a, b := r.Diffs[i], r.Diffs[j]
		return a.Count > b.Count || a.Count == b.Count && a.Digest+a.What < b.Digest+b.What
	})
	for _, e := range r.errs {
		r.Errors = append(r.Errors, *e)
	}
	sort.Slice(r.Errors, func(i, j int) bool {
		a, b := r.Errors[i], r.Errors[j]
		return a.Count > b.Count || a.Count == b.Count && (a.Code < b.Code || a.Code == b.Code && a.Digest < b.Digest)
	})
	for _, l := range r.latency {
		if l.Count > 0 {
			l.CapturedMS, l.ReplayedMS = ms(l.capUS/int64(l.Count)), ms(l.repUS/int64(l.Count))
			if l.capUS > 0 {
				l.Ratio = float64(l.repUS) / float64(l.capUS)
			}
		}
		r.Digests = append(r.Digests, *l)
	}
	sort.Slice(r.Digests, func(i, j int) bool {
		a, b := r.Digests[i], r.Digests[j]
		return a.Count > b.Count || a.Count == b.Count && a.Command+a.Digest < b.Command+b.Digest
	})
}

func ms(us int64) float64 { return float64(us) / 1000 }

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "Replayed %d commands of %d sessions in %.0f ms: %d differ from the capture\n",
		r.Replayed, r.Sessions, r.DurationMS, r.Differences)
	for _, f := range r.Failures {
		fmt.Fprintln(w, "FAILED", f)
	}
	var why []string
	for k := range r.Skipped {
		why = append(why, k)
	}
	sort.Strings(why)
	for _, k := range why {
		fmt.Fprintf(w, "skipped %d: %s\n", r.Skipped[k], k)
	}
	if len(r.Diffs) > 0 {
		fmt.Fprintln(w, "\nDifferences (captured -> replayed):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "WHAT\tCOUNT\tSAMPLES\tDIGEST")
		for _, d := range r.Diffs {
			var s []string
			for _, x := range d.Samples {
				s = append(s, fmt.Sprintf("%d->%d", x.Captured, x.Replayed))
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", d.What, d.Count, strings.Join(s, " "), shorten(d.Digest))
		}
		tw.Flush()
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "\nErrors in the replay:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CODE\tCOUNT\tIN-CAPTURE\tDIGEST")
		for _, e := range r.Errors {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%s\n", e.Code, e.Count, e.Captured, shorten(e.Digest))
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\nLatency per digest (mean ms):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COUNT\tCAPTURED\tREPLAYED\tRATIO\tCOMMAND\tDIGEST")
	for _, l := range r.Digests {
		fmt.Fprintf(tw, "%d\t%.3f\t%.3f\t%.2f\t%s\t%s\n", l.Count, l.CapturedMS, l.ReplayedMS, l.Ratio, l.Command, shorten(l.Digest))
	}
	tw.Flush()
}
