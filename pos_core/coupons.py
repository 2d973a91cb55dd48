"""Coupon codes: a code that switches on a coupon-only promotion for one sale.

Limits are kept where two tills cannot both pass them: the use is counted by a conditional UPDATE
of the coupon's row (`uses < max_uses`) inside the sale's transaction, which SQLite serialises by
BEGIN IMMEDIATE and PostgreSQL by the row lock, so a single-use code is used once however many
tills try at the same moment. The per-customer count is read after that UPDATE holds the row.
A refund does not give a use back: the code was spent on the sale that happened.
"""
from __future__ import annotations

import datetime as dt
import re

from peewee import fn

from . import db
from .errors import InvalidInput
from .models import Coupon, CouponUse, PosOrder, Promotion, utcnow

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,63}$")


def normalise(code: str) -> str:
    text = (code or "").strip().upper()
    if not CODE_RE.match(text):
        raise InvalidInput(f"{code!r} is not a coupon code (3-64 letters, digits, - or _)")
    return text


def create(code: str, promotion_id: int, *, max_uses: int | None = 1, per_customer_limit: int | None = None,
           min_spend_paisa: int = 0, expires_at: dt.datetime | None = None) -> Coupon:
    code = normalise(code)
    promo = Promotion.get_or_none(Promotion.id == promotion_id)
    if promo is None:
        raise InvalidInput(f"no promotion {promotion_id}")
    if max_uses is not None and max_uses <= 0:
        raise InvalidInput("max uses must be at least 1 (or unlimited)")
    if per_customer_limit is not None and per_customer_limit <= 0:
        raise InvalidInput("a per-customer limit must be at least 1")
    with db.write():
        if Coupon.get_or_none(Coupon.code == code):
            raise InvalidInput(f"coupon {code} already exists")
        return Coupon.create(code=code, promotion=promo, max_uses=max_uses, per_customer_limit=per_customer_limit,
                             min_spend_paisa=min_spend_paisa, expires_at=expires_at)


def check(code: str, customer_id: int | None, bill_paisa: int, now: dt.datetime | None = None) -> Coupon:
    """The coupon if it can be used on this bill now; one clear reason otherwise. No writes."""
    code = normalise(code)
    now = now or utcnow()
    c = Coupon.get_or_none(Coupon.code == code)
    if c is None or not c.active:
        raise InvalidInput(f"coupon {code} is not valid")
    if c.expires_at and now >= c.expires_at:
        raise InvalidInput(f"coupon {code} expired on {c.expires_at:%Y-%m-%d}")
    if c.max_uses is not None and c.uses >= c.max_uses:
        raise InvalidInput(f"coupon {code} has already been used" if c.max_uses == 1
                           else f"coupon {code} has been used its {c.max_uses} times")
    if bill_paisa < c.min_spend_paisa:
        raise InvalidInput(f"coupon {code} needs a bill of at least Rs {c.min_spend_paisa / 100:,.2f}")
    if c.per_customer_limit is not None:
        if customer_id is None:
            raise InvalidInput(f"coupon {code} is per customer: attach the customer first (F3)")
        used = _customer_uses(c, customer_id)
        if used >= c.per_customer_limit:
            raise InvalidInput(f"this customer has used coupon {code} {used} time(s) already")
    return c


def _customer_uses(c: Coupon, customer_id: int) -> int:
    return (CouponUse.select(fn.COUNT(CouponUse.id))
            .where((CouponUse.coupon == c.id) & (CouponUse.customer == customer_id)).scalar()) or 0


def redeem(c: Coupon, order: PosOrder, customer_id: int | None, bill_paisa: int, now: dt.datetime) -> None:
    """Count the use, in the sale's transaction. Raises (and so rolls the sale back) if the code
    was used up by another till since it was checked."""
    check(c.code, customer_id, bill_paisa, now)
    taken = (Coupon.update(uses=Coupon.uses + 1)
             .where((Coupon.id == c.id) & (Coupon.active == True)  # noqa: E712
                    & (Coupon.max_uses.is_null() | (Coupon.uses < Coupon.max_uses)))
             .execute())
    if not taken:
        raise InvalidInput(f"coupon {c.code} has just been used at another till")
    if c.per_customer_limit is not None and _customer_uses(c, customer_id) >= c.per_customer_limit:
        raise InvalidInput(f"this customer has just used coupon {c.code} at another till")
    CouponUse.insert(coupon=c.id, order=order.id, customer=customer_id, event_key=f"coupon:{order.uid}",
                     created_at=now).execute()
