package doctor

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/fwdproxy/fwdproxy/integration/pair"
)

// The live tests run the doctor against real MariaDB pairs (integration/pair.sh):
//   - the healthy case against $FWDPROXY_PAIR_ENV when it is set (read-only: the doctor
//     only reads, and changes nothing but its own session), else against private pair A;
//   - every breaking case against private pairs that TestMain starts in parallel and stops
//     at the end: A (normal; each case breaks one setting and undoes it) and B (writer
//     started with PAIR_WRITER_EXTRA_CNF=skip-log-bin).
// go test -short skips them; -update rewrites testdata/mariadb-<case>.json from them.

var update = flag.Bool("update", false, "rewrite testdata/mariadb-*.json from the live runs")

// private is a pair this package started.
type private struct {
	dir   string
	extra []string // env for pair.sh
	p     *pair.Pair
	err   error
	ready chan struct{}
}

var pairA, pairB *private

func TestMain(m *testing.M) {
	flag.Parse()
	live := !testing.Short() && runsLive()
	if live {
		pairA = &private{ready: make(chan struct{})}
		pairB = &private{extra: []string{"PAIR_WRITER_EXTRA_CNF=skip-log-bin"}, ready: make(chan struct{})}
		for _, p := range []*private{pairA, pairB} {
			go p.start()
		}
	}
	code := m.Run()
	if live {
		for _, p := range []*private{pairA, pairB} {
			<-p.ready
			if err := p.stop(); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}
	}
	os.Exit(code)
}

// runsLive reports whether -test.run selects TestLive (so that running only the
// unit tests starts no servers).
func runsLive() bool {
	f := flag.Lookup("test.run")
	if f == nil || f.Value.String() == "" {
		return true
	}
	pat, _, _ := strings.Cut(f.Value.String(), "/")
	re, err := regexp.Compile(pat)
	return err != nil || re.MatchString("TestLive")
}

func script() string { return filepath.Join("..", "integration", "pair.sh") }

func (p *private) start() {
	defer close(p.ready)
	dir, err := os.MkdirTemp("", "pd-doctor-")
	if err != nil {
		p.err = err
		return
	}
	p.dir = dir
	cmd := exec.Command("bash", script(), "start", dir)
	cmd.Env = append(os.Environ(), p.extra...)
	if out, err := cmd.CombinedOutput(); err != nil {
		p.err = fmt.Errorf("pair.sh start %s: %v\n%s", dir, err, out)
		return
	}
	p.p, p.err = pair.Load(filepath.Join(dir, "pair.env"))
}

func (p *private) stop() error {
	if p.p != nil {
		_ = p.p.Stop() // closes its helper connections; the pair is ours to stop below
	}
	if p.dir == "" {
		return nil
	}
	if out, err := exec.Command("bash", script(), "stop", p.dir).CombinedOutput(); err != nil {
		return fmt.Errorf("pair.sh stop %s: %v\n%s", p.dir, err, out)
	}
	return nil
}

func (p *private) get(t *testing.T) *pair.Pair {
	t.Helper()
	if p == nil {
		t.Skip("live tests not started (-short or -run)")
	}
	<-p.ready
	if p.err != nil {
		t.Fatal(p.err)
	}
	return p.p
}

// doctorRun runs every check against a live pair as user, recording the traffic.
func doctorRun(t *testing.T, c docCase, p *pair.Pair, user, password string) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := &Recording{WriterAddr: p.WriterAddr, ReaderAddr: p.ReaderAddr, User: user}
	connect := func(role, addr string, log *[]Exchange, connErr **ErrRecord) (*Server, func()) {
		q, closeFn, err := Connect(ctx, addr, user, password, 10*time.Second)
		if err != nil {
			*connErr = recordErr(err)
			return NewServer(ctx, role, addr, nil, err), func() {}
		}
		r := &Recorder{Q: q}
		s := NewServer(ctx, role, addr, r, nil)
		return s, func() { *log = r.Log; _ = closeFn() }
	}
	w, wdone := connect("writer", p.WriterAddr, &rec.Writer, &rec.WriterConnectError)
	r, rdone := connect("replica", p.ReaderAddr, &rec.Replica, &rec.ReplicaConnectError)
	rep := Run(ctx, w, r, c.opt)
	wdone()
	rdone()
	var b strings.Builder
	_ = rep.WriteText(&b)
	t.Logf("doctor report (%s):\n%s", c.name, b.String())
	if *update {
		rec.Comment = "recorded by TestLive/" + c.name + " (go test ./doctor -run TestLive -update) from MariaDB pairs started by integration/pair.sh"
		if err := rec.Save(filepath.Join("testdata", "mariadb-"+c.name+".json")); err != nil {
			t.Fatal(err)
		}
	}
	return rep
}

func rootExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func rootDBs(t *testing.T, p *pair.Pair) (w, r *sql.DB) {
	t.Helper()
	w, err := p.RootDB(p.WriterAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	r, err = p.RootDB(p.ReaderAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return w, r
}

// slaveStatus reads one column of the replica's SHOW SLAVE STATUS ("" for NULL).
func slaveStatus(t *testing.T, r *sql.DB, colName string) string {
	t.Helper()
	rows, err := r.Query("SHOW SLAVE STATUS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		t.Fatal("SHOW SLAVE STATUS is empty")
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	for i, c := range cols {
		if c == colName {
			return vals[i].String
		}
	}
	t.Fatalf("no column %s", colName)
	return ""
}

// restartReplication starts the replica's threads and waits until both run and it has
// caught up, so that the next case starts healthy.
func restartReplication(t *testing.T, p *pair.Pair, r *sql.DB, stmts ...string) {
	t.Helper()
	rootExec(t, r, append(append([]string{"STOP SLAVE"}, stmts...), "START SLAVE")...)
	deadline := time.Now().Add(20 * time.Second)
	for slaveStatus(t, r, "Slave_IO_Running") != "Yes" || slaveStatus(t, r, "Slave_SQL_Running") != "Yes" {
		if time.Now().After(deadline) {
			t.Fatal("replication did not restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLive runs the cases in order; the ones on pair A each undo what they break.
func TestLive(t *testing.T) {
	if pairA == nil {
		t.Skip("live tests not started (-short)")
	}
	// Pair B's case runs alongside pair A's: nothing is shared.
	t.Run("no-binlog", func(t *testing.T) {
		t.Parallel()
		p := pairB.get(t)
		// The writer has no binlog, so the users pair.sh creates there never reach the
		// replica: create the test user on the replica over its socket (root, no password yet).
		cfg := mysql.NewConfig()
		cfg.Net, cfg.Addr, cfg.User = "unix", p.ReaderSocket, "root"
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(conn)
		defer db.Close()
		rootExec(t, db, "SET SESSION sql_log_bin = 0",
			fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'", p.User, p.Password),
			fmt.Sprintf("GRANT ALL PRIVILEGES ON *.* TO '%s'@'%%' WITH GRANT OPTION", p.User))
		// The replica's I/O thread gives up on a writer without a binlog only after it has
		// connected and asked (Preparing, then No with 1236); on a loaded machine that
		// takes seconds, and the case is about the state after it.
		deadline := time.Now().Add(60 * time.Second)
		for slaveStatus(t, db, "Slave_IO_Running") != "No" {
			if time.Now().After(deadline) {
				t.Fatalf("the replica's I/O thread still %s after 60 s", slaveStatus(t, db, "Slave_IO_Running"))
			}
			time.Sleep(50 * time.Millisecond)
		}
		c := caseNamed("no-binlog")
		checkReport(t, c, doctorRun(t, c, p, p.User, p.Password))
	})
	t.Run("A", func(t *testing.T) {
		t.Parallel()
		a := pairA.get(t)
		w, r := rootDBs(t, a)

		t.Run("healthy", func(t *testing.T) {
			p := a
			if env := os.Getenv(pair.EnvVar); env != "" {
				shared, err := pair.Load(env)
				if err != nil {
					t.Fatal(err)
				}
				p = shared
				t.Logf("healthy case against the shared pair %s", env)
			}
			c := caseNamed("healthy")
			checkReport(t, c, doctorRun(t, c, p, p.User, p.Password))
		})

		t.Run("swapped", func(t *testing.T) {
			sw := &pair.Pair{WriterAddr: a.ReaderAddr, ReaderAddr: a.WriterAddr} // doctorRun reads only the addresses
			c := caseNamed("swapped")
			rep := doctorRun(t, c, sw, a.User, a.Password)
			checkReport(t, c, rep)
			if f := rep.Find("swapped"); len(f) == 1 && !slices.Contains(f[0].Fix, "--writer "+a.WriterAddr+" --reader "+a.ReaderAddr) {
				t.Errorf("swapped: fix %q does not give the addresses the right way round", f[0].Fix)
			}
		})

		t.Run("wrong-password", func(t *testing.T) {
			c := caseNamed("wrong-password")
			checkReport(t, c, doctorRun(t, c, a, a.User, a.Password+"-wrong"))
		})

		t.Run("stopped-replication", func(t *testing.T) {
			rootExec(t, r, "STOP SLAVE")
			defer restartReplication(t, a, r)
			c := caseNamed("stopped-replication")
			checkReport(t, c, doctorRun(t, c, a, a.User, a.Password))
		})

		t.Run("read-only-off", func(t *testing.T) {
			rootExec(t, r, "SET GLOBAL read_only = OFF")
			defer rootExec(t, r, "SET GLOBAL read_only = ON")
			c := caseNamed("read-only-off")
			checkReport(t, c, doctorRun(t, c, a, a.User, a.Password))
		})

		t.Run("statement-format", func(t *testing.T) {
			rootExec(t, w, "SET GLOBAL binlog_format = 'STATEMENT'")
			defer rootExec(t, w, "SET GLOBAL binlog_format = 'ROW'")
			c := caseNamed("statement-format")
			checkReport(t, c, doctorRun(t, c, a, a.User, a.Password))
		})

		t.Run("writer-settings", func(t *testing.T) {
			rootExec(t, w, "SET GLOBAL binlog_row_image = 'MINIMAL'", "SET GLOBAL binlog_expire_logs_seconds = 86400",
				"SET GLOBAL max_connections = 5", "SET GLOBAL read_only = ON")
			defer rootExec(t, w, "SET GLOBAL binlog_row_image = 'FULL'", "SET GLOBAL binlog_expire_logs_seconds = 0",
				"SET GLOBAL max_connections = 151", "SET GLOBAL read_only = OFF")
			c := caseNamed("writer-settings")
			checkReport(t, c, doctorRun(t, c, a, a.User, a.Password))
		})

		t.Run("same-server-id", func(t *testing.T) {
			// Nothing is written meanwhile: a replica with the writer's id would skip it.
			rootExec(t, r, "SET GLOBAL server_id = 1")
			defer rootExec(t, r, "SET GLOBAL server_id = 2")
			c := caseNamed("same-server-id")
			checkReport(t, c, doctorRun(t, c, a, a.User, a.Password))
		})

		t.Run("no-gtid", func(t *testing.T) {
			restartReplication(t, a, r, "CHANGE MASTER TO MASTER_USE_GTID = no")
			defer restartReplication(t, a, r, "CHANGE MASTER TO MASTER_USE_GTID = slave_pos")
			c := caseNamed("no-gtid")
			checkReport(t, c, doctorRun(t, c, a, a.User, a.Password))
		})

		t.Run("select-only-user", func(t *testing.T) {
			rootExec(t, w, "CREATE USER 'app'@'%' IDENTIFIED BY 'apppass'", "GRANT SELECT ON *.* TO 'app'@'%'")
			defer func() {
				rootExec(t, w, "DROP USER 'app'@'%'")
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if err := a.WaitReplicated(ctx); err != nil {
					t.Error(err)
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := a.WaitReplicated(ctx); err != nil {
				t.Fatal(err)
			}
			c := caseNamed("select-only-user")
			checkReport(t, c, doctorRun(t, c, a, "app", "apppass"))
		})

		t.Run("lag", func(t *testing.T) {
			restartReplication(t, a, r, "CHANGE MASTER TO MASTER_DELAY = 3")
			defer restartReplication(t, a, r, "CHANGE MASTER TO MASTER_DELAY = 0")
			rootExec(t, w, "CREATE DATABASE IF NOT EXISTS doctor_lag", "DROP DATABASE doctor_lag")
			// Wait until the delayed event sits on the replica and shows as lag.
			deadline := time.Now().Add(10 * time.Second)
			for {
				v := slaveStatus(t, r, "Seconds_Behind_Master")
				if v != "" && v != "0" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("Seconds_Behind_Master stayed %q", v)
				}
				time.Sleep(50 * time.Millisecond)
			}
			c := caseNamed("lag")
			checkReport(t, c, doctorRun(t, c, a, a.User, a.Password))
		})
	})
}
