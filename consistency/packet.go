package consistency

import "encoding/binary"

// Protocol constants used here; kept local so this file has no deps.
const (
	serverSessionStateChanged = 0x4000 // SERVER_SESSION_STATE_CHANGED

	trackSystemVariables = 0 // SESSION_TRACK_SYSTEM_VARIABLES
	trackGTIDs           = 3 // SESSION_TRACK_GTIDS
)

// readLenEnc decodes a length-encoded integer. 0xfb (NULL) and 0xff are
// not valid lengths in an OK packet, so they fail.
func readLenEnc(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch c := b[0]; {
	case c < 0xfb:
		return uint64(c), 1, true
	case c == 0xfc:
		if len(b) < 3 {
			return 0, 0, false
		}
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3, true
	case c == 0xfd:
		if len(b) < 4 {
			return 0, 0, false
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4, true
	case c == 0xfe:
		if len(b) < 9 {
			return 0, 0, false
		}
		return binary.LittleEndian.Uint64(b[1:]), 9, true
	}
	return 0, 0, false
}

// readLenEncBytes decodes a length-encoded string; the result aliases b.
func readLenEncBytes(b []byte) (s []byte, n int, ok bool) {
	l, n, ok := readLenEnc(b)
	if !ok || l > uint64(len(b)-n) {
		return nil, 0, false
	}
	end := n + int(l)
	return b[n:end:end], end, true
}

// SessionState returns the session-state part of an OK packet payload:
// the bytes after the info string, starting with their length prefix,
// which is what Flavor.OwnGTID takes. It assumes CLIENT_PROTOCOL_41 and
// CLIENT_SESSION_TRACK were negotiated (the proxy's writer connections
// always ask for both). Header 0xFE (OK sent as EOF under
// CLIENT_DEPRECATE_EOF) is accepted; a classic 5-byte EOF is not.
// The result aliases ok; ok is false when no state change is flagged.
func SessionState(ok []byte) ([]byte, bool) {
	if len(ok) < 7 || (ok[0] != 0x00 && ok[0] != 0xfe) {
		return nil, false
	}
	pos := 1
	for range 2 { // affected rows, last insert id
		_, n, good := readLenEnc(ok[pos:])
		if !good {
			return nil, false
		}
		pos += n
	}
	if len(ok)-pos < 4 {
		return nil, false
	}
	status := binary.LittleEndian.Uint16(ok[pos:])
	pos += 4 // status, warnings
	if status&serverSessionStateChanged == 0 {
		return nil, false
	}
	_, n, good := readLenEncBytes(ok[pos:]) // info
	if !good {
		return nil, false
	}
	pos += n
	if _, _, good := readLenEncBytes(ok[pos:]); !good {
		return nil, false
	}
	return ok[pos:], true
}

// eachTrackEntry calls fn for every entry of a session-state blob
// (length-prefixed, as SessionState returns it). It stops early when fn
// returns false, and reports false if the blob is malformed.
func eachTrackEntry(stateInfo []byte, fn func(typ byte, data []byte) bool) bool {
	blob, _, ok := readLenEncBytes(stateInfo)
	if !ok {
		return false
	}
	for len(blob) > 0 {
		typ := blob[0]
		data, n, ok := readLenEncBytes(blob[1:])
		if !ok {
			return false
		}
		blob = blob[1+n:]
		if !fn(typ, data) {
			return true
		}
	}
	return true
}
