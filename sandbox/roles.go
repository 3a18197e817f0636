package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The sandbox's writer changes: `fwdproxy sandbox switchover` and
// `fwdproxy sandbox failover --allow-data-loss` move the writer role between
// its servers, which fwdproxy has as --writer candidates and follows.

// server is one of the sandbox's database servers, by its process name.
type server struct{ name, addr string }

// servers is the first writer, then every replica, in order.
func (st *State) servers() []server {
	s := []server{{procWriter, st.Writer}}
	for _, r := range st.Replicas {
		s = append(s, server{r.Name, r.Addr})
	}
	return s
}

// ChangeWriter runs a switchover of the sandbox in dir, or with failover a
// failover: the writer is killed, as a crash would, and a replica
// promoted with what it has applied; the rest is lost. A failover needs
// allowDataLoss, as Aurora's FailoverGlobalCluster does. The target is the
// first running server, in the order writer, replica, replica2, …, that is
// not the writer now; the other replicas then replicate from it, each
// through its own lag link again.
func ChangeWriter(ctx context.Context, dir string, failover, allowDataLoss bool, out io.Writer) error {
	if failover && !allowDataLoss {
		return errors.New("a failover may lose the writes the replica has not applied: pass --allow-data-loss (or use switchover, which loses none)")
	}
	dir, err := resolveDir(dir)
	if err != nil {
		return err
	}
	dir = realDir(dir)
	st, err := loadState(dir)
	if err != nil {
		return fmt.Errorf("no sandbox in %s (%s sandbox up): %v", dir, Command, err)
	}
	if st.Flavor != "MariaDB" {
		return fmt.Errorf("writer changes need a MariaDB sandbox, this one is %s", st.Flavor)
	}
	addr := map[string]string{}
	members := map[string]Member{}
	var live []string // running servers, in order
	for _, s := range st.servers() {
		addr[s.name] = s.addr
		if !ours(dir, pidOf(dir, s.name)) {
			continue // a failed-over writer stays down
		}
		db, err := socketDB(filepath.Join(st.SocketDir, s.name+".sock"))
		if err != nil {
			return err
		}
		defer db.Close()
		host, port, _ := net.SplitHostPort(s.addr)
		n, _ := strconv.Atoi(port)
		members[s.name] = Member{DB: db, Host: host, Port: n}
		live = append(live, s.name)
	}
	// Which is the writer now: the one that is writable and not replicating.
	i := slices.IndexFunc(live, func(n string) bool { return isWriter(ctx, members[n]) })
	if i < 0 {
		return fmt.Errorf("no running server is the writer now (%s sandbox status)", Command)
	}
	cur := live[i]
	rest := slices.Delete(slices.Clone(live), i, i+1)
	if len(rest) == 0 {
		return fmt.Errorf("no running server but the writer %s to take its role", cur)
	}
	next := rest[0]
	c := Change{Writer: members[cur], Target: members[next], ReplUser: replUser, ReplPass: replPassword}
	for _, n := range rest[1:] {
		c.Others = append(c.Others, members[n])
	}
	followers := rest[1:]
	if !failover {
		if err := Switchover(ctx, c); err != nil {
			return err
		}
		fmt.Fprintf(out, "switchover done: %s (%s) is the writer, %s (%s) replicates from it\n", next, addr[next], cur, addr[cur])
		followers = append([]string{cur}, followers...)
	} else {
		members[cur].DB.Close() // before its server goes, which the driver would log
		pid := pidOf(dir, cur)
		_ = signal(pid, sigKill)
		for i := 0; i < 200 && alive(pid); i++ {
			time.Sleep(50 * time.Millisecond)
		}
		if err := Failover(ctx, c, true); err != nil {
			return err
		}
		fmt.Fprintf(out, "failover done: %s (%s) is the writer; %s was killed and stays down (what it had not sent is lost; %s sandbox down and up start afresh)\n",
			next, addr[next], cur, Command)
	}
	if len(followers) > 1 || failover && len(followers) > 0 {
		fmt.Fprintf(out, "replicating from %s: %s\n", next, strings.Join(followers, ", "))
	}
	return relink(ctx, st, members, followers, server{next, addr[next]}, cur, out)
}

// relink puts every replica that has a lag link behind it again, now
// relaying from the new writer at to: the change pointed them at the new
// writer directly. The old writer (cur) replicates by its own binlog's
// position, as Switchover set it up; the others by what they applied.
func relink(ctx context.Context, st *State, members map[string]Member, followers []string, to server, cur string, out io.Writer) error {
	if st.Bin == "" {
		return nil // started by an older fwdproxy: the replicas stay direct
	}
	u := &upper{o: Options{Bin: st.Bin}, st: st, dir: st.Dir, used: map[int]bool{}}
	for i := range st.Replicas {
		r := &st.Replicas[i]
		if !slices.Contains(followers, r.Name) {
			continue
		}
		lag, _ := time.ParseDuration(r.Lag)
		if _, _, ok := stopProc(st.Dir, r.LinkName, 5*time.Second); !ok {
			return fmt.Errorf("could not stop %s", r.LinkName)
		}
		link, err := u.startLink(ctx, r.LinkName, to.addr, 0, lag)
		if err != nil {
			return err
		}
		r.Link, r.LinkTo = link, to.name
		if err := writeState(st); err != nil {
			return err
		}
		conn, err := members[r.Name].DB.Conn(ctx)
		if err != nil {
			return err
		}
		host, port, _ := net.SplitHostPort(link)
		lport, _ := strconv.Atoi(port)
		gtid := "slave_pos"
		if r.Name == cur {
			gtid = "current_pos"
		}
		err = replicate(ctx, conn, Member{Host: host, Port: lport}, Change{ReplUser: replUser, ReplPass: replPassword}, gtid)
		conn.Close()
		if err == nil {
			err = ioConnected(ctx, members[r.Name], 60*time.Second+20*lag)
		}
		if err != nil {
			return fmt.Errorf("%s through %s: %w", r.Name, r.LinkName, err)
		}
		fmt.Fprintf(out, "%s replicates through %s (+%s) again\n", r.Name, r.LinkName, lag)
	}
	return nil
}

// ioConnected waits until m's I/O thread is connected to its source: through
// a lag link its log-in and registration take about 14 round trips.
func ioConnected(ctx context.Context, m Member, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		st, err := rowMap(ctx, m.DB, "SHOW SLAVE STATUS")
		if err != nil {
			return err
		}
		if st["Slave_IO_Running"] == "Yes" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the I/O thread is %q after %s (%s)", st["Slave_IO_Running"], wait, st["Last_IO_Error"])
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
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
