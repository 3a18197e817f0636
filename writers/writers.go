// Package writers says which of several candidate servers is the writer,
// from what the servers themselves report. Every proxy instance that sees
// the same answers picks the same writer: nothing here depends on which
// writer an instance used before.
package writers

import "sort"

// Observation is what one candidate said when asked.
type Observation struct {
	Addr      string // the candidate as configured
	Reachable bool   // it answered; the rest is meaningless otherwise
	ReadOnly  bool   // @@GLOBAL.read_only
	// Replicating: a replication thread (IO or SQL) is running on it, so
	// it applies another server's writes.
	Replicating bool
	ServerID    uint32 // @@server_id
	// MasterIDs are the server ids its replication channels point at
	// (running or not): a replica's vote for its writer.
	MasterIDs []uint32
}

// Writable: it takes writes of its own, so it can be the writer.
func (o Observation) Writable() bool { return o.Reachable && !o.ReadOnly && !o.Replicating }

// Decision is Pick's answer.
type Decision struct {
	Writer string // the writer's Addr; "" when no candidate qualifies
	// Contenders are every writable candidate. More than one is a split
	// brain (a failed-over writer came back writable); Writer is then the
	// one the tie-break chose.
	Contenders []string
}

// Pick chooses the writer among the observations of the candidates; voters
// are further observations (readers) that only count as replicas. With one
// writable candidate, it is the writer. With several, the one most of the
// observed replicas replicate from wins, then the lower server id, then the
// lower address: all of it from what the servers report.
func Pick(candidates, voters []Observation) Decision {
	var c []Observation
	for _, o := range candidates {
		if o.Writable() {
			c = append(c, o)
		}
	}
	var d Decision
	if len(c) == 0 {
		return d
	}
	votes := map[uint32]int{}
	seen := map[uint32]bool{}
	for _, o := range append(append([]Observation(nil), candidates...), voters...) {
		if !o.Reachable || o.Writable() || seen[o.ServerID] && o.ServerID != 0 {
			continue
		}
		seen[o.ServerID] = true // one vote a server, however often it is listed
		for _, m := range o.MasterIDs {
			votes[m]++
		}
	}
	sort.SliceStable(c, func(i, j int) bool {
		a, b := c[i], c[j]
		if votes[a.ServerID] != votes[b.ServerID] {
			return votes[a.ServerID] > votes[b.ServerID]
		}
		if a.ServerID != b.ServerID {
			return a.ServerID < b.ServerID
		}
		return a.Addr < b.Addr
	})
	d.Writer = c[0].Addr
	for _, o := range c {
		d.Contenders = append(d.Contenders, o.Addr)
	}
	return d
}
