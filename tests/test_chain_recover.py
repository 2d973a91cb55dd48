"""A branch box restored from an older backup (real SQLite file, real head-office PostgreSQL):
the link detects it even after the restored box has sold on past the head office's position,
stops pushing, says so, and `pos-admin branch recover` brings back what the box lost, renumbers
what clashed and converges. Plus: pulled head-office rows never overwrite a branch's own
Shopify ids and FBR POSIDs (`Table.local`)."""
from __future__ import annotations

import io
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from chain_kit import PG_URL, at, drop_hq, new_branch_db, new_hq, open_for_trade, pull_until, role_url, sync_until_sent
from pos_core import (adjustments, backup, chain, coupons, customers, db, heartbeat, hq, ledger, promotions, refunds,
                      sales, shifts)
from pos_core.models import (Branch, Counter, Coupon, CreditEntry, Customer, OutboxJob, PosOrder, Shift, Staff,
                             StockLevel, StockMovement, Variant)
from pos_core.policy import SalePolicy
from sync_agent.hq.link import BranchLink

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs POS_TEST_PG_URL (the head office is PostgreSQL)")
REPO = Path(__file__).resolve().parents[1]
POLICY = SalePolicy()
FBR = SalePolicy(fbr_enabled=True, fbr_posid="123456")


@pytest.fixture
def chain_sites(tmp_path):
    url, name = new_hq()
    with at(url):
        hq.add_branch("LHR1")
    sites = {"hq": url, "hq_name": name, "LHR1": new_branch_db(tmp_path / "lhr.db")}
    yield sites
    db.close()
    drop_hq(name)


def sell(till, sku, qty=1, policy=POLICY, customer=None, coupon=None):
    counter, shift, cashier = till
    v = Variant.get(Variant.sku == sku)
    return sales.complete_sale(policy, counter_id=counter.id, shift_id=shift.id, staff_id=cashier.id,
                               lines=[sales.SaleLine(v.id, qty)], customer_id=customer, coupon_code=coupon,
                               tenders=[sales.Tender("cash", Decimal(v.price_paisa * qty) / 100)])


def levels(code: str = "LHR1") -> dict[str, int]:
    b = Branch.get(Branch.code == code)
    return dict(StockLevel.select(Variant.sku, StockLevel.on_hand).join(Variant)
                .where(StockLevel.branch == b.id).tuples())


def documents() -> dict[str, str]:
    return dict(PosOrder.select(PosOrder.uid, PosOrder.number).where(PosOrder.number.is_null(False)).tuples())


def run(module: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def trading_then_backup(s, tmp_path, sales_before: int):
    """A branch that pulled the chain, sold `sales_before` times, pushed it all, and was backed
    up (last night's backup). Returns (link, till, sale uids, the backup)."""
    ln = BranchLink(role_url(s["hq_name"], "LHR1"), "", "LHR1")
    with at(s["LHR1"]):
        pull_until(ln)
        till = open_for_trade("LHR1")
        made = [sell(till, "1001").uid for _ in range(sales_before)]
        sync_until_sent(ln)
        ln.close()
    return ln, till, made, backup.make(s["LHR1"], tmp_path / "backups")


def test_a_restored_branch_is_detected_recovered_and_converges(chain_sites, tmp_path):
    s = chain_sites
    url = s["LHR1"]
    with at(s["hq"]):
        coupons.create("EID5", promotions.create("Eid 10%", "bill_percent", value=1000, coupon_only=True).id,
                       max_uses=5)
    ln, till, kept, night = trading_then_backup(s, tmp_path, 3)
    with at(url):
        sana = customers.get_or_create("03001234567", "Sana").id
        lost = [sell(till, "1002", customer=sana).uid for _ in range(2)]
        lost.append(sell(till, "1002", customer=sana, coupon="EID5").uid)
        sale = PosOrder.get(PosOrder.uid == lost[0])
        refund = refunds.refund(POLICY, counter_id=till[0].id, shift_id=till[1].id,
                                staff_id=Staff.get(Staff.code == "imran").id, sale_uid=sale.uid,
                                lines=[refunds.ReturnLine(sale.lines[0].id, 1)],
                                tenders=[sales.Tender("store_credit", Decimal(sale.total_paisa) / 100)])
        lost.append(refund.uid)
        adjustments.create(till[0].branch_id, Staff.get(Staff.code == "imran").id, "damaged",
                           [adjustments.AdjustItem(Variant.get(Variant.sku == "1003").id, -2)], "torn",
                           shopify_enabled=False)
        shifts.close_shift(till[1].id, till[2].id, {1000: 1})         # closed before the disk died
        sync_until_sent(ln)
        ln.close()
        numbers_lost = {documents()[u] for u in lost}
    with at(s["hq"]):
        hq.apply_inbox()
        assert PosOrder.select().count() == 7
    backup.restore(night.path, url)                                     # the disk died: restored

    with at(url):
        assert set(documents()) == set(kept)
        # The restored box sells on before anyone notices: more changes than it lost, so its log
        # now reaches past the head office's position with other rows at the same positions.
        after = [sell(till, "1004", policy=FBR).uid for _ in range(7)]
        assert {documents()[u] for u in after} & numbers_lost == {"LHR1-C1-000004", "LHR1-C1-000005",
                                                                  "LHR1-C1-000006"}
        ln.run_once()
        assert not ln.up and "restored from an older backup" in ln.last_error
        assert "another change at" in ln.last_error                     # seen by the digest, not the log's end
        assert "pos-admin branch recover" in ln.last_error
        detail = heartbeat.get_detail("hq")
        assert detail["rewound"]
        from pos_tui.widgets.status import hq_text
        assert "HQ stopped: restored" in hq_text(detail, None)
        after.append(sell(till, "1004").uid)                           # and selling goes on
        # the restored box still had the shift open: closed again with another count; this
        # close is newer than the head office's copy of the shift, and it is the one that stays
        shifts.close_shift(till[1].id, till[2].id, {5000: 3})
        ln.close()
    with at(s["hq"]):
        hq.apply_inbox()
        assert PosOrder.select().count() == 7                           # nothing was overwritten or added
        assert "restored from an older backup" in {r["branch"]: r for r in hq.status()}["LHR1"]["last_error"]

    cfg = tmp_path / "pos.toml"
    cfg.write_text(f'[database]\nurl = "{url}"\n[counter]\nbranch = "LHR1"\ncode = "C1"\n'
                   f'[hq]\nrole = "branch"\nurl = "{role_url(s["hq_name"], "LHR1")}"\nbranch = "LHR1"\n')
    r = run("sync_agent", "--config", str(cfg), "status")
    assert r.returncode == 0 and "PUSH STOPPED" in r.stdout and "branch recover" in r.stdout
    from sync_agent.doctor import Doctor
    d = Doctor(str(cfg), out=io.StringIO())
    assert d.check_config(cfg) and d.check_database()
    d.check_hq(True)
    assert d.checks[-1].status == "FAIL" and "pos-admin branch recover" in d.checks[-1].fix

    r = run("pos_core.admin", "--config", str(cfg), "branch", "recover")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "renumbered LHR1-C1-000004 -> LHR1-C1-000012" in r.stdout
    assert "FBR invoice not sent yet" in r.stdout
    assert "link resumed" in r.stdout
    assert "1 kept as changed here since the restore" in r.stdout
    print(r.stdout)

    with at(url):
        mine = documents()
        assert set(mine) == set(kept + lost + after)                    # lost documents are back
        assert len(set(mine.values())) == len(mine)
        assert ledger.check() == []
        assert CreditEntry.select().count() == 1
        assert Customer.get(Customer.id == sana).store_credit_paisa == refund.total_paisa
        assert StockMovement.select().where(StockMovement.kind == "adjustment").count() == 1
        # FBR will hear of the renumbered sale under its new number
        renumbered = PosOrder.get(PosOrder.uid == after[0])
        assert renumbered.number == "LHR1-C1-000012"
        job = OutboxJob.get(OutboxJob.doc_ref == renumbered.uid, OutboxJob.channel == "fbr")
        assert job.payload["usin"] == "LHR1-C1-000012" and '"USIN":"LHR1-C1-000012"' in job.payload["body"]
        assert Shift.get(Shift.id == till[1].id).counted_paisa == 15000_00
        assert Coupon.get(Coupon.code == "EID5").uses == 1            # the lost use, counted once
        # numbering continues above everything the chain has seen
        till = (till[0], shifts.open_shift(till[0].id, till[2].id, Decimal("5000")), till[2])
        assert sell(till, "1001").number == "LHR1-C1-000015"
        sync_until_sent(ln)
        ln.run_once()
        assert ln.up and not heartbeat.get_detail("hq")["rewound"]
        mine, ledger_here = documents(), levels()
        shift_uid = Shift.get(Shift.counted_paisa == 15000_00).uid
        credit_here = Customer.get(Customer.id == sana).store_credit_paisa
        ln.close()
    with at(s["hq"]):
        hq.apply_inbox()
        assert hq.parked() == []
        at_hq = documents()
        assert at_hq == mine                                            # every document once, same numbers
        assert levels() == ledger_here and ledger.check() == []
        assert Customer.get(Customer.phone == "+923001234567").store_credit_paisa == credit_here
        assert Shift.get(Shift.uid == shift_uid).counted_paisa == 15000_00
        assert Coupon.get(Coupon.code == "EID5").uses == 1
    with at(url):
        ln.run_once()
        assert ln.up and ln.unsent() == 0
        ln.close()


def test_a_restore_with_nothing_sold_since_recovers_too(chain_sites, tmp_path):
    """The simpler case (the box is restored and recovered before it sells): nothing to renumber,
    the lost sales come back, and recovering again finds nothing to do."""
    s = chain_sites
    url = s["LHR1"]
    ln, till, _, night = trading_then_backup(s, tmp_path, 1)
    with at(url):
        lost = {sell(till, "1002").uid for _ in range(2)}
        sync_until_sent(ln)
        ln.close()
    backup.restore(night.path, url)
    cfg = tmp_path / "pos.toml"
    cfg.write_text(f'[database]\nurl = "{url}"\n[counter]\nbranch = "LHR1"\ncode = "C1"\n'
                   '[hq]\nrole = "branch"\nurl = "postgresql://nobody@127.0.0.1:1/none"\nbranch = "LHR1"\n')
    r = run("pos_core.admin", "--config", str(cfg), "branch", "recover")   # the link is down
    assert r.returncode == 1 and "cannot reach the head office" in r.stderr and "Traceback" not in r.stderr
    from sync_agent.hq.recover import recover
    with at(url):
        said: list[str] = []
        assert recover(ln, out=said.append) == 0
        assert lost <= set(documents()) and ledger.check() == []
        assert not any("renumbered" in line for line in said)
        assert sell(till, "1003").number == "LHR1-C1-000004"
        said.clear()
        assert recover(ln, out=said.append) == 0 and "nothing to recover" in said[0]
        sync_until_sent(ln)
        ln.close()
    with at(s["hq"]):
        hq.apply_inbox()
        assert PosOrder.select().count() == 4 and hq.parked() == []


def test_a_branch_server_on_postgresql_restored_from_a_copy_recovers(tmp_path):
    """A branch server (PostgreSQL) restored from a copy: its xids go on from the cluster's, its
    sequence goes back; seen, recovered, converged the same way."""
    import conftest
    from sync_agent.hq.recover import recover
    hq_url, hq_name = new_hq()
    name = conftest._fresh_pg_database()
    url, copy = conftest._pg_url(name), f"{name}_bak"
    admin_conn, _ = conftest._pg_admin()
    try:
        with at(hq_url):
            hq.add_branch("KHI1")
        ln = BranchLink(role_url(hq_name, "KHI1"), "", "KHI1")
        with at(url):
            chain.enable_capture()
            pull_until(ln)
            till = open_for_trade("KHI1")
            made = [sell(till, "1001").uid for _ in range(2)]
            sync_until_sent(ln)
            ln.close()
        with admin_conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {copy} TEMPLATE {name}")        # last night's copy
        with at(url):
            made += [sell(till, "1002").uid for _ in range(2)]
            sync_until_sent(ln)
            ln.close()
        with admin_conn.cursor() as cur:                                 # restored
            cur.execute(f"DROP DATABASE {name} WITH (FORCE)")
            cur.execute(f"CREATE DATABASE {name} TEMPLATE {copy}")
        with at(url):
            made += [sell(till, "1003").uid for _ in range(3)]
            ln.run_once()
            assert not ln.up and "restored from an older backup" in ln.last_error
            said: list[str] = []
            assert recover(ln, out=said.append) == 0, said
            assert any("renumbered KHI1-C1-000003" in line for line in said)
            sync_until_sent(ln)
            mine, here = documents(), levels("KHI1")
            assert set(mine) == set(made) and len(set(mine.values())) == 7 and ledger.check() == []
            ln.close()
        with at(hq_url):
            hq.apply_inbox()
            assert documents() == mine and levels("KHI1") == here and hq.parked() == []
    finally:
        db.close()
        with admin_conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {copy} WITH (FORCE)")
        admin_conn.close()
        conftest._drop_pg_database(name)
        drop_hq(hq_name)


def test_pulled_rows_keep_a_branchs_own_shopify_ids_and_posids(chain_sites):
    s = chain_sites
    ln = BranchLink(role_url(s["hq_name"], "LHR1"), "", "LHR1")
    with at(s["LHR1"]):
        pull_until(ln)
        with db.write():   # the branch learned its own ids (its own catalog import, its FBR registration)
            Variant.update(shopify_id="gid://shopify/ProductVariant/71", shopify_inventory_item_id="gid://shopify/InventoryItem/71") \
                .where(Variant.sku == "1001").execute()
            Branch.update(shopify_location_id="gid://shopify/Location/7").where(Branch.code == "LHR1").execute()
            Counter.update(fbr_posid="777001").execute()
    with at(s["hq"]):
        with db.write():
            Variant.update(price_paisa=150_00, shopify_inventory_item_id="gid://shopify/InventoryItem/HQ1") \
                .where(Variant.sku == "1001").execute()
            # the head office owns these: a branch that has none gets them
            Variant.update(shopify_id="gid://shopify/ProductVariant/82", shopify_inventory_item_id="gid://shopify/InventoryItem/82",
                           price_paisa=350_00).where(Variant.sku == "1002").execute()
            Branch.update(name="Lahore Gulberg").where(Branch.code == "LHR1").execute()   # location stays NULL
            Branch.update(shopify_location_id="gid://shopify/Location/9").where(Branch.code == "KHI1").execute()
            Counter.update(name="Front").execute()                                         # POSID stays NULL
    with at(s["LHR1"]):
        pull_until(ln, lambda: Variant.get(Variant.sku == "1001").price_paisa == 150_00
                   and Variant.get(Variant.sku == "1002").price_paisa == 350_00
                   and Branch.get(Branch.code == "LHR1").name == "Lahore Gulberg"
                   and Branch.get(Branch.code == "KHI1").shopify_location_id is not None
                   and {c.name for c in Counter.select()} == {"Front"})
        v1, v2 = Variant.get(Variant.sku == "1001"), Variant.get(Variant.sku == "1002")
        assert (v1.shopify_id, v1.shopify_inventory_item_id) == ("gid://shopify/ProductVariant/71",
                                                                 "gid://shopify/InventoryItem/71")
        assert (v2.shopify_id, v2.shopify_inventory_item_id) == ("gid://shopify/ProductVariant/82",
                                                                 "gid://shopify/InventoryItem/82")
        assert Branch.get(Branch.code == "LHR1").shopify_location_id == "gid://shopify/Location/7"
        assert Branch.get(Branch.code == "KHI1").shopify_location_id == "gid://shopify/Location/9"
        assert {c.fbr_posid for c in Counter.select().join(Branch).where(Branch.code == "LHR1")} == {"777001"}
        from pos_core.models import ChainParked
        assert ChainParked.select().count() == 0
        ln.close()
