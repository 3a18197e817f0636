package consistency

import (
	"fmt"
	"strconv"
	"strings"
)

// Stray GTIDs: transactions a replica committed itself, which only a write
// that reached it directly makes. One of them stops GTID-strict replication
// at the writer's next commit in its domain, so the proxy watches for them.

// mariadbStraySQL is one row: the server's binlog state (every
// domain-server pair's last GTID, not only the newest per domain) and the
// server_id its own transactions carry.
const mariadbStraySQL = "SELECT @@GLOBAL.gtid_binlog_state, @@GLOBAL.server_id"

// mariadbStray: the replica's GTIDs of its own server_id that the writer's
// binlog state does not reach for the same domain and server. After a
// switchover the old writer, now a replica, keeps its own GTIDs, but the
// new writer has them too.
func mariadbStray(replicaState, replicaID, writerState string) (string, error) {
	id, err := strconv.ParseUint(strings.TrimSpace(replicaID), 10, 32)
	if err != nil {
		return "", fmt.Errorf("server_id %q: %w", replicaID, err)
	}
	type key struct{ domain, server uint32 }
	have := map[key]uint64{}
	if err := eachMariaDBGTID(writerState, func(g MariaDBGTID) {
		k := key{g.Domain, g.Server}
		have[k] = max(have[k], g.Seq)
	}); err != nil {
		return "", err
	}
	var stray []string
	err = eachMariaDBGTID(replicaState, func(g MariaDBGTID) {
		if g.Server == uint32(id) && have[key{g.Domain, g.Server}] < g.Seq {
			stray = append(stray, g.String())
		}
	})
	return strings.Join(stray, ","), err
}

const mysqlStraySQL = "SELECT @@GLOBAL.gtid_executed, @@GLOBAL.server_uuid"

// mysqlStray: the replica's GTIDs of its own server_uuid (any tag) that
// the writer's gtid_executed lacks.
func mysqlStray(replicaSet, replicaUUID, writerSet string) (string, error) {
	uuid, ok := parseUUID(strings.TrimSpace(replicaUUID))
	if !ok {
		return "", fmt.Errorf("server_uuid %q is not a UUID", replicaUUID)
	}
	r, err := parseMySQL(replicaSet)
	if err != nil {
		return "", err
	}
	w, err := parseMySQL(writerSet)
	if err != nil {
		return "", err
	}
	var own mysqlSet
	for _, t := range r.tsids() {
		if t.uuid == uuid {
			own.t = append(own.t, t)
		}
	}
	if w.Contains(own) {
		return "", nil
	}
	return own.String(), nil
}
