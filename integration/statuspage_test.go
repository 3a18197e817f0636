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
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fwdproxy/fwdproxy/integration/pair"
)

// TestStatusPageInBrowser loads the admin address's page in Debian's headless chromium against
// running sandboxes, after forwarded writes, SESSION reads and a statement forwarding rejects,
// and checks that what the page shows is what /status says: the figures, each server's state
// and lag (with several readers and with one, which has no reader endpoint), a lag line per
// reader, the topology's links with their lag and round trip, the errors by kind, and the roles
// after a switchover. The screenshot of three readers goes to $FWDPROXY_SCREENSHOT (the one in
// docs/ was made so), else to the test's temporary directory.
func TestStatusPageInBrowser(t *testing.T) {
	pair.AptInstall(t, "chromium")
	browser := "/usr/lib/chromium/chromium" // Debian's /usr/bin/chromium is a wrapper script around it
	if _, err := os.Stat(browser); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	bin := pair.Binary(t)

	t.Run("three readers", func(t *testing.T) {
		sb := startSandbox(t, bin, "--readers", "3", "--lag", "0,50ms,200ms")
		sb.traffic(t)
		p := openPage(t, browser, sb.admin)
		n := p.loaded(t, sb, 20)
		v, st := p.matching(t)
		if vars, _ := st["status_variables"].(map[string]any); fmt.Sprint(vars["Aurora_fwd_replica_dml_stmt_count"]) != fmt.Sprint(5+n) {
			t.Errorf("forwarded statements: %v, want the %d inserts", vars["Aurora_fwd_replica_dml_stmt_count"], 5+n)
		}
		if got := v.LagSeries; !slices.Equal(got, []string{"replica", "replica2", "replica3"}) {
			t.Errorf("the lag chart's lines: %v, want one per reader", got)
		}
		if v.Servers["writer"].State != "writer" {
			t.Errorf("the writer's box: %+v", v.Servers["writer"])
		}
		if len(v.Links) != 4 {
			t.Errorf("the page draws links %v, want link-writer and three replication links", v.Links)
		}
		if v.Errors["Fwdproxy_rejected_1235"] != "1" {
			t.Errorf("errors by kind: %v, want the rejected DDL (1235)", v.Errors)
		}
		p.screenshot(t, os.Getenv("FWDPROXY_SCREENSHOT"))
		sb.clean(t, "replica", "replica2", "replica3")

		if out, err := osexec.Command(bin, "sandbox", "switchover", "--dir", sb.dir).CombinedOutput(); err != nil {
			t.Fatalf("sandbox switchover: %v\n%s", err, out)
		}
		pair.WaitUntil(t, "the page's writer", "replica", func() string {
			v, _ := p.view(t)
			for name, s := range v.Servers {
				if s.State == "writer" {
					return name
				}
			}
			return "none"
		})
		v, _ = p.matching(t)
		if v.Servers["writer"].State != "replica" {
			t.Errorf("the old writer's box after the switchover: %+v", v.Servers["writer"])
		}
		if _, direct := v.Links["direct"]; !direct || !strings.Contains(v.Links["link-writer"].Text, "not in use") {
			t.Errorf("after the switchover the page draws %v, want link-writer not in use and a direct line to the writer", v.Links)
		}
		sb.clean(t, "replica2", "replica3") // replica is the writer now
	})

	t.Run("one reader", func(t *testing.T) {
		sb := startSandbox(t, bin)
		sb.traffic(t)
		p := openPage(t, browser, sb.admin)
		p.loaded(t, sb, 10)
		v, st := p.matching(t)
		if st["readers"] != nil || st["reader_health"] == nil {
			t.Errorf("/status of one reader: readers %v, reader_health %v", st["readers"], st["reader_health"])
		}
		if got := v.LagSeries; !slices.Equal(got, []string{"replica"}) {
			t.Errorf("the lag chart's lines: %v, want the one reader's", got)
		}
		// Its line went up: some samples caught the replica 200 ms behind.
		if v.LagMax <= 1 {
			t.Errorf("the lag chart's top is %d ms: no lag seen while writing to a replica 200ms behind", v.LagMax)
		}
		sb.clean(t, "replica")
		// A topology file that went bad is said so on the page.
		if err := os.WriteFile(filepath.Join(sb.dir, "topology.json"), []byte("{half"), 0o600); err != nil {
			t.Fatal(err)
		}
		pair.WaitUntil(t, "the page's topology error", "not JSON", func() string {
			v, _ := p.view(t)
			if strings.HasSuffix(v.TopologyError, "not JSON") {
				return "not JSON"
			}
			return v.TopologyError
		})
	})
}

// sandbox is one `fwdproxy sandbox up` for a test, stopped at its end.
type sandbox struct {
	dir, port, admin string
	replicas         []pair.Replica
}

func startSandbox(t *testing.T, bin string, args ...string) *sandbox {
	t.Helper()
	sb := &sandbox{dir: filepath.Join(t.TempDir(), "sb")}
	_, sb.port, _ = net.SplitHostPort(pair.FreeAddr(t))
	_, adminPort, _ := net.SplitHostPort(pair.FreeAddr(t))
	sb.admin = "http://127.0.0.1:" + adminPort
	args = append([]string{"sandbox", "up", "--dir", sb.dir, "--port", sb.port, "--admin-port", adminPort}, args...)
	if out, err := osexec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("sandbox up: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = osexec.Command(bin, "sandbox", "down", "--dir", sb.dir).Run() })
	b, err := os.ReadFile(filepath.Join(sb.dir, "sandbox.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Replicas []struct {
			Name, Addr string
			ServerID   uint32 `json:"server_id"`
		}
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Replicas {
		sb.replicas = append(sb.replicas, pair.Replica{Name: r.Name, Addr: r.Addr, ServerID: r.ServerID})
	}
	return sb
}

// traffic is five forwarded INSERTs, each read back at SESSION, and a DDL
// statement, which forwarding rejects (1235, not supported, as on Aurora).
func (sb *sandbox) traffic(t *testing.T) {
	t.Helper()
	db, err := sql.Open("mysql", pair.DSN("127.0.0.1:"+sb.port, "fwd", "fwdpass", "fwdtest"))
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
	if _, err := c.ExecContext(context.Background(), "CREATE TABLE status_page (id INT)"); err == nil {
		t.Error("CREATE TABLE through the proxy succeeded; forwarding rejects DDL")
	}
}

// loaded runs sb.load until the page has samples samples, so that its
// charts have something to show, and returns the rows inserted.
func (p *page) loaded(t *testing.T, sb *sandbox, samples int) int {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	loaded := make(chan int)
	go func() { loaded <- sb.load(ctx) }()
	for v, _ := p.view(t); v.Samples < samples; v, _ = p.view(t) {
		time.Sleep(time.Second)
	}
	stop()
	return <-loaded
}

// load inserts and reads back at SESSION, and reads at EVENTUAL, until ctx
// ends, and returns how many rows it inserted.
func (sb *sandbox) load(ctx context.Context) int {
	db, err := sql.Open("mysql", pair.DSN("127.0.0.1:"+sb.port, "fwd", "fwdpass", "fwdtest"))
	if err != nil {
		return 0
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	n := 0
	for ctx.Err() == nil {
		for _, level := range []string{"SESSION", "EVENTUAL"} {
			var count int
			if _, err := db.Exec("SET aurora_replica_read_consistency = '" + level + "'"); err != nil {
				return n
			}
			if _, err := db.Exec("INSERT INTO demo (note) VALUES ('status page load')"); err != nil {
				return n
			}
			n++
			_ = db.QueryRow("SELECT COUNT(*) FROM demo").Scan(&count)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return n
}

// clean checks that the named replicas wrote nothing of their own.
func (sb *sandbox) clean(t *testing.T, names ...string) {
	t.Helper()
	p := &pair.Pair{RootUser: "fwd", RootPassword: "fwdpass"}
	for _, r := range sb.replicas {
		if slices.Contains(names, r.Name) {
			p.Replicas = append(p.Replicas, r)
		}
	}
	if err := p.CheckReplicaClean(); err != nil {
		t.Error(err)
	}
}

// page is the status page open in chromium.
type page struct {
	ctx   context.Context
	admin string
}

func openPage(t *testing.T, browser, admin string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(browser),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000))
	t.Cleanup(cancel)
	ctx, cancel = chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	// The first Run starts the browser, which lives as long as its context: no timeout there.
	if err := chromedp.Do(ctx, chromedp.Navigate(admin+"/")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return &page{ctx: ctx, admin: admin}
}

// pageView is what the page shows, read from its DOM.
type pageView struct {
	Samples       int
	Error         string
	TopologyError string
	Fields        map[string]string
	Servers       map[string]struct {
		State, Lag, Row string
	}
	Links     map[string]struct{ Label, Text string }
	Errors    map[string]string
	LagSeries []string
	LagPoints []int // each lag line's points
	LagMax    int   // the lag chart's top, in ms (at least 1)
}

const readPage = `({
  samples: Number(document.body.dataset.samples || 0),
  error: document.getElementById("error").textContent,
  topologyError: document.getElementById("topology-error").textContent,
  fields: Object.fromEntries([...document.querySelectorAll("[data-field]")].map(e => [e.dataset.field, e.textContent])),
  servers: Object.fromEntries([...document.querySelectorAll("#topology [data-server]")].map(g => [g.dataset.server,
    {state: g.dataset.state, lag: g.dataset.lag, row: [...document.querySelector("#servers tr[data-server='" + g.dataset.server + "']").children].map(td => td.textContent).join("|")}])),
  links: Object.fromEntries([...document.querySelectorAll("#topology [data-link]")].map(g => [g.dataset.link, {label: g.dataset.label || "", text: g.textContent}])),
  errors: Object.fromEntries([...document.querySelectorAll("#errors tr[data-kind]")].map(tr => [tr.dataset.kind, tr.children[1].textContent])),
  lagSeries: [...document.querySelectorAll("#charts .card:first-child [data-series]")].map(s => s.dataset.series),
  lagPoints: [...document.querySelectorAll("#charts .card:first-child polyline")].map(l => l.getAttribute("points").split(" ").length),
  lagMax: Number(document.querySelector("#charts .card:first-child .max").textContent.replace("max ", "")),
})`

func (p *page) view(t *testing.T) (pageView, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[pageView](readPage))
}

// matching waits for the page's next samples and compares it with /status
// (fetched after it), until they agree: the page samples every second and
// the monitor moves lag and state between the two.
func (p *page) matching(t *testing.T) (pageView, map[string]any) {
	t.Helper()
	var diffs []string
	var v pageView
	var st map[string]any
	for attempt := 0; attempt < 10; attempt++ {
		before := v.Samples
		for v.Samples < max(3, before+1) {
			var err error
			if v, err = p.view(t); err != nil {
				t.Fatalf("the page: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		st = getStatus(t, p.admin)
		if diffs = compare(v, st); len(diffs) == 0 {
			return v, st
		}
	}
	t.Fatalf("the page does not show what /status says:\n  %s", strings.Join(diffs, "\n  "))
	return v, st
}

// compare lists what the page shows otherwise than /status says.
func compare(v pageView, st map[string]any) []string {
	var diffs []string
	differ := func(format string, a ...any) { diffs = append(diffs, fmt.Sprintf(format, a...)) }
	if v.Error != "" {
		differ("the page says: %s", v.Error)
	}
	if len(v.Fields) < 8 {
		differ("the page shows %d figures: %v", len(v.Fields), v.Fields)
	}
	for f, got := range v.Fields {
		var x any = st
		for _, k := range strings.Split(f, ".") {
			m, _ := x.(map[string]any)
			x = m[k]
		}
		want := fmt.Sprint(x)
		if x == nil || want == "" {
			want = "–"
		}
		if got != want {
			differ("%s: the page shows %q, /status says %v", f, got, x)
		}
	}
	// A lag line per reader, a point per sample.
	for i, n := range v.LagPoints {
		if n != v.Samples {
			differ("lag line %d has %d points for %d samples", i, n, v.Samples)
		}
	}
	// Each topology server: its box, its row, and the reader figures of its address.
	topo, _ := st["topology"].(map[string]any)
	servers, _ := topo["servers"].([]any)
	if len(v.Servers) != len(servers) {
		differ("the page draws servers %v, /status topology has %v", v.Servers, servers)
	}
	readers, _ := st["readers"].([]any)
	if h, ok := st["reader_health"].(map[string]any); ok {
		readers = []any{map[string]any{"addr": st["reader"], "state": h["state"], "lag_ms": h["lag_ms"]}}
	}
	for _, s := range servers {
		s, _ := s.(map[string]any)
		name, addr := fmt.Sprint(s["name"]), fmt.Sprint(s["addr"])
		got, ok := v.Servers[name]
		if !ok {
			differ("no box for %s", name)
			continue
		}
		if !strings.Contains(got.Row, addr) || !strings.Contains(got.Row, got.State) {
			differ("%s's row %q lacks its address %s or state %s", name, got.Row, addr, got.State)
		}
		for _, r := range readers {
			r, _ := r.(map[string]any)
			if r["addr"] != addr || got.State == "writer" {
				continue
			}
			if got.State != r["state"] || got.Lag != fmt.Sprint(r["lag_ms"]) {
				differ("%s: the page shows %s with lag %s, /status says %v with lag %v", name, got.State, got.Lag, r["state"], r["lag_ms"])
			}
		}
	}
	// Each link, labelled with its lag or round trip.
	links, _ := topo["links"].([]any)
	for _, l := range links {
		l, _ := l.(map[string]any)
		want := "+" + fmt.Sprint(l["lag"])
		if l["rtt"] != nil {
			want = "RTT " + fmt.Sprint(l["rtt"])
		}
		if got := v.Links[fmt.Sprint(l["name"])]; got.Label != want || !strings.Contains(got.Text, want) {
			differ("link %s: the page labels it %+v, /status says %s", l["name"], got, want)
		}
	}
	// Errors by kind: every counter of one that is not zero, with its total.
	vars, _ := st["status_variables"].(map[string]any)
	for k, x := range vars {
		isError := strings.Contains(k, "errors") || strings.Contains(k, "rejected") || strings.Contains(k, "limited") || strings.Contains(k, "timeouts")
		if want := fmt.Sprint(x); isError && want != "0" && v.Errors[k] != want {
			differ("errors: the page shows %s = %q, /status says %s", k, v.Errors[k], want)
		}
	}
	return diffs
}

func getStatus(t *testing.T, admin string) map[string]any {
	t.Helper()
	resp, err := http.Get(admin + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// screenshot saves the page as a PNG to out, or to the test's directory.
func (p *page) screenshot(t *testing.T, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if out == "" {
		out = filepath.Join(t.TempDir(), "status-page.png")
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(shot))
}
