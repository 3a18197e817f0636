// Package pair gives integration tests a real MariaDB writer plus a GTID replica (see
// integration/pair.sh and DESIGN.md "Servers for tests").
//
// Typical use in a test package:
//
//	var p *pair.Pair
//
//	func TestMain(m *testing.M) {
//		var err error
//		if p, err = pair.Get(); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		code := m.Run()
//		if err := p.CheckReplicaClean(); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			code = 1
//		}
//		p.Stop()
//		os.Exit(code)
//	}
package pair

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// EnvVar names the pair.env of an already running pair (written by `pair.sh start DIR`). When it
// is unset, Get starts a private pair.
const EnvVar = "FWDPROXY_PAIR_ENV"

// DefaultWaitTimeout bounds WaitReplicated when its context has no deadline, and CreateDatabase.
const DefaultWaitTimeout = 30 * time.Second

// Replica is one GTID replica of the writer (pair.sh names them replica, replica2, ...).
type Replica struct {
	Name     string // pair.sh's NAME for kill, revive, halt, pause, resume
	Addr     string // host:port on loopback
	Socket   string
	ServerID uint32
}

// Pair is a running writer with one or more replicas (PAIR_REPLICAS); the Reader fields are the
// first replica's.
type Pair struct {
	Replicas                   []Replica // at least one; Replicas[0] is ReaderAddr
	WriterAddr, ReaderAddr     string    // host:port on loopback
	WriterSocket, ReaderSocket string
	User, Password             string // the ALL PRIVILEGES test user (can write to the read_only replica)
	RootUser, RootPassword     string
	ReplUser, ReplPassword     string
	WriterServerID             uint32
	ReaderServerID             uint32
	Dir                        string // pair.sh's DIR

	started bool // Get started it, so Stop stops it

	mu         sync.Mutex
	rootWriter *sql.DB            // cached root handles for the helpers below
	rootRead   map[string]*sql.DB // by replica address
}

// Get returns the pair named by $FWDPROXY_PAIR_ENV or, when that is unset, starts a new one with
// pair.sh in a temporary directory (Stop then stops it).
func Get() (*Pair, error) {
	if env := os.Getenv(EnvVar); env != "" {
		p, err := Load(env)
		if err != nil {
			return nil, fmt.Errorf("pair: %s=%s: %w", EnvVar, env, err)
		}
		return p, nil
	}
	return New()
}

// New always starts a private pair with pair.sh in a temporary directory, whatever
// $FWDPROXY_PAIR_ENV says; Stop stops it. For tests that change the pair's set-up (its
// replication link, its limits) and so must not share it.
func New() (*Pair, error) { return NewN(1) }

// NewN is New with n replicas (pair.sh with PAIR_REPLICAS=n).
func NewN(n int) (*Pair, error) {
	script, err := scriptPath()
	if err != nil {
		return nil, err
	}
	parent, err := os.MkdirTemp("", "fwdpair-")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(parent, "p")
	cmd := exec.Command(script, "start", dir)
	cmd.Stdin = nil
	if n > 1 {
		cmd.Env = append(os.Environ(), fmt.Sprintf("PAIR_REPLICAS=%d", n))
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		// Do not leave half-started servers behind.
		_ = exec.Command(script, "stop", dir).Run()
		_ = os.RemoveAll(parent)
		return nil, fmt.Errorf("pair: %s start %s: %w\n%s", script, dir, err, out)
	}
	p, err := Load(filepath.Join(dir, "pair.env"))
	if err != nil {
		_ = exec.Command(script, "stop", dir).Run()
		_ = os.RemoveAll(parent)
		return nil, err
	}
	p.Dir = dir
	p.started = true
	return p, nil
}

// scriptPath locates pair.sh next to this package's source directory.
func scriptPath() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("pair: cannot locate pair.sh (runtime.Caller failed)")
	}
	script := filepath.Join(filepath.Dir(file), "..", "pair.sh")
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("pair: %w", err)
	}
	return script, nil
}

// Load reads a pair.env written by pair.sh.
func Load(envFile string) (*Pair, error) {
	f, err := os.Open(envFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("pair: %s: bad line %q", envFile, line)
		}
		kv[k] = strings.Trim(v, `"'`)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, k := range []string{"WRITER_ADDR", "READER_ADDR", "TEST_USER", "ROOT_USER"} {
		if kv[k] == "" {
			return nil, fmt.Errorf("pair: %s: %s missing", envFile, k)
		}
	}
	p := &Pair{
		WriterAddr: kv["WRITER_ADDR"], ReaderAddr: kv["READER_ADDR"],
		WriterSocket: kv["WRITER_SOCKET"], ReaderSocket: kv["READER_SOCKET"],
		User: kv["TEST_USER"], Password: kv["TEST_PASSWORD"],
		RootUser: kv["ROOT_USER"], RootPassword: kv["ROOT_PASSWORD"],
		ReplUser: kv["REPL_USER"], ReplPassword: kv["REPL_PASSWORD"],
		WriterServerID: 1, ReaderServerID: 2,
		Dir: kv["PAIR_DIR"],
	}
	if p.Dir == "" {
		p.Dir = filepath.Dir(envFile)
	}
	if err := p.loadReplicas(kv); err != nil {
		return nil, fmt.Errorf("pair: %s: %w", envFile, err)
	}
	for k, dst := range map[string]*uint32{"WRITER_SERVER_ID": &p.WriterServerID, "READER_SERVER_ID": &p.ReaderServerID} {
		if s := kv[k]; s != "" {
			n, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("pair: %s: %s=%q: %w", envFile, k, s, err)
			}
			*dst = uint32(n)
		}
	}
	return p, nil
}

// loadReplicas fills Replicas from READER_ADDRS, READER_SOCKETS, READER_SERVER_IDS and
// REPLICA_NAMES, or, without them (one replica), from the READER_ fields.
func (p *Pair) loadReplicas(kv map[string]string) error {
	if kv["READER_ADDRS"] == "" {
		p.Replicas = []Replica{{Name: "replica", Addr: p.ReaderAddr, Socket: p.ReaderSocket, ServerID: p.ReaderServerID}}
		return nil
	}
	list := func(k string) []string { return strings.Split(kv[k], ",") }
	addrs, socks, ids, names := list("READER_ADDRS"), list("READER_SOCKETS"), list("READER_SERVER_IDS"), list("REPLICA_NAMES")
	if len(socks) != len(addrs) || len(ids) != len(addrs) || len(names) != len(addrs) {
		return fmt.Errorf("READER_ADDRS, READER_SOCKETS, READER_SERVER_IDS and REPLICA_NAMES differ in length")
	}
	for i, a := range addrs {
		id, err := strconv.ParseUint(ids[i], 10, 32)
		if err != nil {
			return fmt.Errorf("READER_SERVER_IDS: %w", err)
		}
		p.Replicas = append(p.Replicas, Replica{Name: names[i], Addr: a, Socket: socks[i], ServerID: uint32(id)})
	}
	if p.Replicas[0].Addr != p.ReaderAddr {
		return fmt.Errorf("READER_ADDRS starts with %s, READER_ADDR is %s", p.Replicas[0].Addr, p.ReaderAddr)
	}
	return nil
}

// ReaderAddrs is every replica's address, in order.
func (p *Pair) ReaderAddrs() []string {
	out := make([]string, len(p.Replicas))
	for i, r := range p.Replicas {
		out[i] = r.Addr
	}
	return out
}

// Replica returns the replica named name (pair.sh's NAME).
func (p *Pair) Replica(name string) (Replica, error) {
	for _, r := range p.Replicas {
		if r.Name == name {
			return r, nil
		}
	}
	return Replica{}, fmt.Errorf("pair: no replica %q", name)
}

// Script runs `pair.sh VERB DIR ARGS...` on this pair: kill, revive, halt, pause, resume or
// delay of one server (see pair.sh). Cached root handles to that server are dropped.
func (p *Pair) Script(verb string, args ...string) error {
	script, err := scriptPath()
	if err != nil {
		return err
	}
	out, err := exec.Command(script, append([]string{verb, p.Dir}, args...)...).CombinedOutput()
	if len(args) > 0 {
		p.mu.Lock()
		for _, r := range p.Replicas {
			if r.Name == args[0] && p.rootRead[r.Addr] != nil {
				p.rootRead[r.Addr].Close()
				delete(p.rootRead, r.Addr)
			}
		}
		p.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("pair: pair.sh %s %s %v: %w\n%s", verb, p.Dir, args, err, out)
	}
	return nil
}

// Stop closes the helper connections and, if Get started the pair, stops it and removes its
// directory. A pair given by $FWDPROXY_PAIR_ENV is left running for its owner (the Makefile).
func (p *Pair) Stop() error {
	p.mu.Lock()
	if p.rootWriter != nil {
		p.rootWriter.Close()
	}
	for _, db := range p.rootRead {
		db.Close()
	}
	p.rootWriter, p.rootRead = nil, nil
	started := p.started
	p.started = false
	p.mu.Unlock()
	if !started {
		return nil
	}
	script, err := scriptPath()
	if err != nil {
		return err
	}
	out, err := exec.Command(script, "stop", p.Dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pair: %s stop %s: %w\n%s", script, p.Dir, err, out)
	}
	return os.Remove(filepath.Dir(p.Dir)) // the MkdirTemp parent
}

// SetMaster points the replica's replication at host:port (e.g. a latency proxy in front of
// the writer), as root: STOP SLAVE; CHANGE MASTER TO MASTER_HOST, MASTER_PORT; START SLAVE. Every
// other replication setting (user, MASTER_USE_GTID=slave_pos) is kept, so the replica resumes
// from its own GTID position. It returns once both replication threads run again.
func (p *Pair) SetMaster(host string, port int) error {
	return p.SetMasterOf(p.Replicas[0], host, port)
}

// SetMasterOf is SetMaster for replica r.
func (p *Pair) SetMasterOf(rep Replica, host string, port int) error {
	if host == "" || strings.ContainsAny(host, "'\\\x00") || port <= 0 || port > 65535 {
		return fmt.Errorf("pair: bad master address %q:%d", host, port)
	}
	r, err := p.rootReplica(rep)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultWaitTimeout)
	defer cancel()
	// One connection: the three statements belong together.
	c, err := r.Conn(ctx)
	if err != nil {
		return fmt.Errorf("pair: replica %s: %w", rep.Addr, err)
	}
	defer c.Close()
	for _, q := range []string{
		"STOP SLAVE",
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%d", host, port),
		"START SLAVE",
	} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("pair: %s: %w", q, err)
		}
	}
	for {
		st, err := p.slaveStatus(ctx, r)
		if err != nil {
			return fmt.Errorf("pair: SHOW SLAVE STATUS: %w", err)
		}
		if st != nil && st["Slave_IO_Running"] == "Yes" && st["Slave_SQL_Running"] == "Yes" {
			return nil
		}
		if st != nil && (st["Last_IO_Errno"] != "0" || st["Last_SQL_Errno"] != "0") && st["Slave_IO_Running"] == "No" {
			return fmt.Errorf("pair: replication via %s:%d did not start: IO=%s SQL=%s Last_IO_Error=%q Last_SQL_Error=%q",
				host, port, st["Slave_IO_Running"], st["Slave_SQL_Running"], st["Last_IO_Error"], st["Last_SQL_Error"])
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pair: replication via %s:%d did not start: %w", host, port, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// DSN returns a go-sql-driver DSN (TCP, multiStatements off) for user/password at addr, database
// db ("" = none).
func DSN(addr, user, password, db string) string {
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = addr
	cfg.User = user
	cfg.Passwd = password
	cfg.DBName = db
	cfg.Timeout = 10 * time.Second
	return cfg.FormatDSN()
}

// WriterDSN is the DSN of the test user on the writer.
func (p *Pair) WriterDSN(db string) string { return DSN(p.WriterAddr, p.User, p.Password, db) }

// ReaderDSN is the DSN of the test user on the replica.
func (p *Pair) ReaderDSN(db string) string { return DSN(p.ReaderAddr, p.User, p.Password, db) }

func open(dsn string) (*sql.DB, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// WriterDB connects as the test user to the writer, database db ("" = none).
func (p *Pair) WriterDB(db string) (*sql.DB, error) { return open(p.WriterDSN(db)) }

// ReaderDB connects as the test user to the replica, database db ("" = none).
func (p *Pair) ReaderDB(db string) (*sql.DB, error) { return open(p.ReaderDSN(db)) }

// RootDB connects as root to addr (p.WriterAddr or p.ReaderAddr), no database.
func (p *Pair) RootDB(addr string) (*sql.DB, error) {
	return open(DSN(addr, p.RootUser, p.RootPassword, ""))
}

// rootWriterDB returns the cached root handle to the writer.
func (p *Pair) rootWriterDB() (*sql.DB, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rootWriter == nil {
		db, err := p.RootDB(p.WriterAddr)
		if err != nil {
			return nil, fmt.Errorf("pair: writer %s: %w", p.WriterAddr, err)
		}
		p.rootWriter = db
	}
	return p.rootWriter, nil
}

// rootReplica returns the cached root handle to replica r.
func (p *Pair) rootReplica(r Replica) (*sql.DB, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if db := p.rootRead[r.Addr]; db != nil {
		return db, nil
	}
	db, err := p.RootDB(r.Addr)
	if err != nil {
		return nil, fmt.Errorf("pair: replica %s %s: %w", r.Name, r.Addr, err)
	}
	if p.rootRead == nil {
		p.rootRead = map[string]*sql.DB{}
	}
	p.rootRead[r.Addr] = db
	return db, nil
}

// WaitReplicated blocks until every replica has applied everything the writer has committed when
// it is called (MASTER_GTID_WAIT of the writer's @@gtid_binlog_pos). Without a deadline in ctx it
// gives up after DefaultWaitTimeout; it fails at once when a replica's SQL thread has an error.
func (p *Pair) WaitReplicated(ctx context.Context) error {
	for _, r := range p.Replicas {
		if err := p.WaitReplicaReplicated(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// WaitReplicaReplicated is WaitReplicated for replica rep only.
func (p *Pair) WaitReplicaReplicated(ctx context.Context, rep Replica) error {
	w, err := p.rootWriterDB()
	if err != nil {
		return err
	}
	r, err := p.rootReplica(rep)
	if err != nil {
		return err
	}
	timeout := DefaultWaitTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return context.DeadlineExceeded
	}
	var pos string
	if err := w.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos); err != nil {
		return fmt.Errorf("pair: writer gtid_binlog_pos: %w", err)
	}
	if pos == "" {
		return nil
	}
	// Wait in short slices so that a broken replica (SQL thread stopped by an error) fails fast
	// instead of after the whole timeout.
	end := time.Now().Add(timeout)
	for {
		slice := min(time.Until(end), time.Second)
		var res sql.NullInt64
		if err := r.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", pos, max(slice.Seconds(), 0)).Scan(&res); err != nil {
			return fmt.Errorf("pair: MASTER_GTID_WAIT(%s): %w", pos, err)
		}
		if res.Valid && res.Int64 == 0 {
			return nil
		}
		st, err := p.slaveStatus(ctx, r)
		if err != nil {
			return fmt.Errorf("pair: SHOW SLAVE STATUS: %w", err)
		}
		if st == nil {
			return fmt.Errorf("pair: replica %s has no replication configured", rep.Addr)
		}
		why := ""
		if st["Last_SQL_Errno"] != "0" {
			why = "replication SQL thread failed"
		} else if time.Now().After(end) {
			why = "timed out after " + timeout.Round(time.Millisecond).String()
		}
		if why != "" {
			return fmt.Errorf("pair: replica %s did not reach writer position %s: %s (IO=%s SQL=%s Last_IO_Error=%q Last_SQL_Error=%q)",
				rep.Name, pos, why, st["Slave_IO_Running"], st["Slave_SQL_Running"], st["Last_IO_Error"], st["Last_SQL_Error"])
		}
	}
}

// slaveStatus returns SHOW SLAVE STATUS as column -> value (nil if replication is not set up).
func (p *Pair) slaveStatus(ctx context.Context, r *sql.DB) (map[string]string, error) {
	rows, err := r.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	m := make(map[string]string, len(cols))
	for i, c := range cols {
		m[c] = vals[i].String
	}
	return m, rows.Err()
}

// CheckReplicaClean returns an error unless, on every replica, nothing was ever written directly
// (its @@gtid_binlog_pos and @@gtid_current_pos hold no GTID with its own server_id) and
// replication is healthy (Slave_IO_Running and Slave_SQL_Running Yes, Last_IO_Errno and
// Last_SQL_Errno 0). A test that stopped or killed a replica revives it first.
func (p *Pair) CheckReplicaClean() error {
	var errs []error
	for _, r := range p.Replicas {
		errs = append(errs, p.checkClean(r))
	}
	return errors.Join(errs...)
}

func (p *Pair) checkClean(rep Replica) error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultWaitTimeout)
	defer cancel()
	r, err := p.rootReplica(rep)
	if err != nil {
		return err
	}
	var id uint32
	var binlogPos, currentPos string
	if err := r.QueryRowContext(ctx, "SELECT @@server_id, @@GLOBAL.gtid_binlog_pos, @@GLOBAL.gtid_current_pos").
		Scan(&id, &binlogPos, &currentPos); err != nil {
		return fmt.Errorf("pair: replica positions: %w", err)
	}
	var problems []string
	if id != rep.ServerID {
		problems = append(problems, fmt.Sprintf("replica @@server_id=%d, want %d", id, rep.ServerID))
	}
	if own := ownGTIDs(binlogPos, id); len(own) > 0 {
		problems = append(problems, fmt.Sprintf("replica wrote its own transactions: gtid_binlog_pos=%s (own: %s)", binlogPos, strings.Join(own, ",")))
	}
	if own := ownGTIDs(currentPos, id); len(own) > 0 {
		problems = append(problems, fmt.Sprintf("replica wrote its own transactions: gtid_current_pos=%s (own: %s)", currentPos, strings.Join(own, ",")))
	}
	st, err := p.slaveStatus(ctx, r)
	if err != nil {
		return fmt.Errorf("pair: SHOW SLAVE STATUS: %w", err)
	}
	if st == nil {
		problems = append(problems, "replica has no replication configured (SHOW SLAVE STATUS is empty)")
	} else {
		for _, c := range []struct{ col, want string }{
			{"Slave_IO_Running", "Yes"}, {"Slave_SQL_Running", "Yes"},
			{"Last_IO_Errno", "0"}, {"Last_SQL_Errno", "0"},
		} {
			if got := st[c.col]; got != c.want {
				problems = append(problems, fmt.Sprintf("%s=%q, want %q", c.col, got, c.want))
			}
		}
		if e := st["Last_SQL_Error"]; e != "" {
			problems = append(problems, "Last_SQL_Error: "+e)
		}
		if e := st["Last_IO_Error"]; e != "" {
			problems = append(problems, "Last_IO_Error: "+e)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("pair: replica %s %s is not clean: %s", rep.Name, rep.Addr, strings.Join(problems, "; "))
	}
	return nil
}

// ownGTIDs returns the GTIDs (domain-server-seqno) in a MariaDB GTID position list such as
// "0-1-5,1-2-3" whose server_id is serverID. Malformed entries are ignored.
func ownGTIDs(pos string, serverID uint32) []string {
	var own []string
	for _, g := range strings.Split(pos, ",") {
		g = strings.TrimSpace(g)
		if g == "" {
			continue
		}
		parts := strings.Split(g, "-")
		if len(parts) != 3 {
			continue
		}
		if _, err := strconv.ParseUint(parts[0], 10, 32); err != nil {
			continue
		}
		if _, err := strconv.ParseUint(parts[2], 10, 64); err != nil {
			continue
		}
		s, err := strconv.ParseUint(parts[1], 10, 32)
		if err != nil {
			continue
		}
		if uint32(s) == serverID {
			own = append(own, g)
		}
	}
	return own
}

// CreateDatabase drops (if it exists) and creates database name on the writer, then waits until
// the replica has it, so that each test package can use its own database on a shared pair.
func (p *Pair) CreateDatabase(name string) error {
	if name == "" || strings.ContainsAny(name, "`\x00/\\.") || len(name) > 64 {
		return fmt.Errorf("pair: bad database name %q", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultWaitTimeout)
	defer cancel()
	w, err := p.rootWriterDB()
	if err != nil {
		return err
	}
	for _, q := range []string{"DROP DATABASE IF EXISTS `" + name + "`", "CREATE DATABASE `" + name + "`"} {
		if _, err := w.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("pair: %s: %w", q, err)
		}
	}
	return p.WaitReplicated(ctx)
}

// CreateTables is CreateDatabase followed by stmts (CREATE TABLE, INSERT ...) run in order in
// database db on the writer as the test user; it returns once every replica has them.
func (p *Pair) CreateTables(db string, stmts ...string) error {
	if err := p.CreateDatabase(db); err != nil {
		return err
	}
	w, err := p.WriterDB(db)
	if err != nil {
		return err
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultWaitTimeout)
	defer cancel()
	for _, q := range stmts {
		if _, err := w.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("pair: %s: %w", q, err)
		}
	}
	return p.WaitReplicated(ctx)
}
