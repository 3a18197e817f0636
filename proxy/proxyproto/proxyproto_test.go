package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net"
	"strings"
	"testing"
)

// v2 builds a v2 header: command, family, the address block, then rest.
func v2(cmd, fam byte, addrs []byte, rest string) []byte {
	b := append([]byte{}, sigV2...)
	b = append(b, 0x20|cmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(addrs)))
	b = append(b, addrs...)
	return append(b, rest...)
}

func tcp4(src, dst [4]byte, sport, dport uint16, tlv ...byte) []byte {
	b := append(src[:], dst[:]...)
	b = binary.BigEndian.AppendUint16(b, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	return append(b, tlv...)
}

func TestRead(t *testing.T) {
	ip6 := net.ParseIP("2001:db8::7").To16()
	six := append(append(append([]byte{}, ip6...), net.ParseIP("2001:db8::1").To16()...), 0x30, 0x39, 0x0c, 0xea)
	cases := []struct {
		name, in string
		want     string // the address, "" for keep the peer's, "err" for an error
		rest     string // what is left to read
	}{
		{"v1 tcp4", "PROXY TCP4 192.0.2.7 198.51.100.1 56324 3306\r\nhello", "192.0.2.7:56324", "hello"},
		{"v1 tcp6", "PROXY TCP6 2001:db8::7 2001:db8::1 12345 3306\r\n", "[2001:db8::7]:12345", ""},
		{"v1 unknown", "PROXY UNKNOWN\r\nx", "", "x"},
		{"v1 unknown with addresses", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", "", ""},
		{"v1 family and address differ", "PROXY TCP4 2001:db8::7 2001:db8::1 1 2\r\n", "err", ""},
		{"v1 bad port", "PROXY TCP4 192.0.2.7 198.51.100.1 65536 3306\r\n", "err", ""},
		{"v1 leading zero port", "PROXY TCP4 192.0.2.7 198.51.100.1 080 3306\r\n", "err", ""},
		{"v1 missing field", "PROXY TCP4 192.0.2.7 198.51.100.1 80\r\n", "err", ""},
		{"v1 LF only", "PROXY TCP4 192.0.2.7 198.51.100.1 80 3306\n", "err", ""},
		{"v1 too long", "PROXY TCP4 " + strings.Repeat("1", 120) + "\r\n", "err", ""},
		{"not a header", "\x00\x00\x00\x01", "err", ""},
		{"P but not PROXY", "PROXX TCP4\r\n", "err", ""},
		{"v2 tcp4", string(v2(1, 0x11, tcp4([4]byte{192, 0, 2, 7}, [4]byte{198, 51, 100, 1}, 56324, 3306), "after")), "192.0.2.7:56324", "after"},
		{"v2 tcp4 with a TLV", string(v2(1, 0x11, tcp4([4]byte{10, 1, 2, 3}, [4]byte{10, 0, 0, 1}, 1, 3306, 0x04, 0, 1, 0xff), "")), "10.1.2.3:1", ""},
		{"v2 tcp6", string(v2(1, 0x21, six, "")), "[2001:db8::7]:12345", ""},
		{"v2 local", string(v2(0, 0x00, nil, "y")), "", "y"},
		{"v2 unix", string(v2(1, 0x31, make([]byte, 216), "")), "", ""},
		{"v2 short addresses", string(v2(1, 0x11, []byte{1, 2, 3}, "")), "err", ""},
		{"v2 bad command", string(v2(2, 0x11, tcp4([4]byte{1, 2, 3, 4}, [4]byte{1, 2, 3, 4}, 1, 2), "")), "err", ""},
		{"v2 truncated", string(v2(1, 0x11, tcp4([4]byte{1, 2, 3, 4}, [4]byte{1, 2, 3, 4}, 1, 2), ""))[:20], "err", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(c.in))
			addr, err := Read(r)
			switch {
			case c.want == "err":
				if err == nil {
					t.Fatalf("no error; address %v", addr)
				}
				return
			case err != nil:
				t.Fatal(err)
			case c.want == "" && addr != nil:
				t.Fatalf("address %v, want the peer's", addr)
			case c.want != "" && (addr == nil || addr.String() != c.want):
				t.Fatalf("address %v, want %s", addr, c.want)
			}
			var rest bytes.Buffer
			_, _ = rest.ReadFrom(r)
			if rest.String() != c.rest {
				t.Fatalf("left %q, want %q", rest.String(), c.rest)
			}
		})
	}
}

func TestStarts(t *testing.T) {
	for in, want := range map[string]bool{"PROXY TCP4": true, "PRO": true, "\r\n\r\n\x00": true, string(sigV2) + "\x21": true,
		"": false, "\x55\x00\x00\x01": false, "PROXX": false} {
		if got := Starts([]byte(in)); got != want {
			t.Errorf("Starts(%q) = %v", in, got)
		}
	}
}

func TestNetworks(t *testing.T) {
	n, err := ParseNetworks([]string{"10.0.0.0/8, 192.0.2.7", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]bool{"10.9.8.7": true, "192.0.2.7": true, "192.0.2.8": false, "fd00::1": true,
		"::ffff:10.1.1.1": true, "127.0.0.1": false} {
		if got := n.Contains(&net.TCPAddr{IP: net.ParseIP(ip), Port: 1}); got != want {
			t.Errorf("Contains(%s) = %v", ip, got)
		}
	}
	if _, err := ParseNetworks([]string{"10.0.0.0/33"}); err == nil {
		t.Error("10.0.0.0/33 accepted")
	}
}

// FuzzRead: no input panics, reads past its header or returns an address
// without an error.
func FuzzRead(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.7 198.51.100.1 56324 3306\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2(1, 0x11, tcp4([4]byte{192, 0, 2, 7}, [4]byte{198, 51, 100, 1}, 56324, 3306), "x"))
	f.Add(v2(1, 0x21, make([]byte, 36), ""))
	f.Add(v2(0, 0, nil, ""))
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bytes.NewReader(in)
		r := bufio.NewReader(br)
		addr, err := Read(r)
		if err != nil && addr != nil {
			t.Fatalf("address %v with error %v", addr, err)
		}
		if err == nil {
			used := len(in) - br.Len() - r.Buffered()
			if used > maxV1 && in[0] == 'P' || used > 16+maxV2Len {
				t.Fatalf("read %d bytes of header", used)
			}
		}
	})
}
