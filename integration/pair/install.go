package pair

import (
	"context"
	"os"
	osexec "os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Installs of what a test runs (a client library, a command) for the
// integration test packages.

var installMu sync.Mutex

// AptInstall installs the Debian packages that are missing; quick when
// every one is there. Failing to install fails the test.
func AptInstall(t testing.TB, pkgs ...string) {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	var missing []string
	for _, p := range pkgs {
		out, err := osexec.Command("dpkg-query", "-W", "-f=${Status}", p).Output()
		if err != nil || !strings.Contains(string(out), "install ok installed") {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return
	}
	start := time.Now()
	apt := func(args ...string) ([]byte, error) {
		name := "apt-get"
		if os.Geteuid() != 0 {
			args = append([]string{"-n", name}, args...)
			name = "sudo"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := osexec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	install := append([]string{"install", "-y", "--no-install-recommends"}, missing...)
	if _, err := apt(install...); err != nil {
		// The package lists may be stale or absent: refresh once and retry.
		if out, err := apt("update"); err != nil {
			t.Fatalf("install %v: apt-get update failed: %v\n%s", missing, err, out)
		}
		if out, err := apt(install...); err != nil {
			t.Fatalf("install %v: apt-get install failed: %v\n%s", missing, err, out)
		}
	}
	t.Logf("installed %v in %s", missing, time.Since(start).Round(time.Millisecond))
}
