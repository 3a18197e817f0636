package proxy

import (
	"fmt"
	"os"
	"time"

	"github.com/fwdproxy/fwdproxy/digest"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// maxDigests bounds the digest table; more distinct digests count as
// "other".
const maxDigests = 1000

// statements holds the per-digest statistics and the statement log; both
// nil when off.
type statements struct {
	table   *digest.Table
	log     *digest.Log
	logFile *os.File
}

func openStatements(cfg *Config) (statements, error) {
	var st statements
	if cfg.DigestTop > 0 {
		st.table = digest.New(maxDigests)
	}
	if cfg.StatementLog != "" {
		f, err := os.OpenFile(cfg.StatementLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return st, fmt.Errorf("statement log: %w", err)
		}
		st.logFile, st.log = f, digest.NewLog(f)
	}
	return st, nil
}

// recordStatement counts one statement's outcome under its digest and
// logs it. The digest is made only when something keeps it.
func (s *Server) recordStatement(session uint32, sql string, o digest.Outcome) {
	st := &s.stmts
	if st.table == nil && st.log == nil {
		return
	}
	d := sqlclass.Digest(sql, sqlclass.Options{})
	if st.table != nil {
		st.table.Record(d, o)
	}
	if st.log != nil {
		st.log.Write(time.Now(), session, d, o)
	}
}

// topDigests is /status's digest list (nil when off).
func (s *Server) topDigests() []digest.Stats {
	if s.stmts.table == nil {
		return nil
	}
	return s.stmts.table.Top(s.conf().DigestTop)
}

func (st *statements) close() {
	if st.logFile != nil {
		st.logFile.Close()
	}
}
