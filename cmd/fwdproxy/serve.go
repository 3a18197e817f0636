package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/exposure"
	"github.com/fwdproxy/fwdproxy/lint"
	"github.com/fwdproxy/fwdproxy/metrics"
	"github.com/fwdproxy/fwdproxy/proxy"
)

func serve(args []string) int {
	set, err := parseServe(args, os.Getenv, os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fwdproxy serve:", err)
		return 2
	}
	cfg := set.cfg
	log, err := newLogger(set.logLevel, set.logFormat)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fwdproxy serve:", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	warnReadableSecrets(log, set.secrets)
	m := metrics.New()
	cfg.AuditModel, cfg.ExposureModel = auditModel, exposureModel
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
		if !proxy.IsLoopback(aln.Addr().String()) {
			log.Warn("the admin API listens beyond loopback: anyone who can reach it and has the admin token can switch forwarding",
				zap.String("admin", aln.Addr().String()), zap.Bool("pprof", cfg.AdminPprof))
		}
	}
	log.Info("fwdproxy listening", zap.String("listen", ln.Addr().String()), zap.String("admin", cfg.Admin),
		zap.String("writer", cfg.Writer), zap.String("reader", cfg.Reader), zap.String("flavor", srv.Flavor().Name()))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	if cfg.ConfigWatch > 0 {
		go watchFiles(set.watched, cfg.ConfigWatch, sig)
	}
wait:
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				// Re-read file, environment and flags; apply what can change.
				next, err := parseServe(args, os.Getenv, io.Discard)
				if err == nil {
					err = srv.Reload(next.cfg)
				}
				if err != nil {
					log.Error("reload failed; settings unchanged", zap.Error(err))
				} else {
					log.Info("settings reloaded")
				}
				continue
			}
			log.Info("shutting down", zap.String("signal", s.String()))
			srv.Shutdown()
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

// served is what serve runs with.
type served struct {
	cfg                 proxy.Config
	logLevel, logFormat string
	secrets             []string // files that hold passwords, tokens or keys
	watched             []string // the config file and the files it names: what --config-watch reads
}

// parseServe builds the config from --config FILE, FWDPROXY_* variables and
// flags, in that order of increasing precedence, and returns the logging
// settings with it.
func parseServe(args []string, getenv func(string) string, out io.Writer) (served, error) {
	vals, secrets, config, err := readSettings(args, getenv, out)
	if err != nil {
		return served{}, err
	}
	cfg, err := proxy.ConfigFrom(vals, getenv)
	watched := proxy.SecretFiles(vals)
	if config != "" {
		watched = append([]string{config}, watched...)
	}
	return served{cfg, vals.Text("log-level"), vals.Text("log-format"), secrets, watched}, err
}

// warnReadableSecrets warns of each secret file every user of the machine
// can read.
func warnReadableSecrets(log *zap.Logger, files []string) {
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.Mode().Perm()&0o004 != 0 {
			log.Warn("a file with secrets is readable by every user; chmod o-r it",
				zap.String("file", f), zap.String("mode", st.Mode().Perm().String()))
		}
	}
}

func newLogger(level, format string) (*zap.Logger, error) {
	zc := zap.NewDevelopmentConfig() // console
	zc.DisableStacktrace = true
	if format == "json" {
		zc = zap.NewProductionConfig()
	}
	lvl, err := zap.ParseAtomicLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %v", err)
	}
	zc.Level = lvl
	return zc.Build()
}

// auditModel is lint's model of a forwarding session at SESSION, which
// audit mode feeds each command.
func auditModel(emit func(proxy.AuditFinding)) proxy.AuditModel {
	return lint.NewAuditor(lint.Config{Consistency: lint.Session}, func(f lint.Finding) {
		emit(proxy.AuditFinding{Statement: f.Statement, Code: f.Code, Severity: f.Severity,
			Operation: f.Operation, Why: f.Why, Message: f.Message})
	})
}

// exposureModel is lint's model of a session at EVENTUAL: the reads it
// sends to the reader after its own writes are the ones that can be
// stale. Its findings are the audit model's business.
func exposureModel(routed func(exposure.Statement)) proxy.AuditModel {
	a := lint.NewAuditor(lint.Config{Consistency: lint.Eventual}, func(lint.Finding) {})
	a.OnRoute(func(r lint.Routed) {
		routed(exposure.Statement{SQL: r.Statement, Write: r.Write, Tables: r.Tables, AnyTable: r.Unknown})
	})
	return a
}

// watchFiles sends SIGHUP's reload when the content of a watched file
// changes (checked every interval): a Kubernetes ConfigMap or Secret
// mounted as a directory changes in place, and nothing signals the pod.
func watchFiles(files []string, every time.Duration, reload chan<- os.Signal) {
	last := filesDigest(files)
	for range time.Tick(every) {
		if d := filesDigest(files); d != last {
			last = d
			select {
			case reload <- syscall.SIGHUP:
			default: // a reload is already pending
			}
		}
	}
}

// filesDigest hashes the files' contents; a file that cannot be read counts
// as empty, so its coming back is a change too.
func filesDigest(files []string) [sha256.Size]byte {
	h := sha256.New()
	for _, f := range files {
		b, _ := os.ReadFile(f)
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}
