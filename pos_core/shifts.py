"""Shifts and the cash drawer.

`expected_cash` is the one formula for what the drawer should hold:
opening float + cash taken - change given + cash in - cash out - cash refunds.
"""
from __future__ import annotations

from dataclasses import dataclass

from peewee import fn

from . import audit, db, staff as staffmod
from .errors import InvalidInput, NotFound, PermissionDenied, StateError
from .models import CashMovement, PosOrder, Payment, Shift, utcnow
from .money import MoneyError, to_paisa

DENOMINATIONS = (5000, 1000, 500, 100, 50, 20, 10)  # rupee notes; coins are counted as an amount


@dataclass(frozen=True)
class CashSummary:
    opening_float: int
    cash_sales: int      # cash applied to sales (tendered less change)
    cash_refunds: int
    cash_in: int
    cash_out: int
    sales_count: int
    refunds_count: int
    sales_total: int
    refunds_total: int
    by_method: dict

    @property
    def expected(self) -> int:
        return self.opening_float + self.cash_sales + self.cash_in - self.cash_out - self.cash_refunds


def current(counter_id: int) -> Shift | None:
    return (Shift.select().where((Shift.counter == counter_id) & (Shift.status == "OPEN"))
            .order_by(Shift.id.desc()).first())


def open_shift(counter_id: int, staff_id: int, opening_float) -> Shift:
    person = staffmod.get(staff_id)
    amount = _amount(opening_float, "opening float")
    with db.write():
        if current(counter_id):
            raise StateError("a shift is already open at this counter; close it first")
        shift = Shift.create(counter=counter_id, staff=person, opening_float_paisa=amount)
        audit.log("shift.open", person.id, shift.uid, float_paisa=amount)
    return shift


def cash_movement(shift_id: int, staff_id: int, kind: str, amount, reason: str,
                  approver_id: int | None = None) -> CashMovement:
    if kind not in ("in", "out"):
        raise InvalidInput("cash movement is 'in' or 'out'")
    if not reason.strip():
        raise InvalidInput("say why cash goes in or out")
    person = staffmod.get(staff_id)
    if kind == "out" and not staffmod.may(person, "cash_out"):
        if approver_id is None:
            raise PermissionDenied("taking cash out needs a supervisor")
        staffmod.require(staffmod.get(approver_id), "cash_out")
    value = _amount(amount, "amount")
    if value <= 0:
        raise InvalidInput("amount must be more than zero")
    with db.write():
        shift = _open(shift_id)
        if kind == "out" and value > summary(shift).expected:
            raise InvalidInput("the drawer does not hold that much cash")
        m = CashMovement.create(shift=shift, kind=kind, amount_paisa=value, reason=reason.strip(), staff=person)
        audit.log(f"cash.{kind}", person.id, shift.uid, approver_id, amount_paisa=value, reason=reason)
    return m


def summary(shift: Shift) -> CashSummary:
    """The X report's figures; also what closing compares the count with."""
    pays = (Payment.select(PosOrder.kind, Payment.method, fn.SUM(Payment.amount_paisa))
            .join(PosOrder).where(PosOrder.shift == shift.id).group_by(PosOrder.kind, Payment.method).tuples())
    by_method: dict = {}
    cash_sales = cash_refunds = 0
    for kind, method, total in pays:
        by_method.setdefault(kind, {})[method] = int(total)
        if method == "cash":
            if kind == "sale":
                cash_sales += int(total)
            elif kind == "refund":
                cash_refunds += int(total)
    docs = dict((k, (n, t)) for k, n, t in
                PosOrder.select(PosOrder.kind, fn.COUNT(PosOrder.id), fn.SUM(PosOrder.total_paisa + PosOrder.service_fee_paisa))
                .where(PosOrder.shift == shift.id).group_by(PosOrder.kind).tuples())
    moves = dict(CashMovement.select(CashMovement.kind, fn.SUM(CashMovement.amount_paisa))
                 .where(CashMovement.shift == shift.id).group_by(CashMovement.kind).tuples())
    return CashSummary(
        opening_float=shift.opening_float_paisa, cash_sales=cash_sales, cash_refunds=cash_refunds,
        cash_in=int(moves.get("in", 0) or 0), cash_out=int(moves.get("out", 0) or 0),
        sales_count=docs.get("sale", (0, 0))[0], refunds_count=docs.get("refund", (0, 0))[0],
        sales_total=int(docs.get("sale", (0, 0))[1] or 0), refunds_total=int(docs.get("refund", (0, 0))[1] or 0),
        by_method=by_method)


def count_total(notes: dict[int, int], coins) -> int:
    """Rupee notes by denomination plus coins (an amount) to paisa."""
    total = 0
    for denom, n in notes.items():
        if denom not in DENOMINATIONS:
            raise InvalidInput(f"Rs {denom} is not a note")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0 or n > 100_000:
            raise InvalidInput(f"count of Rs {denom} notes must be a whole number from 0")
        total += denom * n * 100
    return total + _amount(coins or 0, "coins")


def close_shift(shift_id: int, staff_id: int, notes: dict[int, int], coins=0) -> Shift:
    person = staffmod.get(staff_id)
    counted = count_total(notes, coins)
    with db.write():
        shift = _open(shift_id)
        expected = summary(shift).expected
        shift.status, shift.closed_at, shift.closed_by = "CLOSED", utcnow(), person
        shift.expected_paisa, shift.counted_paisa = expected, counted
        shift.counted_detail = {"notes": {str(k): v for k, v in notes.items()}, "coins_paisa": counted - sum(
            d * n * 100 for d, n in notes.items())}
        shift.save()
        audit.log("shift.close", person.id, shift.uid, expected_paisa=expected, counted_paisa=counted,
                  variance_paisa=counted - expected)
    return shift


def variance(shift: Shift) -> int | None:
    if shift.counted_paisa is None:
        return None
    return shift.counted_paisa - shift.expected_paisa


def _open(shift_id: int) -> Shift:
    shift = Shift.get_or_none(Shift.id == shift_id)
    if shift is None:
        raise NotFound(f"no shift {shift_id}")
    if shift.status != "OPEN":
        raise StateError("this shift is already closed")
    return shift


def _amount(value, what: str) -> int:
    try:
        paisa = to_paisa(value)
    except MoneyError as exc:
        raise InvalidInput(f"{what}: {exc}") from None
    if paisa < 0:
        raise InvalidInput(f"{what} cannot be negative")
    return paisa
