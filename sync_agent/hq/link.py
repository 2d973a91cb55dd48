"""The agent's `hq` channel on a branch: push the branch's changes up, pull the head office's down.

The branch opens every connection (outbound only: NAT and mobile links), straight to the head
office's PostgreSQL as the branch's own role. See docs/chain.md for why not an HTTP ingress.

Push, exactly once and in order:
  1. ask the head office how far it has this branch (`hq_position()`: stored in the same
     transaction as the inbox rows, so it is right after a lost answer, a SIGKILL of either side
     or a head office restored from an older backup);
  2. read the local change log after that position, oldest first; on PostgreSQL only rows of
     transactions older than every running one (see `_changes`);
  3. send the rows' current state and the new position in ONE head-office transaction; the inbox
     is UNIQUE (branch, xid, seq), so a resent batch adds nothing.
Before step 2 the branch checks that it still holds the change the head office took last (its
digest is kept there with the position): a database restored from an older backup does not, and
stops pushing until `pos-admin branch recover` (`rewound`, `hq/recover.py`).
Pull: the head office's own change log (its staff, branches, counters, catalog) with an (xid, seq)
cursor kept here, read under one REPEATABLE READ snapshot and only below that snapshot's xmin.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import time
from urllib.parse import parse_qs, unquote, urlparse

import os
import select
import socket
import threading
import weakref

import psycopg2
import psycopg2.extensions
from peewee import IntegrityError, PostgresqlDatabase

from pos_core import chain, config as configmod, db, heartbeat, migrations, shopify_relay
from pos_core.models import ChainParked, utcnow

log = logging.getLogger("sync_agent.hq")
CHANNEL = "hq"
BATCH = 2000
MARK_IDLE_SECONDS = 10.0   # an idle branch reports its last contact this often
CLAIM_SECONDS = 30.0       # the kept claims of this branch's open online orders are refreshed this often
PULL_SECONDS = 2.0         # the head office's own changes (staff, catalog) are looked for this often
PRUNE_SECONDS = 60.0       # how often the change log is pruned (bounded batches: chain.PRUNE_BATCH)
# A cursor that stands for "every row of transactions below xid X": (X - 1, FULL_SEQ).
FULL_SEQ = 2 ** 62


class HqUnavailable(Exception):
    pass


@contextlib.contextmanager
def _local_snapshot():
    """On PostgreSQL one REPEATABLE READ snapshot for the log and the rows (and the xmin rule);
    SQLite needs none (and a transaction there would take the write lock the tills need)."""
    if not db.is_postgres():
        yield
        return
    with db.database.atomic():
        db.database.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


# A link can stall without closing (a mobile dead spot, a middlebox, a proxy that stops passing
# bytes): the kernel's keepalives are answered by whatever is nearest, and statement_timeout runs
# on a server that hears nothing. So every head-office connection gets a client-side limit: if the
# socket is silent that long during one call, the call fails and the connection is dropped.
_watched: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


_connecting = threading.local()   # the limit for a connection still being opened in this thread


def _wait(conn) -> None:
    limit = _watched.get(conn, getattr(_connecting, "limit", None))
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        if state == psycopg2.extensions.POLL_READ:
            ready = select.select([conn.fileno()], [], [], limit)[0]
        elif state == psycopg2.extensions.POLL_WRITE:
            ready = select.select([], [conn.fileno()], [], limit)[1]
        else:
            raise psycopg2.OperationalError(f"bad poll state {state}")
        if not ready:
            # conn.close() would itself wait on the dead socket; shutting the socket down makes
            # libpq see a broken connection at once (the fd is duplicated so libpq still owns its own).
            sock = socket.socket(fileno=os.dup(conn.fileno()))
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
            raise psycopg2.OperationalError(f"the head office did not answer for {limit:g} s")


class _TimedDatabase(PostgresqlDatabase):
    def __init__(self, *args, silence_s: float = 30.0, **kwargs):
        self.silence_s = silence_s
        super().__init__(*args, **kwargs)

    def _connect(self):
        if psycopg2.extensions.get_wait_callback() is not _wait:
            # process-wide; connections that are not watched wait without a limit, as before
            psycopg2.extensions.set_wait_callback(_wait)
        _connecting.limit = self.silence_s
        try:
            conn = super()._connect()
        finally:
            _connecting.limit = None
        _watched[conn] = self.silence_s
        return conn


def connect(url: str, password: str = "", *, timeout: int = 5, silence_s: float = 30.0) -> PostgresqlDatabase:
    """A peewee Database for the head office, not bound to any model (the local models stay on
    the local database). Keepalives and a TCP user timeout so a dead link fails in seconds."""
    u = urlparse(url)
    query = {k: v[-1] for k, v in parse_qs(u.query).items()}
    kwargs = dict(host=u.hostname or "127.0.0.1", port=u.port or 5432, user=unquote(u.username or ""),
                  connect_timeout=timeout, keepalives=1, keepalives_idle=10, keepalives_interval=3,
                  keepalives_count=3, tcp_user_timeout=15000, options="-c statement_timeout=60000",
                  application_name="pos-agent-hq")
    if password:
        kwargs["password"] = password
    if "sslmode" in query:
        kwargs["sslmode"] = query["sslmode"]
    return _TimedDatabase(u.path.lstrip("/"), silence_s=silence_s, **kwargs)


_pos = chain.parse_position


# --- epochs and rewinds ----------------------------------------------------------------------
# A branch restored from an older backup writes new changes at positions the head office already
# holds other rows at. `pos-admin branch recover` then starts a new *epoch*: the wire position's
# xid carries the epoch in its top bits (epoch * 2**48 + xid; PostgreSQL xids stay far below
# 2**48), so every position of a later epoch sorts after every earlier one at the head office,
# whose inbox, UNIQUE key and forward-only hq_mark need no change for it.
EPOCH_SHIFT = 48


class Rewound(Exception):
    """This database is behind what the head office holds from it: restored from a backup."""


def local_epoch() -> int:
    return int(chain.get_state("epoch") or 0)


def to_wire(pos: tuple[int, int], epoch: int | None = None) -> tuple[int, int]:
    epoch = local_epoch() if epoch is None else epoch
    return ((epoch << EPOCH_SHIFT) + pos[0], pos[1])


def unwire(wire: tuple[int, int]) -> tuple[int, tuple[int, int]]:
    return wire[0] >> EPOCH_SHIFT, (wire[0] & ((1 << EPOCH_SHIFT) - 1), wire[1])


def change_digest(table: str, row_id: int, created) -> str:
    """What one change row is: a restored database that writes a new change at a reused position
    writes another table, row or (at least) time there."""
    import hashlib
    text = f"{table}:{row_id}:{_time_text(created)}"
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _time_text(value) -> str:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.isoformat(sep=" ", timespec="microseconds") if value is not None else ""


def _change_at(pos: tuple[int, int]):
    rows = chain._fetch(db.database, "SELECT table_name, row_id, created_at FROM chain_change "
                                     "WHERE xid = ? AND seq = ?", pos)
    return rows[0] if rows else None


def rewound(wire: tuple[int, int], digest: str | None) -> str:
    """Why this database cannot push on from the head office's position ('' when it can).

    The head office keeps the position of the last change it took from us and that change's
    digest. We hold the same change there, or (the log pruned below it) the same acknowledged
    position and digest; otherwise the changes the head office has are not ours any more."""
    epoch, pos = unwire(wire)
    mine = local_epoch()
    fix = ("Nothing is pushed; selling goes on here. Run `pos-admin branch recover` (docs/chain.md, "
           "\"A branch restored from a backup\")")
    if epoch > mine:
        return (f"this branch's database is behind the head office (it is in epoch {epoch}, this "
                f"database in {mine}): restored from an older backup? {fix}")
    if epoch < mine or pos == (0, 0):
        return ""
    here = _change_at(pos)
    if here is not None:
        if digest and change_digest(*here) != digest:
            return (f"this branch's database is behind the head office: the head office holds "
                    f"another change at {pos[0]}:{pos[1]} than this database (restored from an older "
                    f"backup and sold on since?). {fix}")
        return ""
    if digest and chain.get_state("pushed") == f"{pos[0]}:{pos[1]}" and chain.get_state("pushed_digest") == digest:
        return ""    # the change itself was pruned from the log after it was acknowledged
    if pos <= chain.parse_position(chain.get_state(chain.PRUNED)):
        # The head office is behind what this log pruned (it was restored from an older backup),
        # not this database behind it: push_once logs every row again and sends it all.
        return ""
    top = chain._fetch(db.database, "SELECT xid, seq FROM chain_change ORDER BY xid DESC, seq DESC LIMIT 1")
    ends = f"{top[0][0]}:{top[0][1]}" if top else "0:0"
    return (f"this branch's database is behind the head office (it has up to {pos[0]}:{pos[1]}, this log "
            f"has no change there and ends at {ends}): restored from an older backup? {fix}")


class BranchLink:
    def __init__(self, url: str, password: str, branch: str, silence_s: float = 30.0, keep_days: float = 7):
        self.url, self.password, self.branch, self.silence_s = url, password, branch, silence_s
        self.keep_days = keep_days
        self._pruned_at = -PRUNE_SECONDS
        self._reported: tuple[int, int] | None = None
        self._hq_functions: set[str] | None = None
        self.hq: PostgresqlDatabase | None = None
        self.last_contact: dt.datetime | None = None
        self.last_error = ""
        self.up = False
        self.parked_up = 0
        self._marked_at = -MARK_IDLE_SECONDS
        self._pulled_at = -PULL_SECONDS
        self._claims_at = -CLAIM_SECONDS
        self.returned_elsewhere = 0
        self._hq_columns: dict[str, set[str]] | None = None
        self._hq_digest = False
        self.relay_shopify = False   # issue 14: hand this box's Shopify jobs to the head office
        self.policy = None           # the box's SalePolicy (from_config): FBR on or off

    @classmethod
    def from_config(cls, cfg) -> "BranchLink":
        password = configmod.read_secret("", cfg.hq.password_file, cfg.path, "hq.password_file")
        branch = cfg.hq.branch or cfg.branch
        if not branch:
            raise configmod.ConfigError(cfg.path, "hq.branch", "this box's branch code", "nothing")
        from pos_core import policy as policymod
        link = cls(cfg.hq.url, password, branch.upper(), silence_s=cfg.hq.timeout_seconds,
                   keep_days=cfg.hq.keep_days)
        link.policy = policymod.from_config(cfg)    # a credit note for a parcel taken back elsewhere
        return link

    # -- connection ---------------------------------------------------------------------------
    def _hq(self) -> PostgresqlDatabase:
        if self.hq is None:
            self.hq = connect(self.url, self.password, silence_s=self.silence_s)
            self._hq_columns = None
            self._hq_functions = None
        if self.hq.is_closed():
            self.hq.connect()
        return self.hq

    def _drop(self, exc: Exception) -> None:
        self.up = False
        self.last_error = f"head office unreachable: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
        if self.hq is not None:
            try:
                self.hq.close()
            except Exception:  # noqa: BLE001 - the connection is already broken
                pass
            self.hq = None

    def close(self) -> None:
        if self.hq is not None and not self.hq.is_closed():
            self.hq.close()

    # -- push ---------------------------------------------------------------------------------
    def _changes(self, after: tuple[int, int], limit: int) -> list[tuple[int, int, str, int, dt.datetime]]:
        """Local changes after `after`, in (xid, seq) order. On PostgreSQL (a branch server) only
        changes of transactions below the snapshot's xmin: every transaction under xmin has ended,
        so no change can later appear below the position we move to. On SQLite writers are
        serialised, so every snapshot holds a prefix of the log and xid is 0."""
        q = ("SELECT xid, seq, table_name, row_id, created_at FROM chain_change "
             "WHERE (xid > ? OR (xid = ? AND seq > ?))")
        params = [after[0], after[0], after[1]]
        if db.is_postgres():
            q += " AND xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
        q += " ORDER BY xid, seq LIMIT ?"
        params.append(limit)
        return chain._fetch(db.database, q, tuple(params))

    def pending(self, after: tuple[int, int]) -> tuple[int, dt.datetime | None]:
        q = "SELECT count(*), min(created_at) FROM chain_change WHERE (xid > ? OR (xid = ? AND seq > ?))"
        n, oldest = chain._fetch(db.database, q, (after[0], after[0], after[1]))[0]
        if isinstance(oldest, str):
            oldest = dt.datetime.fromisoformat(oldest)
        return n, oldest

    def hq_position(self, hq) -> tuple[tuple[int, int], str | None]:
        """The head office's push position for this branch, in wire form, and the digest of the
        change at it (None from a head office that does not keep one yet)."""
        cur = hq.execute_sql("SELECT * FROM hq_position()")
        row = cur.fetchone()
        if row is None or row[0] is None:
            raise HqUnavailable(f"the head office does not know branch {self.branch}'s role; "
                                f"run `pos-admin branch add {self.branch}` there")
        self._hq_digest = len(row) > 2
        return (row[0], row[1]), (row[2] or "") if len(row) > 2 else None

    def where_to_start(self, wire: tuple[int, int], digest: str | None) -> tuple[int, int]:
        """The local position to push after, or Rewound when this database no longer holds what
        the head office has from it (restored from an older backup): see `rewound`."""
        problem = rewound(wire, digest)
        if problem:
            raise Rewound(problem)
        epoch, pos = unwire(wire)
        if epoch < local_epoch():
            # `branch recover` began a new epoch the head office has not seen yet (or the head
            # office was restored from before it): push everything since the epoch began.
            return _pos(chain.get_state("epoch_start"))
        return pos

    def unsent(self) -> int:
        """How many local changes the head office does not have yet (asks it)."""
        wire, digest = self.hq_position(self._hq())
        return self.pending(self.where_to_start(wire, digest))[0]

    def push_once(self, limit: int = BATCH) -> int:
        """One batch up. Returns the number of change rows it moved past (0: nothing to do)."""
        hq = self._hq()
        wire, digest = self.hq_position(hq)
        try:
            after = self.where_to_start(wire, digest)
        except Rewound as exc:
            # Pushing now would reuse positions the head office holds other rows at (it would drop
            # ours as duplicates) or skip the changes made since the restore: stop and say so.
            msg = str(exc)
            if chain.get_state("rewound") != msg:
                chain.set_state("rewound", msg)
            with hq.atomic():
                self._mark(hq, wire, 0, None, error=msg)
            raise HqUnavailable(msg) from None
        if chain.get_state("rewound"):
            chain.set_state("rewound", "")
        if after < chain.parse_position(chain.get_state(chain.PRUNED)):
            # The head office holds less of us than our log still has (restored from a backup
            # older than hq.keep_days): the rows in between are no longer logged. Log every row
            # again and send it all; applying by identity makes the rows it has harmless.
            with db.write():
                n = chain.backfill()
                chain.set_state(chain.PRUNED, f"{after[0]}:{after[1]}")   # the log is whole after `after`
            log.warning("the head office is at %s:%s, below what this branch pruned: sending all %d rows again",
                        after[0], after[1], n)
        with _local_snapshot():
            changes = self._changes(after, limit)
            if not changes and time.monotonic() - self._marked_at >= MARK_IDLE_SECONDS:
                # nothing new: tell the head office we are alive now and then, not every poll
                self._mark(hq, wire, 0, None)
            else:
                out = self._serialize(changes)
        if not changes:
            if unwire(wire)[0] == local_epoch() and chain.get_state("pushed") != f"{after[0]}:{after[1]}":
                with db.write():   # e.g. the answer to our last push was lost: the head office is right
                    chain.set_state("pushed", f"{after[0]}:{after[1]}")
                    chain.set_state("pushed_digest", digest or "")
            return 0
        last = changes[-1]
        end = (last[0], last[1])
        from psycopg2.extras import execute_values
        with hq.atomic():
            if out:
                cur = hq.cursor()
                execute_values(cur, "INSERT INTO hq_inbox (branch_code, xid, seq, table_name, key, data, "
                                    "schema_version, changed_at) VALUES %s ON CONFLICT DO NOTHING", out,
                               page_size=500)
            n_left, oldest = self.pending(end)
            self._mark(hq, to_wire(end), n_left, oldest, digest=change_digest(*last[2:5]))
        with db.write():
            chain.set_state("pushed", f"{end[0]}:{end[1]}")
            chain.set_state("pushed_digest", change_digest(*last[2:5]))
        return len(changes)

    def _serialize(self, changes) -> list[tuple]:
        last: dict[tuple[str, int], tuple[int, int, dt.datetime]] = {}
        for xid, seq, table, row_id, created in changes:
            if table in chain.UP_TABLES:
                # Several changes of one row travel once, as its latest state, at its FIRST
                # position: a parent's first change comes before its children's, so an order sits
                # ahead of its lines in the inbox even when it was updated after them.
                last.setdefault((table, row_id), (xid, seq, created))
        by_table: dict[str, list[int]] = {}
        for (table, row_id) in last:
            by_table.setdefault(table, []).append(row_id)
        ser = chain.Serializer(db.database)
        out = []
        for table, ids in by_table.items():
            if chain.BY_NAME[table].relay and chain.BY_NAME[table].branch_path:
                # A relayed row another branch owns (its transfer, kept here as a copy with this
                # site's projection of the receipt) is not ours to send.
                ids = [i for i in ids if chain.owner_code(db.database, table, i) in (self.branch, None)]
            for row_id, rec in ser.records(table, ids).items():
                xid, seq, created = last[(table, row_id)]
                out.append((self.branch, to_wire((xid, seq))[0], seq, table, rec["k"], json.dumps(rec, sort_keys=True),
                            migrations.LATEST, str(created)))
        out.sort(key=lambda r: (r[1], r[2]))   # inbox ids in position order: the applier's order
        return out

    def _mark(self, hq, wire, pending: int, oldest, error: str = "", digest: str = "") -> None:
        """Report to the head office; `wire` moves its position only forward (hq_mark)."""
        self._marked_at = time.monotonic()
        if self._hq_digest:
            hq.execute_sql("SELECT hq_mark(%s, %s, %s, %s, %s, %s, %s)",
                           (wire[0], wire[1], pending, oldest, migrations.LATEST, error, digest))
        else:   # a head office on an older release
            hq.execute_sql("SELECT hq_mark(%s, %s, %s, %s, %s, %s)",
                           (wire[0], wire[1], pending, oldest, migrations.LATEST, error))

    # -- pull ---------------------------------------------------------------------------------
    def pull_once(self, limit: int = BATCH) -> int:
        hq = self._hq()
        cursor = _pos(chain.get_state("pull_cursor"))
        with hq.atomic():
            hq.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            sysid = str(hq.execute_sql("SELECT hq_cluster_id()").fetchone()[0])
            known = chain.get_state("hq_system_id")
            if known and known != sysid:
                # Another cluster (rebuilt, or restored elsewhere): its transaction ids mean nothing
                # against our cursor. Pull everything again; applying by identity is idempotent.
                log.warning("head office cluster changed (%s -> %s): pulling everything again", known, sysid)
                cursor = (0, 0)
            # The head office may run another release: read only the columns it has.
            if self._hq_columns is None:     # once a connection (an upgrade there reconnects)
                have: dict[str, set[str]] = {}
                for table, column in hq.execute_sql(
                        "SELECT table_name, column_name FROM information_schema.columns "
                        "WHERE table_schema = current_schema() AND table_name = ANY(%s)", (list(chain.PULLED_TABLES),)):
                    have.setdefault(table, set()).add(column)
                self._hq_columns = have
            ser = chain.Serializer(hq, columns=self._hq_columns)
            pruned = (_pos(hq.execute_sql("SELECT hq_pruned_to()").fetchone()[0])
                      if self._has(hq, "hq_pruned_to") else (0, 0))
            if cursor < pruned:
                # The head office's log no longer has everything after our cursor (a new box, this
                # database restored from an old backup, another cluster): read the tables whole.
                records, new_cursor, n = self._read_whole(hq, ser)
            else:
                rows = hq.execute_sql(
                    "SELECT xid, seq, table_name, row_id FROM hq_down_change "
                    "WHERE (xid > %s OR (xid = %s AND seq > %s)) "
                    "AND xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint "
                    "ORDER BY xid, seq LIMIT %s", (cursor[0], cursor[0], cursor[1], limit)).fetchall()
                by_table: dict[str, set[int]] = {}
                for _, _, table, row_id in rows:
                    if table in chain.PULLED_TABLES:
                        by_table.setdefault(table, set()).add(row_id)
                records = []
                for table in sorted(by_table, key=lambda t: chain.RANK[t]):
                    records += list(ser.records(table, sorted(by_table[table])).values())
                new_cursor = (rows[-1][0], rows[-1][1]) if rows else cursor
                n = len(rows)
        with db.write():
            self._apply_down(records, f"{new_cursor[0]}:{new_cursor[1]}")
            chain.set_state("pull_cursor", f"{new_cursor[0]}:{new_cursor[1]}")
            chain.set_state("hq_system_id", sysid)
        self._report_pulled(hq, new_cursor)
        return n

    def refresh_claims(self) -> int:
        """Issue 14: bring this branch's kept claims (`order_claim`) up to the head office's for its
        open online orders (at most hq_claims.REFRESH_LIMIT, one read-only call), so a claim a
        manager moved reaches the branch without a till asking; and mark this branch's shipments
        taken back at another branch (hq_returns_of, one call, its open shipments only). Returns
        the kept claim rows changed."""
        from pos_core import hq_claims, hq_returns
        hq, n = self._hq(), 0
        orders = hq_claims.open_orders(self.branch)
        if orders and self._has(hq, "hq_claims_of"):     # (a head office on an older release has not)
            with hq.atomic():
                rows = hq.execute_sql(hq_claims.REFRESH_SQL, (orders,)).fetchall()
            n += hq_claims.replace_kept(orders, rows)
        # this branch's parcels taken back at another branch: its shipment says so (no stock here)
        sent = hq_returns.own_open_shipments(self.branch)
        if sent and self._has(hq, "hq_returns_of"):
            with hq.atomic():
                rows = hq.execute_sql(hq_returns.RETURNS_SQL, (sent,)).fetchall()
            self.returned_elsewhere += hq_returns.came_back_elsewhere(rows, self.branch, self.policy)
        return n

    def _read_whole(self, hq, ser) -> tuple[list[dict], tuple[int, int], int]:
        """Every row of the pulled tables, in this snapshot. Every transaction below the snapshot's
        xmin has ended and its rows are in what we read, so the cursor becomes "all of those"."""
        xmin = hq.execute_sql("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").fetchone()[0]
        records = []
        for table in sorted(chain.PULLED_TABLES, key=lambda t: chain.RANK[t]):
            ids = [r[0] for r in hq.execute_sql(f"SELECT id FROM {table} ORDER BY id").fetchall()]
            records += list(ser.records(table, ids).values())
        log.warning("the head office's change log no longer reaches back to our cursor: read %d rows whole",
                    len(records))
        return records, (xmin - 1, FULL_SEQ), max(len(records), 1)

    def _has(self, hq, function: str) -> bool:
        """Whether the head office has this function (an older release may not)."""
        if self._hq_functions is None:
            self._hq_functions = {r[0] for r in hq.execute_sql(
                "SELECT proname FROM pg_proc WHERE proname IN ('hq_pruned_to', 'hq_pulled', 'hq_claims_of', 'hq_returns_of')").fetchall()}
        return function in self._hq_functions

    def _report_pulled(self, hq, cursor: tuple[int, int]) -> None:
        """Tell the head office how far we have pulled, once it is committed here: it prunes its own
        log below the lowest branch's."""
        if cursor == self._reported or not self._has(hq, "hq_pulled"):
            return
        with hq.atomic():
            hq.execute_sql("SELECT hq_pulled(%s, %s)", cursor)
        self._reported = cursor

    def prune(self, force: bool = False) -> int:
        """Drop change rows the head office has confirmed (at or below its push position for us)
        and older than `keep_days`, a bounded batch at a time (see docs/chain.md, Pruning)."""
        if not force and time.monotonic() - self._pruned_at < PRUNE_SECONDS:
            return 0
        self._pruned_at = time.monotonic()
        pushed = chain.get_state("pushed")
        if not pushed:
            return 0
        return chain.prune_log(_pos(pushed), utcnow() - dt.timedelta(days=self.keep_days))

    def _mine(self, applier, rec: dict) -> bool:
        """A relayed row this branch owns itself: its own copy is the newer one, keep it."""
        t = chain.BY_NAME[rec["t"]]
        if not (t.relay and t.branch_path):
            return False
        values, _ = applier._prepare(rec, None)
        return applier._branch_code(rec["t"], values) == self.branch

    def _apply_down(self, records: list[dict], position: str) -> None:
        d = db.database
        applier = chain.Applier(d)
        mark = chain.change_mark(d)
        for rec in records:
            try:
                with d.atomic():
                    if not self._mine(applier, rec):
                        applier.apply(rec)
                (ChainParked.update(resolved_at=utcnow())
                 .where(ChainParked.table_name == rec["t"], ChainParked.key == rec["k"],
                        ChainParked.resolved_at.is_null()).execute())
            except (chain.Unresolved, chain.Refused, IntegrityError) as exc:
                applier = chain.Applier(d)
                ChainParked.create(table_name=rec["t"], key=rec["k"], data=json.dumps(rec),
                                   reason=str(exc).splitlines()[0][:1000], position=position)
        chain.forget_changes_since(d, mark)
        self._absorb(records)

    @staticmethod
    def _absorb(records: list[dict]) -> None:
        # After the forget: what the outcomes change here (the job, a shipment's Shopify id, the
        # relay row's last status) is this branch's news and goes up.
        uids = [rec["d"]["job_uid"] for rec in records if rec["t"] == "shopify_outcome"]
        if uids:
            shopify_relay.absorb(uids)

    def retry_parked_down(self) -> int:
        rows = list(ChainParked.select().where(ChainParked.resolved_at.is_null()).order_by(ChainParked.id).limit(200))
        fixed = 0
        for p in rows:
            try:
                with db.write():
                    mark = chain.change_mark(db.database)
                    applier = chain.Applier(db.database)
                    rec = json.loads(p.data)
                    if not self._mine(applier, rec):
                        applier.apply(rec)
                    chain.forget_changes_since(db.database, mark)
                    self._absorb([rec])
                    ChainParked.update(resolved_at=utcnow()).where(ChainParked.id == p.id).execute()
                fixed += 1
            except (chain.Unresolved, chain.Refused, IntegrityError):
                pass
        return fixed

    # -- one pass, as the daemon runs it --------------------------------------------------------
    def run_once(self, linger: float = 0.0, stop=None, idle: float = 0.2) -> dict:
        """Push until the log is drained (or `linger` has passed: the next run goes on), pull,
        and until `linger` has passed keep looking every `idle` seconds. Never raises for a link
        problem: the link's state and error go to the heartbeat the till reads."""
        summary = {"pushed": 0, "pulled": 0}
        deadline = time.monotonic() + linger
        try:
            while True:
                if self.relay_shopify:
                    # in the loop, so a sale's Shopify job goes up within a push interval
                    shopify_relay.hand_over(self.branch)
                n = self.push_once()
                summary["pushed"] += n
                late = time.monotonic() >= deadline or (stop is not None and stop.is_set())
                if n < BATCH or (late and linger):
                    if late or time.monotonic() - self._pulled_at >= PULL_SECONDS:
                        summary["pulled"] += self.pull_once()
                        self._pulled_at = time.monotonic()
                        if time.monotonic() - self._claims_at >= CLAIM_SECONDS:
                            summary["claims"] = self.refresh_claims()
                            self._claims_at = time.monotonic()
                    if late:
                        break
                    if n == 0:
                        (stop.wait(idle) if stop is not None else time.sleep(idle))
            self.retry_parked_down()
            self.prune()
            self.parked_up = self._hq().execute_sql(
                "SELECT count(*) FROM hq_inbox WHERE status = 'PARKED'").fetchone()[0]
            self.up, self.last_error, self.last_contact = True, "", utcnow()
        except HqUnavailable as exc:
            self.up, self.last_error = False, str(exc)
        except Exception as exc:  # noqa: BLE001 - a flaky link: drop the connection, try next run
            if db.database.in_transaction():
                raise
            log.warning("hq link: %s", exc)
            self._drop(exc)
        self.beat()
        return summary

    def beat(self) -> None:
        """The till's status bar reads this row: it never waits on the link itself."""
        n, oldest = self.pending(_pos(chain.get_state("pushed")))
        lag = (utcnow() - oldest).total_seconds() if oldest else 0.0
        parked_down = ChainParked.select().where(ChainParked.resolved_at.is_null()).count()
        kwargs = {"detail": {"role": "branch", "branch": self.branch, "up": self.up, "pending": n,
                             "lag_s": round(max(lag, 0.0), 1), "parked_up": self.parked_up,
                             "parked_down": parked_down, "rewound": chain.get_state("rewound")},
                  "error": self.last_error}
        if self.last_contact:
            kwargs["contact"] = self.last_contact
        heartbeat.beat(CHANNEL, **kwargs)
