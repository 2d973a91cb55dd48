"""The stock ledger's promises and the outbox's statuses and retries."""
import subprocess
import sys
from pathlib import Path

import pytest

from pos_core import ledger, migrations, outbox
from pos_core.errors import NotFound, StateError
from pos_core.ledger import Movement
from pos_core.models import AuditEvent, OutboxJob, StockLevel, StockMovement

from helpers import cash_sale

ROOT = Path(__file__).resolve().parent.parent


def test_a_second_attempt_with_the_same_event_key_changes_nothing(site):
    m = Movement("pack:f1:1", site.kurta.id, site.lhr.id, -2, "pack", "fulfillment", "F1", site.cashier.id)
    assert ledger.record(m) is True
    assert ledger.record(m) is False
    assert ledger.record(Movement("pack:f1:1", site.kurta.id, site.lhr.id, -5, "pack", "fulfillment", "F1")) is False
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == 48
    assert StockMovement.select().where(StockMovement.event_key == "pack:f1:1").count() == 1
    assert ledger.on_hand_by_branch(site.kurta.id) == {"KHI1": 50, "LHR1": 48}
    assert ledger.check() == []


def test_check_finds_a_level_that_disagrees_with_the_ledger(site):
    StockLevel.update(on_hand=StockLevel.on_hand + 3).where(
        (StockLevel.variant == site.suit.id) & (StockLevel.branch == site.khi.id)).execute()
    bad = ledger.check()
    assert [(b.variant_sku, b.branch_code, b.level, b.ledger) for b in bad] == [("1002", "KHI1", 53, 50)]


def test_document_status_follows_its_jobs(site):
    order = cash_sale(site, [(site.kurta, 1), (site.book, 1)])
    jobs = outbox.jobs_for(order.uid, "shopify")
    assert outbox.doc_status(order.uid, "shopify") == "PENDING"
    OutboxJob.update(status="SYNCED").where(OutboxJob.id == jobs[0].id).execute()
    assert outbox.doc_status(order.uid, "shopify") == "PENDING"
    OutboxJob.update(status="FAILED").where(OutboxJob.id == jobs[1].id).execute()
    assert outbox.doc_status(order.uid, "shopify") == "FAILED"
    OutboxJob.update(status="SYNCED").where(OutboxJob.id == jobs[1].id).execute()
    assert outbox.doc_status(order.uid, "shopify") == "SYNCED"
    fbr = outbox.jobs_for(order.uid, "fbr")[0]
    OutboxJob.update(status="NEEDS_RECONCILIATION").where(OutboxJob.id == fbr.id).execute()
    assert outbox.statuses_for([order.uid]) == {order.uid: {"shopify": "SYNCED", "fbr": "NEEDS_ATTENTION"}}
    assert outbox.queue_depths()["fbr"] == {"NEEDS_RECONCILIATION": 1}


def test_retry_keeps_the_key_when_the_request_never_got_an_answer(site):
    order = cash_sale(site, [(site.kurta, 1)])
    job = outbox.jobs_for(order.uid, "shopify")[0]
    with pytest.raises(StateError):
        outbox.retry(job.uid)  # a pending job is not failed
    job.status, job.history = "FAILED", [{"error": "connection reset", "answered": False}]
    job.save()
    again = outbox.retry(job.uid, site.supervisor.id)
    assert again.status == "PENDING" and again.idempotency_key == job.idempotency_key
    assert again.payload == job.payload
    assert AuditEvent.select().where(AuditEvent.action == "outbox.retry").count() == 1


def test_retry_after_an_answered_error_is_a_new_attempt_with_a_new_key(site):
    order = cash_sale(site, [(site.kurta, 1)])
    job = outbox.jobs_for(order.uid, "shopify")[0]
    old_key = job.idempotency_key
    job.status, job.history = "FAILED", [{"error": "unknown inventory item", "answered": True}]
    job.save()
    site.kurta.shopify_inventory_item_id = "gid://shopify/InventoryItem/fixed"
    site.kurta.save()
    again = outbox.retry(job.uid)
    assert again.idempotency_key != old_key
    assert again.payload["inventoryItemId"] == "gid://shopify/InventoryItem/fixed"
    assert any(h.get("key") == old_key for h in again.history)
    with pytest.raises(NotFound):
        outbox.retry("no-such-job")


def _cfg(tmp_path, url):
    p = tmp_path / "pos.toml"
    p.write_text(f'[database]\nurl = "{url}"\n')
    return str(p)


def _admin(cfg, *args):
    return subprocess.run([sys.executable, "-m", "pos_core.admin", "--config", cfg, *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_admin_demo_check_stock_jobs_and_retry(tmp_path):
    cfg = _cfg(tmp_path, f"sqlite:///{tmp_path / 'demo.db'}")
    out = _admin(cfg, "demo")
    assert out.returncode == 0, out.stderr
    assert "variants=300" in out.stdout and "branches=2" in out.stdout
    assert _admin(cfg, "demo").returncode == 1  # never over an existing site
    ok = _admin(cfg, "check-stock")
    assert ok.returncode == 0 and "match" in ok.stdout
    from pos_core import db
    db.open_database(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        StockLevel.update(on_hand=999).where(StockLevel.id == StockLevel.select().first().id).execute()
        job = OutboxJob.create(channel="shopify", kind="inventory_adjust", payload={"delta": -1},
                               doc_type="pos_order", doc_ref="x", status="FAILED", last_error="boom",
                               history=[{"answered": False}])
    finally:
        db.close()
    bad = _admin(cfg, "check-stock")
    assert bad.returncode == 1 and "ledger says" in bad.stdout
    listed = _admin(cfg, "jobs")
    assert job.uid in listed.stdout and "boom" in listed.stdout
    retried = _admin(cfg, "retry", job.uid)
    assert retried.returncode == 0 and "PENDING" in retried.stdout
    assert _admin(cfg, "retry", job.uid).returncode == 1


def test_migrations_init_once_and_check_current(tmp_path):
    from pos_core import db
    db.open_database(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        with pytest.raises(migrations.SchemaError, match="no schema"):
            migrations.check_current()
        assert migrations.migrate() == [v for v, _, _ in migrations.MIGRATIONS]
        migrations.check_current()
        assert migrations.migrate() == []
        with pytest.raises(migrations.SchemaError, match="already"):
            migrations.init()
        migrations.SchemaMigration.create(version=99, name="from the future")
        with pytest.raises(migrations.SchemaError, match="newer"):
            migrations.check_current()
    finally:
        db.close()
