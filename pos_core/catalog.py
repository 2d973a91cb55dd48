"""Finding what the customer is holding: exact barcode, then SKU, then a name search.

Name search is full-text with prefix matching on every word ("lawn re m" finds
"Lawn 3pc Suit - Red / M"): SQLite FTS5 kept in step with the variant table by triggers, and on
PostgreSQL a GIN index over to_tsvector('simple', ...).
"""
from __future__ import annotations

import re
from dataclasses import dataclass


from . import db
from .errors import InvalidInput, NotFound
from .models import Barcode, Product, Variant

MAX_CODE = 64
_WORD = re.compile(r"[0-9A-Za-z]+")


@dataclass(frozen=True)
class Found:
    variant: Variant
    matched_by: str  # barcode, sku, embedded
    measured: object = None  # barcodes.MeasuredLine for a price- or quantity-embedded code


def check_code(code: str) -> str:
    """A scanned or typed code, cleaned; a clear error if it cannot be one."""
    if code is None:
        raise InvalidInput("no code was entered")
    text = code.strip()
    if not text:
        raise InvalidInput("no code was entered")
    if len(text) > MAX_CODE:
        raise InvalidInput(f"a code is at most {MAX_CODE} characters; this one has {len(text)}")
    if any(not ch.isprintable() or ord(ch) > 126 for ch in text):
        raise InvalidInput("the code has characters a barcode cannot hold (check the scanner's keyboard layout)")
    return text


def gtin_check_ok(code: str) -> bool:
    """EAN-8, UPC-A, EAN-13 and GTIN-14 carry a check digit; a mistyped one fails it."""
    digits = [int(c) for c in code]
    body, check = digits[:-1], digits[-1]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def lookup(code: str, rules=None) -> Found:
    """Exact barcode, then a price- or quantity-embedded code (with `rules`, a
    config.BarcodeRules), then exact SKU. Raises NotFound with a message the cashier can act on."""
    text = check_code(code)
    # The product's category comes with the scan: promotions and points go by it.
    v = (Variant.select(Variant, Product.id, Product.category).join(Barcode).switch(Variant).join(Product)
         .where(Barcode.code == text).first())
    if v is not None:
        return Found(v, "barcode")
    if rules is not None:
        from . import barcodes  # only when a code may carry a price
        if barcodes.is_embedded(text, rules):
            try:
                m = barcodes.measured_line(text, rules)
            except InvalidInput as exc:
                raise NotFound(str(exc)) from None
            return Found(m.variant, "embedded", m)
    v = Variant.get_or_none(Variant.sku == text) or Variant.get_or_none(Variant.sku == text.upper())
    if v is not None:
        return Found(v, "sku")
    if text.isdigit() and len(text) in (8, 12, 13, 14) and not gtin_check_ok(text):
        raise NotFound(f"{text}: the check digit is wrong; the code was probably mistyped or misread")
    raise NotFound(f"{text}: no item has this barcode or SKU")


def search(text: str, limit: int = 20) -> list[Variant]:
    """Active items whose name or SKU has words starting with every word typed."""
    words = _WORD.findall(text or "")[:8]
    if not words:
        return []
    if db.is_sqlite():
        match = " ".join(f'"{w}"*' for w in words)
        ids = [r[0] for r in db.database.execute_sql(
            "SELECT rowid FROM variant_fts WHERE variant_fts MATCH ? ORDER BY rank LIMIT ?",
            (match, limit * 2))]
    else:
        query = " & ".join(f"{w.lower()}:*" for w in words)
        ids = [r[0] for r in db.database.execute_sql(
            "SELECT id FROM variant WHERE to_tsvector('simple', name || ' ' || sku) @@ to_tsquery('simple', %s) "
            "ORDER BY name LIMIT %s", (query, limit * 2))]
    if not ids:
        return []
    found = {v.id: v for v in Variant.select().where(Variant.id.in_(ids) & (Variant.active == True))}  # noqa: E712
    return [found[i] for i in ids if i in found][:limit]


# Schema pieces the ORM cannot declare; run by migrations.py.
SQLITE_FTS = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS variant_fts USING fts5("
    "name, sku, content='variant', content_rowid='id', tokenize='unicode61')",
    "CREATE TRIGGER IF NOT EXISTS variant_fts_ai AFTER INSERT ON variant BEGIN "
    "INSERT INTO variant_fts(rowid, name, sku) VALUES (new.id, new.name, new.sku); END",
    "CREATE TRIGGER IF NOT EXISTS variant_fts_ad AFTER DELETE ON variant BEGIN "
    "INSERT INTO variant_fts(variant_fts, rowid, name, sku) VALUES ('delete', old.id, old.name, old.sku); END",
    "CREATE TRIGGER IF NOT EXISTS variant_fts_au AFTER UPDATE OF name, sku ON variant BEGIN "
    "INSERT INTO variant_fts(variant_fts, rowid, name, sku) VALUES ('delete', old.id, old.name, old.sku); "
    "INSERT INTO variant_fts(rowid, name, sku) VALUES (new.id, new.name, new.sku); END",
]
POSTGRES_SEARCH = [
    "CREATE INDEX IF NOT EXISTS variant_search_idx ON variant "
    "USING gin (to_tsvector('simple', name || ' ' || sku))",
]
