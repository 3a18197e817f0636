package consistency

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	_ "github.com/go-sql-driver/mysql"

	"github.com/fwdproxy/fwdproxy/integration/pair"
)

func ev(e replication.Event, typ replication.EventType) *replication.BinlogEvent {
	return &replication.BinlogEvent{Header: &replication.EventHeader{EventType: typ}, Event: e}
}

func mariaGTID(domain, server uint32, seq uint64, flags byte) *replication.BinlogEvent {
	return ev(&replication.MariadbGTIDEvent{GTID: gmysql.MariadbGTID{DomainID: domain, ServerID: server, SequenceNumber: seq}, Flags: flags},
		replication.MARIADB_GTID_EVENT)
}

func query(q string) *replication.BinlogEvent {
	return ev(&replication.QueryEvent{Query: []byte(q)}, replication.QUERY_EVENT)
}

func xid() *replication.BinlogEvent { return ev(&replication.XIDEvent{XID: 1}, replication.XID_EVENT) }

func rows() *replication.BinlogEvent {
	return ev(&replication.RowsEvent{}, replication.WRITE_ROWS_EVENTv1)
}

// feed runs events through a tracker that advances at commit events and
// returns Applied after each one.
func feed(t *testing.T, f Flavor, own eventState, events ...*replication.BinlogEvent) []string {
	t.Helper()
	a := NewApplied(f)
	tr := NewBinlogTracker(TrackerConfig{Flavor: f, Unconfirmed: true}, a, nil)
	tr.ev = own
	var out []string
	for _, e := range events {
		if err := tr.HandleEvent(e); err != nil {
			t.Fatal(err)
		}
		out = append(out, a.Get().String())
	}
	return out
}

func TestTrackerEventsMariaDB(t *testing.T) {
	got := feed(t, MariaDB, eventState{ownServer: 2},
		// InnoDB transaction: GTID stands for BEGIN, XID commits.
		mariaGTID(0, 1, 5, 0), ev(&replication.TableMapEvent{}, replication.TABLE_MAP_EVENT), rows(), xid(),
		// DDL: standalone GTID, then the statement.
		mariaGTID(0, 1, 6, replication.BINLOG_MARIADB_FL_STANDALONE), query("CREATE TABLE t (a int)"),
		// Non-transactional engine: ends with a COMMIT query.
		mariaGTID(0, 1, 7, 0), query("INSERT INTO m VALUES (1)"), query(" /* c */ COMMIT"),
		// Another domain.
		mariaGTID(3, 1, 2, 0), rows(), xid(),
		// A local write on the replica (its own server id) is not tracked.
		mariaGTID(0, 2, 8, 0), rows(), xid(),
		// XA PREPARE ends a group (its GTID is in gtid_slave_pos).
		mariaGTID(0, 1, 9, 0), query("XA START 'x'"), rows(), ev(&replication.GenericEvent{}, replication.XA_PREPARE_LOG_EVENT),
		// A group left open is closed by the next GTID event.
		mariaGTID(0, 1, 10, 0), rows(), mariaGTID(0, 1, 11, replication.BINLOG_MARIADB_FL_STANDALONE), query("DROP TABLE t"),
	)
	want := []string{
		"", "", "", "0-1-5",
		"0-1-5", "0-1-6",
		"0-1-6", "0-1-6", "0-1-7",
		"0-1-7", "0-1-7", "0-1-7,3-1-2",
		"0-1-7,3-1-2", "0-1-7,3-1-2", "0-1-7,3-1-2",
		"0-1-7,3-1-2", "0-1-7,3-1-2", "0-1-7,3-1-2", "0-1-9,3-1-2",
		"0-1-9,3-1-2", "0-1-9,3-1-2", "0-1-10,3-1-2", "0-1-11,3-1-2",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Applied after each event:\n got %q\nwant %q", got, want)
	}
}

func TestTrackerEventsMySQL(t *testing.T) {
	const a = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	const own = "00000000-0000-0000-0000-000000000002"
	uid := func(s string) []byte { u, _ := parseUUID(s); return u[:] }
	gtid := func(sid string, gno int64) *replication.BinlogEvent {
		return ev(&replication.GTIDEvent{SID: uid(sid), GNO: gno}, replication.GTID_EVENT)
	}
	ownU, _ := parseUUID(own)
	payload := &replication.TransactionPayloadEvent{Events: []*replication.BinlogEvent{query("BEGIN"), rows(), xid()}}
	tagged := ev(&replication.GtidTaggedLogEvent{GTIDEvent: replication.GTIDEvent{SID: uid(a), GNO: 1, Tag: gmysql.NewTag("Batch")}},
		replication.GTID_TAGGED_LOG_EVENT)
	got := feed(t, MySQL, eventState{ownUUID: ownU, hasUUID: true},
		gtid(a, 1), query("BEGIN"), rows(), xid(),
		gtid(a, 2), query("CREATE TABLE t (a int)"),
		gtid(a, 3), query("BEGIN"), query("INSERT INTO t VALUES (1)"), query("COMMIT"),
		gtid(a, 4), ev(payload, replication.TRANSACTION_PAYLOAD_EVENT),
		gtid(own, 9), query("BEGIN"), rows(), xid(),
		tagged, query("BEGIN"), xid(),
		ev(&replication.GTIDEvent{GNO: 0}, replication.ANONYMOUS_GTID_EVENT), query("BEGIN"), xid(),
	)
	want := []string{
		"", "", "", a + ":1",
		a + ":1", a + ":1-2",
		a + ":1-2", a + ":1-2", a + ":1-2", a + ":1-3",
		a + ":1-3", a + ":1-4",
		a + ":1-4", a + ":1-4", a + ":1-4", a + ":1-4",
		a + ":1-4", a + ":1-4", a + ":1-4:batch:1",
		a + ":1-4:batch:1", a + ":1-4:batch:1", a + ":1-4:batch:1",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Applied after each event:\n got %q\nwant %q", got, want)
	}
}

func TestFirstWords(t *testing.T) {
	for q, want := range map[string]string{
		"BEGIN": "BEGIN", " commit ;": "COMMIT", "/* x */ /*y*/XA commit 'a'": "XA COMMIT",
		"START TRANSACTION": "START TRANSACTION", "insert into t": "INSERT", "": "", "/* open": "",
		"XA": "XA", "ROLLBACK": "ROLLBACK",
	} {
		if got := firstWords([]byte(q)); got != want {
			t.Errorf("firstWords(%q) = %q, want %q", q, got, want)
		}
	}
}

func TestTrackerStartFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	tr := NewBinlogTracker(TrackerConfig{Flavor: MariaDB, Host: "127.0.0.1", Port: uint16(port), User: "x"}, NewApplied(MariaDB), t.Logf)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Start(ctx); err == nil {
		t.Fatal("Start succeeded without a server")
	}
	if tr.Running() {
		t.Fatal("Running after a failed Start")
	}
	tr.Close()
}

// TestBinlogTrackerPair runs the tracker against a real MariaDB pair: for
// each of 200 rows written on the writer, Applied must cover the row's GTID
// and the row must then be visible on the replica at once; then the same
// with 8 concurrent writers. The unconfirmed mode runs too, for the record:
// its notifications can precede visibility, so it is only logged.
func TestBinlogTrackerPair(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a MariaDB pair")
	}
	p, err := pair.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.CheckReplicaClean(); err != nil {
			t.Error(err)
		}
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	const db = "tracker_test"
	if err := p.CreateDatabase(db); err != nil {
		t.Fatal(err)
	}
	w, err := p.WriterDB(db)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := p.ReaderDB(db)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := w.Exec("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReplicated(context.Background()); err != nil {
		t.Fatal(err)
	}
	host, portS, _ := net.SplitHostPort(p.ReaderAddr)
	port, _ := strconv.Atoi(portS)
	cfg := TrackerConfig{Flavor: MariaDB, Host: host, Port: uint16(port), User: p.User, Password: p.Password}

	var nextID atomic.Int64
	// writeAndCheck: writers goroutines each write rows rows; after each
	// write, wait for Applied to cover its GTID, then read it on the replica.
	writeAndCheck := func(t *testing.T, applied *Applied, tr *BinlogTracker, writers, rows int) (stale int, lat []time.Duration) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for g := 0; g < writers; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := context.Background()
				wc, err := w.Conn(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				defer wc.Close()
				rc, err := r.Conn(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				defer rc.Close()
				for i := 0; i < rows; i++ {
					id := nextID.Add(1)
					if _, err := wc.ExecContext(ctx, "INSERT INTO t VALUES (?, ?)", id, id*7); err != nil {
						t.Error(err)
						return
					}
					committed := time.Now()
					var gs string
					if err := wc.QueryRowContext(ctx, "SELECT @@last_gtid").Scan(&gs); err != nil {
						t.Error(err)
						return
					}
					gt, err := MariaDB.ParseSet(gs)
					if err != nil || gt.IsEmpty() {
						t.Errorf("last_gtid %q: %v", gs, err)
						return
					}
					wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					err = applied.WaitCovered(wctx, gt)
					cancel()
					if err != nil {
						t.Errorf("row %d: Applied never covered %s (Applied %s, tracker running %v)", id, gt, applied.Get(), tr.Running())
						return
					}
					d := time.Since(committed)
					var v int64
					err = rc.QueryRowContext(ctx, "SELECT v FROM t WHERE id = ?", id).Scan(&v)
					mu.Lock()
					lat = append(lat, d)
					switch {
					case err == sql.ErrNoRows:
						stale++
					case err != nil:
						t.Error(err)
					case v != id*7:
						t.Errorf("row %d: v=%d", id, v)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		slices.Sort(lat)
		return stale, lat
	}

	for _, unconfirmed := range []bool{false, true} {
		t.Run(fmt.Sprintf("unconfirmed=%v", unconfirmed), func(t *testing.T) {
			cfg := cfg
			cfg.Unconfirmed = unconfirmed
			applied := NewApplied(MariaDB)
			var logMu sync.Mutex
			var logs []string
			logf := func(f string, a ...any) {
				logMu.Lock()
				logs = append(logs, fmt.Sprintf(f, a...))
				logMu.Unlock()
			}
			tr := NewBinlogTracker(cfg, applied, logf)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := tr.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			if !tr.Running() {
				t.Fatal("not running after Start")
			}
			// Start seeds Applied with the replica's position (confirmed
			// first, unless unconfirmed).
			var slavePos string
			if err := r.QueryRow("SELECT @@GLOBAL.gtid_slave_pos").Scan(&slavePos); err != nil {
				t.Fatal(err)
			}
			sp, _ := MariaDB.ParseSet(slavePos)
			wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := applied.WaitCovered(wctx, sp)
			wcancel()
			if err != nil {
				t.Fatalf("Applied %s does not cover the replica's start position %s: %v", applied.Get(), slavePos, err)
			}

			for _, shape := range []struct{ writers, rows int }{{1, 200}, {8, 50}} {
				before := tr.Transactions()
				stale, lat := writeAndCheck(t, applied, tr, shape.writers, shape.rows)
				n := shape.writers * shape.rows
				if t.Failed() {
					t.FailNow()
				}
				t.Logf("%d writer(s) x %d rows: %d not visible when covered; commit -> covered (incl. the writer round trip for @@last_gtid) p50 %v, p99 %v",
					shape.writers, shape.rows, stale, lat[len(lat)/2], lat[len(lat)*99/100])
				if !unconfirmed && stale > 0 {
					t.Errorf("%d of %d rows not visible on the replica right after Applied covered them", stale, n)
				}
				if got := tr.Transactions() - before; got < uint64(n) {
					t.Errorf("tracker saw %d transactions, want >= %d", got, n)
				}
			}

			// Kill the listener's dump thread on the replica: the tracker
			// must log and stop, so that the proxy falls back to waits on
			// the server.
			root, err := p.RootDB(p.ReaderAddr)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			var ids []int64
			rows, err := root.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' AND USER = ?", p.User)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			rows.Close()
			if len(ids) != 1 {
				t.Fatalf("want one binlog dump thread of %s on the replica, got %v", p.User, ids)
			}
			if _, err := root.ExecContext(ctx, "KILL "+strconv.FormatInt(ids[0], 10)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the tracker to stop after its dump thread was killed", func() bool { return !tr.Running() })
			logMu.Lock()
			joined := strings.Join(logs, "\n")
			logMu.Unlock()
			if !strings.Contains(joined, "falling back to server-side waits") {
				t.Errorf("the failure was not logged; log:\n%s", joined)
			}
		})
	}
}
