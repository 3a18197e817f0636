package integration

// Issue 13's table, against the pair through the fwdproxy binary: one test
// for each thing a real client stack tripped over. The reads that must see
// a write run while the replica applies everything two seconds late
// (delayReplica), so a read that does not wait misses the write every
// time, not only when replication happens to lag.

import (
	"database/sql"
	"fmt"
	osexec "os/exec"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/proxy/wire"
)

// sessionTrack asks for CLIENT_SESSION_TRACK, as Connector/J does.
func sessionTrack(c *client.Conn) error { return c.SetCapability(gmysql.CLIENT_SESSION_TRACK) }

// Connector/J (rewriteBatchedStatements) sets session_track_system_variables.
// That SET, replayed on the writer, replaced the proxy's own tracking of
// last_gtid: the session learned no GTID from its writes and SESSION reads
// missed them. The client still gets the tracking it asked for.
func TestStackClientSetsSessionTracking(t *testing.T) {
	table(t, "st_trk")
	delayReplica(t, 2)
	_, addr := startBinary(t, "--default-consistency", "SESSION")
	for i, tc := range []struct {
		name, set  string
		writeFirst bool
	}{
		{"a list without last_gtid, before the first write",
			"SET session_track_system_variables = 'autocommit,auto_increment_increment'", false},
		{"an empty list, on an open writer connection",
			"SET SESSION session_track_system_variables = ''", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			direct := rawConn(t, thePair.WriterAddr, sessionTrack)
			rawExec(t, direct, tc.set)
			want := rawValue(t, direct, "SELECT @@session.session_track_system_variables")
			c := rawConn(t, addr, sessionTrack)
			if tc.writeFirst {
				rawExec(t, c, fmt.Sprintf("INSERT INTO st_trk (v) VALUES (%d)", 900+i))
			}
			rawExec(t, c, tc.set)
			stale := 0
			const trials = 3
			for k := 0; k < trials; k++ {
				v := 1000*(i+1) + k
				rawExec(t, c, fmt.Sprintf("INSERT INTO st_trk (v) VALUES (%d)", v))
				if n := rawValue(t, c, fmt.Sprintf("SELECT COUNT(*) FROM st_trk WHERE v = %d", v)); n != "1" {
					stale++
				}
			}
			if stale > 0 {
				t.Errorf("after %s, %d of %d SESSION reads missed the session's own write", tc.set, stale, trials)
			}
			if got := rawValue(t, c, "SELECT @@session.session_track_system_variables"); got != want {
				t.Errorf("the session tracks %q; the client's SET gives %q on the server itself", got, want)
			}
		})
	}
	// A tracked variable's change reaches the client in the SET's OK, as
	// the server itself reports it (Connector/J tracks auto_increment_increment
	// to compute a batch's generated keys).
	t.Run("a tracked change reaches the client", func(t *testing.T) {
		setState := func(c *client.Conn) string {
			rawExec(t, c, "SET session_track_system_variables = 'auto_increment_increment'")
			sendCmd(t, c, append([]byte{0x03}, "SET auto_increment_increment = 3"...)...)
			ok, valid := wire.ParseOK(readPkt(t, c), true)
			if !valid {
				t.Fatal("SET auto_increment_increment: no OK packet")
			}
			return fmt.Sprintf("%q", ok.SessionState)
		}
		server := setState(rawConn(t, thePair.WriterAddr, sessionTrack))
		if !strings.Contains(server, "auto_increment_increment") {
			t.Fatalf("the server itself sends %s", server)
		}
		if got := setState(rawConn(t, addr, sessionTrack)); got != server {
			t.Errorf("the SET's session state through the proxy is %s; the server sends %s", got, server)
		}
	})
}

// INSERT/REPLACE/DELETE … RETURNING answer with rows, whose EOF carries no
// session state: no GTID was learned, so the next SESSION read did not wait,
// and SELECT LAST_INSERT_ID() ran on the reader (0).
func TestStackReturning(t *testing.T) {
	table(t, "st_ret")
	delayReplica(t, 2)
	_, addr := startBinary(t, "--default-consistency", "SESSION")
	c := rawConn(t, addr)
	for k, v := range []int{101, 102} {
		id := rawValue(t, c, fmt.Sprintf("INSERT INTO st_ret (v) VALUES (%d) RETURNING id", v))
		if n := rawValue(t, c, fmt.Sprintf("SELECT COUNT(*) FROM st_ret WHERE v = %d", v)); n != "1" {
			t.Errorf("INSERT … RETURNING %d: the SESSION read after it finds %s rows", k, n)
		}
		if lid := rawValue(t, c, "SELECT LAST_INSERT_ID()"); lid != id {
			t.Errorf("INSERT … RETURNING id gave %s, then SELECT LAST_INSERT_ID() %s", id, lid)
		}
	}
	rawExec(t, c, "REPLACE INTO st_ret (id, v) VALUES (1, 201) RETURNING id")
	if v := rawValue(t, c, "SELECT v FROM st_ret WHERE id = 1"); v != "201" {
		t.Errorf("REPLACE … RETURNING: the SESSION read after it finds v = %s, want 201", v)
	}
	rawExec(t, c, "DELETE FROM st_ret WHERE id = 2 RETURNING v")
	if n := rawValue(t, c, "SELECT COUNT(*) FROM st_ret WHERE id = 2"); n != "0" {
		t.Errorf("DELETE … RETURNING: the SESSION read after it still finds the row")
	}
	st, err := c.Prepare("INSERT INTO st_ret (v) VALUES (?) RETURNING id")
	if err != nil {
		t.Fatalf("prepare INSERT … RETURNING: %s", errText(err))
	}
	defer st.Close()
	r, err := st.Execute(301)
	if err != nil {
		t.Fatalf("prepared INSERT … RETURNING: %s", errText(err))
	}
	id := resultValue(t, r, "prepared INSERT … RETURNING")
	if n := rawValue(t, c, "SELECT COUNT(*) FROM st_ret WHERE v = 301"); n != "1" {
		t.Errorf("prepared INSERT … RETURNING: the SESSION read after it finds %s rows", n)
	}
	if lid := rawValue(t, c, "SELECT LAST_INSERT_ID()"); lid != id {
		t.Errorf("prepared INSERT … RETURNING id gave %s, then SELECT LAST_INSERT_ID() %s", id, lid)
	}
}

// START TRANSACTION WITH CONSISTENT SNAPSHOT at SESSION or GLOBAL took the
// reader's snapshot before the consistency wait, so the transaction missed
// the write it had to see. Past --read-wait-timeout with the writer as
// fallback, the snapshot is the writer's.
func TestStackConsistentSnapshot(t *testing.T) {
	table(t, "st_snap")
	delayReplica(t, 2)
	w := writerDB(t)
	for i, tc := range []struct {
		name, level string
		flags       []string
		byOther     bool // the write is another client's, on the writer directly
	}{
		{"SESSION, the session's own write", "SESSION", nil, false},
		{"GLOBAL, another client's write", "GLOBAL", nil, true},
		{"SESSION, the wait times out to the writer", "SESSION",
			[]string{"--read-wait-timeout", "50ms", "--read-wait-timeout-action", "writer"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startBinary(t, tc.flags...)
			c := conn(t, addr, "")
			exec(t, c, "SET aurora_replica_read_consistency = '"+tc.level+"'")
			stale := 0
			const trials = 2
			for k := 0; k < trials; k++ {
				v := 1000*(i+1) + k
				q := fmt.Sprintf("INSERT INTO st_snap (v) VALUES (%d)", v)
				if tc.byOther {
					if _, err := w.Exec(q); err != nil {
						t.Fatal(err)
					}
				} else {
					exec(t, c, q)
				}
				exec(t, c, "START TRANSACTION WITH CONSISTENT SNAPSHOT")
				n := one(t, c, fmt.Sprintf("SELECT COUNT(*) FROM st_snap WHERE v = %d", v))
				exec(t, c, "COMMIT")
				if n != "1" {
					stale++
				}
			}
			if stale > 0 {
				t.Errorf("%d of %d snapshot transactions missed the write before them", stale, trials)
			}
		})
	}
}

// mariadb-admin extended-status sends SHOW /*!50002 GLOBAL */ STATUS, which
// must carry the proxy's Aurora_fwd_* rows; mariadb-admin refresh sends
// COM_REFRESH, which must be refused as FLUSH is (not 1047).
func TestStackMariaDBAdmin(t *testing.T) {
	pair.AptInstall(t, "mariadb-client")
	admin := needCommand(t, "mariadb-admin")
	for _, tc := range []struct {
		name  string
		flags []string
		code  uint16
	}{
		{"forwarding session", []string{"--default-consistency", "SESSION"}, 1235},
		{"forwarding off in the session", nil, 1290},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startBinary(t, tc.flags...)
			host, port, _ := strings.Cut(addr, ":")
			run := func(args ...string) (string, error) {
				args = append([]string{"-h", host, "-P", port, "-u", thePair.User, "-p" + thePair.Password}, args...)
				out, err := osexec.Command(admin, args...).CombinedOutput()
				return string(out), err
			}
			out, err := run("extended-status")
			if err != nil {
				t.Fatalf("mariadb-admin extended-status: %v\n%s", err, out)
			}
			for _, name := range []string{"Aurora_fwd_replica_dml_stmt_count", "Aurora_fwd_writer_open_sessions", "Uptime"} {
				if !strings.Contains(out, "| "+name+" ") {
					t.Errorf("mariadb-admin extended-status lacks %s", name)
				}
			}
			c := rawConn(t, addr)
			r := rawExec(t, c, "SHOW /*!50002 GLOBAL */ STATUS LIKE 'Aurora_fwd_replica_dml_stmt_count'")
			if len(r.Values) != 1 {
				t.Errorf("SHOW /*!50002 GLOBAL */ STATUS LIKE 'Aurora_fwd_replica_dml_stmt_count': %d rows", len(r.Values))
			}

			// FLUSH's error, then COM_REFRESH's, from the raw client and
			// from mariadb-admin.
			_, ferr := c.Execute("FLUSH TABLES")
			want := errText(ferr)
			if !strings.HasPrefix(want, fmt.Sprintf("error %d:", tc.code)) {
				t.Fatalf("FLUSH TABLES: %s, want error %d", want, tc.code)
			}
			sendCmd(t, c, 0x07, 0x04) // COM_REFRESH, REFRESH_TABLES
			code, msg := errPkt(t, readPkt(t, c))
			if got := fmt.Sprintf("error %d: %s", code, msg); got != want {
				t.Errorf("COM_REFRESH: %s; FLUSH TABLES gets %s", got, want)
			}
			if v := rawValue(t, c, "SELECT 1"); v != "1" {
				t.Errorf("after COM_REFRESH the connection answers %s", v)
			}
			out, err = run("refresh")
			if err == nil || !strings.Contains(out, want[strings.Index(want, ": ")+2:]) {
				t.Errorf("mariadb-admin refresh (%v): %s; FLUSH TABLES gets %s", err, out, want)
			}
		})
	}
}

// Fwdproxy_reads_reader_count and _writer_count count every read, by who
// served it: prepared ones (binary and SQL EXECUTE) as their text form,
// and the reads the writer serves by decision (in a forwarded transaction
// at SESSION, LAST_INSERT_ID() after a forwarded INSERT), which were not
// counted at all.
func TestStackReadCounts(t *testing.T) {
	table(t, "st_cnt")
	_, addr := startBinary(t, "--default-consistency", "SESSION")
	reads := func() (reader, writer int) {
		return status(t, addr, "Fwdproxy_reads_reader_count"), status(t, addr, "Fwdproxy_reads_writer_count")
	}
	c := conn(t, addr, "")
	kinds := []struct {
		name string
		run  func(q string)
	}{
		{"text", func(q string) { one(t, c, q) }},
		{"binary", func(q string) {
			st, err := c.PrepareContext(ctx, q)
			if err != nil {
				t.Fatalf("prepare %s: %v", q, err)
			}
			defer st.Close()
			var v sql.NullString
			if err := st.QueryRowContext(ctx).Scan(&v); err != nil {
				t.Fatalf("execute %s: %v", q, err)
			}
		}},
		{"SQL EXECUTE", func(q string) {
			exec(t, c, "PREPARE st_cnt_p FROM '"+q+"'")
			one(t, c, "EXECUTE st_cnt_p")
			exec(t, c, "DEALLOCATE PREPARE st_cnt_p")
		}},
	}
	for _, k := range kinds {
		for _, tc := range []struct {
			name, q        string
			before, after  []string
			reader, writer int
		}{
			{"on the reader", "SELECT COUNT(*) FROM st_cnt", nil, nil, 1, 0},
			{"in a forwarded transaction", "SELECT COUNT(*) FROM st_cnt",
				[]string{"BEGIN", "INSERT INTO st_cnt (v) VALUES (7)"}, []string{"ROLLBACK"}, 0, 1},
			{"LAST_INSERT_ID() after a forwarded INSERT", "SELECT LAST_INSERT_ID()",
				[]string{"INSERT INTO st_cnt (v) VALUES (8)"}, nil, 0, 1},
		} {
			for _, q := range tc.before {
				exec(t, c, q)
			}
			r0, w0 := reads()
			k.run(tc.q)
			r1, w1 := reads()
			for _, q := range tc.after {
				exec(t, c, q)
			}
			if r1-r0 != tc.reader || w1-w0 != tc.writer {
				t.Errorf("%s read %s: counted %d by the reader, %d by the writer; want %d, %d",
					k.name, tc.name, r1-r0, w1-w0, tc.reader, tc.writer)
			}
		}
	}
}

// DDL and the other statements write forwarding always refuses get 1235 in
// a session that forwards, and 1290, as a plain read-only replica answers,
// in one that does not: the session's level ” or the proxy's switch off.
func TestStackRefusalsOutsideForwarding(t *testing.T) {
	table(t, "st_ref")
	refused := []string{
		"CREATE TABLE st_ref_new (i INT)",
		"LOAD DATA INFILE '/tmp/none' INTO TABLE st_ref",
		"INSTALL PLUGIN x SONAME 'x.so'",
		"INSERT INTO st_ref (v) SELECT v FROM st_ref_tmp",
	}
	for _, tc := range []struct {
		name  string
		flags []string
		code  uint16
	}{
		{"forwarding session", []string{"--default-consistency", "SESSION"}, 1235},
		{"session value ''", nil, 1290},
		{"proxy switch off", []string{"--forwarding", "disabled", "--default-consistency", "SESSION"}, 1290},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startBinary(t, tc.flags...)
			c := conn(t, addr, "")
			exec(t, c, "CREATE TEMPORARY TABLE st_ref_tmp (v INT)")
			for _, q := range refused {
				if got := errText(errOf(c, q)); !strings.HasPrefix(got, fmt.Sprintf("error %d:", tc.code)) {
					t.Errorf("%s: %s, want error %d", q, got, tc.code)
				}
			}
			_, err := c.PrepareContext(ctx, refused[0])
			if got := errText(err); err == nil || !strings.HasPrefix(got, fmt.Sprintf("error %d:", tc.code)) {
				t.Errorf("prepare %s: %v, want error %d", refused[0], err, tc.code)
			}
		})
	}
	if n := count(t, writerDB(t), "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '"+testDB+"' AND table_name = 'st_ref_new'"); n != 0 {
		t.Error("a refused CREATE TABLE ran on the writer")
	}
}
