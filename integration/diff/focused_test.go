package diff

// One test per fixed difference, each failing on the code before its fix.

import (
	"bytes"
	"testing"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
)

// exchange sends one COM_QUERY on c, reads the whole answer and returns
// its first packet.
func exchange(t *testing.T, c *rawClient, sql string) []byte {
	t.Helper()
	if err := c.command(append([]byte{gmysql.COM_QUERY}, sql...)); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if _, err := c.readResponse(textResult, nil); err != nil {
		t.Fatalf("%s: %v (read: %v)", sql, err, hexLines(c.got))
	}
	return c.got[0]
}

func rawDial(t *testing.T, addr string, caps uint32) *rawClient {
	t.Helper()
	c, err := dialRaw(dialOptions{addr: addr, user: thePair.User, password: thePair.Password, db: testDB, caps: caps, charset: 45})
	if err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
	t.Cleanup(c.close)
	return c
}

// The greeting and the handshake's OK announce autocommit, and the
// default collation, as the reader's do: PyMySQL and mysqlclient skip
// their SET autocommit=0 when the greeting says autocommit is off, and
// then rollback() does nothing. The OK carries the schema as MariaDB's
// does for a client with CLIENT_SESSION_TRACK.
func TestHandshakeSaysWhatTheReaderSays(t *testing.T) {
	h := newHarness(t)
	for _, caps := range []uint32{baseCaps, baseCaps | gmysql.CLIENT_SESSION_TRACK} {
		r := rawDial(t, thePair.ReaderAddr, caps)
		p := rawDial(t, h.proxyAddr, caps)
		if r.greet.status != gmysql.SERVER_STATUS_AUTOCOMMIT {
			t.Fatalf("the reader's greeting says status %s; this test expects MariaDB's default", statusString(r.greet.status))
		}
		if p.greet.status != r.greet.status {
			t.Errorf("greeting status: proxy %s, reader %s", statusString(p.greet.status), statusString(r.greet.status))
		}
		if p.greet.charset != r.greet.charset {
			t.Errorf("greeting collation: proxy %d, reader %d", p.greet.charset, r.greet.charset)
		}
		// The OK whole: status, and the schema in a session-state block
		// for a client that tracks it.
		if !bytes.Equal(p.authOK, r.authOK) {
			t.Errorf("handshake OK (caps %s):\n proxy  % x\n reader % x", capsString(caps), p.authOK, r.authOK)
		}
	}
}

// A forwarded UPDATE's OK reaches a client without CLIENT_SESSION_TRACK
// byte for byte as the writer sends it, info length-prefixed (PHP mysqlnd
// lost the connection on the unprefixed form), and the connection goes on.
func TestForwardedOKForPlainClients(t *testing.T) {
	h := newHarness(t)
	setup := []string{"DROP TABLE IF EXISTS okinfo", "CREATE TABLE okinfo (id INT PRIMARY KEY, v INT)",
		"INSERT INTO okinfo VALUES (1, 1), (2, 2), (3, 3)"}
	for _, q := range []string{
		"UPDATE okinfo SET v = 2 WHERE id <= 2",
		"INSERT INTO okinfo VALUES (1, 9), (4, 4) ON DUPLICATE KEY UPDATE v = VALUES(v)",
		"INSERT INTO okinfo VALUES (5, 5), (6, 6)",
		"DELETE FROM okinfo WHERE id = 3",
	} {
		h.execAll(t, setup)
		want := exchange(t, rawDial(t, thePair.WriterAddr, baseCaps), q)
		h.execAll(t, setup)
		c := rawDial(t, h.proxyAddr, baseCaps)
		if got := exchange(t, c, q); !bytes.Equal(got, want) {
			t.Errorf("%s:\n proxy  % x\n writer % x", q, got, want)
		}
		if got := exchange(t, c, "SELECT 1"); got[0] != 1 {
			t.Errorf("after %s the connection is out of step: % x", q, got)
		}
	}
}

// CLIENT_FOUND_ROWS reaches the backends, so an UPDATE reports the rows it
// matched, not only those it changed (Connector/J asks for it by default).
func TestFoundRowsReachesTheWriter(t *testing.T) {
	h := newHarness(t)
	h.execAll(t, []string{"DROP TABLE IF EXISTS found", "CREATE TABLE found (id INT PRIMARY KEY, v INT)",
		"INSERT INTO found VALUES (1, 1), (2, 2)"})
	c := rawDial(t, h.proxyAddr, baseCaps|gmysql.CLIENT_FOUND_ROWS)
	if c.caps&gmysql.CLIENT_FOUND_ROWS == 0 {
		t.Fatal("the proxy does not offer CLIENT_FOUND_ROWS")
	}
	var f fields
	decodeOK(&f, "", exchange(t, c, "UPDATE found SET v = 2"), c.caps)
	if got := value(f, "affected_rows"); got != "2" {
		t.Fatalf("affected rows %s, want 2 (matched): %v", got, f)
	}
}
