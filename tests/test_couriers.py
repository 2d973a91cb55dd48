"""Couriers end to end over real HTTP to the Leopards and PostEx simulators: a parcel dispatched at
the branch is booked exactly once whatever the link does, its number reaches the Shopify job, the
tracking poll follows it to Delivered or back to the branch, and stock returns only on the scan."""
import datetime as dt

import httpx
import pytest

from pos_core import couriers, fulfillments, ledger, online_orders, outbox
from pos_core.config import CourierAccount
from pos_core.errors import InvalidInput, NotFound, StateError
from pos_core.models import Consignment, OutboxJob
from simulators.couriers import leopards as leo_sim, postex as px_sim
from sync_agent import orders as agent_orders
from sync_agent.couriers import Leopards, PostEx
from sync_agent.couriers import worker

COD = ("Cash on Delivery (COD)",)
CITY = {"leopards": "789", "postex": "Lahore"}
DELIVERED_WORDS = {"leopards": leo_sim.DELIVERED, "postex": px_sim.DELIVERED}
RETURNED_WORDS = {"leopards": leo_sim.RETURNED, "postex": px_sim.RETURNED}


def node(site, qty=2, *, oid="gid://shopify/Order/1", name="#1001", city="Lahore"):
    return {
        "id": oid, "name": name, "createdAt": "2026-11-23T09:00:00Z", "updatedAt": "2026-11-23T10:00:00Z",
        "cancelledAt": None, "cancelReason": None, "edited": False,
        "displayFinancialStatus": "PENDING", "displayFulfillmentStatus": "UNFULFILLED",
        "paymentGatewayNames": ["Cash on Delivery (COD)"], "tags": [], "note": "", "email": "", "phone": None,
        "currentTotalPriceSet": {"shopMoney": {"amount": "2599.00", "currencyCode": "PKR"}},
        "totalOutstandingSet": {"shopMoney": {"amount": "2599.00", "currencyCode": "PKR"}},
        "customer": {"displayName": "Hina Baig", "defaultPhoneNumber": {"phoneNumber": "+923001234567"}},
        "shippingAddress": {"name": "Hina Baig", "phone": "0300-1234567", "address1": "House 12, Street 4",
                            "city": city},
        "lineItems": {"nodes": [{"id": "L1", "sku": site.kurta.sku, "name": site.kurta.name, "quantity": qty,
                                 "currentQuantity": qty, "unfulfilledQuantity": qty, "variant": {"id": None},
                                 "originalUnitPriceSet": {"shopMoney": {"amount": "999.90"}}}]},
    }


def packed(site, **kw):
    order, _ = online_orders.record_from_shopify(node(site, **kw), COD)
    online_orders.confirm(order.id, site.cashier.id, shopify_enabled=False)
    f = fulfillments.create(order.id, site.lhr.id, site.cashier.id)
    return fulfillments.pack(f.uid, site.cashier.id)


@pytest.fixture(scope="module")
def sims():
    leo, px = leo_sim.start(), px_sim.start()
    yield {"leopards": leo, "postex": px}
    leo.stop()
    px.stop()


def adapter_for(name, url, timeout=1):
    if name == "leopards":
        return Leopards(CourierAccount(name="leopards", endpoint=url, api_key="leo-key", origin_city="789",
                                       timeout_seconds=timeout), "leo-pass")
    return PostEx(CourierAccount(name="postex", endpoint=url, timeout_seconds=timeout), "postex-token")


@pytest.fixture(params=["leopards", "postex"])
def courier(request, sims):
    sim = sims[request.param]
    httpx.post(f"{sim.url}/_sim/reset")
    a = adapter_for(request.param, sim.url)
    yield request.param, sim, a
    a.close()


def fault(sim, op, kind, times=1, delay=2.0):
    httpx.post(f"{sim.url}/_sim/faults", json={"op": op, "fault": kind, "times": times, "delay": delay}).raise_for_status()


def parcels(sim, reference=None):
    rows = httpx.get(f"{sim.url}/_sim/parcels").json()["parcels"]
    return [p for p in rows if reference is None or p["reference"] == reference]


def run_until_settled(adapters, tries=6):
    """The agent's passes, with each backed-off job made due again (the test does not wait)."""
    totals = []
    for _ in range(tries):
        OutboxJob.update(next_attempt_at=dt.datetime(2000, 1, 1)).where(
            (OutboxJob.channel == couriers.COURIER) & (OutboxJob.status == outbox.PENDING)).execute()
        counts = worker.run_jobs(adapters)
        totals.append(counts)
        if not OutboxJob.select().where((OutboxJob.channel == couriers.COURIER)
                                        & (OutboxJob.status == outbox.PENDING)).exists():
            break
    return totals


def test_dispatch_waits_to_be_booked_and_the_fulfillment_waits_for_the_number(site, courier):
    name, sim, adapter = courier
    f = packed(site)
    c = couriers.dispatch(f.uid, site.cashier.id, name, CITY[name], shopify_enabled=True)
    assert c.status == couriers.TO_BE_BOOKED and c.cod_paisa == 259900 and c.phone == "+923001234567"
    f = fulfillments.Fulfillment.get_by_id(f.id)
    assert f.status == "DISPATCHED" and f.tracking_number == ""
    ship = OutboxJob.get(OutboxJob.kind == "fulfillment_create")
    assert ship.depends_on == c.booking_job
    assert agent_orders.due_jobs() == []            # nothing goes to Shopify without the number
    assert [x.uid for x, _ in couriers.to_be_booked()] == [c.uid]

    # The link is down (nothing listens there): the parcel stays "to be booked", visibly.
    down = adapter_for(name, "http://127.0.0.1:9")
    counts = worker.run_jobs({name: down})
    assert counts["deferred"] == 1
    c = Consignment.get_by_id(c.id)
    assert c.status == couriers.TO_BE_BOOKED and "cannot connect" in c.last_error
    assert "to be booked" in couriers.describe(c)

    # The link returns: booked once, the number is on the shipment and in the Shopify job.
    run_until_settled({name: adapter})
    c = Consignment.get_by_id(c.id)
    assert c.status == couriers.BOOKED and c.tracking_number
    assert len(parcels(sim, c.reference)) == 1
    assert parcels(sim, c.reference)[0]["phone"] == "03001234567"     # the local form riders dial
    f = fulfillments.Fulfillment.get_by_id(f.id)
    assert f.tracking_number == c.tracking_number and c.tracking_number in f.tracking_url
    ship = OutboxJob.get_by_id(ship.id)
    assert ship.payload["tracking"]["number"] == c.tracking_number
    assert ship.payload["tracking"]["company"] == couriers.NAMES[name]
    assert [j.uid for j in agent_orders.due_jobs()] == [ship.uid]
    assert couriers.to_be_booked() == []


@pytest.mark.parametrize("kind", ["lose_answer", "booked_500", "timeout", "drop", "error_500"])
def test_booking_exactly_once_under_faults(site, courier, kind):
    name, sim, adapter = courier
    f = packed(site)
    c = couriers.dispatch(f.uid, site.cashier.id, name, CITY[name], shopify_enabled=True)
    fault(sim, "book", kind, delay=1.6)
    first = worker.run_jobs({name: adapter})
    assert first["deferred"] == 1 and first["synced"] == 0
    applied = kind in ("lose_answer", "booked_500", "timeout")
    assert len(parcels(sim, c.reference)) == (1 if applied else 0)
    run_until_settled({name: adapter})
    booked = parcels(sim, c.reference)
    assert len(booked) == 1, f"{kind}: {len(booked)} parcels booked"
    c = Consignment.get_by_id(c.id)
    assert c.status == couriers.BOOKED and c.tracking_number == booked[0]["tracking_number"]
    job = OutboxJob.get(OutboxJob.uid == c.booking_job)
    assert job.status == outbox.SYNCED and job.result["found_existing"] is applied
    assert httpx.get(f"{sim.url}/_sim/requests").json()["book"] == (1 if applied else 2)


def test_a_lost_answer_and_then_a_dead_link_still_books_once(site, courier):
    """The probe itself can fail: the job waits, and the next probe finds the parcel."""
    name, sim, adapter = courier
    f = packed(site)
    c = couriers.dispatch(f.uid, site.cashier.id, name, CITY[name], shopify_enabled=False)
    fault(sim, "book", "lose_answer")
    fault(sim, "lookup", "error_500")
    assert worker.run_jobs({name: adapter})["deferred"] == 1
    OutboxJob.update(next_attempt_at=dt.datetime(2000, 1, 1)).execute()
    assert worker.run_jobs({name: adapter})["deferred"] == 1       # the lookup failed: nothing resent
    run_until_settled({name: adapter})
    assert len(parcels(sim, c.reference)) == 1
    assert Consignment.get_by_id(c.id).status == couriers.BOOKED


def test_an_agent_that_died_while_booking_probes_before_resending(site, courier):
    name, sim, adapter = courier
    f = packed(site)
    c = couriers.dispatch(f.uid, site.cashier.id, name, CITY[name], shopify_enabled=False)

    class DiesAfterSending:
        """The request goes out and is applied, then the agent is killed before the answer is read."""
        def __getattr__(self, attr):
            return getattr(adapter, attr)

        def book(self, payload):
            adapter.book(payload)
            raise SystemExit("killed")

    with pytest.raises(SystemExit):
        worker.run_jobs({name: DiesAfterSending()})
    job = OutboxJob.get(OutboxJob.uid == c.booking_job)
    assert job.status == outbox.SENDING and job.result["once"]["book"]
    assert worker.recover_interrupted() == 1
    run_until_settled({name: adapter})
    assert len(parcels(sim, c.reference)) == 1
    assert OutboxJob.get_by_id(job.id).result["found_existing"] is True


def test_a_refused_city_fails_with_the_reason_and_is_booked_once_corrected(site, courier):
    name, sim, adapter = courier
    f = packed(site)
    c = couriers.dispatch(f.uid, site.cashier.id, name, CITY[name], shopify_enabled=False)
    job = OutboxJob.get(OutboxJob.uid == c.booking_job)
    bad = dict(job.payload, city={"code": "999999", "name": "Atlantis"})
    job.payload = bad
    job.save()
    assert worker.run_jobs({name: adapter})["failed"] == 1
    job = OutboxJob.get_by_id(job.id)
    assert job.status == outbox.FAILED and "refused" in job.last_error and "city" in job.last_error.lower()
    c = Consignment.get_by_id(c.id)
    assert c.status == couriers.TO_BE_BOOKED and "city" in c.last_error.lower()
    couriers.rebook(c.uid, site.supervisor.id, city_code=CITY[name])
    run_until_settled({name: adapter})
    assert len(parcels(sim, c.reference)) == 1 and Consignment.get_by_id(c.id).status == couriers.BOOKED
    with pytest.raises(StateError):
        couriers.rebook(c.uid, site.supervisor.id)


def book(site, courier_name, adapter, **kw):
    f = packed(site, **kw)
    c = couriers.dispatch(f.uid, site.cashier.id, courier_name, CITY[courier_name], shopify_enabled=True)
    run_until_settled({courier_name: adapter})
    return Consignment.get_by_id(c.id)


def advance(sim, number, words):
    httpx.post(f"{sim.url}/_sim/advance", json={"tracking_number": number, "status": words}).raise_for_status()


def track(name, adapter, now=None):
    Consignment.update(last_tracked_at=None).execute()
    return worker.track_due({name: adapter}, shopify_enabled=True, now=now)


def test_tracking_follows_the_parcel_to_delivered(site, courier):
    name, sim, adapter = courier
    c = book(site, name, adapter)
    assert track(name, adapter)["read"] == 1 and Consignment.get_by_id(c.id).status == couriers.BOOKED
    advance(sim, c.tracking_number, leo_sim.ARRIVED if name == "leopards" else px_sim.EN_ROUTE)
    track(name, adapter)
    c = Consignment.get_by_id(c.id)
    assert c.status == couriers.IN_TRANSIT and c.courier_status
    advance(sim, c.tracking_number, DELIVERED_WORDS[name])
    assert track(name, adapter)["delivered"] == 1
    c = Consignment.get_by_id(c.id)
    assert c.status == couriers.DELIVERED and c.delivered_at
    assert c.fulfillment.status == "DELIVERED"
    tags = [j.payload["tags"] for j in OutboxJob.select().where(OutboxJob.kind == "tags_add")]
    assert ["pos-delivered"] in tags
    # A delivered parcel is no longer polled.
    assert couriers.due_for_tracking(dt.timedelta(0)) == []


def test_a_return_shows_returning_and_brings_stock_back_only_when_scanned_in(site, courier):
    name, sim, adapter = courier
    before_lhr, before_khi = ledger.on_hand(site.kurta.id, site.lhr.id), ledger.on_hand(site.kurta.id, site.khi.id)
    c = book(site, name, adapter)
    advance(sim, c.tracking_number, RETURNED_WORDS[name])
    assert track(name, adapter)["returning"] == 1
    c = Consignment.get_by_id(c.id)
    assert c.status == couriers.RETURNING and c.fulfillment.status == "DISPATCHED"
    assert ledger.on_hand(site.kurta.id, site.khi.id) == before_khi       # not yet in anyone's hands
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == before_lhr - 2   # left with the parcel
    with pytest.raises(NotFound):
        couriers.receive_return("NO-SUCH-CN", site.khi.id, site.cashier.id, shopify_enabled=True)
    couriers.receive_return(c.tracking_number, site.khi.id, site.cashier.id, shopify_enabled=True)
    c = Consignment.get_by_id(c.id)
    assert c.status == couriers.RETURNED and c.received_branch_id == site.khi.id
    assert c.fulfillment.status == "RETURNED"
    assert ledger.on_hand(site.kurta.id, site.khi.id) == before_khi + 2   # back where it was received
    with pytest.raises(StateError, match="already received"):
        couriers.receive_return(c.tracking_number, site.khi.id, site.cashier.id, shopify_enabled=True)
    assert ledger.on_hand(site.kurta.id, site.khi.id) == before_khi + 2
    assert ledger.check() == []


def test_cancel_a_booking_before_pickup(site, courier):
    name, sim, adapter = courier
    c = book(site, name, adapter)
    couriers.request_cancel(c.uid, site.supervisor.id)
    fault(sim, "cancel", "lose_answer")
    run_until_settled({name: adapter})
    c = Consignment.get_by_id(c.id)
    assert c.status == couriers.CANCELLED
    assert parcels(sim, c.reference)[0]["cancelled"] is True
    with pytest.raises(StateError):
        couriers.request_cancel(c.uid, site.supervisor.id)


def test_airway_bill_from_the_courier_is_a_pdf(site, courier, tmp_path):
    name, sim, adapter = courier
    f = packed(site)
    c = couriers.dispatch(f.uid, site.cashier.id, name, CITY[name], shopify_enabled=False)
    worker.run_jobs({name: adapter}, label_dir=tmp_path)
    c = Consignment.get_by_id(c.id)
    pdf = (tmp_path / f"{c.tracking_number}.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and c.label_url.endswith(".pdf")


def test_dispatch_refuses_what_a_courier_cannot_book(site):
    f = packed(site)
    with pytest.raises(InvalidInput, match="not a courier"):
        couriers.dispatch(f.uid, site.cashier.id, "tcs", "Lahore", shopify_enabled=False)
    with pytest.raises(InvalidInput, match="city list"):
        couriers.dispatch(f.uid, site.cashier.id, "leopards", "Atlantis", shopify_enabled=False)
    with pytest.raises(InvalidInput, match="weight"):
        couriers.dispatch(f.uid, site.cashier.id, "leopards", "789", weight_grams=0, shopify_enabled=False)
    assert Consignment.select().count() == 0 and OutboxJob.select().where(
        OutboxJob.channel == couriers.COURIER).count() == 0
    fulfillments.unpack(f.uid, site.cashier.id)
    with pytest.raises(StateError, match="pack it"):
        couriers.dispatch(f.uid, site.cashier.id, "leopards", "789", shopify_enabled=False)


def test_an_unconfigured_courier_fails_the_job_with_a_reason(site):
    f = packed(site)
    c = couriers.dispatch(f.uid, site.cashier.id, "postex", "Lahore", shopify_enabled=False)
    assert worker.run_jobs({})["failed"] == 1
    assert "not configured" in OutboxJob.get(OutboxJob.uid == c.booking_job).last_error


def test_migration_7_adds_the_courier_tables_to_a_database_without_them(tmp_path):
    from pos_core import db, migrations
    from pos_core.models import COURIER_MODELS, MODELS
    db.open_database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        with db.write():
            db.database.create_tables([migrations.SchemaMigration])
            db.database.create_tables([m for m in MODELS if m not in COURIER_MODELS])
            # every other migration's tables and columns come from today's models, so stamp them
            for version, name, _ in migrations.MIGRATIONS:
                if version != 7:
                    migrations.SchemaMigration.create(version=version, name=name)
        assert not db.database.table_exists("consignment")
        assert migrations.migrate() == [7]
        for m in COURIER_MODELS:
            assert db.database.table_exists(m._meta.table_name)
        migrations.check_current()
        assert migrations.migrate() == []
    finally:
        db.close()


def test_the_agent_stores_each_couriers_city_list_for_the_tills(site, courier):
    from pos_core import courier_cities
    name, sim, adapter = courier
    count = {"leopards": 28, "postex": 27}[name]
    assert worker.refresh_cities({name: adapter}) == {name: count}
    assert len(courier_cities.cities(name)) == count
    fault(sim, "cities", "error_500")
    assert "server error" in worker.refresh_cities({name: adapter})[name]    # the stored list stays
    assert len(courier_cities.cities(name)) == count


def test_a_booking_our_records_disagree_with_goes_to_a_person(site, courier):
    """The consignment already has another number (booked by hand meanwhile?): the job stops."""
    name, sim, adapter = courier
    f = packed(site)
    c = couriers.dispatch(f.uid, site.cashier.id, name, CITY[name], shopify_enabled=False)
    couriers.record_booked(c.uid, "BY-HAND-1")
    assert worker.run_jobs({name: adapter})["failed"] == 1
    job = OutboxJob.get(OutboxJob.uid == c.booking_job)
    assert job.status == outbox.NEEDS_RECONCILIATION and "BY-HAND-1" in job.last_error
    assert Consignment.get_by_id(c.id).tracking_number == "BY-HAND-1"


def test_leopards_payments_read_from_its_api_settle_delivered_parcels_once(site, sims):
    from pos_core import courier_cod
    sim = sims["leopards"]
    httpx.post(f"{sim.url}/_sim/reset")
    adapter = adapter_for("leopards", sim.url)
    paid, pending = (book(site, "leopards", adapter, oid=f"gid://shopify/Order/{n}", name=f"#20{n}") for n in (1, 2))
    for c in (paid, pending):
        advance(sim, c.tracking_number, leo_sim.DELIVERED)
    track("leopards", adapter)
    httpx.post(f"{sim.url}/_sim/pay", json={"tracking_number": paid.tracking_number, "collected": "2,599.00",
                                            "charges": "180", "paid": "2419"}).raise_for_status()
    assert worker.collect_payments({"leopards": adapter}) == {"leopards": 1}
    line = courier_cod.CodStatementLine.get()
    assert (line.tracking_number, line.result, line.charges_paisa, line.paid_paisa) == (
        paid.tracking_number, courier_cod.CHARGES, 18000, 241900)
    assert [o.tracking_number for o in courier_cod.owed()] == [pending.tracking_number]
    assert worker.collect_payments({"leopards": adapter}) == {"leopards": 0}     # read again: nothing new
    assert courier_cod.CodStatementLine.select().count() == 1
    fault(sim, "payments", "error_500")
    assert "server error" in worker.collect_payments({"leopards": adapter})["leopards"]
    adapter.close()


@pytest.mark.parametrize("name", ["leopards", "postex"])
def test_pos_sim_runs_each_courier_as_a_process(name):
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-m", "simulators", name, "--port", "0"], stdout=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line
        url = line.split("listening on ")[1].strip()
        a = adapter_for(name, url)
        assert len(a.cities()) > 20
        a.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_a_refused_parcel_can_leave_with_another_courier_booked_by_hand(site, courier):
    name, sim, adapter = courier
    f = packed(site)
    c = couriers.dispatch(f.uid, site.cashier.id, name, CITY[name], shopify_enabled=True)
    fault(sim, "book", "lose_answer")
    worker.run_jobs({name: adapter})                     # the answer was lost: it may be booked
    with pytest.raises(StateError, match="may have reached"):
        couriers.book_by_hand(c.uid, site.supervisor.id, "TCS", "779000111")
    run_until_settled({name: adapter})                   # it was: booked, not by hand
    with pytest.raises(StateError, match="only one still to be booked"):
        couriers.book_by_hand(c.uid, site.supervisor.id, "TCS", "779000111")

    f2 = packed(site, oid="gid://shopify/Order/2", name="#1002")
    c2 = couriers.dispatch(f2.uid, site.cashier.id, name, CITY[name], shopify_enabled=True)
    job = OutboxJob.get(OutboxJob.uid == c2.booking_job)
    job.payload = dict(job.payload, city={"code": "999999", "name": "Atlantis"})
    job.save()
    assert worker.run_jobs({name: adapter})["failed"] == 1    # refused: nothing booked
    couriers.book_by_hand(c2.uid, site.supervisor.id, "TCS", "779000111")
    c2 = Consignment.get_by_id(c2.id)
    assert c2.status == couriers.CANCELLED
    ship = OutboxJob.get((OutboxJob.kind == "fulfillment_create") & (OutboxJob.doc_ref == f2.uid))
    assert ship.payload["tracking"] == {"company": "TCS", "number": "779000111",
                                        "url": "https://www.tcsexpress.com/track/779000111"}
    assert ship.uid in [j.uid for j in agent_orders.due_jobs()]
    assert worker.due_jobs() == [] and len(parcels(sim, c2.reference)) == 0
    assert couriers.to_be_booked() == []


def test_the_tracking_poll_asks_for_fifty_parcels_at_a_time(site, courier):
    name, sim, adapter = courier
    booked = [book(site, name, adapter, oid=f"gid://shopify/Order/{n}", name=f"#30{n:02d}") for n in range(3)]
    advance(sim, booked[1].tracking_number, DELIVERED_WORDS[name])
    before = httpx.get(f"{sim.url}/_sim/requests").json().get("track", 0)
    counts = track(name, adapter)
    assert counts["read"] == 3 and counts["requests"] == 1 and counts["delivered"] == 1
    assert httpx.get(f"{sim.url}/_sim/requests").json()["track"] == before + 1
    fault(sim, "track", "error_500")
    counts = track(name, adapter)
    assert counts["errors"] == 2 and all("server error" in Consignment.get_by_id(c.id).last_error
                                         for c in (booked[0], booked[2]))


def test_booked_again_before_shopify_had_it_the_fulfillment_waits_for_the_new_number(site, courier):
    name, sim, adapter = courier
    c = book(site, name, adapter)                      # booked; Shopify is offline: its job waits unsent
    couriers.request_cancel(c.uid, site.supervisor.id)
    run_until_settled({name: adapter})
    again = couriers.book_again(c.uid, site.supervisor.id, name, CITY[name])
    ship = OutboxJob.get(OutboxJob.kind == "fulfillment_create")
    assert ship.depends_on == again.booking_job and agent_orders.due_jobs() == []
    run_until_settled({name: adapter})
    again = Consignment.get_by_id(again.id)
    ship = OutboxJob.get_by_id(ship.id)
    assert ship.payload["tracking"]["number"] == again.tracking_number != c.tracking_number
    assert [j.uid for j in agent_orders.due_jobs()] == [ship.uid]
    assert OutboxJob.select().where(OutboxJob.kind == "tracking_update").count() == 0
