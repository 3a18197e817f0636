package pair

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

var tp *Pair

func TestMain(m *testing.M) {
	start := time.Now()
	var err error
	if tp, err = Get(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "pair: writer %s, replica %s, ready in %s (started here: %v)\n",
		tp.WriterAddr, tp.ReaderAddr, time.Since(start).Round(time.Millisecond), tp.started)
	code := m.Run()
	if err := tp.CheckReplicaClean(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		code = 1
	}
	if err := tp.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		code = 1
	}
	os.Exit(code)
}

func TestReplicationOfARow(t *testing.T) {
	const db = "pair_test"
	if err := tp.CreateDatabase(db); err != nil {
		t.Fatal(err)
	}
	w, err := tp.WriterDB(db)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := tp.ReaderDB(db)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	if _, err := w.Exec("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec("INSERT INTO t VALUES (1, 'hello')"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tp.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := r.QueryRow("SELECT v FROM t WHERE id = 1").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != "hello" {
		t.Fatalf("replica has v=%q, want hello", v)
	}

	var ro int
	if err := r.QueryRow("SELECT @@read_only").Scan(&ro); err != nil || ro != 1 {
		t.Fatalf("replica read_only=%d (err %v), want 1", ro, err)
	}
	var id uint32
	if err := r.QueryRow("SELECT @@server_id").Scan(&id); err != nil || id != tp.ReaderServerID {
		t.Fatalf("replica server_id=%d (err %v), want %d", id, err, tp.ReaderServerID)
	}
	var track string
	if err := w.QueryRow("SELECT @@session_track_system_variables").Scan(&track); err != nil {
		t.Fatal(err)
	}
	if want := "autocommit,character_set_client,character_set_connection,character_set_results,time_zone,last_gtid"; track != want {
		t.Fatalf("session_track_system_variables=%q, want %q", track, want)
	}
	if err := tp.CheckReplicaClean(); err != nil {
		t.Fatal(err)
	}
}

func TestRootDB(t *testing.T) {
	for _, addr := range []string{tp.WriterAddr, tp.ReaderAddr} {
		db, err := tp.RootDB(addr)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		var u string
		if err := db.QueryRow("SELECT CURRENT_USER()").Scan(&u); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if u != "root@127.0.0.1" {
			t.Errorf("%s: CURRENT_USER()=%q", addr, u)
		}
	}
}

func TestWaitReplicatedExpiredContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	if err := tp.WaitReplicated(ctx); err == nil {
		t.Fatal("WaitReplicated with an expired context succeeded")
	}
}

func TestOwnGTIDs(t *testing.T) {
	for _, c := range []struct {
		pos  string
		id   uint32
		want []string
	}{
		{"", 2, nil},
		{"0-1-10", 2, nil},
		{"0-1-10", 1, []string{"0-1-10"}},
		{"0-1-5,1-2-3", 2, []string{"1-2-3"}},
		{"0-2-5,1-2-3", 2, []string{"0-2-5", "1-2-3"}},
		{"0-1-5, 1-2-3 ,\n2-12-7", 2, []string{"1-2-3"}},
		{"0-12-5,0-22-5", 2, nil},
		{"0-4294967295-1", 4294967295, []string{"0-4294967295-1"}},
		{"garbage,0-2,0-2-x,x-2-1,0-2-3", 2, []string{"0-2-3"}},
	} {
		if got := ownGTIDs(c.pos, c.id); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ownGTIDs(%q, %d) = %q, want %q", c.pos, c.id, got, c.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load("/nonexistent/pair.env"); err == nil {
		t.Error("Load of a missing file succeeded")
	}
	f := t.TempDir() + "/pair.env"
	if err := os.WriteFile(f, []byte("WRITER_ADDR=127.0.0.1:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(f); err == nil {
		t.Error("Load of an incomplete file succeeded")
	}
}

func TestLoadReplicas(t *testing.T) {
	f := t.TempDir() + "/pair.env"
	env := "WRITER_ADDR=w:1\nREADER_ADDR=r:2\nTEST_USER=u\nROOT_USER=root\n"
	if err := os.WriteFile(f, []byte(env), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Replica{{Name: "replica", Addr: "r:2", ServerID: 2}}; !reflect.DeepEqual(p.Replicas, want) {
		t.Errorf("one replica: %+v, want %+v", p.Replicas, want)
	}
	env += "READER_ADDRS=r:2,r:3\nREADER_SOCKETS=/a,/b\nREADER_SERVER_IDS=2,3\nREPLICA_NAMES=replica,replica2\n"
	if err := os.WriteFile(f, []byte(env), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err = Load(f); err != nil {
		t.Fatal(err)
	}
	want := []Replica{{"replica", "r:2", "/a", 2}, {"replica2", "r:3", "/b", 3}}
	if !reflect.DeepEqual(p.Replicas, want) {
		t.Errorf("two replicas: %+v, want %+v", p.Replicas, want)
	}
}

// TestReplicaVerbs runs pair.sh's per-replica verbs on the last replica of a pair with several
// and checks that CheckReplicaClean sees each state. The shared pair of make test has one
// replica, so the test then starts a private pair with two.
func TestReplicaVerbs(t *testing.T) {
	tp := tp
	if len(tp.Replicas) < 2 {
		var err error
		if tp, err = NewN(2); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := tp.Stop(); err != nil {
				t.Error(err)
			}
		}()
	}
	last := tp.Replicas[len(tp.Replicas)-1]
	ctx := context.Background()
	for _, step := range []struct{ verb, clean string }{
		{"pause", "Slave_IO_Running"}, {"resume", ""},
		{"kill", last.Addr}, {"revive", ""},
		{"halt", last.Addr}, {"revive", ""},
	} {
		if err := tp.Script(step.verb, last.Name); err != nil {
			t.Fatal(err)
		}
		err := tp.CheckReplicaClean()
		if step.clean == "" {
			if err := tp.WaitReplicated(ctx); err != nil {
				t.Fatalf("after %s: %v", step.verb, err)
			}
			if err := tp.CheckReplicaClean(); err != nil {
				t.Fatalf("after %s: %v", step.verb, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), step.clean) {
			t.Fatalf("after %s: CheckReplicaClean = %v, want an error naming %s", step.verb, err, step.clean)
		}
	}
}

func TestCreateTables(t *testing.T) {
	const db = "pair_tables"
	if err := tp.CreateTables(db, "CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	r, err := tp.ReaderDB(db)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var n int
	if err := r.QueryRow("SELECT COUNT(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("replica has %d rows, want 2", n)
	}
}
