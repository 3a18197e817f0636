package proxy

import (
	"github.com/fwdproxy/fwdproxy/proxy/wire"
)

// relayResult is what the proxy learned while relaying one response.
type relayResult struct {
	ok        okPacket  // the last OK packet (affected rows, insert id, GTID data)
	err       *sqlError // the backend's ERR, already relayed to the client
	resultSet bool      // the response carried rows (a write's … RETURNING among them)
	refused   bool      // err is the writer's 1290 of a demoted writer, not relayed (refusedByWriter)
	cursor    bool      // the response opened a cursor: rows come through COM_STMT_FETCH
}

// relay copies one command's response from b to the client (wire.Relay
// moves the packets). The proxy's part: the client's status flags follow
// the session's view, MORE_RESULTS is set on the last packet when more is
// true (multi-statement batches), session-tracking data the client did
// not ask for is stripped, and the backend's status is noted.
func (s *session) relay(b *backend, cmd byte, more bool) (res relayResult, err error) {
	r := wire.NewRelay(b.conn, s.client, cmd, b.caps&capSessionTrack != 0)
	r.ClientMax = s.srv.conf().MaxPacket
	if s.executing != nil && s.client.CacheMetadata && (cmd == comStmtExecute || cmd == comStmtBulkExecute) {
		r.Meta = &s.executing.meta
	}
	for first := true; ; first = false {
		part, err := r.Next()
		if err != nil {
			return res, err
		}
		switch part {
		case wire.PartOK:
			ok := fromWire(r.OK)
			b.status = ok.status
			s.noteStatus(b)
			backendMore := ok.status&statusMoreResults != 0
			ok.status = s.fixStatus(ok.status, more || backendMore)
			ok.stateInfo = s.tokenTracked(b, ok.stateInfo)
			res.ok = ok
			if err := s.writePacket(appendOK(s.scratch[:0], ok, s.clientCaps&capSessionTrack != 0)); err != nil {
				return res, err
			}
			res.ok.info, res.ok.stateInfo = cloneBytes(ok.info), cloneBytes(ok.stateInfo)
			if !backendMore {
				return res, nil
			}
		case wire.PartErr:
			// An ERR ends a batch: it carries no MORE_RESULTS flag.
			res.err = parseErr(r.Packet)
			s.out.Err = res.err.code
			if first && s.refusedByWriter(b, res.err) {
				res.refused = true
				return res, nil
			}
			return res, s.writePacket(r.Packet)
		case wire.PartColumnsEnd:
			res.resultSet = true
			st, _ := r.EOFStatus()
			cursor := st&statusCursorExists != 0
			if err := r.WriteEOF(s.fixStatus(st, more || st&statusMoreResults != 0)); err != nil {
				return res, err
			}
			if cursor { // rows come later through COM_STMT_FETCH
				res.cursor = true
				return res, nil
			}
		case wire.PartRowsEnd:
			st, full := r.EOFStatus()
			if !full {
				st = b.status
			}
			b.status = st
			s.noteStatus(b)
			backendMore := st&statusMoreResults != 0
			if err := r.WriteEOF(s.fixStatus(st, more || backendMore)); err != nil {
				return res, err
			}
			if !backendMore {
				return res, nil
			}
		default: // PartDone: COM_STATISTICS, COM_FIELD_LIST
			return res, nil
		}
	}
}

// writePacket writes one payload to the client.
func (s *session) writePacket(p []byte) error { return s.client.WritePacket(p) }

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
