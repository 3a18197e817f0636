package lint

import (
	"bufio"
	"bytes"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fwdproxy/fwdproxy/route"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// lineReader reads an input line by line (lines of any length) and lets
// Detect look at its head first.
type lineReader struct {
	r *bufio.Reader
	n int // lines read
}

const headSize = 64 << 10

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, headSize)}
}

func (l *lineReader) peek() []byte {
	b, _ := l.r.Peek(headSize)
	return b
}

// next returns the next line without its end of line, and false at the end.
func (l *lineReader) next() (string, bool, error) {
	s, err := l.r.ReadString('\n')
	if err != nil && err != io.EOF {
		return "", false, err
	}
	if s == "" && err == io.EOF {
		return "", false, nil
	}
	l.n++
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	return s, true, nil
}

func (l *lineReader) all() ([]byte, error) { return io.ReadAll(l.r) }

// A general log entry: an optional timestamp (MySQL 5.7+ ISO 8601, or the
// MariaDB / MySQL 5.6 "yymmdd hh:mm:ss", left out on later lines of the
// same second), tabs, the connection id, the command, a tab and the argument.
var generalEntry = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?|\d{6} +\d{1,2}:\d\d:\d\d)?\t+ *(\d+) ([A-Z][A-Za-z_ ]*?)(?:\t(.*))?$`)

// generalCommands are the command names servers write in a general log.
var generalCommands = map[string]bool{
	"Connect": true, "Quit": true, "Query": true, "Init DB": true, "Prepare": true, "Execute": true,
	"Close stmt": true, "Reset stmt": true, "Long Data": true, "Fetch": true, "Field List": true,
	"Statistics": true, "Ping": true, "Change user": true, "Reset connection": true, "Set option": true,
	"Refresh": true, "Shutdown": true, "Processlist": true, "Kill": true, "Debug": true, "Sleep": true,
	"Binlog Dump": true, "Binlog Dump GTID": true, "Register Slave": true, "Table Dump": true,
	"Time": true, "Delayed insert": true, "Daemon": true, "Connect Out": true, "Error": true,
	"Create DB": true, "Drop DB": true, "Bulk_execute": true, "Slave_worker": true, "Slave_IO": true,
	"Slave_SQL": true, "Com_multi": true,
}

// Lines a server writes at the top of a general or slow log, and again
// after each restart or FLUSH LOGS.
var (
	logBanner  = regexp.MustCompile(`, Version: .*started with:$`)
	logTCP     = regexp.MustCompile(`^Tcp port: \d+ `)
	logColumns = regexp.MustCompile(`^Time\s+Id\s+Command\s+Argument\s*$`)
)

func isLogHeader(line string) bool {
	return logBanner.MatchString(line) || logTCP.MatchString(line) || logColumns.MatchString(line)
}

type generalLine struct {
	stamp    string // the timestamp, when the line has one
	id       uint64
	cmd, arg string
}

func parseGeneral(line string) (generalLine, bool) {
	m := generalEntry.FindStringSubmatch(line)
	if m == nil || !generalCommands[m[3]] {
		return generalLine{}, false
	}
	id, err := strconv.ParseUint(m[2], 10, 64)
	if err != nil {
		return generalLine{}, false
	}
	return generalLine{m[1], id, m[3], m[4]}, true
}

// logTime reads a general log's timestamp and tells how precise it is:
// MySQL's ISO 8601 to its fraction of a second, MariaDB's "yymmdd
// hh:mm:ss" to the second (a log's times are the server's local time,
// which only their differences use).
func logTime(stamp string) (time.Time, time.Duration, bool) {
	if f := strings.Fields(stamp); len(f) == 2 {
		if len(f[1]) == 7 {
			f[1] = "0" + f[1] // MariaDB pads the hour with a blank
		}
		t, err := time.Parse("060102 15:04:05", f[0]+" "+f[1])
		return t, time.Second, err == nil
	}
	t, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		t, err = time.Parse("2006-01-02T15:04:05.999999999", stamp) // no zone
	}
	res := time.Second
	if i := strings.IndexByte(stamp, '.'); i >= 0 {
		digits := len(stamp) - i - 1
		if j := strings.IndexAny(stamp[i:], "Z+-"); j >= 0 {
			digits = j - 1
		}
		for res = time.Second; digits > 0 && res > time.Nanosecond; digits-- {
			res /= 10
		}
	}
	return t, res, err == nil
}

func isSlowHeader(line string) bool {
	return strings.HasPrefix(line, "# Time:") || strings.HasPrefix(line, "# User@Host:") ||
		strings.HasPrefix(line, "# Query_time:")
}

// Detect tells the format of an input from its first bytes: a slow log
// has "# Time:" / "# User@Host:" / "# Query_time:" headers, a general log
// has "<time>\t<id> <Command>\t<argument>" entries, anything else is SQL.
func Detect(head []byte) Format {
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		s := strings.TrimSuffix(string(line), "\r")
		switch {
		case isSlowHeader(s):
			return SlowLog
		case isLogHeader(s):
		default:
			if _, ok := parseGeneral(s); ok {
				return GeneralLog
			}
		}
	}
	return SQL
}

// connectDB reads the database of a Connect or Change user argument:
// "user@host on db using TCP/IP" (MySQL), "user@host as anonymous on db" (MariaDB).
var connectDB = regexp.MustCompile(`\bon (\S+)`)

func dbOf(arg string) string {
	m := connectDB.FindStringSubmatch(arg)
	if m == nil || m[1] == "using" {
		return ""
	}
	return m[1]
}

// generalLog reads a general query log: each connection id is a session.
func (l *linter) generalLog(in *lineReader) error {
	var cur struct {
		s    *session
		path route.Path
		text strings.Builder
		line int
		open bool
	}
	flush := func() {
		if cur.open {
			l.query(cur.s, cur.text.String(), cur.line, cur.path)
			cur.open = false
			cur.text.Reset()
		}
	}
	for {
		line, ok, err := in.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if isLogHeader(line) {
			flush()
			if logBanner.MatchString(line) {
				clear(l.sessions) // the server restarted
			}
			continue
		}
		g, ok := parseGeneral(line)
		if !ok {
			if cur.open {
				cur.text.WriteByte('\n')
				cur.text.WriteString(line)
			}
			continue
		}
		flush()
		if g.stamp != "" {
			if t, res, ok := logTime(g.stamp); ok {
				l.at, l.atRes, l.timed = t, res, true
			}
		}
		id, arg := g.id, g.arg
		switch g.cmd {
		case "Query", "Prepare", "Execute":
			cur.s, cur.line, cur.open = l.session(id), in.n, true
			cur.path = map[string]route.Path{"Query": route.Text, "Prepare": route.Prepare, "Execute": route.Binary}[g.cmd]
			cur.text.WriteString(arg)
		case "Connect":
			if strings.HasPrefix(arg, "Access denied") {
				continue
			}
			delete(l.sessions, id)
			l.session(id).rs.Apply(route.UseDB, route.Fact{DB: dbOf(arg)})
		case "Quit":
			delete(l.sessions, id)
		case "Init DB":
			l.session(id).rs.Apply(route.UseDB, route.Fact{DB: arg})
		case "Change user":
			s := l.session(id)
			s.rs.Apply(route.UseDB, route.Fact{DB: dbOf(arg)})
			s.reset()
		case "Reset connection":
			l.session(id).reset()
		}
	}
	flush()
	return nil
}

var (
	slowThreadID  = regexp.MustCompile(`\b(?:Id|Thread_id):\s*(\d+)`)
	slowSchema    = regexp.MustCompile(`\bSchema: (\S+)`)
	slowTimestamp = regexp.MustCompile(`(?i)^SET timestamp=\d+;\s*$`)
)

// slowLog reads a slow query log: entries of "# …" headers, then the
// statement (with "use db;" and "SET timestamp=…;" lines the server adds).
func (l *linter) slowLog(in *lineReader) error {
	var (
		id     uint64
		schema string
		quit   bool
		body   strings.Builder
		first  int // line of the first body line, 0 = none yet
	)
	flush := func() {
		if first > 0 {
			s := l.session(id)
			if schema != "" {
				s.rs.Apply(route.UseDB, route.Fact{DB: schema})
			}
			l.query(s, body.String(), first, route.Text)
		}
		if quit {
			delete(l.sessions, id)
		}
		body.Reset()
		first, schema, quit = 0, "", false
	}
	for {
		line, ok, err := in.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		switch {
		case isLogHeader(line):
			flush()
			if logBanner.MatchString(line) {
				clear(l.sessions)
			}
		case strings.HasPrefix(line, "# Time:"), strings.HasPrefix(line, "# User@Host:"):
			if first > 0 || quit {
				flush()
			}
			l.slowHeader(line, &id, &schema)
		case strings.HasPrefix(line, "#") && first == 0:
			if strings.HasPrefix(line, "# administrator command: Quit") {
				quit = true
			}
			l.slowHeader(line, &id, &schema)
		case slowTimestamp.MatchString(line):
			if first > 0 {
				body.WriteByte('\n') // keeps the lines of what follows
			}
		default:
			if first == 0 {
				if strings.TrimSpace(line) == "" {
					continue
				}
				first = in.n
			} else {
				body.WriteByte('\n')
			}
			body.WriteString(line)
		}
	}
	flush()
	return nil
}

func (l *linter) slowHeader(line string, id *uint64, schema *string) {
	if m := slowThreadID.FindStringSubmatch(line); m != nil {
		if n, err := strconv.ParseUint(m[1], 10, 64); err == nil {
			*id = n
		}
	}
	if m := slowSchema.FindStringSubmatch(line); m != nil {
		*schema = m[1]
	}
}

// sqlFile reads SQL as the mysql client does: statements end at the
// delimiter, ';' unless a DELIMITER line changed it. Each piece is then
// split as fwdproxy splits a multi-statement query, which keeps the body of
// a CREATE PROCEDURE … BEGIN … END whole even without DELIMITER.
func (l *linter) sqlFile(in *lineReader) error {
	data, err := in.all()
	if err != nil {
		return err
	}
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		copy(data, "   ") // byte order mark
	}
	text := string(data)
	s := l.session(0)
	line, pos := 1, 0
	for _, c := range sqlChunks(text, s.opt) {
		line += strings.Count(text[pos:c.off], "\n")
		pos = c.off
		l.query(s, c.text, line, route.Text)
	}
	return nil
}

type chunk struct {
	text string
	off  int
}

// sqlChunks cuts a SQL file at DELIMITER lines and, while the delimiter is
// not ';', at each delimiter outside strings and comments. Text under the
// ';' delimiter stays whole: sqlclass.Split cuts it.
func sqlChunks(src string, opt sqlclass.Options) []chunk {
	var out []chunk
	emit := func(a, b int) {
		if strings.TrimSpace(src[a:b]) != "" {
			out = append(out, chunk{src[a:b], a})
		}
	}
	delim := ";"
	start, i := 0, 0
	lineStart := true
	for i < len(src) {
		if lineStart {
			lineStart = false
			if d, end, ok := delimiterCommand(src, i); ok {
				emit(start, i)
				delim, i, start, lineStart = d, end, end, true
				continue
			}
		}
		c := src[i]
		switch {
		case c == '\n':
			i++
			lineStart = true
		case c == '\'' || c == '"' || c == '`':
			i = skipQuoted(src, i, opt)
		case c == '#' || c == '-' && strings.HasPrefix(src[i:], "--") && (i+2 == len(src) || isBlank(src[i+2])):
			j := strings.IndexByte(src[i:], '\n')
			if j < 0 {
				i = len(src)
			} else {
				i += j
			}
		case c == '/' && strings.HasPrefix(src[i:], "/*"):
			j := strings.Index(src[i+2:], "*/")
			if j < 0 {
				i = len(src)
			} else {
				i += j + 4
			}
		case delim != ";" && strings.HasPrefix(src[i:], delim):
			emit(start, i)
			i += len(delim)
			start = i
		default:
			i++
		}
	}
	emit(start, len(src))
	return out
}

// delimiterCommand reads a mysql client "DELIMITER x" line starting at i;
// end is past its end of line.
func delimiterCommand(src string, i int) (delim string, end int, ok bool) {
	j := i
	for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
		j++
	}
	const kw = "delimiter"
	if len(src)-j <= len(kw) || !strings.EqualFold(src[j:j+len(kw)], kw) || (src[j+len(kw)] != ' ' && src[j+len(kw)] != '\t') {
		return "", 0, false
	}
	rest := src[j+len(kw):]
	eol := strings.IndexByte(rest, '\n')
	if eol < 0 {
		eol = len(rest)
		end = len(src)
	} else {
		end = j + len(kw) + eol + 1
	}
	f := strings.Fields(rest[:eol])
	if len(f) == 0 {
		return "", 0, false
	}
	return f[0], end, true
}

// skipQuoted returns the index past the string or quoted identifier at i.
func skipQuoted(src string, i int, opt sqlclass.Options) int {
	q := src[i]
	j := i + 1
	for j < len(src) {
		switch c := src[j]; {
		case c == '\\' && q != '`' && !opt.NoBackslashEscapes:
			j += 2
		case c == q:
			if j+1 < len(src) && src[j+1] == q {
				j += 2
				continue
			}
			return j + 1
		default:
			j++
		}
	}
	return len(src)
}
