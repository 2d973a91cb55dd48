"""Catalog import over real HTTP: 5,000 variants by pages and by a bulk operation match the
simulator exactly; later passes are incremental; archived/deleted products are marked; bad phones
and colliding barcodes are counted, not fatal."""
from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest

from pos_core import heartbeat, migrations
from pos_core import db as dbmod
from pos_core.catalog_import import variant_name
from pos_core.models import Barcode, Branch, Customer, Product, Variant
from pos_core.config import ShopifyConfig
from simulators.shopify.server import start
from sync_agent import catalog
from sync_agent.shopify.client import ShopifyClient
from sync_agent.testing import sim_post, sim_state

TOKEN = "shpat_catalog_test_token"
N_PRODUCTS, PER_PRODUCT = 1250, 4
COLOURS = ["Firozi", "Maroon", "Mint", "Navy"]


def seed() -> dict:
    products = []
    for i in range(N_PRODUCTS):
        variants = []
        for j, colour in enumerate(COLOURS[:PER_PRODUCT]):
            n = i * PER_PRODUCT + j
            variants.append({"sku": f"LWN-{i:04d}-{colour.upper()}", "barcode": f"896{n:010d}",
                             "price": f"{1500 + (n % 40) * 50}.{n % 100:02d}", "options": {"Colour": colour},
                             "taxable": n % 10 != 0, "tracked": n % 25 != 0})
        products.append({"title": f"Printed Lawn 3-Piece {i}", "vendor": "Noor Textiles",
                         "productType": "Lawn Suit", "variants": variants})
    # one collision: a later variant reuses an earlier barcode
    products[-1]["variants"][-1]["barcode"] = "8960000000000"
    customers = [{"firstName": "Ayesha", "lastName": "Khan", "phone": "+923001234567"},
                 {"firstName": "Bilal", "lastName": "Butt", "phone": "0300-7654321"},
                 {"firstName": "Landline", "lastName": "Only", "phone": "+924235761234"},
                 {"firstName": "No", "lastName": "Phone", "phone": None},
                 {"firstName": "Bad", "lastName": "Number", "phone": "12345"}]
    return {"products": products, "customers": customers}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    data = tmp_path_factory.mktemp("shop")
    (data / "seed.json").write_text(json.dumps(seed()))
    handle = start(port=0, data_dir=data, token=TOKEN, bucket=20000, restore=1000, bulk_seconds=0.2)
    yield handle
    handle.stop()


@pytest.fixture
def fresh_db(tmp_path):
    dbmod.open_database(f"sqlite:///{tmp_path / 'pos.db'}")
    migrations.init()
    yield
    dbmod.close()


@pytest.fixture
def client(shop):
    c = ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=shop.url), token=TOKEN)
    yield c
    c.close()


def local_catalog() -> dict:
    out = {}
    barcodes = {}
    for b in Barcode.select():
        barcodes.setdefault(b.variant_id, []).append(b.code)
    for v in Variant.select(Variant, Product).join(Product):
        out[v.shopify_id] = {"sku": v.sku, "price": v.price_paisa, "item": v.shopify_inventory_item_id,
                             "tracked": v.tracked, "barcodes": barcodes.get(v.id, []), "name": v.name,
                             "product": v.product.shopify_id, "tax": v.tax_rate_bp}
    return out


def expected_catalog(state: dict) -> dict:
    out = {}
    for p in state["products"]:
        for v in p["variants"]:
            out[v["id"]] = {"sku": v["sku"], "price": int(Decimal(v["price"]) * 100), "item": v["inventoryItemId"],
                            "tracked": v["tracked"], "product": p["id"]}
    return out


def check_matches(shop_state: dict) -> None:
    want = expected_catalog(shop_state)
    got = local_catalog()
    assert len(want) == N_PRODUCTS * PER_PRODUCT == len(got)
    for gid, w in want.items():
        g = got[gid]
        assert {k: g[k] for k in w} == w
    # barcodes: every variant has its own, except the one that collided (kept by the first)
    assert sum(len(g["barcodes"]) for g in got.values()) == len(got) - 1
    last = shop_state["products"][-1]["variants"][-1]
    assert got[last["id"]]["barcodes"] == []
    assert Barcode.get(Barcode.code == "8960000000000").variant.shopify_id == shop_state["products"][0]["variants"][0]["id"]
    first = shop_state["products"][0]
    assert got[first["variants"][1]["id"]]["name"] == f"{first['title']} - Maroon"
    assert got[first["variants"][0]["id"]]["tax"] == 0          # not taxable in Shopify
    assert got[first["variants"][1]["id"]]["tax"] == 1800


def test_paged_import_of_5000_variants_matches_the_shop(shop, fresh_db, client):
    err = io.StringIO()
    Branch.create(code="LHR1", name="Lahore")
    loc = sim_state(shop.url)["locations"][0]["id"]
    stats = catalog.import_catalog(client, {"LHR1": loc, "XXX": "gid://shopify/Location/1"}, mode="paged",
                                   progress=catalog.TextProgress(stream=err, every=0.0))
    state = sim_state(shop.url)
    check_matches(state)
    assert stats.variants_created == 5000 and stats.barcode_conflicts == 1
    assert Branch.get(Branch.code == "LHR1").shopify_location_id == loc
    # customers: two valid mobiles kept (normalised), a landline and a junk number counted, none without phone lost silently
    assert sorted(c.phone for c in Customer.select()) == ["+923001234567", "+923007654321"]
    assert stats.phones_skipped == 2 and stats.customers_without_phone == 1
    assert "variants" in err.getvalue() and "invalid phones skipped" in err.getvalue()


def test_bulk_import_of_5000_variants_matches_the_shop(shop, fresh_db, client):
    stats = catalog.import_catalog(client, {}, mode="bulk", progress=catalog.TextProgress(enabled=False),
                                   bulk_poll=0.1)
    check_matches(sim_state(shop.url))
    assert stats.variants_created == 5000 and stats.products_created == N_PRODUCTS


def test_incremental_pass_picks_up_changes_archives_and_deletions(shop, fresh_db, client):
    catalog.import_catalog(client, {}, mode="bulk", progress=catalog.TextProgress(enabled=False), bulk_poll=0.1)
    state = sim_state(shop.url)
    p0, p1, p2 = state["products"][:3]
    # An hour later a pass found nothing new (its watermarks are "now"); ten minutes after that,
    # the merchant edits a few things.
    now = sim_post(shop.url, "clock", {"advance_seconds": 3600})["now"]
    heartbeat.beat(catalog.CURSOR_CHANNEL, detail={"products_watermark": now, "customers_watermark": now,
                                                   "deleted_watermark": now})
    sim_post(shop.url, "clock", {"advance_seconds": 600})
    sim_post(shop.url, "products", {"action": "update", "id": p0["id"], "product": {
        "title": "Chandni Lawn", "variants": [{"id": p0["variants"][0]["id"], "price": "2999.50"}]}})
    sim_post(shop.url, "products", {"action": "archive", "id": p1["id"]})
    sim_post(shop.url, "products", {"action": "delete", "id": p2["id"]})
    sim_post(shop.url, "customers", {"customer": {"firstName": "Sana", "lastName": "Raza", "phone": "03211234567"}})
    before = client.requests
    stats = catalog.import_catalog(client, {}, mode="auto", progress=catalog.TextProgress(enabled=False))
    assert client.requests - before < 10                          # a few small pages, not the whole shop
    assert stats.variants_created == 0 and stats.variants_updated >= PER_PRODUCT
    v = Variant.get(Variant.shopify_id == p0["variants"][0]["id"])
    assert v.price_paisa == 2999_50 and v.name == variant_name("Chandni Lawn", "Firozi")
    assert Product.get(Product.shopify_id == p1["id"]).status == "ARCHIVED"
    assert not Variant.get(Variant.shopify_id == p1["variants"][0]["id"]).active
    deleted = Product.get(Product.shopify_id == p2["id"])
    assert deleted.status == "DELETED" and Variant.select().where(Variant.product == deleted.id).count() == PER_PRODUCT
    assert Customer.get(Customer.phone == "+923211234567").name == "Sana Raza"


def test_importing_into_the_demo_site_leaves_no_empty_duplicates(tmp_path, sqlite_db):
    """The demo's own products and the demo shop's share SKUs: after the import each item is
    one product, the Shopify one, with its variants and their stock; none is left empty."""
    from pos_core import demo, ledger
    demo.build()
    data = tmp_path / "demo-shop"
    data.mkdir()
    (data / "seed.json").write_text(json.dumps(demo.shopify_seed()))
    handle = start(port=0, data_dir=data, token=TOKEN, bucket=20000, restore=1000, bulk_seconds=0.2)
    try:
        before_variants = Variant.select().count()
        stock_before = {v.sku: ledger.on_hand(v.id, Branch.get(Branch.code == "LHR1").id) for v in Variant.select()}
        with ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=handle.url), token=TOKEN) as client:
            locs = {l["code"]: l["id"] for l in sim_state(handle.url)["locations"]}
            stats = catalog.import_catalog(client, {"LHR1": locs["LHR-01"], "KHI1": locs["KHI-02"]}, mode="paged",
                                           progress=catalog.TextProgress(enabled=False))
        shop_products = len(sim_state(handle.url)["products"])
    finally:
        handle.stop()
    assert Variant.select().count() == before_variants          # matched by SKU, none made twice
    assert Product.select().count() == shop_products
    empty = [p.title for p in Product.select() if not p.variants.exists()]
    assert empty == []
    assert Product.select().where(Product.shopify_id.is_null()).count() == 0
    assert stats.local_products_merged == shop_products
    lhr = Branch.get(Branch.code == "LHR1").id
    assert {v.sku: ledger.on_hand(v.id, lhr) for v in Variant.select()} == stock_before
