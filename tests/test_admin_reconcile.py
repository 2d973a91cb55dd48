"""pos-admin reconcile: the latest report with a shared location's parts per branch, and a manager
accepting one branch's part (at a head office there may be no till to do it from)."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOC = "gid://shopify/Location/501"
ITEM = "gid://shopify/InventoryItem/77"


def run(cfg, *args, pin="3333"):
    return subprocess.run([sys.executable, "-m", "pos_core.admin", "--config", str(cfg), *args], capture_output=True,
                          text=True, cwd=ROOT, env=dict(os.environ, POS_STAFF_PIN=pin), stdin=subprocess.DEVNULL,
                          timeout=60)


def test_show_and_accept_a_branchs_part_of_a_shared_location(tmp_path):
    from pos_core import adjustments, db, ledger, reconcile
    from pos_core.models import Branch, OutboxJob, Staff, Variant
    cfg = tmp_path / "pos.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "pos.db"}"\n')
    assert run(cfg, "demo").returncode == 0
    db.open_database(f"sqlite:///{tmp_path / 'pos.db'}")
    try:
        with db.write():
            Branch.update(shopify_location_id=None).execute()
            Branch.update(shopify_location_id=LOC).where(Branch.code.in_(["LHR1", "KHI1"])).execute()
            Variant.update(shopify_inventory_item_id=None).execute()
            v = Variant.select().order_by(Variant.id).first()
            v.shopify_inventory_item_id, v.tracked = ITEM, True
            v.save()
        manager = Staff.get(Staff.code == "imran")
        ids = {b.code: b.id for b in Branch.select()}
        for code, delta in (("LHR1", -2), ("KHI1", 1)):     # never told to Shopify
            adjustments.create(ids[code], manager.id, "correction", [adjustments.AdjustItem(v.id, delta)],
                               "recount", shopify_enabled=False)
        total = sum(ledger.on_hand(v.id, ids[c]) for c in ("LHR1", "KHI1"))
        run_ = reconcile.compare(LOC, [reconcile.ShopifyLevel(ITEM, total + 1, total + 1)])
        sku = v.sku
    finally:
        db.close()
    shown = run(cfg, "reconcile", "show")
    assert shown.returncode == 0, shown.stderr
    assert f"{LOC} (KHI1, LHR1): report {run_.uid}" in shown.stdout
    assert "LHR1     ledger" in shown.stdout and "unexplained +2" in shown.stdout and "unexplained -1" in shown.stdout
    refused = run(cfg, "reconcile", "accept", run_.uid, sku, "--staff", "imran")
    assert refused.returncode == 1 and "name the branch" in refused.stderr
    wrong_pin = run(cfg, "reconcile", "accept", run_.uid, sku, "--branch", "LHR1", "--staff", "imran", pin="0000")
    assert wrong_pin.returncode == 1 and "wrong PIN" in wrong_pin.stderr
    done = run(cfg, "reconcile", "accept", run_.uid, sku, "--branch", "LHR1", "--staff", "imran")
    assert done.returncode == 0 and "correction queued (-2 in Shopify, for LHR1)" in done.stdout, done.stderr
    again = run(cfg, "reconcile", "accept", run_.uid, sku, "--branch", "LHR1", "--staff", "imran")
    assert again.returncode == 1 and "already accepted" in again.stderr
    assert "LHR1     ledger" in run(cfg, "reconcile", "show", LOC).stdout
    db.open_database(f"sqlite:///{tmp_path / 'pos.db'}")
    try:
        job = OutboxJob.get((OutboxJob.doc_ref == run_.uid) & (OutboxJob.kind == "inventory_adjust"))
        assert (job.payload["branch"], job.payload["delta"], job.payload["locationId"]) == ("LHR1", -2, LOC)
    finally:
        db.close()
