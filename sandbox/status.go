package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-sql-driver/mysql"
)

// ErrNoSandbox is returned by Status when the directory holds no sandbox.
var ErrNoSandbox = errors.New("no sandbox")

// Status prints the sandbox's processes, the replica's replication state and
// lag, and fwdproxy's /status. It reports whether everything runs.
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
	fmt.Fprintf(out, "sandbox in %s: %s %s; replication lag %s (writer → replica), fwdproxy ↔ writer round trip %s\n",
		dir, st.Flavor, st.Version, st.Lag, st.RTT)
	if !st.Ready {
		fmt.Fprintf(out, "(its start did not finish: %s sandbox down, then up again)\n", Command)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	allUp := true
	lag, _ := time.ParseDuration(st.Lag)
	rtt, _ := time.ParseDuration(st.RTT)
	for _, p := range []struct{ name, what string }{
		{procWriter, st.Writer},
		{procReplica, st.Replica},
		{procReplLink, fmt.Sprintf("%s → writer (+%s writer → replica)", st.ReplLink, lag)},
		{procWriterLink, fmt.Sprintf("%s → writer (+%s each way)", st.WriterLink, rtt/2)},
		{procProxy, fmt.Sprintf("%s, admin http://%s", st.Proxy, st.Admin)},
	} {
		pid := pidOf(dir, p.name)
		state := "running"
		if !ours(dir, pid) {
			state, allUp = "NOT RUNNING", false
		}
		pidText := "-"
		if pid > 0 {
			pidText = strconv.Itoa(pid)
		}
		fmt.Fprintf(tw, "  %s\t%s\tpid %s\t%s\n", p.name, state, pidText, p.what)
	}
	tw.Flush()

	if line, err := replicaLag(ctx, st); err != nil {
		fmt.Fprintf(out, "replication: %v\n", err)
	} else {
		fmt.Fprintf(out, "replication: %s\n", line)
	}

	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + st.Admin + "/status")
	if err != nil {
		fmt.Fprintf(out, "fwdproxy /status: %v\n", err)
		return false, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Fprintf(out, "fwdproxy /status (http://%s/status):\n%s", st.Admin, b)
	if len(b) > 0 && b[len(b)-1] != '\n' {
		fmt.Fprintln(out)
	}
	return allUp && resp.StatusCode == http.StatusOK, nil
}

// replicaLag describes the replica: whether replication runs, its position
// against the writer's, and, when it is behind, how long it took to catch
// up with the writer's position of now.
func replicaLag(ctx context.Context, st *State) (string, error) {
	fl := &flavor{Name: st.Flavor}
	w, err := userDB(st.Writer)
	if err != nil {
		return "", err
	}
	defer w.Close()
	r, err := userDB(st.Replica)
	if err != nil {
		return "", err
	}
	defer r.Close()
	var wpos, rpos string
	if err := w.QueryRowContext(ctx, fl.positionSQL(false)).Scan(&wpos); err != nil {
		return "", fmt.Errorf("writer: %v", err)
	}
	if err := r.QueryRowContext(ctx, fl.positionSQL(true)).Scan(&rpos); err != nil {
		return "", fmt.Errorf("replica: %v", err)
	}
	rs, err := rowMap(ctx, r, fl.replicaStatusSQL())
	if err != nil {
		return "", fmt.Errorf("replica: %v", err)
	}
	pick := func(names ...string) string {
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
	line := fmt.Sprintf("IO %s, SQL %s, Seconds_Behind_Master %s; writer at %q, replica at %q",
		pick("Slave_IO_Running", "Replica_IO_Running"), pick("Slave_SQL_Running", "Replica_SQL_Running"),
		pick("Seconds_Behind_Master", "Seconds_Behind_Source"), wpos, rpos)
	if e := pick("Last_Error", "Last_IO_Error"); e != "?" && e != "NULL" {
		line += "; last error: " + e
	}
	if wpos == rpos {
		return line + " (caught up)", nil
	}
	if n, ok := behind(wpos, rpos); ok && fl.mariaDB() {
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
	err = r.QueryRowContext(ctx, fl.waitSQL(), wpos, 10).Scan(&res)
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

// ConnectHelp is what `up` prints: where everything is and how to use it.
// downCmd is the command that stops the sandbox.
func (st *State) ConnectHelp(downCmd string) string {
	client := "mariadb"
	if st.Flavor != "MariaDB" {
		client = "mysql"
	}
	_, port, _ := strings.Cut(st.Proxy, ":")
	var b strings.Builder
	fmt.Fprintf(&b, `
fwdproxy sandbox is up (%s %s, files and logs in %s):
  writer    %s
  replica   %s, replicating through %s (+%s writer → replica)
  fwdproxy  %s, reaching the writer through %s (%s round trip); admin http://%s/status

Connect through fwdproxy:

  %s -h 127.0.0.1 -P %s -u %s -p%s %s

Then try (paste each INSERT together with the SELECT after it: typed by
hand, the replica has caught up before the SELECT):

  SET aurora_replica_read_consistency = 'eventual';
  INSERT INTO demo (note) VALUES ('eventual');   -- forwarded to the writer
  SELECT * FROM demo;                            -- the replica, %s behind: not there yet
  SET aurora_replica_read_consistency = 'session';
  INSERT INTO demo (note) VALUES ('session');
  SELECT * FROM demo;                            -- waits for the replica: both rows

The writer directly: %s --defaults-file=%s
Stop everything: %s
`, st.Flavor, st.Version, st.Dir,
		st.Writer,
		st.Replica, st.ReplLink, st.Lag,
		st.Proxy, st.WriterLink, st.RTT, st.Admin,
		client, port, User, Password, Database,
		st.Lag,
		client, filepath.Join(st.Dir, procWriter, "my.cnf"),
		downCmd)
	return b.String()
}
