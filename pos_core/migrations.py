"""Versioned schema changes.

A new database is created from the current models and stamped with every migration (`init`).
An existing one gets the migrations it has not seen, in order, each in its own transaction
(`migrate`). So migration 1 is "the schema as first released"; later ones are explicit
ALTERs written with playhouse.migrate, and a test compares a migrated database with a new one.
"""
from __future__ import annotations

import contextlib
from typing import Callable

from peewee import CharField, DateTimeField, IntegerField, Model

from . import catalog, db
from .models import MODELS, utcnow


class SchemaMigration(Model):
    version = IntegerField(primary_key=True)
    name = CharField()
    applied_at = DateTimeField(default=utcnow)

    class Meta:
        database = db.database
        table_name = "schema_migration"


def _initial(database) -> None:
    database.create_tables(MODELS)
    _search_objects(database)


def _search_objects(database) -> None:
    statements = catalog.SQLITE_FTS if db.is_sqlite() else catalog.POSTGRES_SEARCH
    for sql in statements:
        database.execute_sql(sql)


def _office_summaries(database) -> None:
    # Issue 15: the back office's summary of the ledger (see models.StockActivity).
    from .models import StockActivity, SummaryWatermark
    database.create_tables([StockActivity, SummaryWatermark])


# (version, name, function). Append only; never edit one that has shipped. Kept in version order.
MIGRATIONS: list[tuple[int, str, Callable]] = [
    (1, "initial schema", _initial),
    (8, "back office: stock activity summary", _office_summaries),
]
LATEST = MIGRATIONS[-1][0]


class SchemaError(RuntimeError):
    pass


def applied_versions() -> set[int]:
    if not db.database.table_exists("schema_migration"):
        return set()
    return {m.version for m in SchemaMigration.select()}


def init() -> None:
    """Create a new, empty database at the latest schema."""
    database = db.database
    with db.write():
        if database.table_exists("schema_migration") and applied_versions():
            raise SchemaError("this database is already initialised; use `pos-admin migrate`")
        database.create_tables([SchemaMigration])
        _initial(database)
        for version, name, _ in MIGRATIONS:
            SchemaMigration.create(version=version, name=name)


def migrate() -> list[int]:
    """Apply what is missing; a database with no schema at all is initialised."""
    done = applied_versions()
    if not done:
        init()
        return [v for v, _, _ in MIGRATIONS]
    ran = []
    for version, name, fn in MIGRATIONS:
        if version in done:
            continue
        with _foreign_keys_off():
            with db.write():
                fn(db.database)
                _check_foreign_keys(version)
                SchemaMigration.create(version=version, name=name)
        ran.append(version)
    return ran


@contextlib.contextmanager
def _foreign_keys_off():
    """SQLite rebuilds a table for most ALTERs (create new, copy, drop old, rename). With foreign
    keys on, dropping the old table fires ON DELETE CASCADE and empties its children (an order's
    lines), and the pragma cannot change inside a transaction: so it is off around the migration's
    transaction, and the result is checked with `PRAGMA foreign_key_check` before the commit."""
    if not db.is_sqlite():
        yield
        return
    database = db.database
    database.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        database.execute_sql("PRAGMA foreign_keys = ON")


def _check_foreign_keys(version: int) -> None:
    if db.is_sqlite():
        broken = db.database.execute_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise SchemaError(f"migration {version} would leave {len(broken)} row(s) pointing at nothing "
                              f"(first: {broken[0]}); nothing was changed")


def check_current() -> None:
    """The till refuses to start on a database older (or newer) than its code."""
    done = applied_versions()
    if not done:
        raise SchemaError("the database has no schema; run `pos-admin init` or `pos-admin migrate`")
    if max(done) < LATEST:
        raise SchemaError(f"the database is at schema {max(done)}, this program needs {LATEST}; "
                          "run `pos-admin migrate`")
    if max(done) > LATEST:
        raise SchemaError(f"the database is at schema {max(done)}, newer than this program ({LATEST}); "
                          "upgrade the program")
