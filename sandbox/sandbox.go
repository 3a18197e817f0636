// Package sandbox is a local global database: a writer, GTID replicas of it
// that each replicate through a latency link of their own (so EVENTUAL reads
// are visibly stale), and fwdproxy in front of them, reaching the writer
// through a link with a cross-region round trip, all on loopback.
// `fwdproxy sandbox up|down|status|switchover|failover` drives it; the
// processes run detached, with their pid files and logs in one directory.
package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The account, database and table every sandbox has.
const (
	User     = "fwd"
	Password = "fwdpass"
	Database = "fwdtest"

	replUser     = "repl"
	replPassword = "replpass"
	stateFile    = "sandbox.json"
	topologyFile = "topology.json" // for fwdproxy's --topology-file
)

// Process names. Each has NAME.pid and NAME.log in the sandbox directory.
// Replica i (from 0) is replicaName(i) behind linkName(i).
const (
	procProxy      = "fwdproxy"
	procWriterLink = "link-writer"
	procReplLink   = "link-replication"
	procReplica    = "replica"
	procWriter     = "writer"
)

// replicaName is replica, replica2, replica3, … as pair.sh names them.
func replicaName(i int) string { return numbered(procReplica, i) }

// linkName is the link replica i replicates through.
func linkName(i int) string { return numbered(procReplLink, i) }

func numbered(base string, i int) string {
	if i == 0 {
		return base
	}
	return base + strconv.Itoa(i+1)
}

// MaxReaders bounds --readers, as Aurora's 15 replicas do.
const MaxReaders = 15

// Options of Up.
type Options struct {
	Dir       string // sandbox directory; DefaultDir() when empty
	Port      int    // fwdproxy's MySQL port on 127.0.0.1
	AdminPort int    // fwdproxy's admin HTTP port; Port+1 when 0
	Readers   int    // replicas, each one of fwdproxy's readers; 1 when 0
	// Lags is the one-way delay writer → replica on each replica's link:
	// one for every replica, or one per replica (ParseLags).
	Lags []time.Duration
	RTT  time.Duration // round trip between fwdproxy and the writer (RTT/2 each way)
	Bin  string        // the fwdproxy binary, run as `serve` and `sandbox link`
	Out  io.Writer     // progress lines; nil for none
	// AllowDataLoss: failover may promote a replica that lacks writes (the
	// failover command's flag).
	AllowDataLoss bool
}

// State describes a sandbox; Up writes it to DIR/sandbox.json.
type State struct {
	Dir        string    `json:"dir"`
	Flavor     string    `json:"flavor"`
	Version    string    `json:"version"`
	Server     string    `json:"server"`
	Bin        string    `json:"bin"` // fwdproxy, which runs the links
	RTT        string    `json:"rtt"`
	Writer     string    `json:"writer"`      // the first writer, directly
	Replicas   []Replica `json:"replicas"`    // fwdproxy's readers, in order
	WriterLink string    `json:"writer_link"` // fwdproxy's way to the writer
	Proxy      string    `json:"proxy"`
	Admin      string    `json:"admin"`
	SocketDir  string    `json:"socket_dir"`
	Ready      bool      `json:"ready"`
}

// Replica is one replica of the sandbox as Up started it.
type Replica struct {
	Name     string `json:"name"` // replica, replica2, …: its process and directory
	ServerID int    `json:"server_id"`
	Addr     string `json:"addr"`      // directly: one of fwdproxy's readers
	LinkName string `json:"link_name"` // link-replication, link-replication2, …
	Link     string `json:"link"`      // its way to the writer
	LinkTo   string `json:"link_to"`   // the server the link relays to (a writer change moves it)
	Lag      string `json:"lag"`       // the link's delay, writer → replica
}

// ParseLags reads --lag for n replicas: one duration for all, or a comma
// list of one per replica ("0,50ms,200ms").
func ParseLags(s string, n int) ([]time.Duration, error) {
	var lags []time.Duration
	for _, f := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("--lag %q: %v", s, err)
		}
		if d < 0 {
			return nil, fmt.Errorf("--lag %q: must not be negative", s)
		}
		lags = append(lags, d)
	}
	switch {
	case len(lags) == 1:
		return slices.Repeat(lags, n), nil
	case len(lags) != n:
		return nil, fmt.Errorf("--lag %q has %d values for %d replicas: give one for all, or one per replica (--readers %d)", s, len(lags), n, len(lags))
	}
	return lags, nil
}

// DefaultDir is ~/.fwdproxy-sandbox.
func DefaultDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory (%v); pass --dir", err)
	}
	return filepath.Join(home, ".fwdproxy-sandbox"), nil
}

func resolveDir(dir string) (string, error) {
	if dir == "" {
		return DefaultDir()
	}
	return filepath.Abs(dir)
}

// realDir resolves symbolic links of an existing directory, so that the
// path in the processes' command lines is the same whichever way it is named.
func realDir(dir string) string {
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		return r
	}
	return dir
}

// ErrRunning is returned by Up when the directory holds a running sandbox.
var ErrRunning = errors.New("a sandbox already runs there")

// Command is how the user runs fwdproxy (bin/fwdproxy after make demo),
// for the commands messages suggest.
var Command = "fwdproxy"

// Up starts a writer, its replicas, their links, fwdproxy's link to the
// writer and fwdproxy, and returns
// once fwdproxy answers; the processes keep running after the caller exits.
// On failure it stops whatever it started (the logs stay in the directory).
func Up(ctx context.Context, o Options) (*State, error) {
	if !supported {
		return nil, errors.New("the sandbox needs Linux or another Unix")
	}
	if o.Bin == "" {
		return nil, errors.New("sandbox: Options.Bin (the fwdproxy binary) is empty")
	}
	if o.Readers == 0 {
		o.Readers = 1
	}
	if o.Readers < 1 || o.Readers > MaxReaders {
		return nil, fmt.Errorf("--readers %d: from 1 to %d", o.Readers, MaxReaders)
	}
	switch len(o.Lags) {
	case 0:
		o.Lags = make([]time.Duration, o.Readers)
	case 1:
		o.Lags = slices.Repeat(o.Lags, o.Readers)
	case o.Readers:
	default:
		return nil, fmt.Errorf("%d lags for %d replicas", len(o.Lags), o.Readers)
	}
	if slices.ContainsFunc(o.Lags, func(d time.Duration) bool { return d < 0 }) || o.RTT < 0 {
		return nil, errors.New("--lag and --rtt must not be negative")
	}
	if o.AdminPort == 0 {
		o.AdminPort = o.Port + 1
	}
	if o.Port <= 0 || o.Port > 65535 || o.AdminPort <= 0 || o.AdminPort > 65535 || o.Port == o.AdminPort {
		return nil, fmt.Errorf("bad ports %d (MySQL) and %d (admin)", o.Port, o.AdminPort)
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	fl, err := findFlavor()
	if err != nil {
		return nil, err
	}
	dir, err := resolveDir(o.Dir)
	if err != nil {
		return nil, err
	}
	if _, err := checkDir(dir); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		port int
		flag string
	}{{o.Port, "--port"}, {o.AdminPort, "--admin-port"}} {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.port))
		if err != nil {
			return nil, fmt.Errorf("127.0.0.1:%d is in use; pick another port with %s", p.port, p.flag)
		}
		ln.Close()
	}
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	dir = realDir(dir)
	st := &State{
		Dir: dir, Flavor: fl.Name, Version: fl.Version, Server: fl.Server, Bin: o.Bin,
		RTT:   o.RTT.String(),
		Proxy: fmt.Sprintf("127.0.0.1:%d", o.Port), Admin: fmt.Sprintf("127.0.0.1:%d", o.AdminPort),
		SocketDir: dir,
	}
	for i, lag := range o.Lags {
		st.Replicas = append(st.Replicas, Replica{Name: replicaName(i), ServerID: i + 2, LinkName: linkName(i), LinkTo: procWriter, Lag: lag.String()})
	}
	// Unix socket paths are limited to 108 bytes.
	if len(dir)+len("/"+replicaName(o.Readers-1)+".sock") > 100 {
		if st.SocketDir, err = os.MkdirTemp("", "fwdsbx-"); err != nil {
			return nil, err
		}
	}
	// The state file marks the directory as a sandbox's from now on, so that
	// Down can clean up after a failed or interrupted Up.
	if err := writeState(st); err != nil {
		return nil, err
	}
	u := &upper{o: o, fl: fl, st: st, dir: dir, used: map[int]bool{o.Port: true, o.AdminPort: true}}
	if err := u.run(ctx); err != nil {
		// Nothing is worth a slow stop in a sandbox that never was ready,
		// and mariadbd sent SIGTERM while it starts may hang until SIGKILL.
		failed := stopAll(dir, io.Discard, unreadyStop)
		if ctx.Err() != nil && len(failed) == 0 {
			// Ctrl-C while starting asks for nothing to be left, as down
			// would leave it; a failure keeps its logs to be read.
			removeSandbox(dir, st)
			return nil, fmt.Errorf("interrupted; stopped what had started and removed %s", dir)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("interrupted; could not stop %s, files in %s", strings.Join(failed, ", "), dir)
		}
		return nil, fmt.Errorf("%v\n(stopped what had started; logs in %s; %s sandbox down removes it)", err, dir, Command)
	}
	st.Ready = true
	return st, writeState(st)
}

// checkDir accepts a directory that does not exist, is empty, or holds a
// sandbox of which nothing runs any more (returned, to be cleaned up).
func checkDir(dir string) (old *State, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	case len(entries) == 0:
		return nil, nil
	}
	real := realDir(dir)
	old, err = loadState(real)
	if err != nil {
		return nil, fmt.Errorf("%s exists and is not a sandbox directory; pick another with --dir", dir)
	}
	if running := runningProcs(real); len(running) > 0 {
		return nil, fmt.Errorf("%w: %s (%s); see %s sandbox status, or stop it with %s sandbox down",
			ErrRunning, dir, strings.Join(running, ", "), Command, Command)
	}
	return old, nil
}

// prepareDir makes dir an empty directory, removing a stale sandbox.
func prepareDir(dir string) error {
	old, err := checkDir(dir)
	if err != nil {
		return err
	}
	if old != nil {
		removeSandbox(realDir(dir), old)
	}
	return os.MkdirAll(dir, 0o700)
}

// writeState writes the state file (first: it marks the directory as a
// sandbox's) and, from it, the topology file that fwdproxy reads: a writer
// change that moves a link updates both.
func writeState(st *State) error {
	if err := writeJSON(st.Dir, stateFile, st); err != nil {
		return err
	}
	return writeJSON(st.Dir, topologyFile, st.topology())
}

// writeJSON replaces dir/name by v's JSON at once: readers never see half.
func writeJSON(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, name+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// Topology is the sandbox as fwdproxy shows it in /status "topology"
// (--topology-file) and its status page draws it: the servers, and the
// links with their configured delays. Who is the writer now is not in it:
// /status "writers" says.
type Topology struct {
	Servers []TopologyServer `json:"servers"`
	Links   []TopologyLink   `json:"links"`
}

// TopologyServer is one database server.
type TopologyServer struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// TopologyLink is one latency link: From's traffic reaches To through Addr.
type TopologyLink struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
	From string `json:"from"`          // a server's name, or fwdproxy
	To   string `json:"to"`            // a server's name
	Lag  string `json:"lag,omitempty"` // replication: the delay From → To
	RTT  string `json:"rtt,omitempty"` // fwdproxy's: the round trip
}

func (st *State) topology() Topology {
	t := Topology{Links: []TopologyLink{{Name: procWriterLink, Addr: st.WriterLink, From: procProxy, To: procWriter, RTT: st.RTT}}}
	for _, s := range st.servers() {
		t.Servers = append(t.Servers, TopologyServer{Name: s.name, Addr: s.addr})
	}
	for _, r := range st.Replicas {
		t.Links = append(t.Links, TopologyLink{Name: r.LinkName, Addr: r.Link, From: r.LinkTo, To: r.Name, Lag: r.Lag})
	}
	return t
}

func loadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, stateFile), err)
	}
	return &st, nil
}

// upper runs one Up.
type upper struct {
	o    Options
	fl   *flavor
	st   *State
	dir  string
	mu   sync.Mutex
	used map[int]bool
}

func (u *upper) progress(format string, a ...any) { fmt.Fprintf(u.o.Out, format+"\n", a...) }

func (u *upper) run(ctx context.Context) error {
	ports := make([]int, 1+len(u.st.Replicas)) // the writer's, then each replica's
	for i := range ports {
		var err error
		if ports[i], err = u.port(); err != nil {
			return err
		}
	}
	what := "replica"
	if n := len(u.st.Replicas); n > 1 {
		what = fmt.Sprintf("%d replicas", n)
	}
	u.progress("initialising a %s %s writer and %s in %s", u.fl.Name, u.fl.Version, what, u.dir)
	names := []string{procWriter}
	for _, r := range u.st.Replicas {
		names = append(names, r.Name)
	}
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			if errs[i] = u.install(ctx, name, ports[i], i+1); errs[i] == nil {
				errs[i] = u.startServer(ctx, name, &ports[i], i+1)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	u.st.Writer = fmt.Sprintf("127.0.0.1:%d", ports[0])
	for i := range u.st.Replicas {
		u.st.Replicas[i].Addr = fmt.Sprintf("127.0.0.1:%d", ports[i+1])
	}
	if err := writeState(u.st); err != nil {
		return err
	}

	// Users, database and table on the writer; the replicas get them by
	// replication (mariadb-install-db does not write to the binlog).
	w, err := u.rootDB(procWriter)
	if err != nil {
		return err
	}
	defer w.Close()
	host, _ := os.Hostname()
	for _, q := range u.fl.writerSetupSQL(host) {
		if _, err := w.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("writer: %s: %v", q, err)
		}
	}
	var pos string
	if err := w.QueryRowContext(ctx, u.fl.positionSQL(false)).Scan(&pos); err != nil {
		return fmt.Errorf("writer: %v", err)
	}
	errs = make([]error, len(u.st.Replicas))
	for i := range u.st.Replicas {
		wg.Go(func() { errs[i] = u.startReplication(ctx, &u.st.Replicas[i], u.o.Lags[i], pos) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	half := u.o.RTT / 2
	writerLink, err := u.startLink(ctx, procWriterLink, u.st.Writer, half, u.o.RTT-half)
	if err != nil {
		return err
	}
	u.st.WriterLink = writerLink
	if err := writeState(u.st); err != nil {
		return err
	}
	return u.startProxy(ctx)
}

// startReplication starts r's link to the writer with lag and makes r
// replicate through it, returning once r has the writer's position pos.
func (u *upper) startReplication(ctx context.Context, r *Replica, lag time.Duration, pos string) error {
	link, err := u.startLink(ctx, r.LinkName, u.st.Writer, 0, lag)
	if err != nil {
		return err
	}
	r.Link = link
	u.progress("%s replicating through %s (writer → %s +%s)", r.Name, link, r.Name, lag)
	db, err := u.rootDB(r.Name)
	if err != nil {
		return err
	}
	defer db.Close()
	lport, _ := strconv.Atoi(link[strings.LastIndexByte(link, ':')+1:])
	for _, q := range u.fl.replicateSQL("127.0.0.1", lport) {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %s: %v", r.Name, q, err)
		}
	}
	// The link delays every answer the replica's I/O thread gets, and it
	// makes about 14 round trips (log-in, its SET and SELECT statements,
	// registration) before the first event: a lag of seconds takes a minute.
	wait := 60 + int((20 * lag).Seconds())
	var res sql.NullInt64
	if err := db.QueryRowContext(ctx, u.fl.waitSQL(), pos, wait).Scan(&res); err != nil || !res.Valid || res.Int64 != 0 {
		return fmt.Errorf("%s did not reach the writer's position %s in %ds (%v); see %s",
			r.Name, pos, wait, err, filepath.Join(u.dir, r.Name+".log"))
	}
	return nil
}

// port picks a free loopback port below the ephemeral range, so that an
// outgoing connection cannot take it before the server binds it.
func (u *upper) port() (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	lo, hi := 20000, 32000
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var elo, ehi int
		if n, _ := fmt.Sscan(string(b), &elo, &ehi); n == 2 && elo <= hi && elo-1-10000 >= 1000 {
			lo, hi = 10000, elo-1
		}
	}
	for range 500 {
		p := lo + rand.IntN(hi-lo)
		if u.used[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		u.used[p] = true
		return p, nil
	}
	return 0, errors.New("no free loopback port found")
}

func (u *upper) socket(name string) string { return filepath.Join(u.st.SocketDir, name+".sock") }

func (u *upper) cnfPath(name string) string { return filepath.Join(u.dir, name, "my.cnf") }

func (u *upper) writeCnf(name string, port, id int) error {
	return os.WriteFile(u.cnfPath(name), []byte(u.fl.cnf(u.dir, name, u.socket(name), port, id, name != procWriter)), 0o600)
}

func (u *upper) install(ctx context.Context, name string, port, id int) error {
	d := filepath.Join(u.dir, name)
	for _, sub := range []string{"data", "tmp"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o700); err != nil {
			return err
		}
	}
	if err := u.writeCnf(name, port, id); err != nil {
		return err
	}
	cmd := u.fl.installCmd(u.cnfPath(name))
	logPath := filepath.Join(u.dir, name+".install.log")
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(logPath, out, 0o644)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("%s: initialising the data directory failed (%v):\n%s", name, err, tail(string(out), 15))
	}
	return nil
}

// startServer starts mariadbd/mysqld and waits until it answers, moving to
// another port when its port was taken meanwhile.
func (u *upper) startServer(ctx context.Context, name string, port *int, id int) error {
	for attempt := 0; ; attempt++ {
		c, err := u.spawn(name, true, u.fl.Server, "--defaults-file="+u.cnfPath(name))
		if err != nil {
			return err
		}
		err = c.waitReady(ctx, 120*time.Second, func() error {
			db, err := u.rootDB(name)
			if err != nil {
				return err
			}
			defer db.Close()
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			return db.PingContext(pctx)
		})
		if err == nil {
			return nil
		}
		logText, _ := os.ReadFile(filepath.Join(u.dir, name+".log"))
		if !c.exited() || attempt == 4 || !(strings.Contains(string(logText), "Address already in use") ||
			strings.Contains(string(logText), "Bind on TCP/IP port")) {
			return err
		}
		if *port, err = u.port(); err != nil {
			return err
		}
		if err := u.writeCnf(name, *port, id); err != nil {
			return err
		}
	}
}

// rootDB is the install-time root account over the server's Unix socket.
func (u *upper) rootDB(name string) (*sql.DB, error) { return socketDB(u.socket(name)) }

// socketDB connects as root over a server's Unix socket, one connection.
func socketDB(socket string) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "unix"
	cfg.Addr = socket
	cfg.Timeout = 2 * time.Second
	cfg.AllowNativePasswords = true
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	return db, nil
}

// startLink runs `BIN sandbox link` to upstream on a new port and waits
// until it listens (it writes its pid file once bound). It returns the
// link's address.
func (u *upper) startLink(ctx context.Context, name, upstream string, up, down time.Duration) (string, error) {
	pidFile := filepath.Join(u.dir, name+".pid")
	for attempt := 0; ; attempt++ {
		port, err := u.port()
		if err != nil {
			return "", err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		_ = os.Remove(pidFile)
		c, err := u.spawn(name, false, u.o.Bin, "sandbox", "link", "--listen", addr, "--upstream", upstream,
			"--delay-up", up.String(), "--delay-down", down.String(), "--pid-file", pidFile)
		if err != nil {
			return "", err
		}
		err = c.waitReady(ctx, 30*time.Second, func() error {
			b, err := os.ReadFile(pidFile)
			if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(c.cmd.Process.Pid) {
				return errors.New("not listening yet")
			}
			return nil
		})
		if err == nil {
			return addr, nil
		}
		if !c.exited() || attempt == 4 {
			return "", err
		}
	}
}

func (u *upper) startProxy(ctx context.Context) error {
	// The password goes in a file only its owner reads, not on the command
	// line, which every user of the machine sees in ps.
	usersPath := filepath.Join(u.dir, "fwdproxy.users")
	if err := os.WriteFile(usersPath, []byte(User+":"+Password+"\n"), 0o600); err != nil {
		return err
	}
	cfgPath := filepath.Join(u.dir, "fwdproxy.yaml")
	readers := u.st.readerAddrs()
	what, reader := "the replica", readers[0]
	if len(readers) > 1 {
		what, reader = "the replicas", "["+strings.Join(readers, ", ")+"]"
	}
	cfg := fmt.Sprintf(`# fwdproxy of the sandbox (written by fwdproxy sandbox up)
listen: %s
admin: %s
# the writer, through a link with a %s round trip, and %s, directly:
# all are writer candidates, so fwdproxy follows fwdproxy sandbox switchover and failover
writer: [%s]
# %s, directly
reader: %s
# NAME:PASSWORD lines
user-file: %s
# the servers and links, for the status page (rewritten by a writer change)
topology-file: %s
log-level: info
`, u.st.Proxy, u.st.Admin, u.o.RTT, what, strings.Join(append([]string{u.st.WriterLink}, readers...), ", "), what, reader, usersPath,
		filepath.Join(u.dir, topologyFile))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	c, err := u.spawn(procProxy, true, u.o.Bin, "serve", "--config", cfgPath)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 2 * time.Second}
	return c.waitReady(ctx, 60*time.Second, func() error {
		// Ready (both backends reachable), and it is our proxy on that port.
		if err := httpGet(client, "http://"+u.st.Admin+"/readyz", nil); err != nil {
			return err
		}
		var s struct{ Writer string }
		if err := httpGet(client, "http://"+u.st.Admin+"/status", &s); err != nil {
			return err
		}
		if s.Writer != u.st.WriterLink {
			return fmt.Errorf("%s is another fwdproxy's admin address", u.st.Admin)
		}
		conn, err := net.DialTimeout("tcp", u.st.Proxy, 2*time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

// readerAddrs is every replica's address, fwdproxy's readers.
func (st *State) readerAddrs() []string {
	var r []string
	for _, rep := range st.Replicas {
		r = append(r, rep.Addr)
	}
	return r
}

func httpGet(c *http.Client, url string, into any) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	if into != nil {
		return json.Unmarshal(b, into)
	}
	return nil
}

// child is a process started by Up.
type child struct {
	name, log string
	cmd       *exec.Cmd
	done      chan struct{}
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// spawn starts a detached process with its output appended to NAME.log in
// the sandbox directory and, with pidFile, its pid written to NAME.pid.
func (u *upper) spawn(name string, pidFile bool, path string, args ...string) (*child, error) {
	logPath := filepath.Join(u.dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(path, args...)
	cmd.Dir = u.dir
	cmd.Stdout, cmd.Stderr = f, f
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if pidFile {
		if err := os.WriteFile(filepath.Join(u.dir, name+".pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
			_ = cmd.Process.Kill()
			return nil, err
		}
	}
	c := &child{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	// Reaps it if it dies while Up runs; after Up it is init's.
	go func() { _ = cmd.Wait(); close(c.done) }()
	return c, nil
}

// waitReady polls ready until it succeeds, the process exits, ctx ends or
// the timeout passes.
func (c *child) waitReady(ctx context.Context, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-c.done:
			time.Sleep(100 * time.Millisecond) // let it finish its log
			return fmt.Errorf("%s exited at start (%v); tail of %s:\n%s", c.name, c.cmd.ProcessState, c.log, tailFile(c.log, 15))
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s (%v); tail of %s:\n%s", c.name, timeout, err, c.log, tailFile(c.log, 15))
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	return tail(string(b), n)
}

// pidOf reads NAME.pid; 0 when there is none.
func pidOf(dir, name string) int {
	b, err := os.ReadFile(filepath.Join(dir, name+".pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// ours: pid runs and is one of this sandbox's processes (every one of them
// has the directory on its command line), not a process that got a stale
// pid's number.
func ours(dir string, pid int) bool {
	return alive(pid) && strings.Contains(commandLine(pid), dir+string(filepath.Separator))
}

// procNames is every process that has a pid file in dir, fwdproxy first:
// what Down stops, whatever state a failed or interrupted Up left.
func procNames(dir string) []string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
	names := []string{procProxy}
	for _, f := range files {
		if n := strings.TrimSuffix(filepath.Base(f), ".pid"); n != procProxy {
			names = append(names, n)
		}
	}
	return names
}

// runningProcs lists "name (pid N)" of the sandbox's live processes.
func runningProcs(dir string) []string {
	var r []string
	for _, n := range procNames(dir) {
		if pid := pidOf(dir, n); ours(dir, pid) {
			r = append(r, fmt.Sprintf("%s pid %d", n, pid))
		}
	}
	return r
}

// stopProc sends SIGTERM, waits, then SIGKILL. It reports whether the
// process ran and whether it is gone.
func stopProc(dir, name string, timeout time.Duration) (pid int, ran, stopped bool) {
	pid = pidOf(dir, name)
	if !ours(dir, pid) {
		return pid, false, true
	}
	_ = signal(pid, sigTerm)
	for _, step := range []struct {
		wait time.Duration
		kill bool
	}{{timeout, true}, {5 * time.Second, false}} {
		deadline := time.Now().Add(step.wait)
		for time.Now().Before(deadline) {
			if !alive(pid) {
				return pid, true, true
			}
			time.Sleep(50 * time.Millisecond)
		}
		if step.kill {
			_ = signal(pid, sigKill)
		}
	}
	return pid, true, !alive(pid)
}

// How long a process of a sandbox that never was ready may take to stop
// on SIGTERM before SIGKILL.
const unreadyStop = 3 * time.Second

// stopAll stops the proxy first (its clients see a clean close), then the
// rest at once. It returns the names it could not stop. limit, when not
// 0, bounds the wait for each before SIGKILL.
func stopAll(dir string, out io.Writer, limit time.Duration) []string {
	var mu sync.Mutex
	var failed []string
	stop := func(name string, timeout time.Duration) {
		if limit > 0 {
			timeout = min(timeout, limit)
		}
		pid, ran, ok := stopProc(dir, name, timeout)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case !ok:
			failed = append(failed, fmt.Sprintf("%s (pid %d)", name, pid))
		case ran:
			fmt.Fprintf(out, "stopped %s (pid %d)\n", name, pid)
		case pid != 0:
			fmt.Fprintf(out, "%s (pid %d) was not running\n", name, pid)
		}
	}
	stop(procProxy, 35*time.Second) // serve lets open transactions finish for up to 30 s
	var wg sync.WaitGroup
	for _, n := range procNames(dir)[1:] {
		wg.Go(func() { stop(n, 60*time.Second) })
	}
	wg.Wait()
	return failed
}

func removeSandbox(dir string, st *State) {
	if st != nil && st.SocketDir != "" && st.SocketDir != dir && strings.HasPrefix(filepath.Base(st.SocketDir), "fwdsbx-") {
		_ = os.RemoveAll(st.SocketDir)
	}
	_ = os.RemoveAll(dir)
}

// Down stops every process of the sandbox in dir (DefaultDir() when empty)
// and removes the directory. A directory that does not exist is no error.
func Down(dir string, out io.Writer) error {
	dir, err := resolveDir(dir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(out, "no sandbox in %s\n", dir)
		return nil
	}
	dir = realDir(dir)
	st, err := loadState(dir)
	if err != nil {
		return fmt.Errorf("%s is not a sandbox directory (no readable %s); not touching it", dir, stateFile)
	}
	if failed := stopAll(dir, out, 0); len(failed) > 0 {
		return fmt.Errorf("could not stop %s; %s is left in place", strings.Join(failed, ", "), dir)
	}
	removeSandbox(dir, st)
	fmt.Fprintf(out, "removed %s\n", dir)
	return nil
}
