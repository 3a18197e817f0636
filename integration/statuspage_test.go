package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fwdproxy/fwdproxy/integration/pair"
)

// TestStatusPageInBrowser loads the admin address's page in Debian's headless chromium against
// a running sandbox, after some forwarded writes and SESSION reads, and checks that every
// figure the page shows is what /status says. The screenshot goes to $FWDPROXY_SCREENSHOT (the
// one in docs/ was made so), else to the test's temporary directory.
func TestStatusPageInBrowser(t *testing.T) {
	pair.AptInstall(t, "chromium")
	browser := "/usr/lib/chromium/chromium" // Debian's /usr/bin/chromium is a wrapper script around it
	if _, err := os.Stat(browser); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	bin := pair.Binary(t)
	dir := filepath.Join(t.TempDir(), "sb")
	_, port, _ := net.SplitHostPort(pair.FreeAddr(t))
	_, adminPort, _ := net.SplitHostPort(pair.FreeAddr(t))
	if out, err := osexec.Command(bin, "sandbox", "up", "--dir", dir, "--port", port, "--admin-port", adminPort).CombinedOutput(); err != nil {
		t.Fatalf("sandbox up: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = osexec.Command(bin, "sandbox", "down", "--dir", dir).Run() })

	db, err := sql.Open("mysql", pair.DSN("127.0.0.1:"+port, "fwd", "fwdpass", "fwdtest"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exec(t, c, "SET aurora_replica_read_consistency = 'SESSION'")
	for i := 0; i < 5; i++ {
		exec(t, c, "INSERT INTO demo (note) VALUES ('status page')")
		one(t, c, "SELECT COUNT(*) FROM demo")
	}

	ctx, cancel := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(browser),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1100))
	defer cancel()
	ctx, cancel = chromedp.NewContext(ctx)
	defer cancel()
	admin := "http://127.0.0.1:" + adminPort
	// The first Run starts the browser, which lives as long as its context: no timeout there.
	if err := chromedp.Do(ctx, chromedp.Navigate(admin+"/")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 60*time.Second)
	defer tcancel()
	// Three samples: the per-second charts have rates.
	for {
		n, err := chromedp.Run(tctx, chromedp.Evaluate[int](`Number(document.body.dataset.samples || 0)`))
		if err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML.slice(0, 3000)`))
			t.Fatalf("the page's samples: %v; the page:\n%s", err, body)
		}
		if n >= 3 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	shown, err := chromedp.Run(tctx, chromedp.Evaluate[map[string]string](
		`Object.fromEntries([...document.querySelectorAll("[data-field]")].map(e => [e.dataset.field, e.textContent]))`))
	if err != nil {
		t.Fatal(err)
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(tctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return v
	}
	writers, readers, errText := text("#writers tbody"), text("#readers tbody"), text("#error")
	shot, err := chromedp.Run(tctx, chromedp.FullScreenshot(90))
	if err != nil {
		t.Fatal(err)
	}
	out := os.Getenv("FWDPROXY_SCREENSHOT")
	if out == "" {
		out = filepath.Join(t.TempDir(), "status-page.png")
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(shot))

	resp, err := http.Get(admin + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if errText != "" {
		t.Errorf("the page says: %s", errText)
	}
	if len(shown) < 8 {
		t.Fatalf("the page shows %d figures: %v", len(shown), shown)
	}
	// Nothing runs now, so the page's last sample and /status agree.
	for f, got := range shown {
		var v any = st
		for _, k := range strings.Split(f, ".") {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		want := fmt.Sprint(v)
		if v == nil || want == "" {
			want = "–"
		}
		if got != want {
			t.Errorf("the page shows %s = %q, /status says %q", f, got, want)
		}
	}
	if vars, _ := st["status_variables"].(map[string]any); fmt.Sprint(vars["Aurora_fwd_replica_dml_stmt_count"]) != "5" {
		t.Errorf("forwarded statements: %v, want the 5 inserts", vars["Aurora_fwd_replica_dml_stmt_count"])
	}
	if !strings.Contains(writers, fmt.Sprint(st["writer"])) || !strings.Contains(writers, "writer") {
		t.Errorf("the page's writers: %q, /status writer %v", writers, st["writer"])
	}
	if !strings.Contains(readers, fmt.Sprint(st["reader"])) {
		t.Errorf("the page's readers: %q, /status reader %v", readers, st["reader"])
	}
}
