package proxy

import (
	"bytes"
	"crypto/sha1"
	"testing"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/route"
)

func TestOKRoundTrip(t *testing.T) {
	for _, track := range []bool{false, true} {
		in := okPacket{affectedRows: 300, insertID: 1 << 20, status: statusAutocommit | statusInTrans, warnings: 2, info: []byte("Rows matched: 1")}
		if track {
			in.status |= statusSessionStateChg
			in.stateInfo = []byte{0, 3, 1, 'x', 0}
		}
		b := appendOK(nil, in, track)
		out, ok := parseOK(b, track)
		if !ok {
			t.Fatalf("track=%v: not parsed", track)
		}
		if out.affectedRows != in.affectedRows || out.insertID != in.insertID || out.status != in.status ||
			out.warnings != in.warnings || !bytes.Equal(out.info, in.info) || !bytes.Equal(out.stateInfo, in.stateInfo) {
			t.Fatalf("track=%v: %+v != %+v", track, out, in)
		}
	}
}

func TestOKStripsTrackingForPlainClients(t *testing.T) {
	in := okPacket{affectedRows: 1, status: statusAutocommit | statusSessionStateChg, stateInfo: []byte{0, 1, 2}}
	out, ok := parseOK(appendOK(nil, in, false), false)
	if !ok || out.status&statusSessionStateChg != 0 || len(out.info) != 0 {
		t.Fatalf("tracker data leaked to a client without CLIENT_SESSION_TRACK: %+v", out)
	}
}

// A forwarded UPDATE's OK comes from the writer, which always tracks
// session state; a client without CLIENT_SESSION_TRACK must get it as
// MariaDB would send it, info length-prefixed (PHP mysqlnd lost the
// connection on the unprefixed form).
func TestOKInfoLengthPrefixedForPlainClients(t *testing.T) {
	info := "Rows matched: 3  Changed: 3  Warnings: 0"
	state := []byte{0x00, 0x12, 0x09, 'l', 'a', 's', 't', '_', 'g', 't', 'i', 'd', 0x07, '0', '-', '1', '-', '4', '1', '0'}
	writer := append([]byte{0x00, 0x03, 0x00, 0x23, 0x40, 0x00, 0x00, byte(len(info))}, info...)
	writer = append(append(writer, byte(len(state))), state...)
	ok, valid := parseOK(writer, true)
	if !valid {
		t.Fatal("writer's OK not parsed")
	}
	// What MariaDB 10.11 sends a client without CLIENT_SESSION_TRACK.
	want := append([]byte{0x00, 0x03, 0x00, 0x23, 0x00, 0x00, 0x00, byte(len(info))}, info...)
	if got := appendOK(nil, ok, false); !bytes.Equal(got, want) {
		t.Fatalf("to a plain client:\n got % x\nwant % x", got, want)
	}
	// The same OK read from a plain backend connection goes out unchanged.
	plain, _ := parseOK(want, false)
	if got := appendOK(nil, plain, false); !bytes.Equal(got, want) {
		t.Fatalf("relayed from a plain backend:\n got % x\nwant % x", got, want)
	}
	// No info: nothing after the warnings, as the server does.
	empty := []byte{0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00}
	if got := appendOK(nil, okPacket{affectedRows: 1, status: statusAutocommit}, false); !bytes.Equal(got, empty) {
		t.Fatalf("no info: got % x, want % x", got, empty)
	}
}

func TestErrRoundTrip(t *testing.T) {
	e := routeErr(route.NotSupported("XA"))
	got := parseErr(appendErr(nil, e))
	if got.code != 1235 || got.state != "42000" || got.msg != e.msg {
		t.Fatalf("%+v", got)
	}
}

// go-mysql's greeting says status 0x0000; the proxy's must say what the
// reader's does (MariaDB: 0x0002, AUTOCOMMIT), or PEP 249 drivers skip
// their SET autocommit=0 and rollback() does nothing. Flags are added and
// cleared (MariaDB's greeting has no CLIENT_MYSQL), and MariaDB's extended
// capabilities put in the last 4 reserved bytes.
func TestPatchHandshake(t *testing.T) {
	// header, protocol 10, version, NUL, conn id, scramble 8, filler, caps lo, charset, status, caps hi
	p := []byte{0, 0, 0, 0, 10}
	p = append(p, "10.11.19-MariaDB"...)
	p = append(p, 0, 1, 0, 0, 0)
	p = append(p, 1, 2, 3, 4, 5, 6, 7, 8, 0)
	p = append(p, 0xfd, 0xf7, 45, 0, 0, 0x81, 0x01)
	p = append(p, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	patchHandshake(p, 1<<16|0x02, 0x01|1<<24, extStmtBulk, statusAutocommit)
	if got := p[len(p)-18:]; !bytes.Equal(got, []byte{0xfe, 0xf7, 45, 0x02, 0x00, 0x81 | 1, 0x00,
		21, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0}) {
		t.Fatalf("caps, charset, status, caps, auth length, reserved: % x", got)
	}
	q := []byte{0, 0, 0, 0, 9}
	patchHandshake(q, 1<<16, 0, 0, statusAutocommit) // not a v10 handshake: untouched
	if q[4] != 9 {
		t.Fatal("changed a packet it should ignore")
	}
}

func TestCheckNative(t *testing.T) {
	salt := []byte("01234567890123456789")
	h1 := sha1.Sum([]byte("secret"))
	h2 := sha1.Sum(h1[:])
	k := sha1.Sum(append(append([]byte{}, salt...), h2[:]...))
	reply := make([]byte, 20)
	for i := range reply {
		reply[i] = h1[i] ^ k[i]
	}
	if !checkNative(reply, salt, "secret") || checkNative(reply, salt, "other") {
		t.Fatal("scramble check wrong")
	}
	if !checkNative(nil, salt, "") {
		t.Fatal("empty password")
	}
}

func TestFixExecuteRebindsTypes(t *testing.T) {
	p := &prepared{params: 2}
	// id, flags, iterations, null bitmap (1), bound=1, types (4), values
	first := []byte{comStmtExecute, 9, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 8, 0, 253, 0, 'v'}
	var boundR bool
	out := (&session{}).fixExecute(append([]byte{}, first...), p, 77, &boundR)
	if le32(out[1:]) != 77 || !boundR || len(p.types) != 4 {
		t.Fatalf("first execute: %v %v %v", out, boundR, p.types)
	}
	// Re-execute with new-params-bound = 0 on a backend that never saw the types.
	again := []byte{comStmtExecute, 9, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 'v'}
	var boundW bool
	out = (&session{}).fixExecute(again, p, 5, &boundW)
	want := []byte{comStmtExecute, 5, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 8, 0, 253, 0, 'v'}
	if !bytes.Equal(out, want) || !boundW {
		t.Fatalf("rebound execute:\n got %v\nwant %v", out, want)
	}
	// Same backend again: left as the client sent it.
	again2 := []byte{comStmtExecute, 9, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 'v'}
	if out := (&session{}).fixExecute(again2, p, 5, &boundW); len(out) != len(again2) {
		t.Fatal("types inserted twice")
	}
}

// A writer's OK packets, relayed as the proxy parses them, give the
// session its own GTIDs for SESSION reads; successive commits add up.
func TestOwnGTIDFromOKPacket(t *testing.T) {
	const uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	// okWith is an OK for an autocommit INSERT (affected 1, insert id 5,
	// AUTOCOMMIT|SESSION_STATE_CHANGED, no warnings, empty info) carrying
	// one session-state entry.
	okWith := func(typ byte, data string) []byte {
		entry := append([]byte{typ, byte(len(data))}, data...)
		pkt := []byte{0x00, 1, 5, 0x02, 0x40, 0, 0, 0, byte(len(entry))}
		return append(pkt, entry...)
	}
	lenenc := func(s string) string { return string([]byte{byte(len(s))}) + s } // short strings only
	tests := []struct {
		name    string
		flavor  consistency.Flavor
		packets [][]byte
		want    string
	}{
		// As MariaDB 10.11 sends it with last_gtid tracked.
		{"mariadb", consistency.MariaDB, [][]byte{
			okWith(0, lenenc("last_gtid")+lenenc("0-1-12030")),
		}, "0-1-12030"},
		{"mariadb, two domains", consistency.MariaDB, [][]byte{
			okWith(0, lenenc("last_gtid")+lenenc("0-1-12030")),
			okWith(0, lenenc("last_gtid")+lenenc("5-1-7")),
		}, "0-1-12030,5-1-7"},
		// MySQL 8 with session_track_gtids=OWN_GTID: encoding 0, then the
		// set (layout from MySQL's protocol documentation; consistency's
		// tests check it against go-mysql's encoder and parser).
		{"mysql", consistency.MySQL, [][]byte{
			okWith(3, "\x00"+lenenc(uuid+":23")),
			okWith(3, "\x00"+lenenc(uuid+":24")),
		}, uuid + ":23-24"},
		{"no GTID entry", consistency.MySQL, [][]byte{
			okWith(0, lenenc("autocommit")+lenenc("ON")),
		}, ""},
	}
	for _, tt := range tests {
		s := &session{srv: &Server{flavor: tt.flavor}}
		for _, pkt := range tt.packets {
			ok, valid := parseOK(pkt, true)
			if !valid || ok.insertID != 5 {
				t.Fatalf("%s: parse: %+v %v", tt.name, ok, valid)
			}
			s.noteOwnGTID(ok.stateInfo)
		}
		got := ""
		if s.ownGTIDs != nil {
			got = s.ownGTIDs.String()
		}
		if got != tt.want {
			t.Errorf("%s: own GTIDs %q, want %q", tt.name, got, tt.want)
		}
	}
}
