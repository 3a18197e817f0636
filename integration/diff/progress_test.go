package diff

import (
	"bytes"
	"fmt"
	"testing"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
)

// A MariaDB client that asks for progress reports gets them through the
// proxy as from the reader: a LOAD DATA LOCAL into a temporary table has
// one ("End bulk insert", stage 2 of 2, at MariaDB's default
// progress_report_time, however small the file), then the same OK, and
// the connection stays in step, compressed too. A client that did not ask
// gets none: the proxy asks its backend connections only for clients that
// do.
func TestProgressReports(t *testing.T) {
	h := newHarness(t)
	var file []byte
	for i := 0; i < 1000; i++ {
		file = append(file, fmt.Sprintf("%d,v%d\n", i, i)...)
	}
	load := func(addr string, ext, caps uint32) (*rawClient, [][]byte, fields) {
		c, err := dialRaw(dialOptions{addr: addr, user: thePair.User, password: thePair.Password, db: testDB,
			caps: baseCaps&^gmysql.CLIENT_LONG_PASSWORD | caps, ext: ext, charset: 45})
		if err != nil {
			t.Fatalf("connect %s: %v", addr, err)
		}
		t.Cleanup(c.close)
		if c.ext != ext || c.caps&caps != caps {
			t.Fatalf("%s: extended capabilities %#x, flags %s; asked for %#x, %s", addr, c.ext, capsString(c.caps), ext, capsString(caps))
		}
		exchange(t, c, "CREATE TEMPORARY TABLE tprog (id INT PRIMARY KEY, v VARCHAR(20))")
		if err := c.command(append([]byte{gmysql.COM_QUERY}, "LOAD DATA LOCAL INFILE 'p.csv' INTO TABLE tprog FIELDS TERMINATED BY ','"...)); err != nil {
			t.Fatal(err)
		}
		f, err := c.readResponse(textResult, file)
		if err != nil {
			t.Fatalf("%s: LOAD DATA LOCAL: %v (read: %v)", addr, err, hexLines(c.got))
		}
		return c, c.progress, f
	}
	for _, v := range []struct{ ext, caps uint32 }{{extProgress, 0}, {extProgress, gmysql.CLIENT_COMPRESS}, {0, 0}} {
		ext := v.ext
		_, wantProgress, want := load(thePair.ReaderAddr, ext, v.caps)
		c, gotProgress, got := load(h.proxyAddr, ext, v.caps)
		if ext != 0 && len(wantProgress) == 0 {
			t.Fatalf("the reader sent no progress report before the answer to LOAD DATA LOCAL: %v", want)
		}
		if value(want, "r0.ok.affected_rows") != "1000" {
			t.Fatalf("the reader's answer to LOAD DATA LOCAL of 1000 rows (extended caps %#x, flags %#x): %v", ext, v.caps, want)
		}
		if !bytes.Equal(bytes.Join(gotProgress, []byte{'|'}), bytes.Join(wantProgress, []byte{'|'})) {
			t.Errorf("extended caps %#x, flags %#x: progress reports through the proxy\n %v\nfrom the reader\n %v",
				ext, v.caps, hexLines(gotProgress), hexLines(wantProgress))
		}
		if d := compare(want, got); len(d) > 0 {
			t.Errorf("extended caps %#x, flags %#x: LOAD DATA LOCAL: proxy and reader differ: %v\n reader %v\n proxy  %v", ext, v.caps, d, want, got)
		}
		if n := c.scalar(t, "SELECT COUNT(*) FROM tprog"); n != `"1000"` {
			t.Errorf("extended caps %#x, flags %#x: the temporary table has %s rows through the proxy, want 1000", ext, v.caps, n)
		}
	}
}
