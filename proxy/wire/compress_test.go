package wire

import (
	"bytes"
	"compress/zlib"
	"io"
	"testing"
)

// zframe is one compressed-protocol frame of data: zlib-compressed when
// compress, else stored as is.
func zframe(seq byte, data []byte, compress bool) []byte {
	body, ulen := data, 0
	if compress {
		var b bytes.Buffer
		w := zlib.NewWriter(&b)
		_, _ = w.Write(data)
		_ = w.Close()
		body, ulen = b.Bytes(), len(data)
	}
	h := []byte{byte(len(body)), byte(len(body) >> 8), byte(len(body) >> 16), seq, byte(ulen), byte(ulen >> 8), byte(ulen >> 16)}
	return append(h, body...)
}

// A client's commands come in frames stored or compressed, several packets
// to a frame or one packet over several; the answer goes in frames that
// number on from the client's and decompress to the packets written.
func TestCompressed(t *testing.T) {
	long := bytes.Repeat([]byte("SELECT 1 "), 30)
	stream := frames(0, append([]byte{ComQuery}, long...))
	in := append(zframe(0, stream[:100], true), zframe(1, stream[100:], false)...)
	in = append(in, zframe(0, frame(0, []byte{0x0e}), false)...)                                   // COM_PING, stored
	in = append(in, zframe(0, append(frame(0, []byte{0x0e}), frame(0, []byte{0x0e})...), true)...) // two in one frame
	m := &memConn{in: bytes.NewReader(in)}
	c := NewConn(Compressed(m), ClientSide, "client", 64, 64)
	p, err := c.ReadCommand(1000)
	if err != nil || !bytes.Equal(p, append([]byte{ComQuery}, long...)) {
		t.Fatalf("first command % x, %v", head(p), err)
	}
	answer := bytes.Repeat([]byte{'r'}, 200)
	if err := c.WritePacket(answer); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if p, err := c.ReadCommand(1000); err != nil || !bytes.Equal(p, []byte{0x0e}) {
			t.Fatalf("ping %d: % x, %v", i, p, err)
		}
	}
	out := m.out.Bytes()
	if len(out) < 7 || out[3] != 2 {
		t.Fatalf("answer frame % x: want sequence 2, after the client's 0 and 1", head(out))
	}
	r := Compressed(&memConn{in: bytes.NewReader(out)})
	got := make([]byte, 4+len(answer))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, frame(1, answer)) {
		t.Fatalf("answer decompressed to % x", head(got))
	}
	if len(out) >= 4+len(answer) {
		t.Fatalf("a 200-byte answer of one byte repeated went as %d bytes: not compressed", len(out))
	}
}

// Whatever a client sends, the compressed reader neither panics nor
// loops.
func FuzzCompressed(f *testing.F) {
	f.Add(zframe(0, frame(0, []byte{ComQuery, 'x'}), true))
	f.Add(zframe(0, frame(0, []byte{0x0e}), false))
	f.Add([]byte{5, 0, 0, 0, 9, 0, 0, 1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := NewConn(Compressed(&memConn{in: bytes.NewReader(in)}), ClientSide, "client", 64, 64)
		for i := 0; i < 10; i++ {
			if _, err := c.ReadCommand(1 << 20); err != nil {
				return
			}
		}
	})
}
