package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Setting is one row of the settings table of `fwdproxy serve`. A setting is
// described here once: cmd/fwdproxy makes its flag, YAML key and environment
// variable from the row, ConfigFrom reads its text, Validate checks it and
// Reload copies it.
type Setting struct {
	Name    string // the flag --Name and the YAML key Name
	Default string // as text, the way --help shows it
	Reload  bool   // SIGHUP applies it to the running server; otherwise it needs a restart
	help    string
	arg     string // stringKind: what --help calls the value (FILE); the other kinds name theirs
	kind    kind
	allowed []string // enumKind: the accepted values, in their canonical spelling
	// intKind: the range [min, max]; durationKind: min 1 means it must be
	// positive (a duration is never negative).
	min, max int
	// field is the Config field the setting lands in, a pointer of the kind's
	// Go type. It is nil for the TLS files, which ConfigFrom loads together,
	// and for logging, which the caller reads from Values.
	field func(*Config) any
}

// kind is how a setting's text is read and what Go type it lands as.
type kind int

const (
	stringKind   kind = iota // string, as given
	intKind                  // int, a whole number in [min, max]
	boolKind                 // bool, strconv.ParseBool; a flag alone means true
	durationKind             // time.Duration: a Go duration (500ms) or seconds (0.5)
	enumKind                 // string, one of allowed in any case or quoted
	switchKind               // bool: enabled or disabled (also on/off, true/false, 1/0)
	listKind                 // map[string]string: repeatable NAME:PASSWORD
	addrListKind             // []string: repeatable HOST:PORT|PATH (or CIDR)
)

// Settings is the table. The order is the order of --help.
var Settings = []Setting{
	{Name: "listen", arg: "HOST:PORT", Default: "127.0.0.1:4000", help: "address for MySQL clients",
		field: func(c *Config) any { return &c.Listen }},
	{Name: "writer", arg: "HOST:PORT|PATH", kind: addrListKind,
		help:  "writer address HOST:PORT, or a Unix socket path; repeat it to name candidates, of which the writer is the one that is writable and not replicating",
		field: func(c *Config) any { return &c.Writers }},
	{Name: "writer-change-wait", Default: "10s", kind: durationKind, min: 1, Reload: true,
		help:  "with several --writer: how long a statement waits for a writer while none qualifies (a switchover or failover)",
		field: func(c *Config) any { return &c.WriterChangeWait }},
	{Name: "reader", arg: "HOST:PORT|PATH", kind: addrListKind, Reload: true,
		help:  "reader (GTID replica of the writer) address HOST:PORT, or a Unix socket path; repeat it for a reader endpoint of several (SIGHUP adds and removes readers of an endpoint started with several, all but the first)",
		field: func(c *Config) any { return &c.Readers }},
	{Name: "max-reader-lag", Default: "0", kind: intKind, min: 0, max: 86400000, Reload: true,
		help:  "milliseconds of replication lag (from GTID positions) past which a reader takes no new reads, with several --reader; 0 for no bound",
		field: func(c *Config) any { return &c.MaxReaderLag }},
	{Name: "no-reader-policy", Default: "wait", kind: enumKind, allowed: []string{"wait", "writer", "error"}, Reload: true,
		help:  "with several --reader, when none is healthy: wait on the nearest (up to --read-wait-timeout), serve the read from the writer, or fail it at once with 3024",
		field: func(c *Config) any { return &c.NoReaderPolicy }},
	{Name: "user", kind: listKind, Reload: true,
		help:  "a client user (repeatable); the proxy logs in to the backends as the same user. NAME:env:VAR and NAME:file:PATH read the password from the environment or a file",
		field: func(c *Config) any { return &c.Users }},
	{Name: "user-file", arg: "FILE",
		help: "a file of client users, one NAME:PASSWORD a line (# comments), besides --user: keeps passwords off the command line; mode 0600. Read again on SIGHUP"},
	{Name: "proxy-user", arg: "NAME", Reload: true,
		help:  "the --user NAME the proxy's own backend connections log in as (writer position look-ups, the max_connections probe, the binlog tracker); default: the first --user",
		field: func(c *Config) any { return &c.ProxyUser }},
	{Name: "accounts", kind: enumKind, allowed: []string{"", "writer"},
		help:  "writer: authenticate every client not listed with --user against the writer's accounts (mysql.global_priv, mysql.user) and their mysql_native_password hashes, with no password in the proxy's settings; the --proxy-user needs SELECT on that table (docs/operations.md)",
		field: func(c *Config) any { return &c.Accounts }},
	{Name: "accounts-refresh", Default: "60s", kind: durationKind, min: 1, Reload: true,
		help:  "with --accounts writer: how often the accounts are loaded again (also on SIGHUP, and on a failed login at most once a second)",
		field: func(c *Config) any { return &c.AccountsRefresh }},
	{Name: "proxy-protocol-networks", arg: "CIDR", kind: addrListKind, Reload: true,
		help:  "load balancers that send a PROXY protocol header (v1 or v2), as CIDRs or addresses (repeatable, or comma-separated): a peer in them must send one, and the client is known by the header's address; other peers are served without",
		field: func(c *Config) any { return &c.ProxyProtocolNetworks }},
	{Name: "admin", arg: "HOST:PORT", Default: "127.0.0.1:4001", help: "admin HTTP address (/status, /metrics); empty to disable",
		field: func(c *Config) any { return &c.Admin }},
	{Name: "admin-token", arg: "TOKEN", Reload: true,
		help:  "the admin API's bearer token (Authorization: Bearer TOKEN, or basic auth with TOKEN as the password); required when --admin is not loopback. Give it as FWDPROXY_ADMIN_TOKEN or with --admin-token-file: a flag shows in ps",
		field: func(c *Config) any { return &c.AdminToken }},
	{Name: "admin-token-file", arg: "FILE",
		help: "a file holding --admin-token (its first line); mode 0600. Read again on SIGHUP"},
	{Name: "admin-pprof", Default: "false", kind: boolKind,
		help:  "serve Go profiles at /debug/pprof/ on the admin address",
		field: func(c *Config) any { return &c.AdminPprof }},
	{Name: "topology-file", arg: "FILE", Reload: true,
		help:  "a JSON file describing the deployment (servers, and links with their lag or round trip), read on every GET /status and shown there as \"topology\" for the status page to draw; fwdproxy sandbox up writes one",
		field: func(c *Config) any { return &c.TopologyFile }},
	{Name: "forwarding", Default: "enabled", kind: switchKind, Reload: true, help: "proxy-level write forwarding",
		field: func(c *Config) any { return &c.Forwarding }},
	{Name: "default-consistency", kind: enumKind, allowed: []string{"", "EVENTUAL", "SESSION", "GLOBAL"}, Reload: true,
		help:  "initial aurora_replica_read_consistency of every session",
		field: func(c *Config) any { return &c.DefaultConsistency }},
	{Name: "session-scope", Default: "connection", kind: enumKind, allowed: []string{"connection", "user"}, Reload: true,
		help:  "whose writes a SESSION read waits for: the connection's own (Aurora's SESSION), or those of every connection of the same user through this proxy, so a connection pool reads its own writes; initial fwdproxy_session_scope of every session",
		field: func(c *Config) any { return &c.SessionScope }},
	{Name: "writer-idle-timeout", Default: "60", kind: intKind, min: 1, max: 86400, Reload: true,
		help:  "seconds a session's idle writer connection is kept",
		field: func(c *Config) any { return &c.WriterIdleTimeout }},
	{Name: "writer-max-connections-pct", Default: "10", kind: intKind, min: 0, max: 90, Reload: true,
		help:  "percent of the writer's max_connections sessions may hold",
		field: func(c *Config) any { return &c.WriterMaxConnectionsPct }},
	{Name: "shared-writer-limits", Default: "false", kind: boolKind, Reload: true,
		help:  "several proxy instances in front of one writer: count --writer-max-connections-pct on the writer itself (a named lock a writer connection), so all of them together stay within it, and keep the forwarding switch (POST /forwarding) there, so it acts on all of them",
		field: func(c *Config) any { return &c.SharedWriterLimits }},
	{Name: "read-wait-timeout", Default: "10s", kind: durationKind, min: 1, Reload: true,
		help:  "longest consistency wait before a read (e.g. 500ms, 10s)",
		field: func(c *Config) any { return &c.ReadWaitTimeout }},
	{Name: "read-wait-timeout-action", Default: "error", kind: enumKind, allowed: []string{"error", "writer"}, Reload: true,
		help:  "past --read-wait-timeout: error 3024, or serve the read from the writer",
		field: func(c *Config) any { return &c.ReadWaitTimeoutAction }},
	{Name: "aurora-read-write-quirk", Default: "false", kind: boolKind,
		help:  "reproduce Aurora's 1290 for START TRANSACTION READ WRITE without SUPER/CONNECTION_ADMIN",
		field: func(c *Config) any { return &c.ReadWriteQuirk }},
	{Name: "audit", Default: "false", kind: boolKind,
		help:  "audit mode: in front of the current writer only (no --reader), pass everything through and record what write forwarding would reject or change (GET /audit)",
		field: func(c *Config) any { return &c.Audit }},
	{Name: "audit-lag", Default: "0", kind: durationKind,
		help:  "audit mode: simulated replica lag (e.g. 500ms); a read within it of the session's own committed write is reported as stale at EVENTUAL (GET /audit)",
		field: func(c *Config) any { return &c.AuditLag }},
	{Name: "digest-top", Default: "20", kind: intKind, min: 0, max: 1000,
		help:  "statement digests GET /status shows, most run first (0: keep no digest statistics)",
		field: func(c *Config) any { return &c.DigestTop }},
	{Name: "statement-log", Default: "", kind: stringKind, arg: "FILE", Reload: true,
		help:  "append one JSON line per statement (time, session, digest, route, wait_us, error) to FILE; SIGHUP reopens it (log rotation)",
		field: func(c *Config) any { return &c.StatementLog }},
	{Name: "capture-file", Default: "", kind: stringKind, arg: "FILE",
		help:  "record what clients send (connects, commands with their bound parameters, what each got) to FILE, replaced, for `fwdproxy replay`; passwords are never recorded",
		field: func(c *Config) any { return &c.CaptureFile }},
	{Name: "capture-max-bytes", Default: "67108864", kind: intKind, min: 4096, max: 1<<31 - 1,
		help:  "size limit of --capture-file in bytes; reaching it stops the capture (logged, and in GET /status)",
		field: func(c *Config) any { return &c.CaptureMaxBytes }},
	{Name: "push-tracking", Default: "false", kind: boolKind,
		help:  "follow the reader's binlog to learn what it applied (needs REPLICATION SLAVE); false: waits on the reader only",
		field: func(c *Config) any { return &c.PushTracking }},
	{Name: "config-watch", Default: "0", kind: durationKind,
		help:  "re-read --config and the files it names this often and reload (as SIGHUP) when one changed, e.g. 10s for a Kubernetes ConfigMap mounted as a directory; 0: only on SIGHUP",
		field: func(c *Config) any { return &c.ConfigWatch }},
	{Name: "forward-timeout", Default: "0", kind: durationKind, help: "bound on one forwarded statement (e.g. 30s); 0 for none",
		field: func(c *Config) any { return &c.ForwardTimeout }},
	{Name: "max-client-connections", Default: "2048", kind: intKind, min: 1, max: 1000000, Reload: true,
		help:  "client connections held at once, logged in or not; one more gets 1040 Too many connections",
		field: func(c *Config) any { return &c.MaxClientConnections }},
	{Name: "handshake-timeout", Default: "10s", kind: durationKind, min: 1, Reload: true,
		help:  "a client that has not logged in within it is disconnected (MariaDB's connect_timeout)",
		field: func(c *Config) any { return &c.HandshakeTimeout }},
	{Name: "max-allowed-packet", Default: "16777216", kind: intKind, min: 1024, max: 1 << 30, Reload: true,
		help:  "largest client command in bytes, as max_allowed_packet (MariaDB's default); a bigger one gets 1153 and is skipped: the proxy holds at most this much of it",
		field: func(c *Config) any { return &c.MaxPacket }},
	{Name: "max-connect-errors", Default: "100", kind: intKind, min: 0, max: 1 << 30, Reload: true,
		help:  "failed logins in a row from one client address before it is blocked with 1129 (MariaDB's max_connect_errors); 0 never blocks",
		field: func(c *Config) any { return &c.MaxConnectErrors }},
	{Name: "host-block-time", Default: "5m", kind: durationKind, min: 1, Reload: true,
		help:  "how long a client address blocked by --max-connect-errors stays blocked; SIGHUP unblocks every address",
		field: func(c *Config) any { return &c.HostBlockTime }},
	{Name: "graceful-wait-before-shutdown", Default: "0s", kind: durationKind, Reload: true,
		help:  "on SIGTERM, how long /readyz answers 503 while sessions are still served as usual, so a load balancer drains first; then the shutdown-timeout drain",
		field: func(c *Config) any { return &c.GracefulWait }},
	{Name: "shutdown-timeout", Default: "30s", kind: durationKind, Reload: true,
		help:  "on SIGTERM, how long open transactions may take to finish; new sessions and transactions get 1053 meanwhile",
		field: func(c *Config) any { return &c.ShutdownTimeout }},
	{Name: "auth-method", Default: "mysql_native_password", kind: enumKind,
		allowed: []string{"mysql_native_password", "caching_sha2_password"}, help: "client authentication",
		field: func(c *Config) any { return &c.AuthMethod }},
	{Name: "tls-cert", arg: "FILE", help: "PEM certificate for client TLS (with --tls-key)"},
	{Name: "tls-key", arg: "FILE", help: "PEM key for client TLS (with --tls-cert)"},
	{Name: "require-tls", Default: "false", kind: boolKind, help: "refuse clients that do not use TLS",
		field: func(c *Config) any { return &c.RequireTLS }},
	{Name: "backend-tls", Default: "off", kind: enumKind, allowed: []string{"off", "skip-verify", "verify"},
		help: "TLS to the writer and reader"},
	{Name: "backend-ca", arg: "FILE", help: "PEM CA bundle to verify the backends with (backend-tls=verify); system roots when empty"},
	{Name: "log-level", arg: "LEVEL", Default: "info", help: "least level logged: debug, info, warn or error"},
	{Name: "log-format", Default: "console", kind: enumKind, allowed: []string{"console", "json"}, help: "log lines for people or for machines"},
}

// Env is the setting's environment variable: FWDPROXY_ and the name in
// upper case with underscores.
func (s Setting) Env() string {
	return "FWDPROXY_" + strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
}

// IsBool says a flag alone (--audit) means true.
func (s Setting) IsBool() bool { return s.kind == boolKind }

// IsList says the setting repeats: every flag adds an item, a YAML sequence
// or a comma-separated environment variable gives them all.
func (s Setting) IsList() bool { return s.kind == listKind || s.kind == addrListKind }

// Arg names the value in --help: `--writer-idle-timeout N`.
func (s Setting) Arg() string {
	switch s.kind {
	case boolKind:
		return "[=true|false]"
	case intKind:
		return "N"
	case durationKind:
		return "DURATION"
	case listKind:
		return "NAME:PASSWORD"
	case addrListKind:
		return s.arg
	case enumKind:
		return strings.Join(quoteEmpty(s.allowed), "|")
	case switchKind:
		return "enabled|disabled"
	}
	return s.arg
}

// Help is the --help text: what it does, its range, its default, and
// whether SIGHUP reloads it.
func (s Setting) Help() string {
	h := s.help
	if s.kind == intKind {
		h += fmt.Sprintf(" (%d-%d)", s.min, s.max)
	}
	if s.Default != "" && s.Default != "false" {
		h += "; default " + s.Default
	}
	if s.Reload {
		h += "; SIGHUP reloads it"
	}
	return h
}

// Values are settings as text by name, as cmd/fwdproxy read them from the
// file, the environment and the flags: one text a setting, one a list item.
type Values map[string][]string

// Text is a setting's text: the last one given, or its default.
func (v Values) Text(name string) string {
	if t := v[name]; len(t) > 0 {
		return t[len(t)-1]
	}
	return setting(name).Default
}

// ConfigFrom reads every setting of v (the default where v has none) into
// a Config and validates it. getenv resolves NAME:env:VAR passwords.
func ConfigFrom(v Values, getenv func(string) string) (Config, error) {
	c := Defaults()
	for _, s := range Settings {
		texts := v[s.Name]
		if len(texts) == 0 {
			continue // Defaults has it
		}
		val, err := s.parse(texts, getenv)
		if err != nil {
			return c, err
		}
		if s.field != nil {
			s.put(&c, val)
		}
	}
	first, err := loadSecretFiles(&c, v, getenv)
	if err != nil {
		return c, err
	}
	if c.ProxyUser == "" {
		c.ProxyUser = first
	}
	if err := loadTLS(&c, v); err != nil {
		return c, err
	}
	if len(c.Readers) > 0 {
		c.Reader = c.Readers[0]
	}
	if len(c.Writers) > 0 {
		c.Writer = c.Writers[0]
	}
	return c, c.Validate()
}

// Defaults returns a Config with every setting at its default.
func Defaults() Config {
	var c Config
	for _, s := range Settings {
		if s.field == nil {
			continue
		}
		texts := []string{s.Default}
		if s.IsList() {
			texts = nil // a list starts empty
		}
		val, err := s.parse(texts, nil)
		if err != nil {
			panic(err) // a bad row; TestDefaultsAreTheRows catches it
		}
		s.put(&c, val)
	}
	return c
}

// put lands a value of the row's Go type in c.
func (s Setting) put(c *Config, val any) {
	reflect.ValueOf(s.field(c)).Elem().Set(reflect.ValueOf(val))
}

// copy sets the row's field of dst to that of src.
func (s Setting) copy(dst, src *Config) {
	reflect.ValueOf(s.field(dst)).Elem().Set(reflect.ValueOf(s.field(src)).Elem())
}

func setting(name string) Setting {
	for _, s := range Settings {
		if s.Name == name {
			return s
		}
	}
	panic("no setting " + name)
}

// parse reads a setting's texts (the last one, but for a list) as its kind's
// Go type. Ranges are Validate's, so that a Config built in code gets them too.
func (s Setting) parse(texts []string, getenv func(string) string) (any, error) {
	switch s.kind {
	case listKind:
		return parseUsers(s.Name, texts, getenv)
	case addrListKind:
		var out []string
		for _, t := range texts {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
		return out, nil
	}
	t := texts[len(texts)-1]
	switch s.kind {
	case intKind:
		n, err := strconv.Atoi(t)
		if err != nil {
			return nil, fmt.Errorf("--%s must be a whole number, got %q", s.Name, t)
		}
		return n, nil
	case boolKind:
		b, err := strconv.ParseBool(t)
		if err != nil {
			return nil, fmt.Errorf("--%s must be true or false, got %q", s.Name, t)
		}
		return b, nil
	case durationKind:
		return parseDuration(s.Name, t)
	case enumKind:
		for _, a := range s.allowed {
			if strings.EqualFold(strings.Trim(t, `'"`), a) {
				return a, nil
			}
		}
		return nil, s.notAllowed(t)
	case switchKind:
		switch strings.ToLower(t) {
		case "enabled", "on", "true", "1":
			return true, nil
		case "disabled", "off", "false", "0":
			return false, nil
		}
		return nil, fmt.Errorf("--%s must be enabled or disabled, got %q", s.Name, t)
	}
	return t, nil
}

// parseDuration accepts Go durations and plain seconds ("10", "0.5").
func parseDuration(name, v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("--%s: not a duration: %q", name, v)
	}
	return d, nil
}

// parseUsers reads NAME:PASSWORD items; the password may be env:VAR or
// file:PATH.
func parseUsers(flag string, items []string, getenv func(string) string) (map[string]string, error) {
	users := map[string]string{}
	for _, u := range items {
		name, pass, ok := strings.Cut(u, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("--%s must be NAME:PASSWORD, got %q", flag, u)
		}
		if v, ok := strings.CutPrefix(pass, "env:"); ok {
			pass = getenv(v)
		} else if path, ok := strings.CutPrefix(pass, "file:"); ok {
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("--%s %s: password file: %v", flag, name, err)
			}
			pass = strings.TrimRight(string(b), "\r\n")
		}
		users[name] = pass
	}
	return users, nil
}

// loadSecretFiles adds the users of --user-file and reads --admin-token-file.
// It returns the first user name, --user's before the file's: the proxy's
// own user by default.
func loadSecretFiles(c *Config, v Values, getenv func(string) string) (first string, err error) {
	if len(v["user"]) > 0 {
		first, _, _ = strings.Cut(v["user"][0], ":")
	}
	if path := v.Text("user-file"); path != "" {
		lines, err := secretLines(path)
		if err != nil {
			return "", fmt.Errorf("--user-file: %v", err)
		}
		if c.Users == nil {
			c.Users = map[string]string{}
		}
		for i, line := range lines {
			if line == "" {
				continue
			}
			name, _, ok := strings.Cut(line, ":")
			if !ok || name == "" { // the line is not echoed: it may be a password
				return "", fmt.Errorf("--user-file %s: line %d is not NAME:PASSWORD", path, i+1)
			}
			if _, dup := c.Users[name]; dup {
				return "", fmt.Errorf("--user-file %s: line %d: user %q is given twice", path, i+1, name)
			}
			u, err := parseUsers("user-file", []string{line}, getenv)
			if err != nil {
				return "", err
			}
			c.Users[name] = u[name]
			if first == "" {
				first = name
			}
		}
	}
	if path := v.Text("admin-token-file"); path != "" {
		if c.AdminToken != "" {
			return "", fmt.Errorf("--admin-token and --admin-token-file: give one of them")
		}
		lines, err := secretLines(path)
		if err != nil {
			return "", fmt.Errorf("--admin-token-file: %v", err)
		}
		for _, l := range lines {
			if c.AdminToken = strings.TrimSpace(l); c.AdminToken != "" {
				break
			}
		}
		if c.AdminToken == "" {
			return "", fmt.Errorf("--admin-token-file %s holds no token", path)
		}
	}
	return first, nil
}

// secretLines are a secret file's lines without their line ends, blank
// lines and # comments as "".
func secretLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, "\r")
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
			lines[i] = ""
		}
	}
	return lines, nil
}

// SecretFiles are the files the settings of v read passwords, tokens or
// keys from, for the start-up warning about files every user can read.
func SecretFiles(v Values) []string {
	var files []string
	for _, name := range []string{"user-file", "admin-token-file", "tls-key"} {
		if path := v.Text(name); path != "" {
			files = append(files, path)
		}
	}
	for _, u := range v["user"] {
		_, pass, _ := strings.Cut(u, ":")
		if path, ok := strings.CutPrefix(pass, "file:"); ok {
			files = append(files, path)
		}
	}
	return files
}

// check is the row's part of Validate: the range of an int or a duration,
// the values of an enum.
func (s Setting) check(c *Config) error {
	if s.field == nil {
		return nil
	}
	switch p := s.field(c).(type) {
	case *int:
		if *p < s.min || *p > s.max {
			return fmt.Errorf("--%s must be %d..%d, got %d", s.Name, s.min, s.max, *p)
		}
	case *time.Duration:
		if *p < 0 {
			return fmt.Errorf("--%s must not be negative, got %s", s.Name, *p)
		}
		if *p == 0 && s.min > 0 {
			return fmt.Errorf("--%s must be positive, got %s", s.Name, *p)
		}
	case *string:
		if s.kind == enumKind {
			if _, err := s.parse([]string{*p}, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s Setting) notAllowed(got string) error {
	a := quoteEmpty(s.allowed)
	return fmt.Errorf("--%s must be %s or %s, got %q", s.Name, strings.Join(a[:len(a)-1], ", "), a[len(a)-1], got)
}

func quoteEmpty(values []string) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = v
		if v == "" {
			out[i] = "''"
		}
	}
	return out
}

// loadTLS reads the client certificate and the backend TLS mode, which are
// settings of two rows each.
func loadTLS(c *Config, v Values) error {
	cert, key := v.Text("tls-cert"), v.Text("tls-key")
	if (cert == "") != (key == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %v", err)
		}
		c.ClientTLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	mode, err := setting("backend-tls").parse([]string{v.Text("backend-tls")}, nil)
	if err != nil {
		return err
	}
	switch mode {
	case "skip-verify":
		c.BackendTLS = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by the operator
	case "verify":
		c.BackendTLS = &tls.Config{MinVersion: tls.VersionTLS12}
		if ca := v.Text("backend-ca"); ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return fmt.Errorf("--backend-ca: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("--backend-ca %s: no PEM certificates", ca)
			}
			c.BackendTLS.RootCAs = pool
		}
	}
	return nil
}
