// Package capture records what clients send through the proxy, session by
// session, with what each command got back, to a file that `fwdproxy
// replay` plays again (package replay).
//
// The file is JSON Lines: a header line, then one Record a line, in the
// order the commands finished. A session's records are in its own order;
// the sessions interleave. Passwords are never in it: no authentication
// data is recorded, and the string literals of statements that set one
// (CREATE USER … IDENTIFIED BY, SET PASSWORD, …) are replaced
// (sqlclass.RedactPasswords). The file is bounded: at the limit the writer
// writes a last "stopped" record and nothing more.
package capture

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Version is the format's version, in the header.
const Version = 1

// Header is the file's first line.
type Header struct {
	Capture int    `json:"capture"` // Version
	Start   string `json:"start"`   // RFC 3339, when the capture began
}

// Kind is what a record is about.
type Kind string

const (
	Connect    Kind = "connect"    // a session logged in
	Command    Kind = "command"    // a command and its result
	Disconnect Kind = "disconnect" // the session ended
	Stopped    Kind = "stopped"    // the size limit was reached: nothing follows
)

// Record is one line after the header.
type Record struct {
	Kind    Kind   `json:"kind"`
	Session uint32 `json:"session,omitempty"`
	// AtUS is when it happened, in microseconds since the capture began
	// (a command: when it arrived).
	AtUS int64 `json:"at_us"`

	// Connect (and a change_user command's new user).
	User    string `json:"user,omitempty"`
	DB      string `json:"db,omitempty"`
	Program string `json:"program,omitempty"` // the program_name connection attribute, if sent
	Caps    uint32 `json:"caps,omitempty"`    // the session's capability flags

	// Command: Name is query, init_db, prepare, execute, send_long_data,
	// close_stmt, reset_stmt, fetch, ping, set_option, reset_connection,
	// change_user or other.
	Name string `json:"command,omitempty"`
	// SQL: a query's or prepare's text, an execute's prepared text, the
	// database of init_db.
	SQL string `json:"sql,omitempty"`
	// Redacted: the text had a password, replaced; replay skips it.
	Redacted bool `json:"redacted,omitempty"`
	// Stmt: the statement id the client named (execute, fetch, close…).
	Stmt uint32 `json:"stmt,omitempty"`
	// Params: an execute's bound parameters, as text (NULL as null).
	Params []*string `json:"params,omitempty"`
	// Packet: the command as sent (execute, send_long_data, fetch,
	// set_option), for replay.
	Packet []byte `json:"packet,omitempty"`
	// Result: what the client got (absent when the session ended first).
	Result *Result `json:"result,omitempty"`
}

// Result is the outcome of one command as the client saw it.
type Result struct {
	Error    uint16 `json:"error,omitempty"`    // the ERR's code; 0: none
	Affected uint64 `json:"affected,omitempty"` // OKs' affected rows, summed
	Rows     int64  `json:"rows,omitempty"`     // rows returned, all result sets
	Sets     int    `json:"sets,omitempty"`     // result sets
	Stmt     uint32 `json:"stmt,omitempty"`     // prepare: the statement id it got
	Params   int    `json:"params,omitempty"`   // prepare: its parameter count
	DurUS    int64  `json:"dur_us"`             // from the command's arrival to the response's end
}

// maxLine bounds one line the reader accepts.
const maxLine = 1 << 30

// Reader reads a capture file.
type Reader struct {
	sc     *bufio.Scanner
	Header Header
}

// NewReader reads the header; a file that does not start with one is an
// error.
func NewReader(r io.Reader) (*Reader, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	rd := &Reader{sc: sc}
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("capture: empty file")
	}
	if err := json.Unmarshal(sc.Bytes(), &rd.Header); err != nil || rd.Header.Capture == 0 {
		return nil, errors.New("capture: not a capture file (no header line)")
	}
	if rd.Header.Capture != Version {
		return nil, fmt.Errorf("capture: format version %d, this fwdproxy reads %d", rd.Header.Capture, Version)
	}
	return rd, nil
}

// Next returns the next record, or io.EOF after the last.
func (r *Reader) Next() (Record, error) {
	for r.sc.Scan() {
		if len(r.sc.Bytes()) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(r.sc.Bytes(), &rec); err != nil {
			return Record{}, fmt.Errorf("capture: %v", err)
		}
		switch rec.Kind {
		case Connect, Command, Disconnect, Stopped:
			return rec, nil
		}
		return Record{}, fmt.Errorf("capture: unknown record kind %q", rec.Kind)
	}
	if err := r.sc.Err(); err != nil {
		return Record{}, err
	}
	return Record{}, io.EOF
}

// ReadAll reads every record.
func (r *Reader) ReadAll() ([]Record, error) {
	var out []Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}
