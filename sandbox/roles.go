package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"time"
)

// The sandbox's writer changes: `fwdproxy sandbox switchover` and
// `fwdproxy sandbox failover --allow-data-loss` move the writer role between
// its two servers, which fwdproxy has as --writer candidates and follows.

// ChangeWriter runs a switchover of the sandbox in dir, or with failover a
// failover: the writer is killed, as a crash would, and the replica
// promoted with what it has applied; the rest is lost. A failover needs
// allowDataLoss, as Aurora's FailoverGlobalCluster does.
func ChangeWriter(ctx context.Context, dir string, failover, allowDataLoss bool, out io.Writer) error {
	if failover && !allowDataLoss {
		return errors.New("a failover may lose the writes the replica has not applied: pass --allow-data-loss (or use switchover, which loses none)")
	}
	dir, err := resolveDir(dir)
	if err != nil {
		return err
	}
	st, err := loadState(dir)
	if err != nil {
		return fmt.Errorf("no sandbox in %s (%s sandbox up): %v", dir, Command, err)
	}
	if st.Flavor != "MariaDB" {
		return fmt.Errorf("writer changes need a MariaDB sandbox, this one is %s", st.Flavor)
	}
	servers := map[string]string{procWriter: st.Writer, procReplica: st.Replica}
	members := map[string]Member{}
	for name, addr := range servers {
		db, err := socketDB(filepath.Join(st.SocketDir, name+".sock"))
		if err != nil {
			return err
		}
		defer db.Close()
		host, port, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(port)
		members[name] = Member{DB: db, Host: host, Port: n}
	}
	// Which is the writer now: the one that is writable and not replicating.
	cur, next := procWriter, procReplica
	if isWriter(ctx, members[procReplica]) {
		cur, next = next, cur
	}
	c := Change{Writer: members[cur], Target: members[next], ReplUser: replUser, ReplPass: replPassword}
	if !failover {
		if err := Switchover(ctx, c); err != nil {
			return err
		}
		fmt.Fprintf(out, "switchover done: %s (%s) is the writer, %s (%s) replicates from it\n", next, servers[next], cur, servers[cur])
		return nil
	}
	pid := pidOf(dir, cur)
	if !ours(dir, pid) {
		return fmt.Errorf("the writer %s is not running", cur)
	}
	_ = signal(pid, sigKill)
	for i := 0; i < 200 && alive(pid); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if err := Failover(ctx, c, true); err != nil {
		return err
	}
	fmt.Fprintf(out, "failover done: %s (%s) is the writer; %s was killed and stays down (what it had not sent is lost; %s sandbox down and up start afresh)\n",
		next, servers[next], cur, Command)
	return nil
}

// isWriter: m answers, is writable and replicates from nobody.
func isWriter(ctx context.Context, m Member) bool {
	var ro int
	if err := m.DB.QueryRowContext(ctx, "SELECT @@GLOBAL.read_only").Scan(&ro); err != nil || ro != 0 {
		return false
	}
	st, err := rowMap(ctx, m.DB, "SHOW SLAVE STATUS")
	return err == nil && (len(st) == 0 || st["Slave_IO_Running"] == "No" && st["Slave_SQL_Running"] == "No")
}
