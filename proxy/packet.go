package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
)

// MySQL packets: 3-byte little-endian length, 1-byte sequence, payload.
// A payload of maxPayload bytes is continued in the next packet.
const maxPayload = 1<<24 - 1

// errPacketTooLarge is returned when a client command exceeds the configured limit.
var errPacketTooLarge = errors.New("packet too large")

// packetIO reads and writes raw packets on one connection through buffers.
// The proxy never decodes rows: it relays packets as they come.
type packetIO struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	hdr  [4]byte
	whdr [4]byte // header scratch for writes (a local array would escape)
	buf  []byte  // reused payload buffer for readPacket
}

func newPacketIO(c net.Conn, rsize, wsize int) *packetIO {
	c = withRawIO(c)
	return &packetIO{conn: c, r: bufio.NewReaderSize(c, rsize), w: bufio.NewWriterSize(c, wsize)}
}

// readHeader reads one packet header and returns the payload length and sequence.
func (p *packetIO) readHeader() (int, uint8, error) {
	if _, err := io.ReadFull(p.r, p.hdr[:]); err != nil {
		return 0, 0, err
	}
	n := int(p.hdr[0]) | int(p.hdr[1])<<8 | int(p.hdr[2])<<16
	return n, p.hdr[3], nil
}

// readPacket reads one logical packet (joining continuations) into a reused
// buffer. The result is valid until the next readPacket. limit bounds the size.
func (p *packetIO) readPacket(limit int) ([]byte, uint8, error) {
	p.buf = p.buf[:0]
	var seq uint8
	for {
		n, s, err := p.readHeader()
		if err != nil {
			return nil, 0, err
		}
		seq = s
		if len(p.buf)+n > limit {
			// Drain the rest so the stream stays in sync for the error reply.
			if err := p.discard(n); err != nil {
				return nil, 0, err
			}
			for n == maxPayload { // the answer follows the last packet
				if n, seq, err = p.readHeader(); err != nil {
					return nil, 0, err
				}
				if err := p.discard(n); err != nil {
					return nil, 0, err
				}
			}
			return nil, seq, errPacketTooLarge
		}
		start := len(p.buf)
		p.buf = growTo(p.buf, start+n)
		if _, err := io.ReadFull(p.r, p.buf[start:start+n]); err != nil {
			return nil, 0, err
		}
		if n < maxPayload {
			return p.buf, seq, nil
		}
	}
}

func (p *packetIO) discard(n int) error {
	_, err := p.r.Discard(n)
	return err
}

// shrink drops a large payload buffer so idle sessions stay small.
func (p *packetIO) shrink() {
	if cap(p.buf) > 64<<10 {
		p.buf = nil
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

// writePacket writes a payload of any size as one or more packets, starting at
// sequence seq, and returns the next sequence number. It does not flush.
func (p *packetIO) writePacket(seq uint8, payload []byte) (uint8, error) {
	for {
		n := len(payload)
		if n > maxPayload {
			n = maxPayload
		}
		p.whdr = [4]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}
		if _, err := p.w.Write(p.whdr[:]); err != nil {
			return seq, err
		}
		if _, err := p.w.Write(payload[:n]); err != nil {
			return seq, err
		}
		seq++
		payload = payload[n:]
		if n < maxPayload {
			return seq, nil
		}
	}
}

func (p *packetIO) flush() error { return p.w.Flush() }

// heldMax bounds what flushForReply holds back: past it one system call
// more does not matter.
const heldMax = 4 << 10

// flushForReply flushes a request whose reply this side reads next. On a
// plain socket the bytes go out at the start of that read (rawIOConn.held),
// which then waits for the reply without a read that can only come back
// empty: one system call less per round trip. Only for backends: a server
// sends nothing unasked (a closing server's last words are followed by a
// reset when the request reaches it, which wakes the read). A client may
// send its next command before it has read the answer, and readiness that
// arrived before the read would be lost. Not when the reader already holds
// data, which would be read first.
func (p *packetIO) flushForReply() error {
	rc, ok := p.conn.(*rawIOConn)
	if !ok || p.r.Buffered() > 0 || p.w.Buffered() > heldMax {
		return p.w.Flush()
	}
	rc.hold = true
	err := p.w.Flush()
	rc.hold = false
	return err
}

// copyPayload streams n payload bytes from p to dst without holding them.
// It tells a read failure (this side) from a write failure (dst).
func (p *packetIO) copyPayload(dst *bufio.Writer, n int) (rerr, werr error) {
	for n > 0 {
		b, err := p.r.Peek(min(n, p.r.Size()))
		if len(b) == 0 && err != nil {
			return err, nil
		}
		if _, err := dst.Write(b); err != nil {
			return nil, err
		}
		_, _ = p.r.Discard(len(b))
		n -= len(b)
	}
	return nil, nil
}

// peekByte returns the first payload byte of a packet whose header was read.
func (p *packetIO) peekByte() (byte, error) {
	b, err := p.r.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (p *packetIO) String() string { return fmt.Sprintf("%v", p.conn.RemoteAddr()) }
