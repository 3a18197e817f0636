package sqlclass

import (
	"github.com/pingcap/tidb/pkg/parser/ast"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func seedCorpus(f *testing.F) {
	for _, tc := range classCases {
		f.Add(tc.sql, tc.opt.NoBackslashEscapes, tc.opt.ANSIQuotes)
	}
	for _, tc := range detailCases {
		f.Add(tc.sql, tc.opt.NoBackslashEscapes, tc.opt.ANSIQuotes)
	}
	for _, tc := range fuzzFound {
		f.Add(tc, false, false)
	}
	f.Add("SELECT 1; SELECT 'a\\'; SELECT 2", true, false)
	f.Add("CREATE PROCEDURE p() BEGIN IF 1 THEN SELECT 1; END IF; END; SELECT 2", false, false)
	f.Add("SELECT @@aurora_replica_read_consistency AS `a`, @@global.aurora_fwd_writer_idle_timeout", false, false)
	f.Add("KILL QUERY 18446744073709551615", false, false)
	f.Add("SHOW GLOBAL VARIABLES LIKE 'aurora\\_%' 'x'", false, false)
}

// fuzzFound holds inputs the fuzzers once failed on.
var fuzzFound = []string{
	"/*!CREATE*/VIEW``0",
	"SELECT @\xaa",
	"UPDATE``",
	"INSERT \x95 VALUE()",
	"UPDATE A JOI,``SET A=0",
	"insert A.0()vAlue()",
}

// firstWord returns the first word of sql when it starts, after blanks, with
// a letter; it does not know about comments.
func firstWord(sql string) string {
	s := strings.TrimLeft(sql, " \t\n\r\f\v")
	i := 0
	for i < len(s) && isIdentChar(s[i]) {
		i++
	}
	return strings.ToUpper(s[:i])
}

func FuzzClassify(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, sql string, noBackslash, ansiQuotes bool) {
		opt := Options{NoBackslashEscapes: noBackslash, ANSIQuotes: ansiQuotes}
		if d := os.Getenv("FUZZDBG"); d != "" {
			os.WriteFile(d+"/"+strconv.Itoa(os.Getpid()), []byte(sql), 0o644)
		}
		st := Classify(sql, opt)
		if again := Classify(sql, opt); !reflect.DeepEqual(st, again) {
			t.Fatalf("not deterministic: %+v vs %+v", st, again)
		}
		switch firstWord(sql) {
		case "INSERT", "UPDATE", "DELETE", "REPLACE":
			if st.Class != Write && st.Class != Unknown {
				t.Fatalf("Classify(%q) = %v for a write verb", sql, st.Class)
			}
		}
		if st.Class != Unknown && st.Class != Empty && st.Op == "" {
			t.Fatalf("Classify(%q): no Op for %v", sql, st.Class)
		}
		if strings.TrimLeft(sql, " \t\n\r\f\v") != "" && firstWord(sql) != "" && st.Class == Empty {
			t.Fatalf("Classify(%q) = Empty", sql)
		}
		for _, tb := range append(st.Targets, st.Sources...) {
			if tb.Name == "" {
				t.Fatalf("Classify(%q): empty table name in %+v", sql, st)
			}
		}
		for i, v := range st.UserVars {
			if v != lower(v) {
				t.Fatalf("user var %q not lower case", v)
			}
			for _, w := range st.UserVars[:i] {
				if w == v {
					t.Fatalf("user var %q twice", v)
				}
			}
		}
		checkLocal(t, sql, opt, st)
		Tables(sql, opt)
		checkAgainstParser(t, sql, opt, st)
	})
}

// checkLocal checks what the proxy reads to answer statements itself: the
// references to its variables point at @@ tokens of sql, in order.
func checkLocal(t *testing.T, sql string, opt Options, st Statement) {
	end := 0
	for _, r := range st.OwnVars {
		if r.Start < end || r.End <= r.Start || r.End > len(sql) || !strings.HasPrefix(sql[r.Start:], "@@") {
			t.Fatalf("Classify(%q): reference %+v out of place", sql, r)
		}
		if r.Bare && r.Column != sql[r.Start:r.End] {
			t.Fatalf("Classify(%q): bare reference %+v names another column", sql, r)
		}
		end = r.End
	}
	if st.OwnVarsOnly && (st.Class != Read || len(st.OwnVars) == 0) {
		t.Fatalf("Classify(%q): OwnVarsOnly for %v with %d references", sql, st.Class, len(st.OwnVars))
	}
	if st.Show.What != upper(st.Show.What) || st.Show.What != "" && st.Class != Read {
		t.Fatalf("Classify(%q): Show %+v for %v", sql, st.Show, st.Class)
	}
	if k := st.Kill; k != (Kill{}) {
		id, err := strconv.ParseUint(k.IDText, 10, 64)
		if st.Op != "KILL" || k.HasID != (err == nil && k.IDText[0] != '+') || k.HasID && id != k.ID {
			t.Fatalf("Classify(%q): Kill %+v", sql, k)
		}
	}
	Digest(sql, opt)
}

// lockFinder reports a locking clause anywhere in a parsed statement.
type lockFinder struct{ found bool }

func (v *lockFinder) Enter(n ast.Node) (ast.Node, bool) {
	if s, ok := n.(*ast.SelectStmt); ok && s.LockInfo != nil && s.LockInfo.LockType != ast.SelectLockNone {
		v.found = true
	}
	return n, false
}

func (v *lockFinder) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// checkAgainstParser compares the lexical class with what the TiDB parser
// reads, where it reads one statement and no executable comment is involved:
// a write, DDL or lock it sees must never be placed on the reader.
func checkAgainstParser(t *testing.T, sql string, opt Options, st Statement) {
	if hasExecComment(sql) || !utf8.ValidString(sql) { // the parser rewrites invalid UTF-8
		return
	}
	parseOne(sql, opt, func(n ast.StmtNode) {
		reader := st.Class == Read || st.Class == Session || st.Class == Set || st.Class == Use ||
			st.Class == Empty || st.Class == SetTransaction || st.Class == Begin || st.Class == Commit ||
			st.Class == Rollback
		var lf lockFinder
		n.Accept(&lf)
		switch n.(type) {
		case *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt:
			if st.Class != Write && st.Class != Unknown {
				t.Fatalf("Classify(%q) = %v, parser reads %T", sql, st.Class, n)
			}
			wantT, _, ok := astWriteNode(n)
			for _, x := range wantT {
				if ok && st.Class == Write && !hasTable(st.Targets, x) {
					t.Fatalf("Classify(%q): targets %v miss %v", sql, st.Targets, x)
				}
			}
		case *ast.LoadDataStmt, ast.DDLNode:
			if reader {
				t.Fatalf("Classify(%q) = %v, parser reads %T", sql, st.Class, n)
			}
		case *ast.SelectStmt, *ast.SetOprStmt:
			if lf.found && st.Class == Read {
				t.Fatalf("Classify(%q) = Read, parser reads a locking clause", sql)
			}
		}
	})
}

func FuzzSplit(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, sql string, noBackslash, ansiQuotes bool) {
		opt := Options{NoBackslashEscapes: noBackslash, ANSIQuotes: ansiQuotes}
		parts := Split(sql, opt)
		pos := 0
		for _, p := range parts {
			if p == "" || p != strings.Trim(p, " \t\n\r\f\v") {
				t.Fatalf("Split(%q): piece %q empty or untrimmed", sql, p)
			}
			i := strings.Index(sql[pos:], p)
			if i < 0 {
				t.Fatalf("Split(%q): piece %q is not a substring in order", sql, p)
			}
			pos += i + len(p)
			if c := Classify(p, opt).Class; c == Empty {
				t.Fatalf("Split(%q): piece %q classifies Empty", sql, p)
			}
		}
		if !strings.Contains(sql, ";") && len(parts) > 1 {
			t.Fatalf("Split(%q) = %q without any ';'", sql, parts)
		}
		if len(parts) == 1 && !strings.Contains(sql, ";") && parts[0] != strings.Trim(sql, " \t\n\r\f\v") {
			t.Fatalf("Split(%q) = %q", sql, parts)
		}
	})
}
