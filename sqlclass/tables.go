package sqlclass

import (
	"sync"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // value expressions for the parser
)

// A parser is not safe for concurrent use and reuses its result slice.
var parsers = sync.Pool{New: func() any { return parser.New() }}

// parseOne parses sql, which must hold exactly one statement, and runs fn on
// it while the parser is still held.
func parseOne(sql string, opt Options, fn func(ast.StmtNode)) (ok bool) {
	p := parsers.Get().(*parser.Parser)
	defer func() {
		if recover() != nil {
			ok = false
			p = parser.New() // its state is unknown after a panic
		}
		parsers.Put(p)
	}()
	var mode mysql.SQLMode
	if opt.ANSIQuotes {
		mode |= mysql.ModeANSIQuotes
	}
	if opt.NoBackslashEscapes {
		mode |= mysql.ModeNoBackslashEscapes
	}
	p.SetSQLMode(mode)
	stmts, _, err := p.ParseSQL(sql)
	if err != nil || len(stmts) != 1 {
		return false
	}
	fn(stmts[0])
	return true
}

// collector gathers table names, leaving out references to CTEs in scope.
type collector struct {
	scopes [][]string
	withs  []*ast.WithClause
	tables []*ast.TableName
}

func (v *collector) Enter(n ast.Node) (ast.Node, bool) {
	switch n := n.(type) {
	case *ast.WithClause:
		v.with(n)
		return n, true
	case *ast.DeleteTableList:
		return n, true // aliases of tables in the FROM/USING list
	case *ast.TableName:
		if n.Name.L != "" && !v.isCTE(n) { // the parser takes `` that MySQL rejects
			v.tables = append(v.tables, n)
		}
		return n, true
	}
	return n, false
}

func (v *collector) Leave(n ast.Node) (ast.Node, bool) {
	if w := withOf(n); w != nil && len(v.withs) > 0 && v.withs[len(v.withs)-1] == w {
		v.withs = v.withs[:len(v.withs)-1]
		v.scopes = v.scopes[:len(v.scopes)-1]
	}
	return n, true
}

// with walks the CTE bodies, each seeing the CTEs before it (and itself when
// RECURSIVE), then puts all of them in scope for the owning statement. The
// owner visits its WITH clause first and pops the scope in Leave.
func (v *collector) with(w *ast.WithClause) {
	names := make([]string, len(w.CTEs))
	for i, cte := range w.CTEs {
		names[i] = cte.Name.L
	}
	for i, cte := range w.CTEs {
		vis := names[:i]
		if w.IsRecursive {
			vis = names[:i+1]
		}
		v.scopes = append(v.scopes, vis)
		if cte.Query != nil {
			cte.Query.Accept(v)
		}
		v.scopes = v.scopes[:len(v.scopes)-1]
	}
	v.scopes = append(v.scopes, names)
	v.withs = append(v.withs, w)
}

func (v *collector) isCTE(t *ast.TableName) bool {
	if t.Schema.L != "" {
		return false
	}
	for _, frame := range v.scopes {
		for _, n := range frame {
			if n == t.Name.L {
				return true
			}
		}
	}
	return false
}

func withOf(n ast.Node) *ast.WithClause {
	switch n := n.(type) {
	case *ast.SelectStmt:
		return n.With
	case *ast.SetOprStmt:
		return n.With
	case *ast.UpdateStmt:
		return n.With
	case *ast.DeleteStmt:
		return n.With
	}
	return nil
}

func (v *collector) has(t *ast.TableName) bool {
	for _, x := range v.tables {
		if x == t {
			return true
		}
	}
	return false
}

func tableOf(t *ast.TableName) TableName { return TableName{Schema: t.Schema.O, Name: t.Name.O} }

type leaf struct {
	t     *ast.TableName
	alias string
}

// leaves lists the tables of a join tree, not those in derived tables.
func leaves(n ast.ResultSetNode, out []leaf) []leaf {
	switch n := n.(type) {
	case *ast.Join:
		if n == nil {
			return out
		}
		if n.Left != nil {
			out = leaves(n.Left, out)
		}
		if n.Right != nil {
			out = leaves(n.Right, out)
		}
	case *ast.TableSource:
		if n == nil {
			return out
		}
		switch s := n.Source.(type) {
		case *ast.TableName:
			if s != nil && s.Name.L != "" {
				out = append(out, leaf{s, n.AsName.L})
			}
		case *ast.Join:
			out = leaves(s, out)
		}
	}
	return out
}

// match finds the join leaves a qualifier (alias, or [schema.]table) names.
func match(ls []leaf, schema, name string) []leaf {
	var out []leaf
	for _, l := range ls {
		if l.alias != "" {
			if schema == "" && l.alias == name {
				out = append(out, l)
			}
			continue
		}
		if l.t.Name.L == name && (schema == "" || schema == l.t.Schema.L) {
			out = append(out, l)
		}
	}
	return out
}

// astWrite reads Targets and Sources of an INSERT, UPDATE, DELETE or CREATE
// TABLE … SELECT from the parser's tree.
func astWrite(sql string, opt Options) (targets, sources []TableName, ok bool) {
	parsed := parseOne(sql, opt, func(s ast.StmtNode) {
		targets, sources, ok = astWriteNode(s)
	})
	return targets, sources, parsed && ok
}

func astWriteNode(s ast.StmtNode) (targets, sources []TableName, ok bool) {
	var v collector
	s.Accept(&v)
	var ls []leaf
	switch s := s.(type) {
	case *ast.InsertStmt:
		if s.Table != nil && s.Table.TableRefs != nil {
			for _, l := range leaves(s.Table.TableRefs, nil) {
				targets = addTable(targets, tableOf(l.t))
			}
		}
	case *ast.UpdateStmt:
		if s.TableRefs != nil {
			ls = leaves(s.TableRefs.TableRefs, nil)
		}
		ls = inScope(&v, ls)
		for _, a := range s.List {
			m := ls
			if a.Column != nil && a.Column.Table.L != "" {
				if x := match(ls, a.Column.Schema.L, a.Column.Table.L); len(x) > 0 {
					m = x
				}
			}
			for _, l := range m {
				targets = addTable(targets, tableOf(l.t))
			}
		}
	case *ast.DeleteStmt:
		if s.TableRefs != nil {
			ls = leaves(s.TableRefs.TableRefs, nil)
		}
		ls = inScope(&v, ls)
		if !s.IsMultiTable || s.Tables == nil {
			for _, l := range ls {
				targets = addTable(targets, tableOf(l.t))
			}
			break
		}
		for _, t := range s.Tables.Tables {
			m := match(ls, t.Schema.L, t.Name.L)
			if len(m) == 0 {
				targets = addTable(targets, tableOf(t))
			}
			for _, l := range m {
				targets = addTable(targets, tableOf(l.t))
			}
		}
	case *ast.CreateTableStmt:
		// Sources may name the new table: it can shadow a permanent one.
		for _, t := range v.tables {
			if t != s.Table {
				sources = addTable(sources, tableOf(t))
			}
		}
		if s.Table != nil {
			targets = []TableName{tableOf(s.Table)}
		}
		return targets, sources, len(targets) > 0
	default:
		return nil, nil, false
	}
	for _, t := range v.tables {
		if x := tableOf(t); !hasTable(targets, x) {
			sources = addTable(sources, x)
		}
	}
	return targets, sources, len(targets) > 0
}

func inScope(v *collector, ls []leaf) []leaf {
	out := ls[:0]
	for _, l := range ls {
		if v.has(l.t) {
			out = append(out, l)
		}
	}
	return out
}

// Tables returns every table a statement references, read or written, using
// the full parser; CTE names are left out. It returns nil, false when it
// cannot tell.
func Tables(sql string, opt Options) ([]TableName, bool) {
	if !hasExecComment(sql) {
		return tables(sql, opt)
	}
	a, cond := normalize(sql, opt, true)
	ta, ok := tables(a, opt)
	if !ok || !cond {
		return ta, ok
	}
	b, _ := normalize(sql, opt, false)
	tb, ok := tables(b, opt)
	if !ok {
		return nil, false
	}
	return unionTables(ta, tb), true
}

func tables(sql string, opt Options) ([]TableName, bool) {
	var out []TableName
	collect := func(s ast.StmtNode) {
		var v collector
		s.Accept(&v)
		for _, t := range v.tables {
			out = addTable(out, tableOf(t))
		}
	}
	if parseOne(sql, opt, collect) {
		return opt.asRead(out), true
	}
	// The parser rejects SELECT … INTO @var and INTO DUMPFILE: drop the clause.
	if s, ok := stripInto(sql, opt); ok && parseOne(s, opt, collect) {
		return opt.asRead(out), true
	}
	return nil, false
}

// stripInto blanks INTO @a[, @b] and INTO DUMPFILE 'f' clauses.
func stripInto(sql string, opt Options) (string, bool) {
	var b []byte
	c := newCur(sql, opt)
	for c.tok.kind != tEOF {
		if !c.is("INTO") {
			c.adv()
			continue
		}
		start := c.tok.start
		n := c.peek()
		end := -1
		switch {
		case n.kind == tUserVar:
			c.adv()
			for c.tok.kind == tUserVar {
				end = c.tok.end
				c.adv()
				if !c.acceptPunct(',') {
					break
				}
			}
		case c.tokIs(n, "DUMPFILE"):
			c.adv()
			c.adv()
			if c.tok.kind == tString {
				end = c.tok.end
			}
			c.adv()
		default:
			c.adv()
			continue
		}
		if end < 0 {
			continue
		}
		if b == nil {
			b = []byte(sql)
		}
		for i := start; i < end; i++ {
			b[i] = ' '
		}
	}
	if b == nil {
		return "", false
	}
	return string(b), true
}
