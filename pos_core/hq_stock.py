"""Chain-wide stock at the counter (issue 14): every branch's on-hand and in-transit for one item,
as the head office has it, each branch as of its last contact, so a cashier can send a customer to
the branch that has the size. Read live from the head office (`hq_stock()` in hq.py) with a short
timeout; the till shows its own branch from its own ledger whatever the link does."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .errors import StateError


@dataclass(frozen=True)
class BranchStock:
    branch: str
    on_hand: int
    in_transit: int
    as_of: dt.datetime | None     # UTC: the branch's last contact with the head office


def chain_stock(cfg, sku: str) -> list[BranchStock] | None:
    """None for a single shop; StateError (one line) when the head office cannot be reached."""
    if cfg.hq.role != "branch":
        return None
    import psycopg2
    from . import config as configmod
    try:
        password = configmod.read_secret("", cfg.hq.password_file, cfg.path, "hq.password_file")
        conn = psycopg2.connect(cfg.hq.url, password=password or None, connect_timeout=3,
                                application_name="pos-till-stock", options="-c statement_timeout=5000")
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT o_branch, o_on_hand, o_in_transit, o_as_of FROM hq_stock(%s)", (sku,))
                return [BranchStock(b, int(q), int(t), at) for b, q, t, at in cur.fetchall()]
        finally:
            conn.close()
    except (psycopg2.Error, configmod.ConfigError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StateError(f"other branches: the head office cannot be reached ({text})") from None


def age(as_of: dt.datetime | None, now: dt.datetime) -> str:
    """'now', '5m', '3h', '2d' since the branch last reached the head office ('never')."""
    if as_of is None:
        return "never"
    s = max((now - as_of).total_seconds(), 0)
    if s < 60:
        return "now"
    if s < 3600:
        return f"{int(s // 60)}m"
    if s < 86400:
        return f"{int(s // 3600)}h"
    return f"{int(s // 86400)}d"
