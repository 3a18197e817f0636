package proxy

import (
	"github.com/pingcap/tidb/pkg/parser/charset"

	"github.com/fwdproxy/fwdproxy/consistency"
)

// dialect holds the few SQL spellings that differ between MariaDB and MySQL
// outside GTID handling (which lives in consistency.Flavor).
type dialect struct {
	readOnlyVar string // session variable that makes transactions read-only
}

func dialectFor(f consistency.Flavor) dialect {
	if f != nil && f.Name() == "mysql" {
		return dialect{readOnlyVar: "transaction_read_only"}
	}
	return dialect{readOnlyVar: "tx_read_only"}
}

// collationName maps the client's handshake collation id to a name the
// backend handshake accepts.
func collationName(id uint8) string {
	c, err := charset.GetCollationByID(int(id))
	if err != nil {
		return "utf8mb4_general_ci"
	}
	return c.Name
}

func parseConsistency(v string) (consistency.Level, bool) { return consistency.ParseLevel(v) }
