// Package capture proves capture and replay against a real pair whose
// replica applies the writer's changes a fixed lag late (a sandbox link on
// its replication connection): a scripted application with
// read-after-write patterns, captured through a proxy at SESSION, replays
// through a proxy at SESSION with no differences, and at EVENTUAL with the
// stale reads it should have, and only those. The capture stops cleanly at
// its size limit and never holds a password.
package capture

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	capfile "github.com/fwdproxy/fwdproxy/capture"
	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/integration/pair/pairproxy"
	"github.com/fwdproxy/fwdproxy/proxy"
	"github.com/fwdproxy/fwdproxy/replay"
	"github.com/fwdproxy/fwdproxy/sandbox"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

const (
	testDB = "fwdcapture"
	lag    = 250 * time.Millisecond
	// The application: sessions at once, each rounds of its script.
	appSessions = 4
	appRounds   = 5
)

// The reads that follow the session's own write: the ones EVENTUAL may
// serve stale.
const (
	readInserted = "SELECT v FROM orders WHERE owner = ? AND k = ?"
	readUpdated  = "SELECT k FROM orders WHERE owner = %d AND v = 1"
)

// Statements that carry passwords; the proxy refuses them (DCL is not
// forwarded), but the capture sees their text.
var secrets = []string{"S3cret-pw-42", "An0ther-pw-42", "Th1rd-pw-42"}

var passwordStatements = []string{
	"CREATE USER IF NOT EXISTS 'capuser'@'%' IDENTIFIED BY '" + secrets[0] + "'",
	"ALTER USER 'capuser'@'%' IDENTIFIED BY '" + secrets[1] + "'",
	"SET PASSWORD FOR 'capuser'@'%' = PASSWORD('" + secrets[2] + "')",
}

var thePair *pair.Pair

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) (code int) {
	p, err := pair.New() // private: its replication goes through a lagging link
	if err != nil {
		fmt.Fprintln(os.Stderr, "capture: cannot start a MariaDB pair:", err)
		return 1
	}
	thePair = p
	defer func() {
		if err := p.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "capture:", err)
			code = 1
		}
	}()
	link := &sandbox.Link{Listen: "127.0.0.1:0", Upstream: p.WriterAddr, DelayDown: lag}
	if err := link.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "capture: link:", err)
		return 1
	}
	defer link.Close()
	if err := setUp(p, link.Addr().(*net.TCPAddr)); err != nil {
		fmt.Fprintln(os.Stderr, "capture:", err)
		return 1
	}
	defer func() {
		// Back to a direct link, caught up, and clean.
		host, port, _ := net.SplitHostPort(p.WriterAddr)
		n, _ := strconv.Atoi(port)
		err := p.SetMaster(host, n)
		if err == nil {
			err = p.WaitReplicated(context.Background())
		}
		if err == nil {
			err = p.CheckReplicaClean()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "capture:", err)
			code = 1
		}
	}()
	return m.Run()
}

func setUp(p *pair.Pair, link *net.TCPAddr) error {
	if err := p.SetMaster(link.IP.String(), link.Port); err != nil {
		return err
	}
	return p.CreateTables(testDB, "CREATE TABLE orders (owner INT, k INT, v INT NOT NULL, PRIMARY KEY (owner, k))")
}

// emptyOrders empties the table on the writer and waits for the replica,
// so that every run of the application starts from the same data.
func emptyOrders(t *testing.T) {
	t.Helper()
	w, err := thePair.WriterDB(testDB)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Exec("DELETE FROM orders"); err != nil {
		t.Fatal(err)
	}
	if err := thePair.WaitReplicated(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// startProxy serves an in-process proxy in front of the pair.
func startProxy(t *testing.T, mutate func(*proxy.Config)) (*proxy.Server, string) {
	t.Helper()
	return pairproxy.Start(t, thePair, pairproxy.Configure(mutate), pairproxy.CheckClean())
}

// application runs the scripted workload through the proxy at addr:
// sessions sessions at once, each writing its own rows and reading them
// back at once, with prepared (binary) and text statements, an expected
// duplicate-key error and, in the first session, the password statements.
// At SESSION every read sees the session's writes; it says so.
func application(t *testing.T, addr string, sessions, rounds int) {
	t.Helper()
	dsn := pair.DSN(addr, thePair.User, thePair.Password, testDB) + "&connectionAttributes=program_name:shop-app"
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for s := 0; s < sessions; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			errs <- script(db, s, rounds)
		}(s)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func script(db *sql.DB, owner, rounds int) error {
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if owner == 0 {
		for _, q := range passwordStatements {
			_, _ = c.ExecContext(ctx, q) // refused: DCL is not forwarded
		}
	}
	for k := 0; k < rounds; k++ {
		if _, err := c.ExecContext(ctx, fmt.Sprintf("INSERT INTO orders (owner, k, v) VALUES (%d, %d, 0)", owner, k)); err != nil {
			return err
		}
		var v int
		if err := c.QueryRowContext(ctx, readInserted, owner, k).Scan(&v); err != nil {
			return fmt.Errorf("read after insert (%d, %d): %w", owner, k, err)
		}
		if _, err := c.ExecContext(ctx, "UPDATE orders SET v = v + 1 WHERE owner = ? AND k = ?", owner, k); err != nil {
			return err
		}
		n, err := count(ctx, c, fmt.Sprintf(readUpdated, owner))
		if err != nil || n != k+1 {
			return fmt.Errorf("read after update, owner %d: %d rows, want %d (%v)", owner, n, k+1, err)
		}
		_, err = c.ExecContext(ctx, fmt.Sprintf("INSERT INTO orders (owner, k, v) VALUES (%d, %d, 9)", owner, k))
		if me := (*mysql.MySQLError)(nil); !errors.As(err, &me) || me.Number != 1062 {
			return fmt.Errorf("duplicate insert: %v, want 1062", err)
		}
		if _, err := count(ctx, c, "SELECT 1"); err != nil {
			return err
		}
	}
	return nil
}

func count(ctx context.Context, c *sql.Conn, q string) (int, error) {
	rows, err := c.QueryContext(ctx, q)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

func readCapture(t *testing.T, path string) []capfile.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := capfile.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := rd.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// replayAt replays the scripted application's capture from empty orders.
func replayAt(t *testing.T, recs []capfile.Record, consistency string) *replay.Report {
	t.Helper()
	rep := replayThrough(t, recs, consistency, emptyOrders)
	if got := rep.Skipped["holds a password (redacted in the capture)"]; got != len(passwordStatements) {
		t.Errorf("skipped %v, want the %d password statements", rep.Skipped, len(passwordStatements))
	}
	for _, e := range rep.Errors {
		// The duplicate inserts fail as they did; the password
		// statements are not replayed.
		if e.Code != 1062 || e.Captured != e.Count {
			t.Errorf("error in the replay: %+v", e)
		}
	}
	return rep
}

// replayThrough resets the data the capture started from, then replays
// recs through a proxy at consistency and logs the report.
func replayThrough(t *testing.T, recs []capfile.Record, consistency string, reset func(*testing.T)) *replay.Report {
	t.Helper()
	reset(t)
	_, addr := startProxy(t, nil)
	rep, err := replay.Run(context.Background(), recs, replay.Options{
		Target: addr, Users: map[string]string{thePair.User: thePair.Password}, DefaultUser: thePair.User,
		Speed: 1, Consistency: consistency,
	})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	t.Logf("replay at %s:\n%s", consistency, text.String())
	if len(rep.Failures) > 0 {
		t.Errorf("failures: %v", rep.Failures)
	}
	return rep
}

func TestCaptureAndReplay(t *testing.T) {
	file := filepath.Join(t.TempDir(), "capture.jsonl")
	emptyOrders(t)
	srv, addr := startProxy(t, func(c *proxy.Config) {
		c.DefaultConsistency = "SESSION"
		c.CaptureFile = file
	})
	application(t, addr, appSessions, appRounds)
	srv.Close()
	recs := readCapture(t, file)

	t.Run("capture", func(t *testing.T) {
		connects, commands, withParams := 0, 0, 0
		for _, r := range recs {
			switch r.Kind {
			case capfile.Connect:
				connects++
				if r.User != thePair.User || r.DB != testDB || r.Program != "shop-app" {
					t.Errorf("connect record %+v", r)
				}
			case capfile.Command:
				commands++
				if r.Result == nil {
					t.Errorf("command without a result: %+v", r)
				}
				if r.Name == "execute" && len(r.Params) == 2 {
					withParams++
				}
			}
		}
		// Per round: 3 text statements, 2 prepared ones (prepare, execute, close each).
		if want := appSessions*appRounds*(3+2*3) + len(passwordStatements); connects != appSessions || commands < want || withParams != 2*appSessions*appRounds {
			t.Errorf("%d connects, %d commands (want %d), %d executes with parameters", connects, commands, want, withParams)
		}
	})

	t.Run("no password", func(t *testing.T) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range append(secrets, thePair.Password) {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("the capture holds the password %q", s)
			}
		}
		redacted := 0
		for _, r := range recs {
			if r.Redacted {
				redacted++
			}
		}
		if redacted != len(passwordStatements) || !bytes.Contains(data, []byte(sqlclass.Redacted)) {
			t.Errorf("%d statements redacted, want %d", redacted, len(passwordStatements))
		}
	})

	t.Run("SESSION", func(t *testing.T) {
		rep := replayAt(t, recs, "SESSION")
		if rep.Differences != 0 {
			t.Errorf("%d differences at SESSION: %+v", rep.Differences, rep.Diffs)
		}
	})

	t.Run("EVENTUAL", func(t *testing.T) {
		rep := replayAt(t, recs, "EVENTUAL")
		stale := map[string]bool{
			sqlclass.Digest(readInserted, sqlclass.Options{}):                true,
			sqlclass.Digest(fmt.Sprintf(readUpdated, 0), sqlclass.Options{}): true,
		}
		if rep.Differences == 0 {
			t.Errorf("no stale reads at EVENTUAL %s behind", lag)
		}
		for _, d := range rep.Diffs {
			if !stale[d.Digest] || d.What != "rows" {
				t.Errorf("difference outside the reads after writes: %+v", d)
			}
			for _, s := range d.Samples {
				if s.Replayed >= s.Captured {
					t.Errorf("%s: %d rows replayed, %d captured: not a stale read", d.Digest, s.Replayed, s.Captured)
				}
			}
		}
	})
}

// At the size limit the capture stops with a last record, the file stays
// within it, /status says so, and the application goes on undisturbed.
func TestCaptureLimit(t *testing.T) {
	file := filepath.Join(t.TempDir(), "capture.jsonl")
	const limit = 4096
	emptyOrders(t)
	srv, addr := startProxy(t, func(c *proxy.Config) {
		c.DefaultConsistency = "SESSION"
		c.CaptureFile, c.CaptureMaxBytes = file, limit
	})
	application(t, addr, 2, appRounds)
	st := srv.Status().Capture
	if st == nil || !st.Stopped || st.Bytes > limit || st.Records == 0 {
		t.Fatalf("capture status %+v", st)
	}
	srv.Close()
	info, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() > limit {
		t.Errorf("capture is %d bytes, limit %d", info.Size(), limit)
	}
	recs := readCapture(t, file)
	if last := recs[len(recs)-1]; last.Kind != capfile.Stopped {
		t.Errorf("last record %+v, want stopped", last)
	}
	if n := strings.Count(mustRead(t, file), `"kind":"stopped"`); n != 1 {
		t.Errorf("%d stopped records", n)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
