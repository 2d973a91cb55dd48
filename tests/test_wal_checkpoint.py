"""Checkpoints off the tills' commits (SQLite): the agent's checkpointer, and every writer's
connection leaving checkpoints to it only while its heartbeat says it runs (pos_core/wal.py)."""
from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

from conftest import make_site
from pos_core import db, heartbeat, reports, sales, shifts, wal
from pos_core.models import AgentHeartbeat, utcnow
from pos_core.reports import Filters
from sync_agent.checkpointer import Checkpointer
from sync_agent.testing import write_config
import reports_data
from helpers import POLICY, cash_sale

ROOT = Path(__file__).resolve().parent.parent


def autocheckpoint() -> int:
    """What this thread's connection reports."""
    return db.database.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0]


def fresh_connection() -> int:
    """A new connection, as a till's worker thread opens one for each sale."""
    db.close()
    return autocheckpoint()


def start_agent(tmp_path: Path, url: str) -> subprocess.Popen:
    cfg = write_config(tmp_path / "pos.toml", url, "http://127.0.0.1:9", "shpat_unused", {}, enabled=False)
    return subprocess.Popen([sys.executable, "-m", "sync_agent", "--config", str(cfg), "run"], cwd=ROOT,
                            env={**os.environ, "POS_AGENT_LOG": "WARNING"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(predicate, timeout: float, step: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def checkpoint_row() -> dict:
    return wal.checkpoint_row(heartbeat.read()) or {}


def test_tills_leave_checkpoints_to_the_running_agent_and_take_them_back(sqlite_db, tmp_path, monkeypatch):
    site = make_site()
    monkeypatch.setattr(wal, "RECHECK_S", 0.3)
    wal.forget()
    assert fresh_connection() == wal.DEFAULT_AUTOCHECKPOINT          # no agent: as SQLite's default
    till = threading.Event()
    seen: dict[str, int] = {}

    def long_lived_till():   # a writer whose connection stays open through all of it
        db.database.connect(reuse_if_open=True)
        seen["before"] = autocheckpoint()
        till.wait(60)
        with db.write():
            pass
        seen["after stop"] = autocheckpoint()
        db.close()

    agent = start_agent(tmp_path, sqlite_db)
    try:
        assert wait_for(lambda: checkpoint_row().get("detail", {}).get("running"), 30)
        time.sleep(0.4)
        assert fresh_connection() == wal.OFF                          # the till's next sale's connection
        worker = threading.Thread(target=long_lived_till)
        worker.start()
        assert wait_for(lambda: "before" in seen, 10) and seen["before"] == wal.OFF
        assert "the agent, every 1 s" in wal.describe(checkpoint_row())
        agent.send_signal(signal.SIGKILL)                              # a crash: the row stays "running"
        agent.wait(10)
        assert checkpoint_row()["detail"]["running"]
        time.sleep(0.4)
        assert fresh_connection() == wal.OFF                          # still fresh: not yet taken back
        # ... until it is FRESH_S old: age it as the clock would
        AgentHeartbeat.update(seen_at=utcnow() - dt.timedelta(seconds=wal.FRESH_S + 1)).where(
            AgentHeartbeat.channel == wal.CHANNEL).execute()
        time.sleep(0.4)
        till.set()
        worker.join(30)
        assert seen["after stop"] == wal.DEFAULT_AUTOCHECKPOINT       # the same connection, at its next write
        assert fresh_connection() == wal.DEFAULT_AUTOCHECKPOINT
        assert "is not running" in wal.describe(checkpoint_row())
        # a clean stop says so at once
        agent = start_agent(tmp_path, sqlite_db)
        assert wait_for(lambda: checkpoint_row().get("seen_at") and abs(heartbeat.age_seconds(checkpoint_row())) < 3
                        and checkpoint_row()["detail"].get("running"), 30)
        time.sleep(0.4)
        assert fresh_connection() == wal.OFF
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(20) == 0
        assert checkpoint_row()["detail"]["running"] is False
        time.sleep(0.4)
        assert fresh_connection() == wal.DEFAULT_AUTOCHECKPOINT
        # and the sale path itself works under both settings
        cash_sale(site, [(site.kurta, 1)])
    finally:
        till.set()
        if agent.poll() is None:
            agent.kill()
        wal.forget()


def test_a_stale_or_future_row_or_one_not_running_means_the_writers_checkpoint():
    now = dt.datetime(2027, 1, 1, 12)
    running = {"running": True}
    assert wal.agent_checkpoints(now - dt.timedelta(seconds=5), running, now)
    assert wal.agent_checkpoints(str(now - dt.timedelta(seconds=5)), '{"running": true}', now)
    assert not wal.agent_checkpoints(now - dt.timedelta(seconds=wal.FRESH_S + 1), running, now)
    assert not wal.agent_checkpoints(now + dt.timedelta(seconds=wal.FRESH_S + 1), running, now)  # clock went back
    assert not wal.agent_checkpoints(now, {"running": False}, now)
    assert not wal.agent_checkpoints(now, "not json", now)
    assert not wal.agent_checkpoints(None, running, now)


def test_a_readers_snapshot_holds_back_the_checkpoint_until_it_closes(sqlite_db):
    site = make_site()
    path = sqlite_db[len("sqlite:///"):]
    ckpt = Checkpointer(threading.Event())
    for _ in range(3):
        cash_sale(site, [(site.kurta, 1)])
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM pos_order").fetchone()    # a report's snapshot, open
    for _ in range(3):
        cash_sale(site, [(site.suit, 1)])
    busy, log, done = ckpt.checkpoint_once()
    assert log > 0 and done < log                                   # the frames after its snapshot wait
    reader.execute("COMMIT")
    busy, log, done = ckpt.checkpoint_once()
    assert (busy, log - done) == (0, 0)                             # everything copied
    cash_sale(site, [(site.book, 1)])                               # the next commit starts the log over
    busy, log2, done2 = ckpt.checkpoint_once()
    assert log2 < log and (busy, log2 - done2) == (0, 0)
    reader.close()


def test_a_background_report_holds_no_snapshot_once_it_has_returned(sqlite_db, monkeypatch):
    """pos-office's reader thread keeps its connection (a warm cache) but no read transaction:
    the agent's next checkpoint copies every frame written after each report."""
    from pos_core.reports import summary
    site = make_site()
    reports_data.build(site)
    monkeypatch.setattr(summary, "now", lambda: dt.datetime(2027, 3, 2, 9))
    ckpt = Checkpointer(threading.Event())
    f = Filters(dt.date(2027, 1, 1), dt.date(2027, 2, 28))
    for entry in reports.CATALOG:
        reports.run(entry.key, f, background=True)
        heartbeat.beat("test", detail={"after": entry.key})         # a till's commit after the report
        busy, log, done = ckpt.checkpoint_once()
        assert (busy, log - done) == (0, 0), f"{entry.key} left a read open"


def test_the_wal_file_is_cut_back_after_a_reset(sqlite_db):
    path = sqlite_db[len("sqlite:///"):]
    ckpt = Checkpointer(threading.Event())
    heartbeat.beat("test", detail={"blob": "x" * (3 * wal.JOURNAL_SIZE_LIMIT // 2)})   # a 12 MB transaction
    big = wal.wal_bytes(path)
    assert big > wal.JOURNAL_SIZE_LIMIT
    busy, log, done = ckpt.checkpoint_once()
    assert (busy, log - done) == (0, 0)
    heartbeat.beat("small", detail={})                               # restarts the WAL and cuts the file
    assert wal.wal_bytes(path) <= wal.JOURNAL_SIZE_LIMIT


def test_the_wal_stays_bounded_under_continuous_sales_with_the_agent_checkpointing(sqlite_db, tmp_path):
    """Three tills selling back to back (threads, each with its own connection, 20 ms between
    sales: about 100 sales a second, fifty times a busy shop) beside the real agent: without
    checkpoints the WAL grows by every frame; the agent keeps it down. At 10 ms between sales
    (about 160 a second) the tills, which hand the write lock on within half a millisecond
    (db._begin), leave PASSIVE no moment to copy the last frame, and the WAL grows by 0.8-0.9
    of every frame until the pace drops (docs/performance.md, 2026-12-08)."""
    site = make_site()
    path = sqlite_db[len("sqlite:///"):]
    items = [(site.kurta, 1), (site.suit, 1)]
    counters = [site.counter, site.counter2, site.khi_counter]
    shifts_ = [site.shift] + [shifts.open_shift(c.id, site.cashier.id, Decimal("5000")) for c in counters[1:]]

    def sell_for(seconds: float, pause: float) -> tuple[int, int]:
        high, sold, stop = [0], [0], threading.Event()

        def till(i: int) -> None:
            while not stop.is_set():
                sales.complete_sale(POLICY, counter_id=counters[i].id, shift_id=shifts_[i].id,
                                    staff_id=site.cashier.id, lines=[sales.SaleLine(v.id, q) for v, q in items],
                                    tenders=[sales.Tender("cash", Decimal(100000))])
                sold[0] += 1
                time.sleep(pause)
            db.close()

        threads = [threading.Thread(target=till, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            high[0] = max(high[0], wal.wal_bytes(path) or 0)
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join()
        return high[0], sold[0]

    db.database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    # The reference: the tills believe an agent checkpoints and none does, so the WAL only grows.
    heartbeat.beat(wal.CHANNEL, detail={"running": True})
    wal.forget()
    grown, n = sell_for(1.5, 0.02)
    heartbeat.beat(wal.CHANNEL, detail={"running": False})
    db.database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    agent = start_agent(tmp_path, sqlite_db)
    try:
        assert wait_for(lambda: checkpoint_row().get("detail", {}).get("running"), 30)
        wal.forget()
        assert fresh_connection() == wal.OFF
        high, sold = sell_for(6, 0.02)
        # Once the tills stop, the agent alone brings the log back under the size limit: this
        # part does not depend on how the cores were shared while they sold.
        assert wait_for(lambda: (wal.wal_bytes(path) or 0) <= wal.JOURNAL_SIZE_LIMIT + 65536, 20), wal.wal_bytes(path)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(20)
        wal.forget()
    per_sale = grown / n
    assert per_sale > 0 and sold > n
    # Well below what it would have grown to (peaks seen: 0.22-0.27 of it at this pace); loose, as a loaded CI box
    # can starve the checkpointer for a while.
    assert high < 0.8 * sold * per_sale, (high, sold * per_sale)
