package consistency

import (
	"strconv"
	"strings"
)

// Level is a session's aurora_replica_read_consistency value.
type Level uint8

const (
	Off      Level = iota // '': no forwarding in the session
	Eventual              // no wait
	Session               // wait for the session's own commits
	Global                // wait for the writer's position at arrival
)

// ParseLevel reads a value as the server would: case-insensitive, no
// trimming (a value with spaces is a different, invalid value).
func ParseLevel(s string) (Level, bool) {
	switch {
	case s == "":
		return Off, true
	case strings.EqualFold(s, "EVENTUAL"):
		return Eventual, true
	case strings.EqualFold(s, "SESSION"):
		return Session, true
	case strings.EqualFold(s, "GLOBAL"):
		return Global, true
	}
	return Off, false
}

func (l Level) String() string {
	switch l {
	case Off:
		return ""
	case Eventual:
		return "EVENTUAL"
	case Session:
		return "SESSION"
	case Global:
		return "GLOBAL"
	}
	return "Level(" + strconv.Itoa(int(l)) + ")"
}

// Waits reports whether reads at this level wait for replication.
func (l Level) Waits() bool { return l == Session || l == Global }

// Scope is whose own GTIDs a SESSION read waits for: the connection's
// (Aurora's SESSION) or those of every connection of the same user through
// this proxy, so that a pool of connections reads its own writes.
type Scope uint8

const (
	ScopeConnection Scope = iota
	ScopeUser
)

// ParseScope reads a fwdproxy_session_scope value, case-insensitive.
func ParseScope(s string) (Scope, bool) {
	switch {
	case strings.EqualFold(s, "connection"):
		return ScopeConnection, true
	case strings.EqualFold(s, "user"):
		return ScopeUser, true
	}
	return ScopeConnection, false
}

func (s Scope) String() string {
	if s == ScopeUser {
		return "user"
	}
	return "connection"
}
