package main

import (
	"context"
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

	"github.com/fwdproxy/fwdproxy/lint"
	"github.com/fwdproxy/fwdproxy/metrics"
	"github.com/fwdproxy/fwdproxy/proxy"
)

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
	cfg.AuditModel = auditModel
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

// parseServe builds the config from --config FILE, FWDPROXY_* variables and
// flags, in that order of increasing precedence, and returns the logging
// settings with it.
func parseServe(args []string, getenv func(string) string, out io.Writer) (proxy.Config, string, string, error) {
	vals, err := readSettings(args, getenv, out)
	if err != nil {
		return proxy.Config{}, "", "", err
	}
	cfg, err := proxy.ConfigFrom(vals, getenv)
	return cfg, vals.Text("log-level"), vals.Text("log-format"), err
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
