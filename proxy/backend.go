package proxy

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/fwdproxy/fwdproxy/proxy/wire"
)

// backend is one raw connection to the reader or the writer, owned by one
// session. go-mysql does the handshake; after that the proxy speaks packets.
type backend struct {
	role    string // "reader" or "writer"
	conn    *wire.Conn
	caps    uint32 // negotiated capabilities
	ext     uint32 // MariaDB extended capabilities asked for
	status  uint16 // server status of the last OK/EOF
	connID  uint32
	version string
	// ahead is a command that travels in front of the next one, in the same
	// write: the START TRANSACTION of a transaction that has not used this
	// connection yet. Its OK is read before that command's result.
	ahead []byte
	// behind counts answers still due for commands sent without waiting
	// (post); they are read, and dropped, before the next command's answer.
	behind int
}

type dialParams struct {
	addr, user, password, db string
	// stage1 is SHA1(password) of an account loaded from the writer,
	// instead of the password: nativeLogin logs in with it.
	stage1       []byte
	caps         uint32 // client capabilities to mirror (capabilitiesMirrored subset)
	ext          uint32 // MariaDB extended capabilities to ask for (extBackend subset)
	sessionTrack bool
	collation    string
	tls          *tls.Config
	timeout      time.Duration
}

func dialBackend(ctx context.Context, role string, p dialParams) (*backend, error) {
	if p.timeout == 0 {
		p.timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	// A vanished peer (a partition, no RST) must not hang a session: keepalive
	// notices an idle one, TCP_USER_TIMEOUT one that stopped acknowledging.
	d := &net.Dialer{}
	if backendNetwork(p.addr) == "tcp" {
		d.KeepAliveConfig = net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3}
		d.Control = setUserTimeout
	}
	// The handshake is bounded too: a server that accepts and never greets
	// must not hold the session.
	var raw net.Conn
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(p.timeout))
			raw = c
			if extra := p.caps & capabilitiesPatched; (extra != 0 || p.ext != 0) && p.stage1 == nil {
				return &capsAdder{Conn: c, flags: extra, ext: p.ext}, nil
			}
		}
		return c, err
	}
	opt := func(c *client.Conn) error {
		// go-mysql's reader is dropped after the handshake: keep it small
		// (the default 64 KiB per connection is pure garbage here).
		c.BufferSize = 4 << 10
		// Framing flags mirror the client. Never DEPRECATE_EOF (the proxy
		// reads classic EOFs and frames results for the client itself) and
		// never MULTI_STATEMENTS: the proxy splits batches itself, so one
		// COM_QUERY carries one statement.
		c.UnsetCapability(mysql.CLIENT_DEPRECATE_EOF)
		c.UnsetCapability(mysql.CLIENT_QUERY_ATTRIBUTES)
		c.UnsetCapability(mysql.CLIENT_MULTI_STATEMENTS)
		for _, f := range []uint32{capMultiResults, capPSMultiResults, capLocalFiles, capFoundRows, capIgnoreSpace} {
			if p.caps&f != 0 {
				_ = c.SetCapability(f)
			} else {
				c.UnsetCapability(f)
			}
		}
		if p.sessionTrack {
			_ = c.SetCapability(capSessionTrack)
		} else {
			c.UnsetCapability(capSessionTrack)
		}
		if p.collation != "" {
			_ = c.SetCollation(p.collation)
		}
		if p.tls != nil {
			c.SetTLSConfig(backendTLSConfig(p))
		}
		return nil
	}
	var nc net.Conn
	var connID uint32
	var version string
	var err error
	if p.stage1 != nil {
		var c net.Conn
		if c, err = dial(ctx, backendNetwork(p.addr), p.addr); err == nil {
			nc, connID, version, err = nativeLogin(c, p)
		}
	} else {
		var conn *client.Conn
		if conn, err = connectSafely(ctx, p, dial, opt); err == nil {
			// Drop go-mysql's reader and buffers: nothing is in flight after the OK.
			nc, connID, version = conn.Conn.Conn, conn.GetConnectionID(), conn.GetServerVersion()
			if ca, ok := nc.(*capsAdder); ok {
				nc = ca.Conn // the socket itself, for alive's peek
			}
		}
	}
	if err != nil {
		if raw != nil {
			raw.Close()
		}
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	conn := wire.NewConn(nc, wire.BackendSide, role, 16<<10, 4<<10) // results large, commands small
	conn.Progress = p.ext&extProgress != 0
	b := &backend{
		role:    role,
		conn:    conn,
		caps:    requestedCaps(p),
		ext:     p.ext,
		status:  statusAutocommit,
		connID:  connID,
		version: version,
	}
	return b, nil
}

// capsAdder adds capabilities to the first packet go-mysql's client
// writes: flags its SetCapability refuses (it knows a fixed list) and
// MariaDB's extended ones. That packet is the handshake response, or under
// TLS the SSL request before it, which is where MariaDB reads a TLS
// client's capabilities (once, before the TLS handshake).
type capsAdder struct {
	net.Conn
	flags, ext uint32
	done       bool
}

func (c *capsAdder) Write(b []byte) (int, error) {
	if !c.done && len(b) >= 4+32 && b[3] == 1 { // sequence 1: the client's first packet
		c.done = true
		p := append([]byte(nil), b...)
		addCaps(p[4:], c.flags, c.ext)
		return c.Conn.Write(p)
	}
	return c.Conn.Write(b)
}

// addCaps ORs flags into the head of a handshake response (or SSL
// request) and, with ext, asks for MariaDB's extended capabilities: in the
// last 4 of the reserved bytes, read only from a client that clears
// CLIENT_MYSQL (CLIENT_LONG_PASSWORD, obsolete otherwise).
func addCaps(head []byte, flags, ext uint32) {
	caps := binary.LittleEndian.Uint32(head) | flags
	if ext != 0 {
		caps &^= mysql.CLIENT_LONG_PASSWORD
		binary.LittleEndian.PutUint32(head[28:], binary.LittleEndian.Uint32(head[28:])|ext)
	}
	binary.LittleEndian.PutUint32(head, caps)
}

// backendTLSConfig verifies the certificate against the address dialled
// unless the configuration names the server.
func backendTLSConfig(p dialParams) *tls.Config {
	cfg := p.tls
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		cfg = cfg.Clone()
		cfg.ServerName, _, _ = net.SplitHostPort(p.addr)
	}
	return cfg
}

// setUserTimeout bounds how long sent data may stay unacknowledged.
func setUserTimeout(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, int(backendAckTimeout/time.Millisecond))
	})
	if err != nil {
		return err
	}
	return serr
}

// tcpUserTimeout is TCP_USER_TIMEOUT (Linux); backendAckTimeout bounds how
// long a statement sent to a partitioned backend waits for the error.
const (
	tcpUserTimeout    = 0x12
	backendAckTimeout = 10 * time.Second
)

// backendNetwork is "unix" for an address with a slash (a socket path, as
// go-mysql and the mysql client take it), else "tcp". A proxy next to its
// replica saves the TCP stack on every packet with a socket.
func backendNetwork(addr string) string {
	if strings.Contains(addr, "/") {
		return "unix"
	}
	return "tcp"
}

func dialAddr(addr string, d time.Duration) (net.Conn, error) {
	return net.DialTimeout(backendNetwork(addr), addr, d)
}

// alive reports whether an idle connection is still open: the server may
// have closed it (wait_timeout, restart) while the session did not use it,
// or another goroutine of the proxy.
// One non-blocking peek; anything readable on an idle connection means the
// server is saying goodbye.
func (b *backend) alive() bool {
	if b.conn.Buffered() > 0 {
		return false
	}
	sc, ok := b.conn.NetConn().(syscall.Conn)
	if !ok {
		return true // TLS and others: the send will tell
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := true
	var buf [1]byte
	// An error: the proxy closed it itself (writerLife).
	err = rc.Read(func(fd uintptr) bool {
		// RawSyscall: a non-blocking peek, no sysmon wake-up (see proxy/wire/rawio.go).
		// EAGAIN: nothing to read, the server is quiet. Data or EOF: it is
		// leaving. Other errors: the send will tell.
		_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		open = errno != 0
		return true
	})
	return open && err == nil
}

// connectSafely runs go-mysql's handshake, turning a panic on a malformed
// greeting into an error.
func connectSafely(ctx context.Context, p dialParams, dial client.Dialer, opt client.Option) (c *client.Conn, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("malformed handshake from %s: %v", p.addr, r)
		}
	}()
	return client.ConnectWithDialer(ctx, backendNetwork(p.addr), p.addr, p.user, p.password, p.db, dial, opt)
}

// requestedCaps is what dialBackend asked for; MariaDB 10.6+ and MySQL 8
// support all of them, and go-mysql exposes no negotiated set.
func requestedCaps(p dialParams) uint32 {
	c := p.caps & capabilitiesMirrored
	if p.sessionTrack {
		c |= capSessionTrack
	}
	return c | mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_TRANSACTIONS
}

func (b *backend) close() {
	if b == nil {
		return
	}
	// COM_QUIT, best effort, so the server logs a clean disconnect.
	_ = b.conn.NetConn().SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_ = b.conn.WriteCommand([]byte{comQuit})
	_ = b.conn.Flush()
	_ = b.conn.NetConn().Close()
}

// ask sends a command whose answer the caller reads next, letting the
// bytes go out with that read (wire.Conn.FlushForReply).
func (b *backend) ask(payload []byte) error {
	if b.ahead != nil || b.behind != 0 {
		return b.send(payload)
	}
	return b.put(payload, true)
}

// send writes one command packet and flushes, with the command
// waiting in ahead, if any, in front of it: one round trip, not two. The
// answers due to post and to ahead are read before it returns, so the next
// answer is the command's.
func (b *backend) send(payload []byte) error {
	if b.ahead == nil && b.behind == 0 {
		return b.put(payload, false)
	}
	ahead := b.ahead
	b.ahead = nil
	if ahead != nil {
		if err := b.conn.WriteCommand(ahead); err != nil {
			return err
		}
	}
	if err := b.put(payload, false); err != nil {
		return err
	}
	for ; b.behind > 0; b.behind-- {
		if _, err := b.readResult(); err != nil {
			if _, ok := err.(*sqlError); !ok {
				return err
			}
		}
	}
	if ahead == nil {
		return nil
	}
	if _, err := b.readResult(); err != nil {
		// A plain START TRANSACTION only fails with the connection. Either
		// way the command behind it must not count as run inside the
		// transaction, so the connection goes.
		if se, ok := err.(*sqlError); ok {
			return b.conn.Fail(se)
		}
		return err
	}
	return nil
}

// post sends a command without waiting for its answer, for a command whose
// failure the client need not hear of; send reads the answer later.
func (b *backend) post(payload []byte) error {
	if err := b.send(payload); err != nil {
		return err
	}
	b.behind++
	return nil
}

// inTrans: a transaction is open on this connection, or opens with its next
// command (none: a session without a reader connection).
func (b *backend) inTrans() bool {
	return b != nil && (b.ahead != nil || b.status&statusInTrans != 0)
}

// dropAhead forgets a START TRANSACTION that has not been sent: the
// transaction ended before it used this connection. It reports whether
// there was one.
func (b *backend) dropAhead() bool {
	had := b.ahead != nil
	b.ahead = nil
	return had
}

// put writes one command packet and flushes it, now or, forReply, with
// the next read.
func (b *backend) put(payload []byte, forReply bool) error {
	if err := b.conn.WriteCommand(payload); err != nil {
		return err
	}
	if forReply {
		return b.conn.FlushForReply()
	}
	return b.conn.Flush()
}

// readPacket reads a whole response packet (for the proxy's own use),
// past any progress reports: an answer the proxy reads itself is not the
// client's to watch.
func (b *backend) readPacket() ([]byte, error) {
	for {
		p, err := b.conn.ReadPacket(1 << 30)
		if err != nil || !b.conn.Progress || !wire.IsProgress(p) {
			return p, err
		}
	}
}

// queryResult is the outcome of a statement the proxy runs for itself.
type queryResult struct {
	ok       okPacket
	rows     [][]sqlValue
	types    []byte   // column types of the last result set
	charsets []uint16 // column character sets
}

type sqlValue struct {
	s    string
	null bool
}

// exec runs one statement for the proxy's own purposes and reads the whole
// result. A server error is returned as *sqlError; I/O failure as *wire.Error.
func (b *backend) exec(query string) (*queryResult, error) {
	pl := make([]byte, 0, 1+len(query))
	pl = append(pl, comQuery)
	pl = append(pl, query...)
	if err := b.ask(pl); err != nil {
		return nil, err
	}
	return b.readResult()
}

func (b *backend) readResult() (*queryResult, error) {
	res := &queryResult{}
	var firstErr error
	for {
		data, err := b.readPacket()
		if err != nil {
			return nil, err
		}
		switch data[0] {
		case 0x00:
			ok, _ := parseOK(data, b.caps&capSessionTrack != 0)
			ok.info = append([]byte(nil), ok.info...)
			ok.stateInfo = append([]byte(nil), ok.stateInfo...)
			b.status = ok.status
			res.ok = ok
			if ok.status&statusMoreResults != 0 {
				continue
			}
			return res, firstErr
		case 0xff:
			return res, parseErr(data)
		case 0xfb:
			// The proxy never asks for LOCAL INFILE itself: refuse it
			// with an empty file.
			if err := b.conn.WritePacket(nil); err != nil {
				return nil, err
			}
			if err := b.conn.Flush(); err != nil {
				return nil, err
			}
			firstErr = newError(mysql.ER_UNKNOWN_ERROR, "unexpected LOCAL INFILE request")
			continue
		}
		cols, _, ok := wire.LenEncInt(data)
		if !ok || cols > 4096 {
			return nil, b.conn.Fail(fmt.Errorf("malformed result set header % x", data[:min(len(data), 9)]))
		}
		res.types, res.charsets = res.types[:0], res.charsets[:0]
		for i := uint64(0); i < cols; i++ {
			def, err := b.readPacket()
			if err != nil {
				return nil, err
			}
			t, cs := columnType(def, b.ext&extExtendedTypes != 0)
			res.types = append(res.types, t)
			res.charsets = append(res.charsets, cs)
		}
		if _, err := b.readPacket(); err != nil { // EOF after columns
			return nil, err
		}
		for {
			row, err := b.readPacket()
			if err != nil {
				return nil, err
			}
			if wire.IsEOF(row) {
				st := b.status
				if len(row) >= 5 {
					st = uint16(row[3]) | uint16(row[4])<<8
				}
				b.status = st
				if st&statusMoreResults != 0 {
					break
				}
				return res, firstErr
			}
			if row[0] == 0xff {
				return res, parseErr(row)
			}
			res.rows = append(res.rows, parseTextRow(row, int(cols)))
		}
	}
}

// columnType reads type and character set from a column definition,
// which with extended type info has one more block after the names.
func columnType(def []byte, extended bool) (byte, uint16) {
	pos := 0
	strs := 6 // catalog, schema, table, org_table, name, org_name
	if extended {
		strs++
	}
	for i := 0; i < strs; i++ {
		_, n, ok := wire.LenEncString(def[pos:])
		if !ok {
			return 0xfd, 0
		}
		pos += n
	}
	pos++ // length of fixed fields
	if pos+7 > len(def) {
		return 0xfd, 0
	}
	return def[pos+6], uint16(def[pos]) | uint16(def[pos+1])<<8
}

// execCommand sends any command packet and reads its result.
func (b *backend) execCommand(data []byte) (*queryResult, error) {
	if err := b.ask(data); err != nil {
		return nil, err
	}
	return b.readResult()
}

func parseTextRow(data []byte, cols int) []sqlValue {
	row := make([]sqlValue, cols)
	pos := 0
	for i := 0; i < cols && pos < len(data); i++ {
		if data[pos] == 0xfb {
			row[i].null = true
			pos++
			continue
		}
		v, n, ok := wire.LenEncString(data[pos:])
		if !ok {
			break
		}
		row[i].s = string(v)
		pos += n
	}
	return row
}

// value returns the first column of the first row, for one-value queries.
func (r *queryResult) value() (sqlValue, bool) {
	if r == nil || len(r.rows) == 0 || len(r.rows[0]) == 0 {
		return sqlValue{}, false
	}
	return r.rows[0][0], true
}

// asSQLError extracts a server error from go-mysql's wrapped errors.
func asSQLError(err error) (*sqlError, bool) {
	var se *sqlError
	if errors.As(err, &se) {
		return se, true
	}
	var me *mysql.MyError
	if errors.As(err, &me) {
		return &sqlError{code: me.Code, state: me.State, msg: me.Message}, true
	}
	// pingcap/errors wraps without Unwrap on some paths: match the text.
	if s := err.Error(); strings.HasPrefix(s, "ERROR ") {
		var code uint16
		var state string
		if n, _ := fmt.Sscanf(s, "ERROR %d (%5s)", &code, &state); n == 2 {
			msg := s
			if i := strings.Index(s, "): "); i >= 0 {
				msg = s[i+3:]
			}
			return &sqlError{code: code, state: state, msg: msg}, true
		}
	}
	return nil, false
}
