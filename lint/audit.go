package lint

import "github.com/fwdproxy/fwdproxy/route"

// Auditor checks one live client session's statements as they pass, for
// `fwdproxy serve --audit`: the same model as Lint, fed one query at a time.
type Auditor struct {
	l *linter
	s *session
}

// NewAuditor starts a session; emit receives each finding (File is
// "audit", Line the statement's number in the session).
func NewAuditor(cfg Config, emit func(Finding)) *Auditor {
	l, _ := newLinter("audit", cfg, emit)
	return &Auditor{l: l, s: l.session(0)}
}

// Routed is a statement of the session as route sends it: a read to the
// reader, or a write forwarded to the writer, with the tables it reads or
// writes ("db.table").
type Routed struct {
	Statement string
	Write     bool
	Tables    []string
	Unknown   bool // the tables could not be told: it may touch any
}

// OnRoute makes f see every read the session sends to the reader and every
// write it forwards, as each statement is checked.
func (a *Auditor) OnRoute(f func(Routed)) { a.l.onRoute = f }

// Query checks a COM_QUERY text (one statement or a multi-statement batch).
func (a *Auditor) Query(sql string) { a.l.query(a.s, sql, a.s.n+1, route.Text) }

// Prepare checks a binary prepare; Execute a binary execute of that text.
func (a *Auditor) Prepare(sql string) { a.l.query(a.s, sql, a.s.n+1, route.Prepare) }
func (a *Auditor) Execute(sql string) { a.l.query(a.s, sql, a.s.n+1, route.Binary) }

// UseDB follows COM_INIT_DB.
func (a *Auditor) UseDB(db string) { a.l.query(a.s, "USE `"+db+"`", a.s.n+1, route.Text) }
