#!/usr/bin/python3
"""The client-matrix scenario (integration/clients_test.go) with PyMySQL or mysqlclient.

Run with Debian's /usr/bin/python3 (python3-pymysql, python3-mysqldb). Environment:
FWD_HOST FWD_PORT FWD_USER FWD_PASSWORD FWD_DB  where the proxy listens, and who logs in
FWD_TABLE  the table (id AUTO_INCREMENT, v INT, s VARCHAR) created on the writer beforehand
FWD_DRIVER pymysql | mysqldb
FWD_STACK  the name printed in the final "OK <stack>" line

Both drivers interpolate parameters on the client (PyMySQL has no server-side prepares,
mysqlclient 1.4 does not use them), so "prepared" here means parameterised queries.
Exits non-zero with a FAIL line on the first failure.
"""
import os
import sys

ER_NOT_SUPPORTED_YET = 1235


def fail(msg):
    print("FAIL %s: %s" % (os.environ.get("FWD_STACK", "python"), msg), flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def main():
    env = os.environ
    driver = env.get("FWD_DRIVER", "pymysql")
    table = env["FWD_TABLE"]
    stack = env.get("FWD_STACK", driver)
    kw = dict(host=env["FWD_HOST"], port=int(env["FWD_PORT"]), user=env["FWD_USER"],
              password=env["FWD_PASSWORD"], database=env["FWD_DB"], charset="utf8mb4",
              autocommit=True)
    if driver == "pymysql":
        import pymysql as mod
        conn = mod.connect(**kw)
    elif driver == "mysqldb":
        import MySQLdb as mod
        kw["passwd"] = kw.pop("password")
        kw["db"] = kw.pop("database")
        conn = mod.connect(**kw)
    else:
        fail("unknown FWD_DRIVER %r" % driver)
    print("driver", driver, getattr(mod, "__version__", getattr(mod, "version_info", "")), flush=True)
    cur = conn.cursor()

    # 1. the session consistency
    cur.execute("SET aurora_replica_read_consistency = 'SESSION'")
    cur.execute("SELECT @@aurora_replica_read_consistency")
    check(cur.fetchone()[0] == "SESSION", "consistency not SESSION")

    # 2. a forwarded INSERT and its insert id
    cur.execute("INSERT INTO %s (v, s) VALUES (1, 'first')" % table)
    first_id = cur.lastrowid
    check(first_id and first_id > 0, "lastrowid %r" % (first_id,))
    check(cur.rowcount == 1, "rowcount %r" % (cur.rowcount,))
    print("insert_id=%d" % first_id, flush=True)
    cur.execute("SELECT LAST_INSERT_ID()")
    check(cur.fetchone()[0] == first_id, "LAST_INSERT_ID() differs from lastrowid")

    # 3. read-your-write
    cur.execute("SELECT v, s FROM %s WHERE id = %%s" % table, (first_id,))
    row = cur.fetchone()
    check(row is not None, "read-your-write: row %d not found" % first_id)
    check(tuple(row) == (1, "first"), "read-your-write: got %r" % (row,))

    # 4. parameterised INSERT and SELECT, twice each
    ins = "INSERT INTO %s (v, s) VALUES (%%s, %%s)" % table
    for v, s in ((2, "p2"), (3, "p3")):
        cur.execute(ins, (v, s))
        check(cur.rowcount == 1 and cur.lastrowid > first_id, "prepared insert %d: %r %r" % (v, cur.rowcount, cur.lastrowid))
    sel = "SELECT s FROM %s WHERE v = %%s" % table
    for v, s in ((2, "p2"), (3, "p3")):
        cur.execute(sel, (v,))
        rows = cur.fetchall()
        check([tuple(r) for r in rows] == [(s,)], "prepared select %d: %r" % (v, rows))

    # 5. COMMIT and ROLLBACK
    conn.begin()
    cur.execute(ins, (4, "commit"))
    cur.execute(sel, (4,))
    check(len(cur.fetchall()) == 1, "transaction does not see its own insert")
    conn.commit()
    conn.begin()
    cur.execute(ins, (5, "rollback"))
    conn.rollback()
    cur.execute(sel, (5,))
    check(len(cur.fetchall()) == 0, "rolled-back row visible")
    cur.execute(sel, (4,))
    check(len(cur.fetchall()) == 1, "committed row not visible")

    # 6. a 1235 rejection
    try:
        cur.execute("CREATE TABLE %s_x (i INT)" % table)
        fail("CREATE TABLE succeeded")
    except mod.MySQLError as e:
        check(e.args[0] == ER_NOT_SUPPORTED_YET, "CREATE TABLE: want 1235, got %r" % (e.args,))
        print("rejected", e.args[0], e.args[1], flush=True)
    cur.execute("SELECT 1")
    check(cur.fetchone()[0] == 1, "connection unusable after the rejection")

    # 7. a multi-row result
    cur.execute("SELECT seq, CONCAT('r', seq) FROM seq_1_to_1000")
    rows = cur.fetchall()
    total = 0
    for seq, s in rows:
        check(s == "r%d" % seq, "row %r" % ((seq, s),))
        total += seq
    check(len(rows) == 1000 and total == 500500, "multi-row: %d rows, sum %d" % (len(rows), total))
    print("rows=%d sum=%d" % (len(rows), total), flush=True)

    cur.close()
    conn.close()
    print("OK %s" % stack, flush=True)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as e:  # any driver error is a failure with its message
        fail("%s: %s" % (type(e).__name__, e))
