package integration

// PROXY protocol on the client listener: a load balancer in
// --proxy-protocol-networks names the client; anyone else is served as
// before, and a header from them is refused.

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/fwdproxy/fwdproxy/proxy"
)

// v1Header and v2Header are what a balancer sends for a client at src.
func v1Header(src *net.TCPAddr) []byte {
	fam := "TCP4"
	dst := "127.0.0.1"
	if src.IP.To4() == nil {
		fam, dst = "TCP6", "::1"
	}
	return []byte("PROXY " + fam + " " + src.IP.String() + " " + dst + " " + strconv.Itoa(src.Port) + " 3306\r\n")
}

func v2Header(src *net.TCPAddr) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n\x21")
	var addrs []byte
	if ip := src.IP.To4(); ip != nil {
		b = append(b, 0x11)
		addrs = append(append(addrs, ip...), 127, 0, 0, 1)
	} else {
		b = append(b, 0x21)
		addrs = append(append(addrs, src.IP.To16()...), net.IPv6loopback...)
	}
	addrs = binary.BigEndian.AppendUint16(addrs, uint16(src.Port))
	addrs = binary.BigEndian.AppendUint16(addrs, 3306)
	addrs = append(addrs, 0x04, 0, 2, 'h', 'i') // a TLV, skipped
	b = binary.BigEndian.AppendUint16(b, uint16(len(addrs)))
	return append(b, addrs...)
}

var balancers int // names of the dialers registered

// balancerDB is a client pool whose every connection goes through a
// "balancer" that sends header first.
func balancerDB(t *testing.T, addr, user, password string, header []byte) *sql.DB {
	t.Helper()
	balancers++
	netName := fmt.Sprintf("balancer%d", balancers)
	mysql.RegisterDialContext(netName, func(ctx context.Context, a string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", a)
		if err != nil {
			return nil, err
		}
		if _, err := c.Write(header); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	})
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd, cfg.DBName = netName, addr, user, password, testDB
	cfg.Timeout = 10 * time.Second
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestProxyProtocolHeaders(t *testing.T) {
	srv, addr := startServer(t, func(c *proxy.Config) { c.ProxyProtocolNetworks = []string{"127.0.0.0/8"} })
	for _, tc := range []struct {
		name   string
		header []byte
		client string
	}{
		{"v1 tcp4", v1Header(&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40001}), "192.0.2.7"},
		{"v1 tcp6", v1Header(&net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 40002}), "2001:db8::7"},
		{"v2 tcp4", v2Header(&net.TCPAddr{IP: net.ParseIP("198.51.100.9"), Port: 40003}), "198.51.100.9"},
		{"v2 tcp6", v2Header(&net.TCPAddr{IP: net.ParseIP("2001:db8::9"), Port: 40004}), "2001:db8::9"},
		{"v2 local (the balancer's health check)", []byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"), "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := balancerDB(t, addr, thePair.User, thePair.Password, tc.header)
			db.SetMaxOpenConns(1)
			if v := one(t, db, "SELECT 1"); v != "1" {
				t.Fatalf("SELECT 1 = %q", v)
			}
			// The session is known by the header's client address.
			found := false
			for _, ss := range srv.Sessions() {
				found = found || clientHostOf(ss.Client) == tc.client
			}
			if !found {
				t.Fatalf("no session from %s in %+v", tc.client, srv.Sessions())
			}
			// A failed login names it too (as MariaDB says 'user'@'host').
			bad := balancerDB(t, addr, thePair.User, "wrong", tc.header)
			err := bad.Ping()
			if err == nil || !strings.Contains(err.Error(), "@'"+tc.client+"'") {
				t.Fatalf("wrong password: %v, want 1045 naming '%s'", err, tc.client)
			}
		})
	}
}

// A trusted peer must send the header: a plain MySQL client from it is
// refused (closed once the handshake timeout passes), and so is one that
// sends something else.
func TestProxyProtocolRequiredFromTrustedPeer(t *testing.T) {
	addr := startProxy(t, func(c *proxy.Config) {
		c.ProxyProtocolNetworks = []string{"127.0.0.1/32"}
		c.HandshakeTimeout = time.Second
	})
	db, err := sql.Open("mysql", dsnFor(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err == nil {
		t.Fatal("a client from a --proxy-protocol-networks peer logged in without a header")
	} else {
		t.Logf("plain client from the trusted peer: %v", err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		t.Fatalf("not closed: %v", err)
	}
	if n != 0 {
		t.Fatalf("the proxy sent %d bytes (a greeting) to a trusted peer before its header", n)
	}
}

// A peer outside the networks is served as without the setting, and a
// header from it is refused: closed at once, not read as a login.
func TestProxyProtocolRefusedFromUntrustedPeer(t *testing.T) {
	addr := startProxy(t, func(c *proxy.Config) { c.ProxyProtocolNetworks = []string{"192.0.2.0/24"} })
	plain := conn(t, addr, "")
	if v := one(t, plain, "SELECT 2"); v != "2" {
		t.Fatalf("a client outside the networks: SELECT 2 = %q", v)
	}
	for name, h := range map[string][]byte{
		"v1": v1Header(&net.TCPAddr{IP: net.ParseIP("203.0.113.5"), Port: 1}),
		"v2": v2Header(&net.TCPAddr{IP: net.ParseIP("203.0.113.5"), Port: 1}),
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write(h)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.Copy(io.Discard, c) // the greeting, then the close
		c.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s header from an untrusted peer: the connection was not closed", name)
		}
	}
	var name, v string
	if err := plain.QueryRowContext(ctx, "SHOW STATUS LIKE 'Fwdproxy_limited_proxy_header'").Scan(&name, &v); err != nil || v != "2" {
		t.Fatalf("Fwdproxy_limited_proxy_header = %q (%v), want 2", v, err)
	}
}

func dsnFor(addr string) string {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd, cfg.DBName = "tcp", addr, thePair.User, thePair.Password, testDB
	cfg.Timeout = 10 * time.Second
	return cfg.FormatDSN()
}
