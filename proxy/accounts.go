package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	gmserver "github.com/go-mysql-org/go-mysql/server"
	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/accounts"
	"github.com/fwdproxy/fwdproxy/consistency"
)

// --accounts writer: a client without a --user entry logs in as one of the
// writer's accounts. Its answer to the native scramble, checked against the
// stored double SHA1, gives SHA1(password), with which the proxy logs in
// to the backends for it (nativeLogin).

// accountsFailGap is the least time between two loads that failed logins
// ask for.
const accountsFailGap = time.Second

// newAccounts is the store of --accounts writer, loaded once; nil without.
func (s *Server) newAccounts() *accounts.Store {
	if s.conf().Accounts != "writer" {
		return nil
	}
	st := accounts.NewStore(s.loadAccounts, accountsFailGap)
	s.refreshAccounts(st)
	return st
}

// loadAccounts reads every account from the writer as the --proxy-user.
func (s *Server) loadAccounts(ctx context.Context) ([]accounts.Account, error) {
	addr := s.writerAddr()
	if addr == "" {
		return nil, errNoWriter
	}
	user, pass := s.proxyUser()
	w, err := dialBackend(ctx, "writer", dialParams{addr: addr, user: user, password: pass, tls: s.conf().BackendTLS})
	if err != nil {
		return nil, err
	}
	defer w.close()
	isMySQL := s.flavor == consistency.MySQL
	q, table := accounts.MariaDBQuery, "mysql.global_priv"
	if isMySQL {
		q, table = accounts.MySQLQuery, "mysql.user"
	}
	res, err := w.exec(q)
	if err != nil {
		return nil, fmt.Errorf("reading %s as %s (it needs GRANT SELECT ON %s TO it): %w", table, user, table, err)
	}
	rows := make([][]string, len(res.rows))
	for i, r := range res.rows {
		for _, v := range r {
			rows[i] = append(rows[i], v.s)
		}
	}
	all, skipped := accounts.ParseRows(rows, isMySQL)
	if skipped > 0 {
		s.log.Warn("accounts the proxy cannot read were left out", zap.String("table", table), zap.Int("rows", skipped))
	}
	return all, nil
}

// refreshAccounts loads the accounts again (the period, SIGHUP); a
// failure keeps the ones loaded before.
func (s *Server) refreshAccounts(st *accounts.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.Refresh(ctx); err != nil {
		s.log.Warn("loading the accounts from the writer failed; keeping the ones loaded before", zap.Int("accounts", st.Len()), zap.Error(err))
		return
	}
	s.log.Debug("accounts loaded from the writer", zap.Int("accounts", st.Len()))
}

// accountsLoop loads the accounts every --accounts-refresh.
func (s *Server) accountsLoop() {
	for last := time.Now(); !s.closed.Load(); time.Sleep(100 * time.Millisecond) {
		if time.Since(last) >= s.conf().AccountsRefresh {
			s.refreshAccounts(s.accounts)
			last = time.Now()
		}
	}
}

// checkAccount checks a native answer to scramble for user logging in from
// host and returns SHA1(password) (nil for an empty password). A wrong
// password and an unknown user fail alike, with ErrAccessDenied, after the
// accounts were loaded again if they may be stale.
func (s *Server) checkAccount(user, host string, scramble, answer []byte) ([]byte, error) {
	stage1, err := s.matchAccount(user, host, scramble, answer)
	if errors.Is(err, gmserver.ErrAccessDenied) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if s.accounts.RefreshAfterFailure(ctx) {
			stage1, err = s.matchAccount(user, host, scramble, answer)
		}
	}
	return stage1, err
}

func (s *Server) matchAccount(user, host string, scramble, answer []byte) ([]byte, error) {
	empty := len(answer) == 0 || len(answer) == 1 && answer[0] == 0
	denied := gmserver.ErrAccessDenied
	if empty {
		denied = gmserver.ErrAccessDeniedNoPassword
	}
	a, ok := s.accounts.Match(user, host)
	switch {
	case !ok || a.Plugin == "":
		return nil, denied
	case a.Plugin != accounts.NativePlugin:
		return nil, mysql.NewError(mysql.ER_NOT_SUPPORTED_AUTH_MODE, fmt.Sprintf(
			"Client does not support authentication protocol requested by server: '%s'@'%s' uses %s, which needs the password in clear; "+
				"fwdproxy checks the writer's accounts by their mysql_native_password hash only: list the user with --user NAME:PASSWORD",
			user, a.Host, a.Plugin))
	}
	var stage1 []byte
	switch {
	case a.Stage2 == nil && !empty, a.Stage2 != nil && empty:
		return nil, denied
	case a.Stage2 != nil:
		if stage1, ok = accounts.Recover(scramble, answer, a.Stage2); !ok {
			return nil, denied
		}
	}
	if a.Locked {
		code := uint16(4151) // MariaDB's ER_ACCOUNT_HAS_BEEN_LOCKED
		if s.flavor == consistency.MySQL {
			code = 3118
		}
		return nil, mysql.NewError(code, fmt.Sprintf("Access denied for user '%s'@'%s'. Account is locked.", user, host))
	}
	return stage1, nil
}

// authProvider checks the logins GetCredential left to the writer's
// accounts; go-mysql checks the --user ones.
type authProvider struct {
	gmserver.DefaultAuthenticationProvider
	s *Server
}

func (a *authProvider) Authenticate(c *gmserver.Conn, plugin string, data []byte) error {
	h := handlerOf(c)
	if h == nil || !h.fromAccounts {
		return a.DefaultAuthenticationProvider.Authenticate(c, plugin, data)
	}
	// go-mysql switched the client to the credential's plugin, native,
	// before it calls this.
	stage1, err := a.s.checkAccount(c.GetUser(), clientHost(c.RemoteAddr()), scrambleOf(c), data)
	h.stage1 = stage1
	return err
}

// handlerOf is the login handler of a connection in its handshake.
func handlerOf(c *gmserver.Conn) *loginHandler {
	nc := c.Conn.Conn
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	if pc, ok := nc.(*capPatchConn); ok {
		return pc.h
	}
	return nil
}

// scrambleOf is the scramble go-mysql's server sent the client last (the
// greeting's, or an auth switch's). go-mysql keeps it unexported; reading
// it by reflection touches nothing (TestScrambleOf fails if it moves).
func scrambleOf(c *gmserver.Conn) []byte {
	f := reflect.ValueOf(c).Elem().FieldByName("salt")
	if f.Kind() != reflect.Slice {
		return nil
	}
	return f.Bytes()
}

// staleAccount answers a login the proxy accepted and the reader refused
// with 1045: the account changed or went since the last load (or the
// reader has not applied the change yet). The accounts are loaded again
// for the next try; the client gets the 1045 the server would give it.
func (s *Server) staleAccount(user, host string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.accounts.RefreshAfterFailure(ctx)
	return mysql.NewDefaultError(mysql.ER_ACCESS_DENIED_ERROR, user, host, mysql.MySQLErrName[mysql.ER_YES])
}
