package wire

import (
	"bytes"
	"compress/zlib"
	"errors"
	"io"
	"net"
)

// Compressed wraps a client's socket in the compressed protocol
// (CLIENT_COMPRESS), which starts after the handshake's OK: the packet
// stream travels in frames of a 3-byte length, a sequence number of their
// own and the 3-byte length before zlib compression (0: stored as is),
// then the payload. A frame may hold several packets or part of one. The
// frames' sequence follows the client's: a command's first frame is 0,
// and the answer's frames count on from the last frame read. The
// connection it returns has no raw system-call path (rawio.go).
func Compressed(c net.Conn) net.Conn { return &compressConn{Conn: c} }

type compressConn struct {
	net.Conn // the interface, so that SyscallConn is not promoted
	seq      uint8
	in       []byte // decompressed bytes not yet read
	frame    []byte // the last frame's payload as it came
	plain    []byte // the last frame's payload decompressed
	src      bytes.Reader
	zr       io.ReadCloser
	zw       *zlib.Writer
	zbuf     bytes.Buffer
	hdr      [7]byte
}

// minCompress: shorter payloads go as they are (servers do the same: zlib
// makes them longer).
const minCompress = 50

var errFrameLength = errors.New("compressed frame: wrong uncompressed length")

func (c *compressConn) Read(p []byte) (int, error) {
	for len(c.in) == 0 {
		if err := c.readFrame(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *compressConn) readFrame() error {
	if _, err := io.ReadFull(c.Conn, c.hdr[:]); err != nil {
		return err
	}
	clen := int(c.hdr[0]) | int(c.hdr[1])<<8 | int(c.hdr[2])<<16
	ulen := int(c.hdr[4]) | int(c.hdr[5])<<8 | int(c.hdr[6])<<16
	c.seq = c.hdr[3] + 1
	c.frame = grow(c.frame, clen)
	if _, err := io.ReadFull(c.Conn, c.frame); err != nil {
		return err
	}
	if ulen == 0 {
		c.in = c.frame
		return nil
	}
	c.src.Reset(c.frame)
	var err error
	if c.zr == nil {
		c.zr, err = zlib.NewReader(&c.src)
	} else {
		err = c.zr.(zlib.Resetter).Reset(&c.src, nil)
	}
	if err != nil {
		return err
	}
	c.plain = grow(c.plain, ulen)
	if _, err := io.ReadFull(c.zr, c.plain); err != nil {
		return err
	}
	if n, _ := c.zr.Read(c.hdr[:1]); n != 0 {
		return errFrameLength
	}
	c.in = c.plain
	return nil
}

// grow is b resized to n bytes, reusing its array when it is large enough.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// Write sends p as frames of at most MaxPayload bytes.
func (c *compressConn) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), MaxPayload)]
		if err := c.writeFrame(chunk); err != nil {
			return n, err
		}
		n, p = n+len(chunk), p[len(chunk):]
	}
	return n, nil
}

func (c *compressConn) writeFrame(b []byte) error {
	body, ulen := b, 0
	if len(b) >= minCompress {
		c.zbuf.Reset()
		if c.zw == nil {
			c.zw = zlib.NewWriter(&c.zbuf)
		} else {
			c.zw.Reset(&c.zbuf)
		}
		_, _ = c.zw.Write(b) // a bytes.Buffer does not fail
		_ = c.zw.Close()
		if c.zbuf.Len() < len(b) {
			body, ulen = c.zbuf.Bytes(), len(b)
		}
	}
	h := [7]byte{byte(len(body)), byte(len(body) >> 8), byte(len(body) >> 16), c.seq, byte(ulen), byte(ulen >> 8), byte(ulen >> 16)}
	c.seq++
	bufs := net.Buffers{h[:], body}
	_, err := bufs.WriteTo(c.Conn)
	return err
}
