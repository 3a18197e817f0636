// Package diff is the differential protocol test: every command of a corpus
// is sent with the same capability flags once straight to the backend the
// proxy would use (the reader for reads, the writer for forwarded writes)
// and once through the fwdproxy binary at SESSION, and the answers are
// compared field by field. Every difference must be one of the rows of
// allowed; anything else fails.
package diff

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	_ "github.com/go-sql-driver/mysql"

	"github.com/fwdproxy/fwdproxy/integration/pair"
)

const testDB = "fwddiff"

var thePair *pair.Pair

func TestMain(m *testing.M) {
	p, err := pair.Get()
	if err != nil {
		fmt.Fprintln(os.Stderr, "diff: cannot start the MariaDB pair:", err)
		os.Exit(1)
	}
	thePair = p
	code := 1
	if err := p.CreateDatabase(testDB); err != nil {
		fmt.Fprintln(os.Stderr, "diff:", err)
	} else {
		code = m.Run()
	}
	if err := p.CheckReplicaClean(); err != nil {
		fmt.Fprintln(os.Stderr, "diff: replica is not clean:", err)
		code = 1
	}
	_ = p.Stop()
	os.Exit(code)
}

// framing flags change what the packets look like; a cell runs both sides
// with the same ones. SSL and COMPRESS only change the transport.
const framingFlags = gmysql.CLIENT_SESSION_TRACK | gmysql.CLIENT_DEPRECATE_EOF | gmysql.CLIENT_MULTI_RESULTS |
	gmysql.CLIENT_PS_MULTI_RESULTS | gmysql.CLIENT_FOUND_ROWS

// baseCaps are in every cell: what any current client sends.
const baseCaps = gmysql.CLIENT_LONG_PASSWORD | gmysql.CLIENT_LONG_FLAG | gmysql.CLIENT_PROTOCOL_41 |
	gmysql.CLIENT_TRANSACTIONS | gmysql.CLIENT_SECURE_CONNECTION | gmysql.CLIENT_PLUGIN_AUTH |
	gmysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | gmysql.CLIENT_CONNECT_WITH_DB | gmysql.CLIENT_MULTI_STATEMENTS |
	gmysql.CLIENT_LOCAL_FILES

// matrixFlags vary from cell to cell.
var matrixFlags = []uint32{gmysql.CLIENT_SESSION_TRACK, gmysql.CLIENT_DEPRECATE_EOF, gmysql.CLIENT_MULTI_RESULTS,
	gmysql.CLIENT_PS_MULTI_RESULTS, gmysql.CLIENT_FOUND_ROWS, gmysql.CLIENT_COMPRESS, gmysql.CLIENT_SSL}

type cell struct {
	name string
	caps uint32 // asked for
	ext  uint32 // MariaDB's extended capabilities asked for (with caps lacking CLIENT_LONG_PASSWORD)
}

// matrix is every flag on, every flag off, each flag flipped from both,
// and a MariaDB client (Connector/J 3, the npm mariadb connector) with
// every flag and the extended capabilities the proxy offers.
func matrix() []cell {
	all := uint32(0)
	for _, f := range matrixFlags {
		all |= f
	}
	cells := []cell{{name: "all", caps: baseCaps | all}, {name: "none", caps: baseCaps}}
	for _, f := range matrixFlags {
		n := strings.TrimPrefix(gmysql.CapNames[f], "CLIENT_")
		cells = append(cells, cell{name: "all-" + n, caps: baseCaps | all&^f}, cell{name: "none+" + n, caps: baseCaps | f})
	}
	// A MariaDB client (the mariadb CLI, Connector/J 3, the npm mariadb
	// connector) asking for every extended capability the proxy offers:
	// progress reports come before the answer to a LOAD DATA LOCAL (run adds
	// them to the step's fields).
	return append(cells, cell{name: "mariadb", caps: (baseCaps | all) &^ gmysql.CLIENT_LONG_PASSWORD,
		ext: extProgress | extStmtBulk | extExtendedTypes | extCacheMetadata})
}

type harness struct {
	proxyAddr string
	writer    *sql.DB
	directG   greeting // the reader's greeting, for the flags it offers
	proxyG    greeting
}

func TestDifferential(t *testing.T) {
	h := newHarness(t)
	h.execAll(t, corpusSetup)
	cells := matrix()
	corpus := theCorpus()
	t.Logf("corpus %d entries × %d capability cells", len(corpus), len(cells))
	used := map[*allowance]int{}
	ran := 0
	for _, c := range cells {
		t.Run(c.name, func(t *testing.T) {
			ran++
			h.compareHandshake(t, c, used)
			for _, e := range corpus {
				h.compareEntry(t, c, e, used)
			}
		})
	}
	full := ran == len(cells) && !t.Failed()
	for _, a := range allowed {
		kind := "spec"
		if a.open {
			kind = "OPEN"
		}
		t.Logf("%s %5d× %s: %s", kind, used[a], a.field, a.why)
		if full && used[a] == 0 && !a.rare {
			t.Errorf("allowed row %s matched nothing in the whole matrix: delete it", a.field)
		}
	}
}

// newHarness starts the proxy and opens the writer for set-up.
func newHarness(t *testing.T) *harness {
	h := &harness{proxyAddr: startProxy(t)}
	var err error
	if h.writer, err = thePair.WriterDB(testDB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.writer.Close() })
	return h
}

func (h *harness) execAll(t *testing.T, qs []string) {
	t.Helper()
	for _, q := range qs {
		if _, err := h.writer.Exec(q); err != nil {
			t.Fatalf("setup %q: %v", q, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := thePair.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
}

// dial connects for a cell: its flags, less the framing flags one side
// does not offer, so both sides frame alike (the handshake comparison
// shows the flag itself).
func (h *harness) dial(c cell, addr string) (*rawClient, error) {
	caps := c.caps &^ ((h.directG.caps ^ h.proxyG.caps) & framingFlags)
	return dialRaw(dialOptions{addr: addr, user: thePair.User, password: thePair.Password, db: testDB,
		caps: caps, ext: c.ext, charset: 45, tls: c.caps&gmysql.CLIENT_SSL != 0})
}

// compareHandshake compares the greeting and the negotiated session of
// the reader and the proxy.
func (h *harness) compareHandshake(t *testing.T, c cell, used map[*allowance]int) {
	greetOf := func(addr string) (greeting, fields) {
		rc, err := dialRaw(dialOptions{addr: addr, user: thePair.User, password: thePair.Password, db: testDB,
			caps: c.caps, ext: c.ext, charset: 45, tls: c.caps&gmysql.CLIENT_SSL != 0})
		if err != nil {
			t.Fatalf("connect %s: %v", addr, err)
		}
		defer rc.close()
		return rc.greet, handshakeFields(rc)
	}
	var dF, pF fields
	h.directG, dF = greetOf(thePair.ReaderAddr)
	h.proxyG, pF = greetOf(h.proxyAddr)
	h.report(t, "handshake", nil, dF, pF, nil, nil, used)
}

func handshakeFields(rc *rawClient) fields {
	var f fields
	g := rc.greet
	f.add("handshake.protocol", "%d", g.protocol)
	f.add("handshake.version", "%q", g.version)
	f.add("handshake.connection_id", "%d", g.connID)
	f.add("handshake.scramble", "% x", g.scramble)
	addCaps(&f, "handshake.caps.", g.caps)
	f.add("handshake.charset", "%d", g.charset)
	f.add("handshake.status", "%s", statusString(g.status))
	f.add("handshake.auth_data_length", "%d", g.authLen)
	f.add("handshake.reserved", "% x", g.reserved)
	f.add("handshake.auth_plugin", "%q", g.authPlugin)
	addCaps(&f, "session.caps.", rc.caps)
	if rc.ext != 0 {
		f.add("session.ext", "%#x", rc.ext)
	}
	decodeOK(&f, "session.auth_ok.", rc.authOK, rc.caps)
	return f
}

// addCaps adds a field per capability flag that is on.
func addCaps(f *fields, pre string, caps uint32) {
	for bit := uint32(1); bit != 0; bit <<= 1 {
		if caps&bit != 0 {
			f.add(pre+capName(bit), "on")
		}
	}
}

func capName(bit uint32) string {
	if n, ok := gmysql.CapNames[bit]; ok {
		return n
	}
	return fmt.Sprintf("bit%d", bitIndex(bit))
}

// run sends an entry's steps on a fresh connection and returns every
// step's fields, with the raw packets for the failure report.
func (h *harness) run(c cell, e entry, proxySide bool) (fields, map[string][]string) {
	addr := thePair.ReaderAddr
	if e.writer {
		addr = thePair.WriterAddr
	}
	if proxySide {
		addr = h.proxyAddr
	}
	var out fields
	rc, err := h.dial(c, addr)
	if err != nil {
		out.add("connect", "%v", err)
		return out, nil
	}
	defer rc.close()
	traces := map[string][]string{}
	var stmt uint32
	for i, s := range e.steps {
		if s.proxyOnly && !proxySide {
			continue
		}
		pre := fmt.Sprintf("s%d.", i)
		payload, kind := s.payload(stmt)
		if err := rc.command(payload); err != nil {
			out.add(pre+"io", "%v", err)
			break
		}
		f, err := rc.readResponse(kind, s.infile)
		traces[pre] = append([]string{fmt.Sprintf("step %d: %s", i, s)}, hexLines(rc.got)...)
		if s.proxyOnly {
			if err != nil {
				out.add(pre+"io", "%v", err)
				break
			}
			continue
		}
		for j, p := range rc.progress {
			out.add(fmt.Sprintf("%sprogress%d", pre, j), "% x", p)
		}
		for _, x := range f {
			out = append(out, field{pre + x.name, x.value})
		}
		if err != nil {
			out.add(pre+"io", "%v", err)
			break
		}
		if kind == prepareOK {
			stmt = f.statementID()
		}
	}
	return out, traces
}

func (h *harness) compareEntry(t *testing.T, c cell, e entry, used map[*allowance]int) {
	h.execAll(t, e.setup)
	dF, dTrace := h.run(c, e, false)
	h.execAll(t, e.setup)
	pF, pTrace := h.run(c, e, true)
	h.report(t, e.name, &e, dF, pF, dTrace, pTrace, used)
	for name, want := range e.wantProxy {
		if got := value(pF, name); got != want {
			t.Errorf("%s: proxy's %s is %s, want %s", e.name, name, got, want)
		}
	}
}

// scalar runs a text query and returns its first row's first column as
// the decoder shows it (a quoted string, "NULL").
func (c *rawClient) scalar(t *testing.T, sql string) string {
	t.Helper()
	if err := c.command(append([]byte{gmysql.COM_QUERY}, sql...)); err != nil {
		t.Fatal(err)
	}
	f, err := c.readResponse(textResult, nil)
	if err != nil {
		t.Fatal(err)
	}
	return value(f, "r0.row0.c0")
}

func value(f fields, name string) string {
	for _, x := range f {
		if x.name == name {
			return x.value
		}
	}
	return absent
}

// report fails for every difference no allowance covers.
func (h *harness) report(t *testing.T, what string, e *entry, d, p fields, dTrace, pTrace map[string][]string, used map[*allowance]int) {
	t.Helper()
	var bad []string
	step := ""
	for _, x := range compare(d, p) {
		if a := allowanceFor(e, x, d, p); a != nil {
			used[a]++
			continue
		}
		if step == "" {
			step, _, _ = strings.Cut(x.name, ".")
			step += "."
		}
		if len(bad) < 30 {
			bad = append(bad, fmt.Sprintf("  %-40s server %-30s proxy %s", x.name, x.direct, x.proxy))
		} else if len(bad) == 30 {
			bad = append(bad, "  ...")
		}
	}
	if len(bad) == 0 {
		return
	}
	t.Errorf("%s: differences not allowed:\n%s\nserver packets of %s\n  %s\nproxy packets of %s\n  %s", what,
		strings.Join(bad, "\n"), step, strings.Join(dTrace[step], "\n  "), step, strings.Join(pTrace[step], "\n  "))
}

// hexLines shows packets for a failure report, long ones cut.
func hexLines(pkts [][]byte) []string {
	var out []string
	for _, p := range pkts {
		out = append(out, fmt.Sprintf("% x", p[:min(len(p), 200)]))
	}
	return out
}

type difference struct{ name, direct, proxy string }

// compare aligns two field lists by name, in the order they came.
func compare(d, p fields) []difference {
	dm, pm := map[string]string{}, map[string]string{}
	var names []string
	for _, x := range d {
		if _, ok := dm[x.name]; !ok {
			names = append(names, x.name)
		}
		dm[x.name] = x.value
	}
	for _, x := range p {
		if _, ok := dm[x.name]; !ok {
			if _, ok := pm[x.name]; !ok {
				names = append(names, x.name)
			}
		}
		pm[x.name] = x.value
	}
	var out []difference
	for _, n := range names {
		dv, ok := dm[n]
		if !ok {
			dv = absent
		}
		pv, ok := pm[n]
		if !ok {
			pv = absent
		}
		if dv != pv {
			out = append(out, difference{n, dv, pv})
		}
	}
	return out
}

// ---- the proxy binary ----

func startProxy(t *testing.T) string {
	t.Helper()
	bin := pair.Binary(t)
	cert, key := writeCert(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := osexec.Command(bin, "serve", "--listen", addr, "--admin", "", "--writer", thePair.WriterAddr,
		"--reader", thePair.ReaderAddr, "--user", thePair.User+":"+thePair.Password, "--log-level", "warn",
		"--default-consistency", "SESSION", "--tls-cert", cert, "--tls-key", key)
	logFile := filepath.Join(t.TempDir(), "fwdproxy.log")
	logs, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logText := func() string { b, _ := os.ReadFile(logFile); return string(b) }
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logs.Close()
		if t.Failed() {
			t.Logf("fwdproxy log:\n%s", logText())
		}
		if err := thePair.CheckReplicaClean(); err != nil {
			t.Errorf("replica is not clean after %s: %v", t.Name(), err)
		}
	})
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if i == 100 {
			t.Fatalf("fwdproxy does not listen on %s: %s", addr, logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeCert writes a self-signed certificate and key for the proxy's TLS.
func writeCert(t *testing.T) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fwdproxy diff"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cf, kf
}
