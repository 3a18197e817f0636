package sqlclass

import "testing"

// HasParams finds placeholders, not question marks in strings, quoted
// names or comments.
func TestHasParams(t *testing.T) {
	for sql, want := range map[string]bool{
		"SET time_zone = ?":      true,
		"SET a = CONCAT(?, 'x')": true,
		"SET a = '?'":            false,
		"SET a = 1 /* ? */":      false,
		"SET a = 1 -- ?\n":       false,
		"SELECT `?` FROM t":      false,
		"SET @a = ?, @b = \"?\"": true,
		"SET aurora_replica_read_consistency = 'SESSION'": false,
	} {
		if got := HasParams(sql, Options{}); got != want {
			t.Errorf("HasParams(%q) = %v, want %v", sql, got, want)
		}
	}
}
