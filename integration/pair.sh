#!/usr/bin/env bash
# pair.sh: a MariaDB writer plus a GTID replica on loopback ports, for the integration tests.
#
#   pair.sh start DIR    install (if needed), create DIR/{writer,replica}, start both, set up
#                        replication and users, write DIR/pair.env (shell-sourceable) and print it
#   pair.sh stop DIR     stop both servers and remove DIR
#   pair.sh status DIR   print both servers' GTID positions and the replica's SHOW SLAVE STATUS
#   pair.sh kill DIR NAME    SIGKILL server NAME (writer or a replica), as a crash would, and wait
#                            until it is gone (for failure tests; a no-op when it is not running)
#   pair.sh revive DIR NAME  start NAME again with its my.cnf when it is not running and wait until it
#                            answers; a replica also gets START SLAVE (it runs with skip-slave-start)
#                            and is waited for until its I/O thread is connected
#   pair.sh halt DIR NAME    shut server NAME down cleanly (revive starts it again)
#   pair.sh pause DIR NAME   STOP SLAVE on replica NAME: it answers but its replication stopped
#   pair.sh resume DIR NAME  START SLAVE on replica NAME, and wait until its I/O thread is connected
#   pair.sh delay DIR NAME SECONDS  CHANGE MASTER TO MASTER_DELAY=SECONDS on replica NAME (0: none;
#                            MariaDB wants both threads stopped for it; waits as resume does);
#                            for millisecond lags the Go tests put a toxiproxy link in front instead
#                            (integration/pair SetMasterOf)
#
# Replicas are named replica, replica2, replica3, ... (server_id 2, 3, 4, ...); DIR/replicas lists
# them. NAME is writer or one of them.
#
# Env: PAIR_REPLICAS=N starts N replicas (default 1); with more than one, pair.env also has
#      READER_ADDRS, READER_SOCKETS, READER_SERVER_IDS and REPLICA_NAMES (comma-separated, in
#      order; READER_ADDR is the first), and with one it is exactly as before;
#      WRITER_PORT / READER_PORT pick the ports of the writer and the first replica (default: free
#      random loopback ports);
#      PAIR_START_TIMEOUT seconds to wait for each step (default 30);
#      PAIR_WRITER_EXTRA_CNF / PAIR_REPLICA_EXTRA_CNF: lines appended to the [mariadbd] section of
#      the writer's / replica's my.cnf (later lines win), e.g. PAIR_WRITER_EXTRA_CNF=skip-log-bin to
#      start a writer without a binary log (the doctor tests use it).
# Every process started here is a mariadbd in its own session (setsid), with its pid in
# DIR/<name>/mariadbd.pid; its stdout/stderr go to DIR/<name>.out and its error log to DIR/<name>.err.
set -euo pipefail

TEST_USER=fwd
TEST_PASSWORD=fwdpass
ROOT_USER=root
ROOT_PASSWORD=rootpass
REPL_USER=repl
REPL_PASSWORD=replpass
WRITER_SERVER_ID=1
READER_SERVER_ID=2
TIMEOUT=${PAIR_START_TIMEOUT:-30}
export PATH="$PATH:/usr/sbin:/sbin"

die() { echo "pair.sh: $*" >&2; exit 1; }

usage() { die "usage: pair.sh start|stop|status DIR | pair.sh kill|revive|halt|pause|resume DIR NAME | pair.sh delay DIR NAME SECONDS"; }

ensure_installed() {
	if command -v mariadbd >/dev/null 2>&1 && command -v mariadb-install-db >/dev/null 2>&1; then
		return 0
	fi
	echo "pair.sh: mariadbd not found, installing mariadb-server" >&2
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update >&2
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y mariadb-server mariadb-client >&2
	# The package starts (and enables) the system service; the tests do not use it.
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		$sudo systemctl stop mariadb >/dev/null 2>&1 || true
	elif command -v service >/dev/null 2>&1; then
		$sudo service mariadb stop >/dev/null 2>&1 || true
	fi
}

# port_busy PORT: true when something listens on 127.0.0.1:PORT.
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pick_port EXCLUDE: a random free port below the ephemeral range (so that outgoing connections
# cannot take it between the check and the server's bind).
pick_port() {
	local lo=20000 hi=32000 p i
	if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
		read -r elo _ </proc/sys/net/ipv4/ip_local_port_range
		if [ "$elo" -le "$hi" ]; then lo=10000; hi=$((elo - 1)); fi
	fi
	for i in $(seq 1 200); do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
		[ "$p" = "${1:-}" ] && continue
		port_busy "$p" || { echo "$p"; return 0; }
	done
	die "no free port found"
}

# write_cnf NAME PORT SERVER_ID EXTRA
write_cnf() {
	local name=$1 port=$2 id=$3 extra=$4 d="$DIR/$1"
	mkdir -p "$d/data" "$d/tmp"
	cat >"$d/my.cnf" <<EOF
[client]
user=root
socket=$SOCKDIR/$name.sock
port=$port
host=localhost

[mariadbd]
user=root
datadir=$d/data
tmpdir=$d/tmp
socket=$SOCKDIR/$name.sock
pid-file=$d/mariadbd.pid
log-error=$DIR/$name.err
bind-address=127.0.0.1
port=$port
server-id=$id
log-bin=mariadb-bin
relay-log=relay-bin
binlog_format=ROW
log_slave_updates=ON
gtid_strict_mode=ON
gtid_domain_id=0
session_track_system_variables=autocommit,character_set_client,character_set_connection,character_set_results,time_zone,last_gtid
skip-name-resolve
max_connections=151
innodb_buffer_pool_size=64M
innodb_log_file_size=16M
# Test data needs no durability; this keeps commits fast on slow disks.
innodb_flush_log_at_trx_commit=2
sync_binlog=0
$extra
EOF
}

install_db() {
	local name=$1 d="$DIR/$1"
	if ! mariadb-install-db --defaults-file="$d/my.cnf" --auth-root-authentication-method=normal \
		--skip-test-db >"$DIR/$name.install.log" 2>&1; then
		tail -n 30 "$DIR/$name.install.log" >&2
		die "mariadb-install-db failed for $name"
	fi
}

# start_server NAME: start mariadbd in the background, detached from our stdio.
start_server() {
	local name=$1 d="$DIR/$1" mariadbd
	mariadbd=$(command -v mariadbd)
	: >"$DIR/$name.err"
	setsid nohup "$mariadbd" --defaults-file="$d/my.cnf" </dev/null >"$DIR/$name.out" 2>&1 &
	echo $! >"$d/launcher.pid"
}

# server_pid NAME: the running server's pid, from its pid file or the launcher's.
server_pid() {
	local d="$DIR/$1" p
	for f in "$d/mariadbd.pid" "$d/launcher.pid"; do
		if [ -s "$f" ]; then
			p=$(cat "$f")
			if kill -0 "$p" 2>/dev/null; then echo "$p"; return 0; fi
		fi
	done
	return 1
}

# wait_up NAME: 0 when the server answers, 1 when it died with a port clash, else die.
wait_up() {
	local name=$1 i
	for i in $(seq 1 $((TIMEOUT * 10))); do
		if MYSQL_PWD="${2:-}" mariadb-admin --defaults-file="$DIR/$name/my.cnf" --connect-timeout=2 ping >/dev/null 2>&1; then
			return 0
		fi
		if ! server_pid "$name" >/dev/null; then
			if grep -q -E 'Address already in use|Bind on TCP/IP port' "$DIR/$name.err" 2>/dev/null; then
				return 1
			fi
			break
		fi
		sleep 0.1
	done
	echo "pair.sh: $name did not come up; tail of $DIR/$name.err:" >&2
	tail -n 30 "$DIR/$name.err" >&2 || true
	exit 1
}

# start_with_retry NAME VAR SERVER_ID EXTRA: start, re-picking the port on a bind clash unless
# the port was given by the caller.
start_with_retry() {
	local name=$1 var=$2 id=$3 extra=$4 fixed=$5 attempt
	for attempt in 1 2 3 4 5; do
		write_cnf "$name" "${!var}" "$id" "$extra"
		start_server "$name"
		if wait_up "$name"; then return 0; fi
		[ "$fixed" = 1 ] && die "$name: port ${!var} is in use"
		printf -v "$var" '%s' "$(pick_port "$WPORT")"
	done
	die "$name: could not bind a port"
}

sql() { # sql NAME STATEMENTS...: run as root over the socket
	local name=$1
	shift
	MYSQL_PWD="${ROOTPW:-}" mariadb --defaults-file="$DIR/$name/my.cnf" --batch ${SQL_COLUMNS:---skip-column-names} -e "$*"
}

# start_replication NAME POS: point replica NAME at the writer and wait until it has applied POS.
# One session on the replica: its root password changes to $ROOT_PASSWORD when the writer's
# ALTER USER replicates, which would break a later login with the install-time empty password.
start_replication() {
	local name=$1 pos=$2 r
	r=$(ROOTPW="" sql "$name" "
		CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$WPORT,
			MASTER_USER='$REPL_USER', MASTER_PASSWORD='$REPL_PASSWORD',
			MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
		START SLAVE;
		SET GLOBAL read_only=ON;
		SELECT MASTER_GTID_WAIT('$pos', $TIMEOUT);") || r=err
	if [ "$r" != 0 ]; then
		sql "$name" "SHOW SLAVE STATUS\G" >&2 || ROOTPW="" sql "$name" "SHOW SLAVE STATUS\G" >&2 || true
		tail -n 20 "$DIR/$name.err" >&2 || true
		die "$name did not reach $pos (got $r)"
	fi
}

do_start() {
	[ -e "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ] && die "$DIR exists and is not empty"
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	ensure_installed

	# Unix socket paths are limited to 107 bytes.
	SOCKDIR=$DIR
	if [ ${#DIR} -gt 80 ]; then
		SOCKDIR=$(mktemp -d /tmp/fwdpair-sock.XXXXXX)
		echo "$SOCKDIR" >"$DIR/sockdir"
	fi

	local wfixed=0 rfixed=0 n=${PAIR_REPLICAS:-1} i
	case "$n" in '' | *[!0-9]* | 0) die "PAIR_REPLICAS must be a positive number, got '$n'" ;; esac
	REPLICAS=(replica)
	for i in $(seq 2 "$n"); do REPLICAS+=("replica$i"); done
	printf '%s\n' "${REPLICAS[@]}" >"$DIR/replicas"
	WPORT=${WRITER_PORT:-}
	RPORT=${READER_PORT:-}
	[ -n "$WPORT" ] && wfixed=1 || WPORT=$(pick_port)
	[ -n "$RPORT" ] && rfixed=1 || RPORT=$(pick_port "$WPORT")

	local wextra="${PAIR_WRITER_EXTRA_CNF:-}" rextra="read_only=ON
skip-slave-start
${PAIR_REPLICA_EXTRA_CNF:-}"
	write_cnf writer "$WPORT" $WRITER_SERVER_ID "$wextra"
	local ipids=() name
	for i in "${!REPLICAS[@]}"; do
		write_cnf "${REPLICAS[$i]}" "$RPORT" $((READER_SERVER_ID + i)) "$rextra"
		install_db "${REPLICAS[$i]}" &
		ipids+=($!)
	done
	install_db writer
	for i in "${ipids[@]}"; do wait "$i" || die "mariadb-install-db failed for a replica"; done

	start_with_retry writer WPORT $WRITER_SERVER_ID "$wextra" $wfixed
	[ "$RPORT" = "$WPORT" ] && RPORT=$(pick_port "$WPORT")
	start_with_retry replica RPORT $READER_SERVER_ID "$rextra" $rfixed
	# Ports of the other replicas: picked once the ones before listen, so port_busy sees them.
	RPORTS=("$RPORT")
	local port
	for i in $(seq 1 $((n - 1))); do
		port=$(pick_port "$WPORT")
		start_with_retry "${REPLICAS[$i]}" port $((READER_SERVER_ID + i)) "$rextra" 0
		RPORTS+=("$port")
	done

	# Users and the database are created on the writer only; they reach the replicas by
	# replication. The bootstrap does not write to the binlog, so each replica starts from an
	# empty position and replays everything below.
	sql writer "
		DROP USER IF EXISTS ''@'localhost', ''@'$(hostname)';
		CREATE USER '$REPL_USER'@'%' IDENTIFIED BY '$REPL_PASSWORD';
		GRANT REPLICATION SLAVE ON *.* TO '$REPL_USER'@'%';
		CREATE USER '$TEST_USER'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('$TEST_PASSWORD');
		GRANT ALL PRIVILEGES ON *.* TO '$TEST_USER'@'%' WITH GRANT OPTION;
		CREATE USER IF NOT EXISTS '$ROOT_USER'@'127.0.0.1';
		ALTER USER '$ROOT_USER'@'127.0.0.1' IDENTIFIED BY '$ROOT_PASSWORD';
		GRANT ALL PRIVILEGES ON *.* TO '$ROOT_USER'@'127.0.0.1' WITH GRANT OPTION;
		ALTER USER '$ROOT_USER'@'localhost' IDENTIFIED BY '$ROOT_PASSWORD';
		CREATE DATABASE fwdtest;"
	ROOTPW=$ROOT_PASSWORD
	local pos
	pos=$(sql writer "SELECT @@gtid_binlog_pos")
	for name in "${REPLICAS[@]}"; do
		start_replication "$name" "$pos"
	done

	{
		cat <<EOF
WRITER_ADDR=127.0.0.1:$WPORT
READER_ADDR=127.0.0.1:$RPORT
WRITER_SOCKET=$SOCKDIR/writer.sock
READER_SOCKET=$SOCKDIR/replica.sock
TEST_USER=$TEST_USER
TEST_PASSWORD=$TEST_PASSWORD
ROOT_USER=$ROOT_USER
ROOT_PASSWORD=$ROOT_PASSWORD
REPL_USER=$REPL_USER
REPL_PASSWORD=$REPL_PASSWORD
WRITER_SERVER_ID=$WRITER_SERVER_ID
READER_SERVER_ID=$READER_SERVER_ID
PAIR_DIR=$DIR
EOF
		if [ "$n" -gt 1 ]; then
			local addrs=() socks=() ids=()
			for i in "${!REPLICAS[@]}"; do
				addrs+=("127.0.0.1:${RPORTS[$i]}")
				socks+=("$SOCKDIR/${REPLICAS[$i]}.sock")
				ids+=($((READER_SERVER_ID + i)))
			done
			local IFS=,
			echo "READER_ADDRS=${addrs[*]}"
			echo "READER_SOCKETS=${socks[*]}"
			echo "READER_SERVER_IDS=${ids[*]}"
			echo "REPLICA_NAMES=${REPLICAS[*]}"
		fi
	} >"$DIR/pair.env"
	cat "$DIR/pair.env"
}

stop_server() {
	local name=$1 pid i
	[ -f "$DIR/$name/my.cnf" ] || return 0
	pid=$(server_pid "$name") || return 0
	MYSQL_PWD=$ROOT_PASSWORD mariadb-admin --defaults-file="$DIR/$name/my.cnf" --connect-timeout=2 \
		shutdown >/dev/null 2>&1 ||
		MYSQL_PWD="" mariadb-admin --defaults-file="$DIR/$name/my.cnf" --connect-timeout=2 \
			shutdown >/dev/null 2>&1 ||
		kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 $((TIMEOUT * 10))); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "pair.sh: $name (pid $pid) did not stop; killing it" >&2
	kill -KILL "$pid" 2>/dev/null || true
	sleep 0.2
}

do_stop() {
	[ -d "$DIR" ] || return 0
	DIR=$(cd "$DIR" && pwd)
	# The replicas first, so that they do not log connection errors for the writer going away.
	local pids=() name p
	for name in $(replica_names); do
		stop_server "$name" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
	stop_server writer
	if [ -s "$DIR/sockdir" ]; then
		rm -rf "$(cat "$DIR/sockdir")"
	fi
	rm -rf "$DIR"
}

do_status() {
	[ -d "$DIR" ] || die "$DIR does not exist"
	ROOTPW=$ROOT_PASSWORD
	SQL_COLUMNS=--column-names
	local n
	for n in writer $(replica_names); do
		echo "== $n"
		sql "$n" "SELECT @@server_id, @@read_only, @@gtid_binlog_pos, @@gtid_current_pos, @@gtid_slave_pos" || true
	done
	for n in $(replica_names); do
		echo "== $n: SHOW SLAVE STATUS"
		sql "$n" "SHOW SLAVE STATUS\G" || true
	done
}

# replica_names: the replicas of DIR in order (a pair started before DIR/replicas existed has one).
replica_names() {
	if [ -s "$DIR/replicas" ]; then cat "$DIR/replicas"; else echo replica; fi
}

# alive PID: the process exists and is not a zombie (a killed server whose parent is gone may stay
# a zombie where nothing reaps orphans).
alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

server_name() {
	case "$1" in
	writer | replica | replica[0-9]*) ;;
	*) usage ;;
	esac
	[ -f "$DIR/$1/my.cnf" ] || die "$DIR/$1/my.cnf does not exist"
}

replica_name() {
	case "$1" in
	replica | replica[0-9]*) server_name "$1" ;;
	*) die "$1 is not a replica" ;;
	esac
}

do_kill() {
	local name=$1 pid i
	DIR=$(cd "$DIR" && pwd)
	server_name "$name"
	pid=$(server_pid "$name") || return 0
	alive "$pid" || return 0
	kill -KILL "$pid" 2>/dev/null || true
	for i in $(seq 1 $((TIMEOUT * 10))); do
		alive "$pid" || return 0
		sleep 0.05
	done
	die "$name (pid $pid) survived SIGKILL"
}

do_revive() {
	local name=$1 pid
	DIR=$(cd "$DIR" && pwd)
	server_name "$name"
	if ! { pid=$(server_pid "$name") && alive "$pid"; }; then
		start_server "$name"
		wait_up "$name" "$ROOT_PASSWORD" || die "$name: its port is taken"
	fi
	if [ "$name" != writer ]; then
		ROOTPW=$ROOT_PASSWORD sql "$name" "START SLAVE" >/dev/null
		wait_io "$name"
	fi
}

do_halt() {
	DIR=$(cd "$DIR" && pwd)
	server_name "$1"
	stop_server "$1"
}

# wait_io NAME: wait until replica NAME's I/O thread is connected to the writer (START SLAVE
# returns while it is still Connecting or Preparing).
wait_io() {
	local i st
	for i in $(seq 1 $((TIMEOUT * 10))); do
		st=$(ROOTPW=$ROOT_PASSWORD SQL_COLUMNS=--column-names sql "$1" "SHOW SLAVE STATUS\G")
		if grep -q '^ *Slave_IO_Running: Yes$' <<<"$st"; then
			return 0
		fi
		sleep 0.1
	done
	die "$1: the replication I/O thread did not connect within ${TIMEOUT}s"
}

# do_replication NAME STATEMENT: STOP SLAVE / START SLAVE / CHANGE MASTER on replica NAME.
do_replication() {
	DIR=$(cd "$DIR" && pwd)
	replica_name "$1"
	ROOTPW=$ROOT_PASSWORD sql "$1" "$2" >/dev/null
}

do_delay() {
	case "$2" in '' | *[!0-9]*) die "delay: SECONDS must be a whole number, got '$2'" ;; esac
	do_replication "$1" "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=$2; START SLAVE"
	wait_io "$1"
}

[ $# -ge 2 ] && [ $# -le 4 ] || usage
DIR=$2
case "$1:$#" in
start:2) do_start ;;
stop:2) do_stop ;;
status:2) do_status ;;
kill:3) do_kill "$3" ;;
revive:3) do_revive "$3" ;;
halt:3) do_halt "$3" ;;
pause:3) do_replication "$3" "STOP SLAVE" ;;
resume:3) do_replication "$3" "START SLAVE" && wait_io "$3" ;;
delay:4) do_delay "$3" "$4" ;;
*) usage ;;
esac
