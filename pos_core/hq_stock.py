"""Chain-wide stock at the counter (issue 14): every branch's on-hand and in-transit for one item,
as the head office has it, each branch as of its last contact, so a cashier can send a customer to
the branch that has the size. Read live from the head office (`hq_stock()` in hq.py) with a short
timeout; the till shows its own branch from its own ledger whatever the link does.

Every answer is also kept in this site's `chain_stock_copy`, so with the link down `look_up` gives
the last copy and when it was fetched (Branch Sync and Ctrl+K show it with its age)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .errors import StateError


@dataclass(frozen=True)
class BranchStock:
    branch: str
    on_hand: int
    in_transit: int
    as_of: dt.datetime | None     # UTC: the branch's last contact with the head office


@dataclass(frozen=True)
class ChainView:
    """Every branch's stock of some items: live from the head office, or this site's last copy."""
    stock: dict[str, list[BranchStock]] = field(default_factory=dict)   # sku -> one row per branch
    fetched_at: dt.datetime | None = None   # UTC: when the head office gave these figures
    error: str = ""                         # why it is a copy (the link is down); "" when live

    @property
    def live(self) -> bool:
        return not self.error

    def of(self, sku: str, branch: str) -> BranchStock | None:
        return next((r for r in self.stock.get(sku, []) if r.branch == branch), None)


def chain_stock(cfg, sku: str) -> list[BranchStock] | None:
    """None for a single shop; StateError (one line) when the head office cannot be reached."""
    got = chain_stocks(cfg, [sku])
    return None if got is None else got[sku]


def chain_stocks(cfg, skus: list[str]) -> dict[str, list[BranchStock]] | None:
    """Several items over one connection, kept as this site's copy. None for a single shop."""
    if cfg.hq.role != "branch":
        return None
    import psycopg2
    from . import config as configmod
    out: dict[str, list[BranchStock]] = {}
    try:
        password = configmod.read_secret("", cfg.hq.password_file, cfg.path, "hq.password_file")
        conn = psycopg2.connect(cfg.hq.url, password=password or None, connect_timeout=3,
                                application_name="pos-till-stock", options="-c statement_timeout=5000")
        try:
            with conn, conn.cursor() as cur:
                for sku in dict.fromkeys(skus):
                    cur.execute("SELECT o_branch, o_on_hand, o_in_transit, o_as_of FROM hq_stock(%s)", (sku,))
                    out[sku] = [BranchStock(b, int(q), int(t), at) for b, q, t, at in cur.fetchall()]
        finally:
            conn.close()
    except (psycopg2.Error, configmod.ConfigError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StateError(f"other branches: the head office cannot be reached ({text})") from None
    _keep(out)
    return out


def _keep(answer: dict[str, list[BranchStock]]) -> None:
    from . import db
    from .models import ChainStockCopy, utcnow
    now = utcnow()
    rows = [{"sku": sku, "branch_code": r.branch, "on_hand": r.on_hand, "in_transit": r.in_transit,
             "as_of": r.as_of, "fetched_at": now} for sku, rs in answer.items() for r in rs]
    if not rows:
        return
    with db.write():
        # the head office's answer is the whole truth for these items: a branch it no longer lists goes
        ChainStockCopy.delete().where(ChainStockCopy.sku.in_(list(answer))).execute()
        ChainStockCopy.insert_many(rows).execute()


def last_copy(skus: list[str]) -> tuple[dict[str, list[BranchStock]], dt.datetime | None]:
    """This site's last copy of these items (and the oldest fetch among them; None: none kept)."""
    from .models import ChainStockCopy
    out: dict[str, list[BranchStock]] = {}
    oldest = None
    for c in (ChainStockCopy.select().where(ChainStockCopy.sku.in_(list(skus)))
              .order_by(ChainStockCopy.sku, ChainStockCopy.branch_code)):
        out.setdefault(c.sku, []).append(BranchStock(c.branch_code, c.on_hand, c.in_transit, c.as_of))
        oldest = c.fetched_at if oldest is None or c.fetched_at < oldest else oldest
    return out, oldest


def look_up(cfg, skus: list[str]) -> ChainView | None:
    """Live when the head office answers; else the last copy with the reason. None: single shop."""
    from .models import utcnow
    try:
        got = chain_stocks(cfg, skus)
    except StateError as exc:
        stock, fetched = last_copy(skus)
        return ChainView(stock, fetched, str(exc))
    return None if got is None else ChainView(got, utcnow())


def ago(at: dt.datetime | None, now: dt.datetime) -> str:
    """'12m ago', 'just now', 'never': for people."""
    text = age(at, now)
    return "just now" if text == "now" else text if text == "never" else f"{text} ago"


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
