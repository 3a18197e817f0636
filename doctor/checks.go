package doctor

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fwdproxy/fwdproxy/accounts"
	"github.com/fwdproxy/fwdproxy/grants"
	"github.com/fwdproxy/fwdproxy/writerlocks"
)

// --- fix lines -------------------------------------------------------------

func cnfSection(s *Server) string {
	if s.mysql() {
		return "[mysqld]"
	}
	return "[mariadbd]"
}

// cnfLine is a line for the server's option file.
func cnfLine(s *Server, line string) string {
	return "my.cnf " + cnfSection(s) + ": " + line
}

// setGlobal changes a dynamic variable now and for the next restart:
// MySQL SET PERSIST; MariaDB SET GLOBAL plus the option-file line.
func setGlobal(s *Server, name, sqlValue, cnfValue string) []string {
	if s.mysql() {
		return []string{fmt.Sprintf("SET PERSIST %s = %s;", name, sqlValue)}
	}
	return []string{fmt.Sprintf("SET GLOBAL %s = %s;", name, sqlValue), cnfLine(s, name+" = "+cnfValue)}
}

// setStatic changes a variable that needs a restart.
func setStatic(s *Server, name, value string) []string {
	if s.mysql() {
		return []string{fmt.Sprintf("SET PERSIST_ONLY %s = %s;", name, value)}
	}
	return []string{cnfLine(s, name+" = "+value)}
}

func startReplica(s *Server) string {
	if s.mysql() {
		return "START REPLICA;"
	}
	return "START SLAVE;"
}

func stopReplica(s *Server) string {
	if s.mysql() {
		return "STOP REPLICA;"
	}
	return "STOP SLAVE;"
}

// changeSource points the replica at the writer.
func changeSource(e *Env) string {
	host, port, err := net.SplitHostPort(e.W.Addr)
	if err != nil {
		host, port = e.W.Addr, "3306"
	}
	if e.R.mysql() {
		return fmt.Sprintf("CHANGE REPLICATION SOURCE TO SOURCE_HOST=%s, SOURCE_PORT=%s, SOURCE_USER='repl', "+
			"SOURCE_PASSWORD='<repl password>', SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1;", sqlQuote(host), port)
	}
	return fmt.Sprintf("CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER='repl', "+
		"MASTER_PASSWORD='<repl password>', MASTER_USE_GTID=slave_pos;", sqlQuote(host), port)
}

func res(st Status, s *Server, check, detail string, fix ...string) Result {
	server := "pair"
	if s != nil {
		server = s.Role
	}
	return Result{Status: st, Server: server, Check: check, Detail: detail, Fix: fix}
}

// both returns the servers that can be checked.
func (e *Env) both() []*Server {
	var out []*Server
	for _, s := range []*Server{e.W, e.R} {
		if s.ok() {
			out = append(out, s)
		}
	}
	return out
}

// --- connect ---------------------------------------------------------------

// CheckConnect reports servers that could not be reached and the versions.
func CheckConnect(_ context.Context, e *Env) []Result {
	var out []Result
	for _, s := range []*Server{e.W, e.R} {
		switch {
		case s.ConnErr != nil:
			r := res(Fail, s, "connect", fmt.Sprintf("cannot connect to %s: %s", s.Addr, errText(s.ConnErr)))
			switch errNumber(s.ConnErr) {
			case 1045: // access denied
				why, fix := accessDenied(e, s)
				r.Detail += " (" + why + ")"
				r.Fix = fix
			default:
				flag := "--writer"
				if s.Role == "replica" {
					flag = "--reader"
				}
				r.Fix = []string{fmt.Sprintf("%s %s must be the server's HOST:PORT, reachable from here", flag, s.Addr)}
			}
			out = append(out, r)
		case s.LoadErr != nil:
			out = append(out, res(Fail, s, "connect", "cannot read server variables: "+errText(s.LoadErr)))
		default:
			out = append(out, res(Info, s, "version", fmt.Sprintf("%s %s, logged in as %s", flavorName(s), s.Version, s.User)))
		}
	}
	if e.W.ok() && e.R.ok() && e.W.Flavor.Name() != e.R.Flavor.Name() {
		out = append(out, res(Fail, nil, "flavor", fmt.Sprintf("writer is %s, replica is %s: their GTIDs cannot be compared",
			flavorName(e.W), flavorName(e.R)), "use a replica of the same server family as the writer"))
	}
	return out
}

// accessDenied explains a 1045 and what to do. The server gives one error
// for a wrong password and a missing account, so the password, the likelier
// slip, comes first; a login that works on the other server narrows it down
// to an account that differs between the two, where a CREATE or ALTER USER
// on the writer would replicate into a conflict, so the fix is to look.
func accessDenied(e *Env, s *Server) (string, []string) {
	msg := s.ConnErr.Error()
	if strings.Contains(msg, "using password: NO") {
		return "no password was given", []string{"--user NAME:PASSWORD"}
	}
	other := e.W
	if s == e.W {
		other = e.R
	}
	name := "<name>"
	if m := deniedUser.FindStringSubmatch(msg); m != nil {
		name = m[1]
	}
	if other.ConnErr == nil {
		return fmt.Sprintf("the same --user logs in to the %s, so the account or its password differs here: "+
				"created or changed on one server alone, or for a host that does not match this client", other.Role),
			[]string{fmt.Sprintf("on both servers, compare: SELECT user, host, plugin, authentication_string FROM mysql.user WHERE user = %s;", sqlQuote(name))}
	}
	return "the password in --user is wrong, or no account matches this user and client host",
		[]string{
			"check the password: --user NAME:PASSWORD",
			fmt.Sprintf("if the account is missing, on the writer (it replicates): CREATE USER %s@'%%' IDENTIFIED BY '<password>';", sqlQuote(name)),
			fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO %s@'%%';", sqlQuote(name)),
		}
}

// deniedUser finds the user name in "Access denied for user 'NAME'@'HOST'".
var deniedUser = regexp.MustCompile(`for user '((?:[^'\\]|\\.)*)'@`)

func flavorName(s *Server) string {
	if s.mysql() {
		return "MySQL"
	}
	return "MariaDB"
}

// --- binary log ------------------------------------------------------------

// CheckBinlog: log_bin, binlog_format=ROW, binlog_row_image=FULL and (MySQL)
// binlog_row_metadata=FULL on both servers; log_slave_updates on the replica.
func CheckBinlog(_ context.Context, e *Env) []Result {
	var out []Result
	for _, s := range e.both() {
		if v, _ := s.v("log_bin"); on(v) {
			out = append(out, res(Pass, s, "log_bin", "ON"))
		} else {
			detail := "binary logging is OFF: the replica cannot replicate from this server and GTID waits have nothing to wait for"
			if s.Role == "replica" {
				detail = "binary logging is OFF: fwdproxy's --push-tracking (off by default; a binlog stream from the replica) cannot run, reads wait on the replica as they do by default"
			}
			r := res(Fail, s, "log_bin", detail+"; set it in the option file (and remove any skip-log-bin / disable-log-bin) and restart")
			if s.Role == "replica" {
				r.Status = Warn
			}
			if s.mysql() {
				r.Fix = []string{cnfLine(s, "log_bin = binlog")}
			} else {
				r.Fix = []string{cnfLine(s, "log_bin = mariadb-bin")}
			}
			out = append(out, r)
		}
		out = append(out, wantSetting(s, "binlog_format", "ROW", Fail,
			"sessions already open keep their old format until they reconnect"))
		out = append(out, wantSetting(s, "binlog_row_image", "FULL", Warn,
			"fwdproxy reads only GTID events; FULL keeps the binlog complete for other consumers"))
		if s.mysql() {
			out = append(out, wantSetting(s, "binlog_row_metadata", "FULL", Warn,
				"fwdproxy reads only GTID events; FULL keeps column names in the binlog for other consumers"))
		}
		if s.Role == "replica" {
			name := "log_slave_updates"
			if _, ok := s.v("log_replica_updates"); ok && s.mysql() {
				name = "log_replica_updates"
			}
			if v, _ := s.v(name); on(v) {
				out = append(out, res(Pass, s, name, "ON"))
			} else {
				out = append(out, res(Warn, s, name,
					fmt.Sprintf("%s=%s: the replica's binlog does not show replicated transactions, so fwdproxy's --push-tracking (off by default) cannot run; reads wait on the replica as they do by default; needs a restart", name, orNone(v)),
					setStatic(s, name, "ON")...))
			}
		}
	}
	return out
}

// wantSetting passes when global variable name is want, else reports st
// with why and the statements that set it.
func wantSetting(s *Server, name, want string, st Status, why string) Result {
	v, _ := s.v(name)
	if strings.EqualFold(v, want) {
		return res(Pass, s, name, want)
	}
	return res(st, s, name, fmt.Sprintf("%s=%s, want %s (%s)", name, orNone(v), want, why),
		setGlobal(s, name, "'"+want+"'", want)...)
}

func orNone(v string) string {
	if v == "" {
		return "(unset)"
	}
	return v
}

// --- GTID ------------------------------------------------------------------

// CheckGTID: MySQL gtid_mode=ON and enforce_gtid_consistency=ON on both
// servers; MariaDB: the replica replicates by GTID (Using_Gtid).
func CheckGTID(ctx context.Context, e *Env) []Result {
	var out []Result
	for _, s := range e.both() {
		if !s.mysql() {
			continue
		}
		v, _ := s.v("gtid_mode")
		if strings.EqualFold(v, "ON") {
			out = append(out, res(Pass, s, "gtid_mode", "ON"))
		} else {
			steps := []string{"SET PERSIST enforce_gtid_consistency = ON;"}
			modes := []string{"OFF_PERMISSIVE", "ON_PERMISSIVE", "ON"}
			for i, m := range modes {
				if strings.EqualFold(v, m) {
					modes = modes[i+1:]
					break
				}
			}
			for _, m := range modes {
				steps = append(steps, "SET PERSIST gtid_mode = "+m+";")
			}
			out = append(out, res(Fail, s, "gtid_mode",
				fmt.Sprintf("gtid_mode=%s: fwdproxy waits for GTIDs; change it one step at a time on every server, and before the last step wait until SHOW STATUS LIKE 'Ongoing_anonymous_transaction_count' is 0", orNone(v)),
				steps...))
		}
		v, _ = s.v("enforce_gtid_consistency")
		if strings.EqualFold(v, "ON") {
			out = append(out, res(Pass, s, "enforce_gtid_consistency", "ON"))
		} else {
			out = append(out, res(Fail, s, "enforce_gtid_consistency", fmt.Sprintf("enforce_gtid_consistency=%s, want ON", orNone(v)),
				"SET PERSIST enforce_gtid_consistency = ON;"))
		}
	}
	if e.R.ok() && !e.R.mysql() {
		st, err := e.R.ReplicaStatus(ctx)
		if err == nil && st != nil {
			switch u := st["Using_Gtid"]; {
			case strings.EqualFold(u, "Slave_Pos"), strings.EqualFold(u, "Current_Pos"):
				out = append(out, res(Pass, e.R, "using_gtid", "Using_Gtid="+u))
			default:
				out = append(out, res(Fail, e.R, "using_gtid",
					fmt.Sprintf("Using_Gtid=%s: the replica does not track the writer's GTIDs, so @@gtid_slave_pos and MASTER_GTID_WAIT do not follow it", orNone(u)),
					"STOP SLAVE;", "CHANGE MASTER TO MASTER_USE_GTID = slave_pos;", "START SLAVE;"))
			}
		}
	}
	return out
}

// --- replication -----------------------------------------------------------

func col(st map[string]string, names ...string) (string, string) {
	for _, n := range names {
		if v, ok := st[n]; ok {
			return n, v
		}
	}
	return names[len(names)-1], ""
}

// CheckReplication: the replica's threads run without errors, its lag is at
// most --max-lag, and it replicates from the writer.
func CheckReplication(ctx context.Context, e *Env) []Result {
	r := e.R
	if !r.ok() {
		return nil
	}
	st, err := r.ReplicaStatus(ctx)
	if err != nil {
		if errNumber(err) == 1227 || errNumber(err) == 1044 {
			priv := "REPLICATION CLIENT"
			if !r.mysql() && versionAtLeast(r.Version, 10, 5) {
				priv = "SLAVE MONITOR"
			}
			return []Result{res(Warn, r, "replication",
				fmt.Sprintf("cannot read %s as %s (%s): replication state unchecked (run on the writer; it replicates)", r.statusSQL, r.User, errText(err)),
				fmt.Sprintf("GRANT %s ON *.* TO %s;", priv, userSpec(r.User)))}
		}
		return []Result{res(Fail, r, "replication", r.statusSQL+": "+errText(err))}
	}
	if st == nil {
		if e.swapped(ctx) {
			return []Result{swappedResult(ctx, e)}
		}
		return []Result{res(Fail, r, "replication",
			fmt.Sprintf("%s is empty: %s is not a replica (run on the replica, with the replication user's password)", r.statusSQL, r.Addr),
			changeSource(e), startReplica(r))}
	}
	var out []Result
	ioName, io := col(st, "Replica_IO_Running", "Slave_IO_Running")
	sqlName, sqlRun := col(st, "Replica_SQL_Running", "Slave_SQL_Running")
	threads := fmt.Sprintf("%s=%s, %s=%s", ioName, io, sqlName, sqlRun)
	if io == "Yes" && sqlRun == "Yes" {
		out = append(out, res(Pass, r, "replication", threads))
	} else {
		out = append(out, res(Fail, r, "replication",
			threads+": the replica does not apply the writer's transactions, so every consistent read waits until it times out",
			startReplica(r)))
	}
	for _, kind := range []string{"IO", "SQL"} {
		no := st["Last_"+kind+"_Errno"]
		if no == "" || no == "0" {
			continue
		}
		msg := st["Last_"+kind+"_Error"]
		detail := fmt.Sprintf("Last_%s_Errno=%s: %s", kind, no, msg)
		fix := []string{startReplica(r)}
		switch {
		case kind == "IO" && strings.Contains(msg, "Binary log is not open"):
			detail += " (turn on the writer's binary log, see its log_bin line, then restart replication)"
		case kind == "IO" && no == "1045":
			detail += " (the replication user cannot log in to the writer)"
			u := st["Master_User"]
			if u == "" {
				u = st["Source_User"]
			}
			fix = append([]string{fmt.Sprintf("GRANT REPLICATION SLAVE ON *.* TO %s;", sqlQuote(u)+"@'%'")}, fix...)
		default:
			detail += " (remove the cause first, then restart replication)"
		}
		out = append(out, res(Fail, r, "replication_error", detail, append([]string{stopReplica(r)}, fix...)...))
	}
	lagName, lag := col(st, "Seconds_Behind_Source", "Seconds_Behind_Master")
	max := e.Opt.MaxLag
	if n, err := strconv.ParseInt(lag, 10, 64); err != nil {
		out = append(out, res(Info, r, "lag", lagName+"=NULL: unknown while replication is not running"))
	} else if time.Duration(n)*time.Second > max {
		fix := []string{"STOP SLAVE SQL_THREAD;", "SET GLOBAL slave_parallel_threads = 4;", "START SLAVE SQL_THREAD;"}
		if r.mysql() {
			fix = []string{"STOP REPLICA SQL_THREAD;", "SET PERSIST replica_parallel_workers = 4;", "START REPLICA SQL_THREAD;"}
		}
		out = append(out, res(Fail, r, "lag",
			fmt.Sprintf("%s=%d, above --max-lag %s: consistent reads wait that long; apply in parallel (or find the long transaction, or raise --max-lag)", lagName, n, max),
			fix...))
	} else {
		out = append(out, res(Pass, r, "lag", fmt.Sprintf("%s=%d (max %s)", lagName, n, max)))
	}
	_, src := col(st, "Source_Server_Id", "Master_Server_Id")
	if wid, ok := e.W.v("server_id"); ok && e.W.ok() && src != "" && src != "0" {
		if src == wid {
			out = append(out, res(Pass, r, "source", "replicates from server_id "+src+" (the writer)"))
		} else {
			out = append(out, res(Fail, r, "source",
				fmt.Sprintf("replicates from server_id %s, but --writer %s is server_id %s: GTID waits would compare unrelated servers", src, e.W.Addr, wid),
				stopReplica(r), changeSource(e), startReplica(r)))
		}
	}
	return out
}

// swappedResult says that --writer and --reader look given the wrong way
// round, instead of advising CHANGE MASTER on the writer and read_only
// changes on both.
func swappedResult(ctx context.Context, e *Env) Result {
	st, _ := e.W.ReplicaStatus(ctx)
	_, host := col(st, "Source_Host", "Master_Host")
	_, port := col(st, "Source_Port", "Master_Port")
	detail := fmt.Sprintf("--reader %s is not a replica, and --writer %s replicates from %s", e.R.Addr, e.W.Addr, net.JoinHostPort(host, port))
	if v, _ := e.W.v("read_only"); on(v) {
		detail += " with read_only=ON"
	}
	detail += ": the two addresses look swapped; change nothing on the servers"
	return res(Fail, nil, "swapped", detail, fmt.Sprintf("--writer %s --reader %s", e.R.Addr, e.W.Addr))
}

// --- read_only -------------------------------------------------------------

// CheckReadOnly: the writer is writable, the replica read_only (MySQL: and
// super_read_only); WARN when the proxy's user can write through read_only.
func CheckReadOnly(ctx context.Context, e *Env) []Result {
	if e.swapped(ctx) {
		return nil // read_only is the right way round for the servers; CheckReplication says so
	}
	var out []Result
	if w := e.W; w.ok() {
		v, _ := w.v("read_only")
		if on(v) {
			out = append(out, res(Fail, w, "read_only", "read_only=ON on the writer: forwarded writes fail with 1290",
				setGlobal(w, "read_only", "OFF", "OFF")...))
		} else {
			out = append(out, res(Pass, w, "read_only", "OFF"))
		}
	}
	r := e.R
	if !r.ok() {
		return out
	}
	ro, _ := r.v("read_only")
	if on(ro) {
		out = append(out, res(Pass, r, "read_only", "ON"))
	} else {
		out = append(out, res(Fail, r, "read_only",
			"read_only=OFF on the replica: any client can write there, and one local write breaks GTID replication",
			setGlobal(r, "read_only", "ON", "ON")...))
	}
	sro, _ := r.v("super_read_only")
	if r.mysql() {
		if on(sro) {
			out = append(out, res(Pass, r, "super_read_only", "ON"))
		} else {
			out = append(out, res(Fail, r, "super_read_only",
				"super_read_only=OFF on the replica: users with SUPER or CONNECTION_ADMIN write through read_only",
				setGlobal(r, "super_read_only", "ON", "ON")...))
		}
	}
	lines, err := r.Grants(ctx)
	if err != nil {
		return append(out, res(Warn, r, "read_only_bypass", "cannot read SHOW GRANTS: "+errText(err)))
	}
	gs := grants.Parse(lines)
	var why []string
	var fix []string
	if r.mysql() {
		for _, p := range []string{"SUPER", "CONNECTION_ADMIN"} {
			if gs.HasGlobal(p) {
				why = append(why, p)
			}
		}
		if on(sro) {
			why = nil // super_read_only stops them too
		}
		fix = setGlobal(r, "super_read_only", "ON", "ON")
	} else {
		if gs.HasGlobal("READ ONLY ADMIN") {
			why = append(why, "READ_ONLY ADMIN")
		}
		// MariaDB 10.11 took READ ONLY ADMIN out of SUPER (measured on 10.11.19:
		// a SUPER-only user gets 1290); before it SUPER implied it.
		if gs.HasGlobal("SUPER") && !versionAtLeast(r.Version, 10, 11) {
			why = append(why, "SUPER")
		}
		switch {
		case !versionAtLeast(r.Version, 10, 5):
			fix = []string{fmt.Sprintf("REVOKE SUPER ON *.* FROM %s;", userSpec(r.User))}
		case versionAtLeast(r.Version, 10, 11):
			fix = []string{fmt.Sprintf("REVOKE READ ONLY ADMIN ON *.* FROM %s;", userSpec(r.User))}
		default:
			fix = []string{fmt.Sprintf("REVOKE SUPER, READ ONLY ADMIN ON *.* FROM %s;", userSpec(r.User))}
		}
	}
	if len(why) == 0 {
		detail := r.User + " cannot write through read_only"
		if gs.HasRoles() {
			detail += " (privileges held through roles are not listed by SHOW GRANTS and were not checked)"
		}
		return append(out, res(Pass, r, "read_only_bypass", detail))
	}
	via := ""
	if gs.HasGlobal("ALL PRIVILEGES") {
		via = " (through ALL PRIVILEGES)"
	}
	where := "run on the writer; it replicates"
	if r.mysql() {
		where = "run on the replica"
	}
	return append(out, res(Warn, r, "read_only_bypass",
		fmt.Sprintf("%s has %s%s and can write to the read_only replica; one such write stops GTID-strict replication. "+
			"fwdproxy pins its own reader sessions read-only (%s=1), so nothing it sends writes there, but other clients using this account can (%s)",
			r.User, strings.Join(why, ", "), via, readOnlyVar(r), where),
		fix...))
}

func readOnlyVar(s *Server) string {
	if s.mysql() {
		return "transaction_read_only"
	}
	return "tx_read_only"
}

// --- binlog retention ------------------------------------------------------

const minRetention = 72 * time.Hour

// CheckRetention: binary logs are kept at least 72 hours (or never purged).
func CheckRetention(_ context.Context, e *Env) []Result {
	var out []Result
	for _, s := range e.both() {
		secsV, hasSecs := s.v("binlog_expire_logs_seconds")
		daysV, _ := s.v("expire_logs_days")
		secs, _ := strconv.ParseInt(secsV, 10, 64)
		days, _ := strconv.ParseFloat(daysV, 64)
		eff := time.Duration(secs) * time.Second
		if eff == 0 && days > 0 {
			eff = time.Duration(days * float64(24*time.Hour))
		}
		settings := "expire_logs_days=" + orNone(daysV)
		if hasSecs {
			settings = "binlog_expire_logs_seconds=" + secsV + ", " + settings
		}
		switch {
		case eff == 0:
			out = append(out, res(Pass, s, "binlog_retention", "never purged automatically ("+settings+")"))
		case eff >= minRetention:
			out = append(out, res(Pass, s, "binlog_retention", fmt.Sprintf("%s (%s)", eff, settings)))
		default:
			out = append(out, res(Warn, s, "binlog_retention",
				fmt.Sprintf("binary logs are purged after %s (%s): a replica, or fwdproxy's binlog stream, down longer than that cannot catch up; keep at least 72h", eff, settings),
				setGlobal(s, "binlog_expire_logs_seconds", "259200", "259200")...))
		}
	}
	return out
}

// --- identities ------------------------------------------------------------

// CheckServerIDs: distinct server_id (and, on MySQL, server_uuid).
func CheckServerIDs(_ context.Context, e *Env) []Result {
	if !e.W.ok() || !e.R.ok() {
		return nil
	}
	var out []Result
	wid, _ := e.W.v("server_id")
	rid, _ := e.R.v("server_id")
	if wid == rid {
		n, _ := strconv.ParseUint(wid, 10, 32)
		out = append(out, res(Fail, nil, "server_id",
			fmt.Sprintf("writer and replica both have server_id=%s: the replica ignores events with its own id", wid),
			setGlobal(e.R, "server_id", strconv.FormatUint(n+1, 10), strconv.FormatUint(n+1, 10))...))
	} else {
		out = append(out, res(Pass, nil, "server_id", fmt.Sprintf("writer %s, replica %s", wid, rid)))
	}
	wu, wok := e.W.v("server_uuid")
	ru, rok := e.R.v("server_uuid")
	switch {
	case !wok || !rok:
		if e.W.mysql() {
			out[len(out)-1].Detail += " (server_uuid not reported)"
		} else {
			out[len(out)-1].Detail += " (MariaDB has no server_uuid)"
		}
	case wu == ru:
		out = append(out, res(Fail, nil, "server_uuid",
			"writer and replica both have server_uuid "+wu+" (a copied data directory): GTIDs of the two cannot be told apart; delete auto.cnf in the replica's data directory and restart it",
			"rm \"$(mysql -N -e 'SELECT @@datadir')\"/auto.cnf"))
	default:
		out = append(out, res(Pass, nil, "server_uuid", fmt.Sprintf("writer %s, replica %s", wu, ru)))
	}
	return out
}

// --- privileges ------------------------------------------------------------

// CheckPrivileges: SELECT on both servers and INSERT, UPDATE, DELETE on the
// writer (FAIL when missing); REPLICATION SLAVE and REPLICATION CLIENT on the
// replica for --push-tracking (WARN: only that option needs them).
func CheckPrivileges(ctx context.Context, e *Env) []Result {
	var out []Result
	for _, s := range e.both() {
		lines, err := s.Grants(ctx)
		if err != nil {
			out = append(out, res(Warn, s, "privileges", "cannot read SHOW GRANTS: "+errText(err)))
			continue
		}
		gs := grants.Parse(lines)
		need := []string{"SELECT"}
		if s.Role == "writer" {
			need = []string{"SELECT", "INSERT", "UPDATE", "DELETE"}
		}
		var missing, global, partial []string
		for _, p := range need {
			switch sc := gs.Scopes(p); {
			case gs.HasGlobal(p):
				global = append(global, p)
			case len(sc) > 0:
				partial = append(partial, p+" on "+strings.Join(sc, ", "))
			default:
				missing = append(missing, p)
			}
		}
		var have []string
		if len(global) > 0 {
			have = append(have, strings.Join(global, ", ")+" on *.*")
		}
		have = append(have, partial...)
		if len(missing) == 0 {
			out = append(out, res(Pass, s, "privileges", s.User+" has "+strings.Join(have, "; ")))
		} else {
			st := Fail
			detail := fmt.Sprintf("%s lacks %s", s.User, strings.Join(missing, ", "))
			if len(have) > 0 {
				detail += " (has " + strings.Join(have, "; ") + ")"
			}
			if gs.HasRoles() {
				st = Warn
				detail += "; some privileges come through roles, which SHOW GRANTS does not list: check them"
			}
			detail += " (grant on the writer; it replicates; narrow *.* to your databases if you like)"
			out = append(out, res(st, s, "privileges", detail,
				fmt.Sprintf("GRANT %s ON *.* TO %s;", strings.Join(missing, ", "), userSpec(s.User))))
		}
		if s.Role != "replica" {
			continue
		}
		var lack []string
		for _, p := range []string{"REPLICATION SLAVE", "REPLICATION CLIENT"} {
			if !gs.HasGlobal(p) {
				lack = append(lack, p)
			}
		}
		if len(lack) == 0 {
			out = append(out, res(Pass, s, "push_privileges", s.User+" has REPLICATION SLAVE, REPLICATION CLIENT"))
		} else {
			out = append(out, res(Warn, s, "push_privileges",
				fmt.Sprintf("%s lacks %s: fwdproxy's --push-tracking (off by default; a binlog stream from the replica) cannot run; reads wait on the replica as they do by default (grant on the writer; it replicates)",
					s.User, strings.Join(lack, ", ")),
				fmt.Sprintf("GRANT %s ON *.* TO %s;", strings.Join(lack, ", "), userSpec(s.User))))
		}
	}
	return out
}

// --- session tracking ------------------------------------------------------

// CheckSessionTracking: the writer accepts the session settings that make its
// OK packets carry each commit's GTID (tried on the doctor's own session).
func CheckSessionTracking(ctx context.Context, e *Env) []Result {
	w := e.W
	if !w.ok() {
		return nil
	}
	for _, q := range w.Flavor.TrackingSetupSQL() {
		if _, err := w.Q.Query(ctx, q); err != nil {
			fix := "upgrade to a MariaDB whose session_track_system_variables accepts last_gtid (10.11 does)"
			if w.mysql() {
				fix = "upgrade to MySQL 8.0 or later (session_track_gtids = OWN_GTID)"
			}
			return []Result{res(Fail, w, "session_tracking",
				fmt.Sprintf("%s failed: %s: fwdproxy cannot learn the GTIDs of forwarded commits, so SESSION consistency cannot work", q, errText(err)), fix)}
		}
	}
	q, want := "SELECT @@SESSION.session_track_system_variables", "last_gtid"
	if w.mysql() {
		q, want = "SELECT @@SESSION.session_track_gtids", "OWN_GTID"
	}
	rows, err := w.Q.Query(ctx, q)
	if err != nil {
		return []Result{res(Fail, w, "session_tracking", q+": "+errText(err))}
	}
	got := rows.Strings()
	v := ""
	if len(got) > 0 {
		v = got[0]
	}
	okv := strings.EqualFold(v, want) || v == "*"
	for _, part := range strings.Split(v, ",") {
		okv = okv || strings.EqualFold(strings.TrimSpace(part), want)
	}
	if !okv {
		return []Result{res(Fail, w, "session_tracking", fmt.Sprintf("after %s the session has %q, without %s", w.Flavor.TrackingSetupSQL()[0], v, want),
			"upgrade the writer: it does not track "+want)}
	}
	name := strings.TrimPrefix(q, "SELECT @@SESSION.")
	return []Result{res(Pass, w, "session_tracking", fmt.Sprintf("%s can include %s: OK packets carry each commit's GTID", name, want))}
}

// --- writer connections ----------------------------------------------------

// CheckMaxConnections shows the forwarding cap fwdproxy derives from the
// writer's max_connections.
func CheckMaxConnections(_ context.Context, e *Env) []Result {
	w := e.W
	if !w.ok() {
		return nil
	}
	v, _ := w.v("max_connections")
	mc, err := strconv.Atoi(v)
	if err != nil {
		return []Result{res(Warn, w, "max_connections", "cannot read max_connections: "+orNone(v))}
	}
	pct := DefaultWriterMaxConnectionsPct
	limit := mc * pct / 100
	sessions := fmt.Sprintf("%d sessions forward", limit)
	if limit == 1 {
		sessions = "1 session forwards"
	}
	detail := fmt.Sprintf("max_connections=%d: at most %s at once (floor(%d × %d / 100) at the default --writer-max-connections-pct %d)", mc, sessions, mc, pct, pct)
	if limit == 0 {
		need := (100 + pct - 1) / pct
		return []Result{res(Fail, w, "max_connections", detail+": every forwarded write gets 1040",
			setGlobal(w, "max_connections", strconv.Itoa(max(need, 151)), strconv.Itoa(max(need, 151)))...)}
	}
	return []Result{res(Pass, w, "max_connections", detail)}
}

// --- fwdproxy instances ------------------------------------------------------

// CheckInstances lists the fwdproxy instances that use the writer: each
// holds an instance lock there, and the one that turned forwarding off
// (with --shared-writer-limits) holds that switch.
func CheckInstances(ctx context.Context, e *Env) []Result {
	w := e.W
	if !w.ok() {
		return nil
	}
	rows, err := w.Q.Query(ctx, writerlocks.HoldersSQL())
	if err != nil {
		return []Result{res(Info, w, "fwdproxy_instances", "cannot look for fwdproxy instances: "+errText(err))}
	}
	var instances []string
	off := ""
	for _, m := range rows.Maps() {
		who := "connection " + m["id"]
		if m["USER"] != "" {
			who = m["USER"] + "@" + m["HOST"] + " (" + who + ")"
		}
		if m["kind"] == "forwarding_off" {
			off = who
		} else {
			instances = append(instances, who)
		}
	}
	var detail string
	switch len(instances) {
	case 0:
		detail = "no fwdproxy instance uses this writer"
	case 1:
		detail = "1 fwdproxy instance uses this writer: " + instances[0]
	default:
		detail = fmt.Sprintf("%d fwdproxy instances use this writer: %s; unless all run with --shared-writer-limits each allows the whole writer connection cap", len(instances), strings.Join(instances, ", "))
	}
	if off != "" {
		detail += "; forwarding is switched off for all of them, held by " + off
	}
	return []Result{res(Info, w, "fwdproxy_instances", detail)}
}

// --- accounts from the writer ----------------------------------------------

// CheckAccounts (with --accounts writer): the user reads the accounts the
// way fwdproxy's loader does, and the accounts fwdproxy cannot check by
// their hash are named.
func CheckAccounts(ctx context.Context, e *Env) []Result {
	w := e.W
	if !e.Opt.Accounts || !w.ok() {
		return nil
	}
	q, table := accounts.MariaDBQuery, "mysql.global_priv"
	if w.mysql() {
		q, table = accounts.MySQLQuery, "mysql.user"
	}
	rows, err := w.Q.Query(ctx, q)
	if err != nil {
		return []Result{res(Fail, w, "accounts", fmt.Sprintf("%s cannot read %s: %s: fwdproxy serve --accounts writer loads the accounts from it as its --proxy-user",
			w.User, table, errText(err)), fmt.Sprintf("GRANT SELECT ON %s TO %s;", table, userSpec(w.User)))}
	}
	var text [][]string
	for _, r := range rows.Values {
		row := make([]string, len(r))
		for i, v := range r {
			if v != nil {
				row[i] = *v
			}
		}
		text = append(text, row)
	}
	all, _ := accounts.ParseRows(text, w.mysql())
	var plaintext []string
	native := 0
	for _, a := range all {
		switch a.Plugin {
		case accounts.NativePlugin:
			native++
		case "":
		default:
			plaintext = append(plaintext, fmt.Sprintf("'%s'@'%s' (%s)", a.User, a.Host, a.Plugin))
		}
	}
	out := []Result{res(Pass, w, "accounts", fmt.Sprintf("%s reads %s: %d accounts, %d with a mysql_native_password hash fwdproxy can check", w.User, table, len(all), native))}
	if len(plaintext) > 0 {
		out = append(out, res(Info, w, "accounts_plaintext",
			fmt.Sprintf("%d accounts use a plugin that needs the password in clear, which fwdproxy refuses with 1251 unless listed with --user NAME:PASSWORD: %s",
				len(plaintext), strings.Join(plaintext, ", "))))
	}
	return out
}
