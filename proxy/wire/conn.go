package wire

import (
	"bufio"
	"errors"
	"io"
	"net"
)

// MaxPayload is the largest payload one packet carries: a payload of
// MaxPayload bytes is continued in the next packet. A packet is a 3-byte
// little-endian length, a 1-byte sequence number and the payload.
const MaxPayload = 1<<24 - 1

// ErrPacketTooLarge is returned by ReadPacket for a packet over its limit;
// the rest of the packet has been skipped, so an error reply can follow.
var ErrPacketTooLarge = errors.New("packet too large")

// ErrOutOfOrder is returned by ReadCommand for a packet whose sequence
// number is not the next one; MariaDB answers 1156 and closes.
var ErrOutOfOrder = errors.New("packets out of order")

// Side says which end of the proxy a connection is.
type Side uint8

const (
	// ClientSide is the proxy's client: the proxy is its server. Its
	// failure ends the session.
	ClientSide Side = iota
	// BackendSide is a server the proxy is a client of. The session can
	// survive its failure with an error to the client.
	BackendSide
)

// Error is a failure of one connection (I/O, or a packet the protocol
// does not allow), labelled with the connection it happened on.
type Error struct {
	Side Side
	Role string // "client", "reader", "writer"
	Err  error
}

func (e *Error) Error() string { return e.Role + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ClientFailed reports whether err is, or wraps, a failure of the client's
// connection. The outermost label counts: a backend that broke off a
// response the client had started to receive is the client's failure too.
// A loop, not errors.As: nothing moves to the heap.
func ClientFailed(err error) bool {
	for err != nil {
		if e, ok := err.(*Error); ok {
			return e.Side == ClientSide
		}
		err = errors.Unwrap(err)
	}
	return false
}

// Conn reads and writes packets on one connection through buffers, and
// keeps its sequence numbers: a packet read sets the next one written to
// its own plus one, each packet written takes the next, and a command
// (WriteCommand) starts again at 0. Its errors are *Error, labelled with
// its side and role. The proxy never decodes rows: it relays packets as
// they come.
type Conn struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	side Side
	role string
	seq  uint8 // next sequence number to write
	// written counts packets written, so a relay can tell whether part of
	// a response reached this side.
	written uint64
	hdr     [4]byte
	whdr    [4]byte  // header scratch for writes (a local array would escape)
	eof     [7]byte  // an EOF (or the OK in its place) written by WriteEOF
	count   [10]byte // a column count and its metadata-follows byte (WriteColumnCount)
	buf     []byte   // reused payload buffer for ReadPacket
	// held is a result set's column definitions, read whole before any
	// of them is relayed (Relay.columns): 4-byte length, payload, …
	held []byte
	// Progress: the peer, a backend, was asked for MariaDB's progress
	// reports (IsProgress): a Relay passes them to the client.
	Progress bool
	// DeprecateEOF: the peer, a client, negotiated CLIENT_DEPRECATE_EOF.
	// WriteEOF and WriteColumnsEnd frame results for it.
	DeprecateEOF bool
	// CacheMetadata: the peer, a client, negotiated MariaDB's
	// MARIADB_CLIENT_CACHE_METADATA: each column count it gets is followed
	// by a metadata-follows byte (Relay.columns).
	CacheMetadata bool
}

// NewConn wraps c; rsize and wsize are the buffer sizes. Plain TCP and
// Unix sockets are read and written with raw system calls (rawio.go).
func NewConn(c net.Conn, side Side, role string, rsize, wsize int) *Conn {
	c = withRawIO(c)
	return &Conn{conn: c, r: bufio.NewReaderSize(c, rsize), w: bufio.NewWriterSize(c, wsize), side: side, role: role}
}

// Role is the name the connection's errors carry.
func (c *Conn) Role() string { return c.role }

// NetConn is the socket, for deadlines, Close and socket options.
func (c *Conn) NetConn() net.Conn { return c.conn }

// Buffered is how many bytes were read from the socket and not yet used.
func (c *Conn) Buffered() int { return c.r.Buffered() }

// Fail labels err as this connection's failure: for a packet the proxy
// found it cannot go on from.
func (c *Conn) Fail(err error) error { return &Error{Side: c.side, Role: c.role, Err: err} }

// readHeader reads one packet header and returns the payload length.
func (c *Conn) readHeader() (int, error) {
	if _, err := io.ReadFull(c.r, c.hdr[:]); err != nil {
		return 0, c.Fail(err)
	}
	c.seq = c.hdr[3] + 1
	return int(c.hdr[0]) | int(c.hdr[1])<<8 | int(c.hdr[2])<<16, nil
}

// ReadPacket reads one logical packet (joining continuations) into a
// reused buffer, valid until the next read. limit bounds its size. No
// server sends an empty packet: from a backend one is a failure.
func (c *Conn) ReadPacket(limit int) ([]byte, error) { return c.readPacket(limit, false) }

// ReadCommand is ReadPacket for a client's command: it starts at sequence
// 0 and its continuations count up, or the read fails with ErrOutOfOrder.
func (c *Conn) ReadCommand(limit int) ([]byte, error) {
	c.seq = 0
	return c.readPacket(limit, true)
}

func (c *Conn) readPacket(limit int, ordered bool) ([]byte, error) {
	b, err := c.appendPacket(c.buf[:0], limit, ordered)
	if b != nil {
		c.buf = b
	}
	if err != nil {
		return nil, err
	}
	if len(b) == 0 && c.side == BackendSide {
		return nil, c.Fail(errors.New("empty packet"))
	}
	return b, nil
}

// appendPacket reads one logical packet's payload onto b. A payload over
// limit is skipped so the stream stays in step for the error reply.
// ordered: each header must carry the next sequence number.
func (c *Conn) appendPacket(b []byte, limit int, ordered bool) ([]byte, error) {
	base := len(b)
	header := func() (int, error) {
		want := c.seq
		n, err := c.readHeader()
		if err == nil && ordered && c.hdr[3] != want {
			return 0, c.Fail(ErrOutOfOrder)
		}
		return n, err
	}
	for {
		n, err := header()
		if err != nil {
			return b, err
		}
		if len(b)-base+n > limit {
			if err := c.discard(n); err != nil {
				return b, err
			}
			for n == MaxPayload {
				if n, err = header(); err != nil {
					return b, err
				}
				if err := c.discard(n); err != nil {
					return b, err
				}
			}
			return b, c.Fail(ErrPacketTooLarge)
		}
		start := len(b)
		b = growTo(b, start+n)
		if _, err := io.ReadFull(c.r, b[start:start+n]); err != nil {
			return b, c.Fail(err)
		}
		if n < MaxPayload {
			return b, nil
		}
	}
}

// readTerminator reads the payload of a packet whose header was read: the
// short EOF or ERR that ends rows.
func (c *Conn) readTerminator(n int) ([]byte, error) {
	c.buf = growTo(c.buf[:0], n)
	if _, err := io.ReadFull(c.r, c.buf); err != nil {
		return nil, c.Fail(err)
	}
	return c.buf, nil
}

func (c *Conn) discard(n int) error {
	if _, err := c.r.Discard(n); err != nil {
		return c.Fail(err)
	}
	return nil
}

// peekByte returns the first payload byte of a packet whose header was read.
func (c *Conn) peekByte() (byte, error) {
	b, err := c.r.Peek(1)
	if err != nil {
		return 0, c.Fail(err)
	}
	return b[0], nil
}

// Shrink drops a large payload buffer so idle sessions stay small.
func (c *Conn) Shrink() {
	if cap(c.buf) > 64<<10 {
		c.buf = nil
	}
	if cap(c.held) > 64<<10 {
		c.held = nil
	}
}

func growTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	nb := make([]byte, n, n+n/4)
	copy(nb, b)
	return nb
}

// WriteCommand writes a command: a payload that starts an exchange, at
// sequence 0. It does not flush.
func (c *Conn) WriteCommand(payload []byte) error {
	c.seq = 0
	return c.WritePacket(payload)
}

// WritePacket writes a payload of any size as one or more packets with
// the next sequence numbers. It does not flush.
func (c *Conn) WritePacket(payload []byte) error {
	for {
		n := min(len(payload), MaxPayload)
		if err := c.writeHeader(n); err != nil {
			return err
		}
		if _, err := c.w.Write(payload[:n]); err != nil {
			return c.Fail(err)
		}
		payload = payload[n:]
		if n < MaxPayload {
			return nil
		}
	}
}

func (c *Conn) writeHeader(n int) error {
	c.whdr = [4]byte{byte(n), byte(n >> 8), byte(n >> 16), c.seq}
	c.seq++
	c.written++
	if _, err := c.w.Write(c.whdr[:]); err != nil {
		return c.Fail(err)
	}
	return nil
}

// Flush sends what is buffered.
func (c *Conn) Flush() error {
	if err := c.w.Flush(); err != nil {
		return c.Fail(err)
	}
	return nil
}

// heldMax bounds what FlushForReply holds back: past it one system call
// more does not matter.
const heldMax = 4 << 10

// FlushForReply flushes a request whose reply this side reads next. On a
// plain socket the bytes go out at the start of that read (rawIOConn.held),
// which then waits for the reply without a read that can only come back
// empty: one system call less per round trip. Only for backends: a server
// sends nothing unasked (a closing server's last words are followed by a
// reset when the request reaches it, which wakes the read). A client may
// send its next command before it has read the answer, and readiness that
// arrived before the read would be lost. Not when the reader already holds
// data, which would be read first.
func (c *Conn) FlushForReply() error {
	rc, ok := c.conn.(*rawIOConn)
	if !ok || c.side != BackendSide || c.r.Buffered() > 0 || c.w.Buffered() > heldMax {
		return c.Flush()
	}
	rc.hold = true
	err := c.Flush()
	rc.hold = false
	return err
}

// copyPayload streams n payload bytes of a packet whose header src read
// to c, whose header was written. Each side's failure carries its label.
func (c *Conn) copyPayload(src *Conn, n int) error {
	for n > 0 {
		b, err := src.r.Peek(min(n, src.r.Size()))
		if len(b) == 0 && err != nil {
			return src.Fail(err)
		}
		if _, err := c.w.Write(b); err != nil {
			return c.Fail(err)
		}
		_, _ = src.r.Discard(len(b))
		n -= len(b)
	}
	return nil
}

// statusCursorExists is the status flag of a COM_STMT_EXECUTE that opened
// a cursor: its rows come with COM_STMT_FETCH.
const statusCursorExists = 0x0040

// WriteEOF writes what ends a result's rows, or a command a server
// answers with an EOF: a classic EOF, or under DeprecateEOF the OK with
// header 0xfe that takes its place. That OK has no info and no
// session-state block (a classic EOF from the backend carried none), so
// it does not say the state changed.
func (c *Conn) WriteEOF(warnings, status uint16) error {
	if c.DeprecateEOF {
		status &^= serverSessionStateChanged
		c.eof = [7]byte{0xfe, 0, 0, byte(status), byte(status >> 8), byte(warnings), byte(warnings >> 8)}
		return c.WritePacket(c.eof[:7])
	}
	c.eof = [7]byte{0xfe, byte(warnings), byte(warnings >> 8), byte(status), byte(status >> 8)}
	return c.WritePacket(c.eof[:5])
}

// WriteColumnCount writes the packet that starts a result set: its column
// count (payload count) and, under CacheMetadata, whether the column
// definitions follow (false: the client has them from the statement's
// prepare or an earlier execute).
func (c *Conn) WriteColumnCount(count []byte, follows bool) error {
	if !c.CacheMetadata {
		return c.WritePacket(count)
	}
	flag := byte(0)
	if follows {
		flag = 1
	}
	return c.WritePacket(append(append(c.count[:0], count...), flag))
}

// WriteColumnsEnd writes what ends a result's column definitions: a
// classic EOF; under DeprecateEOF nothing, unless the status says a cursor
// was opened, which the OK in the EOF's place tells the client.
func (c *Conn) WriteColumnsEnd(warnings, status uint16) error {
	if c.DeprecateEOF && status&statusCursorExists == 0 {
		return nil
	}
	return c.WriteEOF(warnings, status)
}
