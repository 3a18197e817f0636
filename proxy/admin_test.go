package proxy

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// adminServer is a Server whose backends do not answer (port 1), with
// change applied to its settings, and its admin handler.
func adminServer(t *testing.T, change func(Values)) (*Server, http.Handler) {
	t.Helper()
	v := base()
	if change != nil {
		change(v)
	}
	c, err := ConfigFrom(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return srv, srv.AdminHandler()
}

type adminReq struct {
	method, url, body string
	header            map[string]string
}

func (r adminReq) do(h http.Handler) *httptest.ResponseRecorder {
	req := httptest.NewRequest(r.method, r.url, strings.NewReader(r.body))
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

const off = `{"enabled": false}`

var jsonType = map[string]string{"Content-Type": "application/json"}

// Without a token (loopback only) a web page cannot change anything: not
// with a simple cross-origin POST, not by a name of its own that resolves
// to 127.0.0.1.
func TestAdminRefusesCrossOriginChanges(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  adminReq
		want int
	}{
		{"text/plain POST, as any web page can send", adminReq{"POST", "http://127.0.0.1:4001/forwarding", off,
			map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}}, 415},
		{"form POST", adminReq{"POST", "http://127.0.0.1:4001/forwarding", "enabled=false",
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415},
		{"no content type", adminReq{"POST", "http://127.0.0.1:4001/forwarding", off, nil}, 415},
		{"JSON from another origin", adminReq{"POST", "http://127.0.0.1:4001/forwarding", off,
			map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}}, 403},
		{"JSON from another port of the host", adminReq{"POST", "http://127.0.0.1:4001/forwarding", off,
			map[string]string{"Content-Type": "application/json", "Origin": "http://127.0.0.1:8080"}}, 403},
		{"JSON, cross-site by Fetch metadata", adminReq{"POST", "http://127.0.0.1:4001/forwarding", off,
			map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}}, 403},
		{"a preflight", adminReq{"OPTIONS", "http://127.0.0.1:4001/forwarding", "",
			map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}}, 415},
		{"DNS rebinding: a name of the attacker's", adminReq{"POST", "http://evil.example:4001/forwarding", off,
			map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example:4001"}}, 403},
		{"DNS rebinding, reading", adminReq{"GET", "http://evil.example:4001/status", "", nil}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, h := adminServer(t, nil)
			rec := tc.req.do(h)
			if rec.Code != tc.want {
				t.Errorf("%d %s, want %d", rec.Code, rec.Body, tc.want)
			}
			if !srv.Forwarding() {
				t.Error("the request turned forwarding off")
			}
		})
	}
}

func TestAdminChangesFromCurl(t *testing.T) {
	for _, tc := range []adminReq{
		{"POST", "http://127.0.0.1:4001/forwarding", off, jsonType},
		{"POST", "http://localhost:4001/forwarding", off, map[string]string{"Content-Type": "application/json; charset=utf-8"}},
		{"POST", "http://[::1]:4001/forwarding", off, map[string]string{"Content-Type": "application/json", "Origin": "http://[::1]:4001"}},
	} {
		srv, h := adminServer(t, nil)
		if rec := tc.do(h); rec.Code != 200 || srv.Forwarding() {
			t.Errorf("%s %v: %d %s, forwarding %v", tc.url, tc.header, rec.Code, rec.Body, srv.Forwarding())
		}
	}
}

func TestAdminToken(t *testing.T) {
	srv, h := adminServer(t, func(v Values) {
		v["admin"] = []string{"0.0.0.0:4001"}
		v["admin-token"] = []string{"s3cret"}
	})
	bearer := func(tok string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
	}
	for _, tc := range []struct {
		name string
		req  adminReq
		want int
	}{
		{"no token", adminReq{"GET", "http://10.0.0.5:4001/status", "", nil}, 401},
		{"wrong token", adminReq{"GET", "http://10.0.0.5:4001/metrics", "", bearer("guess")}, 401},
		{"a prefix of the token", adminReq{"GET", "http://10.0.0.5:4001/metrics", "", bearer("s3c")}, 401},
		{"no token, POST", adminReq{"POST", "http://10.0.0.5:4001/forwarding", off, jsonType}, 401},
		{"bearer token", adminReq{"GET", "http://10.0.0.5:4001/metrics", "", bearer("s3cret")}, 200},
		{"basic auth", adminReq{"GET", "http://10.0.0.5:4001/metrics", "", basic("admin:s3cret")}, 200},
		{"basic auth, wrong password", adminReq{"GET", "http://10.0.0.5:4001/metrics", "", basic("s3cret:nope")}, 401},
		{"probe without a token", adminReq{"GET", "http://10.0.0.5:4001/healthz", "", nil}, 200},
		{"token, but text/plain", adminReq{"POST", "http://10.0.0.5:4001/forwarding", off,
			map[string]string{"Authorization": "Bearer s3cret", "Content-Type": "text/plain"}}, 415},
	} {
		if rec := tc.req.do(h); rec.Code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, rec.Code, rec.Body, tc.want)
		} else if tc.want == 401 && !strings.Contains(rec.Header().Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		}
	}
	if !srv.Forwarding() {
		t.Fatal("forwarding went off without the token")
	}
	if rec := (adminReq{"POST", "http://10.0.0.5:4001/forwarding", off, bearer("s3cret")}).do(h); rec.Code != 200 || srv.Forwarding() {
		t.Errorf("POST with the token: %d %s", rec.Code, rec.Body)
	}

	// SIGHUP's Reload rotates the token.
	v := base()
	v["admin"], v["admin-token"] = []string{"0.0.0.0:4001"}, []string{"n3w"}
	next, err := ConfigFrom(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(next); err != nil {
		t.Fatal(err)
	}
	if rec := (adminReq{"GET", "http://10.0.0.5:4001/metrics", "", bearer("s3cret")}).do(h); rec.Code != 401 {
		t.Errorf("the old token after reload: %d", rec.Code)
	}
	if rec := (adminReq{"GET", "http://10.0.0.5:4001/metrics", "", bearer("n3w")}).do(h); rec.Code != 200 {
		t.Errorf("the new token after reload: %d", rec.Code)
	}
}

func basic(userPass string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass))}
}

func TestAdminPprofOnlyWhenEnabled(t *testing.T) {
	for _, enabled := range []string{"false", "true"} {
		_, h := adminServer(t, func(v Values) { v["admin-pprof"] = []string{enabled} })
		want := map[string]int{"false": 404, "true": 200}[enabled]
		for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap"} {
			if rec := (adminReq{"GET", "http://127.0.0.1:4001" + p, "", nil}).do(h); rec.Code != want {
				t.Errorf("admin-pprof %s: GET %s %d, want %d", enabled, p, rec.Code, want)
			}
		}
		// The command line holds passwords; pprof never serves it.
		if rec := (adminReq{"GET", "http://127.0.0.1:4001/debug/pprof/cmdline", "", nil}).do(h); rec.Code == 200 {
			t.Errorf("admin-pprof %s: /debug/pprof/cmdline is served", enabled)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:4001": true, "127.3.2.1:1": true, "[::1]:4001": true, "localhost:4001": true, "LOCALHOST:1": true,
		"0.0.0.0:4001": false, ":4001": false, "[::]:4001": false, "10.1.2.3:4001": false, "db.example:4001": false,
		"127.0.0.1": false, // no port: not an address net.Listen takes
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v", addr, got)
		}
	}
}

// On shutdown /readyz fails first, for graceful-wait-before-shutdown, while
// the listener still accepts; then the drain closes it.
func TestShutdownUnreadyBeforeDrain(t *testing.T) {
	srv, h := adminServer(t, func(v Values) { v["graceful-wait-before-shutdown"] = []string{"3s"} })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	done := make(chan struct{})
	go func() { srv.Shutdown(); close(done) }()
	for srv.Ready() != errShuttingDown {
		runtime.Gosched()
	}
	if rec := (adminReq{method: "GET", url: "http://127.0.0.1:4001/readyz"}).do(h); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "shutting down") {
		t.Errorf("/readyz during the wait: %d %q, want 503 shutting down", rec.Code, rec.Body.String())
	}
	if srv.draining.Load() {
		t.Fatal("the drain started before the graceful wait ended")
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("the listener refused a client during the graceful wait: %v", err)
	}
	c.Close()
	<-done
	if !srv.draining.Load() {
		t.Error("Shutdown returned without draining")
	}
}

// The status page is served at / (and nothing else that is not the API),
// self-contained, and every figure it shows names a field /status has.
func TestStatusPage(t *testing.T) {
	_, h := adminServer(t, nil)
	rec := adminReq{method: "GET", url: "http://127.0.0.1:4001/"}.do(h)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("GET /: %d %v", rec.Code, rec.Header())
	}
	page := rec.Body.String()
	if rec := (adminReq{method: "GET", url: "http://127.0.0.1:4001/statu"}).do(h); rec.Code != 404 {
		t.Errorf("GET /statu: %d, want 404", rec.Code)
	}
	// No external assets: the only absolute URL is the SVG namespace, which is never fetched.
	if n := strings.Count(page, "http://") + strings.Count(page, "https://") - strings.Count(page, "http://www.w3.org/2000/svg"); n != 0 {
		t.Errorf("the page names %d absolute URLs", n)
	}
	rec = adminReq{method: "GET", url: "http://127.0.0.1:4001/status"}.do(h)
	var st map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	fields := regexp.MustCompile(`data-field="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(fields) < 8 {
		t.Fatalf("%d figures on the page", len(fields))
	}
	for _, f := range fields {
		var v any = st
		for _, k := range strings.Split(f[1], ".") {
			m, _ := v.(map[string]any)
			var ok bool
			if v, ok = m[k]; !ok {
				t.Errorf("the page shows %s, which /status does not have", f[1])
				break
			}
		}
	}
}

// --topology-file is in /status as it is at each request, and a file that
// cannot be read says so there.
func TestStatusTopology(t *testing.T) {
	file := filepath.Join(t.TempDir(), "topology.json")
	_, h := adminServer(t, func(v Values) { v["topology-file"] = []string{file} })
	topology := func() map[string]any {
		t.Helper()
		var st struct{ Topology map[string]any }
		rec := adminReq{method: "GET", url: "http://127.0.0.1:4001/status"}.do(h)
		if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
			t.Fatal(err)
		}
		return st.Topology
	}
	if e, _ := topology()["error"].(string); !strings.Contains(e, file) {
		t.Errorf("no file: topology %v, want an error naming it", topology())
	}
	for _, body := range []string{`{"servers": [{"name": "writer"}]}`, `{"servers": [{"name": "replica"}]}`} {
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		_ = json.Unmarshal([]byte(body), &want)
		if got := topology(); !reflect.DeepEqual(got, want) {
			t.Errorf("topology %v, want %v", got, want)
		}
	}
	if err := os.WriteFile(file, []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if e, _ := topology()["error"].(string); !strings.Contains(e, "not JSON") {
		t.Errorf("bad file: topology %v, want an error", topology())
	}
}
