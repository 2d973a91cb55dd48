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

from . import db, outbox
from .errors import InvalidInput
from .models import Coupon, CouponUse, PosOrder, Promotion, utcnow

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,63}$")
WRITEBACK_KIND = "discount_deactivate"
SHOPIFY_GID = "gid://shopify/"


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


def queue_writeback(coupon_id: int, order: PosOrder) -> bool:
    """After a use is counted, in the same transaction (the sale's at the till; the applier's at
    the head office, which counts every branch's uses): a Shopify code this use has used up
    (single use, or the last of its usage limit) gets a job that ends it in Shopify, so it no longer
    works online. Per-customer limits and unlimited codes are only counted here."""
    c = Coupon.get_by_id(coupon_id)
    promo_uid = Promotion.select(Promotion.uid).where(Promotion.id == c.promotion_id).scalar() or ""
    if c.max_uses is None or c.uses != c.max_uses or not promo_uid.startswith(SHOPIFY_GID):
        return False
    outbox.enqueue(outbox.SHOPIFY, WRITEBACK_KIND, {"discountId": promo_uid, "code": c.code, "uses": c.uses,
                                                    "usageLimit": c.max_uses, "orderNumber": order.number},
                   "pos_order", order.uid)
    return True


# --- Shopify's discount codes (read by the agent) ------------------------------------------------

def _shopify_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc).replace(tzinfo=None)


def import_shopify(nodes: list[dict]) -> dict:
    """The shop's code discounts off the whole order as coupon-only promotions and their codes, so
    a code printed on a parcel works at the till. Other kinds (buy X get Y, free shipping, codes for
    chosen products) are skipped and counted. A promotion is keyed by the discount's gid (its uid);
    a code's use count is the larger of ours and Shopify's, so a code used up online stays used."""
    from decimal import Decimal

    from .money import to_paisa
    stats = {"discounts": 0, "codes": 0, "skipped": 0}
    with db.write():
        for node in nodes:
            d = node.get("discount") or {}
            gets = d.get("customerGets") or {}
            value = gets.get("value") or {}
            if (d.get("__typename") != "DiscountCodeBasic" or (gets.get("items") or {}).get("__typename") != "AllDiscountItems"
                    or value.get("__typename") not in ("DiscountPercentage", "DiscountAmount")):
                stats["skipped"] += 1
                continue
            if value["__typename"] == "DiscountPercentage":
                kind, amount = "bill_percent", int(Decimal(str(value["percentage"])) * 10000)
            else:
                kind = "item_amount" if value.get("appliesOnEachItem") else "bill_amount"
                amount = to_paisa(str(value["amount"]["amount"]))
            minimum = d.get("minimumRequirement") or {}
            min_paisa = (to_paisa(str(minimum["greaterThanOrEqualToSubtotal"]["amount"]))
                         if minimum.get("__typename") == "DiscountMinimumSubtotal" else 0)
            fields = dict(name=d["title"][:200], kind=kind, value=amount, coupon_only=True,
                          active=d.get("status") != "EXPIRED", starts_at=_shopify_time(d.get("startsAt")),
                          ends_at=_shopify_time(d.get("endsAt")), updated_at=utcnow())
            promo = Promotion.get_or_none(Promotion.uid == node["id"])
            if promo is None:
                promo = Promotion.create(uid=node["id"], **fields)
            else:
                Promotion.update(**fields).where(Promotion.id == promo.id).execute()
            stats["discounts"] += 1
            for c in (d.get("codes") or {}).get("nodes", []):
                try:
                    code = normalise(c["code"])
                except InvalidInput:
                    stats["skipped"] += 1
                    continue
                row = Coupon.get_or_none(Coupon.code == code)
                values = dict(promotion=promo.id, max_uses=d.get("usageLimit"), min_spend_paisa=min_paisa,
                              per_customer_limit=1 if d.get("appliesOncePerCustomer") else None,
                              expires_at=fields["ends_at"], active=fields["active"])
                if row is None:
                    Coupon.create(code=code, uses=int(c.get("asyncUsageCount") or 0), **values)
                else:
                    Coupon.update(uses=max(row.uses, int(c.get("asyncUsageCount") or 0)), **values).where(
                        Coupon.id == row.id).execute()
                stats["codes"] += 1
    return stats
