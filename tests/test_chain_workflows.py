"""Issue 14: workflows that touch two branch boxes, through the head office (store and forward).

Two branch boxes (SQLite files) and a head office (PostgreSQL), driven in this process as the
replication tests are: each `at(...)` block is one box; a link's `run_once` is its agent's pass; the
head office's agent is `hq.apply_inbox()`. A box whose link we do not run is offline."""
from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import conftest
from chain_kit import (PG_URL, at, drop_hq, new_branch_db, new_hq, open_for_trade, pull_until, role_url,
                       sync_until_sent)
from pos_core import chain, customers, db, hq, ledger, refunds, sales, staff, transfers
from pos_core.errors import StateError
from pos_core.models import (Branch, ChainParked, Counter, CreditEntry, Customer, PosOrder, Shift, Staff, StockLevel, Transfer, TransferReceipt, TransferSettlement,
                             Variant)
from pos_core.policy import SalePolicy
from sync_agent.hq.link import BranchLink

REPO = Path(__file__).resolve().parents[1]
POLICY = SalePolicy()
needs_pg = pytest.mark.skipif(not PG_URL, reason="needs POS_TEST_PG_URL (the head office is PostgreSQL)")


@pytest.fixture
def sites(tmp_path, request):
    """Lahore on SQLite; Karachi on SQLite, or (param "pg") a branch server on PostgreSQL."""
    url, name = new_hq()
    with at(url):
        for code in ("LHR1", "KHI1", "ISB1"):
            hq.add_branch(code)
    s = {"hq": url, "hq_name": name, "LHR1": new_branch_db(tmp_path / "lhr.db", "LHR1")}
    khi_pg = None
    if getattr(request, "param", "sqlite") == "pg":
        khi_pg = conftest._fresh_pg_database()
        s["KHI1"] = conftest._pg_url(khi_pg)
        with at(s["KHI1"]):
            chain.enable_capture()
            chain.set_state("role", "branch")
            chain.set_state("branch", "KHI1")
    else:
        s["KHI1"] = new_branch_db(tmp_path / "khi.db", "KHI1")
    for code in ("LHR1", "KHI1"):
        with at(s[code]):
            ln = link(s, code)
            pull_until(ln)
            open_for_trade(code, qty=50)
            sync_until_sent(ln)
            ln.close()
    yield s
    db.close()
    if khi_pg:
        conftest._drop_pg_database(khi_pg)
    drop_hq(name)


def link(s, code) -> BranchLink:
    return BranchLink(role_url(s["hq_name"], code), "", code)


def sync(s, code, test=None):
    """One agent pass at `code`, the head office applying what came up, then pulls until `test`."""
    with at(s[code]):
        ln = link(s, code)
        # until all is sent: on a PostgreSQL branch the push waits for older writers on the shared
        # test cluster to finish (a delay, never a skip)
        sync_until_sent(ln)
        ln.close()
    with at(s["hq"]):
        assert hq.apply_inbox()["parked"] == 0, hq.parked()
    if test is not None:
        with at(s[code]):
            ln = link(s, code)
            pull_until(ln, test)
            ln.close()


def unsent(ln) -> int:
    return ln.pending(ln._hq().execute_sql("SELECT xid, seq FROM hq_position()").fetchone())[0]


def stock(code) -> dict[str, int]:
    b = Branch.get(Branch.code == code)
    return dict(StockLevel.select(Variant.sku, StockLevel.on_hand).join(Variant)
                .where(StockLevel.branch == b.id).tuples())


def vid(sku) -> int:
    return Variant.get(Variant.sku == sku).id


def staff_id(code) -> int:
    return Staff.get(Staff.code == code).id


@needs_pg
@pytest.mark.parametrize("sites", ["sqlite", "pg"], indirect=True, ids=["khi-sqlite", "khi-pg-server"])
def test_transfer_between_boxes_sender_offline_after_dispatch(sites):
    s = sites
    # Lahore dispatches; its agent pushes once, then Lahore's link goes down for the rest of the day.
    with at(s["LHR1"]):
        t = transfers.create(Branch.get(Branch.code == "LHR1").id, Branch.get(Branch.code == "KHI1").id,
                             staff_id("ayesha"), [transfers.TransferItem(vid("1001"), 5),
                                                  transfers.TransferItem(vid("1002"), 3)])
        transfers.dispatch(t.number, staff_id("ayesha"), shopify_enabled=False)
        number = t.number
        assert stock("LHR1")["1001"] == 45 and stock("LHR1")["1002"] == 47
    sync(s, "LHR1")
    with at(s["hq"]):
        assert Transfer.get(Transfer.number == number).status == "DISPATCHED"
    # a Karachi cashier's Ctrl+K: every branch as the head office has it, in transit included
    from pos_core import config as configmod, hq_stock
    cfg = configmod.parse({"database": {"url": "sqlite:///unused.db"}, "counter": {"branch": "KHI1", "code": "C1"},
                           "hq": {"role": "branch", "url": role_url(s["hq_name"], "KHI1")}}, "khi.toml")
    seen = {r.branch: (r.on_hand, r.in_transit, r.as_of is not None) for r in hq_stock.chain_stock(cfg, "1001")}
    assert seen == {"LHR1": (45, 0, True), "KHI1": (50, 5, True), "ISB1": (0, 0, False)}

    # Karachi comes online later: the transfer addressed to it arrives through the head office.
    with at(s["KHI1"]):
        ln = link(s, "KHI1")
        pull_until(ln, lambda: Transfer.get_or_none(Transfer.number == number) is not None)
        assert unsent(ln) == 0      # what came from the head office is not logged to go back up
        ln.close()
        assert transfers.in_transit(vid("1001")) == {"KHI1": 5}
        # Karachi's link is down again; two counters scan the same slip. They share the branch's
        # database, so the receipt's unique key decides: the second is refused, saying who and when.
        got = transfers.receive(number, staff_id("ayesha"), {vid("1001"): 5, vid("1002"): 2}, shopify_enabled=False)
        assert got.status == "DISCREPANCY"
        with pytest.raises(StateError, match="already received at KHI1 by Ayesha"):
            transfers.receive(number, staff_id("imran"), {vid("1001"): 5, vid("1002"): 3}, shopify_enabled=False)
        assert stock("KHI1")["1001"] == 55 and stock("KHI1")["1002"] == 52
        assert transfers.in_transit(vid("1001")) == {}
        # The short unit went back to Lahore: that moves Lahore's stock, so it is settled there.
        with pytest.raises(StateError, match="settle it there, not at KHI1"):
            transfers.resolve(number, 2, "returned_to_sender", staff_id("imran"), shopify_enabled=False)
        assert TransferSettlement.select().count() == 0
    sync(s, "KHI1")
    with at(s["hq"]):
        t = Transfer.get(Transfer.number == number)
        assert t.status == "DISCREPANCY" and [l.qty_received for l in t.lines] == [5, 2]
        assert stock("KHI1")["1001"] == 55 and stock("LHR1")["1001"] == 45
        assert TransferReceipt.select().count() == 1

    # Lahore's link heals: it sees the outcome and its manager settles the shortfall.
    with at(s["LHR1"]):
        ln = link(s, "LHR1")
        pull_until(ln, lambda: Transfer.get(Transfer.number == number).status == "DISCREPANCY")
        ln.close()
        assert [l.qty_received for l in Transfer.get(Transfer.number == number).lines] == [5, 2]
        t = transfers.resolve(number, 2, "returned_to_sender", staff_id("imran"), shopify_enabled=False)
        assert t.status == "RECEIVED"
        assert stock("LHR1")["1002"] == 48
    sync(s, "LHR1")
    with at(s["KHI1"]):
        ln = link(s, "KHI1")
        pull_until(ln, lambda: Transfer.get(Transfer.number == number).status == "RECEIVED")
        sync_until_sent(ln)
        ln.close()
        line = Transfer.get(Transfer.number == number).lines.order_by(chain.model_for("transfer_line").line_no)[1]
        assert line.resolution == "returned_to_sender"
    with at(s["hq"]):
        assert hq.apply_inbox()["parked"] == 0 and hq.parked() == []
        t = Transfer.get(Transfer.number == number)
        assert t.status == "RECEIVED"
        hq_levels = {code: stock(code) for code in ("LHR1", "KHI1")}
        assert ledger.check() == []
    # Every site: a clean ledger, the head office's copy equal to the branch's own, nothing parked.
    for code in ("LHR1", "KHI1"):
        with at(s[code]):
            assert ledger.check() == []
            assert stock(code) == hq_levels[code]
            assert ChainParked.select().where(ChainParked.resolved_at.is_null()).count() == 0
            assert Transfer.get(Transfer.number == number).status == "RECEIVED"
    assert hq_levels["LHR1"]["1001"] == 45 and hq_levels["LHR1"]["1002"] == 48
    assert hq_levels["KHI1"]["1001"] == 55 and hq_levels["KHI1"]["1002"] == 52


@needs_pg
def test_a_transfer_reaches_only_its_two_branches(sites):
    """Row-level security at the head office: a third branch's credential cannot read it."""
    s = sites
    with at(s["LHR1"]):
        t = transfers.create(Branch.get(Branch.code == "LHR1").id, Branch.get(Branch.code == "KHI1").id,
                             staff_id("ayesha"), [transfers.TransferItem(vid("1003"), 1)])
        transfers.dispatch(t.number, staff_id("ayesha"), shopify_enabled=False)
    sync(s, "LHR1")
    seen = {}
    for code in ("KHI1", "ISB1"):
        ln = link(s, code)
        hq_db = ln._hq()
        seen[code] = [hq_db.execute_sql(f"SELECT count(*) FROM {table}").fetchone()[0]
                      for table in ("transfer", "transfer_line")]
        ln.close()
    assert seen == {"KHI1": [1, 1], "ISB1": [0, 0]}


@needs_pg
def test_a_transfer_is_received_only_where_it_is_addressed(sites):
    s = sites
    with at(s["LHR1"]):
        t = transfers.create(Branch.get(Branch.code == "LHR1").id, Branch.get(Branch.code == "KHI1").id,
                             staff_id("ayesha"), [transfers.TransferItem(vid("1003"), 1)])
        transfers.dispatch(t.number, staff_id("ayesha"), shopify_enabled=False)
        with pytest.raises(StateError, match="goes to KHI1; it is received there, not at LHR1"):
            transfers.receive(t.number, staff_id("ayesha"), {vid("1003"): 1}, shopify_enabled=False)
        assert stock("LHR1")["1003"] == 49


def test_migration_9_keeps_transfers_already_received(site):
    """A shop that received and settled transfers before issue 14: its receipts and settlements
    become rows of their own, so the transfer's status (now their projection) stays as it was."""
    from pos_core import migrations
    from pos_core.models import WORKFLOW_MODELS, TransferLine
    t = transfers.create(site.lhr.id, site.khi.id, site.cashier.id,
                         [transfers.TransferItem(site.kurta.id, 10), transfers.TransferItem(site.suit.id, 4)])
    transfers.dispatch(t.number, site.cashier.id, shopify_enabled=False)
    transfers.receive(t.number, site.cashier.id, {site.kurta.id: 8, site.suit.id: 5}, shopify_enabled=False)
    transfers.resolve(t.number, 1, "returned_to_sender", site.manager.id, shopify_enabled=False)
    before = [(l.line_no, l.qty_received, l.resolution) for l in TransferLine.select().order_by(TransferLine.line_no)]
    assert before == [(1, 8, "returned_to_sender"), (2, 5, None)]
    with db.write():   # the database as it was at schema 8
        db.database.drop_tables(WORKFLOW_MODELS)
        migrations.SchemaMigration.delete().where(migrations.SchemaMigration.version == 9).execute()
    assert migrations.migrate() == [9]
    r = TransferReceipt.get()
    assert (r.branch_id, r.received_by_id) == (site.khi.id, site.cashier.id)
    assert [(x.line_no, x.qty_received) for x in r.lines] == [(1, 8), (2, 5)]
    assert [(x.line_no, x.resolution, x.branch_id) for x in TransferSettlement.select()] == \
        [(1, "returned_to_sender", site.lhr.id)]
    with db.write():
        transfers.project(t.id)
    assert transfers.get(t.number).status == "DISCREPANCY"
    assert [(l.line_no, l.qty_received, l.resolution) for l in TransferLine.select().order_by(TransferLine.line_no)] == before
    t = transfers.resolve(t.number, 2, "sender_sent_extra", site.manager.id, shopify_enabled=False)
    assert t.status == "RECEIVED" and ledger.check() == []


# --- customers and store credit --------------------------------------------------------------

def _trade(code):
    b = Branch.get(Branch.code == code)
    counter = Counter.get(Counter.branch == b, Counter.code == "C1")
    shift = Shift.select().where((Shift.counter == counter.id) & Shift.closed_at.is_null()).get()
    return counter, shift


def _sell(code, sku, customer, credit_paisa=0):
    counter, shift = _trade(code)
    v = Variant.get(Variant.sku == sku)
    tenders = [sales.Tender("store_credit", Decimal(credit_paisa) / 100)] if credit_paisa else []
    if v.price_paisa > credit_paisa:
        tenders.append(sales.Tender("cash", Decimal(v.price_paisa - credit_paisa) / 100))
    return sales.complete_sale(POLICY, counter_id=counter.id, shift_id=shift.id, staff_id=staff_id("ayesha"),
                               lines=[sales.SaleLine(v.id, 1)], tenders=tenders, customer_id=customer.id)


def _balance(phone="03001234567") -> int:
    return customers.find_by_phone(phone).store_credit_paisa


@needs_pg
def test_one_customer_chain_wide_and_credit_overdrawn_offline_is_flagged(sites, tmp_path):
    s = sites
    # Both branches make the same customer while offline, each with a purchase.
    with at(s["LHR1"]):
        sana = customers.get_or_create("0300-1234567", "Sana")
        sale = _sell("LHR1", "1004", sana)
        counter, shift = _trade("LHR1")
        # she returns it for store credit (Rs 1,299) in Lahore
        refunds.refund(POLICY, counter_id=counter.id, shift_id=shift.id, staff_id=staff_id("ayesha"),
                       sale_uid=sale.uid, lines=[refunds.ReturnLine(sale.lines[0].id, 1)],
                       tenders=[sales.Tender("store_credit", Decimal("1299"))], approver_id=staff_id("imran"))
        assert _balance() == 1299_00
    with at(s["KHI1"]):
        sana_k = customers.get_or_create("+92 300 1234567", "")
        karachi_sale = _sell("KHI1", "1001", sana_k)
        customers.set_profile(sana_k.id, name="Sana Khan")   # the later edit: her full name
    sync(s, "LHR1")
    sync(s, "KHI1")
    with at(s["hq"]):
        assert Customer.select().count() == 1
        c = Customer.get()
        assert (c.phone, c.name, c.store_credit_paisa) == ("+923001234567", "Sana Khan", 1299_00)
        where = {(p.where, p.kind) for p in customers.profile(c.id).purchases}
        assert where == {("LHR1", "sale"), ("LHR1", "refund"), ("KHI1", "sale")}   # both histories
        assert PosOrder.get(PosOrder.uid == karachi_sale.uid).customer_id == c.id
        assert hq.overdrafts() == []
    # The credit earned in Lahore reaches Karachi (and Lahore hears of the name).
    for code in ("KHI1", "LHR1"):
        with at(s[code]):
            ln = link(s, code)
            pull_until(ln, lambda: _balance() == 1299_00 and customers.find_by_phone("03001234567").name == "Sana Khan")
            assert unsent(ln) == 0
            ln.close()
            assert Customer.select().count() == 1

    # Both links down; each branch spends Rs 1,000 of the Rs 1,299 on the same day.
    with at(s["LHR1"]):
        lahore_spend = _sell("LHR1", "1003", customers.find_by_phone("03001234567"), credit_paisa=500_00)
        lahore_spend2 = _sell("LHR1", "1003", customers.find_by_phone("03001234567"), credit_paisa=500_00)
        assert _balance() == 299_00
    with at(s["KHI1"]):
        karachi_spend = _sell("KHI1", "1004", customers.find_by_phone("03001234567"), credit_paisa=1000_00)
        assert _balance() == 299_00
    sync(s, "KHI1")
    sync(s, "LHR1")
    with at(s["hq"]):
        assert _balance() == -701_00                       # not clipped: what is owed shows
        assert CreditEntry.select().count() == 4
        [o] = hq.overdrafts()
        assert (o["what"], o["phone"], o["balance"]) == ("credit", "+923001234567", -701_00)
        assert sorted((d["branch"], d["doc_ref"], d["delta"]) for d in o["documents"]) == sorted([
            ("LHR1", lahore_spend.number, -500_00), ("LHR1", lahore_spend2.number, -500_00),
            ("KHI1", karachi_spend.number, -1000_00)])
        assert ledger.check() == []
    # pos-admin at the head office shows it for a manager, and exits 1 while it stands
    cfg = tmp_path / "hq.toml"
    cfg.write_text(f'[database]\nurl = "{s["hq"]}"\n')
    r = subprocess.run([sys.executable, "-m", "pos_core.admin", "--config", str(cfg), "hq", "overdrafts"],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert "+923001234567 Sana Khan: store credit Rs -701.00" in r.stdout
    assert karachi_spend.number in r.stdout and lahore_spend.number in r.stdout and "KHI1" in r.stdout
    # every site ends with the same entries and the same (negative) balance
    for code in ("KHI1", "LHR1"):
        with at(s[code]):
            ln = link(s, code)
            pull_until(ln, lambda: CreditEntry.select().count() == 4)
            ln.close()
            assert _balance() == -701_00 and ledger.check() == []
            assert ChainParked.select().where(ChainParked.resolved_at.is_null()).count() == 0
    with at(s["hq"]):
        assert hq.parked() == []


# --- staff managed once, at the head office ----------------------------------------------------

def _admin(cfg, *args, pin=None):
    import os
    env = dict(os.environ)
    if pin is not None:
        env["POS_NEW_PIN"] = pin
    return subprocess.run([sys.executable, "-m", "pos_core.admin", "--config", str(cfg), *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@needs_pg
def test_staff_managed_at_the_head_office_reach_a_branch_that_was_offline(sites, tmp_path):
    s = sites
    hq_cfg, khi_cfg = tmp_path / "hq.toml", tmp_path / "khi.toml"
    hq_cfg.write_text(f'[database]\nurl = "{s["hq"]}"\n')
    khi_cfg.write_text(f'[database]\nurl = "{s["KHI1"]}"\n')
    r = _admin(hq_cfg, "staff", "add", "bilal", "Bilal", "cashier", "--branches", "KHI1", pin="4444")
    assert r.returncode == 0 and "added bilal (Bilal, cashier, KHI1)" in r.stdout, r.stderr
    r = _admin(hq_cfg, "staff", "add", "bilal", "Bilal", "cashier", pin="4444")
    assert r.returncode == 1 and "staff code 'bilal' is taken" in r.stderr and "Traceback" not in r.stderr
    r = _admin(hq_cfg, "staff", "add", "zara", "Zara", "cashier", "--branches", "QTA1", pin="12")
    assert r.returncode == 1 and "a PIN is 4 to 8 digits" in r.stderr
    with at(s["KHI1"]):
        ln = link(s, "KHI1")
        pull_until(ln, lambda: staff.authenticate("4444") is not None)
        ln.close()
        assert staff.authenticate("4444").code == "bilal"
    # a branch box refuses to change staff itself: the change would never travel
    r = _admin(khi_cfg, "staff", "disable", "ayesha")
    assert r.returncode == 1 and "staff are managed at the head office" in r.stderr
    # Karachi is offline for days; the head office disables Bilal and gives Imran a new PIN
    assert _admin(hq_cfg, "staff", "disable", "bilal").returncode == 0
    r = _admin(hq_cfg, "staff", "reset-pin", "imran", pin="98765")
    assert r.returncode == 0, r.stderr
    with at(s["KHI1"]):
        assert staff.authenticate("4444").code == "bilal"      # the branch's last copy, while offline
        assert staff.authenticate("3333").code == "imran"
        ln = link(s, "KHI1")
        pull_until(ln, lambda: staff.authenticate("4444") is None)
        pull_until(ln, lambda: staff.authenticate("98765") is not None)
        ln.close()
        assert staff.authenticate("3333") is None
        assert unsent(ln) == 0
    r = _admin(hq_cfg, "staff", "list")
    assert r.returncode == 0 and "bilal" in r.stdout and "disabled" in r.stdout


@needs_pg
def test_a_head_office_upgraded_to_migration_9_lets_branches_read_the_new_tables(sites):
    s = sites
    from pos_core import migrations
    from pos_core.models import WORKFLOW_MODELS
    with at(s["hq"]):
        with db.write():   # the head office as it was at schema 8
            db.database.drop_tables(WORKFLOW_MODELS)
            migrations.SchemaMigration.delete().where(migrations.SchemaMigration.version == 9).execute()
        assert migrations.migrate() == [9]
    ln = link(s, "KHI1")
    hq_db = ln._hq()
    assert [hq_db.execute_sql(f"SELECT count(*) FROM {m._meta.table_name}").fetchone()[0]
            for m in WORKFLOW_MODELS] == [0, 0, 0]
    ln.close()


def test_a_transfer_whose_lines_have_not_arrived_is_not_received(site):
    from pos_core.models import TransferLine
    t = transfers.create(site.lhr.id, site.khi.id, site.cashier.id, [transfers.TransferItem(site.kurta.id, 2)])
    transfers.dispatch(t.number, site.cashier.id, shopify_enabled=False)
    with db.write():   # as a branch's copy may be for a moment, between two pulls
        TransferLine.delete().where(TransferLine.transfer == t.id).execute()
    with pytest.raises(StateError, match="has not fully arrived from the head office yet"):
        transfers.receive(t.number, site.cashier.id, {}, shopify_enabled=False)
    assert TransferReceipt.select().count() == 0
