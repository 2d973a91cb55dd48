"""Claiming an online order's lines at the head office before packing them (issue 14).

In a chain every branch sees every Smart Order; a branch claims the lines it will pack, and the head
office decides (`hq_claim()` in hq.py, under the order's lock, all or nothing), so two branches can
never both pack the same units. A refusal names the branch that holds the line. Claims are per line:
the branch holding a line ships all of it (in one parcel or several).

The till calls `claim_for` before it takes stock for an order (Smart Fulfillment, Manual
Fulfillment, Branch Sync). It opens its own short connection to the head office as the branch's
role, like the agent (packing needs Shopify anyway, so it needs the link): when the link is down it
says so plainly and nothing is packed. A single shop claims nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import InvalidInput, StateError

CLAIM_SQL = "SELECT o_line, o_branch FROM hq_claim(%s, %s)"
RELEASE_SQL = "SELECT hq_release(%s, %s)"


@dataclass(frozen=True)
class Claim:
    order: str
    branch: str
    lines: dict[str, str | None] = field(default_factory=dict)   # Shopify line id -> branch holding it

    @property
    def ok(self) -> bool:
        return bool(self.lines) and all(b == self.branch for b in self.lines.values())

    @property
    def held_elsewhere(self) -> dict[str, str]:
        return {line: b for line, b in self.lines.items() if b and b != self.branch}

    def message(self, name: str = "") -> str:
        what = name or self.order
        if self.ok:
            return f"{self.branch} holds order {what} ({len(self.lines)} line(s)): pack it here"
        others = sorted(set(self.held_elsewhere.values()))
        return f"order {what} is held by {', '.join(others)}: not claimed here"


OFFLINE = "packing an online order needs the head-office link, and it is down ({error}); nothing was claimed"


def claim_for(cfg, order_id: int, line_ids: list[int] | None = None, from_branch: str = "") -> Claim | None:
    """At a chain branch: claim these Smart Order lines (local ids; None: every current line) for
    this branch, or raise StateError saying who holds them or that the link is down. `from_branch`:
    the branch whose goods go; in a chain only that branch's own box can take its stock."""
    if cfg.hq.role != "branch":
        return None
    branch = (cfg.hq.branch or cfg.branch).upper()
    if from_branch and from_branch.upper() != branch:
        raise StateError(f"the goods would leave {from_branch.upper()}: pack it at {from_branch.upper()}'s "
                         f"counter, not at {branch}")
    import psycopg2
    from . import config as configmod
    from .models import SmartOrder, SmartOrderLine
    so = SmartOrder.get_or_none(SmartOrder.id == order_id)
    if so is None:
        raise InvalidInput(f"no online order with id {order_id}")
    lines = None
    if line_ids is not None:
        lines = [l.shopify_line_id for l in SmartOrderLine.select().where(SmartOrderLine.id.in_(list(line_ids)))]
    password = configmod.read_secret("", cfg.hq.password_file, cfg.path, "hq.password_file")
    try:
        conn = psycopg2.connect(cfg.hq.url, password=password or None, connect_timeout=5,
                                application_name="pos-till-claim", options="-c statement_timeout=15000")
    except psycopg2.OperationalError as exc:
        raise StateError(OFFLINE.format(error=_first_line(exc))) from None
    try:
        with conn, conn.cursor() as cur:
            cur.execute(CLAIM_SQL, (so.shopify_id, lines))
            claim = Claim(so.shopify_id, branch, dict(cur.fetchall()))
    except psycopg2.OperationalError as exc:
        raise StateError(OFFLINE.format(error=_first_line(exc))) from None
    except psycopg2.Error as exc:
        raise InvalidInput(_first_line(exc)) from None
    finally:
        conn.close()
    if not claim.ok:
        raise StateError(claim.message(so.name))
    return claim


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def release_unheld(cfg, order_id: int) -> str:
    """After an unpack (or goods back after a cancellation): give back the claim on the order's
    lines this branch no longer has in any live shipment, so another branch may pack them. Never
    fails the step it follows: with the link down it says the claim is still held. Returns a note
    for the person ("" when there is nothing to say)."""
    if cfg.hq.role != "branch":
        return ""
    import psycopg2
    from . import config as configmod
    from .models import Branch, Fulfillment, FulfillmentLine, SmartOrder, SmartOrderLine
    branch = (cfg.hq.branch or cfg.branch).upper()
    so = SmartOrder.get_or_none(SmartOrder.id == order_id)
    here = Branch.get_or_none(Branch.code == branch)
    if so is None or here is None:
        return ""
    live = {line for (line,) in FulfillmentLine.select(FulfillmentLine.order_line).join(Fulfillment)
            .where((Fulfillment.order == order_id) & (Fulfillment.branch == here.id)
                   & (Fulfillment.status != "UNPACKED")).tuples()}
    free = [l.shopify_line_id for l in SmartOrderLine.select().where(SmartOrderLine.order == order_id)
            if l.id not in live]
    if not free:
        return ""
    try:
        password = configmod.read_secret("", cfg.hq.password_file, cfg.path, "hq.password_file")
        conn = psycopg2.connect(cfg.hq.url, password=password or None, connect_timeout=5,
                                application_name="pos-till-claim", options="-c statement_timeout=15000")
        try:
            with conn, conn.cursor() as cur:
                cur.execute(RELEASE_SQL, (so.shopify_id, free))
                n = cur.fetchone()[0]
        finally:
            conn.close()
    except (psycopg2.Error, configmod.ConfigError) as exc:
        return (f"; {branch} still holds its claim on the order at the head office ({_first_line(exc)}): "
                "another branch cannot pack it until the head office releases it (pos-admin hq release)")
    return f"; {branch}'s claim on {n} line(s) given back" if n else ""
