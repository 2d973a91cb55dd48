"""Issue 14: in a chain only the branch holding the claim on an online order's lines dispatches them
and marks them delivered or returned; another branch is refused, told which branch holds them. A
head office (PostgreSQL) and two branch boxes (SQLite files), as in test_chain_workflows. The claim
is asked at the head office; with the link down the branch goes by the claims it kept."""
from __future__ import annotations

import pytest

from chain_kit import at, pull_until, role_url
from pos_core import config as configmod, db, fulfillments, hq, hq_claims, ledger
from pos_core.errors import InvalidInput, StateError
from pos_core.models import Branch, Fulfillment, OrderClaim, SmartOrder, SmartOrderLine, Variant

from test_chain_workflows import link, needs_pg, sites, staff_id, stock, sync  # noqa: F401 (sites: a fixture)

DEAD = "postgresql://nobody@127.0.0.1:1/none"
ORDER, LEGACY = "gid://shopify/Order/3001", "gid://shopify/Order/3002"


def cfg(tmp_path, s, code, up=True):
    return configmod.parse({"database": {"url": s[code]}, "counter": {"branch": code, "code": "C1"},
                            "hq": {"role": "branch", "branch": code,
                                   "url": role_url(s["hq_name"], code) if up else DEAD}},
                           tmp_path / f"{code}-{up}.toml")


def order_id(shopify_id=ORDER) -> int:
    return SmartOrder.get(SmartOrder.shopify_id == shopify_id).id


def line_id(shopify_line) -> int:
    return SmartOrderLine.get((SmartOrderLine.order == order_id()) & (SmartOrderLine.shopify_line_id == shopify_line)).id


def here(code) -> int:
    return Branch.get(Branch.code == code).id


def manager_moves_l1_to_karachi(s, khi) -> None:
    """A manager at the head office gives line L1 away (`pos-admin hq release`), Karachi claims it."""
    with at(s["hq"]):
        assert hq.release_claim(ORDER, ["L1"]) == {"L1": "LHR1"}
    with at(s["KHI1"]):
        assert hq_claims.claim_for(khi, order_id(), [line_id("L1")], "KHI1").ok


@needs_pg
def test_only_the_branch_holding_the_claim_dispatches_delivers_and_takes_returns(sites, tmp_path):
    s = sites
    make_orders(s)
    lhr, lhr_off = cfg(tmp_path, s, "LHR1"), cfg(tmp_path, s, "LHR1", up=False)
    khi = cfg(tmp_path, s, "KHI1")
    ayesha = None

    # Lahore claims the order and packs it; Karachi is refused, told Lahore holds it
    with at(s["LHR1"]):
        ayesha = staff_id("ayesha")
        opening = stock("LHR1")
        assert hq_claims.claim_for(lhr, order_id(), None, "LHR1").ok
        shipment = fulfillments.create(order_id(), here("LHR1"), ayesha).uid
        fulfillments.pack(shipment, ayesha)
        assert hq_claims.kept(ORDER) == {"L1": "LHR1", "L2": "LHR1"}
    with at(s["KHI1"]):
        with pytest.raises(StateError, match="order #3001 is held by LHR1: not claimed here"):
            hq_claims.claim_for(khi, order_id(), None, "KHI1")
        assert hq_claims.kept(ORDER) == {"L1": "LHR1", "L2": "LHR1"}     # what the head office said

    # a manager moves line 1 to Karachi: Lahore may no longer dispatch it, online or off
    manager_moves_l1_to_karachi(s, khi)
    with at(s["LHR1"]):
        with pytest.raises(StateError, match="order #3001 is held by KHI1: only KHI1 may dispatch it, not LHR1"):
            hq_claims.may_act(lhr, shipment, "dispatch")
        assert hq_claims.kept(ORDER) == {"L1": "KHI1", "L2": "LHR1"}
        with pytest.raises(StateError, match="only KHI1 may dispatch it, not LHR1"):
            hq_claims.may_act(lhr_off, shipment, "dispatch")
        assert Fulfillment.get(Fulfillment.uid == shipment).status == "PACKED"
    # Karachi gives it back; Lahore dispatches (the head office gives the free line back to it)
    with at(s["KHI1"]):
        assert "KHI1's claim on 1 line(s) given back" in hq_claims.release_unheld(khi, order_id())
        assert hq_claims.kept(ORDER) == {"L2": "LHR1"}
    with at(s["LHR1"]):
        assert hq_claims.may_act(lhr, shipment, "dispatch") == ""
        fulfillments.dispatch(shipment, ayesha, "TCS", "TCS-1", shopify_enabled=False)

    # moved again after dispatch: Lahore cannot mark it delivered (online, nor offline by its copy)
    manager_moves_l1_to_karachi(s, khi)
    with at(s["LHR1"]):
        with pytest.raises(StateError, match="order #3001 is held by KHI1: only KHI1 may mark it delivered, not LHR1"):
            hq_claims.may_act(lhr, shipment, "deliver")
        with pytest.raises(StateError, match="only KHI1 may mark it returned, not LHR1"):
            hq_claims.may_act(lhr_off, shipment, "returned")
    with at(s["KHI1"]):
        hq_claims.release_unheld(khi, order_id())
    # given back: delivered online; then returned with the link down, by the claim Lahore kept
    with at(s["LHR1"]):
        assert hq_claims.may_act(lhr, shipment, "deliver") == ""
        fulfillments.deliver(shipment, ayesha, shopify_enabled=False)
        note = hq_claims.may_act(lhr_off, shipment, "returned")
        assert note == " (head office unreachable: LHR1's claim checked against its kept copy)"
        fulfillments.mark_returned(shipment, ayesha, here("LHR1"), shopify_enabled=False)
        assert stock("LHR1") == opening                         # packed -1, returned +1 each

        # a shipment packed before the chain (no claim anywhere): offline dispatch is refused,
        # online the head office grants it
        legacy = fulfillments.create(order_id(LEGACY), here("LHR1"), ayesha).uid
        fulfillments.pack(legacy, ayesha)
        with pytest.raises(StateError, match=r"the head office cannot confirm LHR1's claim on order #3002 \(.*\) "
                                             "and this branch has no copy of it: dispatch once the link is back"):
            hq_claims.may_act(lhr_off, legacy, "dispatch")
        assert hq_claims.may_act(lhr, legacy, "dispatch") == "" and hq_claims.kept(LEGACY) == {"L1": "LHR1"}
        fulfillments.dispatch(legacy, ayesha, "TCS", "TCS-2", shopify_enabled=False)
        # in a chain a branch's stock moves only on its own box
        with pytest.raises(StateError, match="the goods would leave KHI1: fix its stock at KHI1's counter, not at LHR1"):
            hq_claims.goods_here(lhr, "KHI1", "fix its stock")
        hq_claims.goods_here(lhr, "LHR1", "fix its stock")
    single = configmod.parse({"database": {"url": s["LHR1"]}}, tmp_path / "one.toml")
    assert hq_claims.may_act(single, shipment, "dispatch") == "" and hq_claims.goods_here(single, "KHI1", "x") is None

    books_balance(s)
    with at(s["hq"]):
        assert {f.status for f in Fulfillment.select()} == {"RETURNED", "DISPATCHED"}
        assert hq.claims(ORDER) == {"L1": "LHR1", "L2": "LHR1"}
    with at(s["LHR1"]):
        assert OrderClaim.select().count() == 3
    # the stored dispatch time (migration 13) travels with the shipment
    sent = {}
    for code in ("LHR1", "KHI1"):
        with at(s[code]):
            sent.update({f.uid: f.dispatched_at for f in Fulfillment.select()})
    with at(s["hq"]):
        assert {f.uid: f.dispatched_at for f in Fulfillment.select()} == sent
    assert len(sent) == 2 and all(sent.values()), sent


def make_orders(s) -> None:
    with at(s["hq"]):
        with db.write():
            for shopify_id, name, lines in ((ORDER, "#3001", (("L1", "1001"), ("L2", "1002"))),
                                            (LEGACY, "#3002", (("L1", "1003"),))):
                o = SmartOrder.create(shopify_id=shopify_id, name=name, created_at_shopify="2026-12-07T10:00:00Z",
                                      updated_at_shopify="2026-12-07T10:00:00Z")
                for line, sku in lines:
                    v = Variant.get(Variant.sku == sku)
                    SmartOrderLine.create(order=o, shopify_line_id=line, sku=sku, name=v.name, variant=v,
                                          quantity=1, current_quantity=1, unit_price_paisa=v.price_paisa)
    for code in ("LHR1", "KHI1"):
        with at(s[code]):
            ln = link(s, code)
            pull_until(ln, lambda: SmartOrderLine.select().count() == 3)
            ln.close()


def books_balance(s) -> None:
    """Every step went up and applied at the head office; check-stock is clean at every site and the
    head office's stock equals each branch's."""
    sync(s, "LHR1")
    sync(s, "KHI1")
    for code in ("LHR1", "KHI1"):
        with at(s[code]):
            assert ledger.check() == []
            mine = stock(code)
        with at(s["hq"]):
            assert stock(code) == mine
    with at(s["hq"]):
        assert ledger.check() == [] and hq.parked() == []


def agent_pass(s, code, policy=None) -> dict:
    """One run of the branch agent's hq channel (push, pull, the kept claims): no till involved."""
    with at(s[code]):
        ln = link(s, code)
        ln.policy = policy
        try:
            return ln.run_once()
        finally:
            ln.close()


@needs_pg
def test_release_warns_of_a_dispatched_shipment_and_moved_claims_reach_the_branch_by_its_agent(sites, tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    s = sites
    make_orders(s)
    lhr, khi = cfg(tmp_path, s, "LHR1"), cfg(tmp_path, s, "KHI1")
    with at(s["LHR1"]):
        ayesha = staff_id("ayesha")
        assert hq_claims.claim_for(lhr, order_id(), None, "LHR1").ok
        shipment = fulfillments.create(order_id(), here("LHR1"), ayesha).uid
        fulfillments.pack(shipment, ayesha)
        fulfillments.dispatch(shipment, ayesha, "TCS", "TCS-9", shopify_enabled=False)
    sync(s, "LHR1")
    admin_cfg = tmp_path / "hq.toml"
    admin_cfg.write_text(f'[database]\nurl = "{s["hq"]}"\n')

    def admin(*args):
        return subprocess.run([sys.executable, "-m", "pos_core.admin", "--config", str(admin_cfg), "hq", "release",
                               ORDER, *args], cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True,
                              timeout=60)
    r = admin("L1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"L1 in LHR1's shipment {shipment[:8]} (DISPATCHED): the goods have left LHR1" in r.stderr
    assert "nothing released: give --force to release them anyway" in r.stderr
    with at(s["hq"]):
        assert hq.claims(ORDER) == {"L1": "LHR1", "L2": "LHR1"}          # untouched
        assert hq.dispatched_in(LEGACY) == []
    r = admin("L1", "--force")
    assert r.returncode == 0 and "L1: LHR1's claim given back" in r.stdout, r.stdout + r.stderr
    with at(s["KHI1"]):
        assert hq_claims.claim_for(khi, order_id(), [line_id("L1")], "KHI1").ok

    # Lahore's agent brings the moved claim into Lahore's copy: no till asked
    with at(s["LHR1"]):
        assert hq_claims.kept(ORDER) == {"L1": "LHR1", "L2": "LHR1"}
    assert agent_pass(s, "LHR1")["claims"] == 2                        # L1 now Karachi's (one out, one in)
    with at(s["LHR1"]):
        assert hq_claims.kept(ORDER) == {"L1": "KHI1", "L2": "LHR1"}
        with pytest.raises(StateError, match="only KHI1 may mark it delivered, not LHR1"):
            hq_claims.may_act(cfg(tmp_path, s, "LHR1", up=False), shipment, "deliver")
    # the head office drops Karachi's claim: Lahore's copy drops it too on the next pass
    assert admin("L1", "--force").returncode == 0
    assert agent_pass(s, "LHR1")["claims"] == 1
    with at(s["LHR1"]):
        assert hq_claims.kept(ORDER) == {"L2": "LHR1"}
    assert agent_pass(s, "LHR1").get("claims") in (None, 0)          # nothing changed: nothing written


@needs_pg
def test_a_parcel_returned_to_another_branch_is_taken_in_there_once(sites, tmp_path):
    import dataclasses
    from pos_core import couriers, hq_returns, outbox, policy as policymod
    from pos_core.models import Consignment
    s = sites
    make_orders(s)
    lhr, khi, khi_off = cfg(tmp_path, s, "LHR1"), cfg(tmp_path, s, "KHI1"), cfg(tmp_path, s, "KHI1", up=False)
    with at(s["LHR1"]):
        ayesha = staff_id("ayesha")
        lahore = stock("LHR1")
        assert hq_claims.claim_for(lhr, order_id(), None, "LHR1").ok
        shipment = fulfillments.create(order_id(), here("LHR1"), ayesha).uid
        fulfillments.pack(shipment, ayesha)
        fbr_on = dataclasses.replace(policymod.from_config(lhr), fbr_enabled=True, fbr_posid="812345")
        fulfillments.dispatch(shipment, ayesha, "TCS", "TCS-7", shopify_enabled=False, policy=fbr_on)
        with db.write():     # as if booked through the courier's API, which Lahore's returns desk lists
            parcel = Consignment.create(fulfillment=Fulfillment.get(Fulfillment.uid == shipment).id, courier="leopards",
                                        status=couriers.RETURNING, reference=f"ref-{shipment}", tracking_number="LE-7")
    sync(s, "LHR1")
    with at(s["KHI1"]):
        karachi, bilal = stock("KHI1"), staff_id("ayesha")
        with pytest.raises(StateError, match="needs the head-office link, and it is down .*nothing was taken in"):
            hq_returns.take_in(khi_off, "TCS-7", bilal, shopify_enabled=True)
        assert stock("KHI1") == karachi
        with pytest.raises(InvalidInput, match="the head office has no dispatched parcel TCS-404"):
            hq_returns.take_in(khi, "TCS-404", bilal, shopify_enabled=True)
        back = hq_returns.take_in(khi, "TCS-7", bilal, shopify_enabled=True)
        assert back.mode == "return_in" and back.branch.code == "KHI1"
        assert stock("KHI1") == {k: v + (1 if k in ("1001", "1002") else 0) for k, v in karachi.items()}
        again = hq_returns.take_in(khi, "TCS-7", bilal, shopify_enabled=True)      # scanned twice: once
        assert again.uid == back.uid and stock("KHI1")["1001"] == karachi["1001"] + 1
        # (the restock at Karachi's location, sent by the head office: test_chain_shopify.py)
        assert [j.kind for j in outbox.jobs_for(ORDER, outbox.SHOPIFY)] == ["tags_add"]
    with at(s["hq"]):
        assert [r[2] for r in db.database.execute_sql("SELECT * FROM hq_return").fetchall()] == ["KHI1"]
    with at(s["LHR1"]):
        with pytest.raises(StateError, match="already taken back at KHI1: the goods are there, not at LHR1"):
            hq_claims.may_act(lhr, shipment, "returned")
        assert Fulfillment.get(Fulfillment.uid == shipment).status == "DISPATCHED"
    agent_pass(s, "LHR1", fbr_on)         # Lahore's agent hears it: its shipment came back at Karachi
    with at(s["LHR1"]):
        f = Fulfillment.get(Fulfillment.uid == shipment)
        assert f.status == "RETURNED" and f.history[-1]["branch"] == "KHI1" and f.history[-1]["elsewhere"]
        fbr = [j.kind for j in outbox.jobs_for(shipment, outbox.FBR)]
        assert fbr == ["invoice", "credit_note"]                        # Lahore's POSID credits its own OL invoice
        parcel = Consignment.get_by_id(parcel.id)
        assert parcel.status == couriers.RETURNED and parcel.received_branch.code == "KHI1"
        assert stock("LHR1") == {k: v - (1 if k in ("1001", "1002") else 0) for k, v in lahore.items()}
    books_balance(s)
    with at(s["hq"]):
        assert Fulfillment.get(Fulfillment.uid == shipment).status == "RETURNED"


def test_migration_16_adds_the_chain_copies_to_a_database_without_them(sqlite_db):
    from pos_core import migrations
    from pos_core.models import COPY_MODELS, ChainStockCopy
    with db.write():
        db.database.drop_tables(COPY_MODELS)
        migrations.SchemaMigration.delete().where(migrations.SchemaMigration.version == 16).execute()
    with pytest.raises(migrations.SchemaError, match=r"lacks schema migration\(s\) \[16\]"):
        migrations.check_current()
    assert migrations.migrate() == [16]
    migrations.check_current()
    hq_claims.keep(ORDER, {"L1": "LHR1", "L2": None})
    assert hq_claims.kept(ORDER) == {"L1": "LHR1"} and ChainStockCopy.select().count() == 0
