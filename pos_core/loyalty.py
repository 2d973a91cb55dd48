"""Loyalty points: earned on net spend, paid as a tender, expiring, given back and taken back on refunds.

Points move like store credit and stock: append-only `PointsEntry` rows with unique event keys,
written in the sale's or refund's transaction, and a `PointsBalance` projection kept by upsert.
A second attempt with the same key changes nothing.

- Earning: points per Rs 100 of net spend (what the customer paid for the goods, less the part paid
  with points), by the most specific rule for the line's category and the customer's tier; the
  sale's fractions are summed before rounding down once.
- Tiers: by spend (sales less refunds) in the last 365 days, before this sale.
- Redeeming: the "points" tender; its amount must be whole points at the program's value.
- Refunds (cumulative, like the money): a refund of part of a sale takes back
  prorate(earned, refunded so far + now) - prorate(earned, refunded so far) and gives back the
  redeemed points the same way, so refunding a whole sale in any number of steps returns the
  balance exactly to what it was. Taking back earned points that were spent can make the balance
  negative; a negative balance cannot be redeemed.
- Expiry: every entry that adds points is a lot that expires `expiry_days` after it was made;
  spending takes from the oldest lots first; `expire()` writes one entry per lot that has run out.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from peewee import EXCLUDED, fn

from . import db
from .errors import InvalidInput
from .models import (Customer, LoyaltyProgram, LoyaltyRule, LoyaltyTier, PointsBalance, PointsEntry, PosOrder,
                     utcnow)
from .money import prorate

CENTI_PER_100_RUPEES = 100 * 10_000   # hundredths of a point per Rs 100 = 10,000 paisa


@dataclass(frozen=True)
class Program:
    point_value_paisa: int = 100
    expiry_days: int = 365
    min_redeem_points: int = 0
    active: bool = False   # no program set up: nothing is earned or redeemed


def program() -> Program:
    row = LoyaltyProgram.select().order_by(LoyaltyProgram.id).first()
    if row is None:
        return Program()
    return Program(row.point_value_paisa, row.expiry_days, row.min_redeem_points, row.active)


def set_program(*, point_value_paisa: int | None = None, expiry_days: int | None = None,
                min_redeem_points: int | None = None, active: bool | None = None) -> Program:
    if point_value_paisa is not None and point_value_paisa <= 0:
        raise InvalidInput("a point must be worth at least one paisa")
    if expiry_days is not None and expiry_days < 0:
        raise InvalidInput("expiry days cannot be negative (0 = never)")
    if min_redeem_points is not None and min_redeem_points < 0:
        raise InvalidInput("the minimum to redeem cannot be negative")
    with db.write():
        row = LoyaltyProgram.select().order_by(LoyaltyProgram.id).first() or LoyaltyProgram(active=True)
        for name, value in (("point_value_paisa", point_value_paisa), ("expiry_days", expiry_days),
                            ("min_redeem_points", min_redeem_points), ("active", active)):
            if value is not None:
                setattr(row, name, value)
        row.updated_at = utcnow()
        row.save()
    return program()


def set_tier(name: str, min_yearly_spend_paisa: int) -> None:
    if not name.strip() or min_yearly_spend_paisa < 0:
        raise InvalidInput("a tier needs a name and a yearly spend of zero or more")
    with db.write():
        (LoyaltyTier.insert(name=name.strip(), min_yearly_spend_paisa=min_yearly_spend_paisa)
         .on_conflict(conflict_target=[LoyaltyTier.name],
                      update={LoyaltyTier.min_yearly_spend_paisa: EXCLUDED.min_yearly_spend_paisa}).execute())


def set_rule(points_per_100: Decimal | str, category: str = "", tier: str = "") -> None:
    try:
        centi = Decimal(str(points_per_100)) * 100
    except Exception:  # noqa: BLE001 - decimal raises several kinds
        raise InvalidInput(f"{points_per_100!r} is not a number of points") from None
    if not centi.is_finite() or centi < 0 or centi != centi.to_integral_value():
        raise InvalidInput("points per Rs 100 must be zero or more, at most two decimals")
    if tier and not LoyaltyTier.get_or_none(LoyaltyTier.name == tier):
        raise InvalidInput(f"no tier {tier!r}; add it first")
    with db.write():
        (LoyaltyRule.insert(category=category, tier=tier, centipoints_per_100=int(centi))
         .on_conflict(conflict_target=[LoyaltyRule.category, LoyaltyRule.tier],
                      update={LoyaltyRule.centipoints_per_100: EXCLUDED.centipoints_per_100}).execute())


def balance(customer_id: int) -> int:
    row = PointsBalance.get_or_none(PointsBalance.customer == customer_id)
    return row.points if row else 0


def movements(customer_id: int, limit: int = 10) -> list[PointsEntry]:
    return list(PointsEntry.select().where(PointsEntry.customer == customer_id)
                .order_by(PointsEntry.created_at.desc(), PointsEntry.id.desc()).limit(limit))


def yearly_spend(customer_id: int, now: dt.datetime, exclude_order_id: int | None = None) -> int:
    since = now - dt.timedelta(days=365)
    q = (PosOrder.select(PosOrder.kind, fn.SUM(PosOrder.total_paisa))
         .where((PosOrder.customer == customer_id) & (PosOrder.status == "COMPLETED")
                & (PosOrder.completed_at >= since) & PosOrder.kind.in_(["sale", "refund"])))
    if exclude_order_id is not None:
        q = q.where(PosOrder.id != exclude_order_id)
    rows = q.group_by(PosOrder.kind).tuples()
    sums = {k: int(v or 0) for k, v in rows}
    return sums.get("sale", 0) - sums.get("refund", 0)


def tier_for(customer_id: int, now: dt.datetime, exclude_order_id: int | None = None) -> str:
    tiers = list(LoyaltyTier.select().order_by(LoyaltyTier.min_yearly_spend_paisa.desc()))
    if not tiers:
        return ""
    spend = yearly_spend(customer_id, now, exclude_order_id)
    return next((t.name for t in tiers if spend >= t.min_yearly_spend_paisa), "")


def _rates(tier: str, rules: dict | None = None) -> dict[str, int]:
    """category -> centipoints per Rs 100 for this tier ("" = any category)."""
    if rules is None:
        rules = _rules()
    cats = {c for c, _ in rules}
    out = {}
    for c in cats | {""}:
        for key in ((c, tier), (c, ""), ("", tier), ("", "")):
            if key in rules and (key[0] == c or key[0] == ""):
                out[c] = rules[key]
                break
    return out


def _rules() -> dict[tuple[str, str], int]:
    return {(c, t): v for c, t, v in LoyaltyRule.select(LoyaltyRule.category, LoyaltyRule.tier,
                                                        LoyaltyRule.centipoints_per_100).tuples()}


def points_for(lines: list[tuple[str, int]], tier: str, rules: dict | None = None) -> int:
    """Points for (category, net paisa) lines: Σ fractions, rounded down once."""
    rates = _rates(tier, rules)
    centi_paisa = sum(paisa * rates.get(cat, rates.get("", 0)) for cat, paisa in lines if paisa > 0)
    return centi_paisa // CENTI_PER_100_RUPEES


def points_of_tender(amount_paisa: int, prog: Program | None = None) -> int:
    prog = prog or program()
    if not prog.active:
        raise InvalidInput("loyalty points are not set up at this shop")
    if amount_paisa % prog.point_value_paisa:
        raise InvalidInput(f"points pay in steps of Rs {Decimal(prog.point_value_paisa) / 100:,.2f} "
                           f"(one point)")
    return amount_paisa // prog.point_value_paisa


def check_redeem(customer: Customer | None, amount_paisa: int) -> int:
    """How many points this tender spends; a clear reason if it cannot."""
    if customer is None:
        raise InvalidInput("paying with points needs a customer on the sale (F3)")
    prog = program()
    points = points_of_tender(amount_paisa, prog)
    have = balance(customer.id)
    if points > have:
        raise InvalidInput(f"{customer.name or customer.phone} has {have} points, not {points}")
    if points < prog.min_redeem_points:
        raise InvalidInput(f"at least {prog.min_redeem_points} points must be redeemed at once")
    return points


def move(customer_id: int, delta: int, kind: str, doc_ref: str, event_key: str, *,
         staff_id: int | None = None, now: dt.datetime | None = None, expires_at: dt.datetime | None = None,
         prog: Program | None = None, allow_zero: bool = False) -> bool:
    """One entry and the balance with it; call inside the document's transaction. A zero entry is
    written only with `allow_zero` (an overdraft charged to the customer records the decision)."""
    if not delta and not allow_zero:
        return False
    now = now or utcnow()
    if delta > 0 and expires_at is None:
        prog = prog or program()
        expires_at = now + dt.timedelta(days=prog.expiry_days) if prog.expiry_days else None
    inserted = (PointsEntry.insert(customer=customer_id, delta=delta, kind=kind, doc_ref=doc_ref,
                                   event_key=event_key, expires_at=expires_at if delta > 0 else None,
                                   staff=staff_id, created_at=now)
                .on_conflict_ignore().as_rowcount().execute())
    if not inserted:
        return False
    (PointsBalance.insert(customer=customer_id, points=delta, updated_at=now)
     .on_conflict(conflict_target=[PointsBalance.customer],
                  update={PointsBalance.points: PointsBalance.points + EXCLUDED.points,
                          PointsBalance.updated_at: EXCLUDED.updated_at})
     .execute())
    return True


# --- with a sale and a refund (called from sales.py and refunds.py, inside their transactions) ----

def on_sale(order: PosOrder, line_rows, categories: dict[int, str], points_paid: int, points_paid_paisa: int,
            staff_id: int, now: dt.datetime) -> tuple[int, int]:
    """Spend the tendered points and earn on the rest. Returns (earned, redeemed)."""
    if not order.customer_id:
        return 0, 0
    if points_paid:
        move(order.customer_id, -points_paid, "redeem", order.number, f"redeem:{order.uid}",
             staff_id=staff_id, now=now)
    prog = program()
    earned = 0
    if prog.active:
        totals = [r.total_paisa for r in line_rows]
        earn_base = max(sum(totals) - points_paid_paisa, 0)
        from .money import spread
        nets = spread(earn_base, totals) if sum(totals) else [0] * len(totals)
        rules = _rules()
        # The tier reached before this sale; only looked up when some rule depends on a tier.
        tier = tier_for(order.customer_id, now, exclude_order_id=order.id) if any(t for _, t in rules) else ""
        earned = points_for([(categories.get(r.variant_id, ""), n) for r, n in zip(line_rows, nets)], tier, rules)
        move(order.customer_id, earned, "earn", order.number, f"earn:{order.uid}", staff_id=staff_id, now=now,
             prog=prog)
    return earned, points_paid


def sale_points(sale: PosOrder) -> tuple[int, int]:
    """(earned, redeemed) by a sale, from its entries."""
    rows = {e.event_key: e.delta for e in PointsEntry.select().where(
        PointsEntry.event_key.in_([f"earn:{sale.uid}", f"redeem:{sale.uid}"]))}
    return rows.get(f"earn:{sale.uid}", 0), -rows.get(f"redeem:{sale.uid}", 0)


def refund_share(sale: PosOrder, refunded_before_paisa: int, refund_paisa: int) -> tuple[int, int]:
    """(earned points to take back, redeemed points to give back) for a refund worth `refund_paisa`
    of goods, after `refunded_before_paisa` was refunded earlier. Cumulative, so the steps add up."""
    earned, redeemed = sale_points(sale)
    whole = sale.total_paisa
    if whole <= 0:
        return 0, 0
    after = min(refunded_before_paisa + refund_paisa, whole)

    def cut(amount):
        return prorate(amount, after, whole) - prorate(amount, refunded_before_paisa, whole)
    return cut(earned), cut(redeemed)


def on_refund(sale: PosOrder, refund: PosOrder, refunded_before_paisa: int, staff_id: int,
              now: dt.datetime) -> tuple[int, int]:
    if not sale.customer_id:
        return 0, 0
    take, give = refund_share(sale, refunded_before_paisa, refund.total_paisa)
    move(sale.customer_id, -take, "refund_earn", refund.number, f"refund_earn:{refund.uid}", staff_id=staff_id, now=now)
    move(sale.customer_id, give, "refund_redeem", refund.number, f"refund_redeem:{refund.uid}",
         staff_id=staff_id, now=now)
    return take, give


# --- expiry ------------------------------------------------------------------------------------

def expire(now: dt.datetime | None = None, customer_id: int | None = None) -> int:
    """Write an expiry entry for every lot whose time has come and is not used up. Returns points expired."""
    now = now or utcnow()
    q = PointsEntry.select(PointsEntry.customer).where(
        (PointsEntry.delta > 0) & PointsEntry.expires_at.is_null(False) & (PointsEntry.expires_at <= now)).distinct()
    if customer_id is not None:
        q = q.where(PointsEntry.customer == customer_id)
    total = 0
    for (cid,) in q.tuples():
        with db.write():
            total += _expire_customer(cid, now)
    return total


def lots(customer_id: int, now: dt.datetime) -> list[tuple[PointsEntry, int]]:
    """Each lot that adds points, with what is left of it: replayed in order, a spend takes from the
    oldest live lots (a lot past its expiry cannot be spent), an expiry entry empties its lot, and
    points spent beyond the lots (a taken-back earn already spent) are a deficit the next lot pays."""
    entries = list(PointsEntry.select().where(PointsEntry.customer == customer_id)
                   .order_by(PointsEntry.created_at, PointsEntry.id))
    left: dict[int, int] = {}
    by_id: dict[int, PointsEntry] = {}
    deficit = 0
    for e in entries:
        if e.delta > 0:
            by_id[e.id] = e
            pay = min(deficit, e.delta)
            deficit -= pay
            left[e.id] = e.delta - pay
        elif e.kind == "expire":
            lot_id = int(e.event_key.rsplit(":", 1)[1])
            left[lot_id] = max(left.get(lot_id, 0) + e.delta, 0)
        else:
            need = -e.delta
            for lot_id in left:
                lot = by_id[lot_id]
                if need == 0:
                    break
                if lot.expires_at and lot.expires_at <= e.created_at:
                    continue
                take = min(need, left[lot_id])
                left[lot_id] -= take
                need -= take
            deficit += need
    return [(by_id[i], n) for i, n in left.items()]


def _expire_customer(customer_id: int, now: dt.datetime) -> int:
    total = 0
    for lot, left in lots(customer_id, now):
        if left > 0 and lot.expires_at and lot.expires_at <= now:
            if move(customer_id, -left, "expire", "expiry", f"expire:{customer_id}:{lot.id}", now=now):
                total += left
    return total
