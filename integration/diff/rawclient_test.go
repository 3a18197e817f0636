package diff

// A MySQL client written on net.Conn, so that the test chooses every
// capability flag itself and sees every byte the server sends: its own
// handshake, mysql_native_password, TLS and the compressed protocol.

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
)

// greeting is the server's initial handshake packet, field by field.
type greeting struct {
	raw        []byte
	protocol   byte
	version    string
	connID     uint32
	scramble   []byte
	caps       uint32 // lower and upper capability flags
	charset    byte
	status     uint16
	authLen    byte
	reserved   []byte // 10 bytes; MariaDB puts its extended capabilities in the last 4
	authPlugin string
}

func parseGreeting(p []byte) (greeting, error) {
	g := greeting{raw: p}
	if len(p) < 1 || p[0] != 10 {
		return g, fmt.Errorf("not a v10 handshake: % x", p)
	}
	g.protocol = p[0]
	end := bytes.IndexByte(p[1:], 0)
	if end < 0 {
		return g, errors.New("handshake: no version terminator")
	}
	g.version = string(p[1 : 1+end])
	pos := 2 + end
	if len(p) < pos+4+8+1+2+1+2+2+1+10 {
		return g, errors.New("handshake too short")
	}
	g.connID = binary.LittleEndian.Uint32(p[pos:])
	pos += 4
	g.scramble = append(g.scramble, p[pos:pos+8]...)
	pos += 9 // scramble part 1 and its filler
	g.caps = uint32(binary.LittleEndian.Uint16(p[pos:]))
	pos += 2
	g.charset = p[pos]
	pos++
	g.status = binary.LittleEndian.Uint16(p[pos:])
	pos += 2
	g.caps |= uint32(binary.LittleEndian.Uint16(p[pos:])) << 16
	pos += 2
	g.authLen = p[pos]
	pos++
	g.reserved = append([]byte(nil), p[pos:pos+10]...)
	pos += 10
	n := max(13, int(g.authLen)-8)
	if len(p) < pos+n {
		return g, errors.New("handshake: short scramble part 2")
	}
	g.scramble = append(g.scramble, bytes.TrimRight(p[pos:pos+n], "\x00")...)
	pos += n
	if i := bytes.IndexByte(p[pos:], 0); i >= 0 {
		g.authPlugin = string(p[pos : pos+i])
	} else {
		g.authPlugin = string(p[pos:])
	}
	return g, nil
}

// rawClient is one connection. caps is what the client sent in its
// handshake response: what it asked for and the server offered.
type rawClient struct {
	conn     net.Conn
	rw       io.ReadWriter // conn, or TLS over it
	r        *bufio.Reader // packets, decompressed when compression is on
	compress *compressor   // nil without CLIENT_COMPRESS
	seq      uint8
	greet    greeting
	caps     uint32
	ext      uint32   // MariaDB extended capabilities sent: asked for and offered
	authOK   []byte   // the OK packet that ended authentication
	got      [][]byte // the packets read since the last command
	progress [][]byte // the progress reports among them (extProgress), which readPacket passes over
}

type dialOptions struct {
	addr, user, password, db string
	caps                     uint32 // asked for; the handshake response sends caps & what the server offers
	ext                      uint32 // MariaDB extended capabilities asked for (caps without CLIENT_LONG_PASSWORD)
	charset                  byte
	tls                      bool
}

func dialRaw(o dialOptions) (*rawClient, error) {
	nc, err := net.DialTimeout("tcp", o.addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(60 * time.Second))
	c := &rawClient{conn: nc, rw: nc}
	c.r = bufio.NewReader(nc)
	p, err := c.readPacket()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("read handshake: %w", err)
	}
	if c.greet, err = parseGreeting(p); err != nil {
		nc.Close()
		return nil, err
	}
	c.caps = o.caps & c.greet.caps
	c.ext = o.ext & binary.LittleEndian.Uint32(c.greet.reserved[6:])
	if o.tls && c.caps&gmysql.CLIENT_SSL != 0 {
		// SSLRequest: the first 32 bytes of the response, then TLS.
		if err := c.writePacket(handshakeResponseHead(c.caps, c.ext, o.charset)); err != nil {
			nc.Close()
			return nil, err
		}
		tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a test's own certificate
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS: %w", err)
		}
		c.rw = tc
		c.r = bufio.NewReader(tc)
	}
	if err := c.authenticate(o); err != nil {
		nc.Close()
		return nil, err
	}
	if c.caps&gmysql.CLIENT_COMPRESS != 0 {
		c.compress = &compressor{rw: c.rw}
		c.r = bufio.NewReader(c.compress)
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// handshakeResponseHead is the part of HandshakeResponse41 that an
// SSLRequest also is: capabilities, max packet, charset, 19 zero bytes
// and MariaDB's extended capabilities.
func handshakeResponseHead(caps, ext uint32, charset byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, caps)
	b = binary.LittleEndian.AppendUint32(b, 1<<24)
	b = append(b, charset)
	b = append(b, make([]byte, 19)...)
	return binary.LittleEndian.AppendUint32(b, ext)
}

func (c *rawClient) authenticate(o dialOptions) error {
	b := handshakeResponseHead(c.caps, c.ext, o.charset)
	b = append(b, o.user...)
	b = append(b, 0)
	auth := gmysql.CalcNativePassword(c.greet.scramble, []byte(o.password))
	if c.caps&gmysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
		b = gmysql.AppendLengthEncodedInteger(b, uint64(len(auth)))
	} else {
		b = append(b, byte(len(auth)))
	}
	b = append(b, auth...)
	if c.caps&gmysql.CLIENT_CONNECT_WITH_DB != 0 {
		b = append(b, o.db...)
		b = append(b, 0)
	}
	if c.caps&gmysql.CLIENT_PLUGIN_AUTH != 0 {
		b = append(b, "mysql_native_password"...)
		b = append(b, 0)
	}
	if err := c.writePacket(b); err != nil {
		return err
	}
	return c.finishAuth(o.password)
}

// changeUser is COM_CHANGE_USER to user in db, with the greeting's scramble.
func (c *rawClient) changeUser(user, password, db string) error {
	b := append([]byte{gmysql.COM_CHANGE_USER}, user...)
	auth := gmysql.CalcNativePassword(c.greet.scramble, []byte(password))
	b = append(append(b, 0, byte(len(auth))), auth...)
	b = append(append(b, db...), 0, 45, 0) // the database, utf8mb4_general_ci
	b = append(append(b, "mysql_native_password"...), 0)
	if err := c.command(b); err != nil {
		return err
	}
	return c.finishAuth(password)
}

// finishAuth reads the server's answers to a login until its OK, switching
// to mysql_native_password when asked.
func (c *rawClient) finishAuth(password string) error {
	for {
		p, err := c.readPacket()
		if err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		switch p[0] {
		case 0x00:
			c.authOK = p
			return nil
		case 0xff:
			return fmt.Errorf("auth: %s", decodeErr(p))
		case 0xfe: // auth switch: plugin name, then a new scramble
			rest := p[1:]
			i := bytes.IndexByte(rest, 0)
			if i < 0 || string(rest[:i]) != "mysql_native_password" {
				return fmt.Errorf("auth switch to %q", rest)
			}
			salt := bytes.TrimRight(rest[i+1:], "\x00")
			if err := c.writePacket(gmysql.CalcNativePassword(salt, []byte(password))); err != nil {
				return err
			}
		default:
			return fmt.Errorf("auth: unexpected packet % x", p)
		}
	}
}

func (c *rawClient) close() {
	if c.conn == nil {
		return
	}
	c.seq = 0
	_ = c.writePacket([]byte{gmysql.COM_QUIT})
	c.conn.Close()
	c.conn = nil
}

// command sends one command packet with a fresh sequence.
func (c *rawClient) command(payload []byte) error {
	c.seq = 0
	c.got, c.progress = nil, nil
	if c.compress != nil {
		c.compress.seq = 0
	}
	_ = c.conn.SetDeadline(time.Now().Add(20 * time.Second))
	return c.writePacket(payload)
}

func (c *rawClient) writePacket(payload []byte) error {
	var buf []byte
	for {
		n := min(len(payload), 0xffffff)
		buf = append(buf, byte(n), byte(n>>8), byte(n>>16), c.seq)
		buf = append(buf, payload[:n]...)
		c.seq++
		payload = payload[n:]
		if n < 0xffffff {
			break
		}
	}
	if c.compress != nil {
		return c.compress.write(buf)
	}
	_, err := c.rw.Write(buf)
	return err
}

// readPacket returns one logical packet (continuations joined).
func (c *rawClient) readPacket() ([]byte, error) {
	var out []byte
	for {
		var h [4]byte
		if _, err := io.ReadFull(c.r, h[:]); err != nil {
			return nil, err
		}
		n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
		// Under compression the server numbers inner packets after the
		// compressed ones; only the plain protocol is checked.
		if h[3] != c.seq && c.compress == nil {
			return nil, fmt.Errorf("packet sequence %d, want %d", h[3], c.seq)
		}
		c.seq = h[3] + 1
		start := len(out)
		out = append(out, make([]byte, n)...)
		if _, err := io.ReadFull(c.r, out[start:]); err != nil {
			return nil, err
		}
		if n < 0xffffff {
			if len(out) == 0 {
				return nil, errors.New("empty packet")
			}
			c.got = append(c.got, out)
			if c.ext&extProgress != 0 && len(out) >= 3 && out[0] == 0xff && out[1] == 0xff && out[2] == 0xff {
				c.progress = append(c.progress, out)
				out = nil
				continue
			}
			return out, nil
		}
	}
}

// compressor is the compressed protocol: 7-byte headers (compressed
// length, sequence, uncompressed length or 0 for "stored as is") around
// zlib data, carrying the plain packet stream.
type compressor struct {
	rw  io.ReadWriter
	seq uint8
	in  bytes.Buffer
}

func (z *compressor) write(b []byte) error {
	var body []byte
	ulen := 0
	if len(b) >= 50 {
		var zb bytes.Buffer
		w := zlib.NewWriter(&zb)
		_, _ = w.Write(b)
		_ = w.Close()
		body, ulen = zb.Bytes(), len(b)
	} else {
		body = b
	}
	h := []byte{byte(len(body)), byte(len(body) >> 8), byte(len(body) >> 16), z.seq, byte(ulen), byte(ulen >> 8), byte(ulen >> 16)}
	z.seq++
	_, err := z.rw.Write(append(h, body...))
	return err
}

func (z *compressor) Read(p []byte) (int, error) {
	for z.in.Len() == 0 {
		var h [7]byte
		if _, err := io.ReadFull(z.rw, h[:]); err != nil {
			return 0, err
		}
		clen := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
		ulen := int(h[4]) | int(h[5])<<8 | int(h[6])<<16
		z.seq = h[3] + 1
		body := make([]byte, clen)
		if _, err := io.ReadFull(z.rw, body); err != nil {
			return 0, err
		}
		if ulen == 0 {
			z.in.Write(body)
			continue
		}
		r, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		n, err := io.Copy(&z.in, r)
		if err != nil {
			return 0, err
		}
		if int(n) != ulen {
			return 0, fmt.Errorf("compressed packet: %d bytes, header says %d", n, ulen)
		}
	}
	return z.in.Read(p)
}

func decodeErr(p []byte) string {
	if len(p) < 3 {
		return fmt.Sprintf("short ERR % x", p)
	}
	code := binary.LittleEndian.Uint16(p[1:])
	rest := p[3:]
	state := ""
	if len(rest) >= 6 && rest[0] == '#' {
		state, rest = string(rest[1:6]), rest[6:]
	}
	return fmt.Sprintf("%d (%s) %s", code, state, rest)
}
