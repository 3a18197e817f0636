#!/usr/bin/python3
"""A small order-taking application with retry logic, the sample that
docs/before-forwarding.md runs through lint, audit mode and fault injection.

Run with Debian's /usr/bin/python3 (python3-pymysql). Environment:
FWD_HOST FWD_PORT FWD_USER FWD_PASSWORD FWD_DB  where it connects (the writer, or fwdproxy)
ORDERS      how many orders to place (default 10)
NIGHTLY     1: also run the nightly clean-up, which empties a scratch table with TRUNCATE
RETRY       transaction (default): retry the order's transaction, and its read-back on its own;
            whole: retry the transaction and the read-back together (the first version's bug)

Each order is one transaction (insert the order, take it from stock), read back
right after its commit. The retry logic is what write forwarding asks of an
application: a statement that fails with one of Aurora's forwarding errors
has its transaction run again from the start, up to three more times. It
prints one line per retry and a summary that counts the orders the database
holds twice, and exits non-zero if an order was lost, duplicated or not read
back.
"""
import os
import sys
import time

import pymysql

# The errors a forwarding application retries: the forwarded connection
# ended (idle timeout, forwarding disabled, connection lost: 1105 with this
# text), the writer connection cap (1040), a read-wait timeout (3024).
RETRY_CODES = {1040, 3024}
RETRY_TEXT = "try restarting transaction"
TRIES = 4


def retryable(e):
    code, msg = e.args[0], str(e.args[1]) if len(e.args) > 1 else ""
    return code in RETRY_CODES or (code == 1105 and RETRY_TEXT in msg)


def place_order(cur, customer):
    cur.execute("BEGIN")
    cur.execute("INSERT INTO orders (customer, total) VALUES (%s, %s)", (customer, 19.90))
    order_id = cur.lastrowid
    cur.execute("UPDATE stock SET qty = qty - 1 WHERE sku = 'A-100'")
    cur.execute("COMMIT")
    return order_id


def read_back(cur, order_id):
    """The confirmation page: read your own write."""
    cur.execute("SELECT status FROM orders WHERE id = %s", (order_id,))
    return cur.fetchone()


class Retrier:
    def __init__(self, conn):
        self.conn, self.retries = conn, {}

    def run(self, n, fn):
        """fn() with retries; (True, result), or (False, None) when it gave up."""
        for attempt in range(1, TRIES + 1):
            try:
                return True, fn()
            except pymysql.err.MySQLError as e:
                if not retryable(e) or attempt == TRIES:
                    print("order %d: gave up: %s" % (n, e), flush=True)
                    return False, None
                code = e.args[0]
                self.retries[code] = self.retries.get(code, 0) + 1
                print("order %d: retry %d after %d %s" % (n, attempt, code, e.args[1]), flush=True)
                self.conn.ping(reconnect=True)
                time.sleep(0.05 * attempt)


def main():
    env = os.environ
    conn = pymysql.connect(host=env["FWD_HOST"], port=int(env["FWD_PORT"]), user=env["FWD_USER"],
                           password=env["FWD_PASSWORD"], database=env["FWD_DB"], autocommit=True,
                           program_name="orders_app")
    cur = conn.cursor()
    r, run = Retrier(conn), "r%d-" % os.getpid()
    orders, lost, unseen = int(env.get("ORDERS", "10")), 0, 0
    for n in range(1, orders + 1):
        customer = run + "c%d" % n
        if env.get("RETRY") == "whole":
            ok, res = r.run(n, lambda: (lambda i: (i, read_back(cur, i)))(place_order(cur, customer)))
            row = res[1] if ok else None
        else:
            ok, order_id = r.run(n, lambda: place_order(cur, customer))
            if ok:
                ok, row = r.run(n, lambda: read_back(cur, order_id))
        if not ok:
            lost += 1
        elif row is None:
            print("order %d: not visible right after its commit" % n, flush=True)
            unseen += 1
    if env.get("NIGHTLY") == "1":
        cur.execute("TRUNCATE TABLE order_scratch")
    cur.execute("SELECT COUNT(*) FROM orders WHERE customer LIKE %s", (run + "%",))
    held = cur.fetchone()[0]
    cur.execute("SELECT COUNT(*) - COUNT(DISTINCT customer) FROM orders WHERE customer LIKE %s", (run + "%",))
    dup = cur.fetchone()[0]
    summary = ", ".join("%d x %d" % (r.retries[c], c) for c in sorted(r.retries)) or "none"
    print("orders: %d asked, %d in the database, %d duplicated, %d given up, %d not read back; retries: %s"
          % (orders, held, dup, lost, unseen, summary), flush=True)
    sys.exit(1 if lost or unseen or dup else 0)


if __name__ == "__main__":
    main()
