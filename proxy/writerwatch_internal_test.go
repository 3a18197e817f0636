package proxy

import (
	"slices"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"

	fb "github.com/fwdproxy/fwdproxy/proxy/internal/fakebackend"
	"github.com/fwdproxy/fwdproxy/writers"
)

// mysqlReplicaCols are the columns of MySQL 8.0.22+'s SHOW REPLICA STATUS, in its order
// (the reference manual's example output).
var mysqlReplicaCols = []string{"Replica_IO_State", "Source_Host", "Source_User", "Source_Port", "Connect_Retry",
	"Source_Log_File", "Read_Source_Log_Pos", "Relay_Log_File", "Relay_Log_Pos", "Relay_Source_Log_File",
	"Replica_IO_Running", "Replica_SQL_Running", "Replicate_Do_DB", "Replicate_Ignore_DB", "Replicate_Do_Table",
	"Replicate_Ignore_Table", "Replicate_Wild_Do_Table", "Replicate_Wild_Ignore_Table", "Last_Errno", "Last_Error",
	"Skip_Counter", "Exec_Source_Log_Pos", "Relay_Log_Space", "Until_Condition", "Until_Log_File", "Until_Log_Pos",
	"Source_SSL_Allowed", "Source_SSL_CA_File", "Source_SSL_CA_Path", "Source_SSL_Cert", "Source_SSL_Cipher",
	"Source_SSL_Key", "Seconds_Behind_Source", "Source_SSL_Verify_Server_Cert", "Last_IO_Errno", "Last_IO_Error",
	"Last_SQL_Errno", "Last_SQL_Error", "Replicate_Ignore_Server_Ids", "Source_Server_Id", "Source_UUID",
	"Source_Info_File", "SQL_Delay", "SQL_Remaining_Delay", "Replica_SQL_Running_State", "Source_Retry_Count",
	"Source_Bind", "Last_IO_Error_Timestamp", "Last_SQL_Error_Timestamp", "Source_SSL_Crl", "Source_SSL_Crlpath",
	"Retrieved_Gtid_Set", "Executed_Gtid_Set", "Auto_Position", "Replicate_Rewrite_DB", "Channel_Name",
	"Source_TLS_Version", "Source_public_key_path", "Get_Source_public_key", "Network_Namespace"}

// mysqlReplicaRow is a healthy channel from server 1 (as in the manual's example), with over applied.
func mysqlReplicaRow(over map[string]any) []any {
	v := map[string]any{"Replica_IO_State": "Waiting for source to send event", "Source_Host": "127.0.0.1",
		"Source_User": "repl", "Source_Port": 13000, "Connect_Retry": 60, "Source_Log_File": "binlog.000001",
		"Read_Source_Log_Pos": 927, "Relay_Log_File": "replica-relay-bin.000002", "Relay_Log_Pos": 1145,
		"Relay_Source_Log_File": "binlog.000001", "Replica_IO_Running": "Yes", "Replica_SQL_Running": "Yes",
		"Last_Errno": 0, "Skip_Counter": 0, "Exec_Source_Log_Pos": 927, "Relay_Log_Space": 1355, "Until_Condition": "None",
		"Until_Log_Pos": 0, "Source_SSL_Allowed": "No", "Seconds_Behind_Source": 0, "Source_SSL_Verify_Server_Cert": "No",
		"Last_IO_Errno": 0, "Last_SQL_Errno": 0, "Source_Server_Id": 1,
		"Source_UUID": "3e11fa47-71ca-11e1-9e33-c80aa9429562", "Source_Info_File": "mysql.slave_master_info",
		"SQL_Delay": 0, "SQL_Remaining_Delay": nil,
		"Replica_SQL_Running_State": "Replica has read all relay log; waiting for more updates", "Source_Retry_Count": 86400,
		"Retrieved_Gtid_Set": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5",
		"Executed_Gtid_Set":  "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", "Auto_Position": 1, "Get_Source_public_key": 0}
	for k, x := range over {
		v[k] = x
	}
	row := make([]any, len(mysqlReplicaCols))
	for i, c := range mysqlReplicaCols {
		row[i] = v[c]
		if _, ok := v[c]; !ok {
			row[i] = ""
		}
	}
	return row
}

// A MySQL 8 candidate as the writer watch asks it: read_only (which super_read_only turns on
// too), server id, version, and SHOW REPLICA STATUS.
type mysqlCandidate struct {
	readOnly int
	id       int
	channels [][]any // rows of SHOW REPLICA STATUS
}

func (m mysqlCandidate) observe(t *testing.T) writers.Observation {
	t.Helper()
	s := fb.Start(t, fb.Config{Version: "8.0.36"})
	s.On("SELECT @@GLOBAL.read_only, @@server_id, VERSION()", fb.Rows{Columns: []string{"@@GLOBAL.read_only", "@@server_id", "VERSION()"},
		Values: [][]any{{m.readOnly, m.id, "8.0.36"}}})
	s.On("SHOW REPLICA STATUS", fb.Rows{Columns: mysqlReplicaCols, Values: m.channels})
	c, err := client.Connect(s.Addr(), "app", "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := writers.Observation{Addr: s.Addr()}
	if err := askCandidate(c, &o); err != nil {
		t.Fatal(err)
	}
	if u := s.Unscripted(); len(u) > 0 {
		t.Errorf("the watch asked a MySQL server %q", u)
	}
	return o
}

// The writer among MySQL 8 servers, before and after a switchover and after a failover.
func TestWriterWatchMySQL(t *testing.T) {
	writer := mysqlCandidate{readOnly: 0, id: 1}
	replica := mysqlCandidate{readOnly: 1, id: 2, channels: [][]any{mysqlReplicaRow(nil)}}
	// Switchover: the old writer is super_read_only and replicates from server 2, which
	// STOP REPLICA; RESET REPLICA ALL left without channels and writable.
	demoted := mysqlCandidate{readOnly: 1, id: 1, channels: [][]any{mysqlReplicaRow(map[string]any{"Source_Server_Id": 2,
		"Source_UUID": "8a94f357-aab4-11df-86ab-c80aa9429562"})}}
	promoted := mysqlCandidate{readOnly: 0, id: 2}
	// A replica whose source died: the receiver retries (Connecting), so it still replicates.
	orphan := mysqlCandidate{readOnly: 0, id: 3, channels: [][]any{mysqlReplicaRow(map[string]any{
		"Replica_IO_State": "Reconnecting after a failed source event read", "Replica_IO_Running": "Connecting",
		"Last_IO_Errno": 2003, "Last_IO_Error": "Error reconnecting to source 'repl@127.0.0.1:13000'. This was attempt 1/86400, with a delay of 60 seconds between attempts. Message: Can't connect to MySQL server on '127.0.0.1:13000' (111)"})}}
	// A replica stopped by STOP REPLICA (no RESET): not replicating, but it names its source.
	stopped := mysqlCandidate{readOnly: 1, id: 3, channels: [][]any{mysqlReplicaRow(map[string]any{
		"Replica_IO_State": "", "Replica_IO_Running": "No", "Replica_SQL_Running": "No"})}}

	for _, tc := range []struct {
		name        string
		c           mysqlCandidate
		replicating bool
		votes       []uint32
	}{
		{"writer", writer, false, nil},
		{"replica", replica, true, []uint32{1}},
		{"demoted", demoted, true, []uint32{2}},
		{"promoted", promoted, false, nil},
		{"orphan", orphan, true, []uint32{1}},
		{"stopped", stopped, false, []uint32{1}},
	} {
		o := tc.c.observe(t)
		if o.ServerID != uint32(tc.c.id) || o.ReadOnly != (tc.c.readOnly == 1) || o.Replicating != tc.replicating || !slices.Equal(o.MasterIDs, tc.votes) {
			t.Errorf("%s: %+v, want read_only %v, replicating %v, votes %v", tc.name, o, tc.c.readOnly == 1, tc.replicating, tc.votes)
		}
	}
	pick := func(cs ...mysqlCandidate) int {
		var obs []writers.Observation
		for _, c := range cs {
			o := c.observe(t)
			o.Reachable = true // askCandidate answered; observeOne sets it
			obs = append(obs, o)
		}
		d := writers.Pick(obs, nil)
		for i, o := range obs {
			if o.Addr == d.Writer {
				return i
			}
		}
		return -1
	}
	if i := pick(writer, replica); i != 0 {
		t.Errorf("before the switchover the writer is candidate %d, want 0", i)
	}
	if i := pick(demoted, promoted); i != 1 {
		t.Errorf("after the switchover the writer is candidate %d, want 1 (the promoted replica)", i)
	}
	if i := pick(orphan, promoted); i != 1 {
		t.Errorf("after a failover the writer is candidate %d, want 1: a replica still connecting to the dead writer is no writer", i)
	}
}

// The one reader is the writer when the watch chose it, by address or by server_id.
func TestReaderIsWriter(t *testing.T) {
	cand := func(addr string, id uint32) writers.Observation {
		return writers.Observation{Addr: addr, Reachable: true, ServerID: id}
	}
	obs := []writers.Observation{cand("w:1", 1), cand("r:2", 2)}
	for _, tc := range []struct {
		name, reader, writer string
		votes                []writers.Observation
		want                 bool
	}{
		{"reader is a candidate, not chosen", "r:2", "w:1", nil, false},
		{"reader is the chosen candidate", "r:2", "r:2", nil, true},
		{"reader through a link, same server_id", "link:9", "r:2", []writers.Observation{cand("link:9", 2)}, true},
		{"reader through a link, another server", "link:9", "w:1", []writers.Observation{cand("link:9", 2)}, false},
		{"reader unreachable", "link:9", "r:2", []writers.Observation{{Addr: "link:9"}}, false},
		{"no writer", "r:2", "", nil, false},
		{"no reader", "", "w:1", nil, false},
	} {
		if got := readerIsWriter(tc.reader, tc.writer, obs, tc.votes); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
