// Package pairproxy runs an fwdproxy server in the test's own process in front of a pair: the one
// way the integration tests start an in-process proxy.
//
//	srv, addr := pairproxy.Start(t, thePair, pairproxy.Configure(func(c *proxy.Config) {
//		c.DefaultConsistency = "SESSION"
//	}), pairproxy.CheckClean())
//
// It is a package apart from pair because proxy depends on packages (consistency) whose own tests
// use pair.
package pairproxy

import (
	"net"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/proxy"
)

// Config is the proxy's settings in front of p: its writer and first replica, its privileged test
// user as the only client user and as the proxy's own, a free loopback port and no admin listener.
func Config(p *pair.Pair) proxy.Config {
	cfg := proxy.Defaults()
	cfg.Listen, cfg.Admin = "127.0.0.1:0", ""
	cfg.Writer, cfg.Reader = p.WriterAddr, p.ReaderAddr
	cfg.Users = map[string]string{p.User: p.Password}
	cfg.ProxyUser = p.User
	return cfg
}

// Serve starts a server with cfg (log may be nil) and serves it on cfg.Listen; it returns the
// address it listens on. The caller closes the server.
func Serve(cfg proxy.Config, log *zap.Logger) (*proxy.Server, string, error) {
	srv, _, addr, err := serve(cfg, log)
	return srv, addr, err
}

// serve is Serve that also returns a channel closed when Serve returns.
func serve(cfg proxy.Config, log *zap.Logger) (*proxy.Server, <-chan struct{}, string, error) {
	srv, err := proxy.NewServer(cfg, log, nil)
	if err != nil {
		return nil, nil, "", err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		srv.Close()
		return nil, nil, "", err
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	return srv, served, ln.Addr().String(), nil
}

// An Option changes what Start starts or checks.
type Option func(*options)

type options struct {
	allReplicas bool
	mutate      []func(*proxy.Config)
	log         *zap.Logger
	checkClean  bool
	closeWithin time.Duration
}

// Configure changes the settings of Config, in order, before the server starts; nil ones change
// nothing.
func Configure(mutate ...func(*proxy.Config)) Option {
	return func(o *options) { o.mutate = append(o.mutate, mutate...) }
}

// AllReplicas makes every replica of p a reader (cfg.Readers = p.ReaderAddrs()), not just the
// first; Configure's changes come after it.
func AllReplicas() Option { return func(o *options) { o.allReplicas = true } }

// Log gives the server a logger (without it, the server logs nothing).
func Log(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// CheckClean fails the test when, after the server is closed, a replica is not clean
// (pair.CheckReplicaClean): no statement that can change data reached it through the proxy.
func CheckClean() Option { return func(o *options) { o.checkClean = true } }

// CloseWithin fails the test when closing the server at its end takes longer than d, or Serve
// does not return within d after that: a session stuck where a failure left it.
func CloseWithin(d time.Duration) Option { return func(o *options) { o.closeWithin = d } }

// Start starts a server in front of p with Config changed by the options, serves it, and closes
// it when the test ends. It returns the server and the address it listens on.
func Start(t testing.TB, p *pair.Pair, opts ...Option) (*proxy.Server, string) {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cfg := Config(p)
	if o.allReplicas {
		cfg.Readers = p.ReaderAddrs()
	}
	for _, m := range o.mutate {
		if m != nil {
			m(&cfg)
		}
	}
	srv, served, addr, err := serve(cfg, o.log)
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	t.Cleanup(func() {
		if o.closeWithin > 0 {
			closeWithin(t, srv, served, o.closeWithin)
		} else {
			srv.Close()
		}
		if o.checkClean {
			if err := p.CheckReplicaClean(); err != nil {
				t.Errorf("replica is not clean after %s: %v", t.Name(), err)
			}
		}
	})
	return srv, addr
}

func closeWithin(t testing.TB, srv *proxy.Server, served <-chan struct{}, d time.Duration) {
	closed := make(chan struct{})
	go func() {
		srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(d):
		t.Errorf("BUG: proxy.Server.Close did not return within %s: a session is stuck (it waits for every session, but only closes client sockets)", d)
		return
	}
	select {
	case <-served:
	case <-time.After(d):
		t.Errorf("Serve did not return within %s after Close", d)
	}
}
