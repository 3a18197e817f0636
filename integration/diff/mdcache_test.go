package diff

import (
	"fmt"
	"strings"
	"testing"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
)

// A client with MARIADB_CLIENT_CACHE_METADATA (MariaDB Connector/J 3, the
// npm mariadb connector) gets what the reader gives it: the
// metadata-follows byte after every column count, 0 and no column
// definitions when an execute's columns are those of the statement's
// prepare or last execute, 1 and the new ones after an ALTER TABLE changed
// them (and for a cursor, whose column flags differ), 1 in every text
// result, an SQL EXECUTE's too. The proxy asks its backends without the
// capability and decides the byte itself.
func TestMetadataCache(t *testing.T) {
	h := newHarness(t)
	setup := []string{"DROP TABLE IF EXISTS mdcache", "CREATE TABLE mdcache (id INT PRIMARY KEY, v VARCHAR(10))",
		"INSERT INTO mdcache VALUES (1, 'a'), (2, 'b')"}
	ids := []param{{typ: gmysql.MYSQL_TYPE_LONG, value: le(4, 1)}}
	steps := []step{
		{prepare: "SELECT * FROM mdcache WHERE id >= ?"},
		{exec: true, execute: ids},
		{exec: true, execute: ids},
		{query: "ALTER TABLE mdcache ADD COLUMN w INT NOT NULL DEFAULT 7"}, // on the writer (run)
		{exec: true, execute: ids},
		{exec: true, execute: ids},
		{exec: true, execute: ids, cursor: true},
		{fetch: 10},
		{query: "SELECT * FROM mdcache"},
		{query: "PREPARE s FROM 'SELECT * FROM mdcache'"},
		{query: "EXECUTE s"},
		{query: "EXECUTE s"},
	}
	run := func(addr string, caps uint32) fields {
		h.execAll(t, setup)
		c, err := dialRaw(dialOptions{addr: addr, user: thePair.User, password: thePair.Password, db: testDB,
			caps: caps, ext: extCacheMetadata, charset: 45})
		if err != nil {
			t.Fatalf("connect %s: %v", addr, err)
		}
		defer c.close()
		if c.ext != extCacheMetadata {
			t.Fatalf("%s offers no MARIADB_CLIENT_CACHE_METADATA (extended capabilities %#x)", addr, c.ext)
		}
		var out fields
		var stmt uint32
		for i, s := range steps {
			if strings.HasPrefix(s.query, "ALTER") {
				h.execAll(t, []string{s.query})
				continue
			}
			payload, kind := s.payload(stmt)
			if err := c.command(payload); err != nil {
				t.Fatal(err)
			}
			f, err := c.readResponse(kind, nil)
			if err != nil {
				t.Fatalf("%s: step %d (%s): %v\n%v", addr, i, s, err, hexLines(c.got))
			}
			if kind == prepareOK {
				stmt = f.statementID()
			}
			for _, x := range f {
				if x.name != "prepare.statement_id" { // the proxy's own
					out.add(fmt.Sprintf("s%d.%s", i, x.name), "%s", x.value)
				}
			}
		}
		return out
	}
	for _, caps := range []uint32{baseCaps, baseCaps | gmysql.CLIENT_DEPRECATE_EOF} {
		caps &^= gmysql.CLIENT_LONG_PASSWORD // a MariaDB client: extended capabilities count
		want := run(thePair.ReaderAddr, caps)
		for name, v := range map[string]string{"s1.r0.metadata_follows": "0", "s2.r0.metadata_follows": "0",
			"s4.r0.metadata_follows": "1", "s5.r0.metadata_follows": "0", "s8.r0.metadata_follows": "1",
			"s11.r0.metadata_follows": "1"} {
			if got := value(want, name); got != v {
				t.Fatalf("the reader's %s is %s; this test expects %s: %v", name, got, v, want)
			}
		}
		got := run(h.proxyAddr, caps)
		for _, d := range compare(want, got) {
			t.Errorf("caps %s: %s: reader %s, proxy %s", capsString(caps), d.name, d.direct, d.proxy)
		}
	}
}
