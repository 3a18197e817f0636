package consistency

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in   string
		want Level
		ok   bool
	}{
		{"", Off, true},
		{"EVENTUAL", Eventual, true},
		{"eventual", Eventual, true},
		{"Session", Session, true},
		{"gLoBaL", Global, true},
		{" SESSION", Off, false}, // no trimming
		{"SESSION ", Off, false},
		{"''", Off, false},
		{"OFF", Off, false},
		{"STRONG", Off, false},
		{"globa", Off, false},
	}
	for _, tt := range tests {
		got, ok := ParseLevel(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	for l, s := range map[Level]string{Off: "", Eventual: "EVENTUAL", Session: "SESSION", Global: "GLOBAL", 9: "Level(9)"} {
		if l.String() != s {
			t.Errorf("%d.String() = %q, want %q", l, l.String(), s)
		}
		if back, ok := ParseLevel(s); l <= Global && (!ok || back != l) {
			t.Errorf("ParseLevel(%q) does not round-trip", s)
		}
	}
	if Off.Waits() || Eventual.Waits() || !Session.Waits() || !Global.Waits() {
		t.Error("Waits")
	}
}

func TestParseScope(t *testing.T) {
	for in, want := range map[string]Scope{"connection": ScopeConnection, "USER": ScopeUser, "User": ScopeUser} {
		if got, ok := ParseScope(in); !ok || got != want || !strings.EqualFold(got.String(), in) {
			t.Errorf("ParseScope(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "session", " user", "global"} {
		if _, ok := ParseScope(in); ok {
			t.Errorf("ParseScope(%q) accepted", in)
		}
	}
}

func TestDetectFlavor(t *testing.T) {
	tests := []struct {
		v    string
		want Flavor
	}{
		{"5.5.5-10.11.19-MariaDB-0+deb12u1", MariaDB},     // handshake, MariaDB < 11
		{"5.5.5-10.11.19-MariaDB-0+deb12u1-log", MariaDB}, // with log-bin
		{"10.11.19-MariaDB-0+deb12u1-log", MariaDB},       // @@version
		{"11.4.2-MariaDB", MariaDB},                       // 11.x dropped the 5.5.5- prefix
		{"mariadb.org binary distribution", MariaDB},      // @@version_comment
		{"Debian 12", MySQL},
		{"8.0.36", MySQL},
		{"8.4.0-log", MySQL},
		{"8.0.36-28 Percona Server (GPL)", MySQL},
		{"MySQL Community Server - GPL", MySQL},
		{"", MySQL},
	}
	for _, tt := range tests {
		if got := DetectFlavor(tt.v); got != tt.want {
			t.Errorf("DetectFlavor(%q) = %s, want %s", tt.v, got.Name(), tt.want.Name())
		}
	}
}

func TestWaitSQL(t *testing.T) {
	tests := []struct {
		f       Flavor
		set     string
		timeout time.Duration
		want    string
	}{
		{MariaDB, "1-2-9,0-1-7", 1500 * time.Millisecond, "SELECT MASTER_GTID_WAIT('0-1-7,1-2-9', 1.500000)"},
		{MariaDB, "0-1-7", 50 * time.Millisecond, "SELECT MASTER_GTID_WAIT('0-1-7', 0.050000)"},
		{MariaDB, "", 2 * time.Second, "SELECT MASTER_GTID_WAIT('', 2.000000)"},
		{MySQL, uA + ":1-5," + uB + ":7", 250 * time.Millisecond,
			"SELECT WAIT_FOR_EXECUTED_GTID_SET('" + uA + ":1-5," + uB + ":7', 0.250000)"},
		{MySQL, uA + ":3", 90 * time.Second, "SELECT WAIT_FOR_EXECUTED_GTID_SET('" + uA + ":3', 90.000000)"},
		// Zero and negative never reach the server: MySQL waits forever on 0.
		{MySQL, uA + ":3", 0, "SELECT WAIT_FOR_EXECUTED_GTID_SET('" + uA + ":3', 0.001000)"},
		{MariaDB, "0-1-1", -time.Second, "SELECT MASTER_GTID_WAIT('0-1-1', 0.001000)"},
		{MariaDB, "0-1-1", 1234567 * time.Nanosecond, "SELECT MASTER_GTID_WAIT('0-1-1', 0.001234)"},
	}
	for _, tt := range tests {
		s, err := tt.f.ParseSet(tt.set)
		if err != nil {
			t.Fatal(err)
		}
		if got := tt.f.WaitSQL(s, tt.timeout); got != tt.want {
			t.Errorf("WaitSQL = %s\n want %s", got, tt.want)
		}
	}
	// A foreign Set implementation cannot break out of the literal.
	if got := MySQL.WaitSQL(quoteSet{}, time.Second); got != `SELECT WAIT_FOR_EXECUTED_GTID_SET('a\'b\\c', 1.000000)` {
		t.Errorf("escaping: %s", got)
	}
}

type quoteSet struct{}

func (quoteSet) String() string    { return `a'b\c` }
func (quoteSet) Contains(Set) bool { return false }
func (q quoteSet) Union(Set) Set   { return q }
func (quoteSet) IsEmpty() bool     { return false }

func TestWaitDone(t *testing.T) {
	tests := []struct {
		f      Flavor
		result string
		isNull bool
		done   bool
		err    bool
	}{
		// MariaDB 10.11, recorded: MASTER_GTID_WAIT('0-7-1', 0.1) = -1,
		// ('', 1) = 0, (NULL, 1) = NULL.
		{MariaDB, "0", false, true, false},
		{MariaDB, "-1", false, false, false},
		{MariaDB, "", true, false, true},
		{MariaDB, "1", false, false, true},
		{MariaDB, "", false, false, true},
		// MySQL 8 WAIT_FOR_EXECUTED_GTID_SET: 0 reached, 1 timeout; NULL
		// only from a replication applier thread (otherwise errors are SQL
		// errors and no value arrives).
		{MySQL, "0", false, true, false},
		{MySQL, "1", false, false, false},
		{MySQL, "", true, false, true},
		{MySQL, "-1", false, false, true},
		{MySQL, "2", false, false, true},
	}
	for _, tt := range tests {
		done, err := tt.f.WaitDone(tt.result, tt.isNull)
		if done != tt.done || (err != nil) != tt.err {
			t.Errorf("%s.WaitDone(%q, %v) = %v, %v", tt.f.Name(), tt.result, tt.isNull, done, err)
		}
		var we *WaitError
		if err != nil && !errors.As(err, &we) {
			t.Errorf("error %v is not a *WaitError", err)
		}
	}
}

func TestFlavorSQL(t *testing.T) {
	if got := MariaDB.TrackingSetupSQL(); len(got) != 1 ||
		got[0] != "SET SESSION session_track_system_variables = IF(@@session.session_track_system_variables = '*', '*', CONCAT_WS(',', NULLIF(@@session.session_track_system_variables, ''), 'last_gtid'))" {
		t.Errorf("MariaDB setup %q", got)
	}
	if got := MySQL.TrackingSetupSQL(); len(got) != 1 || got[0] != "SET SESSION session_track_gtids = OWN_GTID" {
		t.Errorf("MySQL setup %q", got)
	}
	for _, c := range []struct{ got, want string }{
		{MariaDB.Name(), "mariadb"},
		{MySQL.Name(), "mysql"},
		{MariaDB.WriterPositionSQL(), "SELECT @@GLOBAL.gtid_binlog_pos"},
		{MariaDB.ReaderPositionSQL(), "SELECT @@GLOBAL.gtid_slave_pos"},
		{MySQL.WriterPositionSQL(), "SELECT @@GLOBAL.gtid_executed"},
		{MySQL.ReaderPositionSQL(), "SELECT @@GLOBAL.gtid_executed"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// What tells a writer from a replica, per flavour: one channel row of SHOW REPLICA STATUS
// (MySQL 8.0.22+) or SHOW ALL SLAVES STATUS (MariaDB), by column name.
func TestReplicationChannel(t *testing.T) {
	if MySQL.ReplicationSQL() != "SHOW REPLICA STATUS" || MariaDB.ReplicationSQL() != "SHOW ALL SLAVES STATUS" {
		t.Errorf("replication SQL %q, %q", MySQL.ReplicationSQL(), MariaDB.ReplicationSQL())
	}
	for _, tc := range []struct {
		name    string
		fl      Flavor
		row     map[string]string
		running bool
		source  uint32
	}{
		{"mysql running", MySQL, map[string]string{"Replica_IO_Running": "Yes", "Replica_SQL_Running": "Yes", "Source_Server_Id": "1"}, true, 1},
		{"mysql source gone", MySQL, map[string]string{"Replica_IO_Running": "Connecting", "Replica_SQL_Running": "Yes", "Source_Server_Id": "1"}, true, 1},
		{"mysql applier only", MySQL, map[string]string{"Replica_IO_Running": "No", "Replica_SQL_Running": "Yes", "Source_Server_Id": "1"}, true, 1},
		{"mysql STOP REPLICA", MySQL, map[string]string{"Replica_IO_Running": "No", "Replica_SQL_Running": "No", "Source_Server_Id": "7"}, false, 7},
		{"mysql never connected", MySQL, map[string]string{"Replica_IO_Running": "No", "Replica_SQL_Running": "No", "Source_Server_Id": "0"}, false, 0},
		// A MariaDB row read with MySQL's names says nothing, and the other way round.
		{"mysql names on mariadb", MariaDB, map[string]string{"Replica_IO_Running": "Yes", "Source_Server_Id": "1"}, false, 0},
		{"mariadb running", MariaDB, map[string]string{"Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes", "Master_Server_Id": "1"}, true, 1},
		{"mariadb source gone", MariaDB, map[string]string{"Slave_IO_Running": "Connecting", "Slave_SQL_Running": "Yes", "Master_Server_Id": "1"}, true, 1},
		{"mariadb STOP SLAVE", MariaDB, map[string]string{"Slave_IO_Running": "No", "Slave_SQL_Running": "No", "Master_Server_Id": "2"}, false, 2},
	} {
		running, source := tc.fl.ReplicationChannel(func(c string) string { return tc.row[c] })
		if running != tc.running || source != tc.source {
			t.Errorf("%s: running %v, source %d; want %v, %d", tc.name, running, source, tc.running, tc.source)
		}
	}
}
