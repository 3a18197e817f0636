// Package consistency holds the read-consistency machinery of fwdproxy:
// the session level (aurora_replica_read_consistency), GTID sets of the
// two server flavours (MySQL, MariaDB), extraction of a transaction's own
// GTID from an OK packet, the SQL for waits and position look-ups, and
// the process-wide coordination pieces (Applied, WriterPosition).
//
// Everything here is pure Go: no database I/O. Callers pass functions
// that talk to the servers.
package consistency
