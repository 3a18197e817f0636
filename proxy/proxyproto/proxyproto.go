// Package proxyproto reads the PROXY protocol header (v1 text, v2 binary)
// that a load balancer sends before the client's first byte, so the proxy
// sees the client's address rather than the balancer's.
//
// Only what a MySQL listener needs is here: the source address of a TCP
// connection. LOCAL (v2) and UNKNOWN (v1) headers, which balancers send for
// their own health checks, and UNIX or UDP families, keep the peer's
// address; TLVs are skipped.
package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// sigV2 opens every v2 header; "PROXY " opens v1.
var sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")

const (
	maxV1    = 107 // the longest v1 line, CRLF included
	maxV2Len = 1 << 12
)

// ErrNoHeader: the connection did not start with a PROXY header.
var ErrNoHeader = errors.New("no PROXY protocol header")

// Starts says b, the first bytes a connection sent, are (the start of) a
// PROXY header: so that a listener that trusts nobody can tell a
// misconfigured balancer from a broken client.
func Starts(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	return bytes.HasPrefix(b, sigV2[:min(len(b), len(sigV2))]) || bytes.HasPrefix(b, []byte("PROXY "[:min(len(b), 6)]))
}

// Read reads one header from r. It returns the client's source address, or
// nil when the header says to keep the peer's (LOCAL, UNKNOWN, a family
// other than TCP over IPv4 or IPv6). It reads nothing past the header.
func Read(r *bufio.Reader) (net.Addr, error) {
	first, err := r.Peek(1)
	if err != nil {
		return nil, err
	}
	switch first[0] {
	case 'P':
		return readV1(r)
	case sigV2[0]:
		return readV2(r)
	}
	return nil, ErrNoHeader
}

// readV1: "PROXY TCP4 SRC DST SPORT DPORT\r\n", or "PROXY UNKNOWN ...\r\n".
func readV1(r *bufio.Reader) (net.Addr, error) {
	line := make([]byte, 0, maxV1)
	for {
		c, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		line = append(line, c)
		if c == '\n' {
			break
		}
		if len(line) == 6 && string(line) != "PROXY " {
			return nil, ErrNoHeader
		}
		if len(line) == maxV1 {
			return nil, fmt.Errorf("PROXY v1 header longer than %d bytes", maxV1)
		}
	}
	text, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok || len(text) < 6 {
		return nil, fmt.Errorf("PROXY v1 header does not end in CRLF")
	}
	f := strings.Split(text[6:], " ")
	if f[0] == "UNKNOWN" {
		return nil, nil
	}
	if len(f) != 5 || (f[0] != "TCP4" && f[0] != "TCP6") {
		return nil, fmt.Errorf("PROXY v1 header: want TCP4|TCP6 SRC DST SPORT DPORT, got %q", text)
	}
	src, err := netip.ParseAddr(f[1])
	if err != nil || src.Is4() != (f[0] == "TCP4") || src.Zone() != "" {
		return nil, fmt.Errorf("PROXY v1 header: bad source address %q", f[1])
	}
	if dst, err := netip.ParseAddr(f[2]); err != nil || dst.Is4() != src.Is4() {
		return nil, fmt.Errorf("PROXY v1 header: bad destination address %q", f[2])
	}
	port, err := parsePort(f[3])
	if err != nil {
		return nil, err
	}
	if _, err := parsePort(f[4]); err != nil {
		return nil, err
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, port)), nil
}

// parsePort: a decimal port without a sign or leading zeros.
func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("PROXY v1 header: bad port %q", s)
	}
	return uint16(n), nil
}

// readV2: the signature, version and command, family, length, addresses.
func readV2(r *bufio.Reader) (net.Addr, error) {
	var head [16]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	if !bytes.Equal(head[:12], sigV2) {
		return nil, ErrNoHeader
	}
	if head[12]>>4 != 2 {
		return nil, fmt.Errorf("PROXY v2 header: version %d", head[12]>>4)
	}
	cmd, fam := head[12]&0xf, head[13]
	n := int(binary.BigEndian.Uint16(head[14:]))
	if n > maxV2Len {
		return nil, fmt.Errorf("PROXY v2 header: %d bytes of addresses", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	switch cmd {
	case 0: // LOCAL: the balancer's own connection
		return nil, nil
	case 1: // PROXY
	default:
		return nil, fmt.Errorf("PROXY v2 header: command %d", cmd)
	}
	var size int
	switch fam {
	case 0x11: // TCP over IPv4
		size = 4
	case 0x21: // TCP over IPv6
		size = 16
	default: // UNSPEC, UDP, UNIX: no TCP client address to take
		return nil, nil
	}
	if n < 2*size+4 {
		return nil, fmt.Errorf("PROXY v2 header: %d bytes is too short for its addresses", n)
	}
	src, _ := netip.AddrFromSlice(body[:size])
	port := binary.BigEndian.Uint16(body[2*size:])
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(src.Unmap(), port)), nil
}

// Conn is a connection whose header was read: RemoteAddr is the client's
// address from the header, and reads start right after the header.
type Conn struct {
	net.Conn
	r      *bufio.Reader
	remote net.Addr
}

// Accept reads the header from c within timeout and returns the connection
// that names the client. On an error the caller closes c.
func Accept(c net.Conn, timeout time.Duration) (*Conn, error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	r := bufio.NewReaderSize(c, 256)
	addr, err := Read(r)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		return nil, err
	}
	if addr == nil {
		addr = c.RemoteAddr()
	}
	return &Conn{Conn: c, r: r, remote: addr}, nil
}

func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// Read drains what the header's reader buffered, then reads the socket.
func (c *Conn) Read(b []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(b)
		}
		c.r = nil
	}
	return c.Conn.Read(b)
}

// Networks is the set of peers that may, and must, send a header.
type Networks []netip.Prefix

// ParseNetworks reads CIDRs (10.0.0.0/8, fd00::/8) or single addresses.
func ParseNetworks(items []string) (Networks, error) {
	var out Networks
	for _, it := range items {
		for _, s := range strings.Split(it, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return nil, fmt.Errorf("%q is not a CIDR network or an address", s)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			out = append(out, p.Masked())
		}
	}
	return out, nil
}

// Contains says the peer at addr is in one of the networks.
func (n Networks) Contains(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	if !ok || len(n) == 0 {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range n {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
