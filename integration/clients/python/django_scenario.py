#!/usr/bin/python3
"""The stacks-matrix steps (integration/matrix_test.go) with Django's ORM on mysqlclient.

Run with Debian's /usr/bin/python3 (python3-django, python3-mysqldb). Environment: FWD_HOST FWD_PORT
(the proxy), FWD_WRITER_HOST FWD_WRITER_PORT (the writer: migrations run there), FWD_USER
FWD_PASSWORD FWD_DB (an empty database), FWD_TABLE (the model's table), FWD_STACK.

FWD_MODE=migrate runs the migration (stackapp/migrations) on the writer directly, as
docs/stacks.md says to, and nothing else; without it, everything goes through the proxy. Django runs in autocommit mode and uses transactions
only inside atomic(). mysqlclient has no binary prepared statements: the prepared step uses
text PREPARE/EXECUTE.
"""
import datetime
import decimal
import os

import django
from django.conf import settings

from matrix import (BIG, BLOB, DATETIME as DT, DECIMAL, ER_DUP_ENTRY, ER_NOT_SUPPORTED_YET, UTF8, Runner,
                    check, check_big, env, errno, text_prepared)


def database(host, port):
    return {"ENGINE": "django.db.backends.mysql", "HOST": host, "PORT": port, "NAME": env("FWD_DB"),
            "USER": env("FWD_USER"), "PASSWORD": env("FWD_PASSWORD"), "OPTIONS": {"charset": "utf8mb4"}}


settings.configure(
    DATABASES={"default": database(env("FWD_HOST"), env("FWD_PORT")),
               "writer": database(env("FWD_WRITER_HOST"), env("FWD_WRITER_PORT"))},
    INSTALLED_APPS=["stackapp"], USE_TZ=False, DEFAULT_AUTO_FIELD="django.db.models.BigAutoField")
django.setup()

from django.core.management import call_command  # noqa: E402 (needs setup())
from django.db import IntegrityError, connection, connections, models, transaction  # noqa: E402

from stackapp.models import Row  # noqa: E402

table = env("FWD_TABLE")


def reconnect():
    connection.close()


def n_of(k):
    return list(Row.objects.filter(k=k).values_list("n", flat=True))


def migrate():
    call_command("migrate", "stackapp", database="writer", verbosity=0)
    connections["writer"].close()


def connect():
    with connection.cursor() as c:
        c.execute("SELECT @@aurora_replica_read_consistency, @@autocommit, @@tx_isolation")
        cons, ac, iso = c.fetchone()
    print("connect: autocommit %r, isolation %s" % (ac, iso), flush=True)
    check(cons == "SESSION", "consistency %r" % cons)
    check(ac == 1, "@@autocommit is %r, but Django believes it is on" % ac)


def readback():
    r = Row.objects.create(k="first", n=1, s="first")
    print("insert_id=%d" % r.id, flush=True)
    got = Row.objects.filter(id=r.id).first()
    check(got is not None, "row %d not found right after the insert" % r.id)
    check((got.n, got.s) == (1, "first"), "read back %r" % ((got.n, got.s),))


def lastid():
    key = Row.objects.create(k="lastid", n=9).id
    with connection.cursor() as c:
        c.execute("SELECT LAST_INSERT_ID()")
        got = c.fetchone()[0]
    check(got == key, "LAST_INSERT_ID() %r, generated key %r" % (got, key))


def prepared():
    with connection.cursor() as c:
        def run(sql, params):
            c.execute(sql, params)
            return c.rowcount, c.lastrowid, c.fetchall() if c.description else []
        text_prepared(table, run)


def commit():
    with transaction.atomic():
        Row.objects.create(k="commit", n=3)
        check(n_of("commit") == [3], "transaction misses its insert")
    check(n_of("commit") == [3], "committed row: %r" % n_of("commit"))


class Rollback(Exception):
    pass


def rollback():
    try:
        with transaction.atomic():
            Row.objects.create(k="rollback", n=4)
            raise Rollback()
    except Rollback:
        pass
    check(n_of("rollback") == [], "rolled-back row visible: %r" % n_of("rollback"))


def forupdate():
    Row.objects.create(k="lock", n=1)
    with transaction.atomic():
        r = Row.objects.select_for_update().get(k="lock")
        check(r.n == 1, "FOR UPDATE read n=%r" % r.n)
        r.n = 2
        r.save(update_fields=["n"])
    check(n_of("lock") == [2], "after the update: %r" % n_of("lock"))


def utf8mb4():
    Row.objects.create(k="utf8", s=UTF8)
    got = Row.objects.get(k="utf8").s
    check(got == UTF8, "read back %r" % got)


def types():
    want_t = datetime.datetime.strptime(DT, "%Y-%m-%d %H:%M:%S.%f")
    Row.objects.create(k="types", n=None, s=None, d=decimal.Decimal(DECIMAL), t=want_t, b=BLOB)
    r = Row.objects.get(k="types")
    check(r.n is None and r.s is None, "NULLs read back as %r %r" % (r.n, r.s))
    check(r.d == decimal.Decimal(DECIMAL), "DECIMAL %r" % r.d)
    check(r.t == want_t, "DATETIME(6) %r" % r.t)
    check(bytes(r.b) == BLOB, "BLOB %r" % bytes(r.b)[:16])


def bigresult():
    with connection.cursor() as c:
        c.execute("SELECT seq, CONCAT('r', seq) FROM seq_1_to_%d" % BIG)
        check_big(c.fetchall())


def dupkey():
    Row.objects.create(k="dup", n=5)
    try:
        Row.objects.create(k="dup", n=55)
        check(False, "second k='dup' inserted")
    except IntegrityError as e:
        check(errno(e) == ER_DUP_ENTRY, "want 1062, got %r" % errno(e))
    Row.objects.create(k="afterdup", n=6)
    check(n_of("afterdup") == [6], "after the duplicate: %r" % n_of("afterdup"))


def savepoint():
    with transaction.atomic():
        Row.objects.create(k="sp-outer", n=7)
        with transaction.atomic():
            Row.objects.create(k="sp-inner", n=8)


def savepoint_after():
    check(Row.objects.filter(k__startswith="sp-").count() == 0, "rows of the failed transaction: %r"
          % list(Row.objects.filter(k__startswith="sp-").values_list("k", flat=True)))


def nosavepoint():
    with transaction.atomic():
        Row.objects.create(k="nosp-outer", n=31)
        with transaction.atomic(savepoint=False):
            Row.objects.create(k="nosp-inner", n=32)
    check(sorted(n_of("nosp-outer") + n_of("nosp-inner")) == [31, 32], "rows missing")


def ddl():
    class Other(models.Model):
        i = models.IntegerField()

        class Meta:
            app_label = "stackapp"
            db_table = table + "_ddl"

    with connection.schema_editor() as editor:
        editor.create_model(Other)


def main():
    import MySQLdb
    print("django", django.get_version(), "mysqlclient", MySQLdb.__version__, flush=True)
    r = Runner(env("FWD_STACK"), reconnect)
    if env("FWD_MODE", "") == "migrate":
        r.step("migrate", migrate)
        r.done()
    for name, fn in (("connect", connect), ("readback", readback), ("lastid", lastid), ("prepared", prepared),
                     ("commit", commit), ("rollback", rollback), ("forupdate", forupdate),
                     ("utf8mb4", utf8mb4), ("types", types), ("bigresult", bigresult), ("dupkey", dupkey)):
        r.step(name, fn)
    r.design("design-savepoint", ER_NOT_SUPPORTED_YET, savepoint, savepoint_after)
    r.step("design-nosavepoint", nosavepoint)
    r.design("design-ddl", ER_NOT_SUPPORTED_YET, ddl)
    r.done()


main()
