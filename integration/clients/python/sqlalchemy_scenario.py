#!/usr/bin/python3
"""The stacks-matrix steps (integration/matrix_test.go) with SQLAlchemy's ORM and Core.

Run with Debian's /usr/bin/python3 (python3-sqlalchemy, python3-pymysql, python3-mysqldb).
Environment: FWD_HOST FWD_PORT FWD_USER FWD_PASSWORD FWD_DB (the proxy), FWD_TABLE (created on
the writer beforehand), FWD_MODE pymysql | mysqldb (the DBAPI driver), FWD_STACK.

Neither driver has binary prepared statements, so the prepared step uses text PREPARE/EXECUTE.
SQLAlchemy keeps PEP 249's autocommit off: every Session and Connection is a transaction.
"""
import datetime
import decimal

import sqlalchemy
from sqlalchemy import (BigInteger, Column, Integer, LargeBinary, MetaData, Numeric, String, Table,
                        create_engine, select, text)
from sqlalchemy.dialects.mysql import DATETIME
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, declarative_base
from sqlalchemy.pool import StaticPool

from matrix import (BIG, BLOB, DATETIME as DT, DECIMAL, ER_DUP_ENTRY, ER_NOT_SUPPORTED_YET, UTF8, Runner,
                    check, check_big, env, errno, text_prepared)

table = env("FWD_TABLE")
driver = env("FWD_MODE", "pymysql")
Base = declarative_base()


class Row(Base):
    __tablename__ = table
    id = Column(BigInteger, primary_key=True, autoincrement=True)
    k = Column(String(32), nullable=False, unique=True)
    n = Column(Integer)
    s = Column(String(64))
    d = Column(Numeric(14, 4))
    t = Column(DATETIME(fsp=6))
    b = Column(LargeBinary)


def make_engine():
    url = URL.create("mysql+" + driver, username=env("FWD_USER"), password=env("FWD_PASSWORD"),
                     host=env("FWD_HOST"), port=int(env("FWD_PORT")), database=env("FWD_DB"),
                     query={"charset": "utf8mb4"})
    # One connection for everything, so LAST_INSERT_ID() sees the session's insert.
    return create_engine(url, future=True, poolclass=StaticPool)


engine = make_engine()
state = {}


def reconnect():
    global engine
    engine.dispose()
    engine = make_engine()


def n_of(k):
    with Session(engine) as s:
        return s.execute(select(Row.n).where(Row.k == k)).scalars().all()


def connect():
    with engine.connect() as c:
        cons, ac = c.execute(text("SELECT @@aurora_replica_read_consistency, @@autocommit")).one()
        check(cons == "SESSION", "consistency %r" % cons)
        check(ac == 0, "@@autocommit is %r, but SQLAlchemy (PEP 249) believes it is off" % ac)


def readback():
    with Session(engine) as s:
        r = Row(k="first", n=1, s="first")
        s.add(r)
        s.flush()
        state["first"] = r.id
        s.commit()
    print("insert_id=%d" % state["first"], flush=True)
    with Session(engine) as s:
        got = s.get(Row, state["first"])
        check(got is not None, "row %d not found right after the commit" % state["first"])
        check((got.n, got.s) == (1, "first"), "read back %r" % ((got.n, got.s),))


def lastid():
    with Session(engine) as s:
        r = Row(k="lastid", n=9)
        s.add(r)
        s.flush()
        key = r.id
        got = s.execute(text("SELECT LAST_INSERT_ID()")).scalar()
        s.commit()
    check(got == key, "LAST_INSERT_ID() %r, generated key %r" % (got, key))


def prepared():
    with engine.connect() as c:
        def run(sql, params):
            r = c.exec_driver_sql(sql, params) if params else c.exec_driver_sql(sql)
            return r.rowcount, r.lastrowid, r.all() if r.returns_rows else []
        text_prepared(table, run)
        c.commit()


def commit():
    with Session(engine) as s:
        s.add(Row(k="commit", n=3))
        s.flush()
        check(s.execute(select(Row.n).where(Row.k == "commit")).scalar() == 3, "transaction misses its insert")
        s.commit()
    check(n_of("commit") == [3], "committed row: %r" % n_of("commit"))


def rollback():
    with Session(engine) as s:
        s.add(Row(k="rollback", n=4))
        s.flush()
        s.rollback()
    got = n_of("rollback")
    check(got == [], "rolled-back row visible: %r" % got)


def forupdate():
    with Session(engine) as s:
        s.add(Row(k="lock", n=1))
        s.commit()
    with Session(engine) as s:
        r = s.execute(select(Row).where(Row.k == "lock").with_for_update()).scalar_one()
        check(r.n == 1, "FOR UPDATE read n=%r" % r.n)
        r.n = 2
        s.commit()
    check(n_of("lock") == [2], "after the update: %r" % n_of("lock"))


def utf8mb4():
    with Session(engine) as s:
        s.add(Row(k="utf8", s=UTF8))
        s.commit()
    with Session(engine) as s:
        got = s.execute(select(Row.s).where(Row.k == "utf8")).scalar()
        check(got == UTF8, "read back %r" % got)


def types():
    want_t = datetime.datetime.strptime(DT, "%Y-%m-%d %H:%M:%S.%f")
    with Session(engine) as s:
        s.add(Row(k="types", n=None, s=None, d=decimal.Decimal(DECIMAL), t=want_t, b=BLOB))
        s.commit()
    with Session(engine) as s:
        r = s.execute(select(Row).where(Row.k == "types")).scalar_one()
        check(r.n is None and r.s is None, "NULLs read back as %r %r" % (r.n, r.s))
        check(r.d == decimal.Decimal(DECIMAL), "DECIMAL %r" % r.d)
        check(r.t == want_t, "DATETIME(6) %r" % r.t)
        check(bytes(r.b) == BLOB, "BLOB %r" % r.b[:16])


def bigresult():
    with engine.connect() as c:
        check_big(c.execute(text("SELECT seq, CONCAT('r', seq) FROM seq_1_to_%d" % BIG)).all())


def dupkey():
    with Session(engine) as s:
        s.add(Row(k="dup", n=5))
        s.commit()
    with Session(engine) as s:
        s.add(Row(k="dup", n=55))
        try:
            s.commit()
            check(False, "second k='dup' inserted")
        except IntegrityError as e:
            check(errno(e) == ER_DUP_ENTRY, "want 1062, got %r" % errno(e))
            s.rollback()
        s.add(Row(k="afterdup", n=6))
        s.commit()
    check(n_of("afterdup") == [6], "after the duplicate: %r" % n_of("afterdup"))


def savepoint():
    with Session(engine) as s:
        s.add(Row(k="sp-outer", n=7))
        s.flush()
        try:
            with s.begin_nested():
                s.add(Row(k="sp-inner", n=8))
        finally:
            s.rollback()


def savepoint_after():
    with engine.connect() as c:
        check(c.execute(text("SELECT 1")).scalar() == 1, "connection unusable")
    check(n_of("sp-outer") == [], "the outer transaction's row is there: %r" % n_of("sp-outer"))


def ddl():
    Table(table + "_ddl", MetaData(), Column("i", Integer)).create(engine)


def main():
    print("sqlalchemy", sqlalchemy.__version__, "driver", driver,
          __import__("pymysql" if driver == "pymysql" else "MySQLdb").__version__, flush=True)
    r = Runner(env("FWD_STACK"), reconnect)
    for name, fn in (("connect", connect), ("readback", readback), ("lastid", lastid), ("prepared", prepared),
                     ("commit", commit), ("rollback", rollback), ("forupdate", forupdate),
                     ("utf8mb4", utf8mb4), ("types", types), ("bigresult", bigresult), ("dupkey", dupkey)):
        r.step(name, fn)
    r.design("design-savepoint", ER_NOT_SUPPORTED_YET, savepoint, savepoint_after)
    r.design("design-ddl", ER_NOT_SUPPORTED_YET, ddl)
    r.done()


main()
