package route

import (
	"testing"

	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// FuzzDecide: any text, classified and decided in any state a session can
// be in, on every path, decides without a panic and by the rules.
func FuzzDecide(f *testing.F) {
	for _, sql := range appStatements(f) {
		f.Add(sql, uint16(bForwarding|bWaits|bTxWriter|bHasWriter|1<<bTempShift), false, false)
		f.Add(sql, uint16(bReadOnly|bReaderInTx|3<<bTempShift), false, true)
	}
	for _, c := range decideCases {
		f.Add(c.sql, uint16(bForwarding|bWaits|bTxWriter|bReaderInTx|bHasWriter|bInsertIDOnWriter|2<<bTempShift), true, false)
	}
	for _, c := range noSchemaCases {
		f.Add(c.sql, uint16(bForwarding|bWaits|bTxWriter|bHasWriter|3<<bTempShift), false, true)
	}
	f.Fuzz(func(t *testing.T, sql string, bits uint16, ansiQuotes, noSchema bool) {
		opt := sqlclass.Options{ANSIQuotes: ansiQuotes, NoSchema: noSchema}
		st := sqlclass.Classify(sql, opt)
		s, ok := stateOf(uint(bits)&(1<<stateBits-1), &st)
		if !ok {
			return
		}
		s.Opt = opt
		for _, b := range checkAll(&s, sql, &st) {
			t.Errorf("%q (%v) in %s: %s", sql, st.Class, stateName(&s), b)
		}
	})
}
