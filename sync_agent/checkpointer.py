"""The agent's WAL checkpointer (SQLite): `wal_checkpoint(PASSIVE)` every second, off the tills' commits.

A loop thread of its own (not a scheduler job: a pool busy with a catalog pass must not hold it
up), one connection kept open for the checkpoints (autocommit, so it holds no snapshot between
them; no busy timeout, so it never waits: see wal.checkpoint) and peewee's for the heartbeat. The same
loop writes the `checkpoint` heartbeat row every wal.BEAT_SECONDS, so the row is fresh only
while checkpoints are really being made; the writers read it (pos_core/wal.py) and stop
checkpointing at their own commits. On a stop it says `running: false`, and after a crash the
row goes stale: either way they checkpoint again within wal.FRESH_S + wal.RECHECK_S.
"""
from __future__ import annotations

import logging
import os
import threading
import time

from pos_core import db, heartbeat, wal

log = logging.getLogger("sync_agent.checkpointer")


class Checkpointer:
    def __init__(self, stop: threading.Event, every: float = wal.CHECKPOINT_SECONDS,
                 beat_every: float = wal.BEAT_SECONDS):
        self.stop, self.every, self.beat_every = stop, every, beat_every
        self.last: tuple[int, int, int] | None = None   # (busy, frames in the WAL, frames copied)
        self.last_ok: float | None = None               # monotonic time of the last checkpoint made
        self.error = ""
        self.conn = None

    def checkpoint_once(self) -> tuple[int, int, int] | None:
        try:
            if self.conn is None:
                self.conn = wal.connect_for_checkpoints(db.database.obj.database)
            self.last = wal.checkpoint(self.conn)
        except Exception as exc:  # noqa: BLE001 - reported in the heartbeat; the writers checkpoint meanwhile
            if not self.error:
                log.warning("WAL checkpoint failed: %s", exc)
            self.error = f"WAL checkpoint failed: {exc}"
            return None
        self.last_ok, self.error = time.monotonic(), ""
        return self.last

    def running(self) -> bool:
        """A checkpoint was made lately: the writers may leave checkpoints to this loop."""
        return self.last_ok is not None and time.monotonic() - self.last_ok <= 3 * self.every

    def beat(self, stopping: bool = False) -> None:
        path = db.database.obj.database
        heartbeat.beat(wal.CHANNEL, error=self.error, detail={
            "running": not stopping and self.running(), "every_s": self.every, "last": list(self.last or []),
            "wal_bytes": wal.wal_bytes(path), "pid": os.getpid()})

    def run(self) -> None:
        """Until `stop` is set (a threading or multiprocessing Event)."""
        next_beat = 0.0
        try:
            while True:
                self.checkpoint_once()
                if time.monotonic() >= next_beat:
                    try:
                        self.beat()
                        next_beat = time.monotonic() + self.beat_every
                    except Exception as exc:  # noqa: BLE001 - the row goes stale: the writers checkpoint again
                        log.warning("checkpoint heartbeat not written: %s", exc)
                if self.stop.wait(self.every):
                    break
        finally:
            try:
                self.beat(stopping=True)
            except Exception as exc:  # noqa: BLE001 - stale within wal.FRESH_S anyway
                log.warning("checkpoint heartbeat not written at the stop: %s", exc)
            if self.conn is not None:
                self.conn.close()
            db.close()
