package proxy

import (
	"bytes"
	"errors"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	gmserver "github.com/go-mysql-org/go-mysql/server"

	"github.com/fwdproxy/fwdproxy/accounts"
	"github.com/fwdproxy/fwdproxy/faults"
	"github.com/fwdproxy/fwdproxy/metrics"
	"github.com/fwdproxy/fwdproxy/route"
)

// resetState forgets everything the client set on its session but the
// current database, which COM_RESET_CONNECTION keeps (COM_CHANGE_USER
// names its own).
func (s *session) resetState() {
	lvl, _ := parseConsistency(s.srv.conf().DefaultConsistency)
	s.setLevel(lvl)
	s.state = route.Session{DB: s.state.DB}
	if s.reader != nil {
		s.reader.dropAhead()
	}
	s.textStmts = map[string]textPrepared{}
	s.stmts, s.lastStmtID = map[uint32]*prepared{}, 0
	s.writerVars, s.writerSent = nil, 0
	s.ownGTIDs = nil
	s.setScope(s.defaultScope()) // the user's set stays with the server
	s.trackToken = false
	s.inject = faults.Session{}
	s.lastWarn = nil
}

// comResetConnection resets the proxy's state and both backends: the writer
// connection is dropped (a new one starts clean), the reader is reset.
func (s *session) comResetConnection() error {
	s.dropWriter()
	s.resetState()
	if _, err := s.reader.execCommand([]byte{comResetConnection}); err != nil {
		if se, ok := err.(*sqlError); ok {
			return s.writeErr(se, false)
		}
		return s.backendFailed(s.reader, err)
	}
	if _, err := s.reader.exec("SET SESSION " + s.srv.dialect.readOnlyVar + " = 1"); err != nil {
		return s.backendFailed(s.reader, err)
	}
	s.noteStatus(s.reader)
	return s.writeOK(okPacket{}, false)
}

// comChangeUser re-authenticates the client (mysql_native_password through an
// auth switch with a fresh scramble) and starts a clean session as that user.
// As in MariaDB, a connection has changeUserTries failures; later attempts
// get 1047 without a password check. Failures count against the client's
// address too.
func (s *session) comChangeUser(data []byte) error {
	if s.changeUserFails >= changeUserTries {
		s.srv.Metrics.Limited(metrics.LimitChangeUser)
		time.Sleep(time.Duration(changeUserPause.Load()))
		return s.writeErr(newError(mysql.ER_UNKNOWN_COM_ERROR, "Unknown command"), false)
	}
	rest := data[1:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		return s.writeErr(newError(mysql.ER_HANDSHAKE_ERROR, "Bad handshake"), false)
	}
	user := string(rest[:i])
	rest = rest[i+1:]
	if len(rest) > 0 { // auth response: 1-byte length, then data
		n := int(rest[0])
		if 1+n > len(rest) {
			return s.writeErr(newError(mysql.ER_HANDSHAKE_ERROR, "Bad handshake"), false)
		}
		rest = rest[1+n:]
	}
	db := ""
	if j := bytes.IndexByte(rest, 0); j >= 0 {
		db = string(rest[:j])
	}
	// Ask for a scramble of a fresh salt: the handshake's salt is go-mysql's.
	salt := mysql.RandomBuf(20)
	sw := append([]byte{0xfe}, mysql.AUTH_NATIVE_PASSWORD...)
	sw = append(sw, 0)
	sw = append(sw, salt...)
	sw = append(sw, 0)
	if err := s.writePacket(sw); err != nil {
		return err
	}
	if err := s.client.Flush(); err != nil {
		return err
	}
	reply, err := s.client.ReadPacket(1 << 16)
	if err != nil {
		return err
	}
	pass, stage1, refused := s.srv.checkChangeUser(user, s.host, salt, reply)
	if refused != nil {
		s.changeUserFails++
		s.srv.loginFailed(s.host, false)
		time.Sleep(time.Duration(changeUserPause.Load()))
		s.srv.logLoginFailed(s.client.NetConn().RemoteAddr().String(), user, refused)
		return s.writeErr(refused, false)
	}
	s.srv.hosts.succeeded(s.host)
	s.closeBackends()
	s.resetState()
	s.user, s.password, s.stage1 = user, pass, stage1
	s.state.Apply(route.UseDB, route.Fact{DB: db})
	if err := s.openReader(); err != nil {
		if se, ok := asSQLError(err); ok {
			_ = s.writeErr(se, false)
		}
		_ = s.client.Flush()
		return err
	}
	return s.writeOK(okPacket{}, false)
}

// checkChangeUser checks the answer of COM_CHANGE_USER to user: against
// the --user password, or the writer's accounts. It returns the password
// or SHA1(password) to log in to the backends with, or the error.
func (s *Server) checkChangeUser(user, host string, salt, reply []byte) (string, []byte, *sqlError) {
	pass, static := s.conf().Users[user]
	var err error
	var stage1 []byte
	switch {
	case static:
		if !checkNative(reply, salt, pass) {
			err = gmserver.ErrAccessDenied
		}
	case s.accounts != nil:
		stage1, err = s.checkAccount(user, host, salt, reply)
	default:
		err = gmserver.ErrAccessDenied
	}
	if err == nil {
		return pass, stage1, nil
	}
	var me *mysql.MyError
	if errors.As(err, &me) {
		return "", nil, &sqlError{code: me.Code, state: me.State, msg: me.Message}
	}
	using := "YES"
	if len(reply) == 0 {
		using = "NO"
	}
	return "", nil, newError(mysql.ER_ACCESS_DENIED_ERROR, "Access denied for user '%s'@'%s' (using password: %s)", user, host, using)
}

// checkNative verifies a mysql_native_password scramble.
func checkNative(reply, salt []byte, password string) bool {
	if password == "" {
		return len(reply) == 0
	}
	_, ok := accounts.Recover(salt, reply, accounts.Stage2(password))
	return ok
}
