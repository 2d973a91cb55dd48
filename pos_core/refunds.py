"""Refunds and exchanges against a completed sale.

A refund is its own document with its own number from the counter's refund series, linked to the
sale. Each refunded line takes its share of the sale line's discount, tax and total by the units
returned, computed cumulatively so that refunding every unit, in any number of steps, gives back
exactly what was paid for the line: never a paisa more.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from peewee import fn

from . import commission, customers, db, ledger, loyalty, numbering, outbox, staff as staffmod
from .errors import InvalidInput, NotFound, PermissionDenied
from .ledger import Movement
from .models import Payment, PosOrder, PosOrderLine, new_uid, utcnow
from .money import MoneyError, prorate, to_paisa
from .policy import SalePolicy
from .sales import (Buyer, SaleLine, Tender, _counter, _open_shift, _write_payments, complete_sale,
                    queue_jobs)


# Why goods come back: chosen at the till from this short list (key, what the till and reports say).
# "other" needs the cashier's own words; any reason may carry a note.
REASONS = (("damaged", "Damaged"), ("wrong_size", "Wrong size"), ("changed_mind", "Changed mind"),
           ("defective", "Defective"), ("other", "Other"))
REASON_LABELS = dict(REASONS)
# An online order's parcel taken back at the counter (fulfillments.mark_returned): the same list,
# and a COD parcel the customer would not take.
ONLINE_REASONS = (("refused", "Refused at the door"),) + REASONS
ONLINE_REASON_LABELS = dict(ONLINE_REASONS)
NOTE_MAX = 200


def check_reason(reason: str | None, note: str = "", labels: dict[str, str] = REASON_LABELS) -> tuple[str, str]:
    """(reason, note) as stored; "" for a refund made without one (older callers, imports)."""
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise InvalidInput(f"the return note is {len(note)} characters; keep it within {NOTE_MAX}")
    if not reason:
        if note:
            raise InvalidInput("a return note needs a reason; choose one of " + ", ".join(labels))
        return "", ""
    if reason not in labels:
        raise InvalidInput(f"unknown return reason {reason!r}; use one of {', '.join(labels)}")
    if reason == "other" and not note:
        raise InvalidInput("a return for another reason needs a few words saying why")
    return reason, note


@dataclass(frozen=True)
class ReturnLine:
    original_line_id: int
    qty: int
    restock: bool = True


def refundable_qty(line: PosOrderLine) -> int:
    done = (PosOrderLine.select(fn.COALESCE(fn.SUM(PosOrderLine.qty), 0))
            .join(PosOrder)
            .where((PosOrderLine.original_line == line.id) & (PosOrder.status == "COMPLETED"))
            .scalar())
    return line.qty - int(done or 0)


def refunded_by_method(sale: PosOrder) -> dict[str, int]:
    rows = (Payment.select(Payment.method, fn.SUM(Payment.amount_paisa))
            .join(PosOrder).where(PosOrder.original == sale.id).group_by(Payment.method).tuples())
    return {m: int(s) for m, s in rows}


def refund(policy: SalePolicy, *, counter_id: int, shift_id: int, staff_id: int, sale_uid: str,
           lines: list[ReturnLine], tenders: list[Tender] | None = None,
           approver_id: int | None = None, exchange_uid: str | None = None,
           reason: str | None = None, note: str = "", _in_exchange: bool = False) -> PosOrder:
    """Refund chosen lines of a sale. `tenders=None` pays back the way the customer paid.
    `reason` (a key of REASONS) and `note` say why the goods came back."""
    reason, note = check_reason(reason, note)
    counter = _counter(counter_id)
    cashier = staffmod.get(staff_id)
    _authorise(cashier, approver_id, "exchange" if exchange_uid else "refund")
    if not lines:
        raise InvalidInput("choose at least one line to refund")
    with db.write():
        shift = _open_shift(shift_id, counter)
        sale = _lock_sale(sale_uid)
        sold = {l.id: l for l in sale.lines}
        wanted: dict[int, int] = defaultdict(int)
        for r in lines:
            if r.original_line_id not in sold:
                raise InvalidInput(f"line {r.original_line_id} is not on sale {sale.number}")
            if isinstance(r.qty, bool) or not isinstance(r.qty, int) or r.qty <= 0:
                raise InvalidInput(f"refund quantity must be a whole number above zero, not {r.qty!r}")
            wanted[r.original_line_id] += r.qty
        for line_id, qty in wanted.items():
            left = refundable_qty(sold[line_id])
            if qty > left:
                raise InvalidInput(f"{sold[line_id].name}: only {left} of {sold[line_id].qty} can still be "
                                   f"refunded, not {qty}")

        order = PosOrder(kind="refund", status="COMPLETED", counter=counter, branch=counter.branch_id,
                         shift=shift, cashier=cashier, customer=sale.customer_id, original=sale,
                         exchange_uid=exchange_uid, prices_include_tax=sale.prices_include_tax,
                         buyer=sale.buyer, completed_at=utcnow(), return_reason=reason, return_note=note)
        order.number = numbering.next_number(counter, numbering.REFUNDS)
        order.save()
        rows, placed, befores = [], defaultdict(int), {}
        for i, r in enumerate(lines, start=1):
            line = sold[r.original_line_id]
            # Units refunded before, plus those placed earlier on this same refund.
            before = line.qty - refundable_qty(line) + placed[line.id]
            rows.append(_refund_line(order, i, line, r.qty, r.restock, before))
            befores[i] = before
            placed[line.id] += r.qty
        PosOrderLine.bulk_create(rows)
        order.subtotal_paisa = sum(r.qty * r.unit_price_paisa for r in rows)
        order.discount_paisa = sum(r.line_discount_paisa + r.order_discount_paisa for r in rows)
        order.tax_paisa = sum(r.tax_paisa for r in rows)
        order.total_paisa = sum(r.total_paisa for r in rows)

        refunded_before = _refunded_goods(sale, order)
        _, give_points, give_paisa = points_back(sale, refunded_before, order.total_paisa)
        if tenders is None:
            payments = _back_as_paid(sale, order.total_paisa - give_paisa)
        else:
            payments = _check_refund_tenders(sale, tenders, order.total_paisa - give_paisa, allow_exchange=_in_exchange)
        if give_paisa:
            # The points part of the refund goes back as points, whatever else the customer chose.
            payments.append({"method": "points", "amount_paisa": give_paisa, "tendered_paisa": give_paisa,
                             "reference": f"{give_points} points"})
        order.paid_paisa = sum(p["amount_paisa"] for p in payments)
        order.save()
        _write_payments(order, payments, order.completed_at)
        credit = sum(p["amount_paisa"] for p in payments if p["method"] == "store_credit")
        if credit:
            if not sale.customer_id:
                raise InvalidInput("store credit needs a customer; attach one to the sale first")
            customers.add_credit(sale.customer_id, credit, order.number, f"refund:{order.uid}", cashier.id)
        loyalty.on_refund(sale, order, refunded_before, cashier.id, order.completed_at)
        commission.on_refund(order, rows, sold, befores, order.completed_at)

        applied = ledger.record_many([Movement(f"refund:{order.uid}:{row.line_no}", row.variant_id,
                                               counter.branch_id, row.qty, "refund", "pos_order", order.number,
                                               cashier.id, reason="customer return")
                                      for row in rows if row.restock])
        deltas: dict[tuple[int, int], int] = defaultdict(int)
        for m in applied:
            deltas[(m.variant_id, m.branch_id)] += m.delta
        fbr_original = next((j.uid for j in outbox.jobs_for(sale.uid, outbox.FBR)), None)
        queue_jobs(policy, order, rows, [p["method"] for p in payments], deltas, "restock",
                   ref_usin=sale.number, depends_on=fbr_original)
    return order


def exchange(policy: SalePolicy, *, counter_id: int, shift_id: int, staff_id: int, sale_uid: str,
             returns: list[ReturnLine], new_lines: list[SaleLine], tenders: list[Tender],
             approver_id: int | None = None, buyer: Buyer | None = None, reason: str | None = None,
             note: str = "") -> tuple[PosOrder, PosOrder | None]:
    """Returned lines and new ones as one operation: a refund and a sale linked by an exchange id.

    The returned value pays for the new goods first ("exchange" tender on both documents). If the
    new goods cost more, `tenders` collect the difference; if less, `tenders` give the difference
    back (cash, the original tender, or store credit).
    """
    link = new_uid()
    check_reason(reason, note)   # before anything is priced or locked
    with db.write():
        sale = _lock_sale(sale_uid)
        returned = refund_preview(sale, returns)
        returned -= points_back(sale, _refunded_goods(sale, None), returned)[2]  # the points go back as points
        new_total = _preview_total(policy, new_lines, _counter(counter_id).branch.code) if new_lines else 0
        applied = min(returned, new_total)
        back = returned - applied
        give = [Tender("exchange", Decimal(applied) / 100)] if applied else []
        back_tenders = give + (tenders if back else [])
        credit_note = refund(policy, counter_id=counter_id, shift_id=shift_id, staff_id=staff_id,
                             sale_uid=sale_uid, lines=returns, tenders=back_tenders,
                             approver_id=approver_id, exchange_uid=link, reason=reason, note=note,
                             _in_exchange=True)
        new_sale = None
        if new_lines:
            sale_tenders = give + (tenders if not back else [])
            new_sale = complete_sale(policy, counter_id=counter_id, shift_id=shift_id, staff_id=staff_id,
                                     lines=new_lines, tenders=sale_tenders,
                                     customer_id=sale.customer_id, buyer=buyer, approver_id=approver_id)
            new_sale.exchange_uid = link
            new_sale.save()
    return credit_note, new_sale


def refund_preview(sale: PosOrder, returns: list[ReturnLine]) -> int:
    """What these returns would give back, in paisa (no writes)."""
    sold = {l.id: l for l in sale.lines}
    total, seen = 0, defaultdict(int)
    for r in returns:
        line = sold.get(r.original_line_id)
        if line is None:
            raise InvalidInput(f"line {r.original_line_id} is not on sale {sale.number}")
        before = line.qty - refundable_qty(line) + seen[line.id]
        total += _slice(line.total_paisa, before, r.qty, line.qty)
        seen[line.id] += r.qty
    return total


def _refunded_goods(sale: PosOrder, this: PosOrder | None) -> int:
    """Goods value refunded from a sale by earlier refunds (not `this` one)."""
    q = PosOrder.select(fn.COALESCE(fn.SUM(PosOrder.total_paisa), 0)).where(
        (PosOrder.original == sale.id) & (PosOrder.kind == "refund") & (PosOrder.status == "COMPLETED"))
    if this is not None and this.id:
        q = q.where(PosOrder.id != this.id)
    return int(q.scalar() or 0)


def points_back(sale: PosOrder, refunded_before: int, amount: int) -> tuple[int, int, int]:
    """(earned points taken back, redeemed points given back, their value in paisa) for a refund
    of `amount` after `refunded_before`. The value is at the rate the sale's points were paid at."""
    paid = [p for p in sale.payments if p.method == "points"]
    take, give = loyalty.refund_share(sale, refunded_before, amount)
    if not paid or not give:
        return take, give, 0
    _, redeemed = loyalty.sale_points(sale)
    per_point = sum(p.amount_paisa for p in paid) // redeemed
    return take, give, min(give * per_point, amount)


def refund_split(sale: PosOrder, returns: list[ReturnLine]) -> tuple[int, int, int]:
    """(money back, points back, what those points are worth) for these returns, no writes: the
    part a sale paid with points goes back as points, the rest by the tenders chosen."""
    total = refund_preview(sale, returns)
    _, give, give_paisa = points_back(sale, _refunded_goods(sale, None), total)
    return total - give_paisa, give, give_paisa


def _preview_total(policy, new_lines, branch_code: str) -> int:
    """What the new goods of an exchange will cost, with the promotions the sale will apply."""
    from .models import utcnow
    from .sales import _categories, _price, _unit_prices, _variants, promotion_outcome
    variants = _variants(new_lines)
    prices = _unit_prices(new_lines, variants, policy.barcode_rules)
    outcome = promotion_outcome(new_lines, variants, _categories(variants), branch_code, utcnow(), None, prices)
    _, totals = _price(new_lines, variants, None, policy.prices_include_tax, policy.barcode_rules, outcome)
    return totals.total_paisa + policy.service_fee_paisa


def _slice(amount: int, before: int, qty: int, whole: int) -> int:
    return prorate(amount, before + qty, whole) - prorate(amount, before, whole)


def _refund_line(order: PosOrder, line_no: int, sold: PosOrderLine, qty: int, restock: bool,
                 before: int) -> PosOrderLine:
    """The refunded slice of a sold line. Total and tax are prorated cumulatively; everything
    else is derived from them, so each refund line adds up by itself (excl + tax = total, and
    gross - discounts = the net the price was charged on) and the slices add up to the sale line."""
    cut = lambda amount: _slice(amount, before, qty, sold.qty)  # noqa: E731
    total, tax = cut(sold.total_paisa), cut(sold.tax_paisa)
    excl = total - tax
    inclusive = order.prices_include_tax or sold.third_schedule
    discount = qty * sold.unit_price_paisa - (total if inclusive else excl)
    if not sold.order_discount_paisa:
        line_part = discount
    elif not sold.line_discount_paisa:
        line_part = 0
    else:
        line_part = min(max(cut(sold.line_discount_paisa), 0), discount)
    return PosOrderLine(
        order=order.id, line_no=line_no, variant=sold.variant_id, sku=sold.sku, name=sold.name, qty=qty,
        unit_price_paisa=sold.unit_price_paisa, price_overridden=sold.price_overridden,
        line_discount_paisa=line_part, order_discount_paisa=discount - line_part,
        tax_rate_bp=sold.tax_rate_bp, tax_paisa=tax, value_excl_paisa=excl,
        total_paisa=total, pct_code=sold.pct_code, third_schedule=sold.third_schedule,
        original_line=sold.id, restock=restock)


def _lock_sale(uid: str) -> PosOrder:
    query = PosOrder.select().where((PosOrder.uid == uid) & (PosOrder.kind == "sale")
                                    & (PosOrder.status == "COMPLETED"))
    if db.is_postgres():
        query = query.for_update()  # two refunds of one sale at once must queue, not both pass
    sale = query.first()
    if sale is None:
        raise NotFound(f"no completed sale {uid}")
    return sale


def _authorise(cashier, approver_id, action) -> None:
    if staffmod.may(cashier, action):
        return
    if approver_id is None:
        raise PermissionDenied(f"{cashier.name} may not {action}; a supervisor or manager must approve")
    approver = staffmod.get(approver_id)
    staffmod.require(approver, action)


def _back_as_paid(sale: PosOrder, amount: int) -> list[dict]:
    """Pay back through the tenders the sale used, each up to what it paid less earlier refunds."""
    done = refunded_by_method(sale)
    rows, left = [], amount
    # Electronic first, cash last; points are given back as points by the caller.
    paid = sorted((p for p in sale.payments if p.method != "points"), key=lambda p: p.method == "cash")
    for p in paid:
        room = p.amount_paisa - done.get(p.method, 0)
        take = min(room, left)
        if take > 0:
            rows.append({"method": p.method, "amount_paisa": take, "tendered_paisa": take, "reference": ""})
            done[p.method] = done.get(p.method, 0) + take
            left -= take
    if left:
        # Rounding can leave a paisa or two; cash is the tender that can always give them.
        rows.append({"method": "cash", "amount_paisa": left, "tendered_paisa": left, "reference": ""})
    return rows


def _check_refund_tenders(sale: PosOrder, tenders: list[Tender], amount: int, allow_exchange: bool) -> list[dict]:
    paid: dict[str, int] = defaultdict(int)
    for p in sale.payments:
        paid[p.method] += p.amount_paisa
    done = refunded_by_method(sale)
    rows = []
    for t in tenders:
        try:
            value = to_paisa(t.amount)
        except MoneyError as exc:
            raise InvalidInput(str(exc)) from None
        if value <= 0:
            raise InvalidInput("a refund amount must be more than zero")
        if t.method == "points":
            raise InvalidInput("points are given back as points, in proportion; choose another tender for the rest")
        if t.method == "exchange" and not allow_exchange:
            raise InvalidInput("exchange credit is only for exchanges")
        if t.method not in ("store_credit", "cash", "exchange"):
            room = paid.get(t.method, 0) - done.get(t.method, 0)
            if value > room:
                raise InvalidInput(f"the sale took Rs {Decimal(max(room, 0)) / 100:,.2f} by {t.method} that can "
                                   f"still be refunded; refund the rest in cash or store credit")
        rows.append({"method": t.method, "amount_paisa": value, "tendered_paisa": value, "reference": t.reference})
    given = sum(r["amount_paisa"] for r in rows)
    if given != amount:
        raise InvalidInput(f"refund tenders add up to Rs {Decimal(given) / 100:,.2f} but Rs "
                           f"{Decimal(amount) / 100:,.2f} is due back")
    return rows
