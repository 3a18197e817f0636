package lint

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// A MariaDB general log (whole seconds, the time left out on later lines
// of the same second): session 5 writes and reads back, session 6 only
// reads.
const mariadbExposureLog = "/usr/sbin/mariadbd, Version: 10.11.6-MariaDB-log (Debian 12). started with:\n" +
	"Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\n" +
	"Time\t\t    Id Command\tArgument\n" +
	"241204  9:40:33\t     5 Connect\tfwd@localhost on shop using TCP/IP\n" +
	"\t\t     5 Query\tSELECT status FROM orders WHERE id = 1\n" + // before any write: safe
	"\t\t     5 Query\tINSERT INTO orders (customer) VALUES ('a')\n" +
	"\t\t     5 Query\tSELECT status FROM orders WHERE id = 2\n" + // same second: exposed
	"\t\t     6 Connect\tfwd@localhost on shop using TCP/IP\n" +
	"\t\t     6 Query\tSELECT COUNT(*) FROM orders\n" + // another session: safe
	"241204  9:40:35\t     5 Query\tSELECT name FROM items WHERE id = 1\n" + // another table: safe
	"\t\t     5 Query\tSELECT customer FROM orders WHERE id = 2\n" + // 2 s later: exposed at a lag over 1 s
	"\t\t     5 Query\tBEGIN\n" +
	"\t\t     5 Query\tUPDATE items SET stock = stock - 1 WHERE id = 1\n" +
	"\t\t     5 Query\tSELECT stock FROM items WHERE id = 1\n" + // in the writing transaction: exposed
	"\t\t     5 Query\tCOMMIT\n"

// The same shape from MySQL 8, with microseconds.
const mysqlExposureLog = "2024-03-01T10:00:00.100000Z\t    7 Connect\tfwd@localhost on shop using TCP/IP\n" +
	"2024-03-01T10:00:00.100000Z\t    7 Query\tINSERT INTO orders (customer) VALUES ('a')\n" +
	"2024-03-01T10:00:00.400000Z\t    7 Query\tSELECT status FROM orders WHERE id = 2\n" + // 300 ms later
	"2024-03-01T10:00:00.900000Z\t    7 Query\tSELECT customer FROM orders WHERE id = 2\n" // 800 ms later

func TestExposureFromGeneralLog(t *testing.T) {
	d := func(q string) string { return sqlclass.Digest(q, sqlclass.Options{}) }
	type want struct {
		exposed, inTx uint64
		waitMS        float64
	}
	for _, tc := range []struct {
		name, log string
		lag       time.Duration
		want      map[string]want // read digests; absent: safe
		reads     int             // read digests in the report
	}{
		{"MariaDB, lag 500ms", mariadbExposureLog, 500 * time.Millisecond, map[string]want{
			d("SELECT status FROM orders WHERE id = 1"): {exposed: 1, waitMS: 500},
			d("SELECT stock FROM items WHERE id = 1"):   {exposed: 1, inTx: 1},
		}, 5},
		// Two seconds on the log's clock, so at least one in fact: 5 s of
		// lag leaves up to 4 s to wait.
		{"MariaDB, lag 5s", mariadbExposureLog, 5 * time.Second, map[string]want{
			d("SELECT status FROM orders WHERE id = 1"):   {exposed: 1, waitMS: 5000},
			d("SELECT customer FROM orders WHERE id = 2"): {exposed: 1, waitMS: 4000},
			d("SELECT stock FROM items WHERE id = 1"):     {exposed: 1, inTx: 1},
		}, 5},
		{"MariaDB, lag 0", mariadbExposureLog, 0, map[string]want{
			d("SELECT stock FROM items WHERE id = 1"): {exposed: 1, inTx: 1},
		}, 5},
		{"MySQL, lag 500ms", mysqlExposureLog, 500 * time.Millisecond, map[string]want{
			d("SELECT status FROM orders WHERE id = 1"): {exposed: 1, waitMS: 200.001}, // the log's microsecond
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := NewExposure(Config{}, tc.lag)
			if err := e.Add("general.log", strings.NewReader(tc.log)); err != nil {
				t.Fatal(err)
			}
			rep := e.Report()
			if len(rep.Reads) != tc.reads {
				t.Errorf("%d read digests, want %d: %+v", len(rep.Reads), tc.reads, rep.Reads)
			}
			for _, r := range rep.Reads {
				w, exposed := tc.want[r.Digest]
				needs := map[bool]string{true: "SESSION", false: "EVENTUAL"}[exposed]
				if r.Exposed != w.exposed || r.InTransaction != w.inTx || r.MaxWaitMS != w.waitMS || r.Needs != needs {
					t.Errorf("%s: %+v, want %+v, needs %s", r.Digest, r, w, needs)
				}
			}
		})
	}
}

func TestExposureNeedsTimes(t *testing.T) {
	for _, in := range []string{
		"INSERT INTO orders VALUES (1);\nSELECT * FROM orders;\n",                                   // SQL
		"\t\t     5 Query\tINSERT INTO orders VALUES (1)\n\t\t     5 Query\tSELECT * FROM orders\n", // no timestamps
	} {
		e := NewExposure(Config{}, time.Second)
		if err := e.Add("in", strings.NewReader(in)); !errors.Is(err, ErrNoTimes) {
			t.Errorf("%q: %v, want ErrNoTimes", in, err)
		}
		if r := e.Report(); len(r.Reads) != 0 {
			t.Errorf("%q: report %+v, want empty", in, r)
		}
	}
}
