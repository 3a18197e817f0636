// Package writerlocks names the user-level locks (GET_LOCK) that fwdproxy
// instances sharing one writer keep on it: the writer releases a lock with
// the connection that holds it, so a crashed instance's share frees itself,
// and no coordinator of fwdproxy's own is needed.
package writerlocks

import (
	"strconv"
	"strings"
)

const (
	// ForwardingOff is held by the instance that turned forwarding off:
	// while anyone holds it, forwarding is off on every instance.
	ForwardingOff = "fwdproxy_forwarding_off"
	// ForwardingOn is held by an instance turning forwarding on, until the
	// holder of ForwardingOff has let go.
	ForwardingOn = "fwdproxy_forwarding_on"
	// MaxInstances is how many instance locks there are.
	MaxInstances = 64
)

// Slot is the lock a forwarded writer connection holds for slot n of the
// writer connection cap.
func Slot(n int) string { return "fwdproxy_slot_" + strconv.Itoa(n) }

// Instance is the lock instance n holds on the connection it watches the
// writer with.
func Instance(n int) string { return "fwdproxy_instance_" + strconv.Itoa(n) }

// InstancesSQL is an expression that counts the instances holding an
// instance lock.
func InstancesSQL() string {
	terms := make([]string, MaxInstances)
	for n := range terms {
		terms[n] = "(IS_USED_LOCK('" + Instance(n) + "') IS NOT NULL)"
	}
	return strings.Join(terms, " + ")
}

// HoldersSQL lists the connection ids holding an instance lock (kind
// "instance") or ForwardingOff (kind "forwarding_off"), with the user and
// host the writer's process list shows for each (NULL when the asking
// account may not see it).
func HoldersSQL() string {
	parts := make([]string, 0, MaxInstances+1)
	for n := range MaxInstances {
		parts = append(parts, "SELECT 'instance' AS kind, IS_USED_LOCK('"+Instance(n)+"') AS id")
	}
	parts = append(parts, "SELECT 'forwarding_off', IS_USED_LOCK('"+ForwardingOff+"')")
	return "SELECT l.kind, l.id, p.USER, p.HOST FROM (" + strings.Join(parts, " UNION ALL ") +
		") l LEFT JOIN information_schema.PROCESSLIST p ON p.ID = l.id WHERE l.id IS NOT NULL ORDER BY l.kind, l.id"
}
