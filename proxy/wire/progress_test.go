package wire

import (
	"bytes"
	"testing"
)

// progress is a MariaDB progress report: one string, stage 1 of 2, 50 %,
// the thread's state.
var progress = append([]byte{0xff, 0xff, 0xff, 1, 1, 2, 0x50, 0xc3, 0x00, 9}, "copy data"...)

// A backend asked for progress reports sends them before an answer, and
// an admin statement's among the rows of its result: the client gets each
// as it comes (flushed before the relay reads on), and the answer after.
// Without Progress such a packet is an ERR, as before.
func TestRelayProgress(t *testing.T) {
	tests := []struct {
		name     string
		cmd      byte
		progress bool
		backend  [][]byte
		file     [][]byte
		parts    []Part
		client   []byte
	}{
		{"before an OK", ComQuery, true, [][]byte{progress, progress, okp(2)},
			nil, []Part{PartOK}, encode(5, progress, progress, okp(2))},
		{"before a result set", ComQuery, true, [][]byte{progress, {1}, colDef, eofp(0), row, eofp(0)},
			nil, []Part{PartColumnsEnd, PartRowsEnd}, encode(5, progress, []byte{1}, colDef, eofp(2), row, eofp(2))},
		{"among rows", ComQuery, true, [][]byte{{1}, colDef, eofp(0), progress, row, progress, eofp(0)},
			nil, []Part{PartColumnsEnd, PartRowsEnd}, encode(5, []byte{1}, colDef, eofp(2), progress, row, progress, eofp(2))},
		{"before an execute's ERR", 0x17, true, [][]byte{progress, errp},
			nil, []Part{PartErr}, encode(5, progress, errp)},
		{"after a LOCAL INFILE", ComQuery, true, [][]byte{{0xfb, 'f'}, progress, okp(2)}, [][]byte{[]byte("1\n"), {}},
			[]Part{PartOK}, append(encode(5, []byte{0xfb, 'f'}), encode(8, progress, okp(2))...)},
		{"not asked for: an ERR", ComQuery, false, [][]byte{progress},
			nil, []Part{PartErr}, encode(5, progress)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, _ := newMem(BackendSide, "reader", encode(1, tt.backend...))
			src.Progress = tt.progress
			dst, cm := newMem(ClientSide, "client", append(frame(4, []byte{tt.cmd}), encode(6, tt.file...)...))
			if _, err := dst.ReadPacket(100); err != nil {
				t.Fatal(err)
			}
			r := NewRelay(src, dst, tt.cmd, false)
			parts, err := drive(&r, nil)
			if n := bytes.Count(cm.out.Bytes(), progress); tt.progress && n != bytes.Count(encode(1, tt.backend...), progress) {
				t.Fatalf("%d progress reports flushed to the client by the end of the answer, want all", n)
			}
			if err == nil {
				err = dst.Flush()
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalParts(parts, tt.parts) {
				t.Fatalf("parts %v, want %v", parts, tt.parts)
			}
			if !bytes.Equal(cm.out.Bytes(), tt.client) {
				t.Fatalf("client got\n%x\nwant\n%x", cm.out.Bytes(), tt.client)
			}
			if src.Buffered() != 0 {
				t.Fatalf("%d bytes of the response left unread", src.Buffered())
			}
		})
	}
}
