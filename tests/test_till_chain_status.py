"""The till's status bar shows the head-office link of a chain branch from the agent's heartbeat:
up with nothing waiting, or down with what waits and for how long. It reads one row; it never
touches the link, so selling goes on at the same speed with the link dead."""
from __future__ import annotations

import time

from pos_core import heartbeat
from pos_core.models import utcnow
from pos_tui.app import make_app
from pos_tui.widgets.status import hq_text

from test_till_kit import make_config, open_shift, screen_text, start_selling, till_db  # noqa: F401


def test_hq_text_says_what_waits_and_for_how_long():
    assert hq_text({"up": True, "pending": 0, "lag_s": 0}, utcnow()) == "HQ 0q"
    assert hq_text({"up": False, "pending": 42, "lag_s": 300}, utcnow()) == "[bold]HQ down[/] 42q 5m"
    assert hq_text({"up": False, "pending": 0}, None) == "[bold]HQ down[/] 0q never"
    assert "3 parked" in hq_text({"up": True, "pending": 1, "parked_up": 2, "parked_down": 1}, utcnow())
    # a box restored from an older backup: the link stops pushing until `pos-admin branch recover`
    assert "HQ stopped: restored" in hq_text({"up": False, "pending": 7, "rewound": "behind"}, utcnow())


async def test_status_bar_shows_the_head_office_link(tmp_path, till_db):
    open_shift()
    heartbeat.beat("hq", detail={"role": "branch", "up": False, "pending": 42, "lag_s": 300.0,
                                 "parked_up": 0, "parked_down": 0}, error="head office unreachable")
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(140, 30)) as pilot:
        await start_selling(pilot, app)
        t0 = time.monotonic()
        app.screen.query_one("#status").refresh_status()
        assert time.monotonic() - t0 < 0.5
        assert "HQ down 42q 5m" in screen_text(app) or "HQ down 42q 5m" in str(app.screen.query_one("#status").render())
        heartbeat.beat("hq", detail={"up": True, "pending": 0, "lag_s": 0.0}, error="", contact=True)
        app.screen.query_one("#status").refresh_status()
        await pilot.pause()
        assert "HQ 0q" in str(app.screen.query_one("#status").render())


async def test_sync_screen_lists_what_this_branch_could_not_apply(tmp_path, till_db):
    from pos_core import db as dbmod
    from pos_core.models import ChainParked
    from pos_core import migrations
    open_shift()
    heartbeat.beat("hq", detail={"role": "branch", "up": True, "pending": 0, "lag_s": 0.0,
                                 "parked_up": 2, "parked_down": 1, "rewound": "behind the head office"},
                   error="", contact=True)
    with dbmod.write():
        ChainParked.create(table_name="variant", key='{"sku":"9-CLASH"}', data="{}",
                           reason="conflicts with a row here: barcode 2000009 is another item's")
    assert migrations.LATEST
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(140, 30)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+y")
        await pilot.pause()
        text = " ".join(screen_text(app).split())
        assert "Head office link up" in text and "2 parked at the head office" in text
        assert "not applied here variant" in text and "another item's" in text
        assert "Nothing is pushed to the head office" in text and "pos-admin branch recover" in text


async def test_sync_screen_shows_a_job_the_head_office_sends_and_asks_it_to_retry(tmp_path, till_db):
    """Issue 14: a Shopify job this branch handed to the head office, refused by Shopify there."""
    from pos_core import db as dbmod
    from pos_core.models import Branch, OutboxJob, ShopifyRelay
    open_shift()
    with dbmod.write():
        job = OutboxJob.create(channel="shopify", kind="inventory_adjust", payload={"delta": -1}, doc_type="pos_order",
                               doc_ref="x", via_hq=True, status="FAILED",
                               last_error="1001 at LHR1 (-1): The specified inventory item could not be found.")
        ShopifyRelay.create(job_uid=job.uid, branch=Branch.get(Branch.code == "LHR1"), kind=job.kind, payload="{}",
                            idempotency_key=job.idempotency_key, doc_type="pos_order", doc_ref="x")
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(140, 30)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+y")
        await pilot.pause()
        text = " ".join(screen_text(app).split())
        assert "shop>HQ" in text and "Sent by the head office: 1001 at LHR1" in text
        assert "F5 asks the head office to retry it" in text
        await pilot.press("f5")
        await pilot.pause()
        if type(app.screen).__name__ == "ApprovalScreen":
            from test_till_kit import type_text
            await type_text(pilot, "3333", enter=True)
        for _ in range(20):
            await pilot.pause(0.05)
            if "Retry asked of the head office" in " ".join(screen_text(app).split()):
                break
        assert "Retry asked of the head office" in " ".join(screen_text(app).split())
    assert ShopifyRelay.get(ShopifyRelay.job_uid == job.uid).retries == 1
    again = OutboxJob.get_by_id(job.id)
    assert again.status == "PENDING" and again.idempotency_key == job.idempotency_key   # the head office decides
