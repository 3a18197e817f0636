package proxy_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwdproxy/fwdproxy/capture"
	"github.com/fwdproxy/fwdproxy/proxy"
	fb "github.com/fwdproxy/fwdproxy/proxy/internal/fakebackend"
)

// The capture hook records each command with what the client got, from a
// backend or from the proxy itself, and never a password.
func TestFakeCapture(t *testing.T) {
	file := filepath.Join(t.TempDir(), "capture.jsonl")
	r := startRig(t, func(c *proxy.Config) { c.CaptureFile = file })
	r.writer.On("UPDATE t SET v = 1", fb.OK{AffectedRows: 2, GTID: "0-1-10"})
	r.reader.On("SELECT v FROM t", fb.Rows{Columns: []string{"v"}, Values: [][]any{{1}, {2}, {3}}})
	r.reader.On("SELECT nope", fb.Err{Code: 1054, Message: "Unknown column"})
	c := r.client(t, "")
	exec(t, c, "UPDATE t SET v = 1")
	query(t, c, "SELECT v FROM t")
	_, _ = c.ExecContext(t.Context(), "SELECT nope")
	_, _ = c.ExecContext(t.Context(), "CREATE USER bob IDENTIFIED BY 'pw-secret'") // refused by the proxy
	// The connect and the commands before the last: a command is recorded
	// once its response went out, so the last may still be on its way.
	if st := r.srv.Status().Capture; st == nil || st.Records < 4 || st.Stopped {
		t.Errorf("status %+v", st)
	}
	c.Close()
	r.srv.Close() // flushes the file
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("secret")) {
		t.Errorf("the capture holds a password:\n%s", data)
	}
	rd, err := capture.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := rd.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rec := range recs {
		line := string(rec.Kind) + " " + rec.User + rec.SQL
		if res := rec.Result; res != nil {
			line += fmt.Sprintf(" %d %d %d", res.Error, res.Affected, res.Rows)
		}
		got = append(got, line)
	}
	want := []string{
		"connect app",
		"command UPDATE t SET v = 1 0 2 0",
		"command SELECT v FROM t 0 0 3",
		"command SELECT nope 1054 0 0",
		"command CREATE USER bob IDENTIFIED BY '<redacted>' 1235 0 0",
		"disconnect ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("capture:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
