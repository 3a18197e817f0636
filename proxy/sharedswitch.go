package proxy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
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
//   - each instance holds one of fwdproxy_instance_0 … _{maxInstances-1}
//     on the connection it looks with, which is how fwdproxy doctor sees the
//     instances in front of a writer.
const (
	lockFwdOff     = "fwdproxy_forwarding_off"
	lockFwdOn      = "fwdproxy_forwarding_on"
	instanceLock   = "fwdproxy_instance_"
	maxInstances   = 64
	switchWaitSecs = 10 // longest a change waits for the other instances
)

// InstanceLock is the name of the lock instance slot n holds.
func InstanceLock(n int) string { return instanceLock + strconv.Itoa(n) }

// MaxInstances is how many instance locks there are.
const MaxInstances = maxInstances

var errSwitchBusy = errors.New("another fwdproxy instance is changing the shared forwarding switch")

type sharedSwitch struct {
	srv *Server
	mu  sync.Mutex // one change or round at a time; guards the fields
	// holder holds lockFwdOff for this instance; nil unless this instance
	// turned forwarding off.
	holder   *backend
	holderAt string
	look     *backend // holds an instance lock; asks whether forwarding is off
	lookAt   string
	stopped  bool
}

func (s *Server) sharedForwarding() bool { return s.conf().SharedWriterLimits }

func (w *sharedSwitch) dial(addr string) (*backend, error) {
	user, pass := w.srv.proxyUser()
	return dialBackend(context.Background(), "writer", dialParams{addr: addr, user: user, password: pass, tls: w.srv.conf().BackendTLS})
}

// ask runs q on b and returns the first value.
func ask(b *backend, q string) (string, error) {
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
		if v, err := ask(b, fmt.Sprintf("SELECT GET_LOCK('%s', %d)", lockFwdOn, switchWaitSecs)); err != nil || v != "1" {
			return errors.Join(errSwitchBusy, err)
		}
		for i := 0; i < switchWaitSecs*10; i++ {
			v, err := ask(b, "SELECT IS_USED_LOCK('"+lockFwdOff+"') IS NULL")
			if err != nil {
				return err
			}
			if v == "1" {
				_, err = ask(b, "SELECT RELEASE_LOCK('"+lockFwdOn+"')")
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
		return fmt.Errorf("the fwdproxy instance holding %s did not let go within %d s", lockFwdOff, switchWaitSecs)
	}
	if w.holder != nil && w.holderAt == addr {
		return nil
	}
	w.release()
	return w.take(addr, switchWaitSecs)
}

// take holds lockFwdOff on a new connection to addr, unless another
// instance is turning forwarding on (waiting up to wait seconds for it).
// When another instance holds it already, forwarding is off all the same.
func (w *sharedSwitch) take(addr string, wait int) error {
	b, err := w.dial(addr)
	if err != nil {
		return err
	}
	if v, err := ask(b, fmt.Sprintf("SELECT GET_LOCK('%s', %d)", lockFwdOn, wait)); err != nil || v != "1" {
		b.close()
		return errors.Join(errSwitchBusy, err)
	}
	v, err := ask(b, "SELECT GET_LOCK('"+lockFwdOff+"', 0)")
	if err == nil {
		_, err = ask(b, "SELECT RELEASE_LOCK('"+lockFwdOn+"')")
	}
	if err != nil || v != "1" {
		b.close()
		return err
	}
	w.holder, w.holderAt = b, addr
	return nil
}

// release lets go of lockFwdOff (closing its connection frees it).
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
	if w.stopped {
		return
	}
	if !w.srv.sharedForwarding() {
		w.release()
		w.dropLook()
		return
	}
	if addr == "" {
		return
	}
	if w.holder != nil {
		v, err := ask(w.holder, "SELECT COALESCE(IS_USED_LOCK('"+lockFwdOn+"') <> CONNECTION_ID(), 0)")
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
	off, err := w.lookOff(addr)
	if err != nil {
		w.srv.log.Debug("forwarding switch: the writer did not answer", zap.Error(err))
		return // the last state stands
	}
	if off == w.srv.Forwarding() {
		w.srv.applyForwarding(!off)
	}
}

// lookOff asks the writer whether some instance holds the switch off, on
// the connection that holds this instance's lock.
func (w *sharedSwitch) lookOff(addr string) (bool, error) {
	if w.look != nil && w.lookAt != addr {
		w.dropLook()
	}
	if w.look == nil {
		b, err := w.dial(addr)
		if err != nil {
			return false, err
		}
		for n := range maxInstances { // the first free one; none past the last
			v, err := ask(b, "SELECT GET_LOCK('"+InstanceLock(n)+"', 0)")
			if err != nil {
				b.close()
				return false, err
			}
			if v == "1" {
				break
			}
		}
		w.look, w.lookAt = b, addr
	}
	v, err := ask(w.look, "SELECT IS_USED_LOCK('"+lockFwdOff+"') IS NOT NULL")
	if err != nil {
		w.dropLook()
		return false, err
	}
	return v == "1", nil
}

func (w *sharedSwitch) dropLook() {
	if w.look != nil {
		w.look.close()
		w.look, w.lookAt = nil, ""
	}
}

func (w *sharedSwitch) loop() {
	if !w.srv.conf().Forwarding && w.srv.sharedForwarding() {
		if err := w.set(false); err != nil {
			w.srv.log.Warn("forwarding switch: turning it off on the writer failed", zap.Error(err))
		}
	}
	for !w.srv.closed.Load() {
		w.round()
		time.Sleep(writerCheckEvery)
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
