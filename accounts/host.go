package accounts

import (
	"net/netip"
	"strconv"
	"strings"
)

// Host patterns are matched against the client's IP address as a server
// with skip-name-resolve does: no DNS look-ups, so a host-name pattern
// other than localhost matches nothing. 'localhost' stands for the
// loopback addresses (the proxy's clients all come over TCP).

// MatchHost reports whether the client address ip (an IP in text, IPv4 in
// IPv6 unmapped or not) matches the account's host pattern.
func MatchHost(pattern, ip string) bool {
	if pattern == "" {
		pattern = "%"
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil { // a Unix socket's client: the server calls it localhost
		return like(strings.ToLower(pattern), "localhost")
	}
	plain := addr.Unmap() // ::ffff:10.0.0.1 is 10.0.0.1, but may be written either way
	if strings.EqualFold(pattern, "localhost") {
		return plain.IsLoopback()
	}
	if net, ok := parseNetmask(pattern); ok {
		return net.Contains(plain)
	}
	p := strings.ToLower(pattern)
	return like(p, strings.ToLower(plain.String())) || plain != addr && like(p, strings.ToLower(addr.String()))
}

// specificity orders the accounts of one user as the server does: a
// literal host first (an address before localhost), then a network, then patterns by how much comes
// before their first wildcard; the highest that matches wins.
func specificity(pattern string) int {
	if net, ok := parseNetmask(pattern); ok {
		return 2<<16 + net.Bits()
	}
	i := strings.IndexAny(pattern, "%_")
	switch {
	case pattern == "":
		return 1 << 16
	case strings.EqualFold(pattern, "localhost"):
		return 3<<16 - 1 // a TCP client from 127.0.0.1 is '127.0.0.1' to the server first
	case i < 0:
		return 3 << 16
	}
	return 1<<16 + i
}

// parseNetmask reads 'IP/MASK' (10.0.0.0/255.255.255.0, both servers) and
// 'IP/BITS' (MySQL 8's CIDR form).
func parseNetmask(p string) (netip.Prefix, bool) {
	ipText, maskText, ok := strings.Cut(p, "/")
	if !ok {
		return netip.Prefix{}, false
	}
	ip, err := netip.ParseAddr(ipText)
	if err != nil {
		return netip.Prefix{}, false
	}
	bits := -1
	if n, err := strconv.Atoi(maskText); err == nil {
		bits = n
	} else if m, err := netip.ParseAddr(maskText); err == nil && m.Is4() == ip.Is4() {
		bits = maskBits(m.AsSlice())
	}
	if bits < 0 || bits > ip.BitLen() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(ip.Unmap(), bits).Masked(), true
}

// maskBits counts a contiguous mask's leading ones; -1 for another mask.
func maskBits(m []byte) int {
	n, zero := 0, false
	for _, b := range m {
		for bit := 7; bit >= 0; bit-- {
			one := b&(1<<bit) != 0
			switch {
			case one && zero:
				return -1
			case one:
				n++
			default:
				zero = true
			}
		}
	}
	return n
}

// like is SQL LIKE: % any run, _ one character, \ escapes. One pass with
// a single point to come back to (the last %), so a pattern of many %
// costs len(p)*len(s) at most, not an exponential search.
func like(p, s string) bool {
	px, sx := 0, 0
	backPx, backSx := -1, 0
	for px < len(p) || sx < len(s) {
		if px < len(p) {
			c, width := p[px], 1
			if c == '\\' && px+1 < len(p) {
				c, width = p[px+1], 2
			} else if c == '%' {
				backPx, backSx = px, sx+1 // try % as empty, then one more byte each time
				px++
				continue
			}
			if sx < len(s) && (s[sx] == c || width == 1 && c == '_') {
				px, sx = px+width, sx+1
				continue
			}
		}
		if backPx >= 0 && backSx <= len(s) {
			px, sx = backPx, backSx
			continue
		}
		return false
	}
	return true
}
