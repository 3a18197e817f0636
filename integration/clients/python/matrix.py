"""The step runner of the stacks matrix (integration/matrix_test.go) for the Python stacks.

Each step runs on its own: a failed step prints "FAIL <step>: <why>" and the runner reconnects
before the next one, so one failure does not hide the next.
"""
import os
import sys
import traceback

UTF8 = "ñ 😀 中文 𝄞"
DECIMAL = "12345678.9012"
DATETIME = "2024-02-29 12:34:56.789012"
BLOB = bytes(range(256))
BIG = 12000
BIG_SUM = BIG * (BIG + 1) // 2

ER_DUP_ENTRY = 1062
ER_NOT_SUPPORTED_YET = 1235


class Failed(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failed(msg)


def errno(e):
    """The server error number of a driver or SQLAlchemy/Django exception, or None."""
    for x in (e, getattr(e, "orig", None), getattr(e, "__cause__", None)):
        args = getattr(x, "args", None)
        if args and isinstance(args[0], int):
            return args[0]
    return None


def check_big(rows):
    """The bigresult step's check of (seq, CONCAT('r', seq)) rows."""
    total = 0
    for seq, s in rows:
        check(s == "r%d" % seq, "row %r" % ((seq, s),))
        total += seq
    check(len(rows) == BIG and total == BIG_SUM, "%d rows, sum %d" % (len(rows), total))


def text_prepared(table, run):
    """The prepared step with text PREPARE/EXECUTE (for drivers without binary prepared
    statements). run(sql, params) executes one statement and returns (rowcount, lastrowid, rows)."""
    run("PREPARE fwd_ins FROM 'INSERT INTO %s (k, n, s) VALUES (?, ?, ''ps'')'" % table, None)
    ids = []
    for k, n in (("ps1", 11), ("ps2", 12)):
        run("SET @k = %s, @n = %s", (k, n))
        count, lastrowid, _ = run("EXECUTE fwd_ins USING @k, @n", None)
        check(count == 1, "EXECUTE insert %s: rowcount %r" % (k, count))
        ids.append(lastrowid)
    check(ids[0] and ids[1] > ids[0], "generated keys %r" % ids)
    run("PREPARE fwd_lid FROM 'SELECT LAST_INSERT_ID()'", None)
    got = run("EXECUTE fwd_lid", None)[2][0][0]
    check(got == ids[1], "prepared LAST_INSERT_ID() %r, generated key %r" % (got, ids[1]))
    run("PREPARE fwd_sel FROM 'SELECT k FROM %s WHERE n = ?'" % table, None)
    run("SET @n = 12", None)
    got = [r[0] for r in run("EXECUTE fwd_sel USING @n", None)[2]]
    check(got == ["ps2"], "prepared SELECT: %r" % got)
    run("DEALLOCATE PREPARE fwd_ins", None)


class Runner:
    def __init__(self, stack, reconnect):
        self.stack = stack
        self.reconnect = reconnect
        self.failed = False

    def step(self, name, fn):
        try:
            fn()
        except Exception as e:  # every failure is the step's, with its message
            self.failed = True
            msg = str(e) if isinstance(e, Failed) else "%s: %s" % (type(e).__name__, e)
            print("FAIL %s: %s" % (name, " ".join(msg.split())), flush=True)
            if not isinstance(e, Failed) and errno(e) is None:
                traceback.print_exc(file=sys.stdout)
            try:
                self.reconnect()
            except Exception as e2:
                print("reconnect after %s failed: %s" % (name, e2), flush=True)
            return
        print("PASS %s" % name, flush=True)

    def design(self, name, code, fn, after=None):
        """A step whose fn must fail with server error `code` (what Aurora's design refuses);
        after() then checks the connection is still usable."""
        def run():
            try:
                fn()
            except Exception as e:
                got = errno(e)
                orig = getattr(e, "orig", None)
                cls = type(e).__module__ + "." + type(e).__name__
                if orig is not None:
                    cls += " (%s.%s)" % (type(orig).__module__, type(orig).__name__)
                print("DESIGN %s: %s: %s" % (name, cls, " ".join(str(orig or e).split())), flush=True)
                check(got == code, "want error %d, got %r: %s" % (code, got, e))
            else:
                raise Failed("no error, want %d" % code)
            if after:
                after()
        self.step(name, run)

    def done(self):
        print("DONE %s" % self.stack, flush=True)
        sys.exit(1 if self.failed else 0)


def env(k, default=None):
    v = os.environ.get(k, default)
    if v is None:
        print("FAIL setup: missing %s" % k, flush=True)
        sys.exit(2)
    return v
