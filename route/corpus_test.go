package route

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwdproxy/fwdproxy/sqlclass"
)

var update = flag.Bool("update", false, "rewrite testdata/decisions.golden")

// appSQL is lint's corpus: one application session written as a SQL file.
const appSQL = "../lint/testdata/app.sql"

// appStatements reads appSQL as lint does: DELIMITER lines change the
// delimiter, and each piece is split as the proxy splits a multi-statement
// query. Under a delimiter other than ';' a piece ends at the last
// delimiter of a line followed only by a comment, which is all app.sql
// needs (one of its lines has the delimiter inside a string too).
func appStatements(t testing.TB) []string {
	data, err := os.ReadFile(appSQL)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var piece strings.Builder
	flush := func() {
		out = append(out, sqlclass.Split(piece.String(), sqlclass.Options{})...)
		piece.Reset()
	}
	delim := ";"
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if f := strings.Fields(l); len(f) == 2 && strings.EqualFold(f[0], "DELIMITER") {
			flush()
			delim = f[1]
			continue
		}
		if i := strings.LastIndex(l, delim); delim != ";" && i >= 0 {
			if rest := strings.TrimSpace(l[i+len(delim):]); rest == "" || strings.HasPrefix(rest, "--") {
				piece.WriteString(l[:i])
				flush()
				l = l[i+len(delim):]
			}
		}
		piece.WriteString(l)
	}
	flush()
	return out
}

// appStatementCount is how many statements lint reads in appSQL (issue 12
// says 299: the number of its lines holding a ';').
const appStatementCount = 297

type corpusStatement struct {
	sql string
	st  sqlclass.Statement
}

func classifiedCorpus(t testing.TB) []corpusStatement { return classifiedWith(t, sqlclass.Options{}) }

// classifiedWith classifies the corpus as a session with opt does.
func classifiedWith(t testing.TB, opt sqlclass.Options) []corpusStatement {
	var out []corpusStatement
	for _, sql := range appStatements(t) {
		out = append(out, corpusStatement{sql, sqlclass.Classify(sql, opt)})
	}
	if len(out) != appStatementCount {
		t.Fatalf("%s: %d statements, want %d", appSQL, len(out), appStatementCount)
	}
	return out
}

// corpusTemp is every temporary table app.sql creates.
var corpusTemp = sqlclass.TempTables{"shop.tmp_ids": true, "shop.tmp_copy": true,
	"shop.tmp_orders": true, "shop.tmp_x": true, "shop.tmp_off": true}

// State bits, for enumerating states (and for the fuzzer to pick them).
const (
	bForwarding = 1 << iota
	bWaits
	bTxWriter
	bReaderInTx
	bReadOnly
	bHasWriter
	bLastForwarded
	bInsertIDOnWriter
	bProxyWarnings
	bTempShift = iota // two bits: which temporary tables, see stateOf
	stateBits  = bTempShift + 2
)

// stateOf builds the state bits name, in database shop. It reports false for
// a state no session is in: the writer holds a transaction only in a
// forwarding session with a writer connection; a READ ONLY transaction is
// never forwarded; figures on the writer need a writer connection.
func stateOf(bits uint, st *sqlclass.Statement) (State, bool) {
	has := func(b uint) bool { return bits&b != 0 }
	s := State{
		Forwarding:    has(bForwarding),
		Waits:         has(bWaits),
		ReaderInTx:    has(bReaderInTx),
		HasWriter:     has(bHasWriter),
		ProxyWarnings: has(bProxyWarnings),
		Session: Session{
			TxWriter:         has(bTxWriter),
			TxBegun:          has(bReadOnly), // a READ ONLY transaction
			TxReadOnly:       has(bReadOnly),
			LastForwarded:    has(bLastForwarded),
			InsertIDOnWriter: has(bInsertIDOnWriter),
			DB:               "shop",
		},
	}
	// Temporary tables: none, the corpus's, or the statement's own targets
	// (and sources), so that the temporary-table rules are reached by
	// statements that name other tables.
	switch (bits >> bTempShift) & 3 {
	case 1:
		s.Temp = corpusTemp
	case 2, 3:
		s.Temp = sqlclass.TempTables{}
		ns := st.Targets
		if (bits>>bTempShift)&3 == 3 {
			ns = append(append([]sqlclass.TableName(nil), ns...), st.Sources...)
		}
		for _, n := range ns {
			s.Temp[s.Temp.Key(s.DB, n)] = true
		}
	}
	ok := (!s.TxWriter || s.Forwarding && s.HasWriter) &&
		!(s.ReadOnly() && s.TxWriter) &&
		(s.HasWriter || !s.LastForwarded && !s.InsertIDOnWriter)
	return s, ok
}

func stateName(s *State) string {
	var f []string
	for _, x := range []struct {
		on   bool
		name string
	}{{s.Forwarding, "fwd"}, {s.Waits, "waits"}, {s.TxWriter, "txwriter"}, {s.ReaderInTx, "readerintx"},
		{s.ReadOnly(), "readonly"}, {s.HasWriter, "haswriter"}, {s.LastForwarded, "lastfwd"},
		{s.InsertIDOnWriter, "idonwriter"}, {s.ProxyWarnings, "proxywarnings"}, {s.Opt.NoSchema, "noschema"}} {
		if x.on {
			f = append(f, x.name)
		}
	}
	if len(s.Temp) > 0 {
		f = append(f, fmt.Sprint("temp=", s.Temp))
	}
	return "{" + strings.Join(f, " ") + "}"
}

// executePaths are the paths whose decision is where the statement runs;
// Prepare decides only where it is prepared.
var executePaths = []Path{Text, Binary, SQLExecute, LongData}

// paramsException: a statement executed with parameters the backend must
// bind decides differently from its text form. These are the only
// differences between the execute paths; with no parameters Text, Binary,
// SQLExecute and LongData decide alike.
func paramsException(st *sqlclass.Statement, d Decision) bool {
	switch {
	case st.Class == sqlclass.Set && !SetsProxyVar(st):
		// SET … = ?: the reader binds it (user variables live there).
		return d == Decision{Target: Reader}
	case st.Class == sqlclass.Session && st.Op == "KILL":
		// KILL ?: the proxy cannot read the id, and the reader's thread
		// with that number is somebody else's: refused.
		return d.Target == Reject && d.Err == ErrKillParams
	}
	return false
}

// ownException: the proxy answers or rewrites a read of its own variables
// and status as text only (its answers are text result sets, and a
// prepared statement's text is on the backend already); the other paths
// run the read where it would run without them.
func ownException(text, d Decision) bool {
	own := text.Rewrite != NoRewrite || text.Handler == OwnVars || text.Handler == ShowVariables || text.Handler == ShowStatus
	return own && d.Handler == NoHandler && d.Rewrite == NoRewrite &&
		(d == Decision{Target: Reader, Wait: true} || d == Decision{Target: Writer})
}

// checkPaths: the execute paths decide st as Text does, but for the
// parameter exceptions.
func checkPaths(s *State, sql string, st *sqlclass.Statement) []string {
	var bad []string
	text := Decide(s, Input{SQL: sql, St: st, Path: Text})
	for _, p := range executePaths[1:] {
		for _, params := range []bool{false, true} {
			d := Decide(s, Input{SQL: sql, St: st, Path: p, Params: params})
			if !sameDecision(d, text) && !(params && paramsException(st, d)) && !ownException(text, d) {
				bad = append(bad, fmt.Sprintf("%v params=%v: %s, Text: %s", p, params, line(d), line(text)))
			}
		}
	}
	return bad
}

// neverReader are the classes that change permanent data or cannot be
// placed: they must never run on the reader with its guard up.
var neverReader = map[sqlclass.Class]bool{sqlclass.Write: true, sqlclass.DDL: true,
	sqlclass.LoadData: true, sqlclass.Unknown: true}

// checkDecision returns the rules d, the decision for in in state s,
// breaks. Each rule holds for every statement, state and path.
func checkDecision(s *State, in Input, d Decision) []string {
	var bad []string
	rule := func(ok bool, name string) {
		if !ok {
			bad = append(bad, name)
		}
	}
	st := in.St
	execute := in.Path != Prepare
	allTemp := s.Temp.All(s.DB, st.Targets)
	code := uint16(0)
	if d.Err != nil {
		code = d.Err.Code
	}

	// The shape of a decision.
	rule((d.Target == Reject) == (d.Err != nil), "Reject carries Err, and only Reject")
	rule((d.Target == Proxy) == (d.Handler != NoHandler) || (d.Target == WriterAside || d.Target == Writer) && d.Handler == Set,
		"a Handler exactly on Proxy (and Set on WriterAside or Writer)")
	rule(!d.Wait || d.Target == Reader || d == Decision{Target: Proxy, Handler: Set, Wait: true} ||
		d == Decision{Target: Proxy, Handler: Begin, Wait: true} && st.Txn.ConsistentSnapshot,
		"Wait only before the reader, a SET or a consistent snapshot")
	rule(d.Change == NoChange || d.Change == UseDB && d.Target == Reader ||
		(d.Change == AddTemp || d.Change == DropTemp) && d.Target == ReaderWritable,
		"temporary-table changes on ReaderWritable, USE on Reader")

	// Nothing that can change permanent data reaches the reader; its guard
	// is lifted only for CREATE and DROP TEMPORARY TABLE (which the server
	// refuses with it up) and, with forwarding off, locking reads, and on
	// the execute paths only once the statement is proven to run no stored
	// code (DROP names nothing that runs). DML on temporary tables runs
	// with the guard up.
	if execute {
		rule(!neverReader[st.Class] || d.Target == ReaderWritable || d.Target == Writer || d.Target == Reject ||
			d == Decision{Target: Reader} && (st.Class == sqlclass.Write || st.Class == sqlclass.LoadData) && allTemp,
			"a write, DDL, LOAD or Unknown runs on ReaderWritable, Writer, is rejected, or is temporary-table DML with the guard up")
		rule(d.Target != ReaderWritable ||
			st.Class == sqlclass.CreateTempTable || st.Class == sqlclass.DropTempTable ||
			st.Class == sqlclass.LockingRead && !s.Forwarding,
			"ReaderWritable only for CREATE/DROP TEMPORARY TABLE, or a locking read with forwarding off")
		rule(d.Target != ReaderWritable || d.Prove == (st.Class != sqlclass.DropTempTable),
			"ReaderWritable proves, but for DROP TEMPORARY TABLE")
		rule(d.Target == ReaderWritable || !d.Prove, "Prove only on ReaderWritable")
		rule(!((st.Class == sqlclass.Write || st.Class == sqlclass.LoadData) && allTemp) ||
			d.Target == Reader || d.Target == Reject,
			"temporary-table DML runs with the guard up")
	}

	// Forwarding off: a plain replica. The writer answers only for figures
	// a forwarded statement left there.
	rule(s.Forwarding || d.Target != Writer, "forwarding off: never Writer")
	rule(s.HasWriter || d.Target != WriterAside, "WriterAside needs a writer connection")

	// A write to permanent tables: 1792 in a READ ONLY transaction, 1290
	// with forwarding off.
	if execute && (st.Class == sqlclass.Write || st.Class == sqlclass.Unknown) && !allTemp &&
		s.Temp.RefFromPermanent(s.DB, st) == "" {
		switch {
		case s.ReadOnly():
			rule(code == 1792, "READ ONLY: a write to a permanent table gets 1792")
		case !s.Forwarding:
			rule(code == 1290, "forwarding off: a write to a permanent table gets 1290")
		}
	}
	// Refused always, on every path.
	if st.Class == sqlclass.DDL || st.Class == sqlclass.Plugin ||
		st.Class == sqlclass.LoadData && (!execute || !allTemp) {
		rule(code == 1235 && s.Forwarding || code == 1290 && !s.Forwarding,
			"DDL, plugins and LOAD into a permanent table get 1235, 1290 with forwarding off")
	}

	if !execute {
		rule(s.ReaderInTx || d.Target != Writer, "Prepare: never Writer outside a reader transaction")
		rule(!d.Wait && d.Change == NoChange && (d.Handler == NoHandler || d.Handler == LocalPrepare),
			"Prepare: no wait, change or handler but LocalPrepare")
		rule(!d.Prove, "Prepare: no proof (a prepare runs nothing)")
	}
	return bad
}

var allPaths = []Path{Text, Binary, SQLExecute, LongData, Prepare}

// checkAll decides st on every path in state s and returns what breaks a rule.
func checkAll(s *State, sql string, st *sqlclass.Statement) []string {
	bad := checkPaths(s, sql, st)
	// No backend has a statement the proxy prepared itself.
	if d := Decide(s, Input{SQL: sql, St: st, Path: Prepare}); d.Handler == LocalPrepare {
		for _, p := range executePaths {
			for _, params := range []bool{false, true} {
				if e := Decide(s, Input{SQL: sql, St: st, Path: p, Params: params}); e.Target != Proxy {
					bad = append(bad, fmt.Sprintf("%v params=%v: %s after LocalPrepare", p, params, line(e)))
				}
			}
		}
	}
	for _, p := range allPaths {
		for _, params := range []bool{false, true} {
			in := Input{SQL: sql, St: st, Path: p, Params: params}
			d := Decide(s, in)
			for _, r := range checkDecision(s, in, d) {
				bad = append(bad, fmt.Sprintf("%v params=%v: %s: %s", p, params, line(d), r))
			}
		}
	}
	return bad
}

// TestCorpusRules decides every statement of app.sql in every state a
// session can be in, on every path, and checks the rules.
func TestCorpusRules(t *testing.T) {
	states, failures := 0, 0
	for _, opt := range []sqlclass.Options{{}, {NoSchema: true}} {
		corpus := classifiedWith(t, opt)
		for bits := uint(0); bits < 1<<stateBits; bits++ {
			for _, c := range corpus {
				s, ok := stateOf(bits, &c.st)
				if !ok {
					continue
				}
				s.Opt = opt
				states++
				for _, b := range checkAll(&s, c.sql, &c.st) {
					if failures++; failures <= 20 {
						t.Errorf("%s (%v) in %s: %s", shown(c.sql), c.st.Class, stateName(&s), b)
					}
				}
			}
		}
	}
	t.Logf("%d statements × states, %d failures", states, failures)
}

// goldenStates are the fixed states of testdata/decisions.golden.
var goldenStates = []struct {
	name   string
	path   Path
	params bool
	state  State
}{
	{"off", Text, false, State{Session: Session{DB: "shop"}}},
	{"eventual", Text, false, State{Forwarding: true, Session: Session{DB: "shop"}}},
	{"session", Text, false, State{Forwarding: true, Waits: true, Session: Session{DB: "shop"}}},
	{"session-tx", Text, false, State{Forwarding: true, Waits: true, ReaderInTx: true, HasWriter: true, Session: Session{TxWriter: true, LastForwarded: true, InsertIDOnWriter: true, DB: "shop", Temp: corpusTemp}}},
	{"readonly", Text, false, State{Forwarding: true, Waits: true, ReaderInTx: true, Session: Session{TxBegun: true, TxReadOnly: true, DB: "shop", Temp: corpusTemp}}},
	{"binary-params", Binary, true, State{Forwarding: true, Waits: true, Session: Session{DB: "shop"}}},
	{"prepare", Prepare, false, State{Forwarding: true, Waits: true, Session: Session{DB: "shop"}}},
	{"prepare-tx", Prepare, false, State{Forwarding: true, Waits: true, ReaderInTx: true, HasWriter: true, Session: Session{TxWriter: true, DB: "shop", Temp: corpusTemp}}},
	// session-tx for a CLIENT_NO_SCHEMA client whose database and
	// temporary tables are stage's: shop.tmp_ids is then stage.tmp_ids.
	{"noschema-tx", Text, false, State{Forwarding: true, Waits: true, ReaderInTx: true, HasWriter: true, Opt: sqlclass.Options{NoSchema: true}, Session: Session{TxWriter: true, LastForwarded: true, InsertIDOnWriter: true, DB: "stage", Temp: stageTemp}}},
}

// stageTemp is corpusTemp made in database stage.
var stageTemp = sqlclass.TempTables{"stage.tmp_ids": true, "stage.tmp_copy": true,
	"stage.tmp_orders": true, "stage.tmp_x": true, "stage.tmp_off": true}

// shown is a statement on one line, without the comments before it (but
// executable ones), cut at 120 bytes.
func shown(sql string) string {
	for {
		sql = strings.TrimSpace(sql)
		end := -1
		switch {
		case strings.HasPrefix(sql, "--"), strings.HasPrefix(sql, "#"):
			end = strings.IndexByte(sql, '\n')
		case strings.HasPrefix(sql, "/*") && !strings.HasPrefix(sql, "/*!") && !strings.HasPrefix(sql, "/*M!"):
			if end = strings.Index(sql, "*/"); end >= 0 {
				end += 2
			}
		}
		if end < 0 {
			break
		}
		sql = sql[end:]
	}
	sql = strings.Join(strings.Fields(sql), " ")
	if len(sql) > 120 {
		sql = sql[:117] + "..."
	}
	return sql
}

// line is a decision as one line: Target Handler Wait Change ErrCode, then
// its rewrite and proof.
func line(d Decision) string {
	h, wait, code := d.Handler.String(), "-", "-"
	if h == "" {
		h = "-"
	}
	if d.Wait {
		wait = "Wait"
	}
	if d.Err != nil {
		code = fmt.Sprint(d.Err.Code)
	}
	l := fmt.Sprintf("%-14s %-14s %-4s %-8s %s", d.Target, h, wait, d.Change, code)
	if d.Rewrite != NoRewrite {
		l += [...]string{"", " rewrite own vars", " rewrite status tables"}[d.Rewrite]
	}
	if d.Prove {
		l += " prove"
	}
	return l
}

// TestGolden writes each statement's decision in the golden states to
// testdata/decisions.golden (go test ./route -update rewrites it).
func TestGolden(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("# route.Decide for each statement of lint/testdata/app.sql (go test ./route -update rewrites this).\n")
	b.WriteString("# Per statement: its number, class and text; then per state: Target Handler Wait Change ErrCode [rewrite] [prove].\n")
	for _, g := range goldenStates {
		fmt.Fprintf(&b, "# %-13s %v params=%v %s\n", g.name, g.path, g.params, stateName(&g.state))
	}
	plain, noSchema := classifiedCorpus(t), classifiedWith(t, sqlclass.Options{NoSchema: true})
	for i, c := range plain {
		fmt.Fprintf(&b, "\n%03d %v: %s\n", i+1, c.st.Class, shown(c.sql))
		for _, g := range goldenStates {
			s, cs := g.state, c
			if s.Opt.NoSchema {
				cs = noSchema[i]
			}
			d := Decide(&s, Input{SQL: cs.sql, St: &cs.st, Path: g.path, Params: g.params})
			fmt.Fprintf(&b, "    %-13s %s\n", g.name, strings.TrimRight(line(d), " "))
		}
	}
	golden := filepath.Join("testdata", "decisions.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./route -update writes it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("decisions differ from %s (go test ./route -update rewrites it; check the diff):\n%s", golden, diffLines(string(want), b.String()))
	}
}

// diffLines lists the first lines that differ, with the statement they are under.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	head := ""
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if !strings.HasPrefix(b, " ") {
			head = b
		}
		if a != b {
			out = append(out, head, "- "+a, "+ "+b)
			if len(out) >= 30 {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
