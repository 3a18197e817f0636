package integration

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/integration/pair/pairproxy"
	"github.com/fwdproxy/fwdproxy/proxy"
)

// The database every test in this package works in, on the shared pair.
const testDB = "fwdit"

var thePair *pair.Pair

func TestMain(m *testing.M) {
	p, err := pair.Get()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: cannot start the MariaDB pair:", err)
		os.Exit(1)
	}
	thePair = p
	code := 1
	if err := p.CreateDatabase(testDB); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
	} else {
		code = m.Run()
	}
	// No statement that can change data reached the replica: checked
	// after everything ran.
	if err := p.CheckReplicaClean(); err != nil {
		fmt.Fprintln(os.Stderr, "integration: replica is not clean:", err)
		code = 1
	}
	_ = p.Stop()
	os.Exit(code)
}

// startProxy runs a proxy in this process in front of the pair, with the
// pair's privileged user, and stops it when the test ends.
func startProxy(t testing.TB, mutate func(*proxy.Config)) string {
	t.Helper()
	_, addr := startServer(t, mutate)
	return addr
}

// startServer is startProxy that also returns the server, for tests that
// flip its switches.
func startServer(t testing.TB, mutate func(*proxy.Config)) (*proxy.Server, string) {
	t.Helper()
	return pairproxy.Start(t, thePair, pairproxy.Configure(mutate), pairproxy.CheckClean())
}

// conn opens one client connection through the proxy (database/sql pinned
// to a single connection, so session state holds).
func conn(t testing.TB, addr string, params string) *sql.Conn {
	t.Helper()
	dsn := pair.DSN(addr, thePair.User, thePair.Password, testDB)
	if params != "" {
		dsn += "&" + params
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatalf("connect through proxy: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// writerDB and readerDB talk to the servers directly, to check effects.
func writerDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := thePair.WriterDB(testDB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func readerDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := thePair.ReaderDB(testDB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// scratchDatabase creates (or empties) database name on the writer, waits
// for the replica, and drops it when the test ends.
func scratchDatabase(t testing.TB, name string) {
	t.Helper()
	if err := thePair.CreateDatabase(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if root, err := thePair.RootDB(thePair.WriterAddr); err == nil {
			_, _ = root.Exec("DROP DATABASE IF EXISTS " + name)
			root.Close()
		}
	})
}

func waitReplicated(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := thePair.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
}
