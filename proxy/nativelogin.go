package proxy

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/pingcap/tidb/pkg/parser/charset"

	"github.com/fwdproxy/fwdproxy/accounts"
)

// nativeLogin is the backend handshake for an account loaded from the
// writer (--accounts writer): the proxy knows SHA1(password), not the
// password, which go-mysql's client needs, so it answers the server's
// scramble itself. It asks for what dialBackend's go-mysql options ask
// for, and accepts mysql_native_password only (an auth switch to another
// plugin needs the plaintext). It returns the connection to speak on (TLS
// when p.tls), the server's thread id and version.
func nativeLogin(raw net.Conn, p dialParams) (net.Conn, uint32, string, error) {
	seq, greet, err := readLoginPacket(raw)
	if err != nil {
		return nil, 0, "", err
	}
	g, err := parseGreeting(greet)
	if err != nil {
		return nil, 0, "", fmt.Errorf("handshake from %s: %w", p.addr, err)
	}
	caps := uint32(mysql.CLIENT_PROTOCOL_41|mysql.CLIENT_SECURE_CONNECTION|mysql.CLIENT_LONG_PASSWORD|
		mysql.CLIENT_PLUGIN_AUTH|mysql.CLIENT_LONG_FLAG|mysql.CLIENT_CONNECT_ATTRS) | requestedCaps(p)
	if p.db != "" {
		caps |= mysql.CLIENT_CONNECT_WITH_DB
	}
	coll := p.collation
	if coll == "" {
		coll = mysql.DEFAULT_COLLATION_NAME
	}
	cs, err := charset.GetCollationByName(coll)
	if err != nil {
		return nil, 0, "", fmt.Errorf("invalid collation name %s", coll)
	}
	conn := raw
	if p.tls != nil {
		if g.caps&mysql.CLIENT_SSL == 0 {
			return nil, 0, "", fmt.Errorf("the server %s does not support TLS", p.addr)
		}
		caps |= mysql.CLIENT_SSL
		seq++
		if err := writeLoginPacket(raw, seq, loginHead(caps, p.ext, cs.ID)); err != nil {
			return nil, 0, "", err
		}
		tc := tls.Client(raw, backendTLSConfig(p))
		if err := tc.Handshake(); err != nil {
			return nil, 0, "", err
		}
		conn = tc
	}
	resp := loginHead(caps, p.ext, cs.ID)
	resp = append(append(resp, p.user...), 0)
	answer := accounts.Answer(g.scramble, p.stage1)
	resp = append(append(resp, byte(len(answer))), answer...)
	if p.db != "" {
		resp = append(append(resp, p.db...), 0)
	}
	resp = append(append(resp, accounts.NativePlugin...), 0)
	resp = append(resp, loginAttributes()...)
	seq++
	if err := writeLoginPacket(conn, seq, resp); err != nil {
		return nil, 0, "", err
	}
	for switched := false; ; switched = true {
		var res []byte
		if seq, res, err = readLoginPacket(conn); err != nil {
			return nil, 0, "", err
		}
		switch {
		case len(res) > 0 && res[0] == 0x00:
			return conn, g.connID, g.version, nil
		case len(res) > 0 && res[0] == 0xff:
			return nil, 0, "", parseErr(res)
		case len(res) > 0 && res[0] == 0xfe && !switched:
			plugin, data, _ := bytes.Cut(res[1:], []byte{0})
			if string(plugin) != accounts.NativePlugin || len(data) < 20 {
				return nil, 0, "", fmt.Errorf("%s asks for authentication plugin %q, which needs the password in clear: list the user with --user", p.addr, plugin)
			}
			seq++
			if err := writeLoginPacket(conn, seq, accounts.Answer(data[:20], p.stage1)); err != nil {
				return nil, 0, "", err
			}
		default:
			return nil, 0, "", fmt.Errorf("unexpected packet % x in the login to %s", res[:min(len(res), 8)], p.addr)
		}
	}
}

// greeting is what nativeLogin needs of the server's initial handshake.
type greeting struct {
	version  string
	connID   uint32
	caps     uint32
	scramble []byte
}

func parseGreeting(b []byte) (greeting, error) {
	var g greeting
	if len(b) > 0 && b[0] == 0xff {
		return g, parseErr(b)
	}
	if len(b) < 1 || b[0] != 10 {
		return g, fmt.Errorf("not a protocol 10 greeting")
	}
	v, rest, ok := bytes.Cut(b[1:], []byte{0})
	// thread id 4, scramble 8, filler 1, caps 2, charset 1, status 2, caps 2, length 1, reserved 10, scramble 12+
	if !ok || len(rest) < 4+8+1+2+1+2+2+1+10+12 {
		return g, fmt.Errorf("short greeting")
	}
	g.version = string(v)
	g.connID = binary.LittleEndian.Uint32(rest)
	g.scramble = append(append([]byte{}, rest[4:12]...), rest[31:43]...)
	g.caps = uint32(binary.LittleEndian.Uint16(rest[13:])) | uint32(binary.LittleEndian.Uint16(rest[18:]))<<16
	if g.caps&mysql.CLIENT_PROTOCOL_41 == 0 {
		return g, fmt.Errorf("the server does not speak protocol 4.1")
	}
	return g, nil
}

// loginHead is the fixed start of a handshake response (and the whole of
// an SSL request): capabilities, max packet (none), collation, filler
// (MariaDB's extended capabilities in its last 4 bytes).
func loginHead(caps, ext uint32, collation int) []byte {
	b := make([]byte, 32, 128)
	addCaps(b, caps, ext)
	b[8] = byte(collation) // one byte: the lower 8 bits, as go-mysql sends it
	return b
}

// loginAttributes names the proxy in the server's processlist attributes.
func loginAttributes() []byte {
	var kv []byte
	for _, s := range []string{"_client_name", "fwdproxy"} {
		kv = append(append(kv, byte(len(s))), s...)
	}
	return append([]byte{byte(len(kv))}, kv...)
}

func readLoginPacket(c net.Conn) (byte, []byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		return 0, nil, err
	}
	return h[3], b, nil
}

func writeLoginPacket(c net.Conn, seq byte, payload []byte) error {
	b := make([]byte, 4, 4+len(payload))
	b[0], b[1], b[2], b[3] = byte(len(payload)), byte(len(payload)>>8), byte(len(payload)>>16), seq
	_, err := c.Write(append(b, payload...))
	return err
}
