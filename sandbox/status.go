package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-sql-driver/mysql"
)

// ErrNoSandbox is returned by Status when the directory holds no sandbox.
var ErrNoSandbox = errors.New("no sandbox")

// Status prints the sandbox's processes, each server by the role it has
// now (a switchover or failover moves them), each replica's replication
// state and lag, and fwdproxy's /status. It reports whether everything runs.
func Status(ctx context.Context, dir string, out io.Writer) (bool, error) {
	dir, err := resolveDir(dir)
	if err != nil {
		return false, err
	}
	dir = realDir(dir)
	st, err := loadState(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("%w in %s (start one with %s sandbox up)", ErrNoSandbox, dir, Command)
	} else if err != nil {
		return false, err
	}
	var lags, names []string
	for _, r := range st.Replicas {
		lags, names = append(lags, r.Lag), append(names, r.Name)
	}
	fmt.Fprintf(out, "sandbox in %s: %s %s; replication lag %s (writer → %s), fwdproxy ↔ writer round trip %s\n",
		dir, st.Flavor, st.Version, strings.Join(lags, ", "), strings.Join(names, ", "), st.RTT)
	if !st.Ready {
		fmt.Fprintf(out, "(its start did not finish: %s sandbox down, then up again)\n", Command)
	}
	servers := probeServers(ctx, st)
	defer func() {
		for _, s := range servers {
			if s.db != nil {
				s.db.Close()
			}
		}
	}()
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	allUp := true
	row := func(name, role, what string) {
		pid := pidOf(dir, name)
		state := "running"
		if !ours(dir, pid) {
			state, allUp = "NOT RUNNING", false
		}
		pidText := "-"
		if pid > 0 {
			pidText = strconv.Itoa(pid)
		}
		fmt.Fprintf(tw, "  %s\t%s\tpid %s\t%s\t%s\n", name, state, pidText, role, what)
	}
	for _, s := range servers {
		row(s.name, s.role, s.addr+s.source)
	}
	rtt, _ := time.ParseDuration(st.RTT)
	for i, r := range st.Replicas {
		what := fmt.Sprintf("%s → %s (+%s %s → %s)", r.Link, r.LinkTo, r.Lag, r.LinkTo, r.Name)
		if s := servers[i+1]; s.role == "writer" {
			what += ", not in use: " + r.Name + " is the writer"
		}
		row(r.LinkName, "link", what)
	}
	row(procWriterLink, "link", fmt.Sprintf("%s → writer (+%s each way)", st.WriterLink, rtt/2))
	row(procProxy, "proxy", fmt.Sprintf("%s, admin http://%s", st.Proxy, st.Admin))
	tw.Flush()

	w := slices.IndexFunc(servers, func(s probed) bool { return s.role == "writer" })
	for _, s := range servers {
		if s.role != "replica" {
			continue
		}
		if w < 0 {
			fmt.Fprintf(out, "replication of %s: no server is the writer now\n", s.name)
		} else if line, err := replicaLag(ctx, st, servers[w], s); err != nil {
			fmt.Fprintf(out, "replication of %s: %v\n", s.name, err)
		} else {
			fmt.Fprintf(out, "replication of %s: %s\n", s.name, line)
		}
	}

	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + st.Admin + "/status")
	if err != nil {
		fmt.Fprintf(out, "fwdproxy /status: %v\n", err)
		return false, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	printReaders(out, st, b)
	fmt.Fprintf(out, "fwdproxy /status (http://%s/status):\n%s", st.Admin, b)
	if len(b) > 0 && b[len(b)-1] != '\n' {
		fmt.Fprintln(out)
	}
	return allUp && resp.StatusCode == http.StatusOK, nil
}

// probed is a server as it answers now.
type probed struct {
	server
	role   string // writer, replica, down (not running), unreachable
	source string // for a replica: where it replicates from
	db     *sql.DB
	status map[string]string // SHOW SLAVE STATUS
}

// probeServers asks every server what it is now: the writer is writable
// and replicates from nobody, as fwdproxy chooses it.
func probeServers(ctx context.Context, st *State) []probed {
	fl := &flavor{Name: st.Flavor}
	var r []probed
	for _, s := range st.servers() {
		p := probed{server: s, role: "down"}
		if ours(st.Dir, pidOf(st.Dir, s.name)) {
			p.role = "unreachable"
			if db, err := userDB(s.addr); err == nil {
				var ro int
				rs, err := rowMap(ctx, db, fl.replicaStatusSQL())
				if err == nil {
					err = db.QueryRowContext(ctx, "SELECT @@GLOBAL.read_only").Scan(&ro)
				}
				switch {
				case err != nil:
					db.Close()
				case ro == 0 && (len(rs) == 0 || pick(rs, "Slave_IO_Running", "Replica_IO_Running") == "No" && pick(rs, "Slave_SQL_Running", "Replica_SQL_Running") == "No"):
					p.role, p.db = "writer", db
				default:
					p.role, p.db, p.status = "replica", db, rs
					p.source = " ← " + st.sourceOf(pick(rs, "Master_Host", "Source_Host")+":"+pick(rs, "Master_Port", "Source_Port"))
				}
			}
		}
		r = append(r, p)
	}
	return r
}

// sourceOf names the server a replica replicates from, given its
// source's address: a server directly, or one through its lag link.
func (st *State) sourceOf(addr string) string {
	for _, s := range st.servers() {
		if s.addr == addr {
			return s.name + " directly"
		}
	}
	for _, r := range st.Replicas {
		if r.Link == addr {
			return fmt.Sprintf("%s through %s (+%s)", r.LinkTo, r.LinkName, r.Lag)
		}
	}
	return addr
}

func pick(rs map[string]string, names ...string) string {
	for _, n := range names {
		if v, ok := rs[n]; ok {
			if v == "" {
				return "NULL"
			}
			return v
		}
	}
	return "?"
}

// printReaders prints fwdproxy's view of each reader (several readers
// only): its state, the lag it measures from GTID positions, its figures.
func printReaders(out io.Writer, st *State, statusJSON []byte) {
	var s struct{ Readers []proxyReader }
	if json.Unmarshal(statusJSON, &s) != nil || len(s.Readers) == 0 {
		return
	}
	names := map[string]string{}
	for _, sv := range st.servers() {
		names[sv.addr] = sv.name
	}
	fmt.Fprintln(out, "fwdproxy's readers:")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, r := range s.Readers {
		fmt.Fprintf(tw, "  %s\t%s\t%s\tlag %d ms\t%d sessions\t%d reads\t%d waits\t%d moves\n",
			names[r.Addr], r.Addr, r.State, r.LagMs, r.Sessions, r.Reads, r.Waits, r.Moves)
	}
	tw.Flush()
}

// proxyReader is one entry of /status "readers".
type proxyReader struct {
	Addr                          string
	State                         string
	LagMs                         int64 `json:"lag_ms"`
	Sessions, Reads, Waits, Moves int64
}

// replicaLag describes replica r against writer w: whether replication
// runs, its position against the writer's, and, when it is behind, how long
// it took to catch up with the writer's position of now.
func replicaLag(ctx context.Context, st *State, w, r probed) (string, error) {
	fl := &flavor{Name: st.Flavor}
	var wpos, rpos string
	if err := w.db.QueryRowContext(ctx, fl.positionSQL(false)).Scan(&wpos); err != nil {
		return "", fmt.Errorf("writer %s: %v", w.name, err)
	}
	if err := r.db.QueryRowContext(ctx, fl.positionSQL(true)).Scan(&rpos); err != nil {
		return "", err
	}
	rs := r.status
	line := fmt.Sprintf("IO %s, SQL %s, Seconds_Behind_Master %s; %s at %q, %s at %q",
		pick(rs, "Slave_IO_Running", "Replica_IO_Running"), pick(rs, "Slave_SQL_Running", "Replica_SQL_Running"),
		pick(rs, "Seconds_Behind_Master", "Seconds_Behind_Source"), w.name, wpos, r.name, rpos)
	if e := pick(rs, "Last_Error", "Last_IO_Error"); e != "?" && e != "NULL" {
		line += "; last error: " + e
	}
	if n, ok := behind(wpos, rpos); wpos == rpos || ok && fl.mariaDB() && n == 0 {
		return line + " (caught up)", nil
	} else if ok && fl.mariaDB() {
		unit := "transactions"
		if n == 1 {
			unit = "transaction"
		}
		line += fmt.Sprintf(" (%d %s behind", n, unit)
	} else {
		line += " (behind"
	}
	start := time.Now()
	var res sql.NullInt64
	err := r.db.QueryRowContext(ctx, fl.waitSQL(), wpos, 10).Scan(&res)
	if err == nil && res.Valid && res.Int64 == 0 {
		return line + fmt.Sprintf("; caught up with that position in %s)", time.Since(start).Round(time.Millisecond)), nil
	}
	return line + "; not caught up within 10s)", nil
}

// behind counts the MariaDB GTIDs of wpos that rpos lacks, per domain.
func behind(wpos, rpos string) (int64, bool) {
	parse := func(s string) (map[string]int64, bool) {
		m := map[string]int64{}
		for _, g := range strings.Split(s, ",") {
			g = strings.TrimSpace(g)
			if g == "" {
				continue
			}
			parts := strings.Split(g, "-")
			if len(parts) != 3 {
				return nil, false
			}
			n, err := strconv.ParseInt(parts[2], 10, 64)
			if err != nil {
				return nil, false
			}
			m[parts[0]] = n
		}
		return m, true
	}
	w, ok1 := parse(wpos)
	r, ok2 := parse(rpos)
	if !ok1 || !ok2 {
		return 0, false
	}
	var n int64
	for d, seq := range w {
		if seq > r[d] {
			n += seq - r[d]
		}
	}
	return n, true
}

// userDB connects to a server directly as the sandbox's user.
func userDB(addr string) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = User, Password
	cfg.Net, cfg.Addr = "tcp", addr
	cfg.Timeout, cfg.ReadTimeout = 3*time.Second, 15*time.Second
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	return db, nil
}

// rowMap runs a one-row statement and returns its columns by name.
func rowMap(ctx context.Context, db *sql.DB, q string) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	if !rows.Next() {
		return m, rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	for i, c := range cols {
		m[c] = vals[i].String
	}
	return m, rows.Err()
}

// lags are the smallest and the largest lag of the replicas' links.
func (st *State) lags() (least, most time.Duration) {
	for i, r := range st.Replicas {
		d, _ := time.ParseDuration(r.Lag)
		if i == 0 || d < least {
			least = d
		}
		most = max(most, d)
	}
	return least, most
}

// typedByHand is the least lag at which a person typing the demo's SELECT
// after its INSERT still finds the replica behind.
const typedByHand = 3 * time.Second

// ConnectHelp is what `up` prints: where everything is and how to use it.
// downCmd is the command that stops the sandbox.
func (st *State) ConnectHelp(downCmd string) string {
	client := "mariadb"
	if st.Flavor != "MariaDB" {
		client = "mysql"
	}
	_, port, _ := strings.Cut(st.Proxy, ":")
	var replicas strings.Builder
	for _, r := range st.Replicas {
		fmt.Fprintf(&replicas, "  %-9s %s, replicating through %s (+%s writer → %s)\n", r.Name, r.Addr, r.Link, r.Lag, r.Name)
	}
	// The demo's EVENTUAL read shows the row missing on a lagging reader.
	least, most := st.lags()
	stale := "the replica, " + st.Replicas[0].Lag + " behind: not there yet"
	if len(st.Replicas) > 1 {
		stale = "a replica up to " + most.String() + " behind: maybe not there yet"
	}
	try := "Then try (paste each INSERT together with the SELECT after it: typed by\n" +
		"hand, the replica has caught up before the SELECT; --lag 5s leaves time to type):"
	if least >= typedByHand {
		try = "Then try, line by line:"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `
fwdproxy sandbox is up (%s %s, files and logs in %s):
  writer    %s
%s  fwdproxy  %s, reaching the writer through %s (%s round trip); admin http://%s/status

Connect through fwdproxy:

  %s -h 127.0.0.1 -P %s -u %s -p%s %s

%s

  SET aurora_replica_read_consistency = 'eventual';
  INSERT INTO demo (note) VALUES ('eventual');   -- forwarded to the writer
  SELECT * FROM demo;                            -- %s
  SET aurora_replica_read_consistency = 'session';
  INSERT INTO demo (note) VALUES ('session');
  SELECT * FROM demo;                            -- waits for the replica: both rows

The writer directly: %s --defaults-file=%s
Stop everything: %s
`, st.Flavor, st.Version, st.Dir,
		st.Writer,
		replicas.String(),
		st.Proxy, st.WriterLink, st.RTT, st.Admin,
		client, port, User, Password, Database,
		try, stale,
		client, filepath.Join(st.Dir, procWriter, "my.cnf"),
		downCmd)
	return b.String()
}
