// Package wire is the MySQL protocol's mechanics for the proxy: packet
// framing and sequence numbers (Conn), failures labelled with the
// connection they happened on (Error), relaying a response until its end
// (Relay), and the OK packet that consistency reads too. It decides
// nothing and imports nothing of the project.
package wire

import "encoding/binary"

// Session-state entry types (SESSION_TRACK_*) that fwdproxy reads or writes.
const (
	TrackSystemVariables = 0 // name and value of a tracked variable
	TrackSchema          = 1 // the current database
	TrackGTIDs           = 3 // MySQL's session_track_gtids
)

// serverSessionStateChanged is the status flag that says a
// session-state block follows the info string.
const serverSessionStateChanged = 0x4000

// OK is what an OK packet says. Info and SessionState alias the packet.
type OK struct {
	AffectedRows uint64
	InsertID     uint64
	Status       uint16
	Warnings     uint16
	Info         []byte
	// SessionState is the session-state block (CLIENT_SESSION_TRACK)
	// without its length prefix: the entries EachStateEntry reads. nil
	// when the server flagged no change.
	SessionState []byte
}

// ParseOK decodes an OK packet payload: header 0x00, or 0xfe for the OK
// that ends a result under CLIENT_DEPRECATE_EOF (a classic 5-byte EOF is
// not an OK). sessionTrack says whether the connection negotiated
// CLIENT_SESSION_TRACK: with it a session-state block may follow the
// length-prefixed info string; without it the info is all that follows.
// A packet that ends after the insert id is accepted, as old servers send
// it.
func ParseOK(data []byte, sessionTrack bool) (OK, bool) {
	var ok OK
	if len(data) == 0 || (data[0] != 0x00 && data[0] != 0xfe) {
		return ok, false
	}
	pos := 1
	var n int
	var good bool
	if ok.AffectedRows, n, good = LenEncInt(data[pos:]); !good {
		return ok, false
	}
	pos += n
	if ok.InsertID, n, good = LenEncInt(data[pos:]); !good {
		return ok, false
	}
	pos += n
	if pos == len(data) {
		return ok, true
	}
	if len(data)-pos < 4 {
		return ok, false
	}
	ok.Status = binary.LittleEndian.Uint16(data[pos:])
	ok.Warnings = binary.LittleEndian.Uint16(data[pos+2:])
	pos += 4
	if !sessionTrack {
		// Servers length-prefix the info here too (net_send_ok); a packet
		// whose rest is not one length-prefixed string keeps it whole.
		ok.Info = data[pos:]
		if info, n, good := LenEncString(ok.Info); good && n == len(ok.Info) {
			ok.Info = info
		}
		return ok, true
	}
	if pos == len(data) {
		return ok, true
	}
	if ok.Info, n, good = LenEncString(data[pos:]); !good {
		return ok, false
	}
	pos += n
	if ok.Status&serverSessionStateChanged != 0 && pos < len(data) {
		if ok.SessionState, _, good = LenEncString(data[pos:]); !good {
			return ok, false
		}
	}
	return ok, true
}

// EachStateEntry calls fn with the type (SESSION_TRACK_*) and data of
// every entry of a session-state block (OK.SessionState). It stops early
// when fn returns false, and reports false if the block is malformed.
func EachStateEntry(state []byte, fn func(typ byte, data []byte) bool) bool {
	for len(state) > 0 {
		typ := state[0]
		data, n, ok := LenEncString(state[1:])
		if !ok {
			return false
		}
		state = state[1+n:]
		if !fn(typ, data) {
			return true
		}
	}
	return true
}

// LenEncString reads the length-encoded string at the start of b: the
// string, which aliases b, and the bytes it took.
func LenEncString(b []byte) (s []byte, n int, ok bool) {
	l, n, ok := LenEncInt(b)
	if !ok || l > uint64(len(b)-n) {
		return nil, 0, false
	}
	end := n + int(l)
	return b[n:end:end], end, true
}

// LenEncInt reads a length-encoded integer (bounds-checked, unlike
// go-mysql's, which panics on a short packet). 0xfb (NULL) and 0xff are not
// valid in an OK packet, so they fail.
func LenEncInt(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch c := b[0]; {
	case c < 0xfb:
		return uint64(c), 1, true
	case c == 0xfc && len(b) >= 3:
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3, true
	case c == 0xfd && len(b) >= 4:
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4, true
	case c == 0xfe && len(b) >= 9:
		return binary.LittleEndian.Uint64(b[1:]), 9, true
	}
	return 0, 0, false
}
