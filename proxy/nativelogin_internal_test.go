package proxy

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"net"
	"strings"
	"testing"

	"github.com/fwdproxy/fwdproxy/accounts"
)

// greetingFor is a protocol-10 greeting as MariaDB sends it, with scramble.
func greetingFor(scramble []byte) []byte {
	g := append([]byte{10}, "10.11.19-MariaDB\x00"...)
	g = binary.LittleEndian.AppendUint32(g, 42)
	g = append(append(g, scramble[:8]...), 0)
	caps := uint32(0xa0fff7fe) // PROTOCOL_41, SECURE_CONNECTION, PLUGIN_AUTH, SSL, ...
	g = binary.LittleEndian.AppendUint16(g, uint16(caps))
	g = append(g, 45)
	g = binary.LittleEndian.AppendUint16(g, 2)
	g = binary.LittleEndian.AppendUint16(g, uint16(caps>>16))
	g = append(g, 21)
	g = append(g, make([]byte, 10)...)
	g = append(append(g, scramble[8:20]...), 0)
	return append(g, accounts.NativePlugin+"\x00"...)
}

// nativeLogin against a scripted server: the first answer, an auth switch
// with a fresh scramble and the second answer both check against the
// stored hash; a switch to another plugin is refused by name.
func TestNativeLogin(t *testing.T) {
	const password = "s3cret"
	s1 := sha1.Sum([]byte(password))
	for _, tc := range []struct {
		name      string
		switchTo  string // "": the first answer gets OK
		wantError string
	}{
		{"answer", "", ""},
		{"auth switch to native", accounts.NativePlugin, ""},
		{"auth switch to ed25519", "client_ed25519", "needs the password in clear"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			done := make(chan string, 1)
			go func() {
				defer server.Close()
				first := []byte("abcdefghij0123456789")
				if err := writeLoginPacket(server, 0, greetingFor(first)); err != nil {
					done <- err.Error()
					return
				}
				seq, resp, err := readLoginPacket(server)
				if err != nil || seq != 1 {
					done <- "no handshake response"
					return
				}
				rest := resp[32:]
				user, rest, _ := bytes.Cut(rest, []byte{0})
				answer := rest[1 : 1+rest[0]]
				if string(user) != "app" {
					done <- "user " + string(user)
					return
				}
				if _, ok := accounts.Recover(first, answer, accounts.Stage2(password)); !ok {
					done <- "first answer wrong"
					return
				}
				if tc.switchTo != "" {
					again := []byte("ZYXWVUTSRQPONMLKJIHG")
					if err := writeLoginPacket(server, seq+1, append(append([]byte{0xfe}, tc.switchTo+"\x00"...), append(again, 0)...)); err != nil {
						done <- err.Error()
						return
					}
					if tc.wantError != "" {
						done <- ""
						return
					}
					if seq, answer, err = readLoginPacket(server); err != nil || seq != 3 {
						done <- "no switch response"
						return
					}
					if _, ok := accounts.Recover(again, answer, accounts.Stage2(password)); !ok {
						done <- "switch answer wrong"
						return
					}
				}
				_ = writeLoginPacket(server, seq+1, []byte{0, 0, 0, 2, 0, 0, 0})
				done <- ""
			}()
			conn, id, version, err := nativeLogin(client, dialParams{addr: "scripted", user: "app", stage1: s1[:]})
			if problem := <-done; problem != "" {
				t.Fatal("server: " + problem)
			}
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("err = %v, want %q", err, tc.wantError)
				}
				return
			}
			if err != nil || conn != client || id != 42 || version != "10.11.19-MariaDB" {
				t.Fatalf("nativeLogin = %v, %d, %q, %v", conn, id, version, err)
			}
		})
	}
}

func FuzzParseGreeting(f *testing.F) {
	f.Add(greetingFor([]byte("abcdefghij0123456789")))
	f.Add([]byte{0xff, 0x15, 0x04, '#', '2', '8', '0', '0', '0', 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := parseGreeting(b)
		if err == nil && len(g.scramble) != 20 {
			t.Fatalf("scramble of %d bytes", len(g.scramble))
		}
	})
}
