package sqlclass

// TempTables is a session's temporary tables, keyed "db.table" (db is the
// session's current database when the name has none). Work on temporary
// tables runs on the reader, and DML on a permanent table that reads one is
// rejected; these decisions are pure functions of this set, shared by the
// proxy and lint.
type TempTables map[string]bool

// Key names a table as the set does.
func (t TempTables) Key(db string, n TableName) string {
	if n.Schema != "" {
		db = n.Schema
	}
	return db + "." + n.Name
}

// Has: n is one of the session's temporary tables.
func (t TempTables) Has(db string, n TableName) bool { return t[t.Key(db, n)] }

// Any: at least one of ns is temporary.
func (t TempTables) Any(db string, ns []TableName) bool {
	for _, n := range ns {
		if t.Has(db, n) {
			return true
		}
	}
	return false
}

// All: ns is not empty and every table in it is temporary (the statement
// changes only the session's own tables: it runs on the reader).
func (t TempTables) All(db string, ns []TableName) bool {
	if len(ns) == 0 || len(t) == 0 {
		return false
	}
	for _, n := range ns {
		if !t.Has(db, n) {
			return false
		}
	}
	return true
}

// RefFromPermanent is "DML on a permanent table that references a
// temporary table": it returns the temporary table such a statement touches
// (as a source, or as another target of a multi-table UPDATE/DELETE), or "".
func (t TempTables) RefFromPermanent(db string, st *Statement) string {
	if len(t) == 0 || t.All(db, st.Targets) {
		return ""
	}
	for _, n := range st.Sources {
		if t.Has(db, n) {
			return n.Name
		}
	}
	for _, n := range st.Targets {
		if t.Has(db, n) {
			return n.Name
		}
	}
	return ""
}
