package readers

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/proxy"
)

// rawSession is a go-mysql connection through the proxy, in raw packets where the test needs
// them. It does not ask for CLIENT_DEPRECATE_EOF: results end with classic EOF packets.
type rawSession struct {
	t *testing.T
	c *client.Conn
}

func newRawSession(t *testing.T, addr string) *rawSession {
	t.Helper()
	noDeprecateEOF := func(c *client.Conn) error { c.UnsetCapability(gmysql.CLIENT_DEPRECATE_EOF); return nil }
	c, err := client.ConnectWithTimeout(addr, thePair.User, thePair.Password, testDB, 10*time.Second, noDeprecateEOF)
	must(t, err)
	t.Cleanup(func() { c.Close() })
	return &rawSession{t: t, c: c}
}

func (r *rawSession) serverID() int64 {
	r.t.Helper()
	res, err := r.c.Execute("SELECT @@server_id")
	must(r.t, err)
	id, err := res.GetInt(0, 0)
	must(r.t, err)
	return id
}

// command sends one command packet and returns the first packet of its answer.
func (r *rawSession) command(payload []byte) []byte {
	r.t.Helper()
	r.c.ResetSequence()
	must(r.t, r.c.WritePacket(append(make([]byte, 4, 4+len(payload)), payload...)))
	return r.packet()
}

func (r *rawSession) packet() []byte {
	r.t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	p, err := r.c.ReadPacket()
	must(r.t, err)
	if len(p) > 0 && p[0] == 0xff {
		r.t.Fatalf("error packet: %q", p[3:])
	}
	return append([]byte(nil), p...)
}

// untilEOF reads packets up to the next EOF and returns how many came before it and the EOF's
// status flags.
func (r *rawSession) untilEOF() (n int, status uint16) {
	r.t.Helper()
	for {
		p := r.packet()
		if p[0] == 0xfe && len(p) < 9 {
			return n, binary.LittleEndian.Uint16(p[3:])
		}
		n++
	}
}

const (
	cursorExists = 0x0040
	lastRowSent  = 0x0080
)

// TestCursorKeepsReader: a session with an open server-side cursor (COM_STMT_EXECUTE with
// CURSOR_TYPE_READ_ONLY) keeps its reader, even one whose replication stopped, while the
// cursor is open, so every COM_STMT_FETCH finds it; once the last row was fetched (the server
// closes the cursor then) its next read moves to a healthy reader.
func TestCursorKeepsReader(t *testing.T) {
	r1, r2 := thePair.Replicas[0], thePair.Replicas[1]
	srv, addr := startProxy(t, func(c *proxy.Config) { c.Readers = []string{r1.Addr, r2.Addr} })
	s := newRawSession(t, addr)
	on, other := r1, r2
	if s.serverID() == int64(r2.ServerID) {
		on, other = r2, r1
	}
	st, err := s.c.Prepare("SELECT seq FROM seq_1_to_100")
	must(t, err)
	exec := binary.LittleEndian.AppendUint32([]byte{gmysql.COM_STMT_EXECUTE}, st.ID)
	exec = append(exec, 0x01 /* CURSOR_TYPE_READ_ONLY */, 1, 0, 0, 0)
	s.command(exec) // the column count
	if _, status := s.untilEOF(); status&cursorExists == 0 {
		t.Fatalf("no cursor opened (status 0x%04x)", status)
	}
	fetch := func(rows uint32) (int, uint16) {
		p := binary.LittleEndian.AppendUint32([]byte{gmysql.COM_STMT_FETCH}, st.ID)
		p = binary.LittleEndian.AppendUint32(p, rows)
		first := s.command(p)
		if first[0] == 0xfe && len(first) < 9 {
			return 0, binary.LittleEndian.Uint16(first[3:])
		}
		n, status := s.untilEOF()
		return n + 1, status
	}
	got, _ := fetch(10)

	must(t, thePair.Script("pause", on.Name))
	t.Cleanup(func() { _ = thePair.Script("resume", on.Name) })
	pair.WaitUntil(t, "state of "+on.Name, "stopped", func() string { return readerState(srv, on.Addr) })
	if id := s.serverID(); id != int64(on.ServerID) {
		t.Fatalf("with a cursor open the session read from server %d, want %d (its cursor's)", id, on.ServerID)
	}
	for i := 0; ; i++ {
		n, status := fetch(30)
		got += n
		if status&lastRowSent != 0 {
			break
		}
		if i > 10 {
			t.Fatal("the cursor never ends")
		}
	}
	if got != 100 {
		t.Fatalf("the cursor gave %d rows, want 100", got)
	}
	// The server closed the cursor with its last row: the statement, still open, holds nothing.
	if id := s.serverID(); id != int64(other.ServerID) {
		t.Errorf("after the cursor's last row the session still reads from server %d (replication stopped), want %d", id, other.ServerID)
	}
	must(t, st.Close())
	t.Logf("readers %+v", srv.Status().Readers)
	must(t, thePair.Script("resume", on.Name))
}
