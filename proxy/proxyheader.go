package proxy

import (
	"errors"
	"fmt"
	"net"

	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/metrics"
	"github.com/fwdproxy/fwdproxy/proxy/proxyproto"
)

// errUntrustedProxyHeader: a peer outside --proxy-protocol-networks began
// with a PROXY protocol header.
var errUntrustedProxyHeader = errors.New("PROXY protocol header from an untrusted peer")

// proxyHeader reads the PROXY protocol header of a peer in
// --proxy-protocol-networks, which must send one, and returns the
// connection that names the client by the header's address (logs, host
// blocking, login errors, /sessions). Other peers are served as they are.
// On an error it returns c, for the caller to close.
func (s *Server) proxyHeader(c net.Conn) (net.Conn, error) {
	cfg := s.conf()
	if len(cfg.ProxyProtocolNetworks) == 0 {
		return c, nil
	}
	nets, _ := proxyproto.ParseNetworks(cfg.ProxyProtocolNetworks) // Validate checked them
	if !nets.Contains(c.RemoteAddr()) {
		return c, nil
	}
	pc, err := proxyproto.Accept(c, cfg.HandshakeTimeout)
	if err != nil {
		s.Metrics.Limited(metrics.LimitProxyHeader)
		s.log.Warn("connection from a --proxy-protocol-networks peer without a valid PROXY protocol header; closed",
			zap.String("peer", c.RemoteAddr().String()), zap.String("error", err.Error()))
		return c, fmt.Errorf("PROXY protocol header: %w", err)
	}
	return pc, nil
}
