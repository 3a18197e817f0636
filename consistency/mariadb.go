package consistency

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fwdproxy/fwdproxy/proxy/wire"
)

// MariaDBGTID is one domain-server-sequence triple.
type MariaDBGTID struct {
	Domain uint32
	Server uint32
	Seq    uint64
}

func (g MariaDBGTID) appendTo(b []byte) []byte {
	b = strconv.AppendUint(b, uint64(g.Domain), 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(g.Server), 10)
	b = append(b, '-')
	return strconv.AppendUint(b, g.Seq, 10)
}

func (g MariaDBGTID) String() string { return string(g.appendTo(nil)) }

// mariadbSet is a MariaDB position: at most one GTID per domain, sorted
// by domain. A position is per domain (MASTER_GTID_WAIT compares only
// seq_no within a domain), so the server id is carried for display and
// for the wait argument but never compared.
type mariadbSet struct {
	g []MariaDBGTID
}

var errMariaDBSyntax = errors.New("malformed MariaDB GTID")

// parseMariaDB parses "D-S-N[,D-S-N...]". Several GTIDs of one domain
// (as in gtid_binlog_state) collapse to the highest sequence number.
func parseMariaDB(s string) (mariadbSet, error) {
	var out []MariaDBGTID
	if err := eachMariaDBGTID(s, func(g MariaDBGTID) { out = append(out, g) }); err != nil {
		return mariadbSet{}, err
	}
	return mariadbSet{g: normalizeMariaDB(out)}, nil
}

// eachMariaDBGTID calls f with each GTID of "D-S-N[,D-S-N...]", in order;
// empty items ("a,,b", a trailing comma) are skipped.
func eachMariaDBGTID(s string, f func(MariaDBGTID)) error {
	for rest := s; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		part = trimSpace(part)
		if part == "" {
			continue
		}
		g, err := parseMariaDBGTID(part)
		if err != nil {
			return fmt.Errorf("%w %q in %q", errMariaDBSyntax, part, s)
		}
		f(g)
	}
	return nil
}

func parseMariaDBGTID(s string) (MariaDBGTID, error) {
	d, rest, ok1 := strings.Cut(s, "-")
	sv, n, ok2 := strings.Cut(rest, "-")
	if !ok1 || !ok2 {
		return MariaDBGTID{}, errMariaDBSyntax
	}
	// Base 10 takes no sign, prefix or underscore: the syntax servers print.
	dom, err1 := strconv.ParseUint(d, 10, 32)
	srv, err2 := strconv.ParseUint(sv, 10, 32)
	seq, err3 := strconv.ParseUint(n, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return MariaDBGTID{}, errMariaDBSyntax
	}
	return MariaDBGTID{Domain: uint32(dom), Server: uint32(srv), Seq: seq}, nil
}

// normalizeMariaDB sorts by domain and keeps the highest seq per domain;
// on a tie the first GTID seen wins, so the result is deterministic.
func normalizeMariaDB(g []MariaDBGTID) []MariaDBGTID {
	if len(g) == 0 {
		return nil
	}
	slices.SortStableFunc(g, func(a, b MariaDBGTID) int {
		switch {
		case a.Domain < b.Domain:
			return -1
		case a.Domain > b.Domain:
			return 1
		}
		return 0
	})
	out := g[:1]
	for _, x := range g[1:] {
		last := &out[len(out)-1]
		if x.Domain != last.Domain {
			out = append(out, x)
		} else if x.Seq > last.Seq {
			*last = x
		}
	}
	return slices.Clip(out)
}

func (s mariadbSet) gtids() []MariaDBGTID { return s.g }

func (s mariadbSet) String() string {
	gs := s.gtids()
	if len(gs) == 0 {
		return ""
	}
	b := make([]byte, 0, len(gs)*24)
	for i, g := range gs {
		if i > 0 {
			b = append(b, ',')
		}
		b = g.appendTo(b)
	}
	return string(b)
}

func (s mariadbSet) IsEmpty() bool { return len(s.gtids()) == 0 }

// Contains: for every domain of o, the receiver has that domain with a
// sequence number at least as high.
func (s mariadbSet) Contains(o Set) bool {
	os, ok := o.(mariadbSet)
	if !ok {
		return isEmpty(o)
	}
	have := s.gtids()
	i := 0
	for _, want := range os.gtids() {
		for i < len(have) && have[i].Domain < want.Domain {
			i++
		}
		if i == len(have) || have[i].Domain != want.Domain || have[i].Seq < want.Seq {
			return false
		}
	}
	return true
}

// Union keeps the highest seq per domain; on a tie the receiver's GTID
// stays, so Advance never rewrites an equal position.
func (s mariadbSet) Union(o Set) Set {
	os, ok := o.(mariadbSet)
	x, y := s.gtids(), os.gtids()
	if !ok || len(y) == 0 {
		return s
	}
	if len(x) == 0 {
		return os
	}
	out := make([]MariaDBGTID, 0, len(x)+len(y))
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		a, b := x[i], y[j]
		switch {
		case a.Domain < b.Domain:
			out = append(out, a)
			i++
		case a.Domain > b.Domain:
			out = append(out, b)
			j++
		default:
			if b.Seq > a.Seq {
				a = b
			}
			out = append(out, a)
			i++
			j++
		}
	}
	out = append(out, x[i:]...)
	out = append(out, y[j:]...)
	return mariadbSet{g: out}
}

type mariadbFlavor struct{}

func (mariadbFlavor) Name() string { return "mariadb" }

func (mariadbFlavor) ParseSet(s string) (Set, error) {
	ms, err := parseMariaDB(s)
	if err != nil {
		return nil, err
	}
	return ms, nil
}

// TrackingSetupSQL appends last_gtid to whatever the session tracks.
// Measured on 10.11: the server de-duplicates and sorts the list, but a
// plain CONCAT fails (1193) when the list is ” (",last_gtid") or '*'
// ("*,last_gtid"), hence CONCAT_WS/NULLIF and the '*' case ('*' already
// includes last_gtid).
func (mariadbFlavor) TrackingSetupSQL() []string {
	return []string{"SET SESSION session_track_system_variables = " +
		"IF(@@session.session_track_system_variables = '*', '*', " +
		"CONCAT_WS(',', NULLIF(@@session.session_track_system_variables, ''), 'last_gtid'))"}
}

// OwnGTID reads SESSION_TRACK_SYSTEM_VARIABLES entries named last_gtid.
// The value is "" when the statement committed nothing; the last
// non-empty one wins.
func (mariadbFlavor) OwnGTID(state []byte) (Set, bool) {
	var val []byte
	ok := wire.EachStateEntry(state, func(typ byte, data []byte) bool {
		if typ != wire.TrackSystemVariables {
			return true
		}
		name, n, ok := wire.LenEncString(data)
		if !ok || !strings.EqualFold(string(name), "last_gtid") {
			return true
		}
		if v, _, ok := wire.LenEncString(data[n:]); ok && len(v) > 0 {
			val = v
		}
		return true
	})
	if !ok || val == nil {
		return nil, false
	}
	s, err := parseMariaDB(string(val))
	if err != nil || s.IsEmpty() {
		return nil, false
	}
	return s, true
}

func (mariadbFlavor) WaitSQL(s Set, timeout time.Duration) string {
	return waitSQL("MASTER_GTID_WAIT", s, timeout)
}

// WaitDone: MASTER_GTID_WAIT returns 0 when reached, -1 on timeout, NULL
// only for a NULL list.
func (mariadbFlavor) WaitDone(result string, isNull bool) (bool, error) {
	return waitDone("MASTER_GTID_WAIT", "-1", result, isNull)
}

func (mariadbFlavor) WriterPositionSQL() string { return "SELECT @@GLOBAL.gtid_binlog_pos" }

// ClusterSQL: the writer's server_id and GTID domain. Both are the
// server's configuration, the same for every proxy that asks and across
// restarts, and they are what the writer stamps on the GTIDs a token holds.
func (mariadbFlavor) ClusterSQL() string {
	return "SELECT CONCAT(@@GLOBAL.server_id, '.', @@GLOBAL.gtid_domain_id)"
}

// InClusterHistory: the history lists the last GTID of every (domain,
// server_id) pair in the binlog, replicated ones included
// (log_slave_updates), so a former writer's server_id stays in it.
func (mariadbFlavor) InClusterHistory(cluster, history string) bool {
	server, domain, ok := strings.Cut(cluster, ".")
	if !ok {
		return false
	}
	found := false
	err := eachMariaDBGTID(history, func(g MariaDBGTID) {
		if strconv.FormatUint(uint64(g.Server), 10) == server && strconv.FormatUint(uint64(g.Domain), 10) == domain {
			found = true
		}
	})
	return err == nil && found
}

// ReaderPositionSQL uses gtid_slave_pos: it is what MASTER_GTID_WAIT
// compares against, and it holds only replicated transactions
// (gtid_current_pos would also count local writes on the replica).
func (mariadbFlavor) ReaderPositionSQL() string { return "SELECT @@GLOBAL.gtid_slave_pos" }

// ReplicationSQL: SHOW ALL SLAVES STATUS has one row per connection of a
// multi-source replica; SHOW SLAVE STATUS would show the default one only.
func (mariadbFlavor) ReplicationSQL() string { return "SHOW ALL SLAVES STATUS" }

func (mariadbFlavor) ReplicationChannel(col func(string) string) (bool, uint32) {
	return replicationChannel(col, "Slave_IO_Running", "Slave_SQL_Running", "Master_Server_Id")
}

func (mariadbFlavor) StraySQL() string { return mariadbStraySQL }

func (mariadbFlavor) Stray(replicaState, replicaID, writerState string) (string, error) {
	return mariadbStray(replicaState, replicaID, writerState)
}
