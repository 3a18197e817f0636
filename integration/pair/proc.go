package pair

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Binary is the fwdproxy binary the tests run: $FWDPROXY_BIN (make test
// builds it) or a fresh build with the given go build flags.
func Binary(tb testing.TB, buildFlags ...string) string {
	tb.Helper()
	if b := os.Getenv("FWDPROXY_BIN"); b != "" {
		return b
	}
	return Build(tb, buildFlags...)
}

// Build builds cmd/fwdproxy with the given go build flags into the test's
// temporary directory, whatever $FWDPROXY_BIN says.
func Build(tb testing.TB, buildFlags ...string) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("pair: cannot locate cmd/fwdproxy (runtime.Caller failed)")
	}
	b := filepath.Join(tb.TempDir(), "fwdproxy")
	args := append(append([]string{"build"}, buildFlags...), "-o", b, filepath.Join(filepath.Dir(file), "..", "..", "cmd", "fwdproxy"))
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		tb.Fatalf("build: %v %s", err, out)
	}
	return b
}

// FreeAddr is a loopback address nothing listens on now.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
