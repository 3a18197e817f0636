package wire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
)

// memConn is a connection over memory: reads come from in, writes go to
// out. A non-nil rerr or werr fails reads (once in is used up) or writes.
type memConn struct {
	net.Conn
	in         io.Reader
	out        bytes.Buffer
	rerr, werr error
}

func (c *memConn) Read(p []byte) (int, error) {
	n, err := c.in.Read(p)
	if err == io.EOF && c.rerr != nil {
		err = c.rerr
	}
	return n, err
}

func (c *memConn) Write(p []byte) (int, error) {
	if c.werr != nil {
		return 0, c.werr
	}
	return c.out.Write(p)
}

func newMem(side Side, role string, in []byte) (*Conn, *memConn) {
	m := &memConn{in: bytes.NewReader(in)}
	return NewConn(m, side, role, 64, 64), m
}

// frame is one packet: header with seq, then the payload.
func frame(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

// frames numbers payloads from seq on.
func frames(seq byte, payloads ...[]byte) []byte {
	var b []byte
	for _, p := range payloads {
		b = append(b, frame(seq, p)...)
		seq++
	}
	return b
}

func TestReadPacket(t *testing.T) {
	big := bytes.Repeat([]byte{'x'}, MaxPayload)
	tests := []struct {
		name    string
		side    Side
		in      []byte
		limit   int
		want    []byte
		wantErr string // the error's text ends so
		nextSeq byte   // sequence of the next packet written, when the stream is still in step
	}{
		{"one packet", ClientSide, frame(0, []byte{0x03, 'S'}), 100, []byte{0x03, 'S'}, "", 1},
		{"sequence follows the packet", BackendSide, frame(7, []byte{0}), 100, []byte{0}, "", 8},
		{"empty from a client", ClientSide, frame(3, nil), 100, []byte{}, "", 4},
		{"empty from a backend", BackendSide, frame(1, nil), 100, nil, "r: empty packet", 2},
		{"continued", BackendSide, append(frame(1, big), frame(2, []byte("yz"))...), 1 << 30,
			append(append([]byte{}, big...), "yz"...), "", 3},
		{"exactly MaxPayload ends with an empty packet", ClientSide, append(frame(0, big), frame(1, nil)...), 1 << 30, big, "", 2},
		{"over the limit", ClientSide, frame(0, []byte("abcdef")), 5, nil, "r: packet too large", 1},
		{"continued over the limit", ClientSide, append(frame(0, big), frame(1, []byte("z"))...), 100, nil, "r: packet too large", 2},
		{"cut header", ClientSide, []byte{5, 0}, 100, nil, "r: unexpected EOF", 0},
		{"cut payload", BackendSide, frame(1, []byte("abc"))[:6], 100, nil, "r: unexpected EOF", 0},
		{"nothing", BackendSide, nil, 100, nil, "r: EOF", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, m := newMem(tt.side, "r", tt.in)
			got, err := c.ReadPacket(tt.limit)
			if tt.wantErr != "" {
				if err == nil || !strings.HasSuffix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.HasSuffix(tt.wantErr, "too large") && !errors.Is(err, ErrPacketTooLarge) {
					t.Fatalf("errors.Is(%v, ErrPacketTooLarge) is false", err)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if !bytes.Equal(got, tt.want) {
				t.Fatalf("payload of %d bytes, want %d", len(got), len(tt.want))
			}
			if tt.nextSeq == 0 {
				return
			}
			if err := c.WritePacket([]byte{1}); err != nil {
				t.Fatal(err)
			}
			_ = c.Flush()
			if s := m.out.Bytes()[3]; s != tt.nextSeq {
				t.Fatalf("next packet written with sequence %d, want %d", s, tt.nextSeq)
			}
		})
	}
}

// ReadCommand wants a command at sequence 0 and continuations counting
// up; anything else is ErrOutOfOrder, as MariaDB's 1156.
func TestReadCommandSequence(t *testing.T) {
	big := bytes.Repeat([]byte{'x'}, MaxPayload)
	for _, tt := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"at 0", frame(0, []byte{0x03, 'S'}), true},
		{"continued in order", append(frame(0, big), frame(1, []byte("z"))...), true},
		{"at 1", frame(1, []byte{0x03, 'S'}), false},
		{"at 255", frame(255, []byte{0x0e}), false},
		{"continuation out of order", append(frame(0, big), frame(3, []byte("z"))...), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newMem(ClientSide, "client", tt.in)
			_, err := c.ReadCommand(1 << 30)
			if tt.ok != (err == nil) || !tt.ok && !errors.Is(err, ErrOutOfOrder) {
				t.Fatalf("err = %v, want ok=%v or ErrOutOfOrder", err, tt.ok)
			}
		})
	}
	// After an answered command the next one starts at 0 again.
	c, _ := newMem(ClientSide, "client", append(frame(0, []byte{0x0e}), frame(0, []byte{0x0e})...))
	if _, err := c.ReadCommand(100); err != nil {
		t.Fatal(err)
	}
	if err := c.WritePacket([]byte{0}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadCommand(100); err != nil {
		t.Fatalf("second command at 0: %v", err)
	}
}

// WritePacket numbers packets on from the last read, splits large
// payloads, and WriteCommand starts again at 0.
func TestWriteSequence(t *testing.T) {
	c, m := newMem(BackendSide, "writer", frame(4, []byte{0}))
	if _, err := c.ReadPacket(100); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{'y'}, MaxPayload+2)
	for _, step := range []func() error{
		func() error { return c.WritePacket([]byte("a")) },      // 5
		func() error { return c.WritePacket(big) },              // 6, 7
		func() error { return c.WriteCommand([]byte{0x0e}) },    // 0
		func() error { return c.WritePacket(nil) },              // 1
		func() error { return c.WritePacket(big[:MaxPayload]) }, // 2, and an empty 3
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	want := [][2]int{{1, 5}, {MaxPayload, 6}, {2, 7}, {1, 0}, {0, 1}, {MaxPayload, 2}, {0, 3}}
	out := m.out.Bytes()
	for i, w := range want {
		if len(out) < 4 {
			t.Fatalf("packet %d missing", i)
		}
		n := int(out[0]) | int(out[1])<<8 | int(out[2])<<16
		if n != w[0] || int(out[3]) != w[1] {
			t.Fatalf("packet %d: length %d seq %d, want %d seq %d", i, n, out[3], w[0], w[1])
		}
		out = out[4+n:]
	}
	if len(out) != 0 {
		t.Fatalf("%d bytes more than expected", len(out))
	}
}

// A connection's errors say which side and which backend failed.
func TestErrorLabels(t *testing.T) {
	broken := errors.New("connection reset")
	tests := []struct {
		name       string
		side       Side
		role       string
		op         func(c *Conn) error
		client     bool
		wantPrefix string
	}{
		{"client read", ClientSide, "client", func(c *Conn) error { _, err := c.ReadPacket(10); return err }, true, "client: "},
		{"client write", ClientSide, "client", func(c *Conn) error { _ = c.WritePacket([]byte("x")); return c.Flush() }, true, "client: "},
		{"reader read", BackendSide, "reader", func(c *Conn) error { _, err := c.ReadPacket(10); return err }, false, "reader: "},
		{"writer flush", BackendSide, "writer", func(c *Conn) error { _ = c.WriteCommand([]byte("x")); return c.FlushForReply() }, false, "writer: "},
		{"too large", ClientSide, "client", func(c *Conn) error { _, err := c.ReadPacket(0); return err }, true, "client: packet too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(nil)
			if tt.name == "too large" {
				in = frame(0, []byte("abc"))
			}
			m := &memConn{in: bytes.NewReader(in), rerr: broken, werr: broken}
			err := tt.op(NewConn(m, tt.side, tt.role, 64, 64))
			var e *Error
			if !errors.As(err, &e) || e.Role != tt.role || e.Side != tt.side {
				t.Fatalf("err = %#v, want a *Error of %s", err, tt.role)
			}
			if ClientFailed(err) != tt.client {
				t.Fatalf("ClientFailed = %v, want %v", !tt.client, tt.client)
			}
			if !strings.HasPrefix(err.Error(), tt.wantPrefix) {
				t.Fatalf("%q does not start with %q", err, tt.wantPrefix)
			}
		})
	}
	if ClientFailed(nil) || ClientFailed(broken) {
		t.Fatal("an unlabelled error is no client failure")
	}
}

// Whatever arrives, ReadPacket neither panics nor returns more than its
// limit, every failure is labelled, and a packet read and written again
// comes out as it went in.
func FuzzReadPacket(f *testing.F) {
	f.Add(frame(0, []byte{0x03, 'S', 'E', 'L'}), uint16(100), false)
	f.Add(frames(1, []byte{0}, nil, []byte{0xfe, 0, 0, 2, 0}), uint16(8), true)
	f.Add([]byte{0xff, 0xff, 0xff, 0x00, 'a'}, uint16(1000), false)
	f.Add([]byte{2, 0, 0}, uint16(1), true)
	f.Fuzz(func(t *testing.T, in []byte, limit uint16, backend bool) {
		side := ClientSide
		if backend {
			side = BackendSide
		}
		c, m := newMem(side, "x", in)
		for i := 0; i < 100; i++ {
			p, err := c.ReadPacket(int(limit))
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Side != side {
					t.Fatalf("unlabelled error %v", err)
				}
				return
			}
			if len(p) > int(limit) {
				t.Fatalf("%d bytes over the limit %d", len(p), limit)
			}
			m.out.Reset()
			_ = c.WritePacket(p)
			_ = c.Flush()
			back, _ := newMem(ClientSide, "y", m.out.Bytes())
			q, err := back.ReadPacket(int(limit))
			if err != nil || !bytes.Equal(p, q) {
				t.Fatalf("round trip of %x: %x, %v", p, q, err)
			}
		}
	})
}

// A command over the limit is read to its end; the answer's sequence number
// follows its last packet, as the client counts.
func TestReadPacketTooLargeAnswersAfterTheLastPacket(t *testing.T) {
	var stream []byte
	for seq, n := range []int{MaxPayload, MaxPayload, 10} {
		stream = append(stream, byte(n), byte(n>>8), byte(n>>16), byte(seq))
		stream = append(stream, make([]byte, n)...)
	}
	stream = append(stream, 1, 0, 0, 0, ComQuery) // the next command
	a, b := net.Pipe()
	defer a.Close()
	go func() { _, _ = b.Write(stream); b.Close() }()
	c := NewConn(a, ClientSide, "client", 4<<10, 4<<10)
	if _, err := c.ReadPacket(1 << 20); !errors.Is(err, ErrPacketTooLarge) || c.seq != 3 {
		t.Fatalf("got next seq %d, %v; want 3, ErrPacketTooLarge", c.seq, err)
	}
	if data, err := c.ReadPacket(1 << 20); err != nil || c.seq != 1 || len(data) != 1 || data[0] != ComQuery {
		t.Fatalf("the next command: %v %d %v", data, c.seq, err)
	}
}
