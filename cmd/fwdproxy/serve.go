package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/fwdproxy/fwdproxy/metrics"
	"github.com/fwdproxy/fwdproxy/proxy"
)

// userList is the repeatable --user NAME:PASSWORD flag.
type userList []string

func (u *userList) String() string     { return strings.Join(*u, ",") }
func (u *userList) Set(v string) error { *u = append(*u, v); return nil }

// fileConfig is the YAML form: the same names as the flags.
type fileConfig struct {
	Listen                  *string  `yaml:"listen"`
	Writer                  *string  `yaml:"writer"`
	Reader                  *string  `yaml:"reader"`
	User                    []string `yaml:"user"`
	Admin                   *string  `yaml:"admin"`
	Forwarding              *string  `yaml:"forwarding"`
	DefaultConsistency      *string  `yaml:"default-consistency"`
	WriterIdleTimeout       *int     `yaml:"writer-idle-timeout"`
	WriterMaxConnectionsPct *int     `yaml:"writer-max-connections-pct"`
	ReadWaitTimeout         *string  `yaml:"read-wait-timeout"`
	ReadWaitTimeoutAction   *string  `yaml:"read-wait-timeout-action"`
	ReadWriteQuirk          *bool    `yaml:"aurora-read-write-quirk"`
	AuthMethod              *string  `yaml:"auth-method"`
	PushTracking            *bool    `yaml:"push-tracking"`
	Audit                   *bool    `yaml:"audit"`
	ForwardTimeout          *string  `yaml:"forward-timeout"`
	TLSCert                 *string  `yaml:"tls-cert"`
	TLSKey                  *string  `yaml:"tls-key"`
	RequireTLS              *bool    `yaml:"require-tls"`
	BackendTLS              *string  `yaml:"backend-tls"`
	BackendCA               *string  `yaml:"backend-ca"`
	LogLevel                *string  `yaml:"log-level"`
	LogFormat               *string  `yaml:"log-format"`
}

// settings are the serve settings as strings, merged file < env < flags.
type settings map[string]string

var settingNames = []string{
	"listen", "writer", "reader", "admin", "forwarding", "default-consistency",
	"writer-idle-timeout", "writer-max-connections-pct", "read-wait-timeout",
	"read-wait-timeout-action", "log-level", "log-format", "aurora-read-write-quirk",
	"tls-cert", "tls-key", "require-tls", "backend-tls", "backend-ca", "auth-method", "push-tracking", "forward-timeout", "audit",
}

func serve(args []string) int {
	cfg, logLevel, logFormat, err := parseServe(args, os.Getenv, os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fwdproxy serve:", err)
		return 2
	}
	log, err := newLogger(logLevel, logFormat)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fwdproxy serve:", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	m := metrics.New()
	srv, err := proxy.NewServer(cfg, log, m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fwdproxy serve:", err)
		return 2
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fwdproxy serve:", err)
		return 1
	}
	var admin *http.Server
	if cfg.Admin != "" {
		aln, err := net.Listen("tcp", cfg.Admin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fwdproxy serve: admin:", err)
			return 1
		}
		admin = &http.Server{Handler: srv.AdminHandler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = admin.Serve(aln) }()
	}
	log.Info("fwdproxy listening", zap.String("listen", ln.Addr().String()), zap.String("admin", cfg.Admin),
		zap.String("writer", cfg.Writer), zap.String("reader", cfg.Reader), zap.String("flavor", srv.Flavor().Name()))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
wait:
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				// Re-read file, environment and flags; apply what can change.
				next, _, _, err := parseServe(args, os.Getenv, io.Discard)
				if err == nil {
					err = srv.Reload(next)
				}
				if err != nil {
					log.Error("reload failed; settings unchanged", zap.Error(err))
				} else {
					log.Info("settings reloaded")
				}
				continue
			}
			log.Info("shutting down", zap.String("signal", s.String()))
			srv.Shutdown(30 * time.Second)
			break wait
		case err := <-done:
			if err != nil {
				log.Error("serve failed", zap.Error(err))
				return 1
			}
			break wait
		}
	}
	if admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = admin.Shutdown(ctx)
		cancel()
	}
	return 0
}

// parseServe builds the config from --config FILE, FWDPROXY_* variables and
// flags, in that order of increasing precedence.
func parseServe(args []string, getenv func(string) string, out io.Writer) (proxy.Config, string, string, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(out)
	var users userList
	fs.Var(&users, "user", "NAME:PASSWORD of a client user (repeatable); the proxy logs in to the backends as the same user")
	fs.String("listen", "127.0.0.1:4000", "address for MySQL clients")
	fs.String("writer", "", "writer address HOST:PORT, or a Unix socket path")
	fs.String("reader", "", "reader (GTID replica) address HOST:PORT, or a Unix socket path")
	fs.String("admin", "127.0.0.1:4001", "admin HTTP address (/status, /metrics); empty to disable")
	fs.String("forwarding", "enabled", "proxy-level write forwarding: enabled|disabled")
	fs.String("default-consistency", "", "initial aurora_replica_read_consistency: '', EVENTUAL, SESSION or GLOBAL")
	fs.String("writer-idle-timeout", "60", "seconds a session's idle writer connection is kept (1-86400)")
	fs.String("writer-max-connections-pct", "10", "percent of the writer's max_connections sessions may hold (0-90)")
	fs.String("read-wait-timeout", "10s", "longest consistency wait before a read (e.g. 500ms, 10s)")
	fs.String("read-wait-timeout-action", "error", "on wait timeout: error|writer")
	fs.String("aurora-read-write-quirk", "false", "reproduce Aurora's 1290 for START TRANSACTION READ WRITE without SUPER/CONNECTION_ADMIN")
	fs.String("audit", "false", "audit mode: in front of the current writer only (no --reader), pass everything through and record what write forwarding would reject or change (GET /audit)")
	fs.String("push-tracking", "false", "follow the reader's binlog to learn what it applied (needs REPLICATION SLAVE); false: waits on the reader only")
	fs.String("forward-timeout", "0", "bound on one forwarded statement (e.g. 30s); 0 for none")
	fs.String("auth-method", "mysql_native_password", "client authentication: mysql_native_password|caching_sha2_password")
	fs.String("tls-cert", "", "PEM certificate for client TLS")
	fs.String("tls-key", "", "PEM key for client TLS")
	fs.String("require-tls", "false", "refuse clients that do not use TLS")
	fs.String("backend-tls", "off", "TLS to the writer and reader: off|skip-verify|verify")
	fs.String("backend-ca", "", "PEM CA bundle to verify the backends with (backend-tls=verify); system roots when empty")
	fs.String("log-level", "info", "debug|info|warn|error")
	fs.String("log-format", "console", "console|json")
	configFile := fs.String("config", "", "YAML file with the same settings")
	fs.SetOutput(io.Discard) // errors are reported in one line by the caller
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(out)
			fmt.Fprintln(out, "usage: fwdproxy serve [flags]")
			fs.PrintDefaults()
		}
		return proxy.Config{}, "", "", err
	}
	if fs.NArg() > 0 {
		return proxy.Config{}, "", "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := settings{}
	fs.VisitAll(func(f *flag.Flag) { set[f.Name] = f.DefValue })
	var fileUsers []string
	if *configFile != "" {
		fu, err := loadFile(*configFile, set)
		if err != nil {
			return proxy.Config{}, "", "", err
		}
		fileUsers = fu
	}
	for _, n := range settingNames {
		if v := getenv("FWDPROXY_" + strings.ToUpper(strings.ReplaceAll(n, "-", "_"))); v != "" {
			set[n] = v
		}
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "user" && f.Name != "config" {
			set[f.Name] = f.Value.String()
		}
	})
	allUsers := fileUsers
	if v := getenv("FWDPROXY_USER"); v != "" {
		allUsers = strings.Split(v, ",")
	}
	if len(users) > 0 {
		allUsers = users
	}
	cfg, err := buildConfig(set, allUsers, getenv)
	return cfg, set["log-level"], set["log-format"], err
}

func loadFile(path string, set settings) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %v", err)
	}
	var fc fileConfig
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("--config %s: %v", path, firstLine(err.Error()))
	}
	put := func(name string, v *string) {
		if v != nil {
			set[name] = *v
		}
	}
	putInt := func(name string, v *int) {
		if v != nil {
			set[name] = strconv.Itoa(*v)
		}
	}
	put("listen", fc.Listen)
	put("writer", fc.Writer)
	put("reader", fc.Reader)
	put("admin", fc.Admin)
	put("forwarding", fc.Forwarding)
	put("default-consistency", fc.DefaultConsistency)
	putInt("writer-idle-timeout", fc.WriterIdleTimeout)
	putInt("writer-max-connections-pct", fc.WriterMaxConnectionsPct)
	put("read-wait-timeout", fc.ReadWaitTimeout)
	put("read-wait-timeout-action", fc.ReadWaitTimeoutAction)
	if fc.ReadWriteQuirk != nil {
		set["aurora-read-write-quirk"] = strconv.FormatBool(*fc.ReadWriteQuirk)
	}
	put("auth-method", fc.AuthMethod)
	if fc.PushTracking != nil {
		set["push-tracking"] = strconv.FormatBool(*fc.PushTracking)
	}
	put("forward-timeout", fc.ForwardTimeout)
	if fc.Audit != nil {
		set["audit"] = strconv.FormatBool(*fc.Audit)
	}
	put("tls-cert", fc.TLSCert)
	put("tls-key", fc.TLSKey)
	if fc.RequireTLS != nil {
		set["require-tls"] = strconv.FormatBool(*fc.RequireTLS)
	}
	put("backend-tls", fc.BackendTLS)
	put("backend-ca", fc.BackendCA)
	put("log-level", fc.LogLevel)
	put("log-format", fc.LogFormat)
	return fc.User, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func buildConfig(set settings, users []string, getenv func(string) string) (proxy.Config, error) {
	cfg := proxy.Defaults()
	cfg.Listen, cfg.Writer, cfg.Reader, cfg.Admin = set["listen"], set["writer"], set["reader"], set["admin"]
	switch strings.ToLower(set["forwarding"]) {
	case "enabled", "on", "true", "1":
		cfg.Forwarding = true
	case "disabled", "off", "false", "0":
		cfg.Forwarding = false
	default:
		return cfg, fmt.Errorf("--forwarding must be enabled or disabled, got %q", set["forwarding"])
	}
	cfg.DefaultConsistency = strings.ToUpper(strings.Trim(set["default-consistency"], `'"`))
	var err error
	if cfg.WriterIdleTimeout, err = strconv.Atoi(set["writer-idle-timeout"]); err != nil {
		return cfg, fmt.Errorf("--writer-idle-timeout must be a whole number of seconds, got %q", set["writer-idle-timeout"])
	}
	if cfg.WriterMaxConnectionsPct, err = strconv.Atoi(set["writer-max-connections-pct"]); err != nil {
		return cfg, fmt.Errorf("--writer-max-connections-pct must be a whole number, got %q", set["writer-max-connections-pct"])
	}
	if cfg.ReadWaitTimeout, err = parseDuration(set["read-wait-timeout"]); err != nil {
		return cfg, fmt.Errorf("--read-wait-timeout: %v", err)
	}
	cfg.ReadWaitTimeoutAction = set["read-wait-timeout-action"]
	cfg.AuthMethod = set["auth-method"]
	if cfg.PushTracking, err = strconv.ParseBool(set["push-tracking"]); err != nil {
		return cfg, fmt.Errorf("--push-tracking must be true or false, got %q", set["push-tracking"])
	}
	if cfg.Audit, err = strconv.ParseBool(set["audit"]); err != nil {
		return cfg, fmt.Errorf("--audit must be true or false, got %q", set["audit"])
	}
	if cfg.ForwardTimeout, err = parseDuration(set["forward-timeout"]); err != nil {
		return cfg, fmt.Errorf("--forward-timeout: %v", err)
	}
	if cfg.ReadWriteQuirk, err = strconv.ParseBool(set["aurora-read-write-quirk"]); err != nil {
		return cfg, fmt.Errorf("--aurora-read-write-quirk must be true or false, got %q", set["aurora-read-write-quirk"])
	}
	if err := tlsSettings(&cfg, set); err != nil {
		return cfg, err
	}
	for _, u := range users {
		name, pass, ok := strings.Cut(u, ":")
		if !ok || name == "" {
			return cfg, fmt.Errorf("--user must be NAME:PASSWORD, got %q", u)
		}
		if strings.HasPrefix(pass, "env:") {
			pass = getenv(strings.TrimPrefix(pass, "env:"))
		} else if strings.HasPrefix(pass, "file:") {
			b, err := os.ReadFile(strings.TrimPrefix(pass, "file:"))
			if err != nil {
				return cfg, fmt.Errorf("--user %s: password file: %v", name, err)
			}
			pass = strings.TrimRight(string(b), "\r\n")
		}
		cfg.Users[name] = pass
	}
	return cfg, cfg.Validate()
}

// parseDuration accepts Go durations and plain seconds ("10", "0.5").
func parseDuration(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("not a duration: %q", v)
	}
	return d, nil
}

func newLogger(level, format string) (*zap.Logger, error) {
	var zc zap.Config
	switch format {
	case "json":
		zc = zap.NewProductionConfig()
	case "console", "":
		zc = zap.NewDevelopmentConfig()
		zc.DisableStacktrace = true
	default:
		return nil, fmt.Errorf("--log-format must be console or json, got %q", format)
	}
	lvl, err := zap.ParseAtomicLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %v", err)
	}
	zc.Level = lvl
	return zc.Build()
}

// tlsSettings loads the client-side certificate and the backend TLS mode.
func tlsSettings(cfg *proxy.Config, set settings) error {
	var err error
	if cfg.RequireTLS, err = strconv.ParseBool(set["require-tls"]); err != nil {
		return fmt.Errorf("--require-tls must be true or false, got %q", set["require-tls"])
	}
	cert, key := set["tls-cert"], set["tls-key"]
	if (cert == "") != (key == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %v", err)
		}
		cfg.ClientTLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	switch set["backend-tls"] {
	case "off", "":
	case "skip-verify":
		cfg.BackendTLS = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by the operator
	case "verify":
		cfg.BackendTLS = &tls.Config{MinVersion: tls.VersionTLS12}
		if ca := set["backend-ca"]; ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return fmt.Errorf("--backend-ca: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("--backend-ca %s: no PEM certificates", ca)
			}
			cfg.BackendTLS.RootCAs = pool
		}
	default:
		return fmt.Errorf("--backend-tls must be off, skip-verify or verify, got %q", set["backend-tls"])
	}
	return nil
}
