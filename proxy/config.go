package proxy

import (
	"crypto/tls"
	"fmt"
	"time"
)

// Config is what `fwdproxy serve` runs with. ConfigFrom fills it from the
// settings table (settings.go); Validate says what is wrong in one line.
type Config struct {
	Listen                  string
	Writer                  string
	Reader                  string
	Users                   map[string]string // name -> plaintext password (needed to log in to the backends as the same user)
	ProxyUser               string            // the user of Users the proxy's own backend connections log in as
	Admin                   string
	Forwarding              bool
	DefaultConsistency      string
	WriterIdleTimeout       int // seconds
	WriterMaxConnectionsPct int // percent of the writer's max_connections
	ReadWaitTimeout         time.Duration
	ReadWaitTimeoutAction   string // "error" or "writer"
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
	// The client limits (docs/operations.md).
	MaxClientConnections int           // connections held at once, logged in or not; beyond: 1040
	HandshakeTimeout     time.Duration // to log in, from the connect
	MaxPacket            int           // largest client command, bytes (max_allowed_packet); beyond: 1153
	MaxConnectErrors     int           // failed logins in a row before an address is blocked (0: never)
	HostBlockTime        time.Duration // how long a blocked address stays blocked
	ShutdownTimeout      time.Duration // SIGTERM: how long open transactions may take to finish
	// Audit runs in front of the current writer only (no reader): every
	// command passes through unchanged and what write forwarding would
	// reject or change is recorded (GET /audit, /metrics).
	Audit bool
	// AuditModel is what audit mode asks what forwarding would do (not a
	// setting: `fwdproxy serve` sets lint's).
	AuditModel NewAuditModel
}

// Validate checks what a Config needs: the required settings, each row's
// range or values (Settings), and the settings that go together.
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
	}
	for _, s := range Settings {
		if err := s.check(c); err != nil {
			return err
		}
	}
	if _, ok := c.Users[c.ProxyUser]; !ok {
		return fmt.Errorf("--proxy-user %q is not one of the --user names", c.ProxyUser)
	}
	if c.RequireTLS && c.ClientTLS == nil {
		return fmt.Errorf("--require-tls needs --tls-cert and --tls-key")
	}
	return nil
}
