"""One database URL, SQLite or PostgreSQL, and the one way to open a write transaction.

SQLite is shared by several processes (tills and the agent), so every write transaction starts
with BEGIN IMMEDIATE: a deferred transaction that reads and then writes fails at once with
"database is locked" when another process committed in between, whatever the busy timeout.
"""
from __future__ import annotations

import contextlib
import sqlite3
import sys
import time
from typing import Iterator
from urllib.parse import urlparse


def _import_peewee():
    """peewee imports psycopg2 at its own import (~13 ms of a till's cold start) whether or not a
    PostgreSQL URL is ever used. Imported first here, it sees no psycopg2; `_load_psycopg2` then
    does what peewee's import would have done, before the first PostgreSQL database is set up.
    Not done when psycopg (3) or psycopg2cffi is installed: peewee would then choose differently."""
    if "peewee" in sys.modules or "psycopg2" in sys.modules:
        import peewee
        return peewee
    from importlib.util import find_spec
    if find_spec("psycopg") is not None or find_spec("psycopg2cffi") is not None:
        import peewee
        return peewee
    sys.modules["psycopg2"] = None  # type: ignore[assignment]  # "import psycopg2" raises ImportError
    try:
        import peewee
    finally:
        del sys.modules["psycopg2"]
    pg_init = peewee.PostgresqlDatabase.init

    def init(self, *args, **kwargs):
        _load_psycopg2(peewee)
        return pg_init(self, *args, **kwargs)

    peewee.PostgresqlDatabase.init = init  # every PostgreSQL database (subclasses too) comes through here
    return peewee


def _load_psycopg2(peewee) -> None:
    """The psycopg2 part of peewee's import (peewee.py, top of the module), done when first needed.
    Its one process-wide effect, psycopg2 adapting uuid.UUID, so starts at the first PostgreSQL
    database; the direct psycopg2 calls (hq_claims, hq_stock, hq) pass no UUID objects."""
    if peewee.psycopg2 is not None:
        return
    try:
        import psycopg2
    except ImportError:
        return  # peewee says "psycopg2 postgres driver not found", as it would have
    from psycopg2 import extensions
    from psycopg2.extras import Json, register_uuid
    register_uuid()
    peewee.psycopg2, peewee.pg_extensions, peewee.pg_register_uuid, peewee.Json_pg2 = (
        psycopg2, extensions, register_uuid, Json)
    adapter = peewee.Psycopg2Adapter
    adapter.txn_idle = extensions.TRANSACTION_STATUS_IDLE
    adapter.txn_inerror = extensions.TRANSACTION_STATUS_INERROR
    adapter.txn_unknown = extensions.TRANSACTION_STATUS_UNKNOWN


_import_peewee()
from peewee import (DatabaseProxy, PostgresqlDatabase, SqliteDatabase,  # noqa: E402 - after _import_peewee
                    __exception_wrapper__)

from . import wal  # noqa: E402 - stdlib only

SQLITE_PRAGMAS = {
    "journal_mode": "wal",      # readers never block the writer
    "synchronous": "full",      # a counter can lose power; a committed sale must survive it
    "foreign_keys": 1,
    "cache_size": -16000,       # 16 MB: enough, and the box has 2 GB
    # SQLite's default; 0 instead while the agent checkpoints (wal.py, set as each connection opens)
    "wal_autocheckpoint": wal.DEFAULT_AUTOCHECKPOINT,
    # every writer: SQLite cuts the WAL file back at the commit after a reset, with that connection's limit
    "journal_size_limit": wal.JOURNAL_SIZE_LIMIT,
}
BUSY_TIMEOUT_S = 10

database = DatabaseProxy()


class DatabaseUrlError(ValueError):
    pass


def open_database(url: str):
    """Connect the models to the database at `url` and return the peewee Database."""
    if url.startswith("sqlite"):
        sqlite = dict(pragmas=SQLITE_PRAGMAS, timeout=BUSY_TIMEOUT_S, lock_type="IMMEDIATE")
        parts = urlparse(url)
        if parts.scheme == "sqlite" and not parts.netloc and not parts.params and not parts.query \
                and not parts.fragment and len(parts.path) > 1:
            # the usual sqlite:///path, as playhouse.db_url would open it (which imports every
            # database driver peewee knows, psycopg2 among them)
            db = SqliteDatabase(parts.path[1:], **sqlite)
        else:
            from playhouse.db_url import connect as connect_url
            db = connect_url(url, **sqlite)
    elif url.startswith(("postgres://", "postgresql://")):
        from playhouse.db_url import connect as connect_url
        db = connect_url(url)
    else:
        raise DatabaseUrlError(f"unsupported database URL scheme: {url.split(':', 1)[0]!r} "
                               "(use sqlite:///path or postgresql://...)")
    if isinstance(db, SqliteDatabase):
        # peewee's hooks for a new connection and for BEGIN, on this instance (either way of opening it above)
        db._initialize_connection = lambda conn, db=db: _autocheckpoint(db, conn)
        db.begin = lambda lock_type=None, db=db: _begin(db, lock_type)
    database.initialize(db)
    return db


# How often a writer asks again for the write lock another process holds: every half millisecond
# for the first 50 ms (a sale holds it for a few), then less often behind a long writer.
LOCK_POLL_S = ((0.05, 0.0005), (0.5, 0.002), (float("inf"), 0.01))


def _begin(db, lock_type=None) -> None:
    """BEGIN (IMMEDIATE) waiting for the write lock in steps of half a millisecond, up to the
    database's busy timeout. SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20 ms between
    tries, so a till that found the lock taken waited 18 or 33 ms for a writer that let go after
    4: that was the checkout's p99 with four tills, and every few milliseconds another process
    took from the holder moved it a whole step. Only the BEGIN is retried: nothing has been done
    yet, so trying again is safe. Inside the transaction the lock is held, and SQLite's timeout,
    restored at once, stays for the rare statement that still has to wait."""
    lock_type = lock_type or db._lock_type
    statement = f"BEGIN {lock_type}" if lock_type else "BEGIN"
    cursor = db.cursor()
    limit_s = db._timeout
    first_refused = None
    with __exception_wrapper__:   # errors as peewee raises them (peewee.OperationalError...)
        cursor.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    cursor.execute(statement)
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise
                    first_refused = first_refused or time.monotonic()
                    waited = time.monotonic() - first_refused
                    if waited >= limit_s:
                        raise
                time.sleep(min(next(pause for upto, pause in LOCK_POLL_S if waited < upto), limit_s - waited))
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {int(limit_s * 1000)}")


def _autocheckpoint(db, conn, current: int | None = wal.DEFAULT_AUTOCHECKPOINT) -> None:
    """This thread's connection checkpoints at its commits unless the agent does it (wal.py)."""
    db._state.wal_autocheckpoint = wal.apply(conn, db.database, current)


def is_sqlite() -> bool:
    return isinstance(database.obj, SqliteDatabase)


def is_postgres() -> bool:
    return isinstance(database.obj, PostgresqlDatabase)


@contextlib.contextmanager
def write() -> Iterator[None]:
    """A write transaction: BEGIN IMMEDIATE on SQLite (set on the database), plain BEGIN on
    PostgreSQL where row locks and unique constraints do the same job. Nested calls become
    savepoints of the outer transaction.

    On SQLite the outermost one first brings a long-lived connection's autocheckpoint up to date
    (wal.py: a comparison, and a one-row read every wal.RECHECK_S), so a writer that opened its
    connection while the agent checkpointed goes back to checkpointing when the agent stops."""
    obj = database.obj
    if isinstance(obj, SqliteDatabase) and not obj.in_transaction():
        _autocheckpoint(obj, obj.connection(), getattr(obj._state, "wal_autocheckpoint", None))
    with database.atomic():
        yield


def close() -> None:
    if database.obj is not None and not database.is_closed():
        database.close()
