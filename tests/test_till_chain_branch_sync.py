"""Issue 14 at the till: Branch Sync picks the branch by stock. At a chain branch the lines-and-branch
screen shows every branch's stock of each line as the head office has it (on hand, in transit, as
of that branch's last sync with its age), marks the branches that have every line, and with the
link down shows the last copy it kept, with its age. 80x24, keyboard only."""
from __future__ import annotations

import pytest

from chain_kit import PG_URL, at, drop_hq, new_hq, role_url
from pos_core import db, hq, ledger, transfers
from pos_core.ledger import Movement
from pos_core.models import Branch, ChainStockCopy, Fulfillment, Product, Staff, Variant
from pos_tui.app import make_app

from test_till_kit import flat, make_config, open_shift, settle, start_selling, till_db  # noqa: F401
from test_till_online_orders import level, open_order, press, record, stocked

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs POS_TEST_PG_URL (the head office is PostgreSQL)")
DEAD = "postgresql://nobody@127.0.0.1:1/none"


@pytest.fixture
def office(till_db):
    url, name = new_hq()
    with at(url):
        hq.add_branch("LHR1")
        hq.add_branch("KHI1")
    db.open_database(f"sqlite:///{till_db}")
    yield url, name
    db.close()
    drop_hq(name)
    db.open_database(f"sqlite:///{till_db}")


def stock_at_hq(url, till_db, skus: dict[str, int], in_transit_sku: str) -> None:
    """The head office's picture: Karachi holds `skus`, one more unit of `in_transit_sku` is on its
    way to Karachi from Lahore; Karachi last synced 12.5 minutes ago."""
    with at(url):
        khi, lhr = Branch.get(Branch.code == "KHI1"), Branch.get(Branch.code == "LHR1")
        imran = Staff.get(Staff.code == "imran")
        with db.write():
            p = Product.create(title="From the till's catalog")
            for sku, qty in skus.items():
                v = Variant.create(product=p, sku=sku, name=f"Item {sku}", price_paisa=100_00)
                ledger.record(Movement(f"opening:KHI1:{sku}", v.id, khi.id, qty, "opening", "opening_stock", "open"))
            ledger.record(Movement(f"opening:LHR1:{in_transit_sku}", Variant.get(Variant.sku == in_transit_sku).id,
                                   lhr.id, 1, "opening", "opening_stock", "open"))
        t = transfers.create(lhr.id, khi.id, imran.id,
                             [transfers.TransferItem(Variant.get(Variant.sku == in_transit_sku).id, 1)])
        transfers.dispatch(t.number, imran.id, shopify_enabled=False)
        with db.write():
            db.database.execute_sql("UPDATE hq_branch_link SET last_contact_at = timezone('utc', now()) - "
                                    "interval '12 minutes 30 seconds' WHERE branch_code = 'KHI1'")
    db.open_database(f"sqlite:///{till_db}")


async def wait_for(pilot, app, text: str) -> str:
    for _ in range(60):
        await settle(pilot, app)
        if text in flat(app):
            break
        await pilot.pause(0.1)
    return flat(app)


async def test_branch_sync_shows_every_branch_from_the_head_office_then_the_last_copy(tmp_path, till_db, office):
    url, name = office
    a, b = stocked(2)
    short = level(b, "LHR1") + 1                     # more than Lahore has: Lahore cannot cover line 2
    order = record("#2005", [("L1", a, 1), ("L2", b, short)], cod=False, fulfilled={"L1": 1, "L2": short})
    assert order.state == "NEEDS_BRANCH_SYNC"
    stock_at_hq(url, till_db, {a: 4, b: short + 2}, in_transit_sku=b)
    open_shift()
    cfg = make_config(tmp_path, till_db, hq={"role": "branch", "url": role_url(name, "LHR1")})
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await open_order(pilot, app, "#2005")
        await press(pilot, app, "ctrl+b")
        assert type(app.screen).__name__ == "LinesBranchScreen"
        text = await wait_for(pilot, app, "the head office's figures")
        assert "Other branches: the head office's figures, each as of that branch's last sync" in text
        # Karachi has every line (as of its last sync, 12 minutes ago); Lahore is short of line 2
        assert "KHI1 Karachi - Dolmen EVERY LINE 12m ago" in text, text
        assert "LHR1 Lahore - Gulberg SHORT 1 x" in text and "live (here)" in text
        assert app.screen.branch.code == "KHI1"      # chosen for the team: the branch with every line
        assert f"{a[:10]}: KHI1 4 (12m ago) LHR1 {level(a, 'LHR1')} (here)" in text
        await press(pilot, app, "down")               # line 2: on hand and in transit to Karachi
        assert f"{b[:10]}: KHI1 {short + 2}+1 (12m ago) LHR1 {level(b, 'LHR1')} (here)" in flat(app)
        assert "F10 saves" in flat(app)               # the whole screen fits 80x24
        # the parcel left Karachi: Karachi's own counter records it (its stock moves only on its box)
        await press(pilot, app, "f10")
        assert "the goods would leave KHI1: record the branch sync at KHI1's counter, not at LHR1" in flat(app)
        assert Fulfillment.select().where(Fulfillment.order == order.id).count() == 0
    assert ChainStockCopy.select().where(ChainStockCopy.sku.in_([a, b])).count() == 4   # 2 items x 2 branches

    # the link goes down: the screen shows the copy it kept, with its age
    app = make_app(make_config(tmp_path, till_db, hq={"role": "branch", "url": DEAD}))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await open_order(pilot, app, "#2005")
        await press(pilot, app, "ctrl+b")
        text = await wait_for(pilot, app, "showing the last copy")
        assert "other branches: the head office cannot be reached" in text
        assert "showing the last copy, fetched just now" in text
        assert "KHI1 Karachi - Dolmen EVERY LINE 12m ago" in text
        assert app.screen.branch.code == "KHI1"


async def test_without_a_copy_offline_says_other_branches_are_not_known(tmp_path, till_db, office):
    a = stocked(1)[0]
    record("#2006", [("L1", a, 1)], cod=False, fulfilled={"L1": 1})
    open_shift()
    app = make_app(make_config(tmp_path, till_db, hq={"role": "branch", "url": DEAD}))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await open_order(pilot, app, "#2006")
        await press(pilot, app, "ctrl+b")
        text = await wait_for(pilot, app, "no copy kept yet")
        assert "no copy kept yet, so other branches are not known here" in text
        assert "KHI1 Karachi - Dolmen not known (no copy) not known" in text
        assert "LHR1 Lahore - Gulberg EVERY LINE live (here)" in text
        assert f"{a[:10]}: KHI1 ? (not known) LHR1 {level(a, 'LHR1')} (here)" in text
        assert app.screen.branch.code == "LHR1"


async def test_ctrl_k_offline_shows_the_last_copy_with_its_age(tmp_path, till_db, office):
    from test_till_kit import type_text
    url, name = office
    a = stocked(1)[0]
    stock_at_hq(url, till_db, {a: 7}, in_transit_sku=a)
    open_shift()
    for hq_url, wanted in ((role_url(name, "LHR1"), "Every branch (head office"), (DEAD, "its last copy")):
        app = make_app(make_config(tmp_path, till_db, hq={"role": "branch", "url": hq_url}))
        async with app.run_test(size=(80, 24)) as pilot:
            await start_selling(pilot, app)
            await pilot.press("ctrl+k")
            await settle(pilot, app)
            await type_text(pilot, a, enter=True)
            text = await wait_for(pilot, app, wanted)
            assert "KHI1 on hand 7 in transit to it 1 as of 12m" in text, text
    assert "other branches: the head office cannot be reached" in text
    assert "its last copy, fetched just now" in text
