package wire

import (
	"bytes"
	"testing"
)

func TestParseOK(t *testing.T) {
	tests := []struct {
		name  string
		track bool
		in    []byte
		valid bool
		want  OK
	}{
		{"empty", true, nil, false, OK{}},
		{"ERR", true, []byte{0xff, 0x15, 0x04, '#', 'H', 'Y', '0', '0', '0'}, false, OK{}},
		{"classic EOF", true, []byte{0xfe, 0x00, 0x00, 0x02, 0x40}, false, OK{}},
		{"ends after insert id", true, []byte{0x00, 0x01, 0x02}, true, OK{AffectedRows: 1, InsertID: 2}},
		{"status cut short", true, []byte{0x00, 0x01, 0x02, 0x02}, false, OK{}},
		{"no flag, info", true, []byte{0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 'x'},
			true, OK{Status: 2, Info: []byte("x")}},
		{"flag, no info", true, []byte{0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00}, true, OK{Status: 0x4000}},
		{"flag, state", true, []byte{0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00},
			true, OK{Status: 0x4000, Info: []byte{}, SessionState: []byte{0x02, 0x00}}},
		{"flag, empty state", true, []byte{0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00},
			true, OK{Status: 0x4000, Info: []byte{}, SessionState: []byte{}}},
		{"flag, state truncated", true, []byte{0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x03, 0x02, 0x00}, false, OK{}},
		{"flag, info truncated", true, []byte{0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x05, 'a'}, false, OK{}},
		{"OK as EOF (0xfe)", true, []byte{0xfe, 0x00, 0x00, 0x22, 0x40, 0x01, 0x00, 0x00, 0x01, 0x05},
			true, OK{Status: 0x4022, Warnings: 1, Info: []byte{}, SessionState: []byte{0x05}}},
		{"3-byte affected rows", true, []byte{0x00, 0xfd, 0x01, 0x02, 0x03, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00},
			true, OK{AffectedRows: 0x030201, Status: 0x4000, Info: []byte{}, SessionState: []byte{}}},
		{"8-byte insert id", true, []byte{0x00, 0x00, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 0x02, 0x00, 0x00, 0x00},
			true, OK{InsertID: 0x0807060504030201, Status: 2}},
		{"2-byte length cut short", true, []byte{0x00, 0xfc, 0x01}, false, OK{}},
		{"NULL length", true, []byte{0x00, 0xfb, 0x00, 0x02, 0x00, 0x00, 0x00}, false, OK{}},
		{"bad length 0xff", true, []byte{0x00, 0xff, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00}, false, OK{}},
		// Without CLIENT_SESSION_TRACK, MariaDB 10.11 sends an UPDATE's OK as
		// 00 03 00 23 00 00 00 28 "Rows matched: 3  Changed: 3  Warnings: 0".
		{"no CLIENT_SESSION_TRACK: length-prefixed info", false, append([]byte{0x00, 0x03, 0x00, 0x23, 0x00, 0x00, 0x00, 0x28},
			"Rows matched: 3  Changed: 3  Warnings: 0"...), true, OK{AffectedRows: 3, Status: 0x23, Info: []byte("Rows matched: 3  Changed: 3  Warnings: 0")}},
		{"no CLIENT_SESSION_TRACK: no info", false, []byte{0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00}, true, OK{AffectedRows: 1, Status: 2}},
		{"no CLIENT_SESSION_TRACK: unprefixed rest kept whole", false, []byte{0x00, 0x01, 0x00, 0x02, 0x40, 0x00, 0x00, 0x01, 0x02, 0x03},
			true, OK{AffectedRows: 1, Status: 0x4002, Info: []byte{0x01, 0x02, 0x03}}},
	}
	for _, tt := range tests {
		got, valid := ParseOK(tt.in, tt.track)
		if valid != tt.valid {
			t.Errorf("%s: valid = %v, want %v", tt.name, valid, tt.valid)
			continue
		}
		if !valid {
			continue
		}
		if got.AffectedRows != tt.want.AffectedRows || got.InsertID != tt.want.InsertID ||
			got.Status != tt.want.Status || got.Warnings != tt.want.Warnings ||
			!bytes.Equal(got.Info, tt.want.Info) || !bytes.Equal(got.SessionState, tt.want.SessionState) ||
			(got.SessionState == nil) != (tt.want.SessionState == nil) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestEachStateEntry(t *testing.T) {
	type entry struct {
		typ  byte
		data string
	}
	tests := []struct {
		name  string
		state []byte
		stop  int // stop after this many entries (0: never)
		want  []entry
		valid bool
	}{
		{"empty", nil, 0, nil, true},
		{"two entries", []byte{0x00, 0x02, 'a', 'b', 0x03, 0x01, 'c'}, 0, []entry{{0, "ab"}, {3, "c"}}, true},
		{"stop after the first", []byte{0x00, 0x02, 'a', 'b', 0x03, 0x01, 'c'}, 1, []entry{{0, "ab"}}, true},
		{"second entry cut", []byte{0x00, 0x02, 'a', 'b', 0x03, 0x02, 'c'}, 0, []entry{{0, "ab"}}, false},
		{"type without length", []byte{0x05}, 0, nil, false},
	}
	for _, tt := range tests {
		var got []entry
		valid := EachStateEntry(tt.state, func(typ byte, data []byte) bool {
			got = append(got, entry{typ, string(data)})
			return len(got) != tt.stop
		})
		if valid != tt.valid || len(got) != len(tt.want) {
			t.Errorf("%s: %v %v, want %v %v", tt.name, got, valid, tt.want, tt.valid)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: entry %d = %v, want %v", tt.name, i, got[i], tt.want[i])
			}
		}
	}
}

// Whatever a backend sends, ParseOK neither panics nor hands out slices
// from outside the packet.
func FuzzParseOK(f *testing.F) {
	f.Add([]byte{0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00}, true)
	f.Add([]byte{0x00, 0xfc, 0x01}, false)
	f.Fuzz(func(t *testing.T, data []byte, track bool) {
		ok, valid := ParseOK(data, track)
		if !valid {
			return
		}
		for _, s := range [][]byte{ok.Info, ok.SessionState} {
			if len(s) > 0 && !bytes.Contains(data, s) {
				t.Fatalf("%x is not part of %x", s, data)
			}
		}
		EachStateEntry(ok.SessionState, func(byte, []byte) bool { return true })
	})
}
