package pair

import (
	"testing"
	"time"
)

// WaitUntil polls get every 50 ms until it returns want, and fails the test
// after 30 s (a state the proxy reaches in the background, such as
// /status's push_tracking).
func WaitUntil(tb testing.TB, what, want string, get func() string) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := get()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s is %q after 30 s; want %q", what, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
