"""FBR reporting over real HTTP to the FBR simulator: payloads, outcomes, and never a duplicate."""
import datetime as dt
from decimal import Decimal as D

import httpx
import pytest

from pos_core import fiscal, outbox, refunds, sales
from pos_core.models import OutboxJob, PosOrder, PosOrderLine, utcnow
from pos_core.policy import SalePolicy
from pos_core.pricing import Discount
from simulators.fbr import server as fbr_sim
from sync_agent.fbr.transport import FbrTransport
from sync_agent.fbr.worker import FbrWorker

TOKEN = "fbr-test-token-do-not-log"
POLICY = SalePolicy(fbr_enabled=True, fbr_posid="123456", service_fee_paisa=100)


@pytest.fixture
def sim():
    handle = fbr_sim.start(port=0, token=TOKEN, mode="strict", duplicate="reject")
    yield handle
    handle.stop()


def transport(sim, **kw):
    return FbrTransport("sandbox", f"{sim.url}/FBR/v1/api/Live/PostData", kw.pop("token", TOKEN),
                        timeout_s=kw.pop("timeout_s", 5.0))


def accepted(sim) -> list[dict]:
    return httpx.get(f"{sim.url}/_sim/invoices").json()["invoices"]


def faults(sim, **kw):
    httpx.post(f"{sim.url}/_sim/faults", json=kw).raise_for_status()


def sell(site, lines, tenders=None, **kw):
    if tenders is None:
        from pos_core.pricing import price_lines  # noqa: F401 (the service prices; we just overpay in cash)
        tenders = [sales.Tender("cash", D("500000"))]
    return sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id,
                               staff_id=kw.pop("staff_id", site.supervisor.id), lines=lines, tenders=tenders, **kw)


def job_of(order) -> OutboxJob:
    return OutboxJob.get((OutboxJob.doc_ref == order.uid) & (OutboxJob.channel == "fbr"))


def test_sales_credit_notes_and_exchanges_are_accepted_by_strict_validation(site, sim):
    w = FbrWorker(transport(sim))
    a = sell(site, [sales.SaleLine(site.kurta.id, 3, discount=Discount("percent", D("5"))),
                    sales.SaleLine(site.book.id, 1), sales.SaleLine(site.lipstick.id, 2)],
             order_discount=Discount("amount", D("50")),
             tenders=[sales.Tender("card", D("1000")), sales.Tender("cash", D("5000"))])
    big = sell(site, [sales.SaleLine(site.lipstick.id, 80)], buyer=sales.Buyer(name="Ali Raza", cnic="3520212345671",
                                                                               phone="03001234567"))
    line = a.lines.where(PosOrderLine.line_no == 1).get()
    credit = refunds.refund(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id,
                            sale_uid=a.uid, lines=[refunds.ReturnLine(line.id, 1)])
    assert w.run_once()["accepted"] == 2  # the credit note waits until its original is reported
    assert w.run_once()["accepted"] == 1
    back, new = refunds.exchange(POLICY, counter_id=site.counter.id, shift_id=site.shift.id,
                                 staff_id=site.supervisor.id, sale_uid=big.uid,
                                 returns=[refunds.ReturnLine(big.lines[0].id, 1)],
                                 new_lines=[sales.SaleLine(site.book.id, 2)],
                                 tenders=[sales.Tender("cash", D("298"))])
    assert w.run_once()["accepted"] == 2
    got = {i["USIN"]: i for i in accepted(sim)}
    assert set(got) == {a.number, big.number, credit.number, back.number, new.number}
    assert got[a.number]["payload"]["PaymentMode"] == 5
    assert got[credit.number]["InvoiceType"] == 3 and got[credit.number]["RefUSIN"] == a.number
    assert got[back.number]["RefUSIN"] == big.number
    assert {i["InvoiceType"] for i in got[big.number]["payload"]["Items"]} == {11}
    for order in (a, big, credit, back, new):
        order = PosOrder.get_by_id(order.id)
        assert order.fbr_invoice_number == got[order.number]["InvoiceNumber"]
        assert outbox.doc_status(order.uid, "fbr") == "SYNCED"
        assert fiscal.invoice_number(order.uid) == (order.fbr_invoice_number, True)  # sandbox: test mode


def test_connection_refused_is_resent_with_the_same_usin_after_the_breaker(site, sim):
    clock = [utcnow() + dt.timedelta(seconds=1)]  # a fake clock that starts now: jobs are due from now
    dead = FbrTransport("sandbox", "http://127.0.0.1:9/FBR/v1/api/Live/PostData", TOKEN)
    w = FbrWorker(dead, clock=lambda: clock[0])
    order = sell(site, [sales.SaleLine(site.kurta.id, 1)])
    body = job_of(order).payload["body"]
    assert w.run_once()["not_sent"] == 1
    job = job_of(order)
    assert job.status == "PENDING" and "not reachable" in job.last_error
    assert PosOrder.get_by_id(order.id).fbr_offline
    assert w.breaker_open() and w.run_once() == {"accepted": 0, "rejected": 0, "not_sent": 0, "uncertain": 0}
    clock[0] += dt.timedelta(minutes=10)  # past the breaker and the job's backoff
    w.transport = transport(sim)
    assert w.run_once()["accepted"] == 1
    assert job_of(order).payload["body"] == body
    assert [i["USIN"] for i in accepted(sim)] == [order.number]
    assert w.link_back_at == clock[0] and w.offline_since is None


def test_stored_but_no_answer_needs_a_person_and_is_settled_without_a_duplicate(site, sim):
    w = FbrWorker(transport(sim))
    order = sell(site, [sales.SaleLine(site.book.id, 1)])
    faults(sim, store_no_response_rate=1.0)
    assert w.run_once()["uncertain"] == 1
    job = job_of(order)
    assert job.status == "NEEDS_RECONCILIATION"
    assert outbox.doc_status(order.uid, "fbr") == "NEEDS_ATTENTION"
    faults(sim)
    assert w.run_once(limit=5) == {"accepted": 0, "rejected": 0, "not_sent": 0, "uncertain": 0}  # not resent
    stored = accepted(sim)
    assert [i["USIN"] for i in stored] == [order.number]
    fiscal.settle(job.uid, stored[0]["InvoiceNumber"], site.manager.id)
    assert PosOrder.get_by_id(order.id).fbr_invoice_number == stored[0]["InvoiceNumber"]
    assert len(accepted(sim)) == 1


def test_a_dropped_connection_is_resent_only_when_a_person_says_so(site, sim):
    w = FbrWorker(transport(sim))
    order = sell(site, [sales.SaleLine(site.book.id, 1)])
    faults(sim, drop_rate=1.0)
    assert w.run_once()["uncertain"] == 1
    faults(sim)
    outbox.retry(job_of(order).uid, site.supervisor.id)  # the portal shows nothing: resend the same USIN
    w.breaker_until = None
    assert w.run_once()["accepted"] == 1
    assert [i["USIN"] for i in accepted(sim)] == [order.number]


def test_a_hang_past_the_timeout_is_uncertain(site, sim):
    w = FbrWorker(transport(sim, timeout_s=0.5))
    sell(site, [sales.SaleLine(site.book.id, 1)])
    faults(sim, hang_seconds=2.0)
    assert w.run_once()["uncertain"] == 1


def test_gateway_error_pages_are_uncertain_and_wrong_tokens_are_not_sent_and_say_what_to_fix(site, sim):
    order = sell(site, [sales.SaleLine(site.book.id, 1)])
    faults(sim, error_rate=1.0, error_statuses=[502])
    # a 502 page may come after IMS numbered it (nothing in it says it did not): a person decides
    assert FbrWorker(transport(sim)).run_once()["uncertain"] == 1
    assert "HTTP 502" in job_of(order).last_error and job_of(order).status == "NEEDS_RECONCILIATION"
    faults(sim)
    outbox.retry(job_of(order).uid, site.supervisor.id)
    OutboxJob.update(next_attempt_at=dt.datetime(2000, 1, 1)).execute()
    assert FbrWorker(transport(sim, token="wrong-token-xyz")).run_once()["not_sent"] == 1
    err = job_of(order).last_error
    assert "900901" in err and "fbr.token" in err and "wrong-token-xyz" not in err
    assert accepted(sim) == []


def test_a_rejection_fails_the_job_with_fbrs_reason(site, sim):
    site.book.pct_code = "12"
    site.book.save()
    order = sell(site, [sales.SaleLine(site.book.id, 1)])
    assert FbrWorker(transport(sim)).run_once()["rejected"] == 1
    job = job_of(order)
    assert job.status == "FAILED" and "PCTCode" in job.last_error
    assert outbox.doc_status(order.uid, "fbr") == "FAILED"


def test_an_interrupted_send_becomes_needs_reconciliation(site):
    order = sell(site, [sales.SaleLine(site.book.id, 1)])
    assert fiscal.mark_sending(job_of(order))
    assert not fiscal.mark_sending(job_of(order))  # one sender only
    assert fiscal.recover_interrupted() == 1
    assert job_of(order).status == "NEEDS_RECONCILIATION"


def test_offline_invoices_unsent_20_hours_after_the_link_returned_raise_an_alarm(site):
    order = sell(site, [sales.SaleLine(site.book.id, 1)])
    fiscal.record_not_sent(job_of(order), "down")
    back = dt.datetime(2026, 11, 23, 9, 0)
    assert fiscal.unsent_offline(back, now=back + dt.timedelta(hours=19, minutes=59)) == []
    late = fiscal.unsent_offline(back, now=back + dt.timedelta(hours=20, minutes=1))
    assert [o.number for o in late] == [order.number]
    assert fiscal.unsent_offline(None) == []


def test_health_checks_without_creating_an_invoice(sim):
    assert transport(sim).health().kind == "accepted"
    bad = transport(sim, token="nope").health()
    assert bad.kind == "rejected" and bad.config_problem
    local = FbrTransport("local", f"{sim.url}/api/IMSFiscal/GetInvoiceNumberByModel")
    assert local.health().kind == "accepted"
    assert accepted(sim) == []


def test_online_shipments_are_invoiced_and_returns_credited_under_the_online_posid(site, sim):
    from pos_core import fulfillments, online_orders
    from test_online_orders import COD, node
    site.lhr.fbr_online_posid = "654321"
    site.lhr.save()
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.kurta, 2), ("L2", site.lipstick, 1)]), COD)
    f = fulfillments.create(order.id, site.lhr.id, site.cashier.id)
    fulfillments.pack(f.uid, site.cashier.id)
    fulfillments.dispatch(f.uid, site.cashier.id, "TCS", "T-1", shopify_enabled=False, policy=POLICY)
    fulfillments.mark_returned(f.uid, site.cashier.id, site.lhr.id, shopify_enabled=False, policy=POLICY)
    w = FbrWorker(transport(sim))
    assert w.run_once()["accepted"] == 1  # the credit note waits for its invoice
    assert w.run_once()["accepted"] == 1
    got = {i["USIN"]: i for i in accepted(sim)}
    assert set(got) == {"OL-LHR1-000001", "OLR-LHR1-000001"}
    invoice, credit = got["OL-LHR1-000001"], got["OLR-LHR1-000001"]
    assert invoice["POSID"] in (654321, "654321") and invoice["payload"]["PaymentMode"] == 1  # COD is cash
    assert credit["InvoiceType"] == 3 and credit["RefUSIN"] == "OL-LHR1-000001"
    assert {i["InvoiceType"] for i in invoice["payload"]["Items"]} == {1, 11}
