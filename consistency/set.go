package consistency

// Set is a GTID set of one flavour. Values are immutable by convention:
// Union returns a new set and never changes its operands, so a Set may be
// shared between goroutines without locks.
//
// Mixing flavours is a programming error; it is answered safely rather
// than with a panic: Contains of a foreign non-empty set is false (the
// caller then waits on the server) and Union ignores a foreign set.
//
// Compare sets with Contains both ways, never with ==: the concrete types
// hold slices, so == on two Sets panics.
type Set interface {
	// String is the canonical server syntax, sorted, comma-separated.
	String() string
	// Contains reports whether every GTID in o is in the receiver. A nil
	// o is the empty set.
	Contains(o Set) bool
	// Union returns a new set holding both; MariaDB keeps the highest
	// sequence number per domain, so a position never moves back.
	Union(o Set) Set
	IsEmpty() bool
}

func isEmpty(s Set) bool { return s == nil || s.IsEmpty() }
