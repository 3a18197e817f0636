package sqlclass

// Suspects is what in a statement could run stored code: the functions it
// may call and the tables it names, any of which may be a view whose
// definition calls one. Triggers need no entry: they fire on the tables a
// statement writes, and a statement that writes only temporary tables
// (which cannot have triggers) fires them only through a stored function.
type Suspects struct {
	// Calls are the names written before '(' that may name a stored
	// function (or a package of them), lower case; a qualified call gives
	// each of its parts.
	Calls  []string
	Tables []TableName // every table named, read or written
}

// Empty: nothing in the statement can run stored code.
func (s Suspects) Empty() bool { return len(s.Calls) == 0 && len(s.Tables) == 0 }

// SuspectsOf lists a statement's suspects. It over-reports and must not
// miss: executable comments count as code, and tables are read both by the
// parser and lexically.
func SuspectsOf(sql string, opt Options) Suspects {
	code := sql
	if hasExecComment(sql) {
		code, _ = normalize(sql, opt, true)
	}
	s := Suspects{Calls: calls(code, opt)}
	if createsOnly(code, opt) {
		return s
	}
	s.Tables, _ = Tables(sql, opt)
	for _, r := range lexRefs(code, opt) {
		s.Tables = addTable(s.Tables, r.t)
	}
	s.Tables = opt.asRead(s.Tables)
	return s
}

// createsOnly: a CREATE TEMPORARY TABLE that reads nothing (no SELECT,
// TABLE, VALUES or LIKE after its name) names only the table it makes,
// which no view stands for.
func createsOnly(s string, opt Options) bool {
	c := newCur(s, opt)
	if !c.accept("CREATE") {
		return false
	}
	c.acceptSeq("OR", "REPLACE")
	if !c.accept("TEMPORARY") || !c.accept("TABLE") {
		return false
	}
	for ; c.tok.kind != tEOF; c.adv() {
		if c.is("SELECT") || c.is("WITH") || c.is("TABLE") || c.is("VALUES") || c.is("VALUE") || c.is("LIKE") {
			return false
		}
	}
	return true
}

// calls finds every [qualifier.]name followed by '(' that may call a
// stored function: not a table or index name before its column list, not
// a reserved word, and not a builtin written against its parenthesis. A
// builtin's name with a blank before '(' may call the stored function of
// that name (MariaDB without IGNORE_SPACE), and a quoted name always may.
func calls(s string, opt Options) []string {
	var out []string
	l := lexer{s: s, opt: opt}
	var prev token
	t := l.next()
	for t.kind != tEOF {
		if t.kind != tWord && t.kind != tQIdent {
			prev, t = t, l.next()
			continue
		}
		before := prev
		chain := []token{t}
		next := l.next()
		for next.kind == tPunct && s[next.start] == '.' {
			n := l.next()
			if n.kind == tNumber {
				n.kind = tWord // after '.', digits are an identifier
			}
			if n.kind != tWord && n.kind != tQIdent {
				next = n
				break
			}
			chain = append(chain, n)
			next = l.next()
		}
		if next.kind == tPunct && s[next.start] == '(' && mayCall(s, before, chain, next.adj) {
			for _, n := range chain {
				name := s[n.start:n.end]
				if n.kind == tQIdent {
					name = unquote(name, opt)
				}
				out = addString(out, lower(name))
			}
		}
		prev, t = chain[len(chain)-1], next
	}
	return out
}

// mayCall: chain, followed by '(' (adjacent or not), may call a stored
// function, given the token before it.
func mayCall(s string, before token, chain []token, adj bool) bool {
	if before.kind == tWord && nameIntro[upperKey(s[before.start:before.end])] {
		return false
	}
	if len(chain) > 1 || chain[0].kind != tWord {
		return true
	}
	switch syntaxWords[upperKey(s[chain[0].start:chain[0].end])] {
	case reserved:
		return false
	case builtin:
		return !adj
	}
	return true
}

// upperKey is w in upper case for the word maps; long words are no key.
func upperKey(w string) string {
	var buf [24]byte
	return string(keyword(w, &buf))
}

// nameIntro are the words after which a name and '(' are a table or index
// with its column list (INSERT INTO t (a), KEY k (a), WITH c (a) AS …,
// … AS d (a) after a derived table, CREATE TEMPORARY TABLE IF NOT EXISTS
// t (…)). Words that may also stand before a call (FROM in SUBSTRING(x
// FROM f()), HIGH_PRIORITY and STRAIGHT_JOIN after SELECT) are not here.
var nameIntro = map[string]bool{
	"INTO": true, "TABLE": true, "JOIN": true, "REFERENCES": true, "EXISTS": true, "KEY": true,
	"INDEX": true, "UNIQUE": true, "FULLTEXT": true, "SPATIAL": true, "INSERT": true, "REPLACE": true,
	"WITH": true, "RECURSIVE": true, "AS": true,
}

const (
	reserved = 1 + iota // a reserved word: never a function name
	builtin             // a builtin function or type: a call only when spaced from '('
)

// syntaxWords are the words that stand before '(' without calling a
// stored function.
var syntaxWords = map[string]uint8{}

func init() {
	// Reserved in both MariaDB and MySQL 8.
	for _, w := range []string{
		"ALL", "AND", "AS", "BETWEEN", "BIGINT", "BINARY", "BLOB", "BY", "CASE", "CHAR", "CHARACTER",
		"CHECK", "COLLATE", "CONSTRAINT", "CONVERT", "CROSS", "CURRENT_DATE", "CURRENT_TIME",
		"CURRENT_TIMESTAMP", "CURRENT_USER", "DATABASE", "DEC", "DECIMAL", "DEFAULT", "DISTINCT",
		"DISTINCTROW", "DIV", "DOUBLE", "ELSE", "ELSEIF", "EXISTS", "FLOAT", "FOR", "FOREIGN", "FROM",
		"FULLTEXT", "GROUP", "HAVING", "IF", "IGNORE", "IN", "INDEX", "INNER", "INSERT", "INT",
		"INTEGER", "INTERVAL", "INTO", "IS", "JOIN", "KEY", "KEYS", "LEFT", "LIKE", "LIMIT",
		"LOCALTIME", "LOCALTIMESTAMP", "LONGBLOB", "LONGTEXT", "MATCH", "MEDIUMBLOB", "MEDIUMINT",
		"MEDIUMTEXT", "MOD", "NATURAL", "NOT", "NUMERIC", "ON", "OR", "ORDER", "OUTER", "OVER",
		"PARTITION", "PRIMARY", "RANGE", "REAL", "RECURSIVE", "REFERENCES", "REGEXP", "REPEAT",
		"REPLACE", "RIGHT", "RLIKE", "ROWS", "ROW_NUMBER", "SCHEMA", "SELECT", "SET", "SMALLINT",
		"SPATIAL", "STRAIGHT_JOIN", "TABLE", "THEN", "TINYBLOB", "TINYINT", "TINYTEXT", "TO", "UNION",
		"UNIQUE", "USING", "UTC_DATE", "UTC_TIME", "UTC_TIMESTAMP", "VALUES", "VARBINARY", "VARCHAR",
		"VARCHARACTER", "WHEN", "WHERE", "WINDOW", "WITH", "XOR",
	} {
		syntaxWords[w] = reserved
	}
	// Builtin functions, types and words reserved in one server only.
	for _, w := range []string{
		"ABS", "ANY", "COLUMNS", "EXCEPT", "INTERSECT", "LATERAL", "POSITION", "RETURNING", "SOME", "TRUNCATE", "ADDDATE", "AVG", "BIT", "BIT_AND", "BIT_OR", "BIT_XOR", "CAST", "CEIL", "CEILING",
		"CHAR_LENGTH", "COALESCE", "CONCAT", "CONCAT_WS", "CONNECTION_ID", "COUNT", "CURDATE",
		"CURTIME", "DATE", "DATEDIFF", "DATETIME", "DATE_ADD", "DATE_FORMAT", "DATE_SUB", "DAY",
		"DAYNAME", "DAYOFWEEK", "DENSE_RANK", "ELT", "ENUM", "EXTRACT", "FIELD", "FIND_IN_SET",
		"FIRST_VALUE", "FLOOR", "FORMAT", "FOUND_ROWS", "FROM_UNIXTIME", "GREATEST", "GROUP_CONCAT",
		"HASH", "HEX", "HOUR", "IFNULL", "INET6", "INSTR", "ISNULL", "JSON", "JSON_ARRAY",
		"JSON_ARRAYAGG", "JSON_CONTAINS", "JSON_EXTRACT", "JSON_OBJECT", "JSON_OBJECTAGG",
		"JSON_TABLE", "JSON_UNQUOTE", "JSON_VALUE", "LAG", "LAST_INSERT_ID", "LAST_VALUE", "LCASE",
		"LEAD", "LEAST", "LENGTH", "LIST", "LOCATE", "LOWER", "LPAD", "LTRIM", "MAX", "MD5", "MIN",
		"MINUTE", "MONTH", "NCHAR", "NOW", "NTILE", "NULLIF", "NVARCHAR", "POSITION", "POW", "POWER",
		"RAND", "RANK", "ROUND", "ROW", "ROW_COUNT", "ROW_NUMBER", "RPAD", "RTRIM", "SECOND", "SHA1",
		"SHA2", "SIGN", "SQRT", "STD", "STDDEV", "STR_TO_DATE", "SUBDATE", "SUBSTR", "SUBSTRING",
		"SUBSTRING_INDEX", "SUM", "SYSDATE", "TEXT", "TIME", "TIMEDIFF", "TIMESTAMP", "TIMESTAMPDIFF",
		"TO_DAYS", "TRIM", "UCASE", "UNHEX", "UNIX_TIMESTAMP", "UPPER", "USER", "UUID", "VARIANCE",
		"VERSION", "WEEK", "YEAR",
	} {
		syntaxWords[w] = builtin
	}
}
