package wire

import (
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
// not grow with results. A LOCAL INFILE request (to COM_QUERY) is relayed
// with the client's file. A failure of the backend after part of the
// response reached the client is the client's failure: only closing its
// connection is honest.
type Relay struct {
	// ClientMax bounds a packet of the client's LOCAL INFILE data (0:
	// the response bound).
	ClientMax    int
	src, dst     *Conn
	cmd          byte
	sessionTrack bool
	state        uint8
	start        uint64 // dst.written when the response began
	// Packet is the packet Next stopped at; it aliases src's buffer.
	Packet []byte
	// OK is the parsed packet at PartOK; its slices alias Packet.
	OK OK
	// Prepared is the parsed packet at PartPrepareOK.
	Prepared PrepareOK
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
		for n := r.Prepared.MetaPackets(); n > 0; n-- {
			if err := r.dst.copyPacket(r.src); err != nil {
				return 0, r.broke(err)
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
			if err := r.dst.WritePacket(p); err != nil || IsEOF(p) {
				return PartDone, err
			}
			if _, err := r.rows(); err != nil {
				return 0, err
			}
			r.state = stateDone
			return PartDone, r.dst.WritePacket(r.Packet)
		}
		// A result set: column count, columns, EOF, rows, EOF.
		cols, _, _ := LenEncInt(p)
		if err := r.dst.WritePacket(p); err != nil {
			return 0, err
		}
		for ; cols > 0; cols-- {
			if err := r.dst.copyPacket(r.src); err != nil {
				return 0, r.broke(err)
			}
		}
		if r.Packet, err = r.src.ReadPacket(maxResponse); err != nil {
			return 0, r.broke(err)
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
			if c == 0xff {
				r.state = stateDone
				return PartErr, nil
			}
			r.state = stateFirst
			return PartRowsEnd, nil
		}
		for {
			if err := dst.writeHeader(n); err != nil {
				return 0, err
			}
			if err := dst.copyPayload(src, n); err != nil {
				return 0, r.broke(err)
			}
			if n < MaxPayload {
				break
			}
			if n, err = src.readHeader(); err != nil { // continuation of a large row
				return 0, r.broke(err)
			}
		}
	}
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

// WriteEOF writes the EOF Next stopped at with status flags st. A short
// EOF becomes a full one (a short EOF breaks clients); a packet that is
// not an EOF is written as it is.
func (r *Relay) WriteEOF(st uint16) error {
	p := r.Packet
	switch {
	case !IsEOF(p):
	case len(p) >= 5:
		binary.LittleEndian.PutUint16(p[3:], st)
	default:
		r.dst.eof = [5]byte{0xfe, 0, 0, byte(st), byte(st >> 8)}
		p = r.dst.eof[:]
	}
	return r.dst.WritePacket(p)
}

// broke labels a backend failure after part of the response reached the
// client as the client's failure.
func (r *Relay) broke(err error) error {
	if r.dst.written == r.start || ClientFailed(err) {
		return err
	}
	return r.dst.Fail(fmt.Errorf("%s failed mid-response: %w", r.src.role, err))
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
