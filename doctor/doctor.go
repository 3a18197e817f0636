// Package doctor checks that a writer and its GTID replica are set up the way
// fwdproxy needs them. Each check is a function over two Servers, which reach
// their databases only through a Querier; tests replay answers recorded from
// real servers.
package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/fwdproxy/fwdproxy/consistency"
)

// Status is a check's verdict.
type Status int

const (
	Pass Status = iota
	Info        // nothing to judge, only to know
	Warn
	Fail
)

func (s Status) String() string {
	switch s {
	case Pass:
		return "PASS"
	case Info:
		return "INFO"
	case Warn:
		return "WARN"
	case Fail:
		return "FAIL"
	}
	return "?"
}

func (s Status) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// Result is one line of the report. Fix holds the statements or config lines
// that cure a WARN or FAIL, each one ready to paste.
type Result struct {
	Status Status   `json:"status"`
	Server string   `json:"server"` // "writer", "replica" or "pair"
	Check  string   `json:"check"`
	Detail string   `json:"detail"`
	Fix    []string `json:"fix,omitempty"`
}

// Options tune the checks.
type Options struct {
	MaxLag time.Duration // replica lag above this fails (the command's default is 5s)
	// Accounts: serve runs with --accounts writer, whose loader reads the
	// writer's accounts table as this user (CheckAccounts).
	Accounts bool
}

// DefaultWriterMaxConnectionsPct is serve's --writer-max-connections-pct default.
const DefaultWriterMaxConnectionsPct = 10

// Server is one of the two databases as the checks see it.
type Server struct {
	Role    string // "writer" or "replica"
	Addr    string
	Q       Querier
	ConnErr error // set when there is no connection; Q is then nil

	Version string
	User    string // CURRENT_USER(), e.g. "fwd@%"
	Flavor  consistency.Flavor
	Vars    map[string]string // the global variables in varNames that exist
	LoadErr error

	grantsDone bool
	grants     []string
	grantsErr  error

	statusDone bool
	status     map[string]string // nil: not a replica
	statusErr  error
	statusSQL  string
}

// Env is what every check gets.
type Env struct {
	W, R *Server
	Opt  Options
}

// swapped reports whether --writer and --reader look given the wrong way
// round: the reader replicates from nowhere while the writer is a replica.
func (e *Env) swapped(ctx context.Context) bool {
	if !e.W.ok() || !e.R.ok() {
		return false
	}
	if st, err := e.R.ReplicaStatus(ctx); err != nil || st != nil {
		return false
	}
	st, err := e.W.ReplicaStatus(ctx)
	return err == nil && st != nil
}

// varNames are the global variables the checks read, in one statement per server.
var varNames = []string{
	"log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata",
	"log_slave_updates", "log_replica_updates", "gtid_mode", "enforce_gtid_consistency",
	"read_only", "super_read_only", "binlog_expire_logs_seconds", "expire_logs_days",
	"server_id", "server_uuid", "max_connections", "session_track_system_variables",
	"session_track_gtids",
}

const identSQL = "SELECT @@version, @@version_comment, CURRENT_USER()"

func varsSQL() string {
	return "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('" + strings.Join(varNames, "', '") + "')"
}

// NewServer reads the version, user and variables of a connected server; a
// server with connErr set gets only a connect FAIL.
func NewServer(ctx context.Context, role, addr string, q Querier, connErr error) *Server {
	s := &Server{Role: role, Addr: addr, Q: q, ConnErr: connErr, Vars: map[string]string{}}
	if connErr != nil {
		return s
	}
	rows, err := q.Query(ctx, identSQL)
	if err != nil {
		s.LoadErr = err
		return s
	}
	if len(rows.Values) == 1 && len(rows.Values[0]) == 3 {
		get := func(i int) string {
			if v := rows.Values[0][i]; v != nil {
				return *v
			}
			return ""
		}
		s.Version = get(0)
		s.User = get(2)
		s.Flavor = consistency.DetectFlavor(s.Version + " " + get(1))
	}
	rows, err = q.Query(ctx, varsSQL())
	if err != nil {
		s.LoadErr = err
		return s
	}
	for _, m := range rows.Maps() {
		s.Vars[strings.ToLower(m["Variable_name"])] = m["Value"]
	}
	return s
}

// ok reports whether the server can be checked at all.
func (s *Server) ok() bool {
	return s != nil && s.ConnErr == nil && s.LoadErr == nil && s.Flavor != nil
}

func (s *Server) mysql() bool { return s.Flavor != nil && s.Flavor.Name() == "mysql" }

func (s *Server) v(name string) (string, bool) {
	v, ok := s.Vars[name]
	return v, ok
}

// on reads a boolean variable as the servers print them.
func on(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "ON", "1", "YES", "TRUE":
		return true
	}
	return false
}

// Grants runs SHOW GRANTS (for the current user) once.
func (s *Server) Grants(ctx context.Context) ([]string, error) {
	if !s.grantsDone {
		s.grantsDone = true
		rows, err := s.Q.Query(ctx, "SHOW GRANTS")
		s.grants, s.grantsErr = rows.Strings(), err
	}
	return s.grants, s.grantsErr
}

// ReplicaStatus runs SHOW REPLICA STATUS (MySQL 8.0.22+; SHOW SLAVE STATUS
// on older MySQL and on MariaDB) once. nil, nil: not a replica.
func (s *Server) ReplicaStatus(ctx context.Context) (map[string]string, error) {
	if s.statusDone {
		return s.status, s.statusErr
	}
	s.statusDone = true
	s.statusSQL = "SHOW SLAVE STATUS"
	if s.mysql() {
		s.statusSQL = "SHOW REPLICA STATUS"
	}
	rows, err := s.Q.Query(ctx, s.statusSQL)
	if err != nil && s.mysql() && errNumber(err) == 1064 {
		s.statusSQL = "SHOW SLAVE STATUS"
		rows, err = s.Q.Query(ctx, s.statusSQL)
	}
	if err != nil {
		s.statusErr = err
		return nil, err
	}
	if m := rows.Maps(); len(m) > 0 {
		s.status = m[0]
	}
	return s.status, nil
}

func errNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// Report is a whole run.
type Report struct {
	Writer  ServerInfo `json:"writer"`
	Replica ServerInfo `json:"replica"`
	Results []Result   `json:"results"`
	Counts  Counts     `json:"counts"`
}

// ServerInfo names a server in the report.
type ServerInfo struct {
	Addr    string `json:"addr"`
	Version string `json:"version,omitempty"`
	Flavor  string `json:"flavor,omitempty"`
	User    string `json:"user,omitempty"`
}

// Counts are the results per status.
type Counts struct {
	Pass int `json:"pass"`
	Info int `json:"info"`
	Warn int `json:"warn"`
	Fail int `json:"fail"`
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool { return r.Counts.Fail > 0 }

// Find returns the results of one check (any server).
func (r *Report) Find(check string) []Result {
	var out []Result
	for _, x := range r.Results {
		if x.Check == check {
			out = append(out, x)
		}
	}
	return out
}

// Check is one check: it looks at both servers and returns its lines.
type Check func(ctx context.Context, e *Env) []Result

// Checks are run in this order.
var Checks = []Check{
	CheckConnect,
	CheckBinlog,
	CheckGTID,
	CheckReplication,
	CheckReadOnly,
	CheckRetention,
	CheckServerIDs,
	CheckPrivileges,
	CheckSessionTracking,
	CheckMaxConnections,
	CheckInstances,
	CheckAccounts,
}

// Run runs every check.
func Run(ctx context.Context, w, r *Server, opt Options) *Report {
	e := &Env{W: w, R: r, Opt: opt}
	rep := &Report{Writer: info(w), Replica: info(r)}
	for _, c := range Checks {
		rep.Results = append(rep.Results, c(ctx, e)...)
	}
	for _, x := range rep.Results {
		switch x.Status {
		case Pass:
			rep.Counts.Pass++
		case Info:
			rep.Counts.Info++
		case Warn:
			rep.Counts.Warn++
		case Fail:
			rep.Counts.Fail++
		}
	}
	return rep
}

func info(s *Server) ServerInfo {
	si := ServerInfo{Addr: s.Addr, Version: s.Version, User: s.User}
	if s.Flavor != nil {
		si.Flavor = s.Flavor.Name()
	}
	return si
}

// userSpec renders CURRENT_USER() ("fwd@%") as 'fwd'@'%' for GRANT statements.
func userSpec(cu string) string {
	if cu == "" {
		return "'<user>'@'%'"
	}
	i := strings.LastIndexByte(cu, '@')
	if i < 0 {
		return sqlQuote(cu)
	}
	return sqlQuote(cu[:i]) + "@" + sqlQuote(cu[i+1:])
}

func sqlQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// versionAtLeast compares the leading "major.minor" of a version string.
func versionAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func errText(err error) string { return firstLine(fmt.Sprint(err)) }
