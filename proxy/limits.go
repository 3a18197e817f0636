package proxy

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fwdproxy/fwdproxy/metrics"
)

// changeUserPause is how long a failed COM_CHANGE_USER holds its answer,
// as MariaDB does against guessing (a variable for the tests).
var changeUserPause = func() *atomic.Int64 { // a time.Duration; atomic: tests change it while sessions run
	var d atomic.Int64
	d.Store(int64(time.Second))
	return &d
}()

// The client limits that are not a setting, as MariaDB has them.
const (
	// changeUserTries is how many failed COM_CHANGE_USER a connection may
	// have; every later one gets 1047, whatever the password, as in MariaDB.
	changeUserTries = 3
	// handshakeMaxBytes bounds what a client may send before it is logged
	// in (TLS records, the handshake response with its attributes, auth
	// switch answers: a few kB in practice), so that no one who has not
	// logged in makes the proxy hold more.
	handshakeMaxBytes = 64 << 10
	// hostsMax bounds the addresses whose failures are remembered.
	hostsMax = 100000
)

var errHandshakeTooBig = errors.New("more than 64 KiB before login")

// hosts counts failed logins per client address, as MariaDB's host cache
// does for max_connect_errors: a login that succeeds forgets the address's
// failures; max failures in a row block it for the block time.
type hosts struct {
	mu   sync.Mutex
	seen map[string]*hostErrors
}

type hostErrors struct {
	failures int
	until    time.Time // blocked until then
}

// blocked says whether addr is blocked now.
func (h *hosts) blocked(addr string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.seen[addr]
	return e != nil && now.Before(e.until)
}

// failed counts a failed login from addr and reports whether that blocks it.
// max 0 never blocks.
func (h *hosts) failed(addr string, max int, blockFor time.Duration, now time.Time) bool {
	if max == 0 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.seen[addr]
	if e == nil {
		if h.seen == nil {
			h.seen = map[string]*hostErrors{}
		}
		h.makeRoom(now)
		e = &hostErrors{}
		h.seen[addr] = e
	}
	if !e.until.IsZero() && !now.Before(e.until) {
		*e = hostErrors{} // the block ran out: a fresh count
	}
	e.failures++
	if e.failures < max || !e.until.IsZero() {
		return false
	}
	e.until = now.Add(blockFor)
	return true
}

// makeRoom forgets addresses that are not blocked when the table is full,
// then any, so that a client with many addresses cannot grow it.
func (h *hosts) makeRoom(now time.Time) {
	if len(h.seen) < hostsMax {
		return
	}
	for a, e := range h.seen {
		if !now.Before(e.until) {
			delete(h.seen, a)
		}
	}
	for a := range h.seen {
		if len(h.seen) < hostsMax {
			break
		}
		delete(h.seen, a)
	}
}

// succeeded forgets addr's failures.
func (h *hosts) succeeded(addr string) {
	h.mu.Lock()
	delete(h.seen, addr)
	h.mu.Unlock()
}

// reset unblocks every address (SIGHUP: the proxy's FLUSH HOSTS).
func (h *hosts) reset() {
	h.mu.Lock()
	h.seen = nil
	h.mu.Unlock()
}

// clientHost is the client's address without the port, as MariaDB names a
// client host with skip-name-resolve: 'user'@'192.0.2.7'.
func clientHost(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

// hostAddr is a client address that prints as its host only, so that
// go-mysql's login errors name 'user'@'host' as MariaDB does.
type hostAddr struct{ net.Addr }

func (a hostAddr) String() string { return clientHost(a.Addr) }

// refuse answers a connection with an error packet in place of the
// handshake, as MariaDB refuses one (no SQL state: the client has not said
// it speaks protocol 4.1 yet), counts it under l and closes it.
func (s *Server) refuse(c net.Conn, l metrics.Limit, code uint16, msg string) {
	s.Metrics.Limited(l)
	p := make([]byte, 4, 7+len(msg))
	p = append(p, 0xff)
	p = binary.LittleEndian.AppendUint16(p, code)
	p = append(p, msg...)
	n := len(p) - 4
	p[0], p[1], p[2], p[3] = byte(n), byte(n>>8), byte(n>>16), 0
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(p)
	_ = c.Close()
}
