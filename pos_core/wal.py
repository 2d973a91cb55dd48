"""Who checkpoints SQLite's write-ahead log: the agent, off the tills' commits, or each writer.

SQLite's default (`wal_autocheckpoint` 1000 pages) makes the commit that pushes the WAL past
1000 pages copy the WAL into the database file before it returns: a till's checkout pays for it,
and more so while a report's reader keeps the WAL from being reset. So the agent, which runs
beside the tills anyway, checkpoints every CHECKPOINT_SECONDS with `wal_checkpoint(PASSIVE)`
(never waits on a writer's lock nor blocks one), and says so in the CHANNEL heartbeat row.

Every connection a process opens (till, agent, back office, pos-admin: one rule in `db`, since
any writer's commit may land on the threshold) sets `wal_autocheckpoint` 0 only while that row
is fresh and says the agent checkpoints, else SQLite's default 1000, so a shop without the agent
is as safe as before. The row is read at most every RECHECK_S per process, when it opens a
connection or begins a write transaction (an indexed one-row read, never on a timer, never per
statement); an agent that dies is noticed within FRESH_S + RECHECK_S and the writers checkpoint
again. PostgreSQL has none of this.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import time

CHANNEL = "checkpoint"
CHECKPOINT_SECONDS = 1.0
BEAT_SECONDS = 5.0           # the agent's heartbeat period (sync_agent.daemon.HEARTBEAT_SECONDS)
FRESH_S = 15.0               # three beats: a row older than this (or as far in the future) is a dead agent's
RECHECK_S = 5.0              # how often a process reads the row again
DEFAULT_AUTOCHECKPOINT = 1000
OFF = 0
JOURNAL_SIZE_LIMIT = 8 * 1024 * 1024   # the WAL file is cut back to this after a reset (the default leaves
#                                        it at its high-water mark); 2x what 1000 pages need

_cache: dict[str, tuple[float, int]] = {}   # database file -> (monotonic time read, value)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _parse_time(value) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None


def agent_checkpoints(seen_at, detail, now: dt.datetime | None = None) -> bool:
    """The CHANNEL row says a running agent checkpoints: written within FRESH_S, `running`."""
    seen = _parse_time(seen_at)
    if seen is None:
        return False
    if isinstance(detail, (str, bytes)):
        try:
            detail = json.loads(detail)
        except ValueError:
            return False
    if not isinstance(detail, dict) or not detail.get("running"):
        return False
    age = ((now or _utcnow()) - seen).total_seconds()
    return -FRESH_S <= age <= FRESH_S


def read_wanted(conn: sqlite3.Connection, now: dt.datetime | None = None) -> int:
    """The autocheckpoint this process's connections should have, from the heartbeat row (raw
    sqlite3: called while peewee is still opening `conn`)."""
    try:
        row = conn.execute("SELECT seen_at, detail FROM agent_heartbeat WHERE channel = ?", (CHANNEL,)).fetchone()
    except sqlite3.Error:   # a database not yet initialised, say: the safe default
        return DEFAULT_AUTOCHECKPOINT
    return OFF if row is not None and agent_checkpoints(row[0], row[1], now) else DEFAULT_AUTOCHECKPOINT


def wanted(conn: sqlite3.Connection, path: str) -> int:
    """read_wanted for the database file `path`, at most once every RECHECK_S per process."""
    read_at, value = _cache.get(path, (float("-inf"), DEFAULT_AUTOCHECKPOINT))
    t = time.monotonic()
    if t - read_at < RECHECK_S:
        return value
    value = read_wanted(conn)
    _cache[path] = (t, value)
    return value


def forget() -> None:
    """Read the row again at the next connection or write (tests; a process that just started the agent)."""
    _cache.clear()


def apply(conn: sqlite3.Connection, path: str, current: int | None) -> int:
    """Set `conn`'s autocheckpoint to what is wanted if it differs from `current`; return it."""
    value = wanted(conn, path)
    if value != current:
        conn.execute(f"PRAGMA wal_autocheckpoint={int(value)}")
    return value


# -- the agent's side ------------------------------------------------------------------------------

def connect_for_checkpoints(db_path: str) -> sqlite3.Connection:
    """The checkpointer's own connection (no busy timeout: nothing it does ever waits for a lock)."""
    return sqlite3.connect(db_path, timeout=0, isolation_level=None, check_same_thread=False)


CATCH_UP_AFTER_FRAMES = DEFAULT_AUTOCHECKPOINT   # the log has not started over since ~4 MB: catch up
CATCH_UP_TRIES, CATCH_UP_PAUSE_S = 40, 0.025


def checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(busy, frames in the WAL, frames copied into the database) after one checkpoint.

    PASSIVE copies what no reader still needs and takes no lock a till waits for. But copied frames
    are reused only when a writer *starts the log over*, which SQLite does only if, as the writer
    begins, every frame has been copied and no reader is on the WAL; a PASSIVE copies up to the
    frame that was last when it began. Once a second, with tills selling back to back, there was
    nearly always a commit in between and the WAL grew by every frame written (60 MB in 12 s with
    4 busy tills, where their own checkpoints after every commit past 1000 frames kept it at
    5-7 MB). So while the log is past CATCH_UP_AFTER_FRAMES the checkpointer catches up as those
    commit-time checkpoints did: a PASSIVE every CATCH_UP_PAUSE_S (each copies only the last
    commits' frames), up to CATCH_UP_TRIES times, until a till's next write has started the log
    over. At a shop's usual pace the log starts over on its own and one PASSIVE a second is all."""
    busy, log, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    tries = 0
    while log >= CATCH_UP_AFTER_FRAMES and tries < CATCH_UP_TRIES:
        time.sleep(CATCH_UP_PAUSE_S)
        busy, log, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        tries += 1
    return int(busy), int(log), int(done)


def wal_path(db_path: str) -> str:
    return db_path + "-wal"


def wal_bytes(db_path: str) -> int | None:
    """The size of the WAL file beside `db_path` (None when there is none)."""
    try:
        return os.stat(wal_path(db_path)).st_size
    except OSError:
        return None


def checkpoint_row(rows: list[dict]) -> dict | None:
    """The checkpointer's row among heartbeat.read()'s (None before the agent ever checkpointed)."""
    return next((r for r in rows if r["channel"] == CHANNEL), None)


def describe(row: dict | None, now: dt.datetime | None = None) -> str:
    """Who checkpoints, in words, from a heartbeat.read() row (doctor, pos-agent status)."""
    if row is not None and agent_checkpoints(row.get("seen_at"), row.get("detail"), now):
        d = row.get("detail") or {}
        last = d.get("last") or []
        text = f"the agent, every {d.get('every_s', CHECKPOINT_SECONDS):g} s"
        if len(last) == 3:
            text += f" (last: {last[2]} of {last[1]} frames copied{', busy' if last[0] else ''})"
        return text
    return f"each writer at its commits (wal_autocheckpoint {DEFAULT_AUTOCHECKPOINT}): the agent's checkpointer " \
           "is not running"
