// Package backendtls checks the proxy's TLS to the writer and the reader on
// a private MariaDB pair whose servers have certificates this test makes.
package backendtls

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/integration/pair/pairproxy"
	"github.com/fwdproxy/fwdproxy/proxy"
)

var (
	thePair *pair.Pair
	caPool  *x509.CertPool
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fwdtls-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if caPool, err = writeCerts(dir); err != nil {
		fmt.Fprintln(os.Stderr, "certificates:", err)
		return 1
	}
	// interactive_timeout apart from wait_timeout: TestInteractiveOverTLS.
	ssl := fmt.Sprintf("ssl_ca=%s\nssl_cert=%s\nssl_key=%s\ninteractive_timeout=%d", filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"),
		filepath.Join(dir, "key.pem"), interactiveTimeout)
	os.Setenv("PAIR_WRITER_EXTRA_CNF", ssl)
	os.Setenv("PAIR_REPLICA_EXTRA_CNF", ssl)
	p, err := pair.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pair:", err)
		return 1
	}
	thePair = p
	code := m.Run()
	if err := p.CheckReplicaClean(); err != nil {
		fmt.Fprintln(os.Stderr, "replica not clean:", err)
		code = 1
	}
	_ = p.Stop()
	return code
}

// writeCerts makes a CA and a server certificate for 127.0.0.1.
func writeCerts(dir string) (*x509.CertPool, error) {
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fwdproxy test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	files := map[string]*pem.Block{
		"ca.pem":   {Type: "CERTIFICATE", Bytes: caDER},
		"cert.pem": {Type: "CERTIFICATE", Bytes: der},
		"key.pem":  {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)},
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o644); err != nil {
			return nil, err
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, nil
}

func startProxy(t *testing.T, backend *tls.Config, mutate ...func(*proxy.Config)) string {
	t.Helper()
	_, addr := pairproxy.Start(t, thePair, pairproxy.Configure(func(c *proxy.Config) {
		c.DefaultConsistency = "SESSION"
		c.BackendTLS = backend
	}), pairproxy.Configure(mutate...))
	return addr
}

func open(t *testing.T, addr string) (*sql.Conn, error) {
	t.Helper()
	return openAs(t, addr, thePair.User, thePair.Password)
}

func openAs(t *testing.T, addr, user, password string) (*sql.Conn, error) {
	t.Helper()
	return openDSN(t, pair.DSN(addr, user, password, ""))
}

// openDSN is one connection of its own pool, closed at cleanup.
func openDSN(t *testing.T, dsn string) (*sql.Conn, error) {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { db.Close() })
	return db.Conn(context.Background())
}

// cipher reports the TLS cipher of the backend connection that answers q.
func cipher(t *testing.T, c *sql.Conn, q string) string {
	t.Helper()
	var v sql.NullString
	if err := c.QueryRowContext(context.Background(), q).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v.String
}

const (
	readerCipher = "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher'"
	writerCipher = readerCipher + " FOR UPDATE" // a locking read is forwarded
)

// checkEncrypted: the session's reader and writer connections use TLS.
func checkEncrypted(t *testing.T, c *sql.Conn) {
	t.Helper()
	if v := cipher(t, c, readerCipher); v == "" {
		t.Error("reader connection is not encrypted")
	}
	if v := cipher(t, c, writerCipher); v == "" {
		t.Error("writer connection is not encrypted")
	}
}

func TestBackendTLS(t *testing.T) {
	for name, cfg := range map[string]*tls.Config{
		"verify":      {RootCAs: caPool, MinVersion: tls.VersionTLS12},
		"skip-verify": {InsecureSkipVerify: true},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := open(t, startProxy(t, cfg))
			if err != nil {
				t.Fatalf("login over TLS to the reader: %v", err)
			}
			checkEncrypted(t, c)
		})
	}
	// An account from the writer (--accounts writer) logs in to the
	// backends with the proxy's own handshake: over TLS too.
	t.Run("account from the writer", func(t *testing.T) {
		root, err := thePair.RootDB(thePair.WriterAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		for _, q := range []string{"CREATE OR REPLACE USER 'tls_acct'@'%' IDENTIFIED BY 'tlspw'", "GRANT SELECT ON *.* TO 'tls_acct'@'%'"} {
			if _, err := root.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		defer root.Exec("DROP USER IF EXISTS 'tls_acct'@'%'")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := thePair.WaitReplicated(ctx); err != nil {
			t.Fatal(err)
		}
		addr := startProxy(t, &tls.Config{RootCAs: caPool, MinVersion: tls.VersionTLS12}, func(c *proxy.Config) { c.Accounts = "writer" })
		c, err := openAs(t, addr, "tls_acct", "tlspw")
		if err != nil {
			t.Fatalf("login as an account from the writer, over TLS to the reader: %v", err)
		}
		checkEncrypted(t, c)
	})
	t.Run("wrong CA refused", func(t *testing.T) {
		other, err := writeCerts(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := open(t, startProxy(t, &tls.Config{RootCAs: other})); err == nil {
			t.Fatal("a backend certificate from an unknown CA was accepted")
		}
	})
	t.Run("off means plain", func(t *testing.T) {
		c, err := open(t, startProxy(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		if v := cipher(t, c, readerCipher); v != "" {
			t.Errorf("backend-tls off but the reader connection uses %s", v)
		}
	})
}

// interactiveTimeout is both servers' interactive_timeout.
const interactiveTimeout = 1234

// An interactive client's sessions on both backends have wait_timeout =
// interactive_timeout over TLS too: the proxy asks for CLIENT_INTERACTIVE in
// the SSL request, which is where MariaDB reads a TLS client's
// capabilities. The client is go-sql-driver's, made interactive by its
// dialer (it has no option for it).
func TestInteractiveOverTLS(t *testing.T) {
	mysqldrv.RegisterDialContext("interactive", func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		return &patchConn{Conn: c, patch: func(resp []byte) { resp[1] |= 0x04 }}, err // CLIENT_INTERACTIVE, 1<<10
	})
	addr := startProxy(t, &tls.Config{RootCAs: caPool, MinVersion: tls.VersionTLS12})
	for _, interactive := range []bool{false, true} {
		dsn := pair.DSN(addr, thePair.User, thePair.Password, "")
		if interactive {
			dsn = strings.Replace(dsn, "@tcp(", "@interactive(", 1)
		}
		c, err := openDSN(t, dsn)
		if err != nil {
			t.Fatal(err)
		}
		checkEncrypted(t, c)
		want := "28800"
		if interactive {
			want = fmt.Sprint(interactiveTimeout)
		}
		for _, q := range []string{"SELECT @@wait_timeout", "SELECT @@wait_timeout FOR UPDATE"} {
			var got string
			if err := c.QueryRowContext(context.Background(), q).Scan(&got); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if got != want {
				t.Errorf("interactive %v: %s gives %s, want %s", interactive, q, got, want)
			}
		}
	}
}
