"""`pos-admin barcodes | item | embedded-code | categories`: the back room's commands (issue 17)."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from peewee import IntegrityError

from . import barcodes, categories, db
from .errors import InvalidInput, NotFound
from .models import Variant

COMMANDS = ("barcodes", "item", "embedded-code", "categories")


def add_commands(sub) -> None:
    b = sub.add_parser("barcodes", help="give every item without a barcode one ([barcodes] in the config)")
    b.add_argument("--sku", action="append", help="only these SKUs (repeatable)")
    i = sub.add_parser("item", help="set an item's PLU, unit of measure or Urdu name")
    i.add_argument("sku")
    i.add_argument("--plu", type=int, help="5-digit item number for price/quantity labels (0 clears it)")
    i.add_argument("--unit", help='unit for goods sold by measure, e.g. "m" or "kg" ("" = by the piece)')
    i.add_argument("--urdu", help='the name printed in Urdu on receipts ("" clears it)')
    e = sub.add_parser("embedded-code", help="the EAN-13 for a measured piece (price or quantity label)")
    e.add_argument("sku")
    g = e.add_mutually_exclusive_group(required=True)
    g.add_argument("--qty", help="quantity in the item's unit, e.g. 2.35")
    g.add_argument("--price", help="the piece's price in rupees")
    sub.add_parser("categories", help="the department > category > sub-category tree")


def _variant(sku: str) -> Variant:
    v = Variant.get_or_none(Variant.sku == sku)
    if v is None:
        raise NotFound(f"no item with SKU {sku}")
    return v


def _decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"{what} must be a number, not {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise InvalidInput(f"{what} must be more than zero")
    return value


def run(args, cfg) -> int:
    if args.command == "barcodes":
        from . import shelf_labels
        if not shelf_labels.may_assign(cfg):
            raise InvalidInput("this is a chain's branch: barcodes are made at the head office and come with the catalog")
        ids = [_variant(s).id for s in args.sku] if args.sku else None
        r = barcodes.assign_missing(cfg.barcodes, variant_ids=ids, shopify_enabled=cfg.shopify.enabled)
        for a in r.assigned:
            print(f"{a.sku}: {a.code}")
        for sku, why in r.skipped:
            print(f"{sku}: skipped, {why}")
        tail = f"; {r.jobs} Shopify update(s) queued" if r.jobs else ""
        print(f"{len(r.assigned)} barcode(s) assigned, {len(r.skipped)} skipped{tail}")
    elif args.command == "item":
        v = _variant(args.sku)
        if args.plu is not None:
            if not 0 <= args.plu < 10 ** barcodes.PLU_DIGITS:
                raise InvalidInput(f"a PLU is 1 to 99999 (0 clears it), not {args.plu}")
            v.plu = args.plu or None
        if args.unit is not None:
            if len(args.unit) > 8:
                raise InvalidInput("a unit is at most 8 characters (m, kg, yd)")
            v.measure_unit = args.unit.strip()
        if args.urdu is not None:
            v.urdu_name = args.urdu.strip() or None
        try:
            with db.write():
                v.save()
        except IntegrityError:
            other = Variant.get_or_none(Variant.plu == args.plu)
            raise InvalidInput(f"PLU {args.plu:05d} already belongs to {other.sku if other else 'another item'}") from None
        print(f"{v.sku}: PLU {v.plu if v.plu else '-'}, unit {v.measure_unit or 'piece'}, "
              f"Urdu name {'set' if v.urdu_name else 'none'}")
    elif args.command == "embedded-code":
        v = _variant(args.sku)
        if not v.plu:
            raise InvalidInput(f"{v.sku} has no PLU; set one with `pos-admin item {v.sku} --plu N`")
        if args.qty:
            code = barcodes.embedded_code(cfg.barcodes, v.plu, quantity=_decimal(args.qty, "the quantity"))
        else:
            from .money import to_paisa
            code = barcodes.embedded_code(cfg.barcodes, v.plu, price_paisa=to_paisa(_decimal(args.price, "the price")))
        m = barcodes.measured_line(code, cfg.barcodes)
        print(f"{code}  {m.description}  Rs {Decimal(m.price_paisa) / 100:,.2f}")
    elif args.command == "categories":
        for dept, cats in categories.tree().items():
            print(dept or "(no department)")
            for cat, subs in cats.items():
                print(f"  {cat or '(no category)'}" + (f": {', '.join(subs)}" if subs else ""))
    return 0
