package proxy

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/fwdproxy/fwdproxy/proxy/proxyproto"
)

// Config is what `fwdproxy serve` runs with. ConfigFrom fills it from the
// settings table (settings.go); Validate says what is wrong in one line.
type Config struct {
	Listen           string
	Writer           string   // the first writer candidate (a Config built in code may set only this)
	Writers          []string // every candidate, --writer repeated; WriterAddrs reads both
	WriterChangeWait time.Duration
	Reader           string            // the first reader (a Config built in code may set only this)
	Readers          []string          // every reader, --reader repeated; ReaderAddrs reads both
	MaxReaderLag     int               // milliseconds; 0: no bound
	NoReaderPolicy   string            // "wait", "writer" or "error"
	Users            map[string]string // name -> plaintext password (needed to log in to the backends as the same user)
	ProxyUser        string            // the user of Users the proxy's own backend connections log in as
	// Accounts "writer" authenticates the clients not in Users against the
	// writer's accounts (package accounts), loaded every AccountsRefresh.
	Accounts                string
	AccountsRefresh         time.Duration
	Admin                   string
	Forwarding              bool
	DefaultConsistency      string
	SessionScope            string // "connection" or "user": initial fwdproxy_session_scope
	WriterIdleTimeout       int    // seconds
	WriterMaxConnectionsPct int    // percent of the writer's max_connections
	SharedWriterLimits      bool   // count the cap on the writer (named locks), across instances
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
	// ConfigWatch: how often cmd/fwdproxy checks the config files for a
	// change to reload (0: only on SIGHUP).
	ConfigWatch time.Duration
	// The client limits (docs/operations.md).
	MaxClientConnections int           // connections held at once, logged in or not; beyond: 1040
	HandshakeTimeout     time.Duration // to log in, from the connect
	MaxPacket            int           // largest client command, bytes (max_allowed_packet); beyond: 1153
	MaxConnectErrors     int           // failed logins in a row before an address is blocked (0: never)
	HostBlockTime        time.Duration // how long a blocked address stays blocked
	GracefulWait         time.Duration // SIGTERM: unready this long before the drain starts
	ShutdownTimeout      time.Duration // SIGTERM: how long open transactions may take to finish
	// Audit runs in front of the current writer only (no reader): every
	// command passes through unchanged and what write forwarding would
	// reject or change is recorded (GET /audit, /metrics).
	Audit bool
	// AuditModel is what audit mode asks what forwarding would do (not a
	// setting: `fwdproxy serve` sets lint's).
	AuditModel NewAuditModel
	// ExposureModel is the model at EVENTUAL that names the reads a reader
	// would serve (lint's too).
	ExposureModel NewExposureModel
	// AuditLag is how far behind the writer audit mode's simulated reader
	// applies each commit: reads after the session's own write within it
	// are exposed.
	AuditLag time.Duration
	// AdminToken is what the admin API asks every request for but /healthz
	// and /readyz (empty: no authentication, allowed on loopback only).
	AdminToken string
	// DigestTop is how many statement digests /status shows; 0 keeps no
	// digest statistics.
	DigestTop int
	// StatementLog names a file that gets one JSON line per statement; ""
	// for none.
	StatementLog string
	AdminPprof   bool // serve /debug/pprof/ on the admin address
	// TopologyFile names a JSON file shown in /status as "topology" (the
	// sandbox's servers and links); "" for none.
	TopologyFile string
	// CaptureFile names a file that records what clients send, session by
	// session, with what each command got (package capture); "" for none.
	// CaptureMaxBytes bounds it.
	CaptureFile     string
	CaptureMaxBytes int
	// ProxyProtocolNetworks are the CIDRs of the load balancers that send
	// a PROXY protocol header: a peer in them must send one, and the
	// client is known by its address; other peers are served as they are.
	ProxyProtocolNetworks []string
}

// ReaderAddrs is every reader's address: Readers, or Reader alone.
func (c *Config) ReaderAddrs() []string {
	if len(c.Readers) > 0 {
		return c.Readers
	}
	if c.Reader != "" {
		return []string{c.Reader}
	}
	return nil
}

// WriterAddrs is every writer candidate: Writers, or Writer alone.
func (c *Config) WriterAddrs() []string {
	if len(c.Writers) > 0 {
		return c.Writers
	}
	if c.Writer != "" {
		return []string{c.Writer}
	}
	return nil
}

// Validate checks what a Config needs: the required settings, each row's
// range or values (Settings), and the settings that go together.
func (c *Config) Validate() error {
	switch {
	case c.Listen == "":
		return fmt.Errorf("--listen is required")
	case len(c.WriterAddrs()) == 0:
		return fmt.Errorf("--writer is required")
	case len(c.ReaderAddrs()) == 0 && !c.Audit:
		return fmt.Errorf("--reader is required")
	case len(c.Users) == 0:
		return fmt.Errorf("at least one --user NAME:PASSWORD (or --user-file) is required")
	case c.Admin != "" && c.AdminToken == "" && !IsLoopback(c.Admin):
		return fmt.Errorf("--admin %s is not a loopback address, so the admin API needs a token: "+
			"set FWDPROXY_ADMIN_TOKEN or --admin-token-file (or --admin 127.0.0.1:PORT)", c.Admin)
	}
	for _, s := range Settings {
		if err := s.check(c); err != nil {
			return err
		}
	}
	if _, ok := c.Users[c.ProxyUser]; !ok {
		return fmt.Errorf("--proxy-user %q is not one of the --user names", c.ProxyUser)
	}
	if _, err := proxyproto.ParseNetworks(c.ProxyProtocolNetworks); err != nil {
		return fmt.Errorf("--proxy-protocol-networks: %v", err)
	}
	if c.RequireTLS && c.ClientTLS == nil {
		return fmt.Errorf("--require-tls needs --tls-cert and --tls-key")
	}
	return nil
}
