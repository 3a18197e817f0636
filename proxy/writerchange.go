package proxy

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/route"
)

// The proxy's side of a writer change: where new writer connections go,
// what happens to the ones on the old writer, and which statements may go
// to the new one. Without several --writer candidates none of it runs.

// writerAddr is where a writer connection goes now: --writer, or with
// several candidates the current writer ("" while none qualifies).
func (s *Server) writerAddr() string {
	if s.watch == nil {
		return s.conf().Writer
	}
	return s.watch.writer()
}

// writerMoved runs after the watch found another writer, or none. A
// session's idle writer connection closes now, which rolls back a
// transaction open on the old writer (the session's next statement gets
// the terminated error); a session in a command finds out when it ends
// (writerMovedAway). The proxy's own connections follow on their next use.
func (s *Server) writerMoved() {
	s.mu.Lock()
	for ss := range s.sessions {
		if !ss.life.running.Load() {
			ss.life.kill(killWriterChange)
		}
	}
	s.mu.Unlock()
	if s.writerAddr() != "" {
		user, pass := s.proxyUser()
		if err := s.refreshWriterLimit(user, pass); err != nil {
			s.log.Warn("writer limit refresh after a writer change failed", zap.Error(err))
		}
	}
}

// writerMovedAway: the session's writer connection is on a server that is
// no longer the writer.
func (s *session) writerMovedAway() bool {
	return s.writer != nil && s.srv.watch != nil && s.writerTo != s.srv.watch.writer()
}

// dialWriter connects the session's writer connection to the current
// writer. With several candidates, a statement arriving while none
// qualifies waits for one (--writer-change-wait), and a failed connection
// asks the candidates again before it fails: the writer may have moved.
func (s *session) dialWriter(p dialParams) (*backend, error) {
	w := s.srv.watch
	if w == nil {
		p.addr, s.writerTo = s.srv.conf().Writer, s.srv.conf().Writer
		return dialBackend(context.Background(), "writer", p)
	}
	for try := 0; ; try++ {
		addr, gen, _ := w.await()
		if addr == "" {
			w.countErr(changeErrNoWriter)
			return nil, errNoWriter
		}
		p.addr = addr
		b, err := dialBackend(context.Background(), "writer", p)
		if err == nil {
			if err = checkWritable(b); err == nil {
				s.writerTo, s.writerChange = addr, gen
				return b, nil
			}
			b.close()
		}
		// Nothing was sent yet, so any failure that is not the server's own
		// answer may be the writer moving: refused, reset, or closed before
		// the greeting (as a relay in front of a dead writer does). Ask once.
		if _, isSQL := asSQLError(err); isSQL || try > 0 {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.srv.conf().WriterChangeWait)
		w.suspect(ctx, addr)
		cancel()
		if w.writer() == addr {
			return nil, err
		}
	}
}

var (
	errNoWriter = errors.New("no writer candidate qualifies")
	errDemoted  = errors.New("the writer turned read_only")
)

// checkWritable refuses a writer connection to a server that turned
// read_only (on MySQL, super_read_only turns it on too) since the watch
// last asked. A user whose privileges pass read_only (READ ONLY ADMIN,
// SUPER) would otherwise write to a demoted writer, and those writes
// would be lost with it.
func checkWritable(b *backend) error {
	res, err := b.exec("SELECT @@GLOBAL.read_only")
	if err != nil {
		return err
	}
	if v, _ := res.value(); v.s != "0" {
		return errDemoted
	}
	return nil
}

// refusedByWriter: the writer answered a forwarded statement with 1290, the
// read_only refusal of a writer that was demoted. The statement did not
// run, so it may go to the next writer.
func (s *session) refusedByWriter(b *backend, e *sqlError) bool {
	return s.srv.watch != nil && b == s.writer && b != nil && e.code == 1290 && !s.resending
}

// forwardRefused handles a statement the writer refused with 1290. Inside
// a transaction that already did work on that writer, the transaction is
// gone: terminated error. Otherwise nothing ran: once the candidates named
// another writer, the statement goes there, once.
func (s *session) forwardRefused(x *job, refusal *sqlError, began bool) (bool, error) {
	w := s.srv.watch
	old := s.writerTo
	if s.state.TxWriter && !began {
		s.writerLost()
		w.countErr(changeErrTerminated)
		return s.fail(s.takeTerminated(), x.more)
	}
	if began {
		s.state.Apply(route.WriterEnded, route.Fact{})
	}
	s.dropWriter()
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.conf().WriterChangeWait)
	w.suspect(ctx, old)
	cancel()
	if cur := w.writer(); cur == old {
		return s.fail(refusal, x.more)
	}
	s.resending = true
	defer func() { s.resending = false }()
	return s.forward(x)
}

// letWatchLook waits, with several candidates, until the watch has asked
// them again after the session's writer connection failed (at most
// --writer-change-wait): the writer may be the one that died.
func (s *session) letWatchLook() {
	if w := s.srv.watch; w != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.srv.conf().WriterChangeWait)
		w.suspect(ctx, s.writerTo)
		cancel()
	}
}

// writerBroke tells the watch that a forwarded statement's writer
// connection failed: the writer may have moved. The statement is not sent
// again (it may have run: mayCommit).
func (s *session) writerBroke(mayCommit bool) {
	if w := s.srv.watch; w != nil {
		select {
		case w.kick <- struct{}{}:
		default:
		}
		if mayCommit {
			w.countErr(changeErrUnknown)
		} else {
			w.countErr(changeErrTerminated)
		}
	}
}

// forwardedOK notes a forwarded statement that succeeded, for the time to
// the first write after a change.
func (s *session) forwardedOK() {
	if w := s.srv.watch; w != nil {
		w.firstWrite(s.writerTo)
	}
}
