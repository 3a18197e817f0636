package proxy

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/fwdproxy/fwdproxy/proxy/wire"
)

// scriptConn is a backend socket that answers with fixed bytes and
// swallows what the proxy writes.
type scriptConn struct{ r *bytes.Reader }

func (c scriptConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c scriptConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c scriptConn) Close() error                     { return nil }
func (c scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c scriptConn) SetDeadline(time.Time) error      { return nil }
func (c scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c scriptConn) SetWriteDeadline(time.Time) error { return nil }

// packets frames payloads as a server would send them.
func packets(payloads ...[]byte) []byte {
	var out []byte
	for i, p := range payloads {
		out = append(out, byte(len(p)), byte(len(p)>>8), byte(len(p)>>16), byte(i+1))
		out = append(out, p...)
	}
	return out
}

// FuzzReadResult feeds whatever a broken or hostile backend might send to
// the reader of the proxy's own queries: it may fail, never panic.
func FuzzReadResult(f *testing.F) {
	f.Add(packets([]byte{0x00, 0, 0, 2, 0, 0, 0}))
	f.Add(packets([]byte{0x01}, []byte{3, 'd', 'e', 'f'}, []byte{0xfe}, []byte{1, 'x'}, []byte{0xfe}))
	f.Add(packets([]byte{0x02}, []byte{0xfe}, []byte{0xfe, 0, 0, 8, 0}))
	f.Add(packets([]byte{0xff, 0x15, 0x04, '#', 'H', 'Y', '0', '0', '0', 'x'}))
	f.Add(packets([]byte{0xfb, 'f'}, []byte{0x00, 0, 0, 0, 0}))
	f.Add(packets([]byte{0x00}))
	f.Add(packets([]byte{0x01}, []byte{0x00}, []byte{0xfe}, []byte{0xfb, 0xfc}))
	f.Add(packets(progressReport, []byte{0x01}, []byte{3, 'd', 'e', 'f'}, []byte{0xfe}, progressReport, []byte{1, 'x'}, []byte{0xfe}))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, track := range []uint32{0, capSessionTrack} {
			b := &backend{role: "reader", caps: track, conn: wire.NewConn(scriptConn{bytes.NewReader(data)}, wire.BackendSide, "reader", 4096, 4096)}
			b.conn.Progress = track != 0
			res, err := b.readResult()
			if err == nil && res == nil {
				t.Fatal("no result and no error")
			}
			if res != nil {
				res.value()
			}
		}
	})
}

// progressReport is a MariaDB progress report: stage 2 of 2, its state.
var progressReport = append([]byte{0xff, 0xff, 0xff, 1, 2, 2, 0, 0, 0, 15}, "End bulk insert"...)

// An answer the proxy reads itself from a connection asked for progress
// reports is read past them, before an OK and among rows; from one not
// asked, such a packet is the ERR it looks like.
func TestReadResultSkipsProgress(t *testing.T) {
	rows := packets(progressReport, []byte{0x01}, []byte{3, 'd', 'e', 'f'}, []byte{0xfe}, progressReport, []byte{1, 'x'}, []byte{0xfe})
	ok := packets(progressReport, progressReport, []byte{0x00, 7, 0, 2, 0, 0, 0})
	read := func(data []byte, progress bool) (*queryResult, error) {
		b := &backend{role: "reader", conn: wire.NewConn(scriptConn{bytes.NewReader(data)}, wire.BackendSide, "reader", 4096, 4096)}
		b.conn.Progress = progress
		return b.readResult()
	}
	if res, err := read(rows, true); err != nil || len(res.rows) != 1 || res.rows[0][0].s != "x" {
		t.Errorf("rows after progress reports: %+v, %v", res, err)
	}
	if res, err := read(ok, true); err != nil || res.ok.affectedRows != 7 {
		t.Errorf("OK after progress reports: %+v, %v", res, err)
	}
	if _, err := read(ok, false); err == nil || err.(*sqlError).code != 0xffff {
		t.Errorf("not asked for: got %v, want the ERR 65535 it looks like", err)
	}
}
