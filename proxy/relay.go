package proxy

import (
	"errors"
	"fmt"
	"io"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// relayResult is what the proxy learned while relaying one response.
type relayResult struct {
	ok        okPacket  // the last OK packet (affected rows, insert id, GTID data)
	err       *sqlError // the backend's ERR, already relayed to the client
	resultSet bool      // the response carried rows
}

// clientErr marks a failure writing to the client: the session ends.
type clientErr struct{ err error }

func (e *clientErr) Error() string { return "client: " + e.err.Error() }
func (e *clientErr) Unwrap() error { return e.err }

// relay copies one command's response from b to the client as raw packets.
// It rewrites sequence numbers, keeps the client's status flags right, sets
// MORE_RESULTS on the last packet when more is true (multi-statement
// batches), and strips session-tracking data the client did not ask for.
// Rows are streamed packet by packet, so memory does not grow with results.
func (s *session) relay(b *backend, cmd byte, more bool) (res relayResult, err error) {
	start := s.seq
	defer func() {
		// A backend that fails after part of its answer reached the client
		// leaves the client mid-result: only closing its connection is honest.
		if err == nil || s.seq == start {
			return
		}
		// Declared here: errors.As moves be to the heap, and a relay that
		// succeeds must allocate nothing.
		var be *backendErr
		if errors.As(err, &be) {
			err = &clientErr{fmt.Errorf("%s failed mid-response: %w", b.role, err)}
		}
	}()
	for {
		first, err := b.readPacket()
		if err != nil {
			return res, err
		}
		switch first[0] {
		case 0x00:
			ok, valid := parseOK(first, b.caps&capSessionTrack != 0)
			if !valid {
				return res, &backendErr{b.role, errors.New("malformed OK packet")}
			}
			b.status = ok.status
			s.noteStatus(b)
			backendMore := ok.status&statusMoreResults != 0
			ok.status = s.fixStatus(ok.status, more || backendMore)
			res.ok = ok
			if err := s.writePacket(appendOK(s.scratch[:0], ok, s.clientCaps&capSessionTrack != 0)); err != nil {
				return res, err
			}
			res.ok.info, res.ok.stateInfo = cloneBytes(ok.info), cloneBytes(ok.stateInfo)
			if !backendMore {
				return res, nil
			}
			continue
		case 0xff:
			// An ERR ends a batch: it carries no MORE_RESULTS flag.
			res.err = parseErr(first)
			return res, s.writePacket(first)
		case 0xfb:
			if cmd != comQuery {
				break
			}
			if err := s.relayLocalInfile(b, first); err != nil {
				return res, err
			}
			continue
		}
		if cmd == comStatistics {
			return res, s.writePacket(first)
		}
		// A result set: column count, columns, EOF, rows, EOF.
		res.resultSet = true
		cols, _, _ := mysql.LengthEncodedInt(first)
		if err := s.writePacket(first); err != nil {
			return res, err
		}
		if cmd == comFieldList {
			cols = 0 // COM_FIELD_LIST sends column definitions then one EOF
			if err := s.relayRows(b, nil); err != nil {
				return res, err
			}
			return res, nil
		}
		if err := s.relayPackets(b, int(cols)); err != nil {
			return res, err
		}
		st, err := s.relayEOF(b, more)
		if err != nil {
			return res, err
		}
		if st&statusCursorExists != 0 {
			// A cursor was opened: rows come later through COM_STMT_FETCH.
			return res, nil
		}
		var last []byte
		if err := s.relayRows(b, &last); err != nil {
			return res, err
		}
		if last[0] == 0xff {
			res.err = parseErr(last)
			return res, s.writePacket(last)
		}
		st = b.status
		if len(last) >= 5 {
			st = uint16(last[3]) | uint16(last[4])<<8
		}
		b.status = st
		s.noteStatus(b)
		backendMore := st&statusMoreResults != 0
		fixed := s.fixStatus(st, more || backendMore)
		if len(last) >= 5 {
			last[3], last[4] = byte(fixed), byte(fixed>>8)
		} else {
			last = appendEOF(s.scratch[:0], 0, fixed) // a short EOF breaks clients
		}
		if err := s.writePacket(last); err != nil {
			return res, err
		}
		if !backendMore {
			return res, nil
		}
	}
}

// relayPackets copies n whole packets (column definitions) unchanged.
func (s *session) relayPackets(b *backend, n int) error {
	for i := 0; i < n; i++ {
		if err := s.copyOnePacket(b); err != nil {
			return err
		}
	}
	return nil
}

// copyOnePacket streams one packet (with its continuations) from b.
func (s *session) copyOnePacket(b *backend) error {
	for {
		n, _, err := b.io.readHeader()
		if err != nil {
			return &backendErr{b.role, err}
		}
		if err := s.streamPayload(b, n); err != nil {
			return err
		}
		if n < maxPayload {
			return nil
		}
	}
}

func (s *session) streamPayload(b *backend, n int) error {
	s.client.whdr = [4]byte{byte(n), byte(n >> 8), byte(n >> 16), s.seq}
	s.seq++
	if _, err := s.client.w.Write(s.client.whdr[:]); err != nil {
		return &clientErr{err}
	}
	rerr, werr := b.io.copyPayload(s.client.w, n)
	if rerr != nil {
		return &backendErr{b.role, rerr}
	}
	if werr != nil {
		return &clientErr{werr}
	}
	return nil
}

// relayEOF copies the EOF after column definitions, fixing status flags,
// and returns the backend's status.
func (s *session) relayEOF(b *backend, more bool) (uint16, error) {
	p, err := b.readPacket()
	if err != nil {
		return 0, err
	}
	var st uint16
	if isEOF(p) {
		if len(p) >= 5 {
			st = uint16(p[3]) | uint16(p[4])<<8
			fixed := s.fixStatus(st, more && st&statusCursorExists != 0)
			p[3], p[4] = byte(fixed), byte(fixed>>8)
		} else {
			p = appendEOF(s.scratch[:0], 0, s.fixStatus(0, false))
		}
	}
	return st, s.writePacket(p)
}

// relayRows streams rows until the terminating EOF or ERR, which is
// returned in *last (not yet written) so the caller can fix its flags.
// With last == nil the terminator is written as is.
func (s *session) relayRows(b *backend, last *[]byte) error {
	for {
		n, _, err := b.io.readHeader()
		if err != nil {
			return &backendErr{b.role, err}
		}
		if n == 0 {
			return &backendErr{b.role, errors.New("empty row packet")}
		}
		{
			c, err := b.io.peekByte()
			if err != nil {
				return &backendErr{b.role, err}
			}
			// EOF is short and starts 0xfe; a row never starts with 0xff.
			if (c == 0xfe && n < maxEOFPacketPayloadSize) || c == 0xff {
				p := growTo(b.io.buf[:0], n)
				b.io.buf = p
				if _, err := io.ReadFull(b.io.r, p); err != nil {
					return &backendErr{b.role, err}
				}
				if last == nil {
					return s.writePacket(p)
				}
				*last = p
				return nil
			}
		}
		if err := s.streamPayload(b, n); err != nil {
			return err
		}
		for n == maxPayload { // continuation of a large row
			if n, _, err = b.io.readHeader(); err != nil {
				return &backendErr{b.role, err}
			}
			if err := s.streamPayload(b, n); err != nil {
				return err
			}
		}
	}
}

// writePacket writes one payload to the client with the next sequence numbers.
func (s *session) writePacket(p []byte) error {
	seq, err := s.client.writePacket(s.seq, p)
	s.seq = seq
	if err != nil {
		return &clientErr{err}
	}
	return nil
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// relayLocalInfile relays a LOCAL INFILE request and the client's file.
func (s *session) relayLocalInfile(b *backend, req []byte) error {
	if err := s.writePacket(req); err != nil {
		return err
	}
	if err := s.client.flush(); err != nil {
		return &clientErr{err}
	}
	bseq := uint8(2)
	for {
		data, seq, err := s.client.readPacket(s.srv.conf().MaxPacket)
		if err != nil {
			return &clientErr{err}
		}
		s.seq = seq + 1
		if bseq, err = b.io.writePacket(bseq, data); err != nil {
			return &backendErr{b.role, err}
		}
		if len(data) == 0 {
			break
		}
	}
	if err := b.io.flush(); err != nil {
		return &backendErr{b.role, err}
	}
	return nil
}
