package proxy

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/fwdproxy/fwdproxy/digest"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// maxDigests bounds the digest table; more distinct digests count as
// "other".
const maxDigests = 1000

// statements holds the per-digest statistics (nil when off) and the
// statement log (off without --statement-log).
type statements struct {
	table *digest.Table
	log   *digest.Log
}

func openStatements(cfg *Config) (statements, error) {
	st := statements{log: digest.NewLog(nil)}
	if cfg.DigestTop > 0 {
		st.table = digest.New(maxDigests)
	}
	return st, st.reopen(cfg.StatementLog)
}

// reopen points the statement log at path ("" turns it off) and closes the
// file it wrote before: SIGHUP after a rotation (mv, then kill -HUP) goes
// on in a fresh file, without a line lost or written to the old one. When
// path cannot be opened the log stays as it was.
func (st *statements) reopen(path string) error {
	var w io.Writer
	if path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("statement log: %w", err)
		}
		w = f
	}
	if st.log == nil {
		st.log = digest.NewLog(nil)
	}
	if old, ok := st.log.Swap(w).(io.Closer); ok {
		old.Close()
	}
	return nil
}

// recordStatement counts one statement's outcome under its digest and
// logs it. The digest is made only when something keeps it.
func (s *Server) recordStatement(session uint32, sql string, o digest.Outcome) {
	st := &s.stmts
	if st.table == nil && !st.log.On() {
		return
	}
	d := sqlclass.Digest(sql, sqlclass.Options{})
	if st.table != nil {
		st.table.Record(d, o)
	}
	st.log.Write(time.Now(), session, d, o)
}

// topDigests is /status's digest list (nil when off).
func (s *Server) topDigests() []digest.Stats {
	if s.stmts.table == nil {
		return nil
	}
	return s.stmts.table.Top(s.conf().DigestTop)
}

func (st *statements) close() { _ = st.reopen("") }
