package wire

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const (
	stAutocommit  = 0x0002
	stMoreResults = 0x0008
	stCursor      = 0x0040
)

func okp(st uint16) []byte  { return []byte{0x00, 0, 0, byte(st), byte(st >> 8), 0, 0} }
func eofp(st uint16) []byte { return []byte{0xfe, 0, 0, byte(st), byte(st >> 8)} }

var (
	errp   = []byte{0xff, 0x7a, 0x04, '#', '4', '2', 'S', '0', '2', 'n', 'o'}
	colDef = []byte{3, 'd', 'e', 'f', 0, 0, 0, 1, 'c', 1, 'c', 0x0c, 33, 0, 0, 1, 0, 0, 0xfd, 0, 0, 0, 0, 0}
	row    = []byte{2, 'h', 'i'}
)

// encode frames payloads as a peer would, numbering from seq, splitting
// large ones.
func encode(seq byte, payloads ...[]byte) []byte {
	m := &memConn{}
	c := NewConn(m, ClientSide, "enc", 64, 64)
	c.seq = seq
	for _, p := range payloads {
		_ = c.WritePacket(p)
	}
	_ = c.Flush()
	return m.out.Bytes()
}

// drive runs a relay as the proxy does, with one decision of its own: the
// EOFs it writes say AUTOCOMMIT. It appends the parts it met to parts.
func drive(r *Relay, parts []Part) ([]Part, error) {
	for {
		part, err := r.Next()
		if err != nil {
			return parts, err
		}
		parts = append(parts, part)
		switch part {
		case PartOK:
			if err := r.dst.WritePacket(r.Packet); err != nil || r.OK.Status&stMoreResults == 0 {
				return parts, err
			}
		case PartErr:
			return parts, r.dst.WritePacket(r.Packet)
		case PartColumnsEnd:
			st, _ := r.EOFStatus()
			if err := r.WriteEOF(st | stAutocommit); err != nil || st&stCursor != 0 {
				return parts, err
			}
		case PartRowsEnd:
			st, _ := r.EOFStatus()
			if err := r.WriteEOF(st | stAutocommit); err != nil || st&stMoreResults == 0 {
				return parts, err
			}
		case PartPrepareOK:
			if err := r.dst.WritePacket(r.Packet); err != nil {
				return parts, err
			}
		case PartDone:
			return parts, nil
		}
	}
}

func TestRelay(t *testing.T) {
	bigRow := append([]byte{0xfe}, bytes.Repeat([]byte{'z'}, MaxPayload+10)...) // a row may start 0xfe when long
	prepOK := []byte{0x00, 9, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0}
	tests := []struct {
		name      string
		cmd       byte
		backend   [][]byte // the backend's response
		file      [][]byte // what the client sends after a LOCAL INFILE request
		parts     []Part
		client    []byte // what the client receives (its command had sequence 4)
		toBackend []byte // what the backend receives after its command
	}{
		{"OK", ComQuery, [][]byte{okp(2)}, nil, []Part{PartOK}, encode(5, okp(2)), nil},
		{"ERR", ComQuery, [][]byte{errp}, nil, []Part{PartErr}, encode(5, errp), nil},
		{"result set", ComQuery, [][]byte{{1}, colDef, eofp(0), row, row, eofp(0x20)}, nil,
			[]Part{PartColumnsEnd, PartRowsEnd}, encode(5, []byte{1}, colDef, eofp(2), row, row, eofp(0x22)), nil},
		{"two results", 0x17, [][]byte{okp(stMoreResults), {1}, colDef, eofp(0), row, eofp(0)}, nil,
			[]Part{PartOK, PartColumnsEnd, PartRowsEnd}, encode(5, okp(stMoreResults), []byte{1}, colDef, eofp(2), row, eofp(2)), nil},
		{"rows then ERR", ComQuery, [][]byte{{1}, colDef, eofp(0), row, errp}, nil,
			[]Part{PartColumnsEnd, PartErr}, encode(5, []byte{1}, colDef, eofp(2), row, errp), nil},
		{"short EOFs become full", ComQuery, [][]byte{{1}, colDef, {0xfe}, row, {0xfe}}, nil,
			[]Part{PartColumnsEnd, PartRowsEnd}, encode(5, []byte{1}, colDef, eofp(2), row, eofp(2)), nil},
		{"no EOF after columns: as it came", ComQuery, [][]byte{{1}, colDef, row, eofp(0)}, nil,
			[]Part{PartColumnsEnd, PartRowsEnd}, encode(5, []byte{1}, colDef, row, eofp(2)), nil},
		{"cursor", 0x17, [][]byte{{2}, colDef, colDef, eofp(stCursor)}, nil,
			[]Part{PartColumnsEnd}, encode(5, []byte{2}, colDef, colDef, eofp(stCursor|2)), nil},
		{"large row", ComQuery, [][]byte{{1}, colDef, eofp(0), bigRow, eofp(0)}, nil,
			[]Part{PartColumnsEnd, PartRowsEnd}, encode(5, []byte{1}, colDef, eofp(2), bigRow, eofp(2)), nil},
		{"field list", ComFieldList, [][]byte{colDef, colDef, eofp(2)}, nil,
			[]Part{PartDone}, encode(5, colDef, colDef, eofp(2)), nil},
		{"field list, no column matches", ComFieldList, [][]byte{eofp(2)}, nil,
			[]Part{PartDone}, encode(5, eofp(2)), nil},
		{"field list, ERR", ComFieldList, [][]byte{errp}, nil, []Part{PartErr}, encode(5, errp), nil},
		{"statistics", ComStatistics, [][]byte{[]byte("Uptime: 1")}, nil,
			[]Part{PartDone}, encode(5, []byte("Uptime: 1")), nil},
		{"prepare", ComStmtPrepare, [][]byte{prepOK, colDef, colDef, eofp(0), colDef, eofp(0)}, nil,
			[]Part{PartPrepareOK, PartDone}, encode(5, prepOK, colDef, colDef, eofp(0), colDef, eofp(0)), nil},
		{"prepare ERR", ComStmtPrepare, [][]byte{errp}, nil, []Part{PartErr}, encode(5, errp), nil},
		{"fetch", ComStmtFetch, [][]byte{row, row, eofp(0)}, nil,
			[]Part{PartRowsEnd}, encode(5, row, row, eofp(2)), nil},
		{"fetch ERR", ComStmtFetch, [][]byte{row, errp}, nil, []Part{PartErr}, encode(5, row, errp), nil},
		{"LOCAL INFILE", ComQuery, [][]byte{{0xfb, 'f'}, okp(2)}, [][]byte{[]byte("1,2\n"), []byte("3,4\n"), {}},
			[]Part{PartOK}, append(encode(5, []byte{0xfb, 'f'}), encode(9, okp(2))...), encode(2, []byte("1,2\n"), []byte("3,4\n"), []byte{})},
		{"no LOCAL INFILE for an execute", 0x17, [][]byte{{0xfb}, colDef, eofp(0)}, nil,
			[]Part{PartColumnsEnd, PartRowsEnd}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, bm := checkRelay(t, tt.cmd, tt.backend, tt.file, false, tt.parts, tt.client)
			if !bytes.Equal(bm.out.Bytes(), tt.toBackend) {
				t.Fatalf("backend got %x, want %x", bm.out.Bytes(), tt.toBackend)
			}
			if tt.cmd == ComStmtPrepare && tt.parts[0] == PartPrepareOK &&
				(r.Prepared != PrepareOK{ID: 9, Columns: 1, Params: 2}) {
				t.Fatalf("prepare OK parsed as %+v", r.Prepared)
			}
		})
	}
}

// okEOF is the OK that ends a result for a client with
// CLIENT_DEPRECATE_EOF, with w warnings.
func okEOF(st, w uint16) []byte {
	return []byte{0xfe, 0, 0, byte(st), byte(st >> 8), byte(w), byte(w >> 8)}
}

// For a client with CLIENT_DEPRECATE_EOF the relay frames what a backend
// sends with classic EOFs as MariaDB frames it: no EOF after column
// definitions (but an OK when a cursor opened), an OK with header 0xfe
// after rows, after COM_FIELD_LIST and in place of nothing after a
// prepare's definitions. The warnings stay; the session-state flag goes
// (no state block comes with it).
func TestRelayDeprecateEOF(t *testing.T) {
	prepOK := []byte{0x00, 9, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0}
	tests := []struct {
		name    string
		cmd     byte
		backend [][]byte
		parts   []Part
		client  []byte
	}{
		{"result set", ComQuery, [][]byte{{1}, colDef, eofp(0), row, row, {0xfe, 3, 0, 0x20, 0x40}},
			[]Part{PartColumnsEnd, PartRowsEnd}, encode(5, []byte{1}, colDef, row, row, okEOF(0x22, 3))},
		{"two results", 0x17, [][]byte{{1}, colDef, eofp(0), row, eofp(stMoreResults), okp(0)},
			[]Part{PartColumnsEnd, PartRowsEnd, PartOK}, encode(5, []byte{1}, colDef, row, okEOF(stMoreResults|2, 0), okp(0))},
		{"short EOFs", ComQuery, [][]byte{{1}, colDef, {0xfe}, row, {0xfe}},
			[]Part{PartColumnsEnd, PartRowsEnd}, encode(5, []byte{1}, colDef, row, okEOF(2, 0))},
		{"cursor", 0x17, [][]byte{{2}, colDef, colDef, eofp(stCursor)},
			[]Part{PartColumnsEnd}, encode(5, []byte{2}, colDef, colDef, okEOF(stCursor|2, 0))},
		{"fetch", ComStmtFetch, [][]byte{row, row, eofp(0x80)}, []Part{PartRowsEnd}, encode(5, row, row, okEOF(0x82, 0))},
		{"field list", ComFieldList, [][]byte{colDef, colDef, eofp(2)}, []Part{PartDone}, encode(5, colDef, colDef, okEOF(2, 0))},
		{"field list, no column matches", ComFieldList, [][]byte{eofp(2)}, []Part{PartDone}, encode(5, okEOF(2, 0))},
		{"prepare", ComStmtPrepare, [][]byte{prepOK, colDef, colDef, eofp(0), colDef, eofp(0)},
			[]Part{PartPrepareOK, PartDone}, encode(5, prepOK, colDef, colDef, colDef)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRelay(t, tt.cmd, tt.backend, nil, true, tt.parts, tt.client)
		})
	}
}

// For a client with MARIADB_CLIENT_CACHE_METADATA every column count gets
// the metadata-follows byte. One statement's responses in order: its
// prepare's column definitions are what the client holds; an execute whose
// first result has those gets 0 and no definitions (the EOF after them
// stays), one whose columns changed (an ALTER TABLE between executes) gets
// 1 and the new ones, which the client holds from then on. After an
// execute with two results (a CALL) the definitions always follow, as
// MariaDB sends them from a stored procedure. A text result always has 1.
func TestRelayMetadataCache(t *testing.T) {
	prepOK := []byte{0x00, 9, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0}
	colDef2 := bytes.Replace(colDef, []byte{1, 'c', 1, 'c'}, []byte{1, 'c', 1, 'd'}, 1)
	result := func(def []byte, end uint16) [][]byte { return [][]byte{{1}, def, eofp(0), row, eofp(end)} }
	steps := []struct {
		name     string
		cmd      byte
		backend  [][]byte
		parts    []Part
		client   []byte // classic EOFs
		clientDE []byte // CLIENT_DEPRECATE_EOF
	}{
		{"prepare", ComStmtPrepare, [][]byte{prepOK, colDef, colDef, eofp(0), colDef, eofp(0)}, []Part{PartPrepareOK, PartDone},
			encode(5, prepOK, colDef, colDef, eofp(0), colDef, eofp(0)), encode(5, prepOK, colDef, colDef, colDef)},
		{"execute, columns as prepared", 0x17, result(colDef, 0), []Part{PartColumnsEnd, PartRowsEnd},
			encode(5, []byte{1, 0}, eofp(2), row, eofp(2)), encode(5, []byte{1, 0}, row, okEOF(2, 0))},
		{"execute after ALTER TABLE", 0x17, result(colDef2, 0), []Part{PartColumnsEnd, PartRowsEnd},
			encode(5, []byte{1, 1}, colDef2, eofp(2), row, eofp(2)), encode(5, []byte{1, 1}, colDef2, row, okEOF(2, 0))},
		{"execute again", 0x17, result(colDef2, 0), []Part{PartColumnsEnd, PartRowsEnd},
			encode(5, []byte{1, 0}, eofp(2), row, eofp(2)), encode(5, []byte{1, 0}, row, okEOF(2, 0))},
		{"cursor", 0x17, [][]byte{{1}, colDef2, eofp(stCursor)}, []Part{PartColumnsEnd},
			encode(5, []byte{1, 0}, eofp(stCursor|2)), encode(5, []byte{1, 0}, okEOF(stCursor|2, 0))},
		{"two results", 0x17, append(result(colDef2, stMoreResults), okp(0)), []Part{PartColumnsEnd, PartRowsEnd, PartOK},
			encode(5, []byte{1, 0}, eofp(2), row, eofp(stMoreResults|2), okp(0)),
			encode(5, []byte{1, 0}, row, okEOF(stMoreResults|2, 0), okp(0))},
		{"after two results", 0x17, result(colDef2, 0), []Part{PartColumnsEnd, PartRowsEnd},
			encode(5, []byte{1, 1}, colDef2, eofp(2), row, eofp(2)), encode(5, []byte{1, 1}, colDef2, row, okEOF(2, 0))},
	}
	for _, deprecateEOF := range []bool{false, true} {
		meta := &MetaCache{}
		for _, st := range steps {
			t.Run(fmt.Sprintf("%s/deprecateEOF=%v", st.name, deprecateEOF), func(t *testing.T) {
				want := st.client
				if deprecateEOF {
					want = st.clientDE
				}
				checkRelayTo(t, st.cmd, st.backend, nil, clientOpts{deprecateEOF, true, meta}, st.parts, want)
			})
		}
	}
	t.Run("text result", func(t *testing.T) {
		checkRelayTo(t, ComQuery, result(colDef, 0), nil, clientOpts{cacheMetadata: true}, []Part{PartColumnsEnd, PartRowsEnd},
			encode(5, []byte{1, 1}, colDef, eofp(2), row, eofp(2)))
	})
}

// checkRelay relays backend's response to cmd (the client's command had
// sequence 4; file is what it sends after a LOCAL INFILE request) and
// checks the parts met, what the client got (client nil: not checked) and
// that the whole response was read.
func checkRelay(t *testing.T, cmd byte, backend, file [][]byte, deprecateEOF bool, want []Part, client []byte) (*Relay, *memConn) {
	t.Helper()
	return checkRelayTo(t, cmd, backend, file, clientOpts{deprecateEOF: deprecateEOF}, want, client)
}

// clientOpts are what the client negotiated, and the metadata cache of
// the statement the command is for (nil: none).
type clientOpts struct {
	deprecateEOF, cacheMetadata bool
	meta                        *MetaCache
}

// checkRelayTo is checkRelay for a client with opts.
func checkRelayTo(t *testing.T, cmd byte, backend, file [][]byte, opts clientOpts, want []Part, client []byte) (*Relay, *memConn) {
	t.Helper()
	src, bm := newMem(BackendSide, "reader", encode(1, backend...))
	dst, cm := newMem(ClientSide, "client", append(frame(4, []byte{cmd}), encode(6, file...)...))
	dst.DeprecateEOF, dst.CacheMetadata = opts.deprecateEOF, opts.cacheMetadata
	if _, err := dst.ReadPacket(100); err != nil {
		t.Fatal(err)
	}
	r := NewRelay(src, dst, cmd, false)
	r.Meta = opts.meta
	parts, err := drive(&r, nil)
	if err == nil {
		err = dst.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	if client != nil && !bytes.Equal(cm.out.Bytes(), client) {
		t.Fatalf("client got\n%x\nwant\n%x", head(cm.out.Bytes()), head(client))
	}
	if !equalParts(parts, want) {
		t.Fatalf("parts %v, want %v", parts, want)
	}
	if src.Buffered() != 0 {
		t.Fatalf("%d bytes of the response left unread", src.Buffered())
	}
	return &r, bm
}

func head(b []byte) []byte { return b[:min(len(b), 200)] }

func equalParts(a, b []Part) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A backend that fails before the client got anything is the backend's
// failure; once part of the response is out, it is the client's (its
// stream is broken). A client that cannot be written to is the client's.
func TestRelayFailures(t *testing.T) {
	result := encode(1, []byte{1}, colDef, eofp(0), row, row, eofp(0))
	bigRow := bytes.Repeat([]byte{'z'}, 100) // larger than the test's 64-byte read buffer
	big := encode(1, []byte{1}, colDef, eofp(0), row, bigRow, eofp(0))
	tests := []struct {
		name       string
		backend    []byte
		clientDown bool
		client     bool   // ClientFailed
		cut        bool   // IsCut: the client is between packets
		msg        string // the error's text contains it
	}{
		{"backend gone before the answer", nil, false, false, false, "reader: EOF"},
		{"malformed OK", encode(1, []byte{0x00, 0xfc}), false, false, false, "reader: malformed OK packet"},
		{"empty first packet", encode(1, []byte{}), false, false, false, "reader: empty packet"},
		// The column definitions are held until all came: nothing reached the client.
		{"backend gone after the column count", result[:6], false, false, false, "reader: unexpected EOF"},
		{"backend gone before the columns' EOF", result[:len(encode(1, []byte{1}, colDef))+2], false, false, false, "reader: "},
		{"backend gone mid-rows", result[:len(result)-12], false, true, true, "client: reader failed mid-response: reader: "},
		{"backend gone inside a row", result[:len(result)-11], false, true, true, "reader failed mid-response"},
		{"backend gone inside a row larger than the buffer", big[:len(big)-40], false, true, false, "reader failed mid-response, inside a packet"},
		{"empty row packet", append(encode(1, []byte{1}, colDef, eofp(0)), frame(4, nil)...), false, true, true, "reader: empty row packet"},
		{"malformed OK after a result", append(encode(1, okp(stMoreResults)), frame(2, []byte{0x00, 0xfd})...), false, true, true, "malformed OK packet"},
		{"client down", result, true, true, false, "client: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, _ := newMem(BackendSide, "reader", tt.backend)
			dst, cm := newMem(ClientSide, "client", nil)
			if tt.clientDown {
				cm.werr = errors.New("broken pipe")
			}
			r := NewRelay(src, dst, ComQuery, true)
			_, err := drive(&r, nil)
			if err == nil && tt.clientDown {
				err = dst.Flush()
			}
			if err == nil {
				t.Fatal("no error")
			}
			if ClientFailed(err) != tt.client || IsCut(err) != tt.cut || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err %q (ClientFailed %v, IsCut %v), want %q (ClientFailed %v, IsCut %v)", err, ClientFailed(err), IsCut(err), tt.msg, tt.client, tt.cut)
			}
		})
	}
}

// Relaying a result set allocates nothing once the buffers are warm, in
// either framing, with or without a metadata cache.
func TestRelayAllocatesNothing(t *testing.T) {
	resp := encode(1, []byte{1}, colDef, eofp(0), row, row, row, eofp(0))
	for i := range 4 {
		deprecateEOF, cache := i&1 != 0, i&2 != 0
		in := bytes.NewReader(resp)
		src := NewConn(&memConn{in: in}, BackendSide, "reader", 4096, 4096)
		dst := NewConn(&memConn{}, ClientSide, "client", 64, 4096)
		dst.DeprecateEOF, dst.CacheMetadata = deprecateEOF, cache
		meta := &MetaCache{}
		parts := make([]Part, 0, 4)
		run := func() {
			in.Reset(resp)
			r := NewRelay(src, dst, 0x17, false)
			if cache {
				r.Meta = meta
			}
			if _, err := drive(&r, parts[:0]); err != nil {
				t.Fatal(err)
			}
			_ = dst.Flush()
			dst.conn.(*memConn).out.Reset()
		}
		run()
		if n := testing.AllocsPerRun(100, run); n != 0 {
			t.Fatalf("DeprecateEOF %v, cache %v: %v allocations per result set", deprecateEOF, cache, n)
		}
	}
}

// Whatever a backend sends, the relay neither panics nor loops: it ends
// with a part that ends the response or an error.
func FuzzRelay(f *testing.F) {
	f.Add(encode(1, []byte{1}, colDef, eofp(0), row, eofp(0)), byte(ComQuery))
	f.Add(encode(1, okp(stMoreResults), errp), byte(0x17))
	f.Add(encode(1, []byte{0xfb}, okp(0)), byte(ComQuery))
	f.Add(encode(1, []byte{0x00, 1, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0}, colDef, eofp(0)), byte(ComStmtPrepare))
	f.Add(encode(1, []byte{1}, colDef, eofp(0), row, eofp(0)), byte(ComQuery|0x80))
	f.Add(encode(1, []byte{0x00, 1, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0}, colDef, eofp(0), colDef, colDef, eofp(0)), byte(ComStmtPrepare|0x80))
	f.Add(encode(1, progress, []byte{1}, colDef, eofp(0), progress, row, eofp(0)), byte(ComQuery|0x40))
	f.Fuzz(func(t *testing.T, backend []byte, cmd byte) {
		src, _ := newMem(BackendSide, "reader", backend)
		dst, _ := newMem(ClientSide, "client", encode(1, []byte{}))
		dst.DeprecateEOF = cmd&0x80 != 0 // no command has the high bit: both framings
		src.Progress = cmd&0x40 != 0     // nor 0x40: with and without progress reports
		cmd &^= 0x80 | 0x40
		r := NewRelay(src, dst, cmd, true)
		if dst.CacheMetadata = len(backend)%2 == 1; dst.CacheMetadata { // and with a metadata cache, for half the inputs
			r.Meta = &MetaCache{}
		}
		_, _ = drive(&r, nil)
	})
}
