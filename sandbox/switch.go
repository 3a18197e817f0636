package sandbox

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fwdproxy/fwdproxy/consistency"
)

// A writer change on a MariaDB GTID topology, as an Aurora global
// database's switchover and failover do one: applications in front of
// fwdproxy can be tested against both.

// Member is one server of the topology, reached by an account that may set
// read_only, change replication and KILL (root, or ALL PRIVILEGES).
type Member struct {
	DB   *sql.DB
	Host string // how the other servers reach it, for CHANGE MASTER
	Port int
}

// Change names the servers of a writer change.
type Change struct {
	Writer     Member   // the writer now (ignored by Failover: it is gone)
	Target     Member   // the replica that becomes the writer
	Others     []Member // further replicas, pointed at Target
	ReplUser   string   // the replication account on every server
	ReplPass   string
	CatchUpFor time.Duration // how long Switchover waits for Target to catch up
}

// Switchover promotes Target with no data loss: the writer stops taking
// writes (read_only, then a global read lock that holds back writers whose
// privileges pass read_only), Target applies everything the writer has,
// becomes writable, and the old writer replicates from it. Statements that
// were held back on the old writer are killed there: they never ran.
func Switchover(ctx context.Context, c Change) error {
	old, err := c.Writer.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer old.Close()
	if _, err := old.ExecContext(ctx, "SET GLOBAL read_only = 1"); err != nil {
		return fmt.Errorf("read_only on the writer: %w", err)
	}
	undo := func(err error) error {
		_, _ = old.ExecContext(context.Background(), "UNLOCK TABLES")
		_, _ = old.ExecContext(context.Background(), "SET GLOBAL read_only = 0")
		return err
	}
	if _, err := old.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
		return undo(fmt.Errorf("read lock on the writer: %w", err))
	}
	var pos string
	if err := old.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos); err != nil {
		return undo(err)
	}
	wait := c.CatchUpFor
	if wait == 0 {
		wait = 30 * time.Second
	}
	if err := catchUp(ctx, c.Target, pos, wait); err != nil {
		return undo(err)
	}
	if err := promote(ctx, c.Target); err != nil {
		return undo(err)
	}
	if err := killClients(ctx, old); err != nil {
		return err
	}
	if _, err := old.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		return err
	}
	// The old writer's own binlog is its position: current_pos.
	if err := replicate(ctx, old, c.Target, c, "current_pos"); err != nil {
		return fmt.Errorf("the old writer as a replica: %w", err)
	}
	return pointOthers(ctx, c)
}

// catchUp waits until m has every transaction of the GTID position pos.
// MASTER_GTID_WAIT compares with what m applied as a replica only: a
// target that wrote pos itself (a switchback with no writes since the
// switchover) has it in its own binlog, which gtid_current_pos includes.
func catchUp(ctx context.Context, m Member, pos string, wait time.Duration) error {
	var cur string
	if err := m.DB.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_current_pos").Scan(&cur); err != nil {
		return err
	}
	want, err := consistency.MariaDB.ParseSet(pos)
	if err != nil {
		return err
	}
	if have, err := consistency.MariaDB.ParseSet(cur); err == nil && have.Contains(want) {
		return nil
	}
	var res sql.NullInt64
	if err := m.DB.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", pos, wait.Seconds()).Scan(&res); err != nil || res.Int64 != 0 {
		return fmt.Errorf("the target did not reach %s within %s (%v)", pos, wait, err)
	}
	return nil
}

// Failover promotes Target without the writer, which is gone: what Target
// had not applied is lost. Without allowDataLoss it refuses when another
// replica is ahead of Target (that replica could not follow it).
func Failover(ctx context.Context, c Change, allowDataLoss bool) error {
	// What the replicas received before the writer went is not lost:
	// each applies its relay log before the positions are compared.
	for _, m := range append([]Member{c.Target}, c.Others...) {
		if err := drainRelay(ctx, m, c.CatchUpFor); err != nil && m == c.Target {
			return err
		}
	}
	var tpos string
	if err := c.Target.DB.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_current_pos").Scan(&tpos); err != nil {
		return err
	}
	tset, err := consistency.MariaDB.ParseSet(tpos)
	if err != nil {
		return err
	}
	for _, o := range c.Others {
		var p string
		if err := o.DB.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_current_pos").Scan(&p); err != nil {
			continue
		}
		if s, err := consistency.MariaDB.ParseSet(p); err == nil && !tset.Contains(s) && !allowDataLoss {
			return fmt.Errorf("%s:%d has applied %s, more than the target's %s: promoting it loses data (allow data loss to go on)", o.Host, o.Port, p, tpos)
		}
	}
	if err := promote(ctx, c.Target); err != nil {
		return err
	}
	return pointOthers(ctx, c)
}

// promote makes a replica a writer: no replication, writable.
func promote(ctx context.Context, m Member) error {
	for _, q := range []string{"STOP ALL SLAVES", "RESET SLAVE ALL", "SET GLOBAL read_only = 0"} {
		if _, err := m.DB.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("promote %s:%d: %s: %w", m.Host, m.Port, q, err)
		}
	}
	return nil
}

func pointOthers(ctx context.Context, c Change) error {
	for _, o := range c.Others {
		conn, err := o.DB.Conn(ctx)
		if err != nil {
			return err
		}
		err = replicate(ctx, conn, c.Target, c, "slave_pos")
		conn.Close()
		if err != nil {
			return fmt.Errorf("%s:%d to the new writer: %w", o.Host, o.Port, err)
		}
	}
	return nil
}

func replicate(ctx context.Context, conn *sql.Conn, to Member, c Change, gtid string) error {
	for _, q := range []string{
		"STOP SLAVE",
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='%s', MASTER_PASSWORD='%s', MASTER_USE_GTID=%s, MASTER_CONNECT_RETRY=1",
			to.Host, to.Port, c.ReplUser, c.ReplPass, gtid),
		"SET GLOBAL read_only = 1",
		"START SLAVE",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// killClients ends every client connection but conn's own: statements
// waiting for the read lock end without running.
func killClients(ctx context.Context, conn *sql.Conn) error {
	rows, err := conn.QueryContext(ctx, `SELECT ID FROM information_schema.PROCESSLIST
		WHERE ID <> CONNECTION_ID() AND COMMAND NOT IN ('Binlog Dump', 'Daemon', 'Slave_IO', 'Slave_SQL', 'Slave_worker')
		AND USER NOT IN ('system user', 'event_scheduler')`)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if rows.Scan(&id) == nil {
			ids = append(ids, id)
		}
	}
	rows.Close()
	for _, id := range ids {
		_, _ = conn.ExecContext(ctx, fmt.Sprintf("KILL %d", id)) // gone already is fine
	}
	return nil
}

// drainRelay waits until m's SQL thread has applied every event its IO
// thread received (the writer is gone, so no more arrive), up to wait
// (30 s when 0).
func drainRelay(ctx context.Context, m Member, wait time.Duration) error {
	if wait == 0 {
		wait = 30 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		st, err := rowMap(ctx, m.DB, "SHOW SLAVE STATUS")
		if err != nil || len(st) == 0 {
			return err // not a replica: nothing to apply
		}
		if st["Relay_Master_Log_File"] == st["Master_Log_File"] && st["Exec_Master_Log_Pos"] == st["Read_Master_Log_Pos"] {
			return nil
		}
		if st["Slave_SQL_Running"] != "Yes" || time.Now().After(deadline) {
			return fmt.Errorf("%s:%d has not applied its relay log (SQL thread %s, executed %s of %s)",
				m.Host, m.Port, st["Slave_SQL_Running"], st["Exec_Master_Log_Pos"], st["Read_Master_Log_Pos"])
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
