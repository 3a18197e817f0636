//go:build capture

// Records raw OK packets from a live server so the byte vectors in
// owngtid_test.go can be refreshed. Not part of the normal test run:
//
//	FWD_CAPTURE_ADDR=127.0.0.1:3306 go test -tags capture -run TestCaptureOK -v ./consistency/
package consistency

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

func TestCaptureOK(t *testing.T) {
	addr := os.Getenv("FWD_CAPTURE_ADDR")
	if addr == "" {
		t.Skip("FWD_CAPTURE_ADDR not set")
	}
	c, err := client.Connect(addr, "root", "", "", func(c *client.Conn) error {
		return c.SetCapability(mysql.CLIENT_SESSION_TRACK)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.HasCapability(mysql.CLIENT_SESSION_TRACK) {
		t.Fatal("server did not grant CLIENT_SESSION_TRACK")
	}
	f := DetectFlavor(c.GetServerVersion())
	t.Logf("server %q flavour %s", c.GetServerVersion(), f.Name())
	for _, q := range f.TrackingSetupSQL() {
		if _, err := c.Execute(q); err != nil {
			t.Fatal(q, err)
		}
	}
	// Raw COM_QUERY so the OK payload reaches us unparsed.
	raw := func(q string) []byte {
		c.ResetSequence()
		if err := c.WritePacket(append([]byte{0, 0, 0, 0, mysql.COM_QUERY}, q...)); err != nil {
			t.Fatal(err)
		}
		p, err := c.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		return append([]byte(nil), p...)
	}
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS fwdcap",
		"CREATE TABLE IF NOT EXISTS fwdcap.t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)",
		"INSERT INTO fwdcap.t (v) VALUES (1)",
		"BEGIN",
		"INSERT INTO fwdcap.t (v) VALUES (2)",
		"COMMIT",
		"DO 1",
		"UPDATE fwdcap.t SET v = v WHERE id = -1",
		"SET autocommit = 0",
		"INSERT INTO fwdcap.t (v) VALUES (3)",
		"SET autocommit = 1", // implicit commit plus a tracked variable
		"SET gtid_domain_id = 5",
		"INSERT INTO fwdcap.t (v) VALUES (4)",
		"BEGIN",
		"INSERT INTO fwdcap.t (v) VALUES (5)",
		"ROLLBACK",
		"CREATE TEMPORARY TABLE fwdcap.tmp (a INT)",
		"INSERT INTO fwdcap.tmp VALUES (1)",
	} {
		p := raw(q)
		st, ok := sessionState(p)
		own, gok := f.OwnGTID(st)
		fmt.Printf("%-75s ok=%v own=%v/%v\n  %#v\n", q, ok, own, gok, p)
	}

	// The generated SQL must run as is and its values must parse.
	one := func(q string) (string, bool) {
		r, err := c.Execute(q)
		if err != nil {
			t.Fatal(q, err)
		}
		isNull, _ := r.IsNull(0, 0)
		v, _ := r.GetString(0, 0)
		return v, isNull
	}
	wpos, _ := one(f.WriterPositionSQL())
	rpos, _ := one(f.ReaderPositionSQL())
	ws, err := f.ParseSet(wpos)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := f.ParseSet(rpos)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("writer %q -> %v, reader %q -> %v\n", wpos, ws, rpos, rs)
	for _, s := range []Set{rs, ws} {
		q := f.WaitSQL(s, 50*time.Millisecond)
		v, isNull := one(q)
		done, err := f.WaitDone(v, isNull)
		fmt.Printf("%s -> %q null=%v done=%v err=%v\n", q, v, isNull, done, err)
	}
}
