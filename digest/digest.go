// Package digest keeps per-statement-digest statistics (executions, where
// they ran, read-wait time and timeouts, errors) in bounded memory, and
// writes the opt-in statement log.
package digest

import (
	"hash/maphash"
	"sort"
	"sync"
	"time"
)

// Route is where a statement ran, as the statistics count it.
type Route uint8

const (
	Local     Route = iota // answered by the proxy itself
	Reader                 // ran on a reader
	Writer                 // a read the writer served (by decision or wait fallback)
	Forwarded              // a write forwarded to the writer
	Rejected               // refused by the routing rule
	nRoutes
)

var routeNames = [nRoutes]string{"local", "reader", "writer", "forwarded", "rejected"}

func (r Route) String() string { return routeNames[r] }

// Outcome is what became of one statement.
type Outcome struct {
	Route   Route
	Wait    time.Duration // consistency wait before a read
	Timeout bool          // the wait timed out
	Err     uint16        // the error code sent to the client; 0 none
}

// Other is the digest that collects statements once the table is full.
const Other = "other"

const shards = 16

// Table counts outcomes per digest. Its memory is bounded: past max
// distinct digests, new ones count under Other. Shards keep sessions
// recording different digests off one lock.
type Table struct {
	seed   maphash.Seed
	perCap int
	shard  [shards]shard
}

type shard struct {
	mu    sync.Mutex
	m     map[string]*counts
	other counts
}

type counts struct {
	n, waitNs, timeouts, errs int64
	routes                    [nRoutes]int64
}

// New returns a table holding at most max distinct digests (at least one
// per shard). Each shard holds its share, so a digest may count as Other
// while another shard still has room.
func New(max int) *Table {
	t := &Table{seed: maphash.MakeSeed(), perCap: max / shards}
	if t.perCap < 1 {
		t.perCap = 1
	}
	for i := range t.shard {
		t.shard[i].m = make(map[string]*counts)
	}
	return t
}

// Record counts one statement of digest d.
func (t *Table) Record(d string, o Outcome) {
	sh := &t.shard[maphash.String(t.seed, d)%shards]
	sh.mu.Lock()
	c := sh.m[d]
	if c == nil {
		if len(sh.m) < t.perCap {
			c = new(counts)
			sh.m[d] = c
		} else {
			c = &sh.other
		}
	}
	c.n++
	c.routes[o.Route]++
	c.waitNs += int64(o.Wait)
	if o.Timeout {
		c.timeouts++
	}
	if o.Err != 0 {
		c.errs++
	}
	sh.mu.Unlock()
}

// Stats is one digest's figures, as /status shows them.
type Stats struct {
	Digest   string           `json:"digest"`
	Count    int64            `json:"count"`
	Routes   map[string]int64 `json:"routes"`
	WaitUS   int64            `json:"read_wait_us"`
	Timeouts int64            `json:"wait_timeouts"`
	Errors   int64            `json:"errors"`
}

func (c *counts) stats(d string) Stats {
	s := Stats{Digest: d, Count: c.n, WaitUS: c.waitNs / 1000, Timeouts: c.timeouts, Errors: c.errs,
		Routes: make(map[string]int64)}
	for r, v := range c.routes {
		if v != 0 {
			s.Routes[routeNames[r]] = v
		}
	}
	return s
}

// Top returns the n digests run most often, Other among them when it
// counted anything; ties go by digest.
func (t *Table) Top(n int) []Stats {
	var all []Stats
	var other counts
	for i := range t.shard {
		sh := &t.shard[i]
		sh.mu.Lock()
		for d, c := range sh.m {
			all = append(all, c.stats(d))
		}
		other.n += sh.other.n
		other.waitNs += sh.other.waitNs
		other.timeouts += sh.other.timeouts
		other.errs += sh.other.errs
		for r := range other.routes {
			other.routes[r] += sh.other.routes[r]
		}
		sh.mu.Unlock()
	}
	if other.n > 0 {
		all = append(all, other.stats(Other))
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Count != all[j].Count {
			return all[i].Count > all[j].Count
		}
		return all[i].Digest < all[j].Digest
	})
	if len(all) > n {
		all = all[:n]
	}
	return all
}
