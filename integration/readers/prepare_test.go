package readers

import (
	"context"
	"errors"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/proxy"
)

// TestReaderLostBeforePrepare: the session's reader goes away (its server killed, or shut
// down) between the session's first read and a COM_STMT_PREPARE. With nothing held on the lost
// reader the session moves and the statement is prepared on the new reader, the client seeing
// no error; with a user variable (its value died with the reader) the PREPARE gets the
// lost-reader error, and in a transaction the terminated error (SPEC §9). The connection stays
// usable in every case.
func TestReaderLostBeforePrepare(t *testing.T) {
	r1, r2 := thePair.Replicas[0], thePair.Replicas[1]
	for _, c := range []struct {
		name, lose string
		setup      []string
		wantErr    uint16 // 0: the PREPARE succeeds
		wantMsg    string
	}{
		{"nothing held, server killed", "kill", nil, 0, ""},
		{"nothing held, server shut down", "halt", nil, 0, ""},
		{"a user variable", "kill", []string{"SET @x = 5"}, 1158, "Lost connection to reader during query"},
		{"a read transaction", "kill", []string{"BEGIN", "SELECT 1"}, 1105, msgTerminated},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Cleanup(func() { _ = thePair.Script("revive", r1.Name) })
			srv, addr := startProxy(t, func(cfg *proxy.Config) { cfg.Readers = []string{r1.Addr, r2.Addr} })
			ctx := context.Background()
			conn := sessionOn(t, openDB(t, addr), r1.ServerID) // the first read
			for _, q := range append([]string{"SET SESSION group_concat_max_len = 4321"}, c.setup...) {
				_, err := conn.ExecContext(ctx, q)
				must(t, err)
			}
			must(t, thePair.Script(c.lose, r1.Name))
			stmt, err := conn.PrepareContext(ctx, "SELECT ? + 1, @@server_id, @@SESSION.group_concat_max_len")
			var me *mysql.MySQLError
			switch {
			case c.wantErr == 0 && err != nil:
				t.Fatalf("PREPARE after the reader was lost: %v", err)
			case c.wantErr != 0 && !(errors.As(err, &me) && me.Number == c.wantErr && me.Message == c.wantMsg):
				t.Fatalf("PREPARE after the reader was lost: %v; want %d %q", err, c.wantErr, c.wantMsg)
			case c.wantErr != 0:
				_, _ = conn.ExecContext(ctx, "ROLLBACK") // the client's answer to the terminated error
				stmt, err = conn.PrepareContext(ctx, "SELECT ? + 1, @@server_id, @@SESSION.group_concat_max_len")
				must(t, err) // the connection stays usable
			}
			defer stmt.Close()
			var v, gcml int
			var id uint32
			must(t, stmt.QueryRowContext(ctx, 41).Scan(&v, &id, &gcml))
			if v != 42 || id != r2.ServerID || gcml != 4321 {
				t.Errorf("prepared statement after the move: %d from server %d with group_concat_max_len %d; want 42 from %d with 4321", v, id, gcml, r2.ServerID)
			}
			t.Logf("%v; readers %+v", err, srv.Status().Readers)
			must(t, thePair.Script("revive", r1.Name))
			pair.WaitUntil(t, "state of "+r1.Name, "up", func() string { return readerState(srv, r1.Addr) })
		})
	}
}
