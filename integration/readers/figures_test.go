package readers

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/fwdproxy/fwdproxy/proxy"
)

// TestFiguresPerReaderAndTotals: /status and /metrics count each read once, on the reader
// that served it, so that the per-reader reads add up to the proxy's total of reads served by
// a reader and the per-reader waits to Aurora_fwd_replica_read_wait_count (which SHOW STATUS
// keeps as totals). The mix has the places a read is placed without being a read of its own
// (a START TRANSACTION WITH CONSISTENT SNAPSHOT that waits for the session's writes) and
// reads that wait long enough to be placed again between the slices of their wait.
func TestFiguresPerReaderAndTotals(t *testing.T) {
	srv, addr := startProxy(t, nil)
	createTable(t, "t_figures")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := openDB(t, addr).Conn(ctx)
	must(t, err)
	defer c.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := c.ExecContext(ctx, q, args...)
		must(t, err)
	}
	read := func(id int) {
		t.Helper()
		var v int64
		if err := c.QueryRowContext(ctx, "SELECT v FROM t_figures WHERE id = ?", id).Scan(&v); err != nil && err != sql.ErrNoRows {
			t.Fatal(err)
		}
	}
	exec("SET SESSION aurora_replica_read_consistency = 'session'")
	exec("DELETE FROM t_figures")
	id := 0
	writeRead := func() {
		t.Helper()
		id++
		exec("INSERT INTO t_figures (id, v) VALUES (?, ?)", id, id)
		read(id)
	}
	for range 20 {
		writeRead()
	}
	for range 3 {
		id++
		exec("INSERT INTO t_figures (id, v) VALUES (?, ?)", id, id)
		exec("START TRANSACTION WITH CONSISTENT SNAPSHOT")
		read(id)
		exec("COMMIT")
	}
	exec("SET SESSION aurora_replica_read_consistency = 'eventual'")
	for range 20 {
		read(1)
	}
	exec("SET SESSION aurora_replica_read_consistency = 'global'")
	for range 5 {
		read(1)
	}
	// Every replica a second behind: each SESSION read after a write waits through several
	// slices, and is placed again between them.
	exec("SET SESSION aurora_replica_read_consistency = 'session'")
	for _, r := range thePair.Replicas {
		must(t, thePair.Script("delay", r.Name, "1"))
	}
	t.Cleanup(func() {
		for _, r := range thePair.Replicas {
			if err := thePair.Script("delay", r.Name, "0"); err != nil {
				t.Error(err)
			}
		}
		must(t, thePair.WaitReplicated(context.Background()))
	})
	for range 2 {
		writeRead()
	}

	st := srv.Status()
	var reads, waits uint64
	for _, r := range st.Readers {
		reads += uint64(r.Reads)
		waits += uint64(r.Waits)
	}
	total := st.StatusVariables["Fwdproxy_reads_reader_count"]
	t.Logf("per reader %+v; total reads %d, waits %d", st.Readers, total, st.StatusVariables["Aurora_fwd_replica_read_wait_count"])
	if want := uint64(20 + 3 + 20 + 5 + 2); total != want {
		t.Errorf("Fwdproxy_reads_reader_count %d, want %d", total, want)
	}
	if reads != total {
		t.Errorf("/status: the readers' reads add up to %d, the total is %d", reads, total)
	}
	if w := st.StatusVariables["Aurora_fwd_replica_read_wait_count"]; waits != w {
		t.Errorf("/status: the readers' waits add up to %d, Aurora_fwd_replica_read_wait_count is %d", waits, w)
	}
	// SHOW STATUS keeps the totals.
	var name string
	var shown uint64
	must(t, c.QueryRowContext(ctx, "SHOW STATUS LIKE 'Fwdproxy_reads_reader_count'").Scan(&name, &shown))
	if shown != total {
		t.Errorf("SHOW STATUS %s = %d, /status %d", name, shown, total)
	}

	// /metrics: fwdproxy_reader_reads_total by reader against the reads served by a reader.
	perReader, servedByReader := metricsReads(t, srv)
	if perReader != servedByReader || servedByReader != float64(total) {
		t.Errorf("/metrics: fwdproxy_reader_reads_total adds up to %v, fwdproxy_read_duration_seconds{served_by=\"reader\"} counts %v, /status %d",
			perReader, servedByReader, total)
	}
}

// metricsReads sums fwdproxy_reader_reads_total over the readers, and returns the count of
// fwdproxy_read_duration_seconds served by a reader.
func metricsReads(t *testing.T, srv *proxy.Server) (perReader, servedByReader float64) {
	t.Helper()
	families, err := srv.Metrics.Registry().Gather()
	must(t, err)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "fwdproxy_reader_reads_total":
				perReader += m.GetCounter().GetValue()
			case "fwdproxy_read_duration_seconds":
				for _, l := range m.GetLabel() {
					if l.GetName() == "served_by" && l.GetValue() == "reader" {
						servedByReader += float64(m.GetHistogram().GetSampleCount())
					}
				}
			}
		}
	}
	return perReader, servedByReader
}
