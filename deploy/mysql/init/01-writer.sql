-- Run once on the writer by docker-compose's init service. Everything here reaches the
-- replica by replication (the replica starts from an empty GTID set).
CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY 'replpass';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';

-- The account fwdproxy's clients log in with; fwdproxy logs in to both servers as it.
-- REPLICATION SLAVE and REPLICATION CLIENT are for push tracking (a binlog stream from the
-- replica) and for `fwdproxy doctor`. No SUPER / CONNECTION_ADMIN: the replica's
-- read_only applies to it.
CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'apppass';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES,
  LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'app'@'%';

CREATE DATABASE IF NOT EXISTS app;
