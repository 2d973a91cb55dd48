"""Claiming an online order's lines at the head office before packing them (issue 14).

In a chain every branch sees every Smart Order; a branch claims the lines it will pack, and the head
office decides (`hq_claim()` in hq.py, under the order's lock, all or nothing), so two branches can
never both pack the same units. A refusal names the branch that holds the line. Claims are per line:
the branch holding a line ships all of it (in one parcel or several).

The till calls `claim_for` before it takes stock for an order (Smart Fulfillment, Manual
Fulfillment, Branch Sync). It opens its own short connection to the head office as the branch's
role, like the agent (packing needs Shopify anyway, so it needs the link): when the link is down it
says so plainly and nothing is packed. A single shop claims nothing.

The branch keeps what the head office last told it about each line (`order_claim`: a claim it was
granted, or the branch named in a refusal; a release it made removes its rows). Dispatch, Delivered
and Returned ask the head office again (`may_act`: a line a manager gave to another branch meanwhile
is refused, naming that branch) and, with the link down, go by that kept copy: none of them needs
Shopify at the click (a fulfillment, a tag, a restock: all outbox jobs). Offline, a dispatch with
no kept claim at all is refused (nothing says this branch may send those lines); a delivered or
returned one is not (the parcel already left this branch).
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


class LinkDown(StateError):
    """The head office cannot be reached (`reason`: what the connection said); nothing was claimed."""

    def __init__(self, reason: str):
        super().__init__(OFFLINE.format(error=reason))
        self.reason = reason


def claim_for(cfg, order_id: int, line_ids: list[int] | None = None, from_branch: str = "") -> Claim | None:
    """At a chain branch: claim these Smart Order lines (local ids; None: every current line) for
    this branch, or raise StateError saying who holds them or that the link is down. `from_branch`:
    the branch whose goods go; in a chain only that branch's own box can take its stock."""
    if cfg.hq.role != "branch":
        return None
    branch = this_branch(cfg)
    if from_branch:
        goods_here(cfg, from_branch, "pack it")
    from .models import SmartOrder, SmartOrderLine
    so = SmartOrder.get_or_none(SmartOrder.id == order_id)
    if so is None:
        raise InvalidInput(f"no online order with id {order_id}")
    lines = None
    if line_ids is not None:
        lines = [l.shopify_line_id for l in SmartOrderLine.select().where(SmartOrderLine.id.in_(list(line_ids)))]
    claim = _ask(cfg, so.shopify_id, branch, lines)
    if not claim.ok:
        raise StateError(claim.message(so.name))
    return claim


def this_branch(cfg) -> str:
    return (cfg.hq.branch or cfg.branch).upper()


def goods_here(cfg, branch_code: str, verb: str) -> None:
    """In a chain a branch's stock moves only on its own box (its movements are its rows): refuse a
    step that would move another branch's goods from here. A single shop may name any branch."""
    if cfg.hq.role != "branch":
        return
    branch, there = this_branch(cfg), (branch_code or "").upper()
    if there and there != branch:
        raise StateError(f"the goods would leave {there}: {verb} at {there}'s counter, not at {branch}")


def _ask(cfg, order_shopify_id: str, branch: str, lines: list[str] | None) -> Claim:
    """hq_claim() at the head office as this branch's role; its answer is kept here. StateError
    (OFFLINE) when the link is down, InvalidInput for the head office's own refusal."""
    import psycopg2
    from . import config as configmod
    try:
        password = configmod.read_secret("", cfg.hq.password_file, cfg.path, "hq.password_file")
        conn = psycopg2.connect(cfg.hq.url, password=password or None, connect_timeout=5,
                                application_name="pos-till-claim", options="-c statement_timeout=15000")
    except (psycopg2.OperationalError, configmod.ConfigError) as exc:
        raise LinkDown(_first_line(exc)) from None
    try:
        with conn, conn.cursor() as cur:
            cur.execute(CLAIM_SQL, (order_shopify_id, lines))
            claim = Claim(order_shopify_id, branch, dict(cur.fetchall()))
    except psycopg2.OperationalError as exc:
        raise LinkDown(_first_line(exc)) from None
    except psycopg2.Error as exc:
        raise InvalidInput(_first_line(exc)) from None
    finally:
        conn.close()
    keep(order_shopify_id, claim.lines)
    return claim


def keep(order_shopify_id: str, holders: dict[str, str | None]) -> None:
    """Remember who the head office says holds each line (None: nobody; the row goes)."""
    from . import db
    from .models import OrderClaim, utcnow
    if not holders:
        return
    with db.write():
        OrderClaim.delete().where((OrderClaim.order_shopify_id == order_shopify_id)
                                  & OrderClaim.line_id.in_(list(holders))).execute()
        rows = [{"order_shopify_id": order_shopify_id, "line_id": line, "branch_code": b, "told_at": utcnow()}
                for line, b in holders.items() if b]
        if rows:
            OrderClaim.insert_many(rows).execute()


REFRESH_SQL = "SELECT o_order, o_line, o_branch FROM hq_claims_of(%s)"
REFRESH_LIMIT = 500     # orders per refresh: the newest open ones first


def open_orders(branch_code: str, limit: int = REFRESH_LIMIT) -> list[str]:
    """The online orders whose claims this branch keeps fresh: any it kept a claim of, and any with
    a shipment of this branch's not yet finished (pending, packed or dispatched). Newest first, bounded."""
    from .models import Branch, Fulfillment, OrderClaim, SmartOrder
    here = Branch.get_or_none(Branch.code == branch_code)
    live = Fulfillment.select(Fulfillment.order).where(
        (Fulfillment.branch == (here.id if here else -1)) & Fulfillment.status.in_(["PENDING", "PACKED", "DISPATCHED"]))
    kept_orders = OrderClaim.select(OrderClaim.order_shopify_id)
    q = (SmartOrder.select(SmartOrder.shopify_id)
         .where(SmartOrder.shopify_id.in_(kept_orders) | SmartOrder.id.in_(live))
         .order_by(SmartOrder.id.desc()).limit(limit))
    return [sid for (sid,) in q.tuples()]


def replace_kept(orders: list[str], rows: list[tuple[str, str, str]]) -> int:
    """The head office's answer for these orders becomes this branch's kept copy: a claim it no
    longer has is dropped, one that moved names its new branch. Returns the rows that changed."""
    from . import db
    from .models import OrderClaim, utcnow
    if not orders:
        return 0
    now = {(o, l): b for o, l, b in rows}
    with db.write():
        before = {(o, l): b for o, l, b in OrderClaim.select(OrderClaim.order_shopify_id, OrderClaim.line_id,
                                                              OrderClaim.branch_code)
                  .where(OrderClaim.order_shopify_id.in_(orders)).tuples()}
        if before == now:
            return 0
        OrderClaim.delete().where(OrderClaim.order_shopify_id.in_(orders)).execute()
        if now:
            OrderClaim.insert_many([{"order_shopify_id": o, "line_id": l, "branch_code": b, "told_at": utcnow()}
                                    for (o, l), b in sorted(now.items())]).execute()
    return len(set(before.items()) ^ set(now.items()))


def kept(order_shopify_id: str) -> dict[str, str]:
    """{line: branch} as the head office last told this branch."""
    from .models import OrderClaim
    return dict(OrderClaim.select(OrderClaim.line_id, OrderClaim.branch_code)
                .where(OrderClaim.order_shopify_id == order_shopify_id).tuples())


VERBS = {"dispatch": "dispatch it", "deliver": "mark it delivered", "returned": "mark it returned"}


def may_act(cfg, shipment_uid: str, action: str) -> str:
    """At a chain branch, before dispatching a shipment or marking it delivered or returned: the
    shipment must be this branch's and this branch must hold the claim on its lines. Asks the head
    office (which gives a free line back to the branch that has the goods, and refuses one another
    branch holds, naming it); with the link down, goes by the claims this branch kept. Raises
    StateError; returns a note for the person ("" mostly). A single shop: nothing to check."""
    if cfg.hq.role != "branch":
        return ""
    from .models import Fulfillment
    f = Fulfillment.get_or_none(Fulfillment.uid == shipment_uid)
    if f is None:
        raise InvalidInput(f"no shipment {shipment_uid}")
    branch, verb, order = this_branch(cfg), VERBS[action], f.order
    if f.branch.code != branch:
        raise StateError(f"shipment {f.uid[:8]} is {f.branch.code}'s: {verb} at {f.branch.code}'s counter, "
                         f"not at {branch}")
    lines = sorted({l.order_line.shopify_line_id for l in f.lines if l.order_line_id})
    note = ""
    try:
        holders = _ask(cfg, order.shopify_id, branch, lines).lines
    except LinkDown as exc:
        holders = {line: kept(order.shopify_id).get(line) for line in lines}
        if action == "dispatch" and not all(holders.values()):
            # nothing says this branch may send these lines (a shipment packed before the chain)
            raise StateError(f"the head office cannot confirm {branch}'s claim on order {order.name} "
                             f"({exc.reason}) and this branch has no copy of it: dispatch once "
                             "the link is back") from None
        note = f" (head office unreachable: {branch}'s claim checked against its kept copy)"
    others = sorted({b for b in holders.values() if b and b != branch})
    if others:
        raise StateError(f"order {order.name} is held by {', '.join(others)}: only {' or '.join(others)} may "
                         f"{verb}, not {branch}")
    return note


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
    keep(so.shopify_id, {line: None for line, b in kept(so.shopify_id).items() if line in free and b == branch})
    return f"; {branch}'s claim on {n} line(s) given back" if n else ""
