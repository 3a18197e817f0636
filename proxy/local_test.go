package proxy

import (
	"slices"
	"testing"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/route"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// ownVarSession is a session at SESSION consistency on a server whose
// default is EVENTUAL.
func ownVarSession() *session {
	srv := &Server{dialect: dialectFor(consistency.MariaDB)}
	srv.live.Store(&Config{WriterIdleTimeout: 60, WriterMaxConnectionsPct: 10, DefaultConsistency: "EVENTUAL"})
	level, _ := consistency.ParseLevel("SESSION")
	return &session{srv: srv, level: level}
}

// The values of the items of the SELECTs route.Decide gives the OwnVars
// handler (route's tests say which those are).
func TestSelectOwnVars(t *testing.T) {
	s := ownVarSession()
	for _, tc := range []struct {
		sql        string
		cols, vals []string
	}{
		{"SELECT @@aurora_replica_read_consistency", []string{"@@aurora_replica_read_consistency"}, []string{"SESSION"}},
		{"select @@Session.aurora_replica_read_consistency AS `c`, @@global.aurora_replica_read_consistency g, @@aurora_fwd_writer_idle_timeout;",
			[]string{"c", "g", "@@aurora_fwd_writer_idle_timeout"}, []string{"SESSION", "EVENTUAL", "60"}},
		{"SELECT @@aurora_fwd_writer_max_connections_pct AS 'p'", []string{"p"}, []string{"10"}},
	} {
		st := sqlclass.Classify(tc.sql, sqlclass.Options{})
		rs := route.State{}
		if d := route.Decide(&rs, route.Input{SQL: tc.sql, St: &st, Path: route.Text}); d.Handler != route.OwnVars {
			t.Fatalf("%s: decided %+v, want the OwnVars handler", tc.sql, d)
		}
		cols, vals := s.ownValues(&st)
		if !slices.Equal(cols, tc.cols) || !slices.Equal(vals, tc.vals) {
			t.Errorf("%s: %q %q, want %q %q", tc.sql, cols, vals, tc.cols, tc.vals)
		}
	}
}

// Every variable route says the proxy owns has a value here.
func TestOwnVarNames(t *testing.T) {
	s := ownVarSession()
	var names []string
	for _, kv := range s.auroraVars() {
		names = append(names, kv[0])
	}
	if !slices.Equal(names, route.OwnVarNames) {
		t.Fatalf("auroraVars names %q, route.OwnVarNames %q", names, route.OwnVarNames)
	}
}

func TestRewriteOwnVars(t *testing.T) {
	s := ownVarSession()
	for _, tc := range []struct {
		sql      string
		prepared bool
		want     string
	}{
		{"SELECT @@aurora_replica_read_consistency, @@autocommit", false,
			"SELECT 'SESSION' AS `@@aurora_replica_read_consistency`, @@autocommit"},
		{"SELECT CONCAT('c:', @@aurora_replica_read_consistency) AS x FROM dual", false,
			"SELECT CONCAT('c:', 'SESSION') AS x FROM dual"},
		{"SELECT @@global.aurora_replica_read_consistency = '@@aurora_replica_read_consistency' /* @@aurora_fwd_writer_idle_timeout */", false,
			"SELECT 'EVENTUAL' = '@@aurora_replica_read_consistency' /* @@aurora_fwd_writer_idle_timeout */"},
		{"SELECT @@`aurora_fwd_writer_idle_timeout` + 1, @@aurora_version", false,
			"SELECT '60' + 1, @@aurora_version"},
		{"SELECT @@`aurora_replica_read_consistency`, @@global.aurora_replica_read_consistency", true,
			"SELECT @fwdproxy_arc AS `@@``aurora_replica_read_consistency```, 'EVENTUAL' AS `@@global.aurora_replica_read_consistency`"},
		{"SELECT @@tx_read_only, @@session.tx_read_only + 0, @@global.tx_read_only, @@transaction_read_only", false,
			"SELECT LEAST(@@global.tx_read_only, 0) AS `@@tx_read_only`, LEAST(@@global.tx_read_only, 0) + 0, @@global.tx_read_only, @@transaction_read_only"},
		{"SELECT @@tx_read_only, @@aurora_replica_read_consistency", true,
			"SELECT @fwdproxy_ro AS `@@tx_read_only`, @fwdproxy_arc AS `@@aurora_replica_read_consistency`"},
		{"SELECT @@aurora_version", false, ""},
		{"SELECT 1", false, ""},
	} {
		st := sqlclass.Classify(tc.sql, sqlclass.Options{})
		got, ok := s.rewriteOwnVarsTo(tc.sql, &st, tc.prepared)
		if want := tc.want; ok != (want != "") || ok && got != want {
			t.Errorf("%s:\n got %q %v\nwant %q", tc.sql, got, ok, want)
		}
	}
}
