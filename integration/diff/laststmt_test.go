package diff

import (
	"encoding/binary"
	"testing"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
)

// MariaDB's statement id -1 names the statement prepared last (the npm
// mariadb connector sends a PREPARE and its first EXECUTE together so):
// through the proxy as on the reader, the statement prepared last; after a
// prepare that failed, and after COM_STMT_CLOSE of -1, none (1243).
func TestLastStatementID(t *testing.T) {
	h := newHarness(t)
	id := []param{{typ: gmysql.MYSQL_TYPE_LONG, value: le(4, 1)}}
	last := func(p []param) step { return step{raw: executePacket(0xffffffff, p, false), kind: binaryResult} }
	const sel = "SELECT v FROM laststmt WHERE id = ?"
	e := entry{name: "statement id -1",
		setup: []string{"DROP TABLE IF EXISTS laststmt", "CREATE TABLE laststmt (id INT PRIMARY KEY, v VARCHAR(10))",
			"INSERT INTO laststmt VALUES (1, 'one')"},
		steps: []step{
			{prepare: sel}, last(id), last(id),
			{prepare: "SELECT v FROM laststmt_nosuch"}, last(nil),
			{prepare: sel}, {raw: binary.LittleEndian.AppendUint32([]byte{gmysql.COM_STMT_CLOSE}, 0xffffffff), kind: noResponse}, last(id),
			{prepare: sel}, last(id),
		},
	}
	used := map[*allowance]int{}
	for _, c := range matrix()[:2] { // every flag on, every flag off
		t.Run(c.name, func(t *testing.T) {
			h.compareHandshake(t, c, used)
			h.compareEntry(t, c, e, used)
		})
	}
	// The proxy's answers themselves, not only their likeness to the reader's.
	pF, _ := h.run(matrix()[1], e, true)
	for name, want := range map[string]string{"s1.r0.row0": "00 00 03 6f 6e 65", "s2.r0.row0": "00 00 03 6f 6e 65",
		"s4.r0.err.code": "1243", "s7.r0.err.code": "1243", "s9.r0.row0": "00 00 03 6f 6e 65"} {
		if got := value(pF, name); got != want {
			t.Errorf("proxy's %s is %s, want %s", name, got, want)
		}
	}
}
