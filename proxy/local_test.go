package proxy

import (
	"slices"
	"testing"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// ownVarSession is a session at SESSION consistency on a server whose
// default is EVENTUAL.
func ownVarSession() *session {
	srv := &Server{}
	srv.live.Store(&Config{WriterIdleTimeout: 60, WriterMaxConnectionsPct: 10, DefaultConsistency: "EVENTUAL"})
	level, _ := consistency.ParseLevel("SESSION")
	return &session{srv: srv, level: level}
}

func TestSelectOwnVars(t *testing.T) {
	s := ownVarSession()
	for _, tc := range []struct {
		sql        string
		cols, vals []string // nil: not answered by the proxy
	}{
		{"SELECT @@aurora_replica_read_consistency", []string{"@@aurora_replica_read_consistency"}, []string{"SESSION"}},
		{"select @@Session.aurora_replica_read_consistency AS `c`, @@global.aurora_replica_read_consistency g, @@aurora_fwd_writer_idle_timeout;",
			[]string{"c", "g", "@@aurora_fwd_writer_idle_timeout"}, []string{"SESSION", "EVENTUAL", "60"}},
		{"SELECT @@aurora_fwd_writer_max_connections_pct AS 'p'", []string{"p"}, []string{"10"}},
		{"SELECT @@aurora_version", nil, nil},
		{"SELECT @@aurora_replica_read_consistency, @@autocommit", nil, nil},
		{"SELECT @@aurora_replica_read_consistency FROM dual", nil, nil},
	} {
		st := sqlclass.Classify(tc.sql, sqlclass.Options{})
		cols, vals, ok := s.selectOwnVars(&st)
		if ok != (tc.cols != nil) || !slices.Equal(cols, tc.cols) || !slices.Equal(vals, tc.vals) {
			t.Errorf("%s: %q %q %v, want %q %q", tc.sql, cols, vals, ok, tc.cols, tc.vals)
		}
	}
}

func TestRewriteOwnVars(t *testing.T) {
	s := ownVarSession()
	for _, tc := range []struct{ sql, expr, want string }{
		{"SELECT @@aurora_replica_read_consistency, @@autocommit", "",
			"SELECT 'SESSION' AS `@@aurora_replica_read_consistency`, @@autocommit"},
		{"SELECT CONCAT('c:', @@aurora_replica_read_consistency) AS x FROM dual", "",
			"SELECT CONCAT('c:', 'SESSION') AS x FROM dual"},
		{"SELECT @@global.aurora_replica_read_consistency = '@@aurora_replica_read_consistency' /* @@aurora_fwd_writer_idle_timeout */", "",
			"SELECT 'EVENTUAL' = '@@aurora_replica_read_consistency' /* @@aurora_fwd_writer_idle_timeout */"},
		{"SELECT @@`aurora_fwd_writer_idle_timeout` + 1, @@aurora_version", "",
			"SELECT '60' + 1, @@aurora_version"},
		{"SELECT @@`aurora_replica_read_consistency`, @@global.aurora_replica_read_consistency", "@fwdproxy_arc",
			"SELECT @fwdproxy_arc AS `@@``aurora_replica_read_consistency```, 'EVENTUAL' AS `@@global.aurora_replica_read_consistency`"},
		{"SELECT @@aurora_version", "", ""},
		{"SELECT 1", "", ""},
	} {
		st := sqlclass.Classify(tc.sql, sqlclass.Options{})
		got, ok := s.rewriteOwnVarsTo(tc.sql, &st, tc.expr)
		if want := tc.want; ok != (want != "") || ok && got != want {
			t.Errorf("%s:\n got %q %v\nwant %q", tc.sql, got, ok, want)
		}
	}
}
