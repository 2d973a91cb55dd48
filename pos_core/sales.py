"""Drafts and sales at the counter.

`complete_sale` is the one place a sale is made: in a single transaction it takes the next
number, writes the order, its lines and payments, deducts the stock at the branch and queues the
Shopify and FBR work. Either all of that commits or none of it does.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from . import (audit, commission, coupons, customers, db, fbr_invoice, ledger, loyalty, numbering, outbox,
               promotions, staff as staffmod)
from .errors import InvalidInput, NotFound, PermissionDenied, StateError
from .ledger import Movement
from .models import (Branch, Counter, Customer, OrderPromotion, Payment, PosOrder, PosOrderLine, Product, Shift, Staff,
                     Variant, new_uid, utcnow)
from .money import MoneyError, to_paisa
from .policy import SalePolicy
from .pricing import Discount, PriceInput, PricingError, Totals, check_qty, price_lines

TENDERS = ("cash", "card", "wallet", "bank", "store_credit", "points")
TENDER_LABELS = {"cash": "Cash", "card": "Card", "wallet": "Mobile wallet", "bank": "Bank transfer",
                 "store_credit": "Store credit", "exchange": "Exchange credit", "points": "Loyalty points"}


@dataclass(frozen=True)
class SaleLine:
    variant_id: int
    qty: int
    unit_price: Decimal | None = None   # an override of the catalog price
    discount: Discount | None = None
    # A price- or quantity-embedded code (fabric by the metre): the code, read again here, sets
    # the price, so it is no override. Such a line is always one unit.
    scanned_code: str | None = None
    salesperson_id: int | None = None   # who helped the customer with this line (commission)


@dataclass(frozen=True)
class Tender:
    method: str
    amount: Decimal
    reference: str = ""


@dataclass(frozen=True)
class Buyer:
    name: str = ""
    cnic: str = ""
    ntn: str = ""
    phone: str = ""

    def as_json(self) -> dict | None:
        data = {k: v for k, v in vars(self).items() if v}
        return data or None


FBR_BUYER_REQUIRED_ABOVE_PAISA = 100_000 * 100


# --- drafts -------------------------------------------------------------------------------

def save_draft(counter_id: int, staff_id: int, lines: list[SaleLine], *, customer_id: int | None = None,
               order_discount: Discount | None = None, note: str = "",
               draft_uid: str | None = None, prices_include_tax: bool = True, coupon_code: str = "") -> PosOrder:
    """Create a draft, or replace the contents of an existing one. Moves no stock, queues nothing."""
    counter = _counter(counter_id)
    cashier = staffmod.get(staff_id)
    variants = _variants(lines)
    with db.write():
        if draft_uid:
            order = _draft(draft_uid)
            PosOrderLine.delete().where(PosOrderLine.order == order.id).execute()
        else:
            order = PosOrder(kind="draft", status="DRAFT", counter=counter, branch=counter.branch_id,
                             cashier=cashier)
        order.customer = customer_id
        order.order_discount = order_discount.as_json() if order_discount else None
        order.note = note
        order.draft_coupon = coupon_code   # checked again when the draft is recalled and paid
        order.prices_include_tax = prices_include_tax
        priced, totals = _price(lines, variants, order_discount, prices_include_tax) if lines else ([], None)
        _set_totals(order, totals or Totals(0, 0, 0, 0))
        order.save()
        _write_lines(order, lines, variants, priced)
    return order


def delete_draft(draft_uid: str) -> None:
    with db.write():
        order = _draft(draft_uid)
        order.delete_instance(recursive=True)


def list_drafts(counter_id: int) -> list[PosOrder]:
    return list(PosOrder.select().where((PosOrder.kind == "draft") & (PosOrder.counter == counter_id))
                .order_by(PosOrder.created_at.desc()))


def draft_lines(draft_uid: str) -> tuple[PosOrder, list[SaleLine]]:
    order = _draft(draft_uid)
    lines = [SaleLine(l.variant_id, l.qty,
                      Decimal(l.unit_price_paisa) / 100 if l.price_overridden else None,
                      Discount.from_json(l.line_discount), l.scanned_code, l.salesperson_id)
             for l in order.lines.order_by(PosOrderLine.line_no)]
    return order, lines


# --- completing a sale ----------------------------------------------------------------------

def complete_sale(policy: SalePolicy, *, counter_id: int, shift_id: int, staff_id: int,
                  lines: list[SaleLine], tenders: list[Tender], order_discount: Discount | None = None,
                  customer_id: int | None = None, buyer: Buyer | None = None,
                  approver_id: int | None = None, draft_uid: str | None = None,
                  coupon_code: str | None = None, salesperson_id: int | None = None) -> PosOrder:
    """`salesperson_id` attributes every line without one of its own; `coupon_code` switches on
    the coupon's promotion (and uses the coupon up) in this sale's transaction."""
    counter = _counter(counter_id)
    cashier = staffmod.get(staff_id)
    staffmod.require(cashier, "sell")
    if not staffmod.works_at(cashier, counter.branch.code):
        raise PermissionDenied(f"{cashier.name} does not work at branch {counter.branch.code}")
    if not lines:
        raise InvalidInput("the cart is empty")
    variants = _variants(lines)
    categories = _categories(variants)
    started = utcnow()
    prices = _unit_prices(lines, variants, policy.barcode_rules)
    coupon = (coupons.check(coupon_code, customer_id, _gross(lines, prices), started) if coupon_code else None)
    outcome = promotion_outcome(lines, variants, categories, counter.branch.code, started,
                                [coupon.promotion] if coupon else None, prices)
    priced, totals = _price(lines, variants, order_discount, policy.prices_include_tax, policy.barcode_rules,
                            outcome)
    people = _salespeople(lines, salesperson_id)
    approver = _check_discretion(policy, cashier, approver_id, lines, variants, priced, order_discount)
    fee = policy.service_fee_paisa
    due = totals.total_paisa + fee
    customer = Customer.get_or_none(Customer.id == customer_id) if customer_id else None
    if customer_id and customer is None:
        raise NotFound(f"no customer with id {customer_id}")
    payments, change = settle(tenders, due, customer)
    if policy.fbr_enabled and due > FBR_BUYER_REQUIRED_ABOVE_PAISA and not (buyer and (buyer.cnic or buyer.ntn)):
        raise InvalidInput("FBR requires the buyer's CNIC or NTN on a sale above Rs 100,000")
    _check_buyer(buyer)

    with db.write():
        shift = _open_shift(shift_id, counter)
        now = utcnow()
        if draft_uid:
            order = _draft(draft_uid)
            PosOrderLine.delete().where(PosOrderLine.order == order.id).execute()
        else:
            order = PosOrder(counter=counter, branch=counter.branch_id, cashier=cashier)
        order.kind, order.status = "sale", "COMPLETED"
        order.number = numbering.next_number(counter, numbering.SALES)
        order.shift, order.customer = shift, customer
        order.prices_include_tax = policy.prices_include_tax
        order.order_discount = order_discount.as_json() if order_discount else None
        _set_totals(order, totals)
        order.service_fee_paisa = fee
        order.paid_paisa = sum(p["amount_paisa"] for p in payments)
        order.change_paisa = change
        order.buyer = buyer.as_json() if buyer else None
        order.completed_at = now
        order.save()
        line_rows = _write_lines(order, lines, variants, priced, policy.barcode_rules)
        _write_payments(order, payments, now)
        _spend_credit(order, payments, cashier)
        if coupon:
            coupons.redeem(coupon, order, customer_id, _gross(lines, prices), now)
            if policy.shopify_enabled:
                coupons.queue_writeback(coupon.id, order)
        _write_promotions(order, outcome)
        points_paisa = sum(p["amount_paisa"] for p in payments if p["method"] == "points")
        points = 0
        if points_paisa:
            points = _lock_points(customer, points_paisa, now)
        loyalty.on_sale(order, line_rows, categories, points, points_paisa, cashier.id, now)
        commission.on_sale(order, line_rows, people, categories, now)

        applied = ledger.record_many([Movement(f"sale:{order.uid}:{row.line_no}", row.variant_id, counter.branch_id,
                                               -row.qty, "sale", "pos_order", order.number, cashier.id)
                                      for row in line_rows])
        deltas: dict[tuple[int, int], int] = defaultdict(int)
        for m in applied:
            deltas[(m.variant_id, m.branch_id)] += m.delta
        queue_jobs(policy, order, line_rows, [p["method"] for p in payments], deltas, "correction",
                   variants=variants)
        if approver:
            audit.log("sale.discount_approved", cashier.id, order.number, approver.id,
                      cashier=cashier.name, approver=approver.name)
    return order


def queue_jobs(policy: SalePolicy, order: PosOrder, line_rows: list[PosOrderLine], methods: list[str],
               deltas: dict[tuple[int, int], int], reason: str, ref_usin: str | None = None,
               depends_on: str | None = None, variants: dict[int, Variant] | None = None) -> None:
    """Shopify stock deltas and the FBR invoice for a completed document, in its transaction and
    in one INSERT."""
    doc_kind = "Sale" if order.kind == "sale" else "Return"
    rows = outbox.inventory_jobs(deltas, reason, f"gid://pk-pos/{doc_kind}/{order.number}", "pos_order",
                                 order.uid, policy.shopify_enabled, variants, {order.branch_id: order.counter.branch})
    if policy.fbr_enabled:
        posid = order.counter.fbr_posid or policy.fbr_posid
        rows.append({"channel": outbox.FBR, "kind": "credit_note" if order.kind == "refund" else "invoice",
                     "payload": fbr_invoice.build(order, line_rows, methods, posid, ref_usin),
                     "doc_type": "pos_order", "doc_ref": order.uid, "depends_on": depends_on})
    outbox.enqueue_many(rows)


def settle(tenders: list[Tender], due: int, customer: Customer | None) -> tuple[list[dict], int]:
    """Check the tenders cover `due` and work out change; only cash gives change."""
    if not tenders and due > 0:
        raise InvalidInput("no payment was entered")
    rows, cash_tendered, other = [], 0, 0
    for t in tenders:
        if t.method not in TENDERS and t.method != "exchange":
            raise InvalidInput(f"unknown tender {t.method!r}")
        try:
            amount = to_paisa(t.amount)
        except MoneyError as exc:
            raise InvalidInput(f"{TENDER_LABELS.get(t.method, t.method)}: {exc}") from None
        if amount <= 0:
            raise InvalidInput(f"{TENDER_LABELS[t.method]} amount must be more than zero")
        if t.method == "cash":
            cash_tendered += amount
        else:
            other += amount
        rows.append({"method": t.method, "amount_paisa": amount, "tendered_paisa": amount,
                     "reference": t.reference})
    if other > due:
        raise InvalidInput("card, wallet, bank and credit payments cannot be more than the amount due")
    tendered = cash_tendered + other
    if tendered < due:
        raise InvalidInput(f"payment is short by Rs {Decimal(due - tendered) / 100:,.2f}")
    change = tendered - due
    cash_left = change
    for row in rows:  # the change comes out of the cash tendered
        if row["method"] == "cash" and cash_left:
            take = min(cash_left, row["amount_paisa"])
            row["amount_paisa"] -= take
            cash_left -= take
    points_paisa = sum(r["amount_paisa"] for r in rows if r["method"] == "points")
    if points_paisa:
        points = loyalty.check_redeem(customer, points_paisa)
        for r in rows:
            if r["method"] == "points":
                r["reference"] = f"{points} points"
    credit = sum(r["amount_paisa"] for r in rows if r["method"] == "store_credit")
    if credit:
        if customer is None:
            raise InvalidInput("store credit needs a customer on the sale")
        if credit > customer.store_credit_paisa:
            raise InvalidInput(f"{customer.name or customer.phone} has only Rs "
                               f"{Decimal(customer.store_credit_paisa) / 100:,.2f} store credit")
    return rows, change


# --- helpers shared with refunds ------------------------------------------------------------

def _counter(counter_id: int) -> Counter:
    counter = Counter.select(Counter, Branch).join(Branch).where(Counter.id == counter_id).first()
    if counter is None:
        raise NotFound(f"no counter with id {counter_id}")
    return counter


def _draft(uid: str) -> PosOrder:
    order = PosOrder.get_or_none((PosOrder.uid == uid) & (PosOrder.kind == "draft"))
    if order is None:
        raise NotFound(f"no draft {uid}")
    return order


def _open_shift(shift_id: int, counter: Counter) -> Shift:
    shift = Shift.get_or_none(Shift.id == shift_id)
    if shift is None or shift.counter_id != counter.id:
        raise StateError(f"no shift {shift_id} at counter {counter.label}; open a shift first")
    if shift.status != "OPEN":
        raise StateError("this shift is closed; open a new shift to sell")
    return shift


def _variants(lines: list[SaleLine]) -> dict[int, Variant]:
    ids = {l.variant_id for l in lines}
    # With the product's category in the same query: promotions, points and commission go by it.
    found = {v.id: v for v in Variant.select(Variant, Product.id, Product.category).join(Product)
             .where(Variant.id.in_(list(ids)))}
    for l in lines:
        if l.variant_id not in found:
            raise NotFound(f"no item with id {l.variant_id}")
        if not found[l.variant_id].active:
            raise InvalidInput(f"{found[l.variant_id].name} is no longer sold")
    return found


def _categories(variants: dict[int, Variant]) -> dict[int, str]:
    """variant id -> its product's category (promotions, points and commission go by it)."""
    return {vid: v.product.category for vid, v in variants.items()}


def _gross(lines, prices: list[int]) -> int:
    return sum(l.qty * p for l, p in zip(lines, prices))


def promotion_outcome(lines, variants, categories, branch_code: str, now, extra=None,
                      prices: list[int] | None = None) -> promotions.Outcome:
    """The promotions running at this branch now, applied to these lines (at `prices`, the unit
    prices the sale charges: catalog, override or a measured label's)."""
    rules = promotions.active_rules(branch_code, now, extra)
    if not rules:
        return promotions.Outcome([0] * len(lines))
    prices = prices if prices is not None else _unit_prices(lines, variants)
    items = [promotions.Item(variants[l.variant_id].sku, categories.get(l.variant_id, ""), l.qty, price, l.discount)
             for l, price in zip(lines, prices)]
    return promotions.evaluate(rules, items)


def _salespeople(lines, default_id) -> dict[int, int]:
    people = {i: (l.salesperson_id or default_id) for i, l in enumerate(lines, start=1)}
    people = {k: v for k, v in people.items() if v}
    for sid in set(people.values()):
        person = Staff.get_or_none(Staff.id == sid)
        if person is None or not person.active:
            raise InvalidInput(f"no active salesperson with id {sid}")
    return people


def _write_promotions(order: PosOrder, outcome) -> None:
    if outcome is None or not outcome.applied:
        return
    OrderPromotion.insert_many([dict(uid=new_uid(), order=order.id, line_no=None if a.line is None else a.line + 1,
                                     promotion=a.promotion_id, name=a.name, amount_paisa=a.amount_paisa)
                                for a in outcome.applied]).execute()


def _lock_points(customer: Customer, points_paisa: int, now) -> int:
    """Inside the sale's transaction: expire what is due, then check the balance again under a lock,
    so two tills cannot spend the same points."""
    from .models import PointsBalance
    loyalty._expire_customer(customer.id, now)
    q = PointsBalance.select().where(PointsBalance.customer == customer.id)
    if db.is_postgres():
        q = q.for_update()
    row = q.first()
    points = loyalty.points_of_tender(points_paisa)
    have = row.points if row else 0
    if points > have:
        raise InvalidInput(f"{customer.name or customer.phone} has {have} points now, not {points}")
    return points


def _measured_price(l: SaleLine, v: Variant, rules) -> int:
    from . import barcodes
    from .config import BarcodeRules
    m = barcodes.measured_line(l.scanned_code, rules or BarcodeRules())
    if m.variant.id != v.id:
        raise InvalidInput(f"{l.scanned_code}: this label is for {m.variant.name}, not {v.name}")
    if l.qty != 1 or l.unit_price is not None:
        raise InvalidInput(f"{v.name}: a weighed or measured label sells as one line of 1 at its own price")
    return m.price_paisa


def _unit_prices(lines, variants, barcode_rules=None) -> list[int]:
    """Each line's unit price: a measured label's, an override, or the catalog's."""
    prices = []
    for l in lines:
        try:
            check_qty(l.qty)
            v = variants[l.variant_id]
            if l.scanned_code:
                price = _measured_price(l, v, barcode_rules)
            else:
                price = v.price_paisa if l.unit_price is None else to_paisa(l.unit_price)
        except (PricingError, MoneyError) as exc:
            raise InvalidInput(f"{variants[l.variant_id].name}: {exc}") from None
        if price < 0:
            raise InvalidInput(f"{v.name}: a price cannot be negative")
        prices.append(price)
    return prices


def _price(lines, variants, order_discount, prices_include_tax, barcode_rules=None, outcome=None):
    inputs = []
    for i, (l, price) in enumerate(zip(lines, _unit_prices(lines, variants, barcode_rules))):
        v = variants[l.variant_id]
        inputs.append(PriceInput(l.qty, price, v.tax_rate_bp, l.discount,
                                 True if v.third_schedule else None,
                                 outcome.line_promo[i] if outcome else 0))
    try:
        return price_lines(inputs, order_discount, prices_include_tax, outcome.order_promo if outcome else 0)
    except (PricingError, MoneyError) as exc:
        raise InvalidInput(str(exc)) from None


def _set_totals(order: PosOrder, totals) -> None:
    order.subtotal_paisa = totals.subtotal_paisa
    order.discount_paisa = totals.discount_paisa
    order.tax_paisa = totals.tax_paisa
    order.total_paisa = totals.total_paisa


def _write_lines(order, lines, variants, priced, barcode_rules=None) -> list[PosOrderLine]:
    rows = []
    for i, (l, p) in enumerate(zip(lines, priced), start=1):
        v = variants[l.variant_id]
        name = v.name
        if l.scanned_code:  # "Khaddar Plain 2.350 m": the customer sees what was measured
            from . import barcodes
            from .config import BarcodeRules
            name = barcodes.measured_line(l.scanned_code, barcode_rules or BarcodeRules()).description
        rows.append(PosOrderLine(
            order=order.id, line_no=i, variant=v.id, sku=v.sku, name=name, qty=p.qty,
            unit_price_paisa=p.unit_price_paisa, price_overridden=l.unit_price is not None,
            scanned_code=l.scanned_code, salesperson=l.salesperson_id,
            line_discount=l.discount.as_json() if l.discount else None,
            line_discount_paisa=p.line_discount_paisa, order_discount_paisa=p.order_discount_paisa,
            tax_rate_bp=p.tax_rate_bp, tax_paisa=p.tax_paisa, value_excl_paisa=p.value_excl_paisa,
            total_paisa=p.total_paisa, pct_code=v.pct_code, third_schedule=v.third_schedule))
    if rows:
        PosOrderLine.bulk_create(rows)
    return rows


def _write_payments(order: PosOrder, payments: list[dict], now) -> None:
    if payments:
        Payment.insert_many([dict(p, order=order.id, created_at=now) for p in payments]).execute()


def _spend_credit(order: PosOrder, payments: list[dict], cashier: Staff) -> None:
    credit = sum(p["amount_paisa"] for p in payments if p["method"] == "store_credit")
    if credit:
        customers.add_credit(order.customer_id, -credit, order.number, f"spend:{order.uid}", cashier.id)


def _check_buyer(buyer: Buyer | None) -> None:
    if not buyer:
        return
    if buyer.cnic and not (buyer.cnic.isdigit() and len(buyer.cnic) == 13):
        raise InvalidInput("a CNIC is 13 digits without dashes")
    if buyer.ntn and not (len(buyer.ntn) <= 9 and buyer.ntn.replace("-", "").isalnum()):
        raise InvalidInput("an NTN is 7 characters and a check digit, e.g. 1234567-8")


def _requested_percent(discount: Discount | None, base_paisa: int) -> Decimal:
    """The discount as the person asked for it: a percentage as typed, an amount over its base.
    (Comparing the rounded paisa would refuse a cashier's 10% on Rs 99.99 as 10.001%.)"""
    if discount is None or not base_paisa:
        return Decimal(0)
    if discount.kind == "percent":
        return Decimal(discount.value)
    return Decimal(to_paisa(discount.value)) * 100 / base_paisa


def _check_discretion(policy, cashier, approver_id, lines, variants, priced, order_discount):
    """Discounts and price overrides beyond the cashier's role need someone above to approve."""
    overrides = any(l.unit_price is not None and to_paisa(l.unit_price) != variants[l.variant_id].price_paisa
                    for l in lines)
    wanted = max([_requested_percent(l.discount, p.gross_paisa) for l, p in zip(lines, priced)], default=Decimal(0))
    base = sum(p.gross_paisa - p.line_discount_paisa - p.order_promo_paisa for p in priced)
    wanted = max(wanted, _requested_percent(order_discount, base))
    own_limit = staffmod.discount_limit(cashier, policy.discount_limits)
    needs_approval = wanted > own_limit or (overrides and not staffmod.may(cashier, "price_override"))
    if not needs_approval:
        return None
    if approver_id is None:
        what = "price override" if wanted <= own_limit else f"discount of {wanted:.1f}%"
        raise PermissionDenied(f"a {what} is beyond {cashier.name}'s limit; a supervisor or manager must approve")
    approver = staffmod.get(approver_id)
    if wanted > staffmod.discount_limit(approver, policy.discount_limits) or (
            overrides and not staffmod.may(approver, "price_override")):
        raise PermissionDenied(f"{approver.name} ({approver.role}) cannot approve this; ask a manager")
    return approver
