"""In-store barcodes, price-embedded codes at the till, categories and migration 6, on each backend."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings, strategies as st

from pos_core import barcodes, catalog, categories, config, db, migrations, sales
from pos_core.config import BarcodeRules, CategoryRules
from pos_core.errors import InvalidInput, NotFound
from pos_core.models import Barcode, OutboxJob, PosOrderLine, Product, Variant
from pos_core.policy import SalePolicy
from pos_core.pricing import PricingError, measured_price_paisa

from helpers import POLICY

RULES = BarcodeRules()


@pytest.fixture(scope="module")
def sqlite_db_factory(tmp_path_factory):
    """A new SQLite database per hypothesis example (function fixtures are not reset between them)."""
    import contextlib
    import itertools
    n = itertools.count()

    @contextlib.contextmanager
    def make():
        db.open_database(f"sqlite:///{tmp_path_factory.mktemp('prop') / f'pos{next(n)}.db'}")
        migrations.init()
        try:
            yield
        finally:
            db.close()
    return make


# --- check digits (pure) ------------------------------------------------------------------

def test_check_digit_matches_known_gtins():
    # Published EAN-13s: 4006381333931 (Stabilo), 9780306406157 (ISBN 978-0-306-40615-7).
    assert barcodes.check_digit("400638133393") == "1"
    assert barcodes.check_digit("978030640615") == "7"
    assert barcodes.is_valid_ean13("4006381333931")
    assert not barcodes.is_valid_ean13("4006381333932")
    assert not barcodes.is_valid_ean13("400638133393")


@given(st.integers(min_value=1, max_value=10 ** 10 - 1), st.sampled_from(barcodes.IN_STORE_PREFIXES))
def test_every_in_store_code_is_13_digits_in_range_and_checks(serial, prefix):
    code = barcodes.in_store_code(prefix, serial)
    assert len(code) == 13 and code.startswith(prefix) and int(code[2:12]) == serial
    assert barcodes.is_valid_ean13(code) and catalog.gtin_check_ok(code)
    # any single changed digit is caught by the check digit
    for i in range(12):
        wrong = code[:i] + str((int(code[i]) + 1) % 10) + code[i + 1:]
        assert not barcodes.is_valid_ean13(wrong)


@given(st.integers(1, 99999), st.integers(0, 99999), st.sampled_from([0, 2]))
def test_price_embedded_round_trip(plu, value, decimals):
    rules = BarcodeRules(price_decimals=decimals)
    paisa = value * 10 ** (2 - decimals)
    code = barcodes.embedded_code(rules, plu, price_paisa=paisa)
    e = barcodes.decode_embedded(code, rules)
    assert (e.kind, e.plu, e.price_paisa) == ("price", plu, paisa) and barcodes.is_valid_ean13(code)


@given(st.integers(1, 99999), st.integers(1, 99999))
def test_quantity_embedded_round_trip(plu, thousandths):
    qty = D(thousandths) / 1000
    code = barcodes.embedded_code(RULES, plu, quantity=qty)
    e = barcodes.decode_embedded(code, RULES)
    assert (e.kind, e.plu, e.quantity) == ("quantity", plu, qty)


def test_embedded_codes_refuse_bad_input_with_one_line():
    good = barcodes.embedded_code(RULES, 123, price_paisa=1500_00)
    assert good == "2800123015006"[:12] + barcodes.check_digit("280012301500")
    bad = good[:12] + str((int(good[12]) + 1) % 10)
    for code, words in [(bad, "check digit"), ("2100000000017", "not a price"),
                        (barcodes.ean13("280000001500"), "PLU 00000"),
                        (barcodes.ean13("290012300000"), "quantity of zero")]:
        with pytest.raises(InvalidInput, match=words):
            barcodes.decode_embedded(code, RULES)
    with pytest.raises(InvalidInput, match="steps of 100"):
        barcodes.embedded_code(RULES, 5, price_paisa=1050)
    with pytest.raises(InvalidInput, match="3 decimals"):
        barcodes.embedded_code(RULES, 5, quantity=D("1.2345"))


def test_measured_price_is_rounded_once_half_up_and_never_float():
    assert measured_price_paisa(1200_00, D("2.350")) == 2820_00
    assert measured_price_paisa(333_33, D("1.5")) == 500_00  # 499.995 -> 500.00
    with pytest.raises(PricingError):
        measured_price_paisa(100, 1.5)
    with pytest.raises(PricingError):
        measured_price_paisa(100, D("0"))


def test_config_refuses_overlapping_prefixes_and_bad_symbology(tmp_path):
    base = {"database": {"url": "sqlite:///x.db"}}
    for section, key in [({"ean_prefix": "29"}, "barcodes.ean_prefix"), ({"generate": "qr"}, "barcodes.generate"),
                         ({"price_prefixes": ["19"]}, "barcodes.price_prefixes"),
                         ({"quantity_prefixes": ["28"]}, "barcodes.quantity_prefixes")]:
        with pytest.raises(config.ConfigError) as e:
            config.parse({**base, "barcodes": section}, tmp_path / "pos.toml")
        assert e.value.key == key and "\n" not in str(e.value)
    cfg = config.parse({**base, "barcodes": {"generate": "code128", "write_back": True}}, tmp_path / "pos.toml")
    assert cfg.barcodes.generate == "code128" and cfg.barcodes.write_back


# --- assignment (database) ------------------------------------------------------------------

def _bare_variants(n: int, shopify: bool = True, tag: str = "") -> list[Variant]:
    p = Product.create(title="Unstitched", shopify_id="gid://shopify/Product/77" if shopify else None)
    return [Variant.create(product=p, sku=f"UNS{tag}-{i}", name=f"Unstitched {i}", price_paisa=100_00,
                           shopify_id=f"gid://shopify/ProductVariant/77{i}" if shopify else None)
            for i in range(n)]


def test_every_variant_without_a_code_gets_a_distinct_valid_one(site):
    new = _bare_variants(25)
    before = {b.code for b in Barcode.select()}
    r = barcodes.assign_missing(RULES)
    assert sorted(a.variant_id for a in r.assigned) == sorted(v.id for v in new)
    codes = [a.code for a in r.assigned]
    assert len(set(codes)) == 25 and not set(codes) & before
    assert all(c.startswith("21") and barcodes.is_valid_ean13(c) for c in codes)
    assert barcodes.variants_without_barcode() == []
    assert barcodes.assign_missing(RULES).assigned == []  # nothing twice
    assert catalog.lookup(codes[3]).variant.id == new[3].id
    assert OutboxJob.select().where(OutboxJob.kind == "variant_barcodes").count() == 0  # write-back off


def test_serials_continue_after_the_highest_existing_code(site):
    Barcode.create(code=barcodes.in_store_code("21", 500), variant=site.kurta.id)
    v, = _bare_variants(1)
    assert barcodes.assign_missing(RULES).assigned[0].code == barcodes.in_store_code("21", 501)
    assert Barcode.get(Barcode.variant == v.id).code == barcodes.in_store_code("21", 501)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 9999), max_size=6, unique=True), st.integers(1, 6))
def test_property_no_two_variants_ever_share_a_code(sqlite_db_factory, existing_serials, n):
    with sqlite_db_factory():
        p = Product.create(title="x")
        holder = Variant.create(product=p, sku="HOLD", name="holder", price_paisa=1)
        for s in existing_serials:
            Barcode.create(code=barcodes.in_store_code("21", s), variant=holder.id)
        for i in range(n):
            Variant.create(product=p, sku=f"V{i}", name=f"v{i}", price_paisa=1)
        r = barcodes.assign_missing(RULES)
        barcodes.assign_missing(RULES)
        codes = [b.code for b in Barcode.select()]
        holder_new = 0 if existing_serials else 1  # a variant with no code gets one too
        assert len(codes) == len(set(codes)) == len(existing_serials) + n + holder_new
        assert len(r.assigned) == n + holder_new and all(barcodes.is_valid_ean13(a.code) for a in r.assigned)
        per_variant = {}
        for b in Barcode.select():
            per_variant.setdefault(b.variant_id, []).append(b.code)
        assert all(len(v) == 1 for k, v in per_variant.items() if k != holder.id)


def test_code128_uses_the_sku_and_skips_a_sku_that_is_someone_elses_code(site):
    a, b = _bare_variants(2)
    Barcode.create(code=b.sku, variant=site.kurta.id)  # an old label printed with that text
    r = barcodes.assign_missing(BarcodeRules(generate="code128"))
    assert [(x.sku, x.code) for x in r.assigned] == [(a.sku, a.sku)]
    assert r.skipped == [(b.sku, f"{b.sku} is already another item's barcode")]


def test_write_back_queues_one_shopify_job_per_product(site):
    vs = _bare_variants(3) + _bare_variants(1, shopify=False, tag="L")
    r = barcodes.assign_missing(BarcodeRules(write_back=True), shopify_enabled=True)
    assert r.jobs == 1
    job = OutboxJob.get(OutboxJob.kind == "variant_barcodes")
    assert job.channel == "shopify" and job.payload["productId"] == "gid://shopify/Product/77"
    assert [row["id"] for row in job.payload["variants"]] == [v.shopify_id for v in vs[:3]]
    assert {row["barcode"] for row in job.payload["variants"]} == {a.code for a in r.assigned[:3]}


# --- at the till: lookup and sale -------------------------------------------------------------

def _fabric(plu=123, price=1200_00):
    p = Product.create(title="Khaddar Plain")
    return Variant.create(product=p, sku="KHD-1", name="Khaddar Plain", price_paisa=price, plu=plu,
                          measure_unit="m", tax_rate_bp=1800)


def test_price_and_quantity_codes_find_the_item_and_its_money(site):
    fabric = _fabric()
    f = catalog.lookup(barcodes.embedded_code(RULES, 123, quantity=D("2.35")), RULES)
    assert f.matched_by == "embedded" and f.variant.id == fabric.id
    assert f.measured.price_paisa == 2820_00 and f.measured.description == "Khaddar Plain 2.350 m"
    f = catalog.lookup(barcodes.embedded_code(RULES, 123, price_paisa=3000_00), RULES)
    assert f.measured.price_paisa == 3000_00 and f.measured.quantity == D("2.500")
    with pytest.raises(NotFound, match="no item has PLU 00999"):
        catalog.lookup(barcodes.embedded_code(RULES, 999, price_paisa=100_00), RULES)
    with pytest.raises(NotFound, match="check digit"):
        catalog.lookup("2900123023509", RULES)
    # without rules (or a real barcode that happens to start 28) nothing is decoded
    with pytest.raises(NotFound):
        catalog.lookup(barcodes.embedded_code(RULES, 123, price_paisa=100_00))


def test_a_measured_line_sells_at_the_code_price_without_an_override(site):
    fabric = _fabric()
    code = barcodes.embedded_code(RULES, 123, quantity=D("2.35"))
    policy = SalePolicy(**{**POLICY.__dict__, "barcode_rules": RULES})
    order = sales.complete_sale(policy, counter_id=site.counter.id, shift_id=site.shift.id,
                                staff_id=site.cashier.id,  # a cashier may not override prices
                                lines=[sales.SaleLine(fabric.id, 1, scanned_code=code)],
                                tenders=[sales.Tender("cash", D("2821"))])
    line = PosOrderLine.get(PosOrderLine.order == order.id)
    assert (line.unit_price_paisa, line.total_paisa, line.price_overridden) == (2820_00, 2820_00, False)
    assert line.scanned_code == code and line.name == "Khaddar Plain 2.350 m"
    with pytest.raises(InvalidInput, match="one line of 1"):
        sales.complete_sale(policy, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.cashier.id,
                            lines=[sales.SaleLine(fabric.id, 2, scanned_code=code)],
                            tenders=[sales.Tender("cash", D("6000"))])
    with pytest.raises(InvalidInput, match="this label is for"):
        sales.complete_sale(policy, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.cashier.id,
                            lines=[sales.SaleLine(site.kurta.id, 1, scanned_code=code)],
                            tenders=[sales.Tender("cash", D("6000"))])


# --- categories -------------------------------------------------------------------------------

def test_categories_from_product_type_or_tags():
    pt = CategoryRules()
    assert categories.derive(pt, "Women > Lawn > 3 Piece") == categories.Path("Women", "Lawn", "3 Piece")
    assert categories.derive(pt, "Lawn") == categories.Path(category="Lawn")  # what imports stored before
    assert categories.derive(pt, "Men > Shoes > Formal > Oxford").sub_category == "Formal > Oxford"
    assert categories.derive(pt, "  ") == categories.Path()
    tags = CategoryRules(source="tags")
    assert categories.derive(tags, "ignored", ["sale", "DEPT:Kids", "cat: Shoes", "sub:School"]) == \
        categories.Path("Kids", "Shoes", "School")
    assert str(categories.Path("Kids", "Shoes")) == "Kids > Shoes"


def test_catalog_import_fills_the_hierarchy_and_tree_reads_it(database):
    from pos_core.catalog_import import ImportStats, upsert_products
    rows = [{"id": "gid://shopify/Product/1", "title": "Lawn suit", "productType": "Women > Lawn > 3 Piece"},
            {"id": "gid://shopify/Product/2", "title": "Kurta", "productType": "Men > Kurta"},
            {"id": "gid://shopify/Product/3", "title": "Khussa", "productType": "Women > Shoes"}]
    upsert_products(rows, ImportStats())
    assert categories.tree() == {"Men": {"Kurta": []}, "Women": {"Lawn": ["3 Piece"], "Shoes": []}}
    assert [p.title for p in categories.products_in("Women").order_by(Product.title)] == ["Khussa", "Lawn suit"]
    changed = categories.reclassify(CategoryRules(source="tags"),
                                    [{"id": "gid://shopify/Product/2", "tags": ["dept:Men", "cat:Eastern"]}])
    assert changed == 1 and Product.get(Product.shopify_id == "gid://shopify/Product/2").category == "Eastern"


# --- migration 6 ------------------------------------------------------------------------------

def _columns(table):
    return sorted(c.name for c in db.database.get_columns(table))


def _indexes(table):
    return sorted((tuple(i.columns), i.unique) for i in db.database.get_indexes(table))


def test_migration_6_brings_an_older_database_to_the_new_schema(database):
    fresh = {t: (_columns(t), _indexes(t)) for t in ("variant", "product", "pos_order_line")}
    # Make it the schema before migration 6: drop what it adds, forget the stamp.
    for table, index in (("variant", "variant_plu"), ("product", "product_department")):
        db.database.execute_sql(f"DROP INDEX IF EXISTS {index}")
    for table, col in (("variant", "plu"), ("variant", "measure_unit"), ("variant", "urdu_name"),
                       ("product", "department"), ("product", "sub_category"), ("pos_order_line", "scanned_code")):
        db.database.execute_sql(f"ALTER TABLE {table} DROP COLUMN {col}")
    migrations.SchemaMigration.delete().where(migrations.SchemaMigration.version == 6).execute()
    assert "plu" not in _columns("variant")
    with pytest.raises(migrations.SchemaError):
        migrations.check_current()
    assert migrations.migrate() == [6]
    migrations.check_current()
    assert {t: (_columns(t), _indexes(t)) for t in fresh} == fresh


def test_the_agent_imports_with_the_sites_category_rules(database, tmp_path):
    from pos_core import catalog_import
    from pos_core.catalog_import import ImportStats, upsert_products
    cfg = config.parse({"database": {"url": "sqlite:///x.db"}, "categories": {"source": "tags"}}, tmp_path / "p.toml")
    from sync_agent.daemon import Agent
    try:
        Agent(cfg)
        upsert_products([{"id": "gid://shopify/Product/9", "title": "Khussa", "productType": "Shoes",
                          "tags": ["dept:Women", "cat:Footwear", "sub:Khussa"]}], ImportStats())
        p = Product.get(Product.shopify_id == "gid://shopify/Product/9")
        assert (p.department, p.category, p.sub_category) == ("Women", "Footwear", "Khussa")
    finally:
        catalog_import.set_category_rules(None)


def test_stock_take_and_levels_scope_by_department_or_path(site):
    from pos_core import stock, stocktake
    women = Product.create(title="Lawn suit", department="Women", category="Lawn", sub_category="3 Piece")
    men = Product.create(title="Kurta", department="Men", category="Kurta")
    a = Variant.create(product=women, sku="W-1", name="Lawn suit", price_paisa=100)
    b = Variant.create(product=men, sku="M-1", name="Kurta", price_paisa=100)
    from pos_core.ledger import Movement, record
    for v in (a, b):
        record(Movement(f"opening:LHR1:{v.sku}", v.id, site.lhr.id, 3, "opening", "opening_stock", "open"))
    assert [r[0] for r in stock.branch_levels(site.lhr.id, category="Women")] == ["W-1"]
    assert [r[0] for r in stock.branch_levels(site.lhr.id, category="Women > Lawn > 3 Piece")] == ["W-1"]
    assert [r[0] for r in stock.branch_levels(site.lhr.id, category="Kurta")] == ["M-1"]
    take = stocktake.start(site.lhr.id, site.manager.id, "Men > Kurta")
    assert [i.variant_id for i in take.items] == [b.id]


def test_measured_lines_refund_and_exchange_with_the_sites_own_prefixes(site):
    from pos_core import refunds
    rules = BarcodeRules(price_prefixes=("27",), quantity_prefixes=("26",))
    policy = SalePolicy(**{**POLICY.__dict__, "barcode_rules": rules})
    fabric = _fabric()
    cut = barcodes.embedded_code(rules, 123, quantity=D("1.5"))  # 1.5 m x 1,200 = 1,800
    sale = sales.complete_sale(policy, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.manager.id,
                               lines=[sales.SaleLine(fabric.id, 1, scanned_code=cut)],
                               tenders=[sales.Tender("cash", D("1801"))])
    line = PosOrderLine.get(PosOrderLine.order == sale.id)
    assert line.total_paisa == 1800_00
    # exchanged for a longer cut: the new line is priced from its own label, with the site's prefixes
    longer = barcodes.embedded_code(rules, 123, quantity=D("2.5"))
    back, new = refunds.exchange(policy, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.manager.id,
                                 sale_uid=sale.uid, returns=[refunds.ReturnLine(line.id, 1)],
                                 new_lines=[sales.SaleLine(fabric.id, 1, scanned_code=longer)],
                                 tenders=[sales.Tender("cash", D("1201"))])
    assert back.total_paisa == 1800_00
    new_line = PosOrderLine.get(PosOrderLine.order == new.id)
    assert (new_line.total_paisa, new_line.scanned_code) == (3000_00, longer)
