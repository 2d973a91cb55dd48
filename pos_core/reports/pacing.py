"""A background report on SQLite gives way to the tills while they sell.

The report's reading already runs at SCHED_IDLE (reports._yield_cpu), so a woken till takes a
core from it at once. That is not enough on a two-core box: the two cores of a small VM (and of
many cheap boxes) share one physical core's caches and units, and a report busy on the other
core slowed every till's sale by a third whatever its priority (docs/performance.md). So while
the database is being written (its WAL file changed in the last ACTIVE_S) the report works
WORK_S, then sleeps REST_S, inside SQLite's own loop (a progress handler, called every
STEP_OPS virtual-machine steps); when the tills are quiet it runs flat out.

The report is then slower while the tills sell, by about (WORK_S + REST_S) / WORK_S at most,
and never slower when they do not. Nine tenths of a report's time is spent in SQLite's execute
(measured on the year's loop of sales, payments, FBR and stock value), so pacing SQLite paces
the report.
"""
from __future__ import annotations

import contextlib
import os
import time
from typing import Iterator

from ..wal import wal_path

WORK_S = 0.002      # run this long between rests
REST_S = 0.006      # then rest this long, while the tills write
ACTIVE_S = 0.25     # the WAL changed this recently: someone is writing
STEP_OPS = 1000     # SQLite VM steps between looks at the clock (10-150 µs of work on this box)


_total_rested_s = 0.0   # this process's rests in all, for the tests


def total_rested_s() -> float:
    return _total_rested_s


class Pacer:
    """The progress handler's state: when this burst of work began, and what the WAL looked like."""

    def __init__(self, wal_file: str):
        self.wal_file = wal_file
        self.burst_from = time.perf_counter()
        self.last_seen = self._stamp()
        self.written_at = float("-inf")   # when the WAL was last seen to change
        self.rested_s = 0.0               # this reading's rests

    def _stamp(self):
        try:
            st = os.stat(self.wal_file)
            return st.st_mtime_ns, st.st_size
        except OSError:
            return None

    def __call__(self) -> int:
        global _total_rested_s
        now = time.perf_counter()
        if now - self.burst_from < WORK_S:
            return 0
        stamp = self._stamp()
        if stamp != self.last_seen:
            self.last_seen, self.written_at = stamp, now
        if REST_S > 0 and now - self.written_at < ACTIVE_S:
            time.sleep(REST_S)
            self.rested_s += REST_S
            _total_rested_s += REST_S
        self.burst_from = time.perf_counter()
        return 0   # 0: go on (non-zero would interrupt the statement)


@contextlib.contextmanager
def paced(conn, db_path: str) -> Iterator[Pacer]:
    """Within: every statement on `conn` (a sqlite3 connection) rests while `db_path` is written."""
    pacer = Pacer(wal_path(db_path))
    conn.set_progress_handler(pacer, STEP_OPS)
    try:
        yield pacer
    finally:
        conn.set_progress_handler(None, 0)
