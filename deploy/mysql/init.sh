#!/bin/sh
# docker-compose's one-shot init service (mysql image, its client): users on the writer,
# replication on the replica, then wait until the replica has everything the writer has.
set -eu
export MYSQL_PWD="${MYSQL_ROOT_PASSWORD:?}"
writer="mysql -h writer -P 3306 -uroot"
replica="mysql -h replica -P 3306 -uroot"
$writer </init/01-writer.sql
$replica </init/02-replica.sql
gtid=$($writer -N -e 'SELECT @@GLOBAL.gtid_executed' | tr -d '\n')
r=$($replica -N -e "SELECT WAIT_FOR_EXECUTED_GTID_SET('$gtid', 60)")
if [ "$r" != 0 ]; then
	echo "init: the replica did not reach the writer's $gtid" >&2
	$replica -e 'SHOW REPLICA STATUS\G' >&2
	exit 1
fi
echo "init: replication running, the replica has applied $gtid"
