package proxy

import (
	"net"
	"time"
)

// SetChangeUserPause sets the pause after a failed COM_CHANGE_USER for a
// test, and returns the function that restores it.
func SetChangeUserPause(d time.Duration) (restore func()) {
	old := changeUserPause.Swap(int64(d))
	return func() { changeUserPause.Store(old) }
}

// SetStrayEvery sets how often srv looks for readers' own GTIDs (0: never),
// before Serve.
func SetStrayEvery(srv *Server, d time.Duration) { srv.strayEvery = d }

// SetInstanceCountEvery sets how often srv counts the instances on the
// writer without --shared-writer-limits (0: never), before Serve.
func SetInstanceCountEvery(srv *Server, d time.Duration) { srv.fwdSwitch.countEvery = d }

// SetWatchOneReader turns off (or on) the /status watch of a single
// --reader: its statements are ones nobody scripted.
func SetWatchOneReader(srv *Server, on bool) { srv.watchOne = on }

// WithMariaDBExt makes go-mysql's client, dialled through it, ask for
// MariaDB's extended capabilities ext, as the proxy asks its backends.
func WithMariaDBExt(c net.Conn, ext uint32) net.Conn { return &capsAdder{Conn: c, ext: ext} }
