#!/usr/bin/env bash
# The client-matrix scenario (integration/clients_test.go) with the `mariadb` command-line client.
#
# Environment: FWD_HOST FWD_PORT FWD_USER FWD_PASSWORD FWD_DB (the proxy), FWD_TABLE (created on the
# writer beforehand), FWD_STACK (name in the "OK" line). The scenario is one SQL script on stdin
# (batch mode, stops at the first error); prepared statements are text PREPARE/EXECUTE; the 1235
# rejection is a separate invocation whose stderr must carry "ERROR 1235".
set -uo pipefail

stack=${FWD_STACK:-cli}
t=${FWD_TABLE:?FWD_TABLE missing}
fail() { echo "FAIL $stack: $*"; exit 1; }

# --no-defaults first: no ~/.my.cnf or /etc/mysql settings leak in.
cli() {
	MYSQL_PWD=$FWD_PASSWORD mariadb --no-defaults --protocol=TCP -h "$FWD_HOST" -P "$FWD_PORT" \
		-u "$FWD_USER" --batch --skip-column-names "$@" "$FWD_DB"
}

mariadb --version || fail "mariadb client missing"

out=$(cli 2>&1 <<SQL
SET aurora_replica_read_consistency = 'SESSION';
SELECT @@aurora_replica_read_consistency;
INSERT INTO $t (v, s) VALUES (1, 'first');
SELECT 'insert_id:';
SELECT LAST_INSERT_ID();
SELECT CONCAT('ryw:', v, ':', s) FROM $t WHERE v = 1;
PREPARE ins FROM 'INSERT INTO $t (v, s) VALUES (?, ?)';
SET @v = 2, @s = 'p2';
EXECUTE ins USING @v, @s;
SET @v = 3, @s = 'p3';
EXECUTE ins USING @v, @s;
PREPARE sel FROM 'SELECT CONCAT(''ps:'', v, '':'', s) FROM $t WHERE v = ?';
SET @v = 2;
EXECUTE sel USING @v;
SET @v = 3;
EXECUTE sel USING @v;
BEGIN;
SET @v = 4, @s = 'commit';
EXECUTE ins USING @v, @s;
SELECT CONCAT('in-tx:', COUNT(*)) FROM $t WHERE v = 4;
COMMIT;
START TRANSACTION;
SET @v = 5, @s = 'rollback';
EXECUTE ins USING @v, @s;
ROLLBACK;
SELECT CONCAT('after-tx:', SUM(v = 4), ':', SUM(v = 5)) FROM $t;
DEALLOCATE PREPARE ins;
DEALLOCATE PREPARE sel;
SELECT seq, CONCAT('r', seq) FROM seq_1_to_1000;
SELECT 'end-of-script';
SQL
)
rc=$?
echo "$out" | grep -v -E '^[0-9]+	r[0-9]+$'
[ $rc -eq 0 ] || fail "mariadb exited $rc"

want() { grep -qxF -- "$1" <<<"$out" || fail "missing line '$1'"; }
want "SESSION"
id=$(grep -A1 -xF 'insert_id:' <<<"$out" | tail -n 1)
[[ "$id" =~ ^[0-9]+$ ]] && [ "$id" -gt 0 ] || fail "LAST_INSERT_ID() after the forwarded INSERT: '$id'"
echo "insert_id=$id"
want "ryw:1:first"
want "ps:2:p2"
want "ps:3:p3"
want "in-tx:1"
want "after-tx:1:0"
want "end-of-script"
# The multi-row result: 1000 rows "N<TAB>rN", N = 1..1000.
read -r rows sum bad < <(awk -F'\t' '/^[0-9]+\tr[0-9]+$/ { n++; s += $1; if ($2 != "r" $1) b++ } END { printf "%d %d %d\n", n, s, b }' <<<"$out")
[ "$rows" = 1000 ] && [ "$sum" = 500500 ] && [ "$bad" = 0 ] || fail "multi-row: $rows rows, sum $sum, $bad bad"
echo "rows=$rows sum=$sum"

# The 1235 rejection, in its own invocation.
err=$(cli -e "SET aurora_replica_read_consistency = 'SESSION'; CREATE TABLE ${t}_x (i INT)" 2>&1 >/dev/null)
rc=$?
echo "rejection: rc=$rc $err"
[ $rc -ne 0 ] || fail "CREATE TABLE succeeded"
grep -q "^ERROR 1235 (42000)" <<<"$err" || fail "CREATE TABLE: want ERROR 1235, got: $err"

echo "OK $stack"
