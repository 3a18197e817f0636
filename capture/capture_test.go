package capture

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Packets of server responses, payloads only.
func okP(affected byte, status uint16) []byte {
	return []byte{0x00, affected, 0, byte(status), byte(status >> 8), 0, 0}
}
func errP(code uint16) []byte {
	return append([]byte{0xff, byte(code), byte(code >> 8), '#'}, "HY000oops"...)
}

// progressP is MariaDB's progress report: stage 1 of 2, 50 %, a state.
func progressP() []byte {
	return append([]byte{0xff, 0xff, 0xff, 1, 1, 2, 0x50, 0xc3, 0x00, 9}, "copy data"...)
}
func eofP(status uint16) []byte { return []byte{0xfe, 0, 0, byte(status), byte(status >> 8)} }
func colsP(n byte) []byte       { return []byte{n} }
func defP() []byte              { return append([]byte{3}, "def\x00\x00\x00\x01a\x01a\x0c"...) }
func rowP() []byte              { return []byte{1, '7'} }
func prepOKP(id uint32, cols, params uint16) []byte {
	b := []byte{0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[1:], id)
	binary.LittleEndian.PutUint16(b[5:], cols)
	binary.LittleEndian.PutUint16(b[7:], params)
	return b
}

func resultSet(rows int, status uint16) [][]byte {
	ps := [][]byte{colsP(1), defP(), eofP(0)}
	for i := 0; i < rows; i++ {
		ps = append(ps, rowP())
	}
	return append(ps, eofP(status))
}

func cat(parts ...[][]byte) [][]byte {
	var out [][]byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// stream frames payloads as packets with headers.
func stream(ps [][]byte) []byte {
	var b []byte
	for i, p := range ps {
		b = append(b, byte(len(p)), byte(len(p)>>8), byte(len(p)>>16), byte(i+1))
		b = append(b, p...)
	}
	return b
}

func TestResponse(t *testing.T) {
	for _, c := range []struct {
		name    string
		cmd     byte
		packets [][]byte
		want    Result
	}{
		{"ok", comQuery, [][]byte{okP(3, 0)}, Result{Affected: 3}},
		{"error", comQuery, [][]byte{errP(1062)}, Result{Error: 1062}},
		{"rows", comQuery, resultSet(2, 0), Result{Rows: 2, Sets: 1}},
		{"no rows", comQuery, resultSet(0, 0), Result{Sets: 1}},
		{"batch", comQuery, cat([][]byte{okP(1, statusMoreResults)}, resultSet(1, statusMoreResults), [][]byte{okP(2, 0)}),
			Result{Affected: 3, Rows: 1, Sets: 1}},
		{"error mid-batch", comQuery, [][]byte{okP(1, statusMoreResults), errP(1146)}, Result{Affected: 1, Error: 1146}},
		{"error mid-rows", comQuery, [][]byte{colsP(1), defP(), eofP(0), rowP(), errP(1317)}, Result{Rows: 1, Sets: 1, Error: 1317}},
		{"prepare", comStmtPrepare, [][]byte{prepOKP(7, 1, 2), defP(), defP(), eofP(0), defP(), eofP(0)}, Result{Stmt: 7, Params: 2}},
		{"prepare no columns", comStmtPrepare, [][]byte{prepOKP(8, 0, 1), defP(), eofP(0)}, Result{Stmt: 8, Params: 1}},
		{"prepare error", comStmtPrepare, [][]byte{errP(1064)}, Result{Error: 1064}},
		{"execute cursor", comStmtExecute, [][]byte{colsP(1), defP(), eofP(statusCursorExists)}, Result{Sets: 1}},
		{"fetch", comStmtFetch, [][]byte{rowP(), rowP(), eofP(0)}, Result{Rows: 2}},
		{"statistics", comStatistics, [][]byte{[]byte("Uptime: 1")}, Result{}},
		{"set option", comSetOption, [][]byte{eofP(0)}, Result{}},
		{"field list", comFieldList, [][]byte{defP(), defP(), eofP(0)}, Result{}},
		{"change user", comChangeUser, [][]byte{append([]byte{0xfe}, "mysql_native_password\x00salt"...), okP(0, 0)}, Result{}},
		{"local infile", comQuery, [][]byte{append([]byte{0xfb}, "f.csv"...), okP(5, 0)}, Result{Affected: 5}},
		{"progress", comQuery, [][]byte{progressP(), progressP(), okP(4, 0)}, Result{Affected: 4}},
		{"progress mid-rows", comQuery, [][]byte{colsP(1), defP(), eofP(0), progressP(), rowP(), progressP(), eofP(0)}, Result{Rows: 1, Sets: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Packet by packet, and as a stream cut at every byte.
			r := NewResponse(c.cmd, false, false)
			for i, p := range c.packets {
				if done := r.Packet(p[:min(len(p), headBytes)], len(p)); done != (i == len(c.packets)-1) {
					t.Fatalf("packet %d: done %v", i, done)
				}
			}
			if r.Result != c.want {
				t.Errorf("packets: got %+v, want %+v", r.Result, c.want)
			}
			s := stream(c.packets)
			r = NewResponse(c.cmd, false, false)
			var f framer
			for i := range s {
				f.write(s[i:i+1], func(h []byte, n int) { r.Packet(h, n) })
			}
			if !r.Done() || r.Result != c.want {
				t.Errorf("stream: done %v, got %+v, want %+v", r.Done(), r.Result, c.want)
			}
		})
	}
}

func TestResponseDeprecateEOF(t *testing.T) {
	r := NewResponse(comQuery, true, false)
	for _, p := range [][]byte{colsP(1), defP(), rowP(), rowP(), {0xfe, 0, 0, 0, 0, 0, 0}} {
		r.Packet(p, len(p))
	}
	if !r.Done() || r.Result != (Result{Rows: 2, Sets: 1}) {
		t.Errorf("got %v %+v", r.Done(), r.Result)
	}
}

// With MARIADB_CLIENT_CACHE_METADATA a column count is followed by the
// metadata-follows byte: 1, the definitions follow; 0, they do not (the
// client has them), and the EOF after them still comes without
// CLIENT_DEPRECATE_EOF.
func TestResponseCacheMetadata(t *testing.T) {
	okEOF := []byte{0xfe, 0, 0, 0, 0, 0, 0}
	for _, c := range []struct {
		name         string
		deprecateEOF bool
		packets      [][]byte
	}{
		{"definitions", false, [][]byte{{1, 1}, defP(), eofP(0), rowP(), eofP(0)}},
		{"none", false, [][]byte{{1, 0}, eofP(0), rowP(), eofP(0)}},
		{"definitions, CLIENT_DEPRECATE_EOF", true, [][]byte{{1, 1}, defP(), rowP(), okEOF}},
		{"none, CLIENT_DEPRECATE_EOF", true, [][]byte{{1, 0}, rowP(), okEOF}},
	} {
		r := NewResponse(comStmtExecute, c.deprecateEOF, true)
		for i, p := range c.packets {
			if done := r.Packet(p, len(p)); done != (i == len(c.packets)-1) {
				t.Fatalf("%s: packet %d: done %v", c.name, i, done)
			}
		}
		if r.Result != (Result{Rows: 1, Sets: 1}) {
			t.Errorf("%s: got %+v", c.name, r.Result)
		}
	}
}

// A row of the maximum packet size continues in the next packet: one row.
func TestFramerContinuation(t *testing.T) {
	big := make([]byte, maxPayload)
	big[0] = 0xfc
	var s []byte
	s = append(s, stream(resultSet(0, 0)[:3])...)
	s = append(s, 0xff, 0xff, 0xff, 4)
	s = append(s, big...)
	s = append(s, 1, 0, 0, 5, 'x')
	s = append(s, stream([][]byte{eofP(0)})...)
	r := NewResponse(comQuery, false, false)
	var f framer
	for len(s) > 0 {
		k := min(len(s), 70000)
		f.write(s[:k], func(h []byte, n int) { r.Packet(h, n) })
		s = s[k:]
	}
	if !r.Done() || r.Result.Rows != 1 {
		t.Errorf("got done %v %+v", r.Done(), r.Result)
	}
}

func executePacket(id uint32, types []byte, nulls byte, values []byte) []byte {
	b := []byte{comStmtExecute, 0, 0, 0, 0, 0, 1, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[1:], id)
	b = append(b, nulls)
	if types != nil {
		b = append(b, 1)
		b = append(b, types...)
	} else {
		b = append(b, 0)
	}
	return append(b, values...)
}

func str(s string) *string { return &s }

func TestDescribe(t *testing.T) {
	stmts := map[uint32]*prepared{
		5: {sql: "SELECT ?, ?, ?, ?", params: 4},
		6: {sql: "ALTER USER bob IDENTIFIED BY '<redacted>'", redacted: true},
	}
	values := []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff} // -2 as LONGLONG
	values = append(values, 3, 'a', 'b', 'c')                        // VARCHAR
	values = append(values, 4, 0xea, 0x07, 12, 4)                    // DATE 2026-12-04
	exec := executePacket(5, []byte{typeLongLong, 0, 15, 0, typeDate, 0, typeNull, 0}, 0x08, values)
	for _, c := range []struct {
		name string
		data []byte
		want Record
	}{
		{"query", append([]byte{comQuery}, "SELECT 1"...), Record{Name: "query", SQL: "SELECT 1"}},
		{"password", append([]byte{comQuery}, "SET PASSWORD = PASSWORD('hunter2')"...),
			Record{Name: "query", SQL: "SET PASSWORD = PASSWORD('<redacted>')", Redacted: true}},
		{"init_db", append([]byte{comInitDB}, "shop"...), Record{Name: "init_db", SQL: "shop"}},
		{"change_user", append([]byte{comChangeUser}, "bob\x00\x14secretsecretsecret12shop\x00"...), Record{Name: "change_user", User: "bob"}},
		{"execute", exec, Record{Name: "execute", SQL: "SELECT ?, ?, ?, ?", Stmt: 5,
			Params: []*string{str("-2"), str("abc"), str("2026-12-04"), nil}, Packet: exec}},
		{"execute redacted", executePacket(6, nil, 0, nil), Record{Name: "execute", SQL: stmts[6].sql, Stmt: 6, Redacted: true}},
		{"close", []byte{comStmtClose, 5, 0, 0, 0}, Record{Name: "close_stmt", SQL: "SELECT ?, ?, ?, ?", Stmt: 5}},
		{"unknown", []byte{0x55}, Record{Name: "other"}},
		{"close -1: the statement prepared last", []byte{comStmtClose, 0xff, 0xff, 0xff, 0xff}, Record{Name: "close_stmt", SQL: "SELECT ?, ?, ?, ?", Stmt: 5}},
	} {
		var got Record
		describe(&got, c.data, stmts, 5)
		if g, w := dump(got), dump(c.want); g != w {
			t.Errorf("%s: got %s, want %s", c.name, g, w)
		}
	}
	// A second execute without types reuses the first's.
	again := executePacket(5, nil, 0x0f, nil)
	var got Record
	describe(&got, again, stmts, 0)
	if len(got.Params) != 4 || got.Params[0] != nil {
		t.Errorf("execute without types: %s", dump(got))
	}
}

func dump(r Record) string {
	var b bytes.Buffer
	w := newWriter(&b, nil, 1<<20, time.Unix(0, 0), nil)
	w.add(&r)
	_ = w.out.Flush()
	_, line, _ := strings.Cut(b.String(), "\n")
	return strings.TrimSpace(line)
}

// A session through a tapped connection: the file holds connect, the
// commands with their results, and disconnect, and reads back. The client
// has MariaDB's metadata cache, and executes with id -1 (the statement
// prepared last) too.
func TestSessionRoundTrip(t *testing.T) {
	var b bytes.Buffer
	w := newWriter(&b, nil, 1<<20, time.Now(), nil)
	s := w.Open(9, Client{User: "app", DB: "shop", Program: "checkout", CacheMetadata: true})
	server, client := net.Pipe()
	defer client.Close()
	go func() { _, _ = io.Copy(io.Discard, client) }()
	tap := s.Tap(server)
	for _, step := range []struct {
		cmd  []byte
		resp [][]byte
	}{
		{append([]byte{comQuery}, "INSERT INTO t VALUES (1)"...), [][]byte{okP(1, 0)}},
		{append([]byte{comStmtPrepare}, "SELECT * FROM t WHERE id = ?"...), [][]byte{prepOKP(1, 1, 1), defP(), eofP(0), defP(), eofP(0)}},
		{executePacket(1, []byte{typeLong, 0}, 0, []byte{1, 0, 0, 0}), [][]byte{{1, 1}, defP(), eofP(0), rowP(), eofP(0)}},
		{executePacket(0xffffffff, []byte{typeLong, 0}, 0, []byte{2, 0, 0, 0}), [][]byte{{1, 0}, eofP(0), rowP(), rowP(), eofP(0)}},
		{append([]byte{comQuery}, "SELECT nope"...), [][]byte{errP(1054)}},
	} {
		s.Command(step.cmd)
		if _, err := tap.Write(stream(step.resp)); err != nil {
			t.Fatal(err)
		}
		s.Done()
	}
	s.Close()
	_ = w.out.Flush()
	recs := readBack(t, &b)
	var got []string
	for _, r := range recs {
		line := string(r.Kind) + " " + r.Name + " " + r.SQL
		if r.Params != nil {
			line += " [" + *r.Params[0] + "]"
		}
		if r.Result != nil {
			res := *r.Result
			res.DurUS = 0
			line += " " + dump(Record{Result: &res})
		}
		got = append(got, strings.TrimSpace(line))
	}
	want := []string{
		"connect",
		`command query INSERT INTO t VALUES (1) {"kind":"","at_us":0,"result":{"affected":1,"dur_us":0}}`,
		`command prepare SELECT * FROM t WHERE id = ? {"kind":"","at_us":0,"result":{"stmt":1,"params":1,"dur_us":0}}`,
		`command execute SELECT * FROM t WHERE id = ? [1] {"kind":"","at_us":0,"result":{"rows":1,"sets":1,"dur_us":0}}`,
		`command execute SELECT * FROM t WHERE id = ? [2] {"kind":"","at_us":0,"result":{"rows":2,"sets":1,"dur_us":0}}`,
		`command query SELECT nope {"kind":"","at_us":0,"result":{"error":1054,"dur_us":0}}`,
		"disconnect",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if recs[0].User != "app" || recs[0].DB != "shop" || recs[0].Program != "checkout" {
		t.Errorf("connect: %+v", recs[0])
	}
}

// At the limit the capture writes "stopped", stays within it, and calls
// onStop once.
func TestWriterLimit(t *testing.T) {
	var b bytes.Buffer
	stops := make(chan Stats, 2)
	const max = 2000
	w := newWriter(&b, nil, max, time.Now(), func(st Stats) { stops <- st })
	s := w.Open(1, Client{User: "u"})
	for i := 0; i < 100; i++ {
		s.Command(append([]byte{comQuery}, "SELECT 'some padding to fill the file'"...))
		s.Done()
	}
	s.Close()
	_ = w.out.Flush()
	if b.Len() > max {
		t.Errorf("file is %d bytes, limit %d", b.Len(), max)
	}
	st := <-stops
	if !st.Stopped || !w.Stats().Stopped || w.Stats().Records == 0 {
		t.Errorf("stats %+v", st)
	}
	recs := readBack(t, &b)
	if last := recs[len(recs)-1]; last.Kind != Stopped {
		t.Errorf("last record %+v", last)
	}
	select {
	case st := <-stops:
		t.Errorf("onStop called twice: %+v", st)
	default:
	}
}

func TestReaderErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "empty file"},
		{"{}\n", "not a capture file"},
		{`{"capture":2}` + "\n", "format version 2"},
		{`{"capture":1}` + "\n" + `{"kind":"what"}` + "\n", `unknown record kind "what"`},
		{`{"capture":1}` + "\n" + `{"kind":` + "\n", "capture: unexpected end"},
	} {
		rd, err := NewReader(strings.NewReader(c.in))
		if err == nil {
			_, err = rd.ReadAll()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.in, err, c.want)
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte(`{"capture":1,"start":"x"}` + "\n" + `{"kind":"connect","session":1,"at_us":0,"user":"u"}` + "\n" +
		`{"kind":"command","session":1,"at_us":5,"command":"execute","stmt":1,"params":["1",null],"packet":"FwEAAAA=","result":{"rows":1,"dur_us":3}}`))
	f.Add([]byte(`{"capture":1}` + "\n\n" + `{"kind":"stopped"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		recs, _ := rd.ReadAll()
		for _, r := range recs {
			switch r.Kind {
			case Connect, Command, Disconnect, Stopped:
			default:
				t.Fatalf("record of kind %q returned", r.Kind)
			}
		}
	})
}

func readBack(t *testing.T, r io.Reader) []Record {
	t.Helper()
	rd, err := NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := rd.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// A session that ends in the middle of a response leaves its command
// without a result, not with a partial one.
func TestSessionEndsMidResponse(t *testing.T) {
	var b bytes.Buffer
	w := newWriter(&b, nil, 1<<20, time.Now(), nil)
	s := w.Open(1, Client{User: "u"})
	server, client := net.Pipe()
	defer client.Close()
	go func() { _, _ = io.Copy(io.Discard, client) }()
	s.Command(append([]byte{comQuery}, "SELECT * FROM big"...))
	if _, err := s.Tap(server).Write(stream(resultSet(3, 0)[:4])); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_ = w.out.Flush()
	recs := readBack(t, &b)
	if len(recs) != 3 || recs[1].Kind != Command || recs[1].Result != nil || recs[2].Kind != Disconnect {
		t.Errorf("records %+v", recs)
	}
}

// What a client sends and what the proxy answers never panic the capture
// (it runs inside the session's loop and its writes): any command bytes,
// then any response bytes.
func FuzzSession(f *testing.F) {
	f.Add(executePacket(1, []byte{typeLong, 0}, 0, []byte{1, 0, 0, 0}), stream(resultSet(1, 0)))
	f.Add(append([]byte{comStmtPrepare}, "SELECT ?"...), stream([][]byte{prepOKP(1, 1, 1), defP(), eofP(0), defP(), eofP(0)}))
	f.Add(append([]byte{comQuery}, "SET PASSWORD = 'x'"...), stream([][]byte{okP(0, statusMoreResults), errP(1)}))
	f.Fuzz(func(t *testing.T, cmd, resp []byte) {
		w := newWriter(io.Discard, nil, 1<<20, time.Now(), nil)
		s := w.Open(1, Client{})
		s.stmts[1] = &prepared{sql: "SELECT ?, ?", params: 2}
		server, client := net.Pipe()
		defer client.Close()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		tap := s.Tap(server)
		for i := 0; i < 2; i++ { // the second execute reuses the first's types
			s.Command(cmd)
			_, _ = tap.Write(resp)
			s.Done()
		}
		s.Close()
		server.Close()
	})
}
