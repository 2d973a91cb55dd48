"""Barcodes the shop makes itself: in-store EAN-13, CODE128 of the SKU, and price-embedded codes.

Goods from local suppliers (unstitched fabric, shoes by size) arrive without a barcode. Every
variant without one gets one, in one of two schemes chosen in `[barcodes] generate`:

* ``ean13``: an EAN-13 in GS1's restricted-circulation range (first digits 20-29, never issued to
  a brand), ``<prefix><10-digit serial><check digit>``. The serial is one more than the highest
  code already held with that prefix, and `Barcode.code` is UNIQUE, so two variants can never
  share one: a clash (another process assigned in between) fails the transaction instead of
  doubling a code. In a chain, run the assignment where the catalog is owned (the head office),
  and write the codes back to Shopify, so every branch and the web store scan the same code.
* ``code128``: the SKU itself as CODE128 (any printable ASCII). Skipped, with the reason, for a
  variant whose SKU is already another variant's barcode.

Price-embedded EAN-13 (the scale or the back room prints them for goods sold by the metre or kilo):
``<2-digit prefix><5-digit PLU><5-digit value><check>``. A prefix listed in `price_prefixes` carries
the line's price, one in `quantity_prefixes` the quantity in thousandths of the item's unit
(1.250 m -> 01250). The PLU is `Variant.plu`; `pricing.measured_price_paisa` computes the money.
Prefixes for generated and embedded codes must differ, or a generated code would be read as a
price (the config check refuses that).

Write-back: with `write_back = true` and Shopify on, each product whose variants got codes gets one
outbox job (`variant_barcodes`) that the agent sends as `productVariantsBulkUpdate`.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from peewee import IntegrityError, fn

from . import db, outbox
from .config import IN_STORE_PREFIXES, BarcodeRules
from .errors import InvalidInput, NotFound
from .models import Barcode, Product, Variant
from .pricing import measured_price_paisa

SERIAL_DIGITS = 10
PLU_DIGITS = 5
VALUE_DIGITS = 5


# --- EAN-13 -------------------------------------------------------------------------------

def check_digit(body: str) -> str:
    """GS1 check digit of the digits before it (weights 3,1,3,... from the right)."""
    if not body.isdigit():
        raise InvalidInput(f"{body!r}: a GTIN body is digits only")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def ean13(body12: str) -> str:
    if len(body12) != 12:
        raise InvalidInput(f"{body12!r}: an EAN-13 body has 12 digits")
    return body12 + check_digit(body12)


def is_valid_ean13(code: str) -> bool:
    return len(code) == 13 and code.isdigit() and check_digit(code[:12]) == code[12]


def in_store_code(prefix: str, serial: int) -> str:
    if prefix not in IN_STORE_PREFIXES:
        raise InvalidInput(f"{prefix}: in-store codes start with 20 to 29")
    if not 0 < serial < 10 ** SERIAL_DIGITS:
        raise InvalidInput(f"serial {serial} does not fit {SERIAL_DIGITS} digits")
    return ean13(f"{prefix}{serial:0{SERIAL_DIGITS}d}")


def _highest_serial(prefix: str) -> int:
    top = (Barcode.select(fn.MAX(Barcode.code))
           .where(Barcode.code.startswith(prefix) & (fn.LENGTH(Barcode.code) == 13)).scalar())
    return int(top[2:12]) if top and top.isdigit() else 0


# --- assigning ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Assigned:
    variant_id: int
    sku: str
    code: str


@dataclass
class AssignResult:
    assigned: list[Assigned]
    skipped: list[tuple[str, str]]  # (sku, why)
    jobs: int = 0


def variants_without_barcode(variant_ids: list[int] | None = None):
    has_code = Barcode.select(Barcode.variant)
    q = Variant.select().where(Variant.id.not_in(has_code) & (Variant.active == True))  # noqa: E712
    if variant_ids is not None:
        q = q.where(Variant.id.in_(variant_ids))
    return list(q.order_by(Variant.id))


def assign_missing(rules: BarcodeRules, *, variant_ids: list[int] | None = None,
                   shopify_enabled: bool = False) -> AssignResult:
    """Give every active variant without a barcode one, in one transaction."""
    if rules.problems():
        key, expected, found = rules.problems()[0]
        raise InvalidInput(f"barcodes.{key}: expected {expected}, found {found!r}")
    result = AssignResult([], [])
    try:
        with db.write():
            todo = variants_without_barcode(variant_ids)
            serial = _highest_serial(rules.ean_prefix) if rules.generate == "ean13" else 0
            taken = set()
            if rules.generate == "code128":
                taken = {b.code for b in Barcode.select(Barcode.code).where(Barcode.code.in_([v.sku for v in todo]))}
            for v in todo:
                if rules.generate == "ean13":
                    serial += 1
                    code = in_store_code(rules.ean_prefix, serial)
                else:
                    code = v.sku
                    if code in taken:
                        result.skipped.append((v.sku, f"{code} is already another item's barcode"))
                        continue
                Barcode.create(code=code, variant=v.id)
                result.assigned.append(Assigned(v.id, v.sku, code))
            if rules.write_back and shopify_enabled:
                result.jobs = _queue_write_back(result.assigned)
    except IntegrityError:
        # Another process assigned codes at the same moment: nothing of ours was kept.
        raise InvalidInput("another till or the agent assigned barcodes at the same time; run it again") from None
    return result


def _queue_write_back(assigned: list[Assigned]) -> int:
    by_product: dict[str, list[dict]] = {}
    variants = {v.id: v for v in Variant.select(Variant, Product).join(Product)
                .where(Variant.id.in_([a.variant_id for a in assigned]))}
    for a in assigned:
        v = variants[a.variant_id]
        if v.shopify_id and v.product.shopify_id:
            by_product.setdefault(v.product.shopify_id, []).append({"id": v.shopify_id, "barcode": a.code})
    for product_gid, rows in by_product.items():
        outbox.enqueue(outbox.SHOPIFY, "variant_barcodes", {"productId": product_gid, "variants": rows},
                       doc_type="barcodes", doc_ref=product_gid)
    return len(by_product)


# --- price-embedded codes -----------------------------------------------------------------

@dataclass(frozen=True)
class Embedded:
    code: str
    plu: int
    kind: str                       # price, quantity
    price_paisa: int | None = None  # kind price: the line's money, as the scale printed it
    quantity: Decimal | None = None  # kind quantity: in the item's unit (metres, kilos), 3 decimals


def is_embedded(code: str, rules: BarcodeRules) -> bool:
    return len(code) == 13 and code.isdigit() and code[:2] in (*rules.price_prefixes, *rules.quantity_prefixes)


def decode_embedded(code: str, rules: BarcodeRules) -> Embedded:
    text = (code or "").strip()
    if not is_embedded(text, rules):
        raise InvalidInput(f"{text}: not a price- or quantity-embedded code")
    if not is_valid_ean13(text):
        raise InvalidInput(f"{text}: the check digit is wrong; scan the label again")
    plu = int(text[2:2 + PLU_DIGITS])
    value = int(text[2 + PLU_DIGITS:12])
    if plu == 0:
        raise InvalidInput(f"{text}: PLU 00000 names no item")
    if text[:2] in rules.price_prefixes:
        paisa = value * 10 ** (2 - rules.price_decimals)
        return Embedded(text, plu, "price", price_paisa=paisa)
    if value == 0:
        raise InvalidInput(f"{text}: the label says a quantity of zero")
    return Embedded(text, plu, "quantity", quantity=Decimal(value) / 1000)


def embedded_code(rules: BarcodeRules, plu: int, *, price_paisa: int | None = None,
                  quantity: Decimal | None = None) -> str:
    """Make a price- or quantity-embedded code (for labels printed in the back room)."""
    if not 0 < plu < 10 ** PLU_DIGITS:
        raise InvalidInput(f"PLU {plu} must be 1 to 99999")
    if (price_paisa is None) == (quantity is None):
        raise InvalidInput("give the price or the quantity, not both")
    if price_paisa is not None:
        unit = 10 ** (2 - rules.price_decimals)
        if price_paisa % unit:
            raise InvalidInput(f"this layout carries the price in steps of {unit} paisa")
        value, prefix = price_paisa // unit, rules.price_prefixes[0]
    else:
        thousandths = Decimal(quantity) * 1000
        if thousandths != thousandths.to_integral_value():
            raise InvalidInput(f"quantity {quantity} has more than 3 decimals")
        value, prefix = int(thousandths), rules.quantity_prefixes[0]
    if not 0 <= value < 10 ** VALUE_DIGITS:
        raise InvalidInput(f"{value} does not fit the code's {VALUE_DIGITS} digits")
    return ean13(f"{prefix}{plu:0{PLU_DIGITS}d}{value:0{VALUE_DIGITS}d}")


@dataclass(frozen=True)
class MeasuredLine:
    variant: Variant
    embedded: Embedded
    price_paisa: int          # what the line costs
    quantity: Decimal | None  # in the item's unit when known (always for quantity codes)

    @property
    def description(self) -> str:
        unit = self.variant.measure_unit or "unit"
        if self.quantity is None:
            return self.variant.name
        return f"{self.variant.name} {self.quantity:.3f} {unit}"


def measured_line(code: str, rules: BarcodeRules) -> MeasuredLine:
    """The variant and the money a price- or quantity-embedded code stands for."""
    e = decode_embedded(code, rules)
    v = Variant.get_or_none(Variant.plu == e.plu)
    if v is None:
        raise NotFound(f"{e.code}: no item has PLU {e.plu:05d}")
    if e.kind == "price":
        qty = None
        if v.price_paisa > 0:
            qty = (Decimal(e.price_paisa) / Decimal(v.price_paisa)).quantize(Decimal("0.001"))
        return MeasuredLine(v, e, e.price_paisa, qty)
    return MeasuredLine(v, e, measured_price_paisa(v.price_paisa, e.quantity), e.quantity)
