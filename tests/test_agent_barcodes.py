"""Generated barcodes written back to Shopify (productVariantsBulkUpdate) over real HTTP to the
simulator: codes land, a code set in Shopify admin meanwhile is kept, a lost answer is harmless."""
from __future__ import annotations

import httpx
import pytest

from pos_core import barcodes, outbox
from pos_core.config import BarcodeRules, ShopifyConfig
from pos_core.models import OutboxJob, Product, Variant
from simulators.shopify.server import start
from sync_agent import orders as agent_orders
from sync_agent.shopify.client import ShopifyClient


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    handle = start(port=0, data_dir=tmp_path_factory.mktemp("agent-barcodes"), seed_products=0)
    yield handle
    handle.stop()


@pytest.fixture
def client(sim, sqlite_db):
    httpx.post(f"{sim.url}/_sim/reset-faults")
    c = ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=sim.url), token=sim.token,
                      timeout=httpx.Timeout(connect=2.0, read=3.0, write=3.0, pool=2.0))
    c.sleep = lambda s: None
    yield c
    c.close()
    httpx.post(f"{sim.url}/_sim/reset-faults")


def shop_product(sim, title: str, skus: list[str], barcode: str | None = None) -> tuple[Product, list[Variant]]:
    r = httpx.post(f"{sim.url}/_sim/products", json={"product": {"title": title, "variants": [
        {"sku": s, "price": "1800.00", **({"barcode": barcode} if barcode and i == 0 else {})}
        for i, s in enumerate(skus)]}})
    r.raise_for_status()
    sp = r.json()["product"]
    p = Product.create(title=title, shopify_id=sp["id"])
    vs = [Variant.create(product=p, sku=v["sku"], name=f"{title} {v['sku']}", price_paisa=1800_00, shopify_id=v["id"])
          for v in sp["variants"]]
    return p, vs


def shop_barcodes(sim, product: Product) -> dict[str, str | None]:
    snap = httpx.get(f"{sim.url}/_sim/state").json()
    p = next(x for x in snap["products"] if x["id"] == product.shopify_id)
    return {v["sku"]: v["barcode"] for v in p["variants"]}


def test_generated_codes_reach_shopify_and_a_resend_changes_nothing(sim, client):
    product, vs = shop_product(sim, "Unstitched Khaddar", ["UK-1", "UK-2", "UK-3"])
    result = barcodes.assign_missing(BarcodeRules(write_back=True), shopify_enabled=True)
    assert result.jobs == 1
    counts = agent_orders.run_jobs(client)
    assert counts["synced"] == 1
    job = OutboxJob.get(OutboxJob.kind == "variant_barcodes")
    assert job.status == outbox.SYNCED and job.result["set"] == 3
    assert shop_barcodes(sim, product) == {a.sku: a.code for a in result.assigned}
    # the same job once more (as if its answer had been lost): it reads first and sets nothing
    from sync_agent.barcodes import set_barcodes
    again = set_barcodes(client, job)
    assert again == {"set": 0, "already": 3, "kept_shopify": [], "missing": []}


def test_a_code_set_in_shopify_meanwhile_is_kept_not_overwritten(sim, client):
    product, vs = shop_product(sim, "Shoes", ["SH-40", "SH-41"])
    result = barcodes.assign_missing(BarcodeRules(write_back=True), shopify_enabled=True)
    theirs = "8964000123457"
    httpx.post(f"{sim.url}/_sim/products", json={"action": "update", "id": product.shopify_id, "product": {
        "variants": [{"id": vs[0].shopify_id, "barcode": theirs}]}}).raise_for_status()
    agent_orders.run_jobs(client)
    job = OutboxJob.get(OutboxJob.kind == "variant_barcodes")
    assert job.status == outbox.SYNCED and job.result["set"] == 1
    assert job.result["kept_shopify"] == [{"id": vs[0].shopify_id, "shopify": theirs,
                                           "ours": result.assigned[0].code}]
    assert shop_barcodes(sim, product) == {"SH-40": theirs, "SH-41": result.assigned[1].code}


def test_shopify_refusing_the_update_fails_the_job_with_its_reason(sim, client):
    product, vs = shop_product(sim, "Dupatta", ["DP-1"])
    other, _ = shop_product(sim, "Other", ["OT-1"])
    # a payload naming a variant of another product: Shopify answers MUST_BE_FOR_THIS_PRODUCT
    outbox.enqueue(outbox.SHOPIFY, "variant_barcodes", {"productId": other.shopify_id, "variants": [
        {"id": vs[0].shopify_id, "barcode": barcodes.in_store_code("21", 9)}]}, doc_type="barcodes",
        doc_ref=other.shopify_id)
    counts = agent_orders.run_jobs(client)
    assert counts["failed"] == 1
    job = OutboxJob.get(OutboxJob.kind == "variant_barcodes")
    assert job.status == outbox.FAILED and "MUST_BE_FOR_THIS_PRODUCT" in job.last_error
    assert shop_barcodes(sim, product) == {"DP-1": None}


def test_lost_answer_is_retried_and_lands_once(sim, client):
    product, vs = shop_product(sim, "Kurta", ["KT-1"])
    barcodes.assign_missing(BarcodeRules(write_back=True), shopify_enabled=True)
    r = httpx.post(f"{sim.url}/_sim/faults", json={"drop_after_rate": 1.0, "scope": "mutations", "seed": 1})
    assert r.status_code == 200, r.text
    counts = agent_orders.run_jobs(client)
    assert counts["deferred"] == 1
    httpx.post(f"{sim.url}/_sim/reset-faults")
    OutboxJob.update(next_attempt_at=OutboxJob.created_at).execute()
    assert agent_orders.run_jobs(client)["synced"] == 1
    job = OutboxJob.get(OutboxJob.kind == "variant_barcodes")
    assert job.result["already"] == 1 and job.result["set"] == 0  # it had landed; the resend read that


@pytest.mark.parametrize("mode", ["paged", "bulk"])
def test_catalog_import_brings_urdu_names_from_the_metafield_and_keeps_local_ones(sim, client, mode):
    from sync_agent import catalog
    r = httpx.post(f"{sim.url}/_sim/products", json={"product": {"title": f"Lawn Suit {mode}", "productType": "Women > Lawn",
        "variants": [{"sku": f"LS-{mode}-1", "price": "4990.00", "metafields": {"custom.urdu_name": "لان سوٹ"}},
                     {"sku": f"LS-{mode}-2", "price": "4990.00"}]}})
    r.raise_for_status()
    local = Product.create(title="x")
    Variant.create(product=local, sku=f"LS-{mode}-2", name="Lawn Suit 2", price_paisa=1, urdu_name="مقامی نام")
    catalog.import_catalog(client, {}, mode=mode, bulk_poll=0.05)
    one = Variant.get(Variant.sku == f"LS-{mode}-1")
    two = Variant.get(Variant.sku == f"LS-{mode}-2")
    assert one.urdu_name == "لان سوٹ"
    assert two.urdu_name == "مقامی نام"  # Shopify has none: the name set here stays
    assert (one.product.department, one.product.category) == ("Women", "Lawn")
