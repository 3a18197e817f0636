package proxy

import (
	"reflect"
	"testing"

	gmserver "github.com/go-mysql-org/go-mysql/server"
)

// scrambleOf reads go-mysql's unexported salt: this fails when a go-mysql
// upgrade renames or retypes it, before any login does.
func TestScrambleOf(t *testing.T) {
	f, ok := reflect.TypeOf(gmserver.Conn{}).FieldByName("salt")
	if !ok || f.Type != reflect.TypeOf([]byte(nil)) {
		t.Fatalf("go-mysql's server Conn has no salt []byte field (%v): authProvider cannot check the writer's accounts", f.Type)
	}
	if s := scrambleOf(&gmserver.Conn{}); s != nil {
		t.Fatalf("scrambleOf of a fresh Conn = %x", s)
	}
}
