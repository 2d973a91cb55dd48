"""A background report on SQLite gives way to selling tills (pos_core/reports/pacing.py), and a
writer waiting for SQLite's write lock gets it within a millisecond of its release (db._begin)."""
from __future__ import annotations

import datetime as dt
import sqlite3
import statistics
import threading
import time

import peewee
import pytest

from pos_core import db as dbmod
from pos_core.reports import Filters, pacing

# A statement that keeps SQLite's VM busy for a few hundred milliseconds and touches no table.
BUSY_SQL = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "SELECT sum(i % 7) FROM n")


class Till(threading.Thread):
    """Another connection committing a row every `every` seconds, as a selling till does."""

    def __init__(self, path, every: float = 0.02):
        super().__init__(daemon=True)
        self.path, self.every, self.stop, self.commits = str(path), every, threading.Event(), 0

    def run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        conn.execute("CREATE TABLE IF NOT EXISTS till_sale (id INTEGER PRIMARY KEY, at REAL)")
        while not self.stop.wait(self.every):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO till_sale (at) VALUES (?)", (time.time(),))
            conn.execute("COMMIT")
            self.commits += 1
        conn.close()

    def __enter__(self):
        self.start()
        deadline = time.monotonic() + 5
        while self.commits == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.join(5)


def _wal_db(path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = wal")
    return conn


def _busy_read(conn, n: int = 400_000) -> float:
    t = time.perf_counter()
    assert conn.execute(BUSY_SQL, (n,)).fetchone()[0] > 0
    return time.perf_counter() - t


def test_a_paced_read_rests_while_the_database_is_written_and_runs_flat_out_when_not(tmp_path):
    path = tmp_path / "pos.db"
    conn = _wal_db(path)
    with pacing.paced(conn, str(path)) as quiet:
        alone = _busy_read(conn)
    assert quiet.rested_s == 0, "nobody wrote: the report never rested"
    assert alone > 5 * pacing.WORK_S, "the statement is long enough to be paced"

    with Till(path), pacing.paced(conn, str(path)) as busy:
        beside = _busy_read(conn)
    # It worked WORK_S, then rested REST_S, over and over: at least a rest for every whole burst.
    bursts = int(alone / pacing.WORK_S)
    assert busy.rested_s > 0 and busy.rested_s >= 0.5 * bursts * pacing.REST_S
    assert beside >= alone + busy.rested_s * 0.9
    assert pacing.total_rested_s() >= busy.rested_s

    # The handler is gone afterwards: the same connection reads at full speed, resting nowhere.
    before = pacing.total_rested_s()
    with Till(path):
        _busy_read(conn, 100_000)
    assert pacing.total_rested_s() == before
    conn.close()


def test_a_paced_read_stops_resting_soon_after_the_tills_stop(tmp_path):
    path = tmp_path / "pos.db"
    conn = _wal_db(path)
    with Till(path):
        time.sleep(0.05)
    time.sleep(pacing.ACTIVE_S + 0.05)   # the last commit is older than ACTIVE_S
    with pacing.paced(conn, str(path)) as pacer:
        _busy_read(conn)
    assert pacer.rested_s == 0
    conn.close()


def test_the_back_office_reading_gives_way_to_a_selling_till(sqlite_db, tmp_path):
    """reports.run(background=True), as pos-office runs a report: its reading thread rests while
    another connection commits, and its figures are the same as read without the rests."""
    from pos_core import reports

    def busy(f):
        return dbmod.database.execute_sql(BUSY_SQL, (400_000,)).fetchone()[0]

    reports.BY_KEY["pacing_probe"] = reports.Entry("pacing_probe", "Sales", "probe", busy)
    try:
        f = Filters(dt.date(2027, 1, 1), dt.date(2027, 1, 31))
        expected = busy(f)
        before = pacing.total_rested_s()
        path = sqlite_db[len("sqlite:///"):]
        with Till(path):
            got = reports._read_at_idle("pacing_probe", f)
        assert got == expected
        assert pacing.total_rested_s() > before, "the back office's reading rested for the till"
        before = pacing.total_rested_s()
        assert reports._read_at_idle("pacing_probe", f) == expected
        assert pacing.total_rested_s() == before, "nobody writing: no rest"
    finally:
        del reports.BY_KEY["pacing_probe"]


# --- the write lock -------------------------------------------------------------------------------

def _hold_then_release(path, hold_s: float, released: list) -> threading.Thread:
    holder = sqlite3.connect(str(path), isolation_level=None, timeout=0, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")

    def release():
        time.sleep(hold_s)
        released.append(time.perf_counter())
        holder.execute("ROLLBACK")
        holder.close()

    t = threading.Thread(target=release, daemon=True)
    t.start()
    return t


def test_a_writer_gets_the_lock_within_a_few_milliseconds_of_its_release(sqlite_db, tmp_path):
    """SQLite's own busy handler would try again 18 and then 33 ms after the first refusal: for
    a lock let go 21 ms after it, the writer would be 12 ms late. Half-millisecond steps make it
    less than a few, and the connection's busy timeout is put back afterwards."""
    path = sqlite_db[len("sqlite:///"):]
    dbmod.database.execute_sql("CREATE TABLE lock_probe (x)")
    late = []
    for i in range(7):
        released: list = []
        holder = _hold_then_release(path, 0.022, released)
        time.sleep(0.001)
        with dbmod.write():
            got = time.perf_counter()
            dbmod.database.execute_sql("INSERT INTO lock_probe VALUES (?)", (i,))
        holder.join(5)
        late.append(got - released[0])
    assert statistics.median(late) < 0.006, [round(x * 1000, 1) for x in late]
    assert dbmod.database.execute_sql("SELECT count(*) FROM lock_probe").fetchone()[0] == 7
    assert dbmod.database.execute_sql("PRAGMA busy_timeout").fetchone()[0] == dbmod.BUSY_TIMEOUT_S * 1000


def test_a_lock_held_past_the_busy_timeout_is_the_usual_error_and_leaves_nothing_open(sqlite_db, monkeypatch):
    path = sqlite_db[len("sqlite:///"):]
    dbmod.database.execute_sql("CREATE TABLE lock_probe (x)")
    monkeypatch.setattr(dbmod.database.obj, "_timeout", 0.2)
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    t = time.perf_counter()
    with pytest.raises(peewee.OperationalError, match="database is locked"):
        with dbmod.write():
            dbmod.database.execute_sql("INSERT INTO lock_probe VALUES (1)")
    waited = time.perf_counter() - t
    assert 0.2 <= waited < 1.0
    assert not dbmod.database.in_transaction()
    assert dbmod.database.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 200
    holder.execute("ROLLBACK")
    holder.close()
    with dbmod.write():   # the lock is free: the same connection writes at once
        dbmod.database.execute_sql("INSERT INTO lock_probe VALUES (2)")
    assert dbmod.database.execute_sql("SELECT x FROM lock_probe").fetchall() == [(2,)]
