#!/usr/bin/env bash
# demo.sh BIN: a MariaDB writer and replica plus fwdproxy in front of them,
# until Ctrl-C, which stops all three.
set -euo pipefail
bin=${1:?usage: demo.sh path/to/fwdproxy}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/fwdproxy-demo.XXXXXX)
port=${DEMO_PORT:-4000}
admin=${DEMO_ADMIN:-127.0.0.1:4001}

cleanup() {
	trap - EXIT INT TERM
	[ -n "${proxy_pid:-}" ] && kill "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null || true
	bash "$here/pair.sh" stop "$dir" >/dev/null 2>&1 || true
	echo "demo stopped"
}
trap cleanup EXIT INT TERM

bash "$here/pair.sh" start "$dir" >/dev/null
# shellcheck disable=SC1091
source "$dir/pair.env"
# A table to play with, created on the writer (DDL is not forwarded).
mariadb -h 127.0.0.1 -P "${WRITER_ADDR##*:}" -u "$TEST_USER" -p"$TEST_PASSWORD" fwdtest \
	-e "CREATE TABLE IF NOT EXISTS demo (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100))"
"$bin" serve --listen "127.0.0.1:$port" --admin "$admin" \
	--writer "$WRITER_ADDR" --reader "$READER_ADDR" \
	--user "$TEST_USER:$TEST_PASSWORD" --log-level warn &
proxy_pid=$!
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done

cat <<MSG

fwdproxy is up on 127.0.0.1:$port in front of a MariaDB writer ($WRITER_ADDR) and its
GTID replica ($READER_ADDR). Admin: http://$admin/status and /metrics.
Connect with:

  mariadb -h 127.0.0.1 -P $port -u $TEST_USER -p$TEST_PASSWORD fwdtest

Then try:

  INSERT INTO demo (note) VALUES ('hi');       -- ERROR 1290: forwarding is off in this session
  SET aurora_replica_read_consistency = 'session';
  INSERT INTO demo (note) VALUES ('hello');    -- forwarded to the writer
  SELECT @@server_id, id, note FROM demo;      -- served by the replica (server_id 2), sees the row
  CREATE TABLE t2 (i INT);                     -- ERROR 1235: DDL is not forwarded
  SHOW STATUS LIKE 'Aurora_fwd%';

Press Ctrl-C to stop the writer, the replica and the proxy.
MSG
wait "$proxy_pid"
