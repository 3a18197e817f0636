package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Commands whose responses have a shape of their own.
const (
	ComQuery       = 0x03
	ComFieldList   = 0x04
	ComStatistics  = 0x09
	ComStmtPrepare = 0x16
	ComStmtFetch   = 0x1c
)

// Part is where Relay.Next stopped: a packet the caller decides about.
type Part uint8

const (
	// PartOK: an OK packet, parsed in Relay.OK, not yet written. More
	// follows only if its status says MORE_RESULTS.
	PartOK Part = iota + 1
	// PartErr: an ERR packet (Relay.Packet), not yet written. It ends
	// the response.
	PartErr
	// PartColumnsEnd: the EOF after a result set's column definitions;
	// WriteEOF writes it. With a cursor opened (CURSOR_EXISTS) it ends the
	// response: rows come with COM_STMT_FETCH.
	PartColumnsEnd
	// PartRowsEnd: the EOF after the rows; WriteEOF writes it. More
	// follows only if its status says MORE_RESULTS.
	PartRowsEnd
	// PartPrepareOK: the OK of COM_STMT_PREPARE (Relay.Packet, parsed in
	// Relay.Prepared), not yet written. The next Next copies the parameter
	// and column definitions after it and returns PartDone.
	PartPrepareOK
	// PartDone: the rest of the response was copied as it came
	// (COM_STATISTICS, COM_FIELD_LIST, a prepare's definitions).
	PartDone
)

// maxResponse bounds a response packet the relay holds whole (rows are
// streamed, not held).
const maxResponse = 1 << 30

// Relay copies one command's response from a backend to the client
// packet by packet, rewriting sequence numbers, and stops at each packet
// whose content the proxy decides about (Part). Rows and column and
// parameter definitions are streamed without being held, so memory does
// not grow with results (a result set's column definitions are held until
// all came, so a backend lost among them has sent the client nothing). A
// LOCAL INFILE request (to COM_QUERY) is relayed with the client's file,
// and progress reports (IsProgress, from a src with Progress) are relayed
// and flushed as they come.
// A failure of the backend after part of the response reached the client
// is the client's failure: between packets it is a Cut, which an ERR can
// still end in-band; inside a packet only closing the client's connection
// is honest.
type Relay struct {
	// ClientMax bounds a packet of the client's LOCAL INFILE data (0:
	// the response bound).
	ClientMax    int
	src, dst     *Conn
	cmd          byte
	sessionTrack bool
	state        uint8
	start        uint64 // dst.written when the response began
	inPacket     bool   // a packet's header went to dst, not yet all its payload
	// Packet is the packet Next stopped at; it aliases src's buffer.
	Packet []byte
	// OK is the parsed packet at PartOK; its slices alias Packet.
	OK OK
	// Prepared is the parsed packet at PartPrepareOK.
	Prepared PrepareOK
	// Meta is the statement's metadata cache, for a client with
	// CacheMetadata: a prepare's column definitions fill it, an
	// execute's first result set is compared with it (MetaCache).
	Meta  *MetaCache
	parts int // results (OK or result set) begun in this response
}

// MetaCache is what a client with MARIADB_CLIENT_CACHE_METADATA holds for
// one prepared statement: the column definitions it last received for it,
// from the prepare or an execute's first result set (where MariaDB's
// connectors keep them). The backends are asked without the capability,
// as each runs the statement under its own id with its own cache, so the
// proxy decides the metadata-follows byte: 0, and no definitions, when
// they are byte for byte what the client holds.
type MetaCache struct {
	defs []byte // held as Conn.held: 4-byte length, payload, …
	// multi: an execute answered with more than one result (a CALL);
	// MariaDB then always sends the definitions, and so does the proxy.
	multi bool
}

const (
	stateFirst    = iota // the response's next result starts
	stateRows            // rows follow
	stateMetadata        // a prepare's definitions follow
	stateDone
)

// NewRelay starts relaying src's response to cmd to dst. sessionTrack
// says whether src negotiated CLIENT_SESSION_TRACK, for parsing OKs.
func NewRelay(src, dst *Conn, cmd byte, sessionTrack bool) Relay {
	r := Relay{src: src, dst: dst, cmd: cmd, sessionTrack: sessionTrack, start: dst.written}
	if cmd == ComStmtFetch {
		r.state = stateRows
	}
	return r
}

// Next copies packets until the next one the caller decides about.
func (r *Relay) Next() (Part, error) {
	switch r.state {
	case stateRows:
		return r.rows()
	case stateMetadata:
		r.state = stateDone
		for i, n := range [2]uint16{r.Prepared.Params, r.Prepared.Columns} {
			if n == 0 {
				continue
			}
			for ; n > 0; n-- {
				var err error
				if i == 1 && r.Meta != nil {
					err = r.keepColumn()
				} else {
					err = r.copyPacket()
				}
				if err != nil {
					return 0, err
				}
			}
			if err := r.listEnd(); err != nil {
				return 0, err
			}
		}
		return PartDone, nil
	case stateDone:
		return PartDone, nil
	}
	for {
		p, err := r.src.ReadPacket(maxResponse)
		if err != nil {
			return 0, r.broke(err)
		}
		r.Packet = p
		if p[0] == 0xff {
			if r.src.Progress && IsProgress(p) {
				if err := r.progress(p); err != nil {
					return 0, err
				}
				continue
			}
			r.state = stateDone
			return PartErr, nil
		}
		if r.cmd == ComStmtPrepare {
			ok, valid := ParsePrepareOK(p)
			if !valid {
				return 0, r.broke(r.src.Fail(errors.New("malformed prepare response")))
			}
			r.Prepared, r.state = ok, stateMetadata
			return PartPrepareOK, nil
		}
		switch {
		case p[0] == 0x00:
			ok, valid := ParseOK(p, r.sessionTrack)
			if !valid {
				return 0, r.broke(r.src.Fail(errors.New("malformed OK packet")))
			}
			r.OK = ok
			r.began()
			return PartOK, nil
		case p[0] == 0xfb && r.cmd == ComQuery:
			if err := r.localInfile(p); err != nil {
				return 0, err
			}
			continue
		}
		switch r.cmd {
		case ComStatistics: // one string
			r.state = stateDone
			return PartDone, r.dst.WritePacket(p)
		case ComFieldList: // column definitions, then EOF
			r.state = stateDone
			if IsEOF(p) {
				return PartDone, r.WriteEnd()
			}
			if err := r.dst.WritePacket(p); err != nil {
				return PartDone, err
			}
			if _, err := r.rows(); err != nil {
				return 0, err
			}
			r.state = stateDone
			return PartDone, r.WriteEnd()
		}
		// A result set: column count, columns, EOF, rows, EOF.
		if err := r.columns(p); err != nil {
			return 0, err
		}
		r.state = stateRows
		return PartColumnsEnd, nil
	}
}

// rows streams rows until the EOF or ERR that ends them.
func (r *Relay) rows() (Part, error) {
	src, dst := r.src, r.dst
	for {
		n, err := src.readHeader()
		if err != nil {
			return 0, r.broke(err)
		}
		if n == 0 {
			return 0, r.broke(src.Fail(errors.New("empty row packet")))
		}
		c, err := src.peekByte()
		if err != nil {
			return 0, r.broke(err)
		}
		// EOF is short and starts 0xfe; a row never starts with 0xff.
		if (c == 0xfe && n < maxEOFPayload) || c == 0xff {
			if r.Packet, err = src.readTerminator(n); err != nil {
				return 0, r.broke(err)
			}
			if c == 0xff && src.Progress && IsProgress(r.Packet) {
				// Between rows too: MariaDB's clients read a progress
				// report anywhere in an answer.
				if err := r.progress(r.Packet); err != nil {
					return 0, err
				}
				continue
			}
			if c == 0xff {
				r.state = stateDone
				return PartErr, nil
			}
			r.state = stateFirst
			return PartRowsEnd, nil
		}
		if n <= src.r.Size() {
			// The whole row is in before its header goes out: a backend
			// lost before it leaves the client between packets.
			b, err := src.r.Peek(n)
			if err != nil {
				return 0, r.broke(src.Fail(err))
			}
			if err := dst.writeHeader(n); err != nil {
				return 0, err
			}
			if _, err := dst.w.Write(b); err != nil {
				return 0, dst.Fail(err)
			}
			_, _ = src.r.Discard(n)
			continue
		}
		if err := r.stream(n); err != nil { // a row larger than the buffer
			return 0, err
		}
	}
}

// copyPacket streams one packet (with its continuations) from src to dst.
func (r *Relay) copyPacket() error {
	n, err := r.src.readHeader()
	if err != nil {
		return r.broke(err)
	}
	return r.stream(n)
}

// stream copies a packet whose header src read, n payload bytes, and its
// continuations, as they come.
func (r *Relay) stream(n int) error {
	r.inPacket = true
	for {
		if err := r.dst.writeHeader(n); err != nil {
			return err
		}
		if err := r.dst.copyPayload(r.src, n); err != nil {
			return r.broke(err)
		}
		if n < MaxPayload {
			r.inPacket = false
			return nil
		}
		var err error
		if n, err = r.src.readHeader(); err != nil { // a continuation
			return r.broke(err)
		}
	}
}

// keepColumn relays one of a prepare's column definitions and adds it to
// r.Meta, what the client now holds for the statement.
func (r *Relay) keepColumn() error {
	p, err := r.src.ReadPacket(maxResponse)
	if err != nil {
		return r.broke(err)
	}
	r.Meta.defs = appendHeld(r.Meta.defs, p)
	return r.dst.WritePacket(p)
}

// began counts a result of the response; a second makes r.Meta multi.
func (r *Relay) began() {
	if r.parts++; r.parts > 1 && r.Meta != nil {
		r.Meta.multi, r.Meta.defs = true, r.Meta.defs[:0]
	}
}

// columns relays a result set's column count p, its column definitions
// and the EOF after them, where Next stops (r.Packet). All are read before
// any is written, so a backend lost among them has sent the client nothing.
// For a client with CacheMetadata the count is followed by the
// metadata-follows byte, and definitions it holds already are left out
// (metaFollows); the EOF after them stays, as MariaDB sends it.
func (r *Relay) columns(p []byte) error {
	cols, _, _ := LenEncInt(p)
	h := appendHeld(r.src.held[:0], p)
	start := len(h)
	for ; cols > 0; cols-- {
		at := len(h)
		h = append(h, 0, 0, 0, 0)
		var err error
		h, err = r.src.appendPacket(h, maxResponse, false)
		r.src.held = h
		if err != nil {
			return r.broke(err)
		}
		binary.LittleEndian.PutUint32(h[at:], uint32(len(h)-at-4))
	}
	r.src.held = h
	eof, err := r.src.ReadPacket(maxResponse)
	if err != nil {
		return r.broke(err)
	}
	r.began()
	follows := !r.dst.CacheMetadata || r.metaFollows(h[start:])
	if err := r.dst.WriteColumnCount(h[4:start], follows); err != nil { // p is the EOF's buffer now
		return err
	}
	h = h[start:]
	if !follows {
		h = nil
	}
	for len(h) > 0 {
		n := binary.LittleEndian.Uint32(h)
		if err := r.dst.WritePacket(h[4 : 4+n]); err != nil {
			return err
		}
		h = h[4+n:]
	}
	r.Packet = eof
	return nil
}

// metaFollows says whether a client with CacheMetadata gets the column
// definitions defs (held format): not when they are the statement's first
// result and what the client holds for it already; those it gets become
// what it holds.
func (r *Relay) metaFollows(defs []byte) bool {
	m := r.Meta
	if m == nil || m.multi || r.parts > 1 {
		return true
	}
	if bytes.Equal(defs, m.defs) {
		return false
	}
	m.defs = append(m.defs[:0], defs...)
	return true
}

// appendHeld appends one held packet: its length, then p.
func appendHeld(h, p []byte) []byte {
	h = binary.LittleEndian.AppendUint32(h, uint32(len(p)))
	return append(h, p...)
}

// EOFStatus is the status flags of the EOF Next stopped at; false for a
// short EOF, which has none, or a packet that is not an EOF.
func (r *Relay) EOFStatus() (uint16, bool) {
	p := r.Packet
	if !IsEOF(p) || len(p) < 5 {
		return 0, false
	}
	return binary.LittleEndian.Uint16(p[3:]), true
}

// WriteEOF writes the EOF Next stopped at with status flags st, framed
// for the client (Conn.WriteColumnsEnd after column definitions,
// Conn.WriteEOF after rows). A short EOF becomes a full one (a short EOF
// breaks clients); a packet that is not an EOF is written as it is.
func (r *Relay) WriteEOF(st uint16) error {
	p := r.Packet
	if !IsEOF(p) {
		return r.dst.WritePacket(p)
	}
	if r.state == stateRows { // the columns' end: rows follow
		return r.dst.WriteColumnsEnd(eofWarnings(p), st)
	}
	return r.dst.WriteEOF(eofWarnings(p), st)
}

// WriteEnd writes the EOF (or ERR) at r.Packet that ends a response as
// it is, framed for the client.
func (r *Relay) WriteEnd() error {
	p := r.Packet
	if !IsEOF(p) || !r.dst.DeprecateEOF {
		return r.dst.WritePacket(p)
	}
	st, _ := r.EOFStatus()
	return r.dst.WriteEOF(eofWarnings(p), st)
}

// listEnd relays the EOF after a prepare's parameter or column
// definitions, which a client with CLIENT_DEPRECATE_EOF does not get.
func (r *Relay) listEnd() error {
	if !r.dst.DeprecateEOF {
		return r.copyPacket()
	}
	if _, err := r.src.ReadPacket(maxResponse); err != nil {
		return r.broke(err)
	}
	return nil
}

// eofWarnings is the warning count of an EOF payload (0 in a short one).
func eofWarnings(p []byte) uint16 {
	if len(p) < 3 {
		return 0
	}
	return binary.LittleEndian.Uint16(p[1:])
}

// broke labels a backend failure after part of the response reached the
// client as the client's failure: a Cut between packets, else a packet
// the client will never see the end of.
func (r *Relay) broke(err error) error {
	if r.dst.written == r.start || ClientFailed(err) {
		return err
	}
	if r.inPacket {
		return r.dst.Fail(fmt.Errorf("%s failed mid-response, inside a packet: %w", r.src.role, err))
	}
	return r.dst.Fail(&Cut{Role: r.src.role, Err: err})
}

// Cut is a backend's failure after part of a response reached the client,
// between two of its packets: the client is where an ERR packet, written
// next, ends the response (a result set cut short, as a killed query's).
type Cut struct {
	Role string
	Err  error
}

func (c *Cut) Error() string { return c.Role + " failed mid-response: " + c.Err.Error() }
func (c *Cut) Unwrap() error { return c.Err }

// IsCut reports whether err is, or wraps, a Cut.
func IsCut(err error) bool {
	var c *Cut
	return errors.As(err, &c)
}

// localInfile relays a LOCAL INFILE request and the client's file, which
// ends with an empty packet; the backend's answer follows.
func (r *Relay) localInfile(req []byte) error {
	if err := r.dst.WritePacket(req); err != nil {
		return err
	}
	if err := r.dst.Flush(); err != nil {
		return err
	}
	for {
		limit := r.ClientMax
		if limit <= 0 {
			limit = maxResponse
		}
		data, err := r.dst.ReadPacket(limit)
		if err != nil {
			return err
		}
		if err := r.src.WritePacket(data); err != nil {
			return r.broke(err)
		}
		if len(data) == 0 {
			if err := r.src.Flush(); err != nil {
				return r.broke(err)
			}
			return nil
		}
	}
}

// progress relays a progress report as it comes: it is for the client to
// see while the statement runs.
func (r *Relay) progress(p []byte) error {
	if err := r.dst.WritePacket(p); err != nil {
		return err
	}
	return r.dst.Flush()
}

// IsProgress reports whether a payload is a MariaDB progress report: an
// ERR header with error code 0xFFFF, which a server sends, before or
// inside the answer of a long statement (ALTER TABLE, LOAD DATA, REPAIR
// …), to a client that asked for MARIADB_CLIENT_PROGRESS. It is not the
// answer, nor an error.
func IsProgress(p []byte) bool { return len(p) >= 3 && p[0] == 0xff && p[1] == 0xff && p[2] == 0xff }

// maxEOFPayload: an EOF payload is shorter; a row starting 0xfe is not.
const maxEOFPayload = 9

// IsEOF reports whether a payload is an EOF packet.
func IsEOF(p []byte) bool { return len(p) > 0 && p[0] == 0xfe && len(p) < maxEOFPayload }

// PrepareOK is the first packet of a COM_STMT_PREPARE answer.
type PrepareOK struct {
	ID              uint32
	Columns, Params uint16
}

// ParsePrepareOK decodes a prepare OK: 0x00, statement id, column and
// parameter counts, filler, warnings.
func ParsePrepareOK(p []byte) (PrepareOK, bool) {
	if len(p) < 12 || p[0] != 0x00 {
		return PrepareOK{}, false
	}
	return PrepareOK{ID: binary.LittleEndian.Uint32(p[1:]), Columns: binary.LittleEndian.Uint16(p[5:]),
		Params: binary.LittleEndian.Uint16(p[7:])}, true
}

// MetaPackets counts the parameter and column definitions (each list with
// its EOF) that follow a prepare OK.
func (p PrepareOK) MetaPackets() int {
	n := 0
	if p.Params > 0 {
		n += int(p.Params) + 1
	}
	if p.Columns > 0 {
		n += int(p.Columns) + 1
	}
	return n
}
