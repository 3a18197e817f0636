package diff

// The differences the proxy may have from the server, each with why.
// spec rows are what the contract allows (the proxy's own ids and
// tracking, its answers, configuration). open rows are differences this
// test found that are not fixed yet: each is a bug report, and its row
// goes when the fix lands (a row that matches nothing in a full run fails
// the test, so the table stays true).

import (
	"fmt"
	"regexp"
	"strings"
)

type allowance struct {
	field string // regexp on the field name
	entry string // regexp on the entry name; "" = any
	stmt  string // regexp on the step's command; "" = any
	// ok says whether this difference is the allowed one; nil = any values.
	// d and p are both sides' fields, for rows that depend on the packet.
	ok   func(x difference, d, p fields) bool
	open bool
	// rare: the difference comes only in some runs, so a run it does not
	// match in is no reason to delete the row.
	rare bool
	why  string

	re, entRe, stmtRe *regexp.Regexp
}

var allowed = []*allowance{
	// The contract.
	{field: `^handshake\.connection_id$`, why: "each server numbers its own connections; KILL takes the proxy's"},
	{field: `^handshake\.scramble$`, why: "random per connection"},
	{field: `^(handshake|session)\.caps\.CLIENT_SSL$`, why: "TLS is configured per server: the proxy has a certificate here, the test pair none"},
	{field: `\.prepare\.statement_id$`, why: "statement ids are the proxy's own"},
	{field: `\.state\.sysvar\.last_gtid$`, ok: gtidOrAbsent,
		why: "last_gtid is the proxy's own tracking (the test pair tracks it on every connection; the proxy answers COMMIT itself)"},
	{field: `\.ok\.(status|info)$`, ok: onlyOwnTracking,
		why: "SESSION_STATE_CHANGED and the empty info before a state block follow the last_gtid entries above"},
	{entry: `^CALL at SESSION$`, field: `^s0\.`, why: "CALL gets 1235 in a forwarding session (wantProxy checks it)"},
	{field: `\.(ok|eof)\.status$`, ok: planFlagsOnly, rare: true,
		why: "NO_INDEX_USED / NO_GOOD_INDEX_USED follow the plan the server picks, which changes between two runs of one statement when the table's statistics are recalculated in between"},
	{entry: `^session variables$`, field: `^s0\.r0\.col1\.length$`,
		why: "@@session.tx_read_only is the client's access mode, not the reader guard's: the reader evaluates LEAST/GREATEST(@@global.tx_read_only, …), display width 2"},
}

func init() {
	for _, a := range allowed {
		a.re = regexp.MustCompile(a.field)
		if a.entry != "" {
			a.entRe = regexp.MustCompile(a.entry)
		}
		if a.stmt != "" {
			a.stmtRe = regexp.MustCompile(a.stmt)
		}
	}
}

// allowanceFor is the row that allows x, or nil. e is nil for the handshake.
func allowanceFor(e *entry, x difference, d, p fields) *allowance {
	name, stmt := "", ""
	if e != nil {
		name = e.name
		var i int
		if _, err := fmt.Sscanf(x.name, "s%d.", &i); err == nil && i < len(e.steps) {
			stmt = e.steps[i].String()
		}
	}
	for _, a := range allowed {
		if a.entRe != nil && !a.entRe.MatchString(name) || a.stmtRe != nil && !a.stmtRe.MatchString(stmt) {
			continue
		}
		if a.re.MatchString(x.name) && (a.ok == nil || a.ok(x, d, p)) {
			return a
		}
	}
	return nil
}

var gtidRe = regexp.MustCompile(`^"(\d+-\d+-\d+)?"$`)

func gtidOrAbsent(x difference, _, _ fields) bool {
	return (x.direct == absent || gtidRe.MatchString(x.direct)) && (x.proxy == absent || gtidRe.MatchString(x.proxy))
}

// onlyOwnTracking: a status that differs in SESSION_STATE_CHANGED alone, or
// an empty info present on one side only, in an OK whose state entries
// differ in last_gtid alone.
func onlyOwnTracking(x difference, d, p fields) bool {
	pkt := x.name[:strings.LastIndexByte(x.name, '.')+1]
	if !stateFlagOnly(x) {
		return false
	}
	for _, y := range compare(d.under(pkt+"state."), p.under(pkt+"state.")) {
		if !strings.HasSuffix(y.name, ".last_gtid") {
			return false
		}
	}
	return true
}

// stateFlagOnly: status values that differ in SESSION_STATE_CHANGED only,
// or info "" against none.
func stateFlagOnly(x difference) bool {
	if strings.HasSuffix(x.name, ".info") {
		return x.direct == `""` && x.proxy == absent || x.direct == absent && x.proxy == `""`
	}
	return statusDiff(x) == 0x4000
}

// planFlagsOnly: status values that differ in the server's plan flags only.
func planFlagsOnly(x difference, _, _ fields) bool {
	d := statusDiff(x)
	return d != 0 && d&^(0x0010|0x0020) == 0
}

// statusDiff is the XOR of two status fields ("0x%04x names").
func statusDiff(x difference) uint16 {
	var a, b uint16
	if _, err := fmt.Sscanf(x.direct, "0x%x", &a); err != nil {
		return 0
	}
	if _, err := fmt.Sscanf(x.proxy, "0x%x", &b); err != nil {
		return 0
	}
	return a ^ b
}

// under is the fields whose names start with prefix.
func (f fields) under(prefix string) fields {
	var out fields
	for _, x := range f {
		if strings.HasPrefix(x.name, prefix) {
			out = append(out, x)
		}
	}
	return out
}
