"""Catalog import from Shopify: shop and locations, products and variants, customers.

* First import of a big catalog: a bulk operation (`bulkOperationRunQuery`), whose JSONL result is
  streamed to a temporary file and read twice, line by line: products first, then variants
  joined to them by `__parentId` (Shopify does not promise that children follow their parent).
* Later passes: incremental pages by `updated_at` from a stored watermark (minus 5 minutes of
  overlap), plus deletion events and customers. The watermarks live in the AgentHeartbeat row
  of channel "shopify_catalog" (`detail`), so no schema change is needed.
Persistence is `pos_core.catalog_import`; this module only fetches.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from pos_core import branches, heartbeat
from pos_core.catalog_import import (ImportStats, mark_products_deleted, upsert_customers, upsert_products,
                                     upsert_variants)

from .shopify.client import OPERATIONS_DIR, ShopifyClient, ShopifyError

log = logging.getLogger("sync_agent.catalog")

CURSOR_CHANNEL = "shopify_catalog"
OVERLAP = dt.timedelta(minutes=5)
PRODUCTS_PAGE, VARIANTS_PER_PRODUCT, CUSTOMERS_PAGE = 20, 10, 100
CHUNK = 500


class TextProgress:
    """One plain progress line on stderr (no rich in the agent): rewritten in place on a terminal,
    a new line at most every `every` seconds otherwise."""

    def __init__(self, label: str = "catalog", stream=None, every: float = 2.0, enabled: bool = True):
        self.label, self.stream, self.every, self.enabled = label, stream or sys.stderr, every, enabled
        self._last = 0.0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < (0.2 if self.tty else self.every):
            return
        self._last = now
        if self.tty:
            self.stream.write(f"\r{self.label}: {text}\x1b[K")
        else:
            self.stream.write(f"{self.label}: {text}\n")
        self.stream.flush()

    def done(self, text: str) -> None:
        if self.enabled:
            self.stream.write(("\r" if self.tty else "") + f"{self.label}: {text}" + ("\x1b[K\n" if self.tty else "\n"))
            self.stream.flush()


def _since(watermark: str | None) -> str | None:
    if not watermark:
        return None
    t = dt.datetime.fromisoformat(watermark.replace("Z", "+00:00")) - OVERLAP
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _max(a: str | None, b: str | None) -> str | None:
    return max(x for x in (a, b) if x) if (a or b) else None


# -- shop and locations ---------------------------------------------------------------------

def read_locations(client: ShopifyClient) -> tuple[dict, list[dict], list[str]]:
    """(shop, every location including deactivated ones, the shop's quantity names); reads only."""
    found, after, shop, names = [], None, None, []
    while True:
        res = client.call("ShopAndLocations", {"first": 50, "after": after})
        shop = res.data["shop"]
        names = [q["name"] for q in (res.data.get("inventoryProperties") or {}).get("quantityNames", [])]
        conn = res.data["locations"]
        found += conn["nodes"]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    return shop, found, names


def sync_locations(client: ShopifyClient, locations: dict[str, str]) -> dict:
    """Read the shop and its locations; apply the config's branch -> location mapping."""
    shop, found, names = read_locations(client)
    known = {loc["id"]: loc for loc in found}
    missing = {code: gid for code, gid in locations.items() if gid not in known}
    inactive = {code: gid for code, gid in locations.items() if gid in known and not known[gid]["isActive"]}
    for code, gid in missing.items():
        log.warning("branch %s is mapped to %s, which this shop does not have", code, gid)
    for code, gid in inactive.items():
        log.warning("branch %s is mapped to %s, which is deactivated in Shopify", code, gid)
    if names and "available" not in names:
        log.warning("this shop does not report an 'available' quantity; stock pushes will fail")
    mapped = branches.map_locations({c: g for c, g in locations.items() if g in known})
    return {"shop": shop, "locations": found, "missing": missing, "inactive": inactive, "mapped": mapped}


# -- paged products -------------------------------------------------------------------------

def _variant_rows(product: dict, variants: list[dict]) -> list[dict]:
    return [{**v, "product": product["id"], "productTitle": product["title"], "productStatus": product["status"]}
            for v in variants]


def import_products_paged(client: ShopifyClient, since: str | None, stats: ImportStats,
                          progress: TextProgress | None = None, default_tax_bp: int = 1800) -> str | None:
    """Every product updated since `since` (all if None). Returns the new watermark."""
    query = f"updated_at:>='{since}'" if since else None
    after, watermark, n_products, n_variants = None, None, 0, 0
    while True:
        res = client.call("ProductsWithVariants", {"first": PRODUCTS_PAGE, "after": after, "query": query,
                                                   "variantsFirst": VARIANTS_PER_PRODUCT})
        conn = res.data["products"]
        prows, vrows = [], []
        for p in conn["nodes"]:
            prows.append(p)
            variants = list(p["variants"]["nodes"])
            page = p["variants"]["pageInfo"]
            while page["hasNextPage"]:
                more = client.call("ProductVariantsMore", {"productId": p["id"], "first": 100,
                                                           "after": page["endCursor"]})
                vconn = (more.data.get("product") or {}).get("variants") or {"nodes": [], "pageInfo": {"hasNextPage": False}}
                variants += vconn["nodes"]
                page = vconn["pageInfo"]
            vrows += _variant_rows(p, variants)
            watermark = _max(watermark, p.get("updatedAt"))
        ids = upsert_products(prows, stats)
        upsert_variants(vrows, ids, stats, default_tax_bp)
        n_products += len(prows)
        n_variants += len(vrows)
        if progress:
            progress.update(f"{n_products:,} products, {n_variants:,} variants")
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    return watermark


# -- bulk products ----------------------------------------------------------------------------

def bulk_query_text() -> str:
    return (OPERATIONS_DIR / "BulkCatalogAll.graphql").read_text()


def run_bulk(client: ShopifyClient, query: str, *, poll: float = 1.0, timeout: float = 3600,
             sleep: Callable[[float], None] = time.sleep) -> dict:
    """Start a bulk query and wait for it. bulkOperationRunQuery is not idempotent: after a
    lost answer, adopt the operation that is running rather than start a second one."""
    try:
        res = client.execute("BulkRunQuery", {"query": query}, payload_field="bulkOperationRunQuery")
        op = (res.data.get("bulkOperationRunQuery") or {}).get("bulkOperation")
    except ShopifyError as exc:
        if not exc.retryable:
            raise
        running = client.call("BulkOperationsRunning").data["bulkOperations"]["nodes"]
        if running:
            op = running[0]
        else:
            res = client.call("BulkRunQuery", {"query": query}, payload_field="bulkOperationRunQuery")
            op = (res.data.get("bulkOperationRunQuery") or {}).get("bulkOperation")
    if not op or not op.get("id"):
        raise ShopifyError("PERMANENT", "answered", "Shopify started no bulk operation (it answered without one); "
                           "try again in a few minutes, or import page by page with --paged")
    deadline = time.monotonic() + timeout
    while True:
        op = client.call("BulkOperationById", {"id": op["id"]}).data["bulkOperation"]
        if op["status"] in ("COMPLETED", "FAILED", "CANCELED", "EXPIRED"):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"bulk operation {op['id']} still {op['status']} after {timeout:.0f} s")
        sleep(poll)
    if op["status"] != "COMPLETED":
        raise ShopifyError("PERMANENT", "answered", f"bulk operation {op['id']} ended {op['status']} "
                           f"({op.get('errorCode') or 'no error code'})", code=op.get("errorCode"))
    return op


def _lines(path: Path) -> Iterator[dict]:
    with path.open("rb") as fh:
        for raw in fh:
            if raw.strip():
                yield json.loads(raw)


def import_products_bulk(client: ShopifyClient, stats: ImportStats, progress: TextProgress | None = None,
                         default_tax_bp: int = 1800, poll: float = 1.0) -> str | None:
    op = run_bulk(client, bulk_query_text(), poll=poll)
    if not op.get("url"):
        return None  # an empty shop
    with tempfile.TemporaryDirectory(prefix="pos-bulk-") as tmp:
        path = Path(tmp) / "catalog.jsonl"
        with client.download(op["url"]) as resp, path.open("wb") as out:
            if resp.status_code != 200:
                raise ShopifyError("RETRY", "answered", f"bulk result download answered HTTP {resp.status_code}")
            for chunk in resp.iter_bytes(1 << 16):
                out.write(chunk)
        # pass 1: products (lines without __parentId)
        products: dict[str, tuple[str, str, int]] = {}
        chunk, watermark = [], None
        for line in _lines(path):
            if "__parentId" in line:
                continue
            chunk.append(line)
            watermark = _max(watermark, line.get("updatedAt"))
            if len(chunk) >= CHUNK:
                _save_products(chunk, products, stats)
                chunk = []
                if progress:
                    progress.update(f"{len(products):,} products")
        _save_products(chunk, products, stats)
        # pass 2: variants joined to their product by __parentId
        vchunk, n = [], 0
        for line in _lines(path):
            parent = line.pop("__parentId", None)
            if parent is None:
                continue
            p = products.get(parent)
            if p is None:
                stats.warn(f"variant {line.get('id')} names unknown parent {parent}; skipped")
                continue
            title, status, _ = p
            vchunk.append({**line, "product": parent, "productTitle": title, "productStatus": status})
            if len(vchunk) >= CHUNK:
                upsert_variants(vchunk, {k: v[2] for k, v in products.items()}, stats, default_tax_bp)
                n += len(vchunk)
                vchunk = []
                if progress:
                    progress.update(f"{len(products):,} products, {n:,} variants")
        upsert_variants(vchunk, {k: v[2] for k, v in products.items()}, stats, default_tax_bp)
    return watermark


def _save_products(chunk: list[dict], products: dict, stats: ImportStats) -> None:
    ids = upsert_products(chunk, stats)
    for p in chunk:
        products[p["id"]] = (p.get("title") or "", p.get("status") or "ACTIVE", ids[p["id"]])


# -- deletions and customers -------------------------------------------------------------------

def import_deletions(client: ShopifyClient, since: str | None, stats: ImportStats) -> str | None:
    query = f"occurred_at:>='{since}'" if since else None
    after, watermark = None, None
    while True:
        res = client.call("DeletedProductsSince", {"first": 250, "after": after, "query": query})
        conn = res.data["deletionEvents"]
        mark_products_deleted([e["subjectId"] for e in conn["nodes"]], stats)
        for e in conn["nodes"]:
            watermark = _max(watermark, e.get("occurredAt"))
        if not conn["pageInfo"]["hasNextPage"]:
            return watermark
        after = conn["pageInfo"]["endCursor"]


def import_customers(client: ShopifyClient, since: str | None, stats: ImportStats,
                     progress: TextProgress | None = None) -> str | None:
    query = f"updated_at:>='{since}'" if since else None
    after, watermark, n = None, None, 0
    while True:
        res = client.call("CustomersUpdatedSince", {"first": CUSTOMERS_PAGE, "after": after, "query": query})
        conn = res.data["customers"]
        rows = [{"id": c["id"], "firstName": c.get("firstName"), "lastName": c.get("lastName"),
                 "displayName": c.get("displayName"),
                 "phone": (c.get("defaultPhoneNumber") or {}).get("phoneNumber"),
                 "email": (c.get("defaultEmailAddress") or {}).get("emailAddress")} for c in conn["nodes"]]
        upsert_customers(rows, stats)
        n += len(rows)
        for c in conn["nodes"]:
            watermark = _max(watermark, c.get("updatedAt"))
        if progress:
            progress.update(f"{n:,} customers")
        if not conn["pageInfo"]["hasNextPage"]:
            return watermark
        after = conn["pageInfo"]["endCursor"]


# -- the whole pass ---------------------------------------------------------------------------

def import_catalog(client: ShopifyClient, locations: dict[str, str], mode: str = "auto",
                   progress: TextProgress | None = None, default_tax_bp: int = 1800,
                   bulk_poll: float = 1.0) -> ImportStats:
    """mode: "bulk" (full, bulk operation), "paged" (full, pages), "incremental" (since the stored
    watermarks), "auto" (bulk the first time, incremental afterwards)."""
    stats = ImportStats()
    started = time.monotonic()
    sync_locations(client, locations)
    cursor = heartbeat.get_detail(CURSOR_CHANNEL)
    if mode == "auto":
        mode = "incremental" if cursor.get("products_watermark") else "bulk"
    full = mode in ("bulk", "paged")
    if mode == "bulk":
        wm = import_products_bulk(client, stats, progress, default_tax_bp, poll=bulk_poll)
    else:
        since = None if full else _since(cursor.get("products_watermark"))
        wm = import_products_paged(client, since, stats, progress, default_tax_bp)
    products_wm = _max(cursor.get("products_watermark"), wm)
    deleted_wm = _max(cursor.get("deleted_watermark"),
                      import_deletions(client, _since(cursor.get("deleted_watermark")), stats))
    customers_wm = _max(cursor.get("customers_watermark"),
                        import_customers(client, None if full else _since(cursor.get("customers_watermark")),
                                         stats, progress))
    elapsed = time.monotonic() - started
    heartbeat.beat(CURSOR_CHANNEL, contact=True, error="", detail={
        "products_watermark": products_wm, "deleted_watermark": deleted_wm,
        "customers_watermark": customers_wm, "last_mode": mode, "last_seconds": round(elapsed, 1),
        "last_counts": stats.counts()})
    if progress:
        c = stats
        progress.done(f"{mode}: {c.products_created} products new, {c.products_updated} changed, "
                      f"{c.variants_created} variants new, {c.variants_updated} changed, "
                      f"{c.customers_created + c.customers_updated} customers, "
                      f"{c.phones_skipped} invalid phones skipped, {c.barcode_conflicts} barcode conflicts "
                      f"in {elapsed:.1f} s")
    for w in stats.warnings:
        log.warning("catalog: %s", w)
    if stats.phones_skipped:
        log.warning("catalog: %d customer(s) skipped: phone is not a Pakistani mobile number", stats.phones_skipped)
    return stats
