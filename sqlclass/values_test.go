package sqlclass

import "testing"

// Params counts placeholders, not question marks in strings, quoted
// names or comments.
func TestParams(t *testing.T) {
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
		if got := Params(sql, Options{}) > 0; got != want {
			t.Errorf("Params(%q) > 0 = %v, want %v", sql, got, want)
		}
	}
}
