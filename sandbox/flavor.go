package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNoServer is returned by Up when neither mariadbd nor mysqld is installed.
var ErrNoServer = errors.New("no mariadbd or mysqld on PATH or in /usr/sbin: install MariaDB first " +
	"(Debian/Ubuntu: sudo apt-get install -y mariadb-server)")

// flavor is the server software found on this machine. MariaDB is what the
// sandbox is tested with; MySQL 8 gets the few statements and settings that
// differ, untested.
type flavor struct {
	Name      string // "MariaDB" or "MySQL"
	Version   string // e.g. 10.11.19
	Server    string // mariadbd or mysqld
	InstallDB string // mariadb-install-db (MariaDB only)
}

func (f *flavor) mariaDB() bool { return f.Name == "MariaDB" }

// searchDirs is PATH plus the sbin directories that a non-root PATH lacks
// (Debian installs mariadbd in /usr/sbin).
func searchDirs() []string {
	dirs := filepath.SplitList(os.Getenv("PATH"))
	return append(dirs, "/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/local/mysql/bin")
}

func lookFor(name string, dirs []string) string {
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// findFlavor picks mariadbd, else mysqld (which is MariaDB when its
// --version says so).
func findFlavor() (*flavor, error) {
	dirs := searchDirs()
	server := lookFor("mariadbd", dirs)
	if server == "" {
		server = lookFor("mysqld", dirs)
	}
	if server == "" {
		return nil, ErrNoServer
	}
	out, err := exec.Command(server, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %v", server, err)
	}
	f := &flavor{Server: server, Name: "MySQL", Version: parseVersion(string(out))}
	if strings.Contains(string(out), "MariaDB") {
		f.Name = "MariaDB"
		bin := filepath.Dir(server)
		near := append([]string{bin, filepath.Join(bin, "..", "bin"), filepath.Join(bin, "..", "scripts")}, dirs...)
		for _, n := range []string{"mariadb-install-db", "mysql_install_db"} {
			if f.InstallDB = lookFor(n, near); f.InstallDB != "" {
				break
			}
		}
		if f.InstallDB == "" {
			return nil, fmt.Errorf("%s is there but mariadb-install-db is not: install MariaDB fully "+
				"(Debian/Ubuntu: sudo apt-get install -y mariadb-server)", server)
		}
	}
	return f, nil
}

// parseVersion takes "mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for …" or
// "mysqld  Ver 8.0.36 for Linux …" to "10.11.19" / "8.0.36".
func parseVersion(s string) string {
	fields := strings.Fields(s)
	for i, f := range fields {
		if f == "Ver" && i+1 < len(fields) {
			v, _, _ := strings.Cut(fields[i+1], "-")
			return v
		}
	}
	return "unknown version"
}

// cnf is the my.cnf of one server. Both flavors read [mysqld].
func (f *flavor) cnf(dir, name, socket string, port, serverID int, replica bool) string {
	d := filepath.Join(dir, name)
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p("# %s of the fwdproxy sandbox (written by fwdproxy sandbox up)", name)
	p("[client]")
	p("user=root")
	p("socket=%s", socket)
	p("")
	p("[mysqld]")
	if os.Geteuid() == 0 {
		p("user=root")
	}
	p("datadir=%s", filepath.Join(d, "data"))
	p("tmpdir=%s", filepath.Join(d, "tmp"))
	p("socket=%s", socket)
	p("pid-file=%s", filepath.Join(dir, name+".pid"))
	p("log-error=%s", filepath.Join(dir, name+".log"))
	p("bind-address=127.0.0.1")
	p("port=%d", port)
	p("server-id=%d", serverID)
	p("log-bin=binlog")
	p("relay-log=relay-bin")
	p("binlog_format=ROW")
	p("skip-name-resolve")
	p("max_connections=151")
	p("innodb_buffer_pool_size=64M")
	p("# A sandbox needs no durability; this keeps commits fast on slow disks.")
	p("innodb_flush_log_at_trx_commit=2")
	p("sync_binlog=0")
	if f.mariaDB() {
		p("log_slave_updates=ON")
		p("gtid_strict_mode=ON")
		p("gtid_domain_id=0")
		p("innodb_log_file_size=16M")
		p("session_track_system_variables=autocommit,character_set_client,character_set_connection,character_set_results,time_zone,last_gtid")
		if replica {
			p("read_only=ON")
			p("skip-slave-start")
		}
	} else {
		p("gtid_mode=ON")
		p("enforce_gtid_consistency=ON")
		p("log_replica_updates=ON")
		p("mysqlx=OFF") // two servers would both want port 33060
		if replica {
			p("read_only=ON")
			p("skip-replica-start")
		}
	}
	return b.String()
}

// installArgs initialise an empty data directory.
func (f *flavor) installCmd(cnf string) *exec.Cmd {
	if f.mariaDB() {
		return exec.Command(f.InstallDB, "--defaults-file="+cnf, "--auth-root-authentication-method=normal", "--skip-test-db")
	}
	return exec.Command(f.Server, "--defaults-file="+cnf, "--initialize-insecure")
}

// positionSQL reads a server's GTID position: what it wrote (writer) or
// has (replica: what it applied and, when it was the writer before a
// switchover, what it wrote, which gtid_slave_pos lacks).
func (f *flavor) positionSQL(replica bool) string {
	switch {
	case !f.mariaDB():
		return "SELECT @@GLOBAL.gtid_executed"
	case replica:
		return "SELECT @@GLOBAL.gtid_current_pos"
	default:
		return "SELECT @@GLOBAL.gtid_binlog_pos"
	}
}

// waitSQL waits on the replica for a position, with a timeout in seconds;
// it returns 0 when the position is reached.
func (f *flavor) waitSQL() string {
	if f.mariaDB() {
		return "SELECT MASTER_GTID_WAIT(?, ?)"
	}
	return "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)"
}

func (f *flavor) replicaStatusSQL() string {
	if f.mariaDB() {
		return "SHOW SLAVE STATUS"
	}
	return "SHOW REPLICA STATUS"
}

// replicateSQL points the replica at host:port and starts replication.
func (f *flavor) replicateSQL(host string, port int) []string {
	if f.mariaDB() {
		return []string{
			fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='%s', MASTER_PASSWORD='%s', "+
				"MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1", host, port, replUser, replPassword),
			"START SLAVE",
		}
	}
	return []string{
		fmt.Sprintf("CHANGE REPLICATION SOURCE TO SOURCE_HOST='%s', SOURCE_PORT=%d, SOURCE_USER='%s', SOURCE_PASSWORD='%s', "+
			"SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1, SOURCE_CONNECT_RETRY=1", host, port, replUser, replPassword),
		"START REPLICA",
	}
}

// writerSetupSQL creates the users, the database and its table on the writer;
// they reach the replica by replication.
func (f *flavor) writerSetupSQL(hostname string) []string {
	s := []string{"DROP USER IF EXISTS ''@'localhost'"}
	if hostname != "" && hostname != "localhost" {
		s = append(s, fmt.Sprintf("DROP USER IF EXISTS ''@'%s'", strings.ReplaceAll(hostname, "'", "")))
	}
	return append(s,
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", replUser, replPassword),
		fmt.Sprintf("GRANT REPLICATION SLAVE ON *.* TO '%s'@'%%'", replUser),
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", User, Password),
		fmt.Sprintf("GRANT ALL PRIVILEGES ON *.* TO '%s'@'%%' WITH GRANT OPTION", User),
		"CREATE DATABASE "+Database,
		"CREATE TABLE "+Database+".demo (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100))",
	)
}
