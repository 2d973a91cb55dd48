"""Issue 14 at the till: in a chain, shipping an online order first claims its lines at the head
office. Held by another branch: refused, naming it, nothing packed. Released: packed here."""
from __future__ import annotations

import pytest

from chain_kit import PG_URL, at, drop_hq, new_hq, role_url
from pos_core import db, hq, hq_claims
from pos_core.errors import StateError
from pos_core.models import Branch, Fulfillment, SmartOrder, SmartOrderLine
from pos_tui.app import make_app
from sync_agent.hq import claims
from sync_agent.hq.link import BranchLink

from test_till_kit import make_config, open_shift, screen_text, start_selling, till_db  # noqa: F401
from test_till_online_orders import SHOPIFY, open_order, press, record, stocked

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs POS_TEST_PG_URL (the head office is PostgreSQL)")


@pytest.fixture
def office(till_db):
    url, name = new_hq()
    with at(url):
        hq.add_branch("LHR1")
        hq.add_branch("KHI1")
        with db.write():
            o = SmartOrder.create(shopify_id="gid://shopify/Order/2003", name="#2003",
                                  created_at_shopify="2026-11-23T09:00:00Z", updated_at_shopify="2026-11-23T09:00:00Z")
            for line in ("L1", "L2"):
                SmartOrderLine.create(order=o, shopify_line_id=line, name="Lawn", quantity=1, current_quantity=1)
    db.open_database(f"sqlite:///{till_db}")   # back on the till's own database
    yield name
    db.close()
    drop_hq(name)
    db.open_database(f"sqlite:///{till_db}")


async def test_shipping_an_order_another_branch_holds_is_refused_then_packed_once_released(tmp_path, till_db, office):
    a, b = stocked(2)
    order = record("#2003", [("L1", a, 1), ("L2", b, 1)], cod=False)
    karachi = BranchLink(role_url(office, "KHI1"), "", "KHI1")
    assert claims.claim(karachi, "gid://shopify/Order/2003").ok      # Karachi got there first
    open_shift()
    cfg = make_config(tmp_path, till_db, shopify=SHOPIFY, hq={"role": "branch", "url": role_url(office, "LHR1")})
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await open_order(pilot, app, "#2003")
        await press(pilot, app, "f5")
        assert type(app.screen).__name__ == "LinesBranchScreen"
        await press(pilot, app, "f10")
        assert "order #2003 is held by KHI1: not claimed here" in screen_text(app)
        assert Fulfillment.select().where(Fulfillment.order == order.id).count() == 0
        assert claims.release(karachi, "gid://shopify/Order/2003") == 2
        await press(pilot, app, "f10")
        assert type(app.screen).__name__ == "OnlineOrderScreen"
        f = Fulfillment.select().where(Fulfillment.order == order.id).get()
        assert f.status == "PENDING" and len(list(f.lines)) == 2
        assert claims.claim(karachi, "gid://shopify/Order/2003").held_elsewhere == {"L1": "LHR1", "L2": "LHR1"}
        await press(pilot, app, "f6")                # packed at Lahore
        assert Fulfillment.get_by_id(f.id).status == "PACKED"
        await press(pilot, app, "f7")                # unpacked: Lahore gives the lines back
        assert Fulfillment.get_by_id(f.id).status == "UNPACKED"
        assert "LHR1's claim on 2 line(s) given back" in " ".join(screen_text(app).split())
    assert claims.claim(karachi, "gid://shopify/Order/2003").ok       # now Karachi may pack it
    karachi.close()
    with at(hq_url(office)):
        assert hq.claims("gid://shopify/Order/2003") == {"L1": "KHI1", "L2": "KHI1"}
    db.open_database(f"sqlite:///{till_db}")


def hq_url(name):
    import conftest
    return conftest._pg_url(name)


def test_claim_for_refuses_offline_and_another_branchs_goods(tmp_path, till_db, office):
    order = record("#2003", [("L1", stocked(1)[0], 1)], cod=False)
    cfg = make_config(tmp_path, till_db, hq={"role": "branch", "url": "postgresql://nobody@127.0.0.1:1/none"})
    with pytest.raises(StateError, match="needs the head-office link, and it is down"):
        hq_claims.claim_for(cfg, order.id)
    with pytest.raises(StateError, match="the goods would leave KHI1: pack it at KHI1's counter, not at LHR1"):
        hq_claims.claim_for(cfg, order.id, None, "KHI1")
    assert hq_claims.claim_for(make_config(tmp_path, till_db), order.id) is None   # a single shop claims nothing
    # giving a claim back never fails the unpack it follows: offline, it says the claim is still held
    assert "LHR1 still holds its claim on the order at the head office" in hq_claims.release_unheld(cfg, order.id)
    assert hq_claims.release_unheld(make_config(tmp_path, till_db), order.id) == ""
    from pos_core import hq_stock
    with pytest.raises(StateError, match="other branches: the head office cannot be reached"):
        hq_stock.chain_stock(cfg, "1001")
    assert hq_stock.chain_stock(make_config(tmp_path, till_db), "1001") is None


async def test_ctrl_k_shows_every_branch_from_the_head_office(tmp_path, till_db, office):
    from test_till_kit import flat, settle, type_text
    sku = stocked(1)[0]
    open_shift()
    cfg = make_config(tmp_path, till_db, hq={"role": "branch", "url": role_url(office, "LHR1")})
    app = make_app(cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+k")
        await settle(pilot, app)
        await type_text(pilot, sku, enter=True)
        await settle(pilot, app)
        for _ in range(50):
            if "Every branch" in flat(app):
                break
            await pilot.pause(0.1)
        text = flat(app)
        assert "Every branch (head office; as of each branch's last sync)" in text
        assert "KHI1 on hand 0" in text and "as of never" in text


async def test_delivered_and_returned_at_a_branch_that_does_not_hold_the_claim_are_refused(tmp_path, till_db, office):
    from pos_core import fulfillments
    from test_till_kit import flat, staff
    from test_till_online_orders import level
    a, b = stocked(2)
    order = record("#2003", [("L1", a, 1), ("L2", b, 1)], cod=False)
    lhr = Branch.get(Branch.code == "LHR1")
    f = fulfillments.create(order.id, lhr.id, staff("ayesha").id)     # shipped before Karachi took the lines
    fulfillments.pack(f.uid, staff("ayesha").id)
    fulfillments.dispatch(f.uid, staff("ayesha").id, "TCS", "T-9", shopify_enabled=False)
    karachi = BranchLink(role_url(office, "KHI1"), "", "KHI1")
    assert claims.claim(karachi, "gid://shopify/Order/2003").ok
    before = level(a, "LHR1")
    open_shift()
    cfg = make_config(tmp_path, till_db, hq={"role": "branch", "url": role_url(office, "LHR1")})
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await open_order(pilot, app, "#2003")
        await press(pilot, app, "f9")
        assert "order #2003 is held by KHI1: only KHI1 may mark it delivered, not LHR1" in flat(app)
        await press(pilot, app, "f10")                 # a chain branch takes returns into its own stock
        assert "order #2003 is held by KHI1: only KHI1 may mark it returned, not LHR1" in flat(app)
        assert Fulfillment.get_by_id(f.id).status == "DISPATCHED" and level(a, "LHR1") == before
        assert claims.release(karachi, "gid://shopify/Order/2003") == 2
        await press(pilot, app, "f9")
        assert f"Shipment {f.uid[:8]} delivered" in flat(app)
        await press(pilot, app, "f10")
        assert "Why is it coming back?" in flat(app)      # asked once the claim is known to be LHR1's
        await press(pilot, app, "down", "enter", "enter")  # damaged, no note
        assert "Returned: 2 unit(s) back in stock at LHR1" in flat(app)
    assert Fulfillment.get_by_id(f.id).status == "RETURNED" and level(a, "LHR1") == before + 1
    assert Fulfillment.get_by_id(f.id).history[-1]["return_reason"] == "damaged"
    karachi.close()


async def test_the_returns_desk_takes_in_another_branchs_parcel_once(tmp_path, till_db, office):
    """Karachi's parcel, brought back by the courier to Lahore: taken in at Lahore's returns desk after
    a yes (decided at the head office); offline it says it needs the head-office link; twice: once."""
    from pos_core import ledger
    from pos_core.models import FulfillmentLine, Product, Staff, Variant
    from test_till_kit import flat, type_text
    sku = stocked(1)[0]
    record("#2003", [("L1", sku, 1)], cod=False)
    with at(hq_url(office)):      # Karachi's dispatched shipment, as its rows came up to the head office
        with db.write():
            v = Variant.create(product=Product.create(title="Lawn"), sku=sku, name="Lawn", price_paisa=100000)
            o = SmartOrder.get(SmartOrder.shopify_id == "gid://shopify/Order/2003")
            line = SmartOrderLine.get((SmartOrderLine.order == o.id) & (SmartOrderLine.shopify_line_id == "L1"))
            line.variant = v
            line.save()
            f = Fulfillment.create(order=o, mode="smart", branch=Branch.get(Branch.code == "KHI1"), status="DISPATCHED",
                                   tracking_number="KHI-TCS-11", created_by=Staff.get(Staff.code == "ayesha"))
            FulfillmentLine.create(fulfillment=f, line_no=1, order_line=line, variant=v, qty=1)
    db.open_database(f"sqlite:///{till_db}")
    here = Branch.get(Branch.code == "LHR1").id
    before = ledger.on_hand(Variant.get(Variant.sku == sku).id, here)
    open_shift()
    down = make_config(tmp_path / "down", till_db, hq={"role": "branch", "url": "postgresql://nobody@127.0.0.1:1/none"})
    up = make_config(tmp_path, till_db, hq={"role": "branch", "url": role_url(office, "LHR1")})
    for cfg, taken in ((down, 0), (up, 1), (up, 1)):
        app = make_app(cfg)
        async with app.run_test(size=(80, 24)) as pilot:
            await start_selling(pilot, app)
            await press(pilot, app, "ctrl+w", "f3")
            assert type(app.screen).__name__ == "ParcelsScreen"
            await type_text(pilot, "KHI-TCS-11", enter=True)
            await press(pilot, app)
            assert "KHI-TCS-11 is not one of LHR1's parcels" in flat(app)
            await type_text(pilot, "y", enter=True)
            await press(pilot, app)
            text = flat(app)
            if cfg is down:
                assert "needs the head-office link, and it is down" in text and "nothing was taken in" in text
            else:
                assert "KHI-TCS-11 (KHI1's parcel, order #2003) taken back at LHR1: goods in stock here" in text
        assert ledger.on_hand(Variant.get(Variant.sku == sku).id, here) == before + taken
    assert ledger.check() == []
    with at(hq_url(office)):
        assert db.database.execute_sql("SELECT branch_code FROM hq_return").fetchall() == [("LHR1",)]
    db.open_database(f"sqlite:///{till_db}")
