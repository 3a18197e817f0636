package proxy

import (
	"encoding/binary"
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/fwdproxy/fwdproxy/proxy/wire"
)

// Commands the proxy handles itself (go-mysql names some, not all).
const (
	comQuit         = 0x01
	comInitDB       = 0x02
	comQuery        = wire.ComQuery
	comFieldList    = wire.ComFieldList
	comRefresh      = 0x07
	comStatistics   = wire.ComStatistics
	comPing         = 0x0e
	comChangeUser   = 0x11
	comStmtPrepare  = wire.ComStmtPrepare
	comStmtExecute  = 0x17
	comStmtSendLong = 0x18
	comStmtClose    = 0x19
	comStmtReset    = 0x1a
	// comStmtBulkExecute is MariaDB's execute of one statement for many
	// rows of parameters (MARIADB_CLIENT_STMT_BULK_OPERATIONS).
	comStmtBulkExecute = 0xfa
	comSetOption       = 0x1b
	comStmtFetch       = wire.ComStmtFetch
	comResetConnection = 0x1f
)

const (
	statusInTrans         = mysql.SERVER_STATUS_IN_TRANS
	statusAutocommit      = mysql.SERVER_STATUS_AUTOCOMMIT
	statusMoreResults     = mysql.SERVER_MORE_RESULTS_EXISTS
	statusSessionStateChg = mysql.SERVER_SESSION_STATE_CHANGED
	statusInTransReadOnly = mysql.SERVER_STATUS_IN_TRANS_READONLY
	statusCursorExists    = mysql.SERVER_STATUS_CURSOR_EXISTS
	statusLastRowSent     = mysql.SERVER_STATUS_LAST_ROW_SEND
	capSessionTrack       = mysql.CLIENT_SESSION_TRACK
	capMultiStatements    = mysql.CLIENT_MULTI_STATEMENTS
	capMultiResults       = mysql.CLIENT_MULTI_RESULTS
	capPSMultiResults     = mysql.CLIENT_PS_MULTI_RESULTS
	capLocalFiles         = mysql.CLIENT_LOCAL_FILES
	capFoundRows          = mysql.CLIENT_FOUND_ROWS
	capIgnoreSpace        = mysql.CLIENT_IGNORE_SPACE
	capInteractive        = mysql.CLIENT_INTERACTIVE
	// capNoSchema: the server drops the schema of every db.table; the
	// session classifies with sqlclass.Options.NoSchema to match.
	capNoSchema          = mysql.CLIENT_NO_SCHEMA
	capabilitiesMirrored = capMultiResults | capPSMultiResults | capLocalFiles | capFoundRows | capIgnoreSpace | capInteractive | capNoSchema
	// capabilitiesPatched are mirrored flags go-mysql's client cannot ask
	// for: dialBackend writes them into its handshake response (capsAdder).
	capabilitiesPatched = capInteractive | capNoSchema
	// MariaDB's extended capabilities (the upper 32 bits, sent in the
	// greeting's and the handshake response's reserved bytes, by and to a
	// client without CLIENT_MYSQL). extOffered are those the proxy offers;
	// extBackend those it asks the backends for when the client asks:
	// progress reports (ERR-headed packets with code 0xFFFF before or among
	// a long statement's answer) are relayed where the answer is and
	// skipped where the proxy reads the answer itself (wire.IsProgress);
	// bulk execute relays as an execute does; extended type info is one
	// more block in a column definition, which the proxy reads past in the
	// backends' and writes, empty, in its own. The metadata cache is the
	// proxy's own toward the client (wire.MetaCache): a statement runs
	// under other ids on two backends, each of which would keep its own.
	extProgress      = 1 << (32 - 32)
	extStmtBulk      = 1 << (34 - 32)
	extExtendedTypes = 1 << (35 - 32)
	extCacheMetadata = 1 << (36 - 32)
	extBackend       = extProgress | extStmtBulk | extExtendedTypes
	extOffered       = extBackend | extCacheMetadata
)

// okPacket is what the proxy learns from an OK (or EOF) packet.
type okPacket struct {
	affectedRows uint64
	insertID     uint64
	status       uint16
	warnings     uint16
	info         []byte
	stateInfo    []byte // session-state block without its length prefix (CLIENT_SESSION_TRACK), may be nil
}

// parseOK decodes a backend's OK packet (header 0x00 or 0xfe).
// sessionTrack says whether the connection negotiated
// CLIENT_SESSION_TRACK. Slices alias data.
func parseOK(data []byte, sessionTrack bool) (okPacket, bool) {
	w, valid := wire.ParseOK(data, sessionTrack)
	return fromWire(w), valid
}

// fromWire is the proxy's view of a parsed OK packet.
func fromWire(w wire.OK) okPacket {
	return okPacket{affectedRows: w.AffectedRows, insertID: w.InsertID, status: w.Status,
		warnings: w.Warnings, info: w.Info, stateInfo: w.SessionState}
}

// appendOK encodes an OK packet payload for a client.
func appendOK(b []byte, ok okPacket, sessionTrack bool) []byte {
	b = append(b, 0x00)
	b = mysql.AppendLengthEncodedInteger(b, ok.affectedRows)
	b = mysql.AppendLengthEncodedInteger(b, ok.insertID)
	status := ok.status
	if !sessionTrack || ok.stateInfo == nil {
		status &^= statusSessionStateChg
	}
	b = binary.LittleEndian.AppendUint16(b, status)
	b = binary.LittleEndian.AppendUint16(b, ok.warnings)
	if !sessionTrack {
		// Real servers length-prefix the info text without
		// CLIENT_SESSION_TRACK too, and drivers (PHP mysqlnd) read it so.
		if len(ok.info) > 0 {
			b = mysql.AppendLengthEncodedInteger(b, uint64(len(ok.info)))
			b = append(b, ok.info...)
		}
		return b
	}
	if len(ok.info) == 0 && status&statusSessionStateChg == 0 {
		return b
	}
	b = mysql.AppendLengthEncodedInteger(b, uint64(len(ok.info)))
	b = append(b, ok.info...)
	if status&statusSessionStateChg != 0 {
		b = mysql.AppendLengthEncodedInteger(b, uint64(len(ok.stateInfo)))
		b = append(b, ok.stateInfo...)
	}
	return b
}

// sqlError is a MySQL error the proxy sends to a client.
type sqlError struct {
	code  uint16
	state string
	msg   string
}

func (e *sqlError) Error() string { return e.msg }

// newError fills in the SQLSTATE that MySQL uses for code.
func newError(code uint16, format string, args ...any) *sqlError {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	e := mysql.NewError(code, msg)
	return &sqlError{code: code, state: e.State, msg: msg}
}

func appendErr(b []byte, e *sqlError) []byte {
	b = append(b, 0xff)
	b = binary.LittleEndian.AppendUint16(b, e.code)
	b = append(b, '#')
	st := e.state
	if len(st) != 5 {
		st = "HY000"
	}
	b = append(b, st...)
	return append(b, e.msg...)
}

// parseErr decodes an ERR packet payload.
func parseErr(data []byte) *sqlError {
	e := &sqlError{code: 1105, state: "HY000"}
	if len(data) < 3 {
		e.msg = "malformed error packet"
		return e
	}
	e.code = binary.LittleEndian.Uint16(data[1:])
	rest := data[3:]
	if len(rest) >= 6 && rest[0] == '#' {
		e.state = string(rest[1:6])
		rest = rest[6:]
	}
	e.msg = string(rest)
	return e
}

// appendLenEncString appends a length-encoded string.
func appendLenEncString(b []byte, s string) []byte {
	b = mysql.AppendLengthEncodedInteger(b, uint64(len(s)))
	return append(b, s...)
}
