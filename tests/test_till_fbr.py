"""FBR on the till: wait for the fiscal number in the background, then print the FBR block (or
"offline mode"); reprint once the number came; the sync screen's reconciliation actions; the status
bar's offline and 20-hour alarm. The agent's FbrWorker talks to the FBR simulator over real HTTP."""
from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from decimal import Decimal

import httpx
import pytest
from textual import events

from pos_core import db, heartbeat, outbox, policy as policymod, sales, shifts
from pos_core.branches import find_counter
from pos_core.models import OutboxJob, PosOrder, Variant, utcnow
from pos_tui.app import make_app
from printers.layout import FBR_TEST_TEXT
from simulators.fbr import server as fbr_sim
from sync_agent.fbr.transport import FbrTransport
from sync_agent.fbr.worker import FbrWorker

from test_till_kit import (make_config, open_shift, screen_text, settle, start_selling, till_db,  # noqa: F401
                           type_text)

PROD_TOKEN = "fbr-prod-token-never-printed"
QR_STORE = b"\x1d(k"      # GS ( k: the QR symbol's data is stored with function 80 ("1P0" + data)


@pytest.fixture
def sim():
    handle = fbr_sim.start(port=0, prod_token=PROD_TOKEN, mode="strict", duplicate="reject")
    yield handle
    handle.stop()


def worker(sim, mode: str = "production") -> FbrWorker:
    if mode == "sandbox":
        return FbrWorker(FbrTransport("sandbox", f"{sim.url}/FBR/v1/api/Live/PostData", "fbr-test-token"))
    return FbrWorker(FbrTransport("production", f"{sim.url}/imsp/v1/api/Live/PostData", PROD_TOKEN))


class Agent:
    """The sync agent's FBR loop in a background thread (its own database connection)."""

    def __init__(self, w: FbrWorker, delay: float = 0.0, gate: threading.Event | None = None):
        self.w, self.delay, self.stop, self.gate = w, delay, threading.Event(), gate
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        from pos_core import db
        if self.gate is not None:  # answer only when the test says so, however slow the machine
            while not self.gate.wait(0.05):
                if self.stop.is_set():
                    return
        if self.stop.wait(self.delay):
            return
        try:
            while not self.stop.is_set():
                self.w.run_once()
                self.stop.wait(0.05)
        finally:
            db.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)


def fbr_config(tmp_path, db, **fbr):
    return make_config(tmp_path, db, fbr={"mode": "production", "posid": "123456", **fbr})


def printed(tmp_path) -> bytes:
    path = tmp_path / "printer.bin"
    return path.read_bytes() if path.exists() else b""


def accepted(sim) -> list[dict]:
    return httpx.get(f"{sim.url}/_sim/invoices").json()["invoices"]


async def until(pilot, cond, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        await pilot.pause()
        await asyncio.sleep(0.02)


async def sell_one(pilot, app, sku: str = "L3SU-BLA-OS") -> None:
    """Scan, pay exactly in cash; return as soon as the sale is saved (printing may still wait)."""
    await type_text(pilot, sku, enter=True)
    await pilot.press("f10")
    await pilot.pause()
    before = app.last_uid
    await pilot.press("enter")                         # Enter with the amount empty pays exactly
    await until(pilot, lambda: app.last_uid != before and not app.committing)


def fbr_sale(cfg, sku: str = "ELK-MAR-L") -> PosOrder:
    """A completed sale with its FBR job, made straight through pos_core."""
    from test_till_kit import staff
    counter = find_counter("LHR1", "C1")
    v = Variant.get(Variant.sku == sku)
    return sales.complete_sale(policymod.from_config(cfg), counter_id=counter.id,
                               shift_id=shifts.current(counter.id).id, staff_id=staff("ayesha").id,
                               lines=[sales.SaleLine(v.id, 1)], tenders=[sales.Tender("cash", Decimal(10000))])


async def test_the_number_comes_within_the_wait_and_the_next_scan_works_meanwhile(tmp_path, till_db, sim):
    open_shift()
    app = make_app(fbr_config(tmp_path, till_db, wait_seconds=15))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        answer = threading.Event()
        with Agent(worker(sim), gate=answer):       # FBR answers after the till has moved on
            await sell_one(pilot, app)
            await type_text(pilot, "ELK-MAR-L")      # the next customer, while the till waits
            app.post_message(events.Key("enter", "\r"))
            await until(pilot, lambda: len(app.cart.lines) == 1, 5.0)
            assert printed(tmp_path) == b""          # still waiting for the number
            answer.set()
            await until(pilot, lambda: printed(tmp_path) != b"", 10.0)
            await settle(pilot, app)
        number = PosOrder.get(PosOrder.uid == app.last_uid).fbr_invoice_number
        assert number and [i["InvoiceNumber"] for i in accepted(sim)] == [number]
        data = printed(tmp_path)
        assert f"FBR Invoice #: {number}".encode() in data
        assert QR_STORE + bytes([len(number) + 3, 0]) + b"1P0" + number.encode() in data  # the bare number
        assert b"Verify this invoice" in data and b"offline mode" not in data
        assert "printed" in screen_text(app)


async def test_breaker_open_prints_offline_at_once_then_a_reprint_has_the_block(tmp_path, till_db, sim):
    open_shift()
    now = utcnow()
    heartbeat.beat("fbr", detail={"breaker_open_until": (now + dt.timedelta(seconds=60)).isoformat(),
                                  "offline_since": (now - dt.timedelta(minutes=5)).isoformat()})
    app = make_app(fbr_config(tmp_path, till_db, wait_seconds=5))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        since = (now - dt.timedelta(minutes=5) + dt.timedelta(hours=5)).strftime("%H:%M")
        assert f"FBR offline since {since}" in screen_text(app)
        t0 = time.monotonic()
        await sell_one(pilot, app)
        await until(pilot, lambda: printed(tmp_path) != b"", 2.0)
        assert time.monotonic() - t0 < 2.0          # no 5 s wait while the breaker is open
        await settle(pilot, app)
        data = printed(tmp_path)
        assert b"Issued in offline mode" in data and QR_STORE not in data and b"FBR Invoice #" not in data
        assert "FBR number pending" in " ".join(screen_text(app).split())
        uid = app.last_uid
        # The link comes back and the agent reports the invoice.
        assert worker(sim).run_once()["accepted"] == 1
        number = PosOrder.get(PosOrder.uid == uid).fbr_invoice_number
        (tmp_path / "printer.bin").unlink()
        await pilot.press("ctrl+r")
        await settle(pilot, app)
        data = printed(tmp_path)
        assert b"REPRINT" in data and f"FBR Invoice #: {number}".encode() in data
        assert QR_STORE in data and number.encode() in data and b"offline mode" not in data


async def test_no_answer_within_the_wait_prints_offline_and_the_order_shows_fbr_pending(tmp_path, till_db):
    open_shift()
    app = make_app(fbr_config(tmp_path, till_db, wait_seconds="0.5"))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        t0 = time.monotonic()
        await sell_one(pilot, app)
        await settle(pilot, app)
        assert time.monotonic() - t0 >= 0.45
        data = printed(tmp_path)
        assert b"Issued in offline mode" in data and QR_STORE not in data
        assert outbox.doc_status(app.last_uid, outbox.FBR) == "PENDING"
        number = PosOrder.get(PosOrder.uid == app.last_uid).number
        await pilot.press("ctrl+o")
        await pilot.pause()
        row = next(line for line in screen_text(app).splitlines() if number in line)
        assert "PENDING" in row


async def test_a_sandbox_number_prints_as_a_test_invoice(tmp_path, till_db, sim):
    open_shift()
    app = make_app(make_config(tmp_path, till_db, fbr={"mode": "sandbox", "posid": "123456",
                                                       "logo_path": str(tmp_path / "fbr-logo.png")}))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        with Agent(worker(sim, "sandbox")):
            await sell_one(pilot, app)
            await settle(pilot, app)
        number = PosOrder.get(PosOrder.uid == app.last_uid).fbr_invoice_number
        assert number and "*test*" in number.lower()
        data = printed(tmp_path)
        assert f"Test invoice #: {number}".encode() in data and FBR_TEST_TEXT.encode() in data
        assert b"FBR Invoice #" not in data and b"Verify this invoice" not in data


async def test_sync_screen_reconciles_by_resending_and_by_recording_the_number(tmp_path, till_db, sim):
    open_shift()
    cfg = fbr_config(tmp_path, till_db)
    resend, found = fbr_sale(cfg), fbr_sale(cfg, "L3SU-BLA-OS")
    w = worker(sim)
    httpx.post(f"{sim.url}/_sim/faults", json={"drop_rate": 1.0}).raise_for_status()
    assert w.run_once()["uncertain"] == 1                  # dropped: never stored
    httpx.post(f"{sim.url}/_sim/faults", json={"store_no_response_rate": 1.0}).raise_for_status()
    w.breaker_until = None
    assert w.run_once()["uncertain"] == 1                  # stored at FBR, but no answer came back
    httpx.post(f"{sim.url}/_sim/reset-faults").raise_for_status()
    stored = accepted(sim)
    assert [i["USIN"] for i in stored] == [found.number]
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)                    # a cashier: each action needs a PIN
        await pilot.press("ctrl+y")
        await pilot.pause()
        text = screen_text(app)
        assert "FBR: 2 reconcile" in text and text.count("RECONCILE") == 2
        assert resend.number in text and found.number in text and "Outcome unknown" in text
        # Newest first: `found` is the first row. F6: record the number FBR's portal shows.
        await pilot.press("f6")
        await pilot.pause()
        assert type(app.screen).__name__ == "ApprovalScreen"
        await type_text(pilot, "2222", enter=True)
        await until(pilot, lambda: type(app.screen).__name__ == "PromptScreen")
        await type_text(pilot, "12 34", enter=True)
        assert "as the portal shows it (8-40 chars)" in " ".join(screen_text(app).split())
        await pilot.press("ctrl+u")
        await type_text(pilot, stored[0]["InvoiceNumber"], enter=True)
        assert PosOrder.get_by_id(found.id).fbr_invoice_number == stored[0]["InvoiceNumber"]
        assert "recorded by Sana Malik" in " ".join(screen_text(app).split())
        # F5 on the other: resend the same USIN.
        assert [j.doc_ref for j in app.screen.jobs] == [resend.uid]
        await pilot.press("f5")
        await pilot.pause()
        await type_text(pilot, "2222", enter=True)
        await until(pilot, lambda: OutboxJob.get((OutboxJob.doc_ref == resend.uid)
                                                 & (OutboxJob.channel == "fbr")).status == "PENDING")
        assert "same USIN" in " ".join(screen_text(app).split())
        w.breaker_until = None                             # the agent's breaker, from the uncertain sends
        assert w.run_once()["accepted"] == 1
        usins = [i["USIN"] for i in accepted(sim)]
        assert sorted(usins) == sorted([found.number, resend.number])   # never a duplicate
        # The order list reprint carries the recorded number.
        await pilot.press("escape", "ctrl+o")
        await pilot.pause()
        (tmp_path / "printer.bin").unlink(missing_ok=True)
        app.reprint(found.uid)
        await settle(pilot, app)
        assert f"FBR Invoice #: {stored[0]['InvoiceNumber']}".encode() in printed(tmp_path)


async def test_status_bar_shows_the_20_hour_alarm(tmp_path, till_db):
    open_shift()
    heartbeat.beat("fbr", detail={"offline_overdue": ["LHR1-C1-000007"], "link_back_at":
                                  (utcnow() - dt.timedelta(hours=21)).isoformat()})
    app = make_app(fbr_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        line = screen_text(app).splitlines()[0]
        assert "ALARM 1 FBR unsent 20h" in line and "offline since" not in line


async def test_sync_screen_shows_a_credit_note_waiting_on_a_rejected_original(tmp_path, till_db):
    # To the agent the credit note is PENDING, but it cannot go before its original: a person
    # must see it among the FBR documents to act on, with the reason.
    open_shift()
    cfg = fbr_config(tmp_path, till_db)
    with db.write():
        original = outbox.enqueue(outbox.FBR, "invoice", {"usin": "LHR1-C1-000777"}, "order", "doc-original")
        OutboxJob.update(status=outbox.FAILED, last_error="FBR: 0046 invalid NTN").where(
            OutboxJob.id == original.id).execute()
        note = outbox.enqueue(outbox.FBR, "credit_note", {"usin": "LHR1-C1-R000009"}, "order", "doc-credit",
                              depends_on=original.uid)
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+y")
        await pilot.pause()
        text = screen_text(app)
        assert "WAITING" in text and "REJECTED" in text and "1 waiting" in text
        assert [j.uid for j in app.screen.jobs] == [note.uid, original.uid]   # newest first
        assert "waits for its original invoice LHR1-C1-000777" in " ".join(screen_text(app).split())
