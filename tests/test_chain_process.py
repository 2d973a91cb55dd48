"""The chain with real processes: a head office on PostgreSQL with its agent, two branch boxes
(SQLite files) with theirs, and a fault-injecting TCP proxy on each branch's link. The branches
sell, refund, adjust, take cash out, dispatch a transfer and close shifts while links are cut and
flap and agents are SIGKILLed mid-push; after the links heal every document is at the head office
exactly once and the head office's stock per branch equals each branch's own ledger."""
from __future__ import annotations

import os
import signal
import time
from decimal import Decimal
from pathlib import Path

import pytest

from chain_kit import Agent, PG_URL, at, drop_hq, new_branch_db, new_hq, open_for_trade, role_url, wait_for
from faultproxy import FaultProxy
from pos_core import db, hq, ledger, sales
from pos_core.models import Branch, PosOrder, StockLevel, Variant
from pos_core.policy import SalePolicy

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs POS_TEST_PG_URL (the head office is PostgreSQL)")
REPO = Path(__file__).resolve().parents[1]
POLICY = SalePolicy()


def _pg_port() -> int:
    from urllib.parse import urlparse
    return urlparse(PG_URL).port or 5432


def sell_many(url, code, n, counter_shift_cashier):
    counter, shift, cashier = counter_shift_cashier
    made = []
    with at(url):
        skus = [v for v in Variant.select().order_by(Variant.sku)]
        for i in range(n):
            v = skus[i % len(skus)]
            o = sales.complete_sale(POLICY, counter_id=counter.id, shift_id=shift.id, staff_id=cashier.id,
                                    lines=[sales.SaleLine(v.id, 1)],
                                    tenders=[sales.Tender("cash", Decimal(v.price_paisa) / 100)])
            made.append(o.uid)
    return made


def other_documents(url, code, till, sold_uid):
    """A refund, an adjustment, cash out of the drawer and (Lahore) a transfer to Karachi, then the
    shift closed: the documents other than sales that go up. Returns their uids."""
    from pos_core import adjustments, refunds, shifts, transfers
    from pos_core.models import Staff
    counter, shift, cashier = till
    made = {}
    with at(url):
        manager = Staff.get(Staff.code == "imran")
        sale = PosOrder.get(PosOrder.uid == sold_uid)
        made["refund"] = refunds.refund(POLICY, counter_id=counter.id, shift_id=shift.id, staff_id=manager.id,
                                        sale_uid=sale.uid, lines=[refunds.ReturnLine(sale.lines[0].id, 1)]).uid
        v = Variant.get(Variant.sku == "1003")
        made["adjustment"] = adjustments.create(counter.branch_id, manager.id, "damaged",
                                                [adjustments.AdjustItem(v.id, -2)], "water damage",
                                                shopify_enabled=False).uid
        made["cash"] = shifts.cash_movement(shift.id, manager.id, "out", "500", "tea and biscuits").uid
        if code == "LHR1":
            khi = Branch.get(Branch.code == "KHI1")
            t = transfers.create(counter.branch_id, khi.id, manager.id, [transfers.TransferItem(v.id, 3)])
            made["transfer"] = transfers.dispatch(t.number, manager.id, shopify_enabled=False).uid
        made["shift"] = shifts.close_shift(shift.id, manager.id, {5000: 1}).uid
    return made


def levels(code) -> dict[str, int]:
    b = Branch.get(Branch.code == code)
    return dict(StockLevel.select(Variant.sku, StockLevel.on_hand).join(Variant)
                .where(StockLevel.branch == b.id).tuples())


def test_two_branches_and_a_head_office_converge_through_faults(tmp_path):
    hq_url, hq_name = new_hq()
    agents: list[Agent] = []
    proxies: dict[str, FaultProxy] = {}
    try:
        with at(hq_url):
            hq.add_branch("LHR1")
            hq.add_branch("KHI1")
        (tmp_path / "hq.toml").write_text(f'[database]\nurl = "{hq_url}"\n[hq]\nrole = "head-office"\n'
                                          f'push_seconds = "0.5"\n')
        hq_agent = Agent(tmp_path / "hq.toml", tmp_path / "hq.log")
        urls, branch_agents = {}, {}
        for code in ("LHR1", "KHI1"):
            urls[code] = new_branch_db(tmp_path / f"{code}.db")
            proxies[code] = FaultProxy(_pg_port())
            link_url = role_url(hq_name, code).replace(f":{_pg_port()}/", f":{proxies[code].port}/")
            cfg = tmp_path / f"{code}.toml"
            cfg.write_text(f'[database]\nurl = "{urls[code]}"\n[counter]\nbranch = "{code}"\ncode = "C1"\n'
                           f'[hq]\nrole = "branch"\nurl = "{link_url}"\npush_seconds = "0.5"\ntimeout_seconds = 5\n')
            branch_agents[code] = Agent(cfg, tmp_path / f"{code}.log")
        agents = [hq_agent, *branch_agents.values()]
        for a in agents:
            a.start()

        def has_catalog(code):
            with at(urls[code]):
                return Variant.select().count() == 4 and Branch.select().count() == 2
        for code in urls:
            wait_for(f"{code} to pull the catalog", lambda: has_catalog(code), timeout=30)
        till = {}
        for code in urls:
            with at(urls[code]):
                till[code] = open_for_trade(code)

        sold = {"LHR1": [], "KHI1": []}
        # Lahore's link is down: it keeps selling
        proxies["LHR1"].cut()
        sold["LHR1"] += sell_many(urls["LHR1"], "LHR1", 150, till["LHR1"])
        # Karachi's link flaps: connections die after a few KB, mid-transaction
        proxies["KHI1"].flap(300, 6000)
        sold["KHI1"] += sell_many(urls["KHI1"], "KHI1", 150, till["KHI1"])
        time.sleep(2)
        # Lahore's link comes back and its agent is SIGKILLed while it pushes the backlog
        proxies["LHR1"].heal()
        time.sleep(0.7)
        branch_agents["LHR1"].kill9()
        sold["LHR1"] += sell_many(urls["LHR1"], "LHR1", 20, till["LHR1"])
        branch_agents["LHR1"].start()
        # the head office's agent is SIGKILLed too, and restarted
        hq_agent.kill9()
        sold["KHI1"] += sell_many(urls["KHI1"], "KHI1", 20, till["KHI1"])
        hq_agent.start()
        docs = {code: other_documents(urls[code], code, till[code], sold[code][0]) for code in urls}
        proxies["KHI1"].heal()

        def converged():
            with at(hq_url):
                waiting = db.database.execute_sql("SELECT count(*) FROM hq_inbox WHERE status = 'NEW'").fetchone()[0]
                return waiting == 0 and PosOrder.select().count() == sum(len(v) + 1 for v in sold.values())
        try:
            wait_for("the head office to hold every sale", converged, timeout=90, every=0.5)
        except AssertionError:
            for a in agents:          # their stacks into their logs, for whoever reads them
                if a.proc.poll() is None:
                    os.kill(a.proc.pid, signal.SIGUSR1)
            time.sleep(1)
            raise

        with at(hq_url):
            for code, uids in sold.items():
                at_hq = [o.uid for o in PosOrder.select(PosOrder.uid).join(Branch).where(Branch.code == code)]
                assert sorted(at_hq) == sorted(uids + [docs[code]["refund"]]), code   # each once, nothing else
            hq_levels = {code: levels(code) for code in sold}
            from pos_core.models import Adjustment, CashMovement, Shift, Transfer
            for code, made in docs.items():
                assert PosOrder.get(PosOrder.uid == made["refund"]).original.uid == sold[code][0]
                assert Adjustment.get(Adjustment.uid == made["adjustment"]).branch.code == code
                assert CashMovement.get(CashMovement.uid == made["cash"]).amount_paisa == 500_00
                assert Shift.get(Shift.uid == made["shift"]).status == "CLOSED"
            t = Transfer.get(Transfer.uid == docs["LHR1"]["transfer"])
            assert t.status == "DISPATCHED" and [l.qty_sent for l in t.lines] == [3]
            assert ledger.check() == []
            assert hq.parked() == []
            status = {r["branch"]: r for r in hq.status()}
        for code in sold:
            with at(urls[code]):
                assert levels(code) == hq_levels[code]                # the head office's copy = the ledger
                assert ledger.check() == []
                # the till's status row says the link is up and nothing waits
                from pos_core import heartbeat
                wait_for("a fresh heartbeat", lambda: heartbeat.get_detail("hq").get("pending") == 0, timeout=10)
                detail = heartbeat.get_detail("hq")
                assert detail["up"] is True and detail["parked_up"] == 0
            assert status[code]["parked"] == 0
    finally:
        for a in agents:
            a.stop()
        for p in proxies.values():
            p.close()
        db.close()
        drop_hq(hq_name)
