package consistency

import (
	"strconv"
	"strings"
	"time"
)

// Flavor is what differs between MySQL and MariaDB for consistency.
type Flavor interface {
	Name() string // "mariadb" | "mysql"
	// ParseSet reads a GTID set as servers print it; spaces and newlines
	// around separators are allowed, "" is the empty set.
	ParseSet(s string) (Set, error)
	// TrackingSetupSQL makes a writer session's OK packets carry the GTID
	// of each transaction it commits: SET statements, which the proxy
	// also replays after a client's own SET of session tracking.
	TrackingSetupSQL() []string
	// OwnGTID extracts the committed transaction's GTID from the
	// session-state block of a writer's OK packet (wire.OK.SessionState).
	OwnGTID(state []byte) (Set, bool)
	// WaitSQL is a single-value SELECT that blocks on the reader until s
	// is applied or timeout passes.
	WaitSQL(s Set, timeout time.Duration) string
	// WaitDone interprets the value WaitSQL returned: true when reached,
	// false on timeout, an error for anything else.
	WaitDone(result string, isNull bool) (bool, error)
	// WriterPositionSQL reads everything the writer has committed.
	WriterPositionSQL() string
	// ReaderPositionSQL reads what the reader has applied, in the same
	// terms the wait function compares against.
	ReaderPositionSQL() string
	// ClusterSQL reads the writer's identity for causal tokens: one value
	// every proxy in front of the same writer reads alike.
	ClusterSQL() string
	// InClusterHistory says whether cluster (a ClusterSQL value) is in
	// history (ExecutedSQL's value, read on the writer: after a switchover
	// the new writer still holds the old one's transactions).
	InClusterHistory(cluster, history string) bool
	// ReplicationSQL lists a server's replication channels, one row each
	// (none when it replicates from nobody): with read_only, what tells a
	// writer from a replica.
	ReplicationSQL() string
	// ReplicationChannel reads one row of ReplicationSQL, by column name:
	// whether a replication thread runs (the server applies another's
	// writes) and the source's server id (0: unknown), running or not.
	ReplicationChannel(col func(name string) string) (running bool, sourceID uint32)
	// StraySQL is one row on any server: its GTID state and the identity
	// its own transactions carry (MariaDB server_id, MySQL server_uuid).
	StraySQL() string
	// Stray reads StraySQL's row from a replica and the first value from
	// the writer, read after the replica's: the replica's own GTIDs the
	// writer lacks, "" when none.
	Stray(replicaState, replicaID, writerState string) (string, error)
	// ExecutedSQL reads, on a new writer at a writer change, what Lost
	// compares wait targets with.
	ExecutedSQL() string
	// Lost splits target into what the new writer holds (kept, to wait
	// for instead) and what no server has any more (lost, the old
	// writer's un-replicated tail), given ExecutedSQL's value. A target
	// with nothing lost comes back as kept unchanged.
	Lost(target Set, executed string) (kept, lost Set, err error)
}

// replicationChannel reads the receiver (IO) and applier (SQL) thread
// states and the source id under the flavour's column names. A receiver
// "Connecting" runs: it has not reached its source yet.
func replicationChannel(col func(string) string, io, sql, source string) (bool, uint32) {
	r := col(io)
	running := r == "Yes" || r == "Connecting" || col(sql) == "Yes"
	id, err := strconv.ParseUint(col(source), 10, 32)
	if err != nil {
		id = 0
	}
	return running, uint32(id)
}

var (
	MariaDB Flavor = mariadbFlavor{}
	MySQL   Flavor = mysqlFlavor{}
)

// DetectFlavor decides from a server version string (the handshake's,
// e.g. "5.5.5-10.11.19-MariaDB-0+deb12u1", or @@version) or
// @@version_comment. MySQL never names MariaDB, so the default is MySQL.
func DetectFlavor(version string) Flavor {
	if containsFold(version, "mariadb") {
		return MariaDB
	}
	return MySQL
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// minWaitTimeout keeps the timeout argument above zero: MySQL reads 0 as
// "wait forever", which would turn a misconfigured timeout into a hang.
const minWaitTimeout = time.Millisecond

// appendSeconds renders d as seconds with microseconds, e.g. "1.500000".
func appendSeconds(b []byte, d time.Duration) []byte {
	if d < minWaitTimeout {
		d = minWaitTimeout
	}
	b = strconv.AppendInt(b, int64(d/time.Second), 10)
	us := int64(d%time.Second) / int64(time.Microsecond)
	var frac [7]byte
	frac[0] = '.'
	for i := 6; i > 0; i-- {
		frac[i] = byte('0' + us%10)
		us /= 10
	}
	return append(b, frac[:]...)
}

// waitSQL builds "SELECT fn('set', seconds)". Set strings of our own
// types hold no quotes, but a foreign Set might, so escape anyway.
func waitSQL(fn string, s Set, timeout time.Duration) string {
	gs := ""
	if s != nil {
		gs = s.String()
	}
	b := make([]byte, 0, len(fn)+len(gs)+32)
	b = append(b, "SELECT "...)
	b = append(b, fn...)
	b = append(b, "('"...)
	for i := 0; i < len(gs); i++ {
		if gs[i] == '\'' || gs[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, gs[i])
	}
	b = append(b, "', "...)
	b = appendSeconds(b, timeout)
	b = append(b, ')')
	return string(b)
}

// WaitError is a wait function result that is neither reached nor timeout.
// waitDone reads the result of wait function fn: "0" reached, timedOut
// (the flavour's timeout value) not yet, anything else a WaitError.
func waitDone(fn, timedOut, result string, isNull bool) (bool, error) {
	if !isNull {
		switch result {
		case "0":
			return true, nil
		case timedOut:
			return false, nil
		}
	}
	return false, &WaitError{Func: fn, Result: result, IsNull: isNull}
}

type WaitError struct {
	Func   string
	Result string
	IsNull bool
}

func (e *WaitError) Error() string {
	if e.IsNull {
		return e.Func + " returned NULL"
	}
	return e.Func + " returned unexpected " + strconv.Quote(e.Result)
}

func trimSpace(s string) string {
	return strings.TrimFunc(s, isSpaceRune)
}

func isSpaceRune(r rune) bool { return r < 0x80 && isSpace(byte(r)) }

// isSpace is the set the servers skip between set elements.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
