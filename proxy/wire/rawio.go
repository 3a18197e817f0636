package wire

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
	// held is a request written at the start of the next Read, after the
	// netpoller's readiness for that read is reset: the read then waits for
	// the answer straight away instead of trying a read that can only find
	// nothing (a system call per request and per answer). hold makes Write
	// keep what it is given there. See Conn.FlushForReply.
	held []byte
	hold bool
}

type rawCall struct {
	p    []byte
	n    int
	err  syscall.Errno
	held bool // doRead writes c.held before its first read
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
	c.rd = rawCall{p: p, held: len(c.held) > 0}
	err := c.rc.Read(c.readFn)
	n, errno := c.rd.n, c.rd.err
	c.rd.p = nil
	if err == nil && errno == 0 && len(c.held) > 0 {
		// The request could not all go out (the send buffer was full, or a
		// write failed): send the rest the ordinary way, then read.
		if _, err := c.writeHeld(); err != nil {
			return 0, err
		}
		return c.Read(p)
	}
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
	if c.hold {
		c.held = append(c.held, p...)
		return len(p), nil
	}
	if len(c.held) > 0 {
		if _, err := c.writeHeld(); err != nil {
			return 0, err
		}
	}
	return c.write(p)
}

// writeHeld sends the held request the ordinary way.
func (c *rawIOConn) writeHeld() (int, error) {
	h := c.held
	c.held = c.held[:0]
	return c.write(h)
}

func (c *rawIOConn) write(p []byte) (int, error) {
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

// doRead does one read; false asks RawRead to wait for readability. With a
// held request it first writes that and waits, without a read: RawRead
// reset readiness before calling it, so the answer's arrival is not missed.
func (c *rawIOConn) doRead(fd uintptr) bool {
	if c.rd.held {
		c.rd.held = false
		h := c.held
		for len(h) > 0 {
			n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&h[0])), uintptr(len(h)))
			if e == syscall.EINTR {
				continue
			}
			if e != 0 {
				// EAGAIN or a failure: Read sends the rest through Write,
				// which waits for room or reports the error.
				c.held = append(c.held[:0], h...)
				return true
			}
			h = h[n:]
		}
		c.held = c.held[:0]
		return false
	}
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
