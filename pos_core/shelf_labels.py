"""What to put on price tags: one label per unit received, per unit transferred in, per price
change, or for a list someone picked. Plain data; printers.labels turns it into TSPL, ZPL, ESC/POS
or an A4 sheet.

An item with no barcode yet is given one first (barcodes.assign_missing), so a tag never goes on
the shelf without a code the till can scan.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import barcodes
from .config import BarcodeRules
from .errors import InvalidInput, NotFound
from .models import Barcode, GoodsReceipt, GoodsReceiptLine, Transfer, TransferLine, Variant

MAX_COPIES = 500  # per item on one print: a typo of 5000 would empty the label roll


@dataclass(frozen=True)
class LabelItem:
    variant_id: int
    name: str                       # product name, without the options
    option: str                     # "Red / M"
    price_paisa: int
    code: str                       # what the barcode holds
    symbology: str                  # EAN13 or CODE128
    copies: int = 1
    sale_price_paisa: int | None = None  # printed big, with the normal price struck through
    sku: str = ""
    urdu_name: str = ""             # Variant.urdu_name, for the PDF sheet


def _symbology(code: str) -> str:
    return "EAN13" if barcodes.is_valid_ean13(code) else "CODE128"


def _code_for(v: Variant) -> str | None:
    codes = [b.code for b in Barcode.select().where(Barcode.variant == v.id).order_by(Barcode.id)]
    valid = [c for c in codes if barcodes.is_valid_ean13(c)]  # an EAN scans fastest; prefer it
    return (valid or codes or [None])[0]


def _product_name(v: Variant) -> str:
    if v.option_text and v.name.endswith(" - " + v.option_text):
        return v.name[: -len(v.option_text) - 3]
    return v.name


def may_assign(cfg) -> bool:
    """A chain's branch does not make barcodes: the catalog (and its codes) comes from the head
    office, and a code made here would clash with one made there."""
    return getattr(getattr(cfg, "hq", None), "role", "off") != "branch"


def for_variants(picked: list[tuple[int, int]], rules: BarcodeRules | None = None,
                 sale_prices: dict[int, int] | None = None, assign: bool = True) -> list[LabelItem]:
    """[(variant id, copies)] -> labels, in the order given; items without a code get one
    (with assign=False, as at a chain's branch, they are refused instead)."""
    rules = rules or BarcodeRules()
    sale_prices = sale_prices or {}
    for vid, copies in picked:
        if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
            raise InvalidInput(f"copies must be 1 to {MAX_COPIES}, not {copies!r}")
    ids = [vid for vid, _ in picked]
    variants = {v.id: v for v in Variant.select().where(Variant.id.in_(ids))}
    missing = [i for i in ids if i not in variants]
    if missing:
        raise NotFound(f"no item with id {missing[0]}")
    bare = barcodes.variants_without_barcode(ids)
    if bare and not assign:
        raise InvalidInput(f"{bare[0].sku} has no barcode yet: the head office gives it one "
                           "(pos-admin barcodes there), and it comes here with the catalog")
    if bare:
        barcodes.assign_missing(rules, variant_ids=ids)
    out = []
    for vid, copies in picked:
        v = variants[vid]
        code = _code_for(v)
        if code is None:  # code128 could not use the SKU (someone else's code): say so, print nothing
            raise InvalidInput(f"{v.sku}: no barcode could be given to this item; set one by hand")
        sale = sale_prices.get(vid)
        if sale is not None and not 0 < sale < v.price_paisa:
            raise InvalidInput(f"{v.sku}: a sale price must be below the price")
        out.append(LabelItem(v.id, _product_name(v), v.option_text, v.price_paisa, code, _symbology(code),
                             copies, sale, v.sku, v.urdu_name or ""))
    return out


def for_goods_receipt(number: str, rules: BarcodeRules | None = None, assign: bool = True) -> list[LabelItem]:
    """One label per unit received on a goods receipt (GRN number)."""
    grn = GoodsReceipt.get_or_none(GoodsReceipt.number == number)
    if grn is None:
        raise NotFound(f"no goods receipt {number}")
    rows = list(GoodsReceiptLine.select().where(GoodsReceiptLine.receipt == grn.id).order_by(GoodsReceiptLine.line_no))
    return for_variants(_merge((r.variant_id, r.qty) for r in rows), rules, assign=assign)


def for_transfer_received(number: str, rules: BarcodeRules | None = None, assign: bool = True) -> list[LabelItem]:
    """One label per unit that actually arrived on a received transfer."""
    t = Transfer.get_or_none(Transfer.number == number)
    if t is None:
        raise NotFound(f"no transfer {number}")
    if t.status not in ("RECEIVED", "DISCREPANCY"):
        raise InvalidInput(f"transfer {number} is {t.status.lower()}; labels are printed when it is received")
    rows = TransferLine.select().where(TransferLine.transfer == t.id).order_by(TransferLine.line_no)
    return for_variants(_merge((r.variant_id, r.qty_received or 0) for r in rows), rules, assign=assign)


def for_price_change(variant_ids: list[int], rules: BarcodeRules | None = None,
                     copies: dict[int, int] | None = None, assign: bool = True) -> list[LabelItem]:
    """New tags for items whose price changed (one each, or as many as are on the shelf)."""
    copies = copies or {}
    return for_variants([(vid, copies.get(vid, 1)) for vid in dict.fromkeys(variant_ids)], rules, assign=assign)


def price_changes(days: int = 7) -> list[int]:
    """Variants whose price changed (catalog import, `price_change` audit events) in the last
    `days` days and that are still sold, most recent first, each once."""
    import datetime as dt
    from .models import AuditEvent, utcnow
    if not 1 <= days <= 365:
        raise InvalidInput("days must be 1 to 365")
    since = utcnow() - dt.timedelta(days=days)
    events = (AuditEvent.select().where((AuditEvent.action == "price_change") & (AuditEvent.created_at >= since))
              .order_by(AuditEvent.id.desc()))
    ids = list(dict.fromkeys(e.detail["variant_id"] for e in events if e.detail and "variant_id" in e.detail))
    live = {v.id for v in Variant.select(Variant.id).where(Variant.id.in_(ids) & (Variant.active == True))}  # noqa: E712
    return [i for i in ids if i in live]


def _merge(rows) -> list[tuple[int, int]]:
    merged: dict[int, int] = {}
    for vid, qty in rows:
        if qty > 0:
            merged[vid] = merged.get(vid, 0) + qty
    return [(vid, min(q, MAX_COPIES)) for vid, q in merged.items()]

