"""One agent per database.

Two agents on one database would each reset the other's in-flight jobs and send them again (a
second fulfillment, an FBR invoice pushed to NEEDS_RECONCILIATION). `pos-agent run` and
`pos-agent once` therefore hold a lock for as long as they work, one that the operating system
or the database server drops when the process dies, so a crashed or SIGKILLed agent never
leaves it behind:

* SQLite: `flock` on `<database file>.agent.lock` (the file holds the holder's pid, for the
  message; the lock is the flock, not the file's existence);
* PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) on a connection of its own,
  released when that connection closes.
"""
from __future__ import annotations

import fcntl
import os

from pos_core.db import database, is_sqlite
from pos_core.errors import PosError

PG_LOCK_KEY = 0x706F_732D_6167  # "pos-ag": one key, per database


class AgentRunning(PosError):
    """Another agent holds the database."""


class AgentLock:
    def __init__(self) -> None:
        self._fd: int | None = None
        self._conn = None
        self.path: str | None = None

    def acquire(self) -> "AgentLock":
        db = database.obj
        if db is None:
            raise RuntimeError("open the database before taking the agent lock")
        if is_sqlite():
            self._flock(str(db.database))
        else:
            self._advisory(db)
        return self

    def _flock(self, filename: str) -> None:
        if filename == ":memory:" or not filename:
            return
        self.path = f"{os.path.abspath(filename)}.agent.lock"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise AgentRunning(f"another pos-agent (pid {holder}) is already working on {os.path.abspath(filename)}; "
                               "stop it first (systemctl stop pos-agent) - two agents would send the same jobs twice"
                               ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def _advisory(self, db) -> None:
        conn = db._connect()   # a connection of its own: the lock lives exactly as long as it
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (PG_LOCK_KEY,))
            got = cur.fetchone()[0]
            holder = "?"
            if not got:
                cur.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                            "AND ((classid::bigint << 32) | objid::bigint) = %s", (PG_LOCK_KEY,))
                row = cur.fetchone()
                holder = f"server pid {row[0]}" if row else "?"
        if not got:
            conn.close()
            raise AgentRunning(f"another pos-agent ({holder}) is already working on database {db.database}; "
                               "stop it first (systemctl stop pos-agent) - two agents would send the same jobs twice")
        self._conn = conn

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def __enter__(self) -> "AgentLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
