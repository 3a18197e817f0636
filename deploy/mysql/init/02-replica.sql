-- Run on the replica by docker-compose's init service, after 01-writer.sql on the writer.
-- Nothing here goes to the replica's own binlog.
SET SESSION sql_log_bin = 0;
-- super_read_only may already be ON (a second `docker compose up`).
SET GLOBAL super_read_only = OFF;
STOP REPLICA;
CHANGE REPLICATION SOURCE TO
  SOURCE_HOST = 'writer', SOURCE_PORT = 3306,
  SOURCE_USER = 'repl', SOURCE_PASSWORD = 'replpass',
  SOURCE_AUTO_POSITION = 1, GET_SOURCE_PUBLIC_KEY = 1, SOURCE_CONNECT_RETRY = 1;
START REPLICA;
SET PERSIST read_only = ON;
SET PERSIST super_read_only = ON;
