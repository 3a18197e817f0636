package consistency

// Lost GTIDs: after a failover that promoted a lagging replica, the old
// writer's un-replicated tail exists nowhere in the cluster any more. A
// wait target that names one of its transactions would never be reached
// (MySQL) or be reached only once the new writer's own numbers pass it,
// by other transactions (MariaDB). Flavor.Lost takes such GTIDs out of a
// target, given what the new writer held when it became the writer
// (Flavor.ExecutedSQL's value, read at the change).

// mariadbExecutedSQL is every (domain, server) pair's last GTID the server
// logged (gtid_binlog_state) and its position per domain, replicated
// transactions included (gtid_current_pos), as one list.
const mariadbExecutedSQL = "SELECT CONCAT_WS(',', NULLIF(@@GLOBAL.gtid_binlog_state, ''), NULLIF(@@GLOBAL.gtid_current_pos, ''))"

func (mariadbFlavor) ExecutedSQL() string { return mariadbExecutedSQL }

// Lost for MariaDB, where a target is one GTID D-S-N per domain. It is
// kept when the new writer's history has server S in domain D at N or
// later: sequence numbers grow within a domain, so it holds D-S-N. When S
// is not in its history at all (a binlog reset), a domain position at N or
// later keeps it too: what exists cannot be told apart, and a wait for an
// existing position ends. Otherwise D-S-N is lost, and the target in D
// becomes the new writer's position in D at the change: it covers every
// transaction of the domain that survived, the session's earlier ones
// among them, and it exists. Comparing the sequence number alone would not
// do: the new writer's own numbers in D may pass N later, with other
// transactions. A domain the new writer never had is dropped.
func (mariadbFlavor) Lost(target Set, executed string) (kept, lost Set, err error) {
	t, ok := target.(mariadbSet)
	if !ok || t.IsEmpty() {
		return target, mariadbSet{}, nil
	}
	type key struct{ domain, server uint32 }
	pair := map[key]uint64{}
	domain := map[uint32]MariaDBGTID{}
	err = eachMariaDBGTID(executed, func(g MariaDBGTID) {
		k := key{g.Domain, g.Server}
		pair[k] = max(pair[k], g.Seq)
		if d, ok := domain[g.Domain]; !ok || g.Seq > d.Seq {
			domain[g.Domain] = g
		}
	})
	if err != nil {
		return target, mariadbSet{}, err
	}
	var keep, gone []MariaDBGTID
	for _, g := range t.gtids() {
		seq, inHistory := pair[key{g.Domain, g.Server}]
		pos, hasDomain := domain[g.Domain]
		switch {
		case inHistory && seq >= g.Seq, !inHistory && hasDomain && pos.Seq >= g.Seq:
			keep = append(keep, g)
		case hasDomain:
			keep = append(keep, pos)
			gone = append(gone, g)
		default:
			gone = append(gone, g)
		}
	}
	if len(gone) == 0 {
		return target, mariadbSet{}, nil
	}
	return mariadbSet{g: keep}, mariadbSet{g: gone}, nil
}

func (mysqlFlavor) ExecutedSQL() string { return "SELECT @@GLOBAL.gtid_executed" }

// Lost for MySQL: a GTID names one transaction, so what survived is the
// target's intersection with the new writer's gtid_executed.
func (mysqlFlavor) Lost(target Set, executed string) (kept, lost Set, err error) {
	t, ok := target.(mysqlSet)
	if !ok || t.IsEmpty() {
		return target, mysqlSet{}, nil
	}
	have, err := parseMySQL(executed)
	if err != nil {
		return target, mysqlSet{}, err
	}
	if have.Contains(t) {
		return target, mysqlSet{}, nil
	}
	return intersectMySQL(t, have, true), intersectMySQL(t, have, false), nil
}

// intersectMySQL is a ∩ b (in) or a − b (!in).
func intersectMySQL(a, b mysqlSet, in bool) mysqlSet {
	var out []mysqlTSID
	j := 0
	for _, x := range a.tsids() {
		for j < len(b.t) && compareTSID(&b.t[j], &x) < 0 {
			j++
		}
		var other []gnoInterval
		if j < len(b.t) && compareTSID(&b.t[j], &x) == 0 {
			other = b.t[j].iv
		}
		var iv []gnoInterval
		if in {
			iv = intersectIntervals(x.iv, other)
		} else {
			iv = subtractIntervals(x.iv, other)
		}
		if len(iv) > 0 {
			out = append(out, mysqlTSID{uuid: x.uuid, tag: x.tag, iv: iv})
		}
	}
	return mysqlSet{t: out}
}

// intersectIntervals of two coalesced lists is coalesced.
func intersectIntervals(a, b []gnoInterval) []gnoInterval {
	var out []gnoInterval
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		lo, hi := max(a[i].lo, b[j].lo), min(a[i].hi, b[j].hi)
		if lo <= hi {
			out = append(out, gnoInterval{lo, hi})
		}
		if a[i].hi < b[j].hi {
			i++
		} else {
			j++
		}
	}
	return out
}

// subtractIntervals is a − b, both coalesced.
func subtractIntervals(a, b []gnoInterval) []gnoInterval {
	var out []gnoInterval
	j := 0
	for _, x := range a {
		lo := x.lo
		for j < len(b) && b[j].hi < lo {
			j++
		}
		for k := j; k < len(b) && b[k].lo <= x.hi && lo <= x.hi; k++ {
			if b[k].lo > lo {
				out = append(out, gnoInterval{lo, b[k].lo - 1})
			}
			lo = b[k].hi + 1 // hi <= maxGNO: no overflow
		}
		if lo <= x.hi {
			out = append(out, gnoInterval{lo, x.hi})
		}
	}
	return out
}
