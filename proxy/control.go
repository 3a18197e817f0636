package proxy

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// writerControl keeps, per user and writer address, one connection of the
// proxy's own to the writer, opened before it is needed, that delivers KILL QUERY for a
// forwarded statement past --forward-timeout. A connection dialled at that
// moment would wait in the handshake of a writer that stopped answering.
// The user's own login: anyone may kill their own threads.
type writerControl struct {
	mu      sync.Mutex
	conns   map[string]*controlConn // by controlKey: a KILL after a writer change must not reach the old writer
	dialing map[string]bool
	closed  bool
	ctx     context.Context // ends the dials in flight on close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// controlConn is one control connection. KILLs are written without waiting
// (a writer that stopped queues them and runs them when it resumes); one
// goroutine reads the answers, which come in order.
type controlConn struct {
	ctl  *writerControl
	b    *backend
	mu   sync.Mutex
	acks []chan bool // one per KILL sent, oldest first
	dead bool
}

func controlKey(p dialParams) string { return p.user + "@" + p.addr }

// ensure starts a control connection for p.user to p.addr in the background unless
// there is one.
func (c *writerControl) ensure(p dialParams) {
	k := controlKey(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.conns[k].live() || c.dialing[k] {
		return
	}
	c.startDialLocked(p, nil)
}

// kill sends KILL QUERY thread for p.user on p.addr and returns the channel that says
// when it can no longer reach the writer later: true once the writer ran it,
// or when it was never sent (no control connection could be made); false
// when its connection failed after sending. It never blocks on the writer.
func (c *writerControl) kill(p dialParams, thread uint32) <-chan bool {
	ack := make(chan bool, 1)
	pkt := append([]byte{comQuery}, "KILL QUERY "+strconv.FormatUint(uint64(thread), 10)...)
	c.mu.Lock()
	cc := c.conns[controlKey(p)]
	c.mu.Unlock()
	if cc != nil && cc.send(pkt, ack) {
		return ack
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		ack <- true
		return ack
	}
	// None yet, or it just failed: a fresh one, for what it is worth.
	c.startDialLocked(p, func(cc *controlConn) {
		if cc == nil || !cc.send(pkt, ack) {
			ack <- true // never sent
		}
	})
	return ack
}

// startDialLocked dials a control connection in the background, then hands
// it (nil on failure) to then.
func (c *writerControl) startDialLocked(p dialParams, then func(*controlConn)) {
	if c.ctx == nil {
		c.ctx, c.cancel = context.WithCancel(context.Background())
		c.conns, c.dialing = map[string]*controlConn{}, map[string]bool{}
	}
	c.dialing[controlKey(p)] = true
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		cc := c.dial(p)
		if then != nil {
			then(cc)
		}
	}()
}

func (c *writerControl) dial(p dialParams) *controlConn {
	b, err := dialBackend(c.ctx, "control", p)
	if err == nil {
		// The server's wait_timeout must not close it while it waits for use.
		_, err = b.exec("SET SESSION wait_timeout = 31536000")
	}
	k := controlKey(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dialing[k] = false
	if err != nil || c.closed {
		if b != nil {
			b.conn.NetConn().Close()
		}
		return c.conns[k]
	}
	if old := c.conns[k]; old.live() { // another dial won
		b.conn.NetConn().Close()
		return old
	}
	cc := &controlConn{ctl: c, b: b}
	c.conns[k] = cc
	c.wg.Add(1)
	go cc.readAnswers()
	return cc
}

// send writes one KILL; its answer goes to ack. False: the connection was
// gone before it (a failed write answers ack itself).
func (cc *controlConn) send(pkt []byte, ack chan bool) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.dead {
		return false
	}
	// Queued before the write: the answer may be read before put returns.
	cc.acks = append(cc.acks, ack)
	_ = cc.b.conn.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
	if err := cc.b.put(pkt, false); err != nil {
		cc.dieLocked() // part of it may have gone: ack gets false
	}
	return true
}

func (cc *controlConn) readAnswers() {
	defer cc.ctl.wg.Done()
	for {
		_, err := cc.b.readResult()
		if _, isSQL := err.(*sqlError); err != nil && !isSQL {
			cc.mu.Lock()
			cc.dieLocked()
			cc.mu.Unlock()
			return
		}
		// OK, or an error such as 1094 (the thread is gone): the KILL ran.
		cc.mu.Lock()
		if len(cc.acks) > 0 {
			cc.acks[0] <- true
			cc.acks = cc.acks[1:]
		}
		cc.mu.Unlock()
	}
}

// dieLocked closes the connection; the KILLs still unanswered may yet run.
func (cc *controlConn) dieLocked() {
	if cc.dead {
		return
	}
	cc.dead = true
	for _, a := range cc.acks {
		a <- false
	}
	cc.acks = nil
	_ = cc.b.conn.NetConn().Close() // the next dial replaces it in ctl.conns
}

func (cc *controlConn) live() bool {
	if cc == nil {
		return false
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return !cc.dead
}

// close ends every control connection and waits for their goroutines.
func (c *writerControl) close() {
	c.mu.Lock()
	c.closed = true
	if c.cancel != nil {
		c.cancel()
	}
	conns := make([]*controlConn, 0, len(c.conns))
	for _, cc := range c.conns {
		conns = append(conns, cc)
	}
	c.mu.Unlock()
	for _, cc := range conns {
		cc.mu.Lock()
		cc.dieLocked()
		cc.mu.Unlock()
	}
	c.wg.Wait()
}
