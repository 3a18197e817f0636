package proxy

import (
	"bytes"
	"testing"
)

// A bulk execute that relies on types an earlier execute bound gets them
// inserted for a backend that never saw them, once; one that sends types
// records them for the other backend.
func TestFixBulkExecute(t *testing.T) {
	types := []byte{3, 0, 253, 0} // LONG, VAR_STRING
	head := func(flags byte) []byte { return []byte{comStmtBulkExecute, 9, 0, 0, 0, flags, 0} }
	rows := []byte{0, 1, 0, 0, 0, 0, 1, 'a'}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name      string
		in        []byte
		known     []byte // p.types before
		bound     bool   // the backend has seen types
		want      []byte
		wantTypes []byte
	}{
		{"types sent: kept, recorded", cat(head(bulkSendTypes), types, rows), nil, false, cat(head(bulkSendTypes), types, rows), types},
		{"types sent again: recorded anew", cat(head(bulkSendTypes), []byte{8, 0, 253, 0}, rows), types, true, cat(head(bulkSendTypes), []byte{8, 0, 253, 0}, rows), []byte{8, 0, 253, 0}},
		{"no types, backend saw them: as is", cat(head(0), rows), types, true, cat(head(0), rows), types},
		{"no types, backend never saw them: inserted", cat(head(0), rows), types, false, cat(head(bulkSendTypes), types, rows), types},
		{"no types known at all: as is (the server's error)", cat(head(0), rows), nil, false, cat(head(0), rows), nil},
		{"too short: as is", []byte{comStmtBulkExecute, 9, 0}, types, false, []byte{comStmtBulkExecute, 9, 0}, types},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &prepared{params: 2, types: append([]byte(nil), tc.known...), boundR: true, boundW: true}
			bound := tc.bound
			got := fixBulkExecute(append([]byte(nil), tc.in...), p, &bound)
			if !bytes.Equal(got, tc.want) {
				t.Errorf("packet % x, want % x", got, tc.want)
			}
			if !bytes.Equal(p.types, tc.wantTypes) {
				t.Errorf("recorded types % x, want % x", p.types, tc.wantTypes)
			}
			if len(tc.in) >= 7 && len(tc.want) > 0 && (tc.known != nil || tc.in[5]&bulkSendTypes != 0) && !bound {
				t.Error("the backend is not marked as having seen types")
			}
			if tc.in[0] == comStmtBulkExecute && len(tc.in) >= 7 && tc.in[5]&bulkSendTypes != 0 && (p.boundR || p.boundW) {
				t.Error("new types must be sent again to the other backend")
			}
		})
	}
}
