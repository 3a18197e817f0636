package proxy

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/metrics"
	"github.com/fwdproxy/fwdproxy/proxy/wire"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// loop repeats one byte stream forever: a backend that answers every command
// the same way.
type loop struct {
	data []byte
	pos  int
}

func (l *loop) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.pos:])
		n += c
		l.pos = (l.pos + c) % len(l.data)
	}
	return n, nil
}

func packet(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

// resultSet is a one-column text result with rows rows of width bytes.
func resultSet(rows, width int) []byte {
	var b []byte
	seq := byte(1)
	b = append(b, packet(seq, []byte{1})...)
	seq++
	col := []byte{3, 'd', 'e', 'f', 0, 0, 0, 1, 'c', 1, 'c', 0x0c, 33, 0, 0, 1, 0, 0, 0xfd, 0, 0, 0, 0, 0}
	b = append(b, packet(seq, col)...)
	seq++
	b = append(b, packet(seq, appendEOF(nil, 0, statusAutocommit))...)
	seq++
	row := mysql.AppendLengthEncodedInteger(nil, uint64(width))
	for i := 0; i < width; i++ {
		row = append(row, 'x')
	}
	for i := 0; i < rows; i++ {
		b = append(b, packet(seq, row)...)
		seq++
	}
	return append(b, packet(seq, appendEOF(nil, 0, statusAutocommit))...)
}

// appendEOF encodes a classic EOF packet payload, as the backends send it.
func appendEOF(b []byte, warnings, status uint16) []byte {
	b = append(b, 0xfe)
	b = binary.LittleEndian.AppendUint16(b, warnings)
	return binary.LittleEndian.AppendUint16(b, status)
}

// nopConn drops what it is sent.
type nopConn struct{ net.Conn }

func (nopConn) Write(p []byte) (int, error) { return len(p), nil }

// loopConn is a backend connection that answers with l.
type loopConn struct {
	nopConn
	l *loop
}

func (c loopConn) Read(p []byte) (int, error) { return c.l.Read(p) }

func benchSession(response []byte) (*session, *backend) {
	srv := &Server{Metrics: metrics.New(), flavor: consistency.MariaDB}
	cfg := Defaults()
	srv.live.Store(&cfg)
	s := newSession(srv)
	s.client = wire.NewConn(nopConn{}, wire.ClientSide, "client", 4<<10, 16<<10)
	b := &backend{role: "reader", conn: wire.NewConn(loopConn{l: &loop{data: response}}, wire.BackendSide, "reader", 16<<10, 4<<10)}
	s.reader = b
	s.level = consistency.Eventual
	return s, b
}

// BenchmarkRelayRow: cost per row of relaying a result set (1000 rows of
// 100 bytes per op).
func BenchmarkRelayRow(b *testing.B) { benchRelayRow(b, false) }

// BenchmarkRelayRowDeprecateEOF: the same for a client with
// CLIENT_DEPRECATE_EOF, whose result ends with an OK.
func BenchmarkRelayRowDeprecateEOF(b *testing.B) { benchRelayRow(b, true) }

func benchRelayRow(b *testing.B, deprecateEOF bool) {
	const rows = 1000
	s, r := benchSession(resultSet(rows, 100))
	s.client.DeprecateEOF = deprecateEOF
	b.ReportAllocs()
	b.SetBytes(rows * 104)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.relay(r, comQuery, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}

// BenchmarkPreparedExecuteRoute: a prepared point select executed on the
// reader, routing plus relay of a one-row result; steady state allocates
// nothing.
func BenchmarkPreparedExecuteRoute(b *testing.B) {
	s, exec := preparedPointSelect()
	buf := make([]byte, len(exec))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(buf, exec)
		if err := s.dispatch(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// preparedPointSelect is a session with statement 1 prepared on the
// reader, and the COM_STMT_EXECUTE that runs it.
func preparedPointSelect() (*session, []byte) {
	s, _ := benchSession(resultSet(1, 120))
	st := sqlclass.Classify("SELECT c FROM sbtest1 WHERE id=?", sqlclass.Options{})
	s.stmts[1] = &prepared{sql: "SELECT c FROM sbtest1 WHERE id=?", st: st, params: 1, readerID: 7}
	return s, []byte{comStmtExecute, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 0, 42, 0, 0, 0}
}

// BenchmarkTextPointSelectRoute: a text point select, classification and
// routing included.
func BenchmarkTextPointSelectRoute(b *testing.B) {
	s, _ := benchSession(resultSet(1, 120))
	q := append([]byte{comQuery}, "SELECT c FROM sbtest1 WHERE id=4242"...)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.dispatch(q); err != nil {
			b.Fatal(err)
		}
	}
}

// The relay and a prepared EXECUTE on the reader allocate nothing in the
// steady state; the benchmarks above show the cost, this keeps it at zero.
func TestRelayAllocatesNothing(t *testing.T) {
	s, r := benchSession(resultSet(10, 100))
	if n := testing.AllocsPerRun(100, func() {
		if _, err := s.relay(r, comQuery, false); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("relay: %v allocations per result set", n)
	}
	s, exec := preparedPointSelect()
	buf := make([]byte, len(exec))
	if n := testing.AllocsPerRun(100, func() {
		copy(buf, exec)
		if err := s.dispatch(buf); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("prepared execute: %v allocations", n)
	}
}
