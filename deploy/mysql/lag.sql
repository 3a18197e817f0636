-- Profile `lag`: the replica replicates through toxiproxy (service lag, port 3307), which
-- delays what the writer sends by LAG_MS milliseconds.
SET SESSION sql_log_bin = 0;
SET GLOBAL super_read_only = OFF;
STOP REPLICA;
CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'lag', SOURCE_PORT = 3307;
START REPLICA;
SET GLOBAL super_read_only = ON;
