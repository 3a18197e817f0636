package proxy

import (
	"testing"

	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// TestStoredCodeQuery: names travel as hex, so that a quoted identifier
// cannot end the literal (`x\' OR 1 -- `() under backslash escapes); calls
// are lower case; unqualified tables resolve in the database given.
func TestStoredCodeQuery(t *testing.T) {
	sus := sqlclass.SuspectsOf("SELECT `x\\' OR 1 -- `(), t.fw() FROM va JOIN db2.b FOR UPDATE", sqlclass.Options{})
	got := storedCodeQuery(sus, "information_schema.", "DATABASE()")
	want := "SELECT 1 FROM information_schema.ROUTINES WHERE ROUTINE_NAME IN (" +
		"_utf8mb4 X'785c27206f722031202d2d20' COLLATE utf8mb4_general_ci, " +
		"_utf8mb4 X'74' COLLATE utf8mb4_general_ci, _utf8mb4 X'6677' COLLATE utf8mb4_general_ci)" +
		" UNION ALL SELECT 1 FROM information_schema.TABLES WHERE TABLE_TYPE = 'VIEW' AND (" +
		"TABLE_SCHEMA = DATABASE() AND TABLE_NAME = _utf8mb4 X'7661' COLLATE utf8mb4_general_ci OR " +
		"TABLE_SCHEMA = _utf8mb4 X'646232' COLLATE utf8mb4_general_ci AND TABLE_NAME = _utf8mb4 X'62' COLLATE utf8mb4_general_ci)" +
		" LIMIT 1"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestStoredCodeQueryNoSchema: under CLIENT_NO_SCHEMA db2.b is the current
// database's b, and the question, asked from information_schema, names
// its tables without a schema (the server would read them in the current
// database) and the session's database as a literal.
func TestStoredCodeQueryNoSchema(t *testing.T) {
	sus := sqlclass.SuspectsOf("SELECT t.fw() FROM va JOIN db2.b FOR UPDATE", sqlclass.Options{NoSchema: true})
	got := storedCodeQuery(sus, "", nameLiteral("shop"))
	want := "SELECT 1 FROM ROUTINES WHERE ROUTINE_NAME IN (" +
		"_utf8mb4 X'74' COLLATE utf8mb4_general_ci, _utf8mb4 X'6677' COLLATE utf8mb4_general_ci)" +
		" UNION ALL SELECT 1 FROM TABLES WHERE TABLE_TYPE = 'VIEW' AND (" +
		"TABLE_SCHEMA = _utf8mb4 X'73686f70' COLLATE utf8mb4_general_ci AND TABLE_NAME = _utf8mb4 X'7661' COLLATE utf8mb4_general_ci OR " +
		"TABLE_SCHEMA = _utf8mb4 X'73686f70' COLLATE utf8mb4_general_ci AND TABLE_NAME = _utf8mb4 X'62' COLLATE utf8mb4_general_ci)" +
		" LIMIT 1"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
