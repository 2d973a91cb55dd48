"""Saving products, variants and customers that came from Shopify (plain dicts in, rows out).

The sync agent fetches; this module only persists, in short write transactions of one chunk
each. Rules:
* a product or variant is matched by its Shopify id, else a variant by SKU (a local item that
  Shopify now knows about is linked, not duplicated);
* a variant's name is "Product title - option text" ("Default Title" adds nothing);
* price is a Decimal string in rupees -> integer paisa;
* a barcode already used by another variant stays with the first one (counted, warned);
* products archived or deleted in Shopify are marked (status ARCHIVED / DELETED, variants
  inactive), never removed: old sales point at them;
* customers are keyed by phone (+92...); a phone that is not a Pakistani mobile is skipped and
  counted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from . import audit, db
from .customers import normalise_phone
from .errors import InvalidInput
from .models import Barcode, Customer, Product, Variant, utcnow
from .money import MoneyError, to_paisa

MAX_WARNINGS = 50
DEFAULT_TITLE = "Default Title"


@dataclass
class ImportStats:
    products_created: int = 0
    products_updated: int = 0
    products_marked_deleted: int = 0
    variants_created: int = 0
    variants_updated: int = 0
    barcodes_added: int = 0
    barcode_conflicts: int = 0
    sku_conflicts: int = 0
    missing_sku: int = 0
    local_products_merged: int = 0
    bad_prices: int = 0
    customers_created: int = 0
    customers_updated: int = 0
    customers_without_phone: int = 0
    phones_skipped: int = 0
    phone_conflicts: int = 0
    warnings: list[str] = field(default_factory=list)

    def warn(self, text: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(text)

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if isinstance(v, int)}


def numeric_id(gid: str) -> str:
    return (gid or "").rsplit("/", 1)[-1]


def variant_name(product_title: str, option_text: str) -> str:
    option_text = (option_text or "").strip()
    if not option_text or option_text == DEFAULT_TITLE:
        return product_title
    return f"{product_title} - {option_text}"


_category_rules = None  # config.CategoryRules of the running agent (set_category_rules)


def set_category_rules(rules) -> None:
    """The agent sets the site's [categories] rules once at start; imports use them."""
    global _category_rules
    _category_rules = rules


def upsert_products(rows: list[dict], stats: ImportStats, category_rules=None) -> dict[str, int]:
    """rows: {"id", "title", "status", "vendor", "productType", "updatedAt"} (and "tags" when the
    hierarchy comes from tags). Returns {gid: local id}."""
    from . import categories
    from .config import CategoryRules
    category_rules = category_rules or _category_rules or CategoryRules()
    if not rows:
        return {}
    now = utcnow()
    ids: dict[str, int] = {}
    with db.write():
        existing = {p.shopify_id: p for p in Product.select().where(Product.shopify_id.in_([r["id"] for r in rows]))}
        for r in rows:
            status = (r.get("status") or "ACTIVE").upper()
            path = categories.derive(category_rules, r.get("productType") or "", r.get("tags") or ())
            values = {"title": r.get("title") or "(untitled)", "vendor": r.get("vendor") or "",
                      "department": path.department, "category": path.category,
                      "sub_category": path.sub_category, "status": status,
                      "shopify_updated_at": r.get("updatedAt"), "updated_at": now}
            p = existing.get(r["id"])
            if p is None:
                p = Product.create(shopify_id=r["id"], **values)
                stats.products_created += 1
            else:
                changed = any(getattr(p, k) != v for k, v in values.items() if k != "updated_at")
                if changed:
                    Product.update(**values).where(Product.id == p.id).execute()
                    if p.status != status:
                        Variant.update(active=status == "ACTIVE", updated_at=now).where(Variant.product == p.id).execute()
                    stats.products_updated += 1
            ids[r["id"]] = p.id
    return ids


def upsert_variants(rows: list[dict], product_ids: dict[str, int], stats: ImportStats,
                    default_tax_bp: int = 1800) -> None:
    """rows: Shopify variant fields plus "product" (gid), "productTitle", "productStatus"."""
    if not rows:
        return
    now = utcnow()
    with db.write():
        by_sid = {v.shopify_id: v for v in Variant.select().where(Variant.shopify_id.in_([r["id"] for r in rows]))}
        skus = [_sku(r) for r in rows]
        by_sku = {v.sku: v for v in Variant.select().where(Variant.sku.in_(skus))}
        codes = [r["barcode"].strip() for r in rows if (r.get("barcode") or "").strip()]
        owners = {b.code: b.variant_id for b in Barcode.select().where(Barcode.code.in_(codes))} if codes else {}
        left_behind: set[int] = set()   # local-only products whose variants Shopify's products took over
        for r, sku in zip(rows, skus):
            pid = product_ids.get(r["product"])
            if pid is None:
                stats.warn(f"variant {r['id']} has no product in this import; skipped")
                continue
            if not (r.get("sku") or "").strip():
                stats.missing_sku += 1
            try:
                price = to_paisa(Decimal(str(r.get("price") or "0")))
            except (InvalidOperation, MoneyError):
                stats.bad_prices += 1
                stats.warn(f"{sku}: price {r.get('price')!r} is not a price; kept the old one or 0")
                price = None
            item = r.get("inventoryItem") or {}
            option_text = r.get("title") or ""
            values = {"product": pid, "name": variant_name(r.get("productTitle") or "", option_text),
                      "option_text": "" if option_text == DEFAULT_TITLE else option_text,
                      "tracked": bool(item.get("tracked", True)),
                      "active": (r.get("productStatus") or "ACTIVE").upper() == "ACTIVE",
                      "shopify_id": r["id"], "shopify_inventory_item_id": item.get("id"), "updated_at": now}
            # The Urdu name from metafield custom.urdu_name; without one a name set locally stays.
            urdu = ((r.get("urduName") or {}).get("value") or "").strip()
            if urdu:
                values["urdu_name"] = urdu[:255]
            v = by_sid.get(r["id"])
            if v is None:
                other = by_sku.get(sku)
                if other is not None and other.shopify_id and other.shopify_id != r["id"]:
                    stats.sku_conflicts += 1
                    stats.warn(f"SKU {sku} is used by two Shopify variants ({other.shopify_id}, {r['id']}); "
                               "kept the first")
                    continue
                v = other
            if v is None:
                tax = default_tax_bp if r.get("taxable", True) else 0
                v = Variant.create(sku=sku, price_paisa=price or 0, tax_rate_bp=tax, **values)
                by_sku[sku] = v
                by_sid[r["id"]] = v
                stats.variants_created += 1
            else:
                if v.product_id != pid and not v.shopify_id:
                    left_behind.add(v.product_id)
                if price is not None:
                    values["price_paisa"] = price
                    if price != v.price_paisa:
                        # Shelf tags now show the old price: the till's tag list offers these (F4).
                        audit.log("price_change", None, v.sku, variant_id=v.id, old=v.price_paisa, new=price)
                if r.get("taxable") is False:
                    values["tax_rate_bp"] = 0
                if sku != v.sku:
                    taken = by_sku.get(sku) or Variant.get_or_none(Variant.sku == sku)
                    if taken is not None and taken.id != v.id:
                        stats.sku_conflicts += 1
                        stats.warn(f"SKU {sku} of {r['id']} belongs to another item; kept {v.sku}")
                    else:
                        values["sku"] = sku
                        by_sku[sku] = v
                if any(getattr(v, k if k != "product" else "product_id") != val
                       for k, val in values.items() if k != "updated_at"):
                    Variant.update(**values).where(Variant.id == v.id).execute()
                    stats.variants_updated += 1
            code = (r.get("barcode") or "").strip()
            if code and len(code) <= 64:
                owner = owners.get(code)
                if owner is None:
                    Barcode.create(code=code, variant=v.id)
                    owners[code] = v.id
                    stats.barcodes_added += 1
                elif owner != v.id:
                    stats.barcode_conflicts += 1
                    stats.warn(f"barcode {code} of {sku} already belongs to another item; kept the first")
        _drop_emptied(left_behind, stats)


def _drop_emptied(product_ids: set[int], stats: ImportStats) -> None:
    """A product made locally (the demo's, or one typed in before Shopify was connected) whose
    every variant now belongs to the Shopify product with the same SKUs is an empty duplicate:
    it would show in searches and reports with nothing in it. Remove it."""
    for pid in product_ids:
        product = Product.get_or_none(Product.id == pid)
        if product is None or product.shopify_id:
            continue
        if not Variant.select().where(Variant.product == pid).exists():
            product.delete_instance()
            stats.local_products_merged += 1


def _sku(r: dict) -> str:
    sku = (r.get("sku") or "").strip()
    return sku[:64] if sku else f"SHOPIFY-{numeric_id(r['id'])}"


def mark_products_deleted(gids: list[str], stats: ImportStats) -> None:
    if not gids:
        return
    now = utcnow()
    with db.write():
        for p in Product.select().where(Product.shopify_id.in_(gids) & (Product.status != "DELETED")):
            Product.update(status="DELETED", updated_at=now).where(Product.id == p.id).execute()
            Variant.update(active=False, updated_at=now).where(Variant.product == p.id).execute()
            stats.products_marked_deleted += 1


def upsert_customers(rows: list[dict], stats: ImportStats) -> None:
    """rows: {"id", "firstName", "lastName", "displayName", "phone", "email"} (phone as Shopify has it)."""
    if not rows:
        return
    now = utcnow()
    with db.write():
        by_sid = {c.shopify_id: c for c in Customer.select().where(Customer.shopify_id.in_([r["id"] for r in rows]))}
        for r in rows:
            raw = (r.get("phone") or "").strip()
            if not raw:
                stats.customers_without_phone += 1
                continue
            try:
                phone = normalise_phone(raw)
            except InvalidInput:
                stats.phones_skipped += 1
                stats.warn(f"customer {r['id']}: phone {raw!r} is not a Pakistani mobile number; skipped")
                continue
            name = (r.get("displayName") or " ".join(x for x in (r.get("firstName"), r.get("lastName")) if x)).strip()
            c = by_sid.get(r["id"]) or Customer.get_or_none(Customer.phone == phone)
            if c is not None and c.shopify_id and c.shopify_id != r["id"]:
                stats.phone_conflicts += 1
                stats.warn(f"phone {phone} belongs to two Shopify customers ({c.shopify_id}, {r['id']}); kept the first")
                continue
            if c is None:
                Customer.create(phone=phone, name=name, email=r.get("email") or "", shopify_id=r["id"],
                                created_at=now, updated_at=now)
                stats.customers_created += 1
                continue
            values = {"name": name or c.name, "email": r.get("email") or c.email, "shopify_id": r["id"]}
            if phone != c.phone and Customer.get_or_none(Customer.phone == phone) is None:
                values["phone"] = phone
            if any(getattr(c, k) != v for k, v in values.items()):
                Customer.update(updated_at=now, **values).where(Customer.id == c.id).execute()
                stats.customers_updated += 1
