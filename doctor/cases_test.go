package doctor

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// A case is one set-up the doctor was run against. The live tests create it
// on real servers (and, with -update, record the traffic into
// testdata/mariadb-<name>.json); the replay tests run the checks again on the
// recording. Both hold the report to the same expectations.
type docCase struct {
	name string
	opt  Options
	// want lists the results that must appear; every other result must be
	// PASS or INFO.
	want []wantResult
}

type wantResult struct {
	status Status
	server string
	check  string
	detail string   // substring of the detail
	fix    []string // each must be one of the fix lines, exactly
}

var cases = []docCase{
	{
		// pair.sh's pair as it comes: the only WARN is the test user's ALL PRIVILEGES,
		// which pair.sh grants on purpose (the proxy tests need a user that could write to
		// the replica, to prove that nothing does).
		name: "healthy",
		opt:  Options{MaxLag: 5 * time.Second},
		want: []wantResult{
			{Warn, "replica", "read_only_bypass", "has READ_ONLY ADMIN (through ALL PRIVILEGES)",
				[]string{"REVOKE READ ONLY ADMIN ON *.* FROM 'fwd'@'%';"}},
		},
	},
	{
		// STOP SLAVE on the replica.
		name: "stopped-replication",
		opt:  Options{MaxLag: 5 * time.Second},
		want: []wantResult{
			{Fail, "replica", "replication", "Slave_IO_Running=No, Slave_SQL_Running=No", []string{"START SLAVE;"}},
			{Info, "replica", "lag", "Seconds_Behind_Master=NULL", nil},
			{Warn, "replica", "read_only_bypass", "", nil},
		},
	},
	{
		// SET GLOBAL read_only = OFF on the replica.
		name: "read-only-off",
		opt:  Options{MaxLag: 5 * time.Second},
		want: []wantResult{
			{Fail, "replica", "read_only", "read_only=OFF on the replica",
				[]string{"SET GLOBAL read_only = ON;", "my.cnf [mariadbd]: read_only = ON"}},
			{Warn, "replica", "read_only_bypass", "", nil},
		},
	},
	{
		// SET GLOBAL binlog_format = STATEMENT on the writer.
		name: "statement-format",
		opt:  Options{MaxLag: 5 * time.Second},
		want: []wantResult{
			{Fail, "writer", "binlog_format", "binlog_format=STATEMENT, want ROW",
				[]string{"SET GLOBAL binlog_format = 'ROW';", "my.cnf [mariadbd]: binlog_format = ROW"}},
			{Warn, "replica", "read_only_bypass", "", nil},
		},
	},
	{
		// The replica applies events 3 s late (CHANGE MASTER TO MASTER_DELAY=3), --max-lag 0.
		name: "lag",
		opt:  Options{MaxLag: 0},
		want: []wantResult{
			{Fail, "replica", "lag", "above --max-lag 0s",
				[]string{"STOP SLAVE SQL_THREAD;", "SET GLOBAL slave_parallel_threads = 4;", "START SLAVE SQL_THREAD;"}},
			{Warn, "replica", "read_only_bypass", "", nil},
		},
	},
	{
		// On the writer: SET GLOBAL binlog_row_image = 'MINIMAL', binlog_expire_logs_seconds =
		// 86400, max_connections = 5 (MariaDB makes that 10, its minimum), read_only = ON.
		name: "writer-settings",
		opt:  Options{MaxLag: 5 * time.Second},
		want: []wantResult{
			{Warn, "writer", "binlog_row_image", "binlog_row_image=MINIMAL, want FULL",
				[]string{"SET GLOBAL binlog_row_image = 'FULL';", "my.cnf [mariadbd]: binlog_row_image = FULL"}},
			{Warn, "writer", "binlog_retention", "purged after 24h0m0s",
				[]string{"SET GLOBAL binlog_expire_logs_seconds = 259200;", "my.cnf [mariadbd]: binlog_expire_logs_seconds = 259200"}},
			{Pass, "writer", "max_connections", "max_connections=10: at most 1 session forwards at once", nil},
			{Fail, "writer", "read_only", "read_only=ON on the writer", []string{"SET GLOBAL read_only = OFF;"}},
			{Warn, "replica", "read_only_bypass", "", nil},
		},
	},
	{
		// SET GLOBAL server_id = 1 on the replica (the writer's id).
		name: "same-server-id",
		opt:  Options{MaxLag: 5 * time.Second},
		want: []wantResult{
			{Fail, "pair", "server_id", "both have server_id=1", []string{"SET GLOBAL server_id = 2;", "my.cnf [mariadbd]: server_id = 2"}},
			{Warn, "replica", "read_only_bypass", "", nil},
		},
	},
	{
		// CHANGE MASTER TO MASTER_USE_GTID = no on the replica.
		name: "no-gtid",
		opt:  Options{MaxLag: 5 * time.Second},
		want: []wantResult{
			{Fail, "replica", "using_gtid", "Using_Gtid=No",
				[]string{"STOP SLAVE;", "CHANGE MASTER TO MASTER_USE_GTID = slave_pos;", "START SLAVE;"}},
			{Warn, "replica", "read_only_bypass", "", nil},
		},
	},
	{
		// A user with SELECT only: cannot forward writes, cannot stream the binlog, cannot
		// read SHOW SLAVE STATUS (so replication is unchecked), cannot bypass read_only.
		name: "select-only-user",
		opt:  Options{MaxLag: 5 * time.Second},
		want: []wantResult{
			{Fail, "writer", "privileges", "app@% lacks INSERT, UPDATE, DELETE (has SELECT on *.*)",
				[]string{"GRANT INSERT, UPDATE, DELETE ON *.* TO 'app'@'%';"}},
			{Warn, "replica", "push_privileges", "lacks REPLICATION SLAVE, REPLICATION CLIENT",
				[]string{"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'app'@'%';"}},
			{Warn, "replica", "replication", "cannot read SHOW SLAVE STATUS as app@%",
				[]string{"GRANT SLAVE MONITOR ON *.* TO 'app'@'%';"}},
			{Pass, "replica", "read_only_bypass", "app@% cannot write through read_only", nil},
		},
	},
	{
		// A writer started without a binary log (pair.sh with PAIR_WRITER_EXTRA_CNF=skip-log-bin):
		// the replica's IO thread stops with 1236.
		name: "no-binlog",
		opt:  Options{MaxLag: 5 * time.Second},
		want: []wantResult{
			{Fail, "writer", "log_bin", "binary logging is OFF",
				[]string{"my.cnf [mariadbd]: log_bin = mariadb-bin"}},
			{Fail, "replica", "replication", "Slave_IO_Running=No, Slave_SQL_Running=Yes", []string{"START SLAVE;"}},
			{Fail, "replica", "replication_error", "Last_IO_Errno=1236", []string{"STOP SLAVE;", "START SLAVE;"}},
			{Info, "replica", "lag", "Seconds_Behind_Master=NULL", nil},
			{Warn, "replica", "read_only_bypass", "", nil},
		},
	},
	{
		// --writer the replica's address, --reader the writer's.
		name: "swapped",
		opt:  Options{MaxLag: 5 * time.Second},
		want: []wantResult{
			{Fail, "pair", "swapped", "the two addresses look swapped; change nothing on the servers", nil},
		},
	},
	{
		// --user fwd:wrong: the servers answer 1045 as for a missing account.
		name: "wrong-password",
		opt:  Options{MaxLag: 5 * time.Second},
		want: []wantResult{
			{Fail, "writer", "connect", "the password in --user is wrong", []string{"check the password: --user NAME:PASSWORD"}},
			{Fail, "replica", "connect", "the password in --user is wrong", []string{"check the password: --user NAME:PASSWORD"}},
		},
	},
}

func caseNamed(name string) docCase {
	for _, c := range cases {
		if c.name == name {
			return c
		}
	}
	panic("no case " + name)
}

// checkReport holds rep to c's expectations.
func checkReport(t *testing.T, c docCase, rep *Report) {
	t.Helper()
	defer func() {
		if t.Failed() {
			var b strings.Builder
			_ = rep.WriteText(&b)
			t.Logf("report:\n%s", b.String())
		}
	}()
	used := make([]bool, len(rep.Results))
	for _, w := range c.want {
		found := false
		for i, r := range rep.Results {
			if used[i] || r.Check != w.check || r.Server != w.server {
				continue
			}
			used[i] = true
			found = true
			if r.Status != w.status || !strings.Contains(r.Detail, w.detail) {
				t.Errorf("%s %s: got %s %q, want %s containing %q", w.server, w.check, r.Status, r.Detail, w.status, w.detail)
			}
			for _, f := range w.fix {
				if !slices.Contains(r.Fix, f) {
					t.Errorf("%s %s: fix lines %q lack %q", w.server, w.check, r.Fix, f)
				}
			}
			if (r.Status == Warn || r.Status == Fail) && len(r.Fix) == 0 {
				t.Errorf("%s %s: %s without a fix line", w.server, w.check, r.Status)
			}
			break
		}
		if !found {
			t.Errorf("no %s result for %s %s", w.status, w.server, w.check)
		}
	}
	for i, r := range rep.Results {
		if !used[i] && r.Status != Pass && r.Status != Info {
			t.Errorf("unexpected %s %s %s: %s %q", r.Status, r.Server, r.Check, r.Detail, r.Fix)
		}
	}
	if wantFail := slices.ContainsFunc(c.want, func(w wantResult) bool { return w.status == Fail }); rep.Failed() != wantFail {
		t.Errorf("Failed() = %v, want %v", rep.Failed(), wantFail)
	}
	// With both servers reachable, every check of the list said something.
	if len(rep.Find("connect")) > 0 || len(rep.Find("swapped")) > 0 {
		return // read_only is not judged on swapped servers
	}
	for _, check := range []string{"log_bin", "binlog_format", "read_only", "binlog_retention", "server_id", "privileges", "session_tracking", "max_connections"} {
		if len(rep.Find(check)) == 0 {
			t.Errorf("no %s result", check)
		}
	}
}

// replay runs the checks on a recording.
func replay(t *testing.T, rec *Recording, opt Options) *Report {
	t.Helper()
	ctx := context.Background()
	mk := func(role, addr string, log []Exchange, connErr *ErrRecord) *Server {
		if connErr != nil {
			return NewServer(ctx, role, addr, nil, connErr.err())
		}
		return NewServer(ctx, role, addr, NewReplay(log), nil)
	}
	w := mk("writer", rec.WriterAddr, rec.Writer, rec.WriterConnectError)
	r := mk("replica", rec.ReaderAddr, rec.Replica, rec.ReplicaConnectError)
	return Run(ctx, w, r, opt)
}
