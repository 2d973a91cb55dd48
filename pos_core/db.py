"""One database URL, SQLite or PostgreSQL, and the one way to open a write transaction.

SQLite is shared by several processes (tills and the agent), so every write transaction starts
with BEGIN IMMEDIATE: a deferred transaction that reads and then writes fails at once with
"database is locked" when another process committed in between, whatever the busy timeout.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

from peewee import DatabaseProxy, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect as _connect_url

SQLITE_PRAGMAS = {
    "journal_mode": "wal",      # readers never block the writer
    "synchronous": "full",      # a counter can lose power; a committed sale must survive it
    "foreign_keys": 1,
    "cache_size": -16000,       # 16 MB: enough, and the box has 2 GB
    "wal_autocheckpoint": 1000,
}
BUSY_TIMEOUT_S = 10

database = DatabaseProxy()


class DatabaseUrlError(ValueError):
    pass


def open_database(url: str):
    """Connect the models to the database at `url` and return the peewee Database."""
    if url.startswith("sqlite"):
        db = _connect_url(url, pragmas=SQLITE_PRAGMAS, timeout=BUSY_TIMEOUT_S, lock_type="IMMEDIATE")
    elif url.startswith(("postgres://", "postgresql://")):
        db = _connect_url(url)
    else:
        raise DatabaseUrlError(f"unsupported database URL scheme: {url.split(':', 1)[0]!r} "
                               "(use sqlite:///path or postgresql://...)")
    database.initialize(db)
    return db


def is_sqlite() -> bool:
    return isinstance(database.obj, SqliteDatabase)


def is_postgres() -> bool:
    return isinstance(database.obj, PostgresqlDatabase)


@contextlib.contextmanager
def write() -> Iterator[None]:
    """A write transaction: BEGIN IMMEDIATE on SQLite (set on the database), plain BEGIN on
    PostgreSQL where row locks and unique constraints do the same job. Nested calls become
    savepoints of the outer transaction."""
    with database.atomic():
        yield


def close() -> None:
    if database.obj is not None and not database.is_closed():
        database.close()
