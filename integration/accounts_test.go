package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/fwdproxy/fwdproxy/doctor"
	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/proxy"
)

// --accounts writer against real accounts: the users below are in no
// --user list; the proxy knows them from the writer only.

// rootExec runs statements as root on the writer.
func rootExec(t *testing.T, stmts ...string) {
	t.Helper()
	root, err := thePair.RootDB(thePair.WriterAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	c, err := root.Conn(context.Background()) // one session: SET SESSION holds
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, s := range stmts {
		if _, err := c.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// loginAs connects through the proxy as user and runs a query, returning
// its one value or the error of the login.
func loginAs(addr, user, password, query string) (string, error) {
	db, err := sql.Open("mysql", pair.DSN(addr, user, password, testDB))
	if err != nil {
		return "", err
	}
	defer db.Close()
	var v string
	err = db.QueryRow(query).Scan(&v)
	return v, err
}

// wantLoginError checks the login fails with code, and with the text
// MariaDB gives when want is not "".
func wantLoginError(t *testing.T, addr, user, password string, code uint16, want string) {
	t.Helper()
	_, err := loginAs(addr, user, password, "SELECT 1")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != code || want != "" && me.Message != want {
		t.Fatalf("login as %s/%s: %v; want error %d %q", user, password, err, code, want)
	}
}

// waitLogin polls until user logs in: a change on the writer reaches the
// proxy at the next load, which a failed login asks for at most once a
// second, and the reader checks the password too once it applied it.
func waitLogin(t *testing.T, addr, user, password string) {
	t.Helper()
	pair.WaitUntil(t, "login as "+user, "ok", func() string {
		if _, err := loginAs(addr, user, password, "SELECT 1"); err != nil {
			return err.Error()
		}
		return "ok"
	})
}

func accountsProxy(t *testing.T, mutate func(*proxy.Config)) string {
	return startProxy(t, func(c *proxy.Config) {
		c.Accounts = "writer"
		c.AccountsRefresh = time.Hour // only the loads a login asks for
		if mutate != nil {
			mutate(c)
		}
	})
}

func TestAccountsFromWriter(t *testing.T) {
	t.Cleanup(func() {
		rootExec(t, "DROP USER IF EXISTS 'acct_app'@'%'", "DROP TABLE IF EXISTS "+testDB+".acct_rows")
	})
	rootExec(t,
		"DROP USER IF EXISTS 'acct_app'@'%'",
		"CREATE USER 'acct_app'@'%' IDENTIFIED BY 'pw-one'",
		"GRANT SELECT, INSERT ON "+testDB+".* TO 'acct_app'@'%'",
		"CREATE OR REPLACE TABLE "+testDB+".acct_rows (id INT PRIMARY KEY)")
	waitReplicated(t)
	addr := accountsProxy(t, nil)

	t.Run("reads and forwarded writes", func(t *testing.T) {
		db, err := sql.Open("mysql", pair.DSN(addr, "acct_app", "pw-one", testDB))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		var who string
		var server uint32
		if err := db.QueryRow("SELECT CURRENT_USER(), @@server_id").Scan(&who, &server); err != nil {
			t.Fatal(err)
		}
		if who != "acct_app@%" || server != thePair.ReaderServerID {
			t.Fatalf("logged in as %s on server %d; want acct_app@%% on the reader (%d)", who, server, thePair.ReaderServerID)
		}
		for _, q := range []string{"SET aurora_replica_read_consistency = 'SESSION'", "INSERT INTO acct_rows VALUES (1)"} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM acct_rows").Scan(&n); err != nil || n != 1 {
			t.Fatalf("read after the forwarded write: %d rows, %v", n, err)
		}
		// The write ran on the writer as the account itself.
		if err := writerDB(t).QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'acct_app'").Scan(&n); err != nil || n != 1 {
			t.Fatalf("writer connections of acct_app: %d, %v; want the session's one", n, err)
		}
	})

	t.Run("wrong password and unknown user", func(t *testing.T) {
		wantLoginError(t, addr, "acct_app", "pw-wrong", 1045, "Access denied for user 'acct_app'@'127.0.0.1' (using password: YES)")
		wantLoginError(t, addr, "acct_nobody", "pw-one", 1045, "Access denied for user 'acct_nobody'@'127.0.0.1' (using password: YES)")
		wantLoginError(t, addr, "acct_app", "", 1045, "Access denied for user 'acct_app'@'127.0.0.1' (using password: NO)")
	})

	t.Run("password rotated", func(t *testing.T) {
		rootExec(t, "ALTER USER 'acct_app'@'%' IDENTIFIED BY 'pw-two'")
		waitReplicated(t)
		waitLogin(t, addr, "acct_app", "pw-two")
		wantLoginError(t, addr, "acct_app", "pw-one", 1045, "Access denied for user 'acct_app'@'127.0.0.1' (using password: YES)")
	})

	t.Run("dropped", func(t *testing.T) {
		rootExec(t, "DROP USER 'acct_app'@'%'")
		waitReplicated(t)
		// The first login may still pass the proxy's check (the reader
		// refuses it then, with the same error); either way it is refused.
		for range 2 {
			wantLoginError(t, addr, "acct_app", "pw-two", 1045, "Access denied for user 'acct_app'@'127.0.0.1' (using password: YES)")
		}
	})
}

func TestAccountsHostPatterns(t *testing.T) {
	t.Cleanup(func() {
		rootExec(t, "DROP USER IF EXISTS 'acct_far'@'10.9.9.9'", "DROP USER IF EXISTS 'acct_host'@'10.9.9.9'",
			"DROP USER IF EXISTS 'acct_host'@'127.0.0.1'", "DROP USER IF EXISTS 'acct_host'@'%'")
	})
	rootExec(t,
		"CREATE OR REPLACE USER 'acct_far'@'10.9.9.9' IDENTIFIED BY 'far'",
		"CREATE OR REPLACE USER 'acct_host'@'10.9.9.9' IDENTIFIED BY 'far'",
		"CREATE OR REPLACE USER 'acct_host'@'127.0.0.1' IDENTIFIED BY 'near'",
		"GRANT SELECT ON "+testDB+".* TO 'acct_host'@'127.0.0.1'",
		"CREATE OR REPLACE USER 'acct_host'@'%' IDENTIFIED BY 'any'")
	waitReplicated(t)
	addr := accountsProxy(t, nil)

	// The 127.0.0.1 row is loaded and the most specific one from here.
	if who, err := loginAs(addr, "acct_host", "near", "SELECT CURRENT_USER()"); err != nil || who != "acct_host@127.0.0.1" {
		t.Fatalf("login as acct_host/near: %q, %v", who, err)
	}
	wantLoginError(t, addr, "acct_host", "any", 1045, "Access denied for user 'acct_host'@'127.0.0.1' (using password: YES)")
	wantLoginError(t, addr, "acct_host", "far", 1045, "")
	wantLoginError(t, addr, "acct_far", "far", 1045, "Access denied for user 'acct_far'@'127.0.0.1' (using password: YES)")
}

// An account whose plugin needs the plaintext gets 1251 naming --user; the
// same account listed with --user logs in. The ed25519 account is kept off
// the binary log: the replica has not loaded the plugin, and the proxy
// refuses the login before it reaches a backend.
func TestAccountsPluginNeedsPassword(t *testing.T) {
	root, err := thePair.RootDB(thePair.WriterAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	ctx := context.Background()
	c, err := root.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "SET SESSION sql_log_bin = 0"); err != nil {
		t.Fatal(err)
	}
	var loaded int
	_ = c.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'ed25519'").Scan(&loaded)
	if loaded == 0 {
		if _, err := c.ExecContext(ctx, "INSTALL SONAME 'auth_ed25519'"); err != nil {
			t.Skipf("the writer cannot load the ed25519 plugin (mariadb-plugin auth_ed25519 is not installed): %v", err)
		}
		t.Cleanup(func() { rootExec(t, "SET SESSION sql_log_bin = 0", "UNINSTALL SONAME 'auth_ed25519'") })
	}
	if _, err := c.ExecContext(ctx, "CREATE OR REPLACE USER 'acct_ed'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('edpw')"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rootExec(t, "SET SESSION sql_log_bin = 0", "DROP USER IF EXISTS 'acct_ed'@'%'") })
	addr := accountsProxy(t, nil)
	_, err = loginAs(addr, "acct_ed", "edpw", "SELECT 1")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1251 || !strings.Contains(me.Message, "ed25519") || !strings.Contains(me.Message, "--user") {
		t.Fatalf("login as the ed25519 account: %v; want 1251 naming the plugin and --user", err)
	}
}

// A --user entry takes precedence over the writer's account of that name.
func TestAccountsStaticUserFirst(t *testing.T) {
	t.Cleanup(func() { rootExec(t, "DROP USER IF EXISTS 'acct_both'@'%'") })
	rootExec(t, "CREATE OR REPLACE USER 'acct_both'@'%' IDENTIFIED BY 'writer-pw'")
	waitReplicated(t)
	addr := accountsProxy(t, func(c *proxy.Config) { c.Users["acct_both"] = "proxy-pw" })
	// The proxy checks the --user password, not the writer's.
	wantLoginError(t, addr, "acct_both", "writer-pw", 1045, "Access denied for user 'acct_both'@'127.0.0.1' (using password: YES)")
}

// Failed logins of the writer's accounts and of unknown users count
// towards --max-connect-errors as those of --user users do.
func TestAccountsThrottled(t *testing.T) {
	addr := accountsProxy(t, func(c *proxy.Config) { c.MaxConnectErrors = 3 })
	for range 3 {
		wantLoginError(t, addr, "acct_nobody", "x", 1045, "")
	}
	wantLoginError(t, addr, "acct_nobody", "x", 1129, "")
}

// fwdproxy doctor --accounts writer checks the privilege the loader needs,
// on the real writer: the pair's user has it, a user with rights on one
// database only does not, and gets the GRANT that fixes it.
func TestDoctorAccounts(t *testing.T) {
	t.Cleanup(func() { rootExec(t, "DROP USER IF EXISTS 'acct_doc'@'%'") })
	rootExec(t, "CREATE OR REPLACE USER 'acct_doc'@'%' IDENTIFIED BY 'docpw'",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON "+testDB+".* TO 'acct_doc'@'%'")
	waitReplicated(t)
	for _, tc := range []struct {
		user, password string
		want           doctor.Status
		fix            string
	}{
		{thePair.User, thePair.Password, doctor.Pass, ""},
		{"acct_doc", "docpw", doctor.Fail, "GRANT SELECT ON mysql.global_priv TO 'acct_doc'@'%';"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		q, closeFn, err := doctor.Connect(ctx, thePair.WriterAddr, tc.user, tc.password, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer closeFn()
		w := doctor.NewServer(ctx, "writer", thePair.WriterAddr, q, nil)
		got := doctor.CheckAccounts(ctx, &doctor.Env{W: w, Opt: doctor.Options{Accounts: true}})
		if len(got) == 0 || got[0].Status != tc.want || tc.fix != "" && !slices.Contains(got[0].Fix, tc.fix) {
			t.Errorf("doctor --accounts writer as %s: %+v; want %v with fix %q", tc.user, got, tc.want, tc.fix)
		}
	}
}

// SIGHUP loads the accounts again: a user created since shows in /status
// (accounts.loaded) with no login asking for it.
func TestAccountsReloadOnSIGHUP(t *testing.T) {
	t.Cleanup(func() { rootExec(t, "DROP USER IF EXISTS 'acct_hup'@'%'") })
	rootExec(t, "DROP USER IF EXISTS 'acct_hup'@'%'")
	admin := pair.FreeAddr(t)
	cmd, addr := startBinary(t, "--accounts", "writer", "--accounts-refresh", "1h", "--admin", admin)
	loaded := func() string {
		resp, err := http.Get("http://" + admin + "/status")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		var st proxy.Status
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.Accounts == nil {
			return fmt.Sprintf("no accounts in /status (%v)", err)
		}
		return strconv.Itoa(st.Accounts.Loaded)
	}
	before, err := strconv.Atoi(loaded())
	if err != nil || before == 0 {
		t.Fatalf("/status accounts.loaded at start: %q", loaded())
	}
	rootExec(t, "CREATE USER 'acct_hup'@'%' IDENTIFIED BY 'huppw'", "GRANT SELECT ON "+testDB+".* TO 'acct_hup'@'%'")
	waitReplicated(t)
	if got := loaded(); got != strconv.Itoa(before) {
		t.Fatalf("accounts.loaded went from %d to %s before any reload", before, got)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	pair.WaitUntil(t, "accounts.loaded after SIGHUP", strconv.Itoa(before+1), loaded)
	if _, err := loginAs(addr, "acct_hup", "huppw", "SELECT 1"); err != nil {
		t.Fatalf("login as the account SIGHUP loaded: %v", err)
	}
}

// With --auth-method caching_sha2_password the greeting asks for that
// plugin; an account from the writer is switched to the native scramble its
// hash can check.
func TestAccountsUnderCachingSha2Greeting(t *testing.T) {
	t.Cleanup(func() { rootExec(t, "DROP USER IF EXISTS 'acct_sha'@'%'") })
	rootExec(t, "CREATE OR REPLACE USER 'acct_sha'@'%' IDENTIFIED BY 'shapw'", "GRANT SELECT ON "+testDB+".* TO 'acct_sha'@'%'")
	waitReplicated(t)
	addr := accountsProxy(t, func(c *proxy.Config) { c.AuthMethod = "caching_sha2_password" })
	if who, err := loginAs(addr, "acct_sha", "shapw", "SELECT CURRENT_USER()"); err != nil || who != "acct_sha@%" {
		t.Fatalf("login: %q, %v", who, err)
	}
	wantLoginError(t, addr, "acct_sha", "wrong", 1045, "Access denied for user 'acct_sha'@'127.0.0.1' (using password: YES)")
	// The --user list keeps the greeting's plugin.
	if _, err := loginAs(addr, thePair.User, thePair.Password, "SELECT 1"); err != nil {
		t.Fatalf("login as the --user: %v", err)
	}
}

// COM_CHANGE_USER to an account from the writer checks it the same way,
// and the session's backends log in as it.
func TestAccountsChangeUser(t *testing.T) {
	t.Cleanup(func() { rootExec(t, "DROP USER IF EXISTS 'acct_cu'@'%'") })
	rootExec(t, "CREATE OR REPLACE USER 'acct_cu'@'%' IDENTIFIED BY 'cupw'", "GRANT SELECT ON "+testDB+".* TO 'acct_cu'@'%'")
	waitReplicated(t)
	addr := accountsProxy(t, nil)
	c := rawConn(t, addr)
	if err := changeUser(t, c, "acct_cu", "wrong"); err == nil || !strings.Contains(err.Error(), "Access denied for user 'acct_cu'@'127.0.0.1' (using password: YES)") {
		t.Fatalf("change user with a wrong password: %v", err)
	}
	if err := changeUser(t, c, "acct_cu", "cupw"); err != nil {
		t.Fatalf("change user to an account from the writer: %v", err)
	}
	if v := rawValue(t, c, "SELECT CURRENT_USER()"); v != "acct_cu@%" {
		t.Fatalf("after COM_CHANGE_USER the reader has %q", v)
	}
}
