package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/fwdproxy/fwdproxy/integration/pair"
	"github.com/fwdproxy/fwdproxy/proxy"
)

// testCert makes a self-signed certificate for 127.0.0.1.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fwdproxy test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func openWith(t *testing.T, addr, params string) (*sql.DB, error) {
	dsn := pair.DSN(addr, thePair.User, thePair.Password, testDB)
	if params != "" {
		dsn += "&" + params
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { db.Close() })
	return db, db.Ping()
}

func TestClientTLSAndAuth(t *testing.T) {
	cert, pool := testCert(t)
	if err := mysql.RegisterTLSConfig("fwdtest", &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}}

	t.Run("TLS verified by the client", func(t *testing.T) {
		addr := startProxy(t, func(c *proxy.Config) { c.ClientTLS = serverTLS })
		db, err := openWith(t, addr, "tls=fwdtest")
		if err != nil {
			t.Fatal(err)
		}
		var name, cipher string
		if err := db.QueryRow("SELECT 'ok', @@server_id").Scan(&name, &cipher); err != nil || name != "ok" {
			t.Fatalf("query over TLS: %v", err)
		}
	})
	t.Run("require-tls refuses plain clients", func(t *testing.T) {
		addr := startProxy(t, func(c *proxy.Config) { c.ClientTLS = serverTLS; c.RequireTLS = true })
		_, err := openWith(t, addr, "")
		wantErr(t, err, 3159, "")
		if _, err := openWith(t, addr, "tls=fwdtest"); err != nil {
			t.Fatalf("TLS client refused: %v", err)
		}
	})
	t.Run("caching_sha2_password", func(t *testing.T) {
		addr := startProxy(t, func(c *proxy.Config) { c.AuthMethod = "caching_sha2_password"; c.ClientTLS = serverTLS })
		if _, err := openWith(t, addr, "tls=fwdtest"); err != nil {
			t.Fatalf("caching_sha2 over TLS: %v", err)
		}
		plain := startProxy(t, func(c *proxy.Config) { c.AuthMethod = "caching_sha2_password" })
		if _, err := openWith(t, plain, ""); err != nil {
			t.Fatalf("caching_sha2 with RSA key exchange: %v", err)
		}
		// A second connection is served from the fast-auth cache.
		if _, err := openWith(t, plain, ""); err != nil {
			t.Fatalf("caching_sha2 fast path: %v", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		addr := startProxy(t, nil)
		dsn := pair.DSN(addr, thePair.User, "wrong", testDB)
		db, _ := sql.Open("mysql", dsn)
		defer db.Close()
		wantErr(t, db.Ping(), 1045, "")
	})
}
