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

func TestErrRoundTrip(t *testing.T) {
	e := routeErr(route.NotSupported("XA"))
	got := parseErr(appendErr(nil, e))
	if got.code != 1235 || got.state != "42000" || got.msg != e.msg {
		t.Fatalf("%+v", got)
	}
}

func TestPatchHandshakeCaps(t *testing.T) {
	// header, protocol 10, version, NUL, conn id, scramble 8, filler, caps lo, charset, status, caps hi
	p := []byte{0, 0, 0, 0, 10}
	p = append(p, "10.11.19-MariaDB"...)
	p = append(p, 0, 1, 0, 0, 0)
	p = append(p, 1, 2, 3, 4, 5, 6, 7, 8, 0)
	p = append(p, 0xff, 0xf7, 45, 2, 0, 0x81, 0x01)
	patchHandshakeCaps(p, 1<<16)
	if p[len(p)-2] != 0x81|1 {
		t.Fatalf("upper caps not patched: %x", p[len(p)-2:])
	}
	q := []byte{0, 0, 0, 0, 9}
	patchHandshakeCaps(q, 1<<16) // not a v10 handshake: untouched
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

// An OK packet as MariaDB 10.11 sends it after an autocommit INSERT with
// last_gtid tracked: the session keeps the GTID for SESSION reads.
func TestOwnGTIDFromOKPacket(t *testing.T) {
	state := []byte{0, 20, 9, 'l', 'a', 's', 't', '_', 'g', 't', 'i', 'd', 9, '0', '-', '1', '-', '1', '2', '0', '3', '0'}
	pkt := []byte{0x00, 1, 5, 0x02 | 0x40, 0x40, 0, 0, 0} // affected 1, id 5, AUTOCOMMIT|STATE_CHANGED, 0 warnings, empty info
	pkt = append(pkt, byte(len(state)))
	pkt = append(pkt, state...)
	ok, valid := parseOK(pkt, true)
	if !valid || ok.insertID != 5 {
		t.Fatalf("parse: %+v %v", ok, valid)
	}
	s := &session{srv: &Server{flavor: consistency.MariaDB}}
	s.noteOwnGTID(ok.stateInfo)
	if s.ownGTIDs == nil || s.ownGTIDs.String() != "0-1-12030" {
		t.Fatalf("own GTIDs %v", s.ownGTIDs)
	}
}
