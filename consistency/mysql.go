package consistency

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fwdproxy/fwdproxy/proxy/wire"
)

// maxGNO is the largest transaction number MySQL accepts (GNO_END - 1).
const maxGNO = 1<<63 - 2

const maxTagLen = 32

// gnoInterval is an inclusive range of transaction numbers.
type gnoInterval struct{ lo, hi uint64 }

// mysqlTSID is one source (uuid plus optional 8.4 tag) and its numbers,
// sorted, non-overlapping and non-adjacent.
type mysqlTSID struct {
	uuid [16]byte
	tag  string // lower case; "" for untagged
	iv   []gnoInterval
}

// mysqlSet holds sources sorted by (uuid, tag) as the server prints
// them; a source with no numbers is dropped.
type mysqlSet struct {
	t []mysqlTSID
}

var errMySQLSyntax = errors.New("malformed MySQL GTID set")

// parseMySQL parses "uuid[:tag]:N[-M][:...][,uuid...]" as MySQL 8.4's
// Gtid_set parser does, minus its quirks: numbers are decimal only (the
// server's strtoll also takes hex and octal) and an interval whose end is
// below its start is an error (the server ignores it).
func parseMySQL(s string) (mysqlSet, error) {
	var items []mysqlTSID
	p := 0
	skip := func() {
		for p < len(s) && isSpace(s[p]) {
			p++
		}
	}
	fail := func(what string) (mysqlSet, error) {
		return mysqlSet{}, fmt.Errorf("%w %q: %s at offset %d", errMySQLSyntax, s, what, p)
	}
	for {
		skip()
		for p < len(s) && s[p] == ',' { // empty elements are allowed
			p++
			skip()
		}
		if p == len(s) {
			break
		}
		u, ok := parseUUID(s[p:])
		if !ok {
			return fail("expected UUID")
		}
		p += 36
		skip()
		tag, cur := "", -1
		for p < len(s) && s[p] == ':' {
			p++
			skip()
			if p < len(s) && isTagStart(s[p]) {
				q := p
				for q < len(s) && isTagChar(s[q]) {
					q++
				}
				if q-p > maxTagLen {
					return fail("tag too long")
				}
				tag, cur = strings.ToLower(s[p:q]), -1
				p = q
				skip()
				continue
			}
			lo, n := parseGNO(s[p:])
			if n == 0 || lo == 0 {
				return fail("expected transaction number")
			}
			p += n
			skip()
			hi := lo
			if p < len(s) && s[p] == '-' {
				p++
				skip()
				if hi, n = parseGNO(s[p:]); n == 0 || hi < lo {
					return fail("bad interval end")
				}
				p += n
				skip()
			}
			if cur < 0 {
				items = append(items, mysqlTSID{uuid: u, tag: tag})
				cur = len(items) - 1
			}
			items[cur].iv = append(items[cur].iv, gnoInterval{lo, hi})
		}
		if p < len(s) && s[p] != ',' {
			return fail("expected ',' or ':'")
		}
	}
	return mysqlSet{t: normalizeMySQL(items)}, nil
}

func isTagStart(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isTagChar(c byte) bool { return isTagStart(c) || ('0' <= c && c <= '9') }

// parseGNO reads decimal digits; n is 0 on no digits or overflow.
func parseGNO(s string) (v uint64, n int) {
	for n < len(s) && '0' <= s[n] && s[n] <= '9' {
		v = v*10 + uint64(s[n]-'0')
		n++
		if v > maxGNO {
			return 0, 0
		}
	}
	return v, n
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parseUUID reads the 36-character dashed form, any case.
func parseUUID(s string) (u [16]byte, ok bool) {
	if len(s) < 36 {
		return u, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return u, false
			}
			i++
			continue
		}
		h, ok1 := unhex(s[i])
		l, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[j] = h<<4 | l
		j++
		i += 2
	}
	return u, true
}

const hexDigits = "0123456789abcdef"

func appendUUID(b []byte, u [16]byte) []byte {
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&15])
	}
	return b
}

// compareTSID orders by uuid bytes, then tag; the uuid as two big-endian
// words compares like the bytes and is cheaper than bytes.Compare.
func compareTSID(a, b *mysqlTSID) int {
	if a.uuid != b.uuid {
		a0, b0 := binary.BigEndian.Uint64(a.uuid[:8]), binary.BigEndian.Uint64(b.uuid[:8])
		if a0 == b0 {
			a0, b0 = binary.BigEndian.Uint64(a.uuid[8:]), binary.BigEndian.Uint64(b.uuid[8:])
		}
		if a0 < b0 {
			return -1
		}
		return 1
	}
	return strings.Compare(a.tag, b.tag)
}

// normalizeMySQL groups items by source and merges their intervals.
func normalizeMySQL(items []mysqlTSID) []mysqlTSID {
	if len(items) == 0 {
		return nil
	}
	slices.SortStableFunc(items, func(a, b mysqlTSID) int { return compareTSID(&a, &b) })
	out := items[:1]
	for _, x := range items[1:] {
		last := &out[len(out)-1]
		if compareTSID(last, &x) == 0 {
			last.iv = append(last.iv, x.iv...)
		} else {
			out = append(out, x)
		}
	}
	for i := range out {
		out[i].iv = coalesce(out[i].iv)
	}
	return slices.Clip(out)
}

// coalesce sorts intervals and merges overlapping or adjacent ones, in
// place.
func coalesce(iv []gnoInterval) []gnoInterval {
	slices.SortFunc(iv, func(a, b gnoInterval) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	out := iv[:1]
	for _, x := range iv[1:] {
		last := &out[len(out)-1]
		if x.lo <= last.hi+1 { // hi <= maxGNO, so no overflow
			last.hi = max(last.hi, x.hi)
		} else {
			out = append(out, x)
		}
	}
	return slices.Clip(out)
}

func (s mysqlSet) tsids() []mysqlTSID { return s.t }

// String prints sources sorted by uuid then tag, untagged first, with
// "," between uuids; the server separates them with ",\n".
func (s mysqlSet) String() string {
	ts := s.tsids()
	if len(ts) == 0 {
		return ""
	}
	b := make([]byte, 0, len(ts)*48)
	for i := range ts {
		t := &ts[i]
		if i == 0 || t.uuid != ts[i-1].uuid {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendUUID(b, t.uuid)
		}
		if t.tag != "" {
			b = append(b, ':')
			b = append(b, t.tag...)
		}
		for _, v := range t.iv {
			b = append(b, ':')
			b = strconv.AppendUint(b, v.lo, 10)
			if v.hi != v.lo {
				b = append(b, '-')
				b = strconv.AppendUint(b, v.hi, 10)
			}
		}
	}
	return string(b)
}

func (s mysqlSet) IsEmpty() bool { return len(s.tsids()) == 0 }

func (s mysqlSet) Contains(o Set) bool {
	os, ok := o.(mysqlSet)
	if !ok {
		return isEmpty(o)
	}
	have, wants := s.tsids(), os.tsids()
	i := 0
	for k := range wants {
		want := &wants[k]
		for i < len(have) && compareTSID(&have[i], want) < 0 {
			i++
		}
		if i == len(have) || compareTSID(&have[i], want) != 0 || !ivContains(have[i].iv, want.iv) {
			return false
		}
	}
	return true
}

// ivContains: both lists are coalesced, so each wanted interval must lie
// inside a single held one.
func ivContains(have, want []gnoInterval) bool {
	j := 0
	for _, w := range want {
		for j < len(have) && have[j].hi < w.lo {
			j++
		}
		if j == len(have) || have[j].lo > w.lo || have[j].hi < w.hi {
			return false
		}
	}
	return true
}

// Union shares interval slices of sources only one side has; that is
// safe because sets are never modified after construction.
func (s mysqlSet) Union(o Set) Set {
	os, ok := o.(mysqlSet)
	x, y := s.tsids(), os.tsids()
	if !ok || len(y) == 0 {
		return s
	}
	if len(x) == 0 {
		return os
	}
	out := make([]mysqlTSID, 0, len(x)+len(y))
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		switch c := compareTSID(&x[i], &y[j]); {
		case c < 0:
			out = append(out, x[i])
			i++
		case c > 0:
			out = append(out, y[j])
			j++
		default:
			t := x[i]
			t.iv = unionIntervals(x[i].iv, y[j].iv)
			out = append(out, t)
			i++
			j++
		}
	}
	out = append(out, x[i:]...)
	out = append(out, y[j:]...)
	return mysqlSet{t: out}
}

func unionIntervals(a, b []gnoInterval) []gnoInterval {
	if ivContains(a, b) {
		return a
	}
	if ivContains(b, a) {
		return b
	}
	m := make([]gnoInterval, 0, len(a)+len(b))
	m = append(append(m, a...), b...)
	return coalesce(m)
}

type mysqlFlavor struct{}

func (mysqlFlavor) Name() string { return "mysql" }

func (mysqlFlavor) ParseSet(s string) (Set, error) {
	ms, err := parseMySQL(s)
	if err != nil {
		return nil, err
	}
	return ms, nil
}

// TrackingSetupSQL: OWN_GTID reports the GTIDs this session committed
// since the previous OK. MySQL refuses to change it inside a
// transaction, so run it when the connection is opened.
func (mysqlFlavor) TrackingSetupSQL() []string {
	return []string{"SET SESSION session_track_gtids = OWN_GTID"}
}

// OwnGTID reads SESSION_TRACK_GTIDS entries: an encoding specification
// byte (0 is the only one defined: a text GTID set), then the set as a
// length-encoded string.
func (mysqlFlavor) OwnGTID(state []byte) (Set, bool) {
	var own Set = mysqlSet{}
	bad := false
	ok := wire.EachStateEntry(state, func(typ byte, data []byte) bool {
		if typ != wire.TrackGTIDs {
			return true
		}
		if len(data) == 0 || data[0] != 0 {
			bad = true
			return false
		}
		txt, _, ok := wire.LenEncString(data[1:])
		if !ok {
			bad = true
			return false
		}
		s, err := parseMySQL(string(txt))
		if err != nil {
			bad = true
			return false
		}
		own = own.Union(s)
		return true
	})
	if !ok || bad || own.IsEmpty() {
		return nil, false
	}
	return own, true
}

func (mysqlFlavor) WaitSQL(s Set, timeout time.Duration) string {
	return waitSQL("WAIT_FOR_EXECUTED_GTID_SET", s, timeout)
}

// WaitDone: WAIT_FOR_EXECUTED_GTID_SET returns 0 when reached and 1 on
// timeout; its other failures (bad set, GTID mode off, negative timeout,
// a GTID the session owns) are SQL errors, and NULL appears only for a
// call from a replication applier thread.
func (mysqlFlavor) WaitDone(result string, isNull bool) (bool, error) {
	return waitDone("WAIT_FOR_EXECUTED_GTID_SET", "1", result, isNull)
}

func (mysqlFlavor) WriterPositionSQL() string { return "SELECT @@GLOBAL.gtid_executed" }

// ClusterSQL: the writer's server_uuid, the source part of the GTIDs it
// commits; the same for every proxy that asks and across restarts.
func (mysqlFlavor) ClusterSQL() string { return "SELECT @@GLOBAL.server_uuid" }

// InClusterHistory: gtid_executed names every source uuid whose
// transactions the server holds, a former writer's among them.
func (mysqlFlavor) InClusterHistory(cluster, history string) bool {
	u, ok := parseUUID(cluster)
	if !ok || len(cluster) != 36 {
		return false
	}
	set, err := parseMySQL(history)
	if err != nil {
		return false
	}
	for _, t := range set.t {
		if t.uuid == u {
			return true
		}
	}
	return false
}

// ReaderPositionSQL: gtid_executed is what WAIT_FOR_EXECUTED_GTID_SET
// compares against.
func (mysqlFlavor) ReaderPositionSQL() string { return "SELECT @@GLOBAL.gtid_executed" }

// ReplicationSQL: SHOW REPLICA STATUS (MySQL 8.0.22+) has one row per
// channel.
func (mysqlFlavor) ReplicationSQL() string { return "SHOW REPLICA STATUS" }

func (mysqlFlavor) ReplicationChannel(col func(string) string) (bool, uint32) {
	return replicationChannel(col, "Replica_IO_Running", "Replica_SQL_Running", "Source_Server_Id")
}

func (mysqlFlavor) StraySQL() string { return mysqlStraySQL }

func (mysqlFlavor) Stray(replicaState, replicaID, writerState string) (string, error) {
	return mysqlStray(replicaState, replicaID, writerState)
}
