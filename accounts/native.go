package accounts

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// A native password is kept as stage2 = SHA1(SHA1(password)); a client
// answers a scramble with SHA1(password) XOR SHA1(scramble + stage2). The
// server's side of that equation recovers stage1 = SHA1(password), which is
// all another server needs for a fresh answer.

// Recover checks a client's answer to scramble against stage2 and returns
// stage1 when it is right.
func Recover(scramble, answer, stage2 []byte) ([]byte, bool) {
	if len(answer) != sha1.Size || len(stage2) != sha1.Size {
		return nil, false
	}
	stage1 := xor(answer, mix(scramble, stage2))
	got := sha1.Sum(stage1)
	if subtle.ConstantTimeCompare(got[:], stage2) != 1 {
		return nil, false
	}
	return stage1, true
}

// Answer is the answer to a server's scramble for the password whose
// SHA1 is stage1.
func Answer(scramble, stage1 []byte) []byte {
	stage2 := sha1.Sum(stage1)
	return xor(stage1, mix(scramble, stage2[:]))
}

// Stage2 is SHA1(SHA1(password)), as the server stores it (for tests and
// the plaintext --user list).
func Stage2(password string) []byte {
	s1 := sha1.Sum([]byte(password))
	s2 := sha1.Sum(s1[:])
	return s2[:]
}

// ParseNativeHash reads a stored mysql_native_password hash: "*" and 40
// hex digits, or "" for an empty password (nil).
func ParseNativeHash(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) != 1+2*sha1.Size || s[0] != '*' {
		return nil, fmt.Errorf("not a mysql_native_password hash")
	}
	b, err := hex.DecodeString(strings.ToLower(s[1:]))
	if err != nil {
		return nil, fmt.Errorf("not a mysql_native_password hash")
	}
	return b, nil
}

// mix is SHA1(scramble + stage2); the scramble is the first 20 bytes (a
// trailing NUL some servers send is not part of it).
func mix(scramble, stage2 []byte) []byte {
	h := sha1.New()
	h.Write(scramble[:min(len(scramble), 20)])
	h.Write(stage2)
	return h.Sum(nil)
}

func xor(a, b []byte) []byte {
	out := make([]byte, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}
