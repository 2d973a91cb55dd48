"""FBR: head-of-line starvation, 5xx after numbering, and the repeat-USIN option (issue 12, items 5-6)."""
import datetime as dt
from decimal import Decimal as D

import httpx
import pytest

from pos_core import fiscal, refunds, sales
from pos_core.models import OutboxJob, PosOrder, utcnow
from simulators.fbr import server as fbr_sim
from sync_agent.fbr.worker import FbrWorker
from test_agent_fbr import POLICY, TOKEN, accepted, faults, job_of, sell, transport


@pytest.fixture
def sim():
    handle = fbr_sim.start(port=0, token=TOKEN, mode="strict", duplicate="reject")
    yield handle
    handle.stop()


def test_100_credit_notes_behind_a_rejected_original_do_not_stop_new_invoices(site, sim):
    w = FbrWorker(transport(sim))
    code = site.book.pct_code
    site.book.pct_code = "12"                       # FBR refuses this sale
    site.book.save()
    bad = sell(site, [sales.SaleLine(site.book.id, 100)], tenders=[sales.Tender("cash", D("500000"))])
    assert w.run_once()["rejected"] == 1
    site.book.pct_code = code
    site.book.save()
    line = bad.lines[0]
    for _ in range(100):                            # 100 returns, each a credit note waiting on it
        refunds.refund(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id,
                       sale_uid=bad.uid, lines=[refunds.ReturnLine(line.id, 1)])
    fresh = sell(site, [sales.SaleLine(site.book.id, 1)])
    assert w.run_once()["accepted"] == 1
    assert PosOrder.get_by_id(fresh.id).fbr_invoice_number
    listed = fiscal.needing_person()
    assert len(listed) == 101
    assert listed[0][0].uid == job_of(bad).uid
    assert all(f"waits for its original invoice {bad.number}" in why for _, why in listed[1:])


def test_a_gateway_504_after_fbr_numbered_the_invoice_is_not_resent(site, sim):
    w = FbrWorker(transport(sim))
    order = sell(site, [sales.SaleLine(site.book.id, 1)])
    faults(sim, error_after_store_rate=1.0, error_statuses=[504])
    assert w.run_once()["uncertain"] == 1
    job = job_of(order)
    assert job.status == "NEEDS_RECONCILIATION" and "504" in job.last_error
    faults(sim)
    w.breaker_until = None
    OutboxJob.update(next_attempt_at=dt.datetime(2000, 1, 1)).execute()
    assert w.run_once()["accepted"] == 0
    assert [i["USIN"] for i in accepted(sim)] == [order.number]     # one number for one sale
    assert any(j.uid == job.uid for j, _ in fiscal.needing_person())


@pytest.mark.parametrize("status", [429, 403])
def test_answers_that_prove_nothing_was_processed_are_resent(site, sim, status):
    from sync_agent.fbr.transport import NOT_SENT, classify
    assert classify(status, b"<html>busy</html>").kind == NOT_SENT


def test_repeat_usin_returns_original_resolves_a_lost_answer_without_a_person(site, sim):
    httpx.post(f"{sim.url}/_sim/config", json={"duplicate": "first"}).raise_for_status()
    clock = [utcnow() + dt.timedelta(seconds=1)]
    w = FbrWorker(transport(sim), clock=lambda: clock[0], repeat_usin_returns_original=True)
    order = sell(site, [sales.SaleLine(site.book.id, 1)])
    faults(sim, store_no_response_rate=1.0, max_faults=1)
    assert w.run_once()["uncertain"] == 1
    job = job_of(order)
    assert job.status == "PENDING" and "same USIN" in job.last_error
    assert fiscal.needing_person() == []
    clock[0] += dt.timedelta(minutes=10)             # past the breaker and the backoff
    assert w.run_once()["accepted"] == 1
    stored = accepted(sim)
    assert len(stored) == 1
    assert PosOrder.get_by_id(order.id).fbr_invoice_number == stored[0]["InvoiceNumber"]
    # and an agent killed mid-send resends at start-up instead of waiting for a person
    other = sell(site, [sales.SaleLine(site.book.id, 1)])
    assert fiscal.mark_sending(job_of(other))
    assert fiscal.recover_interrupted(resend=True) == 1
    assert job_of(other).status == "PENDING"


def test_a_5xx_page_is_uncertain_but_a_wso2_throttling_fault_is_not_sent():
    from sync_agent.fbr.transport import NOT_SENT, UNCERTAIN, classify
    for status in (500, 502, 503, 504):
        assert classify(status, b"<html><h1>Bad Gateway</h1></html>").kind == UNCERTAIN
    fault = b'{"fault": {"code": 900802, "message": "Message throttled out", "description": "try later"}}'
    assert classify(503, fault).kind == NOT_SENT
