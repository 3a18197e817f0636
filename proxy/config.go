package proxy

import (
	"crypto/tls"
	"fmt"
	"time"
)

// Config is what `fwdproxy serve` runs with. cmd/fwdproxy fills it from
// flags and YAML; Validate says what is wrong in one line.
type Config struct {
	Listen                  string
	Writer                  string
	Reader                  string
	Users                   map[string]string // name -> plaintext password (needed to log in to the backends as the same user)
	Admin                   string
	Forwarding              bool
	DefaultConsistency      string
	WriterIdleTimeout       int // seconds, 1..86400
	WriterMaxConnectionsPct int // 0..90
	ReadWaitTimeout         time.Duration
	ReadWaitTimeoutAction   string // "error" or "writer"
	MaxPacket               int    // largest client command accepted, bytes
	// ReadWriteQuirk reproduces Aurora's 1290 for START TRANSACTION READ
	// WRITE by a user without SUPER or CONNECTION_ADMIN (off by default).
	ReadWriteQuirk bool
	BackendTLS     *tls.Config // nil: plain connections to the backends
	ClientTLS      *tls.Config // nil: clients cannot use TLS
	RequireTLS     bool        // refuse clients that did not switch to TLS
	// AuthMethod is what the proxy asks clients for: mysql_native_password
	// (default) or caching_sha2_password.
	AuthMethod string
	// PushTracking follows the reader's binlog to learn what it applied
	// (needs REPLICATION SLAVE and log_slave_updates on the reader). Off by
	// default: the reader's dump thread and the proxy paid more for it than
	// the waits it saved (docs/consistency.md).
	PushTracking bool
	// PushTrackingLinger is how long the tracker keeps running after the
	// last session at SESSION or GLOBAL left (0: one minute).
	PushTrackingLinger time.Duration
	// ForwardTimeout bounds one forwarded statement on the writer (0: no
	// bound); past it the statement is killed and counted as an RPC timeout.
	ForwardTimeout time.Duration
	// Audit runs in front of the current writer only (no reader): every
	// command passes through unchanged and what write forwarding would
	// reject or change is recorded (GET /audit, /metrics).
	Audit bool
}

// Defaults returns a Config with the documented defaults.
func Defaults() Config {
	return Config{
		Listen:                  "127.0.0.1:4000",
		Admin:                   "127.0.0.1:4001",
		Users:                   map[string]string{},
		Forwarding:              true,
		WriterIdleTimeout:       60,
		WriterMaxConnectionsPct: 10,
		ReadWaitTimeout:         10 * time.Second,
		ReadWaitTimeoutAction:   "error",
		AuthMethod:              "mysql_native_password",
		MaxPacket:               1 << 30,
	}
}

// Validate checks every setting against its documented range.
func (c *Config) Validate() error {
	switch {
	case c.Listen == "":
		return fmt.Errorf("--listen is required")
	case c.Writer == "":
		return fmt.Errorf("--writer is required")
	case c.Reader == "" && !c.Audit:
		return fmt.Errorf("--reader is required")
	case len(c.Users) == 0:
		return fmt.Errorf("at least one --user NAME:PASSWORD is required")
	case c.WriterIdleTimeout < 1 || c.WriterIdleTimeout > 86400:
		return fmt.Errorf("--writer-idle-timeout must be 1..86400 seconds, got %d", c.WriterIdleTimeout)
	case c.WriterMaxConnectionsPct < 0 || c.WriterMaxConnectionsPct > 90:
		return fmt.Errorf("--writer-max-connections-pct must be 0..90, got %d", c.WriterMaxConnectionsPct)
	case c.ForwardTimeout < 0:
		return fmt.Errorf("--forward-timeout must not be negative, got %s", c.ForwardTimeout)
	case c.ReadWaitTimeout <= 0:
		return fmt.Errorf("--read-wait-timeout must be positive, got %s", c.ReadWaitTimeout)
	case c.ReadWaitTimeoutAction != "error" && c.ReadWaitTimeoutAction != "writer":
		return fmt.Errorf("--read-wait-timeout-action must be error or writer, got %q", c.ReadWaitTimeoutAction)
	}
	if c.AuthMethod != "mysql_native_password" && c.AuthMethod != "caching_sha2_password" {
		return fmt.Errorf("--auth-method must be mysql_native_password or caching_sha2_password, got %q", c.AuthMethod)
	}
	if c.RequireTLS && c.ClientTLS == nil {
		return fmt.Errorf("--require-tls needs --tls-cert and --tls-key")
	}
	if _, ok := parseConsistency(c.DefaultConsistency); !ok {
		return fmt.Errorf("--default-consistency must be '', EVENTUAL, SESSION or GLOBAL, got %q", c.DefaultConsistency)
	}
	return nil
}
