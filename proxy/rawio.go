package proxy

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawIOConn reads and writes a socket with RawSyscall through its RawConn.
//
// Why: a plain net.Conn read or write goes through syscall.Syscall, whose
// entersyscall/exitsyscall pair wakes the runtime's sysmon thread whenever
// the Ps went idle in between, which in a proxy is after almost every
// packet. Under sysbench oltp_read_write that was 12% of the proxy's CPU
// (perf, docs/benchmarks.md). The socket is non-blocking, so the call never
// sleeps in the kernel: waiting still goes through the netpoller (RawRead
// and RawWrite), and so deadlines and Close from another goroutine work as
// they do for net.Conn.
type rawIOConn struct {
	net.Conn
	rc syscall.RawConn
	// The callbacks are method values made once: a closure per call would
	// allocate. rd and wr carry one call's arguments and results (a read
	// and a write may run at the same time, as on any net.Conn).
	readFn, writeFn func(fd uintptr) bool
	rd, wr          rawCall
}

type rawCall struct {
	p   []byte
	n   int
	err syscall.Errno
}

// withRawIO wraps plain TCP and Unix sockets; anything else (TLS, pipes in
// tests) is returned as it is.
func withRawIO(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	r := &rawIOConn{Conn: c, rc: rc}
	r.readFn, r.writeFn = r.doRead, r.doWrite
	return r
}

// SyscallConn keeps the socket reachable for alive() and socket options.
func (c *rawIOConn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

func (c *rawIOConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rd = rawCall{p: p}
	err := c.rc.Read(c.readFn)
	n, errno := c.rd.n, c.rd.err
	c.rd.p = nil
	switch {
	case err != nil:
		return 0, err // deadline or closed, already a *net.OpError
	case errno != 0:
		return 0, c.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *rawIOConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.wr = rawCall{p: p}
	err := c.rc.Write(c.writeFn)
	n, errno := c.wr.n, c.wr.err
	c.wr.p = nil
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, c.opError("write", errno)
	}
	return n, nil
}

// doRead does one read; false asks RawRead to wait for readability.
func (c *rawIOConn) doRead(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.rd.p[0])), uintptr(len(c.rd.p)))
		switch e {
		case 0:
			c.rd.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			c.rd.err = e
			return true
		}
	}
}

// doWrite writes all of c.wr.p; false asks RawWrite to wait for room.
func (c *rawIOConn) doWrite(fd uintptr) bool {
	w := &c.wr
	for len(w.p) > 0 {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&w.p[0])), uintptr(len(w.p)))
		switch e {
		case 0:
			w.n += int(n)
			w.p = w.p[n:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			w.err = e
			return true
		}
	}
	return true
}

func (c *rawIOConn) opError(op string, e syscall.Errno) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, e)}
}
