package proxy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/writerlocks"
)

// With --shared-writer-limits the forwarding switch is kept on the writer
// too, in named locks, so that every proxy instance in front of it follows
// one switch:
//
//   - forwarding is off while some connection holds fwdproxy_forwarding_off:
//     the one of the instance that turned it off. It frees itself when that
//     instance stops, as a switch turned off on one instance lasted until
//     its restart.
//   - an instance that turns forwarding on holds fwdproxy_forwarding_on
//     until the holder of _off, which looks every round, has let go; turning
//     it off takes _on first too, so that the two never cross.
//   - each instance holds one of fwdproxy_instance_0 … _{MaxInstances-1}
//     on the connection it looks with: that is how the instances (and
//     fwdproxy doctor) see how many share the writer.
//
// Without --shared-writer-limits only the last runs (one connection and one
// query per round), so that an instance can warn that others use the
// writer with limits of their own.
const switchWaitSecs = 10 // longest a change waits for the other instances

// unsharedCountEvery is how often an instance without --shared-writer-limits
// counts the instances: only for a warning, so seldom.
const unsharedCountEvery = 10 * time.Second

var errSwitchBusy = errors.New("another fwdproxy instance is changing the shared forwarding switch")

type sharedSwitch struct {
	srv *Server
	mu  sync.Mutex // one change or round at a time; guards the fields
	// holder holds writerlocks.ForwardingOff for this instance; nil unless this instance
	// turned forwarding off.
	holder   *backend
	holderAt string
	look     *backend // holds an instance lock; asks whether forwarding is off
	lookAt   string
	stopped  bool
	shared   bool // the last round ran with --shared-writer-limits
	// countedAt is when the instances were last counted without
	// --shared-writer-limits, every countEvery (0: never).
	countedAt  time.Time
	countEvery time.Duration
	// instances is how many fwdproxy instances hold an instance lock on
	// the writer, this one included, at the last look (0: not looked).
	instances atomic.Int64
}

func (s *Server) sharedForwarding() bool { return s.conf().SharedWriterLimits }

func (w *sharedSwitch) dial(addr string) (*backend, error) {
	user, pass := w.srv.proxyUser()
	return dialBackend(context.Background(), "writer", dialParams{addr: addr, user: user, password: pass, tls: w.srv.conf().BackendTLS})
}

// ask runs q on b and returns the first value. A writer that stops
// answering must not hold the switch (and POST /forwarding) for ever.
func ask(b *backend, q string) (string, error) {
	_ = b.conn.NetConn().SetDeadline(time.Now().Add((switchWaitSecs + 5) * time.Second))
	defer func() { _ = b.conn.NetConn().SetDeadline(time.Time{}) }()
	res, err := b.exec(q)
	if err != nil {
		return "", err
	}
	v, _ := res.value()
	return v.s, nil
}

// set turns the shared switch on or off on the current writer. It returns
// when the writer says so; the other instances follow on their next round.
func (w *sharedSwitch) set(on bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	addr := w.srv.writerAddr()
	if addr == "" {
		return errNoWriter
	}
	if on {
		w.release()
		b, err := w.dial(addr)
		if err != nil {
			return err
		}
		defer b.close()
		if v, err := ask(b, fmt.Sprintf("SELECT GET_LOCK('%s', %d)", writerlocks.ForwardingOn, switchWaitSecs)); err != nil || v != "1" {
			return errors.Join(errSwitchBusy, err)
		}
		for i := 0; i < switchWaitSecs*10; i++ {
			v, err := ask(b, "SELECT IS_USED_LOCK('"+writerlocks.ForwardingOff+"') IS NULL")
			if err != nil {
				return err
			}
			if v == "1" {
				_, err = ask(b, "SELECT RELEASE_LOCK('"+writerlocks.ForwardingOn+"')")
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
		return fmt.Errorf("the fwdproxy instance holding %s did not let go within %d s", writerlocks.ForwardingOff, switchWaitSecs)
	}
	if w.holder != nil && w.holderAt == addr {
		return nil
	}
	w.release()
	return w.take(addr, switchWaitSecs)
}

// take holds writerlocks.ForwardingOff on a new connection to addr, unless another
// instance is turning forwarding on (waiting up to wait seconds for it).
// When another instance holds it already, forwarding is off all the same.
func (w *sharedSwitch) take(addr string, wait int) error {
	b, err := w.dial(addr)
	if err != nil {
		return err
	}
	if v, err := ask(b, fmt.Sprintf("SELECT GET_LOCK('%s', %d)", writerlocks.ForwardingOn, wait)); err != nil || v != "1" {
		b.close()
		return errors.Join(errSwitchBusy, err)
	}
	v, err := ask(b, "SELECT GET_LOCK('"+writerlocks.ForwardingOff+"', 0)")
	if err == nil {
		_, err = ask(b, "SELECT RELEASE_LOCK('"+writerlocks.ForwardingOn+"')")
	}
	if err != nil || v != "1" {
		b.close()
		return err
	}
	w.holder, w.holderAt = b, addr
	return nil
}

// release lets go of writerlocks.ForwardingOff (closing its connection frees it).
func (w *sharedSwitch) release() {
	if w.holder != nil {
		w.holder.close()
		w.holder, w.holderAt = nil, ""
	}
}

// round is one look at the writer: the holder lets go when another
// instance turns forwarding on and follows a writer change; the instance
// takes the switch's state from the writer.
func (w *sharedSwitch) round() {
	w.mu.Lock()
	defer w.mu.Unlock()
	addr := w.srv.writerAddr()
	if w.stopped || addr == "" {
		return
	}
	if !w.srv.sharedForwarding() {
		w.release()
		w.shared = false
		w.countUnshared(addr)
		return
	}
	if !w.shared {
		// Sharing starts (at start, or a reload turned it on): this
		// instance's switch, when off, is now every instance's.
		w.shared = true
		if !w.srv.Forwarding() && w.holder == nil {
			if err := w.take(addr, switchWaitSecs); err != nil {
				w.srv.log.Warn("forwarding switch: turning it off on the writer failed", zap.Error(err))
			}
		}
	}
	if w.holder != nil {
		v, err := ask(w.holder, "SELECT COALESCE(IS_USED_LOCK('"+writerlocks.ForwardingOn+"') <> CONNECTION_ID(), 0)")
		switch {
		case err == nil && v == "1":
			w.release() // turned on elsewhere
		case err != nil || w.holderAt != addr:
			// The writer moved or the connection broke: the switch stays
			// off, on the writer there is now.
			w.release()
			if err := w.take(addr, 0); err != nil {
				w.srv.log.Warn("forwarding switch: holding it off on the writer failed", zap.String("writer", addr), zap.Error(err))
			}
		}
	}
	off, n, err := w.lookOff(addr)
	if err != nil {
		w.srv.log.Debug("forwarding switch: the writer did not answer", zap.Error(err))
		return // the last state stands
	}
	w.instances.Store(n)
	if off == w.srv.Forwarding() {
		w.srv.applyForwarding(!off)
	}
}

// countUnshared counts the instances in front of the writer when this one
// keeps its limits to itself, and says once per count above one that each
// instance then allows the whole writer connection cap.
func (w *sharedSwitch) countUnshared(addr string) {
	if w.countEvery == 0 || time.Since(w.countedAt) < w.countEvery && w.lookAt == addr {
		return
	}
	w.countedAt = time.Now()
	_, n, err := w.lookOff(addr)
	if err != nil {
		w.srv.log.Debug("instance count: the writer did not answer", zap.Error(err))
		return
	}
	if w.instances.Swap(n) != n && n > 1 {
		w.srv.log.Warn("several fwdproxy instances use this writer without --shared-writer-limits: each allows the whole writer connection cap and has its own forwarding switch",
			zap.String("writer", addr), zap.Int64("instances", n))
	}
}

// lookOff asks the writer whether some instance holds the switch off and
// how many instances there are, on the connection that holds this
// instance's lock.
func (w *sharedSwitch) lookOff(addr string) (off bool, instances int64, err error) {
	if w.look != nil && w.lookAt != addr {
		w.dropLook()
	}
	if w.look == nil {
		b, err := w.dial(addr)
		if err != nil {
			return false, 0, err
		}
		for n := range writerlocks.MaxInstances { // the first free one; none past the last
			v, err := ask(b, "SELECT GET_LOCK('"+writerlocks.Instance(n)+"', 0)")
			if err != nil {
				b.close()
				return false, 0, err
			}
			if v == "1" {
				break
			}
		}
		w.look, w.lookAt = b, addr
	}
	_ = w.look.conn.NetConn().SetDeadline(time.Now().Add(5 * time.Second))
	res, err := w.look.exec("SELECT IS_USED_LOCK('" + writerlocks.ForwardingOff + "') IS NOT NULL, " + writerlocks.InstancesSQL())
	_ = w.look.conn.NetConn().SetDeadline(time.Time{})
	if err != nil || len(res.rows) != 1 || len(res.rows[0]) != 2 {
		w.dropLook()
		return false, 0, errors.Join(errors.New("the writer's answer about the instance locks"), err)
	}
	n, _ := strconv.ParseInt(res.rows[0][1].s, 10, 64)
	return res.rows[0][0].s == "1", n, nil
}

func (w *sharedSwitch) dropLook() {
	if w.look != nil {
		w.look.close()
		w.look, w.lookAt = nil, ""
	}
}

// loop runs a round every writerCheckEvery until the server closes, and
// notices the close within a tenth of that.
func (w *sharedSwitch) loop() {
	for i := 0; !w.srv.closed.Load(); i++ {
		if i%10 == 0 {
			w.round()
		}
		time.Sleep(writerCheckEvery / 10)
	}
}

// stop lets go of the locks at once: the other instances see this one go.
func (w *sharedSwitch) stop() {
	w.mu.Lock()
	w.stopped = true
	w.release()
	w.dropLook()
	w.mu.Unlock()
}
