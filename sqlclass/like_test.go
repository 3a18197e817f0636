package sqlclass

import "testing"

func TestMatchLike(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{`aurora\_fwd%`, "Aurora_fwd_replica_dml_stmt_count", true},
		{`aurora\_fwd%`, "AuroraXfwd_replica", false}, // escaped _ is literal
		{`aurora_fwd%`, "AuroraXfwd_replica", true},   // bare _ is any one char
		{`%wait%`, "Aurora_fwd_replica_read_wait_count", true},
		{`%wait%`, "Aurora_fwd_replica_open_sessions", false},
		{`%WAIT%`, "aurora_fwd_replica_read_wait_duration", true},
		{`_`, "a", true},
		{`_`, "", false},
		{`_`, "ab", false},
		{`_`, "é", true}, // one character, two bytes
		{`%`, "", true},
		{`%`, "anything", true},
		{``, "", true},
		{``, "a", false},
		{`%%`, "x", true},
		{`a%b%c`, "aXXbYYc", true},
		{`a%b%c`, "aXXbYY", false},
		{`a%c`, "abcbc", true},
		{`a%c`, "abcb", false},
		{`%_count`, "Aurora_fwd_writer_dml_stmt_count", true},
		{`%\_count`, "Aurora_fwd_writer_dml_stmtXcount", false},
		{`100\%`, "100%", true},
		{`100\%`, "1000", false},
		{`a\\b`, `a\b`, true},
		{`a\`, `a\`, true}, // trailing lone backslash matches itself
		{`\a`, "A", true},  // escaped ordinary char is itself
		{`Aurora_fwd_replica_open_sessions`, "AURORA_FWD_REPLICA_OPEN_SESSIONS", true},
		{`ÉTÉ`, "été", true},
		{`%_%`, "", false},
		{`%_%`, "x", true},
		{`fwdproxy%`, "Fwdproxy_rejected_1235", true},
	}
	for _, c := range cases {
		if got := MatchLike(c.pattern, c.s); got != c.want {
			t.Errorf("MatchLike(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func BenchmarkMatchLike(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		MatchLike(`%wait%`, "Aurora_fwd_replica_read_wait_duration")
	}
}
