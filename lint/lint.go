// Package lint checks SQL an application sends — a SQL file, a MySQL or
// MariaDB general query log, or a slow query log — against fwdproxy's write
// forwarding contract (docs/compatibility.md): which statements fwdproxy rejects
// (1235, 1290, 1792, …) and which it runs differently from a plain server
// (warnings). It is pure: it reads from an io.Reader and reports findings.
//
// Each statement is classified by sqlclass and routed by route.Decide, as
// the proxy does, from a model of a proxy session (session.go) that follows
// the input in order: one session for a SQL file, one per connection id in
// a log.
package lint

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/exposure"
	"github.com/fwdproxy/fwdproxy/route"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// Level is a session's aurora_replica_read_consistency value: the proxy's
// own type, so lint and the proxy cannot drift apart.
type Level = consistency.Level

// Levels.
const (
	Off      = consistency.Off      // '': no forwarding in the session
	Eventual = consistency.Eventual // reads never wait
	Session  = consistency.Session  // reads wait for the session's own writes
	Global   = consistency.Global   // reads wait for the writer's position
)

// ParseLevel reads a level as the server does: case-insensitive, no trim.
func ParseLevel(s string) (Level, bool) { return consistency.ParseLevel(s) }

// Format is the kind of an input.
type Format uint8

// Input formats.
const (
	Auto       Format = iota // detect from the first lines
	SQL                      // statements separated by ';', DELIMITER blocks
	GeneralLog               // MySQL / MariaDB general query log
	SlowLog                  // MySQL / MariaDB slow query log
)

func (f Format) String() string {
	switch f {
	case SQL:
		return "sql"
	case GeneralLog:
		return "general log"
	case SlowLog:
		return "slow log"
	}
	return "auto"
}

// Config is what a lint run assumes about the sessions.
type Config struct {
	// Consistency is the initial aurora_replica_read_consistency of every
	// session (fwdproxy's --default-consistency); Off means forwarding is
	// off, so writes get 1290.
	Consistency Level
	// Options is the initial sql_mode lexing; SET sql_mode in the input
	// changes it for that session.
	Options sqlclass.Options
	// Format forces an input format; Auto detects it.
	Format Format
}

// Severities.
const (
	SeverityError   = "error"   // fwdproxy answers the statement with an error
	SeverityWarning = "warning" // it runs, but not as on a plain server, or needs care
)

// Finding is one statement fwdproxy would reject or change.
type Finding struct {
	File      string `json:"file"`
	Line      int    `json:"line"`             // where the statement starts
	Thread    uint64 `json:"thread,omitempty"` // connection id, in logs
	Code      int    `json:"code"`             // MySQL error code; 0 for warnings
	Severity  string `json:"severity"`
	Operation string `json:"operation"` // the operation an error names, or the warning's category
	Why       string `json:"why"`
	Message   string `json:"message,omitempty"` // the error text the client gets
	Statement string `json:"statement"`         // blanks collapsed, at most 200 characters
}

// Text is the finding as one line: FILE:LINE: CODE OPERATION: WHY, with
// "warning" in place of the code for warnings.
func (f Finding) Text() string {
	code := "warning"
	if f.Severity == SeverityError {
		code = strconv.Itoa(f.Code)
	}
	return f.File + ":" + strconv.Itoa(f.Line) + ": " + code + " " + f.Operation + ": " + f.Why
}

// JSON is the finding as a JSON object.
func (f Finding) JSON() []byte {
	b, _ := json.Marshal(f)
	return b
}

// Lint reads one input and returns its findings.
func Lint(name string, r io.Reader, cfg Config) ([]Finding, error) {
	var out []Finding
	err := Run(name, r, cfg, func(f Finding) { out = append(out, f) })
	return out, err
}

// Run reads one input and calls emit for each finding, in input order.
// The error is a read error; nothing in the input's content is an error.
func Run(name string, r io.Reader, cfg Config, emit func(Finding)) error {
	_, err := run(name, r, cfg, emit)
	return err
}

func newLinter(name string, cfg Config, emit func(Finding)) (*linter, error) {
	return &linter{cfg: cfg, file: name, emit: emit, sessions: map[uint64]*session{}, classes: map[sqlclass.Class]int{}}, nil
}

func run(name string, r io.Reader, cfg Config, emit func(Finding)) (*linter, error) {
	l, _ := newLinter(name, cfg, emit)
	return l, l.read(r)
}

// read reads one input of the format cfg says or Detect finds.
func (l *linter) read(r io.Reader) error {
	in := newLineReader(r)
	format := l.cfg.Format
	if format == Auto {
		format = Detect(in.peek())
	}
	switch format {
	case GeneralLog:
		return l.generalLog(in)
	case SlowLog:
		return l.slowLog(in)
	default:
		return l.sqlFile(in)
	}
}

// linter holds the sessions of one input.
type linter struct {
	cfg      Config
	file     string
	emit     func(Finding)
	sessions map[uint64]*session
	classes  map[sqlclass.Class]int // statements seen, by class
	// onRoute sees reads on the reader and forwarded writes
	// (Auditor.OnRoute).
	onRoute func(Routed)
	// exp, when set, adds up the stale-read exposure of the reads
	// (Exposure), at the time of the current general log entry.
	exp   *exposure.Store
	at    time.Time
	atRes time.Duration // how precise at is
	timed bool          // some entry had a timestamp
}

func (l *linter) session(id uint64) *session {
	s := l.sessions[id]
	if s == nil {
		s = newSession(l, id)
		l.sessions[id] = s
	}
	return s
}

// query runs the statements of one query text as fwdproxy's COM_QUERY
// does: split into statements, each classified and routed in order. line
// is the line text starts on; path is how the text arrived: Text, or a
// general log's Prepare (route.Prepare) and Execute (route.Binary) lines.
func (l *linter) query(s *session, text string, line int, path route.Path) {
	if strings.TrimSpace(text) == "" {
		return
	}
	base := 0              // text[base:] is still to split
	counted, lines := 0, 0 // newlines in text[:counted]
	for again := true; again; {
		again = false
		opt, rest := s.opt, text[base:]
		from := 0
		for _, p := range sqlclass.Split(rest, opt) {
			off := offsetIn(rest, p, from)
			from = off + len(p)
			start := base + off + skipComments(p)
			lines += strings.Count(text[counted:start], "\n")
			counted = start
			x := &stmt{sql: p, shown: p, st: sqlclass.Classify(p, opt), line: line + lines, path: path}
			l.classes[x.st.Class]++
			switch path {
			case route.Prepare:
				s.binaryPrepare(x)
			case route.Binary:
				s.binaryExecute(x)
			default:
				s.statement(x)
			}
			if s.opt != opt { // SET sql_mode: the rest lexes differently
				base += from
				again = true
				break
			}
		}
	}
}

func (l *linter) report(s *session, x *stmt, code int, severity, op, why, msg string) {
	if x.via != "" {
		why += " (via " + x.via + ")"
	}
	l.emit(Finding{
		File: l.file, Line: x.line, Thread: s.id, Code: code, Severity: severity,
		Operation: op, Why: why, Message: msg, Statement: Shorten(x.shown[skipComments(x.shown):], 200),
	})
}

// Shorten collapses runs of blanks and cuts s to n characters.
func Shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// offsetIn finds piece, a substring sqlclass.Split cut from text, at or
// after from. A piece starts the text or follows a ';' and blanks, which
// tells it from the same words inside an earlier comment.
func offsetIn(text, piece string, from int) int {
	first := -1
	for at := from; at <= len(text); {
		i := strings.Index(text[at:], piece)
		if i < 0 {
			break
		}
		off := at + i
		if first < 0 {
			first = off
		}
		j := off
		for j > 0 && isBlank(text[j-1]) {
			j--
		}
		if j == 0 || text[j-1] == ';' {
			return off
		}
		at = off + 1
	}
	if first >= 0 {
		return first
	}
	return from
}

// skipComments returns the offset of the first token of s: past blanks and
// comments, but not executable comments (/*! … */, /*M! … */), which are code.
func skipComments(s string) int {
	i := 0
	for i < len(s) {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '#' || c == '-' && strings.HasPrefix(s[i:], "--") && (i+2 == len(s) || isBlank(s[i+2])):
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				return len(s)
			}
			i += j + 1
		case strings.HasPrefix(s[i:], "/*") && !strings.HasPrefix(s[i:], "/*!") && !strings.HasPrefix(s[i:], "/*M!"):
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				return len(s)
			}
			i += j + 4
		default:
			return i
		}
	}
	return i
}

func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
