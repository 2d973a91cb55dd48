"""The courier commands and the agent process as a technician runs them: `pos-agent once` books a
dispatched parcel with the Leopards simulator and follows it to Delivered; `pos-admin courier`
lists, maps cities, imports the COD statement and reports what is owed."""
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pos_core import couriers, db, fulfillments, online_orders
from pos_core.models import Branch, Consignment, Staff, Variant
from simulators.couriers import leopards as leo_sim

ROOT = Path(__file__).resolve().parent.parent


def run(cfg, module, *args, pin="3333"):
    env = dict(os.environ, POS_STAFF_PIN=pin)
    return subprocess.run([sys.executable, "-m", module, "--config", str(cfg), *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, timeout=90)


@pytest.fixture
def site(tmp_path):
    sim = leo_sim.start()
    cfg = tmp_path / "pos.toml"
    cfg.write_text(f'''[database]
url = "sqlite:///pos.db"

[courier_api.leopards]
endpoint = "{sim.url}"
api_key = "leo-key"
api_password = "leo-pass"
origin_city = "789"
track_minutes = 1
''')
    assert run(cfg, "pos_core.admin", "demo").returncode == 0
    yield cfg, sim
    sim.stop()


def dispatch_one(cfg):
    db.open_database(f"sqlite:///{cfg.parent / 'pos.db'}")
    try:
        v = Variant.select().first()
        lhr = Branch.get(Branch.code == "LHR1")
        clerk = Staff.get(Staff.code == "imran")
        order, _ = online_orders.record_from_shopify({
            "id": "gid://shopify/Order/77", "name": "#7077", "createdAt": "2026-12-01T09:00:00Z",
            "updatedAt": "2026-12-01T09:00:00Z", "cancelledAt": None, "cancelReason": None, "edited": False,
            "displayFinancialStatus": "PENDING", "displayFulfillmentStatus": "UNFULFILLED",
            "paymentGatewayNames": ["Cash on Delivery (COD)"], "tags": [], "note": "", "email": "", "phone": None,
            "currentTotalPriceSet": {"shopMoney": {"amount": "3500.00", "currencyCode": "PKR"}},
            "totalOutstandingSet": {"shopMoney": {"amount": "3500.00", "currencyCode": "PKR"}},
            "customer": {"displayName": "Sadia", "defaultPhoneNumber": {"phoneNumber": "+923331112223"}},
            "shippingAddress": {"name": "Sadia", "address1": "Flat 3, Block B", "city": "Pindi"},
            "lineItems": {"nodes": [{"id": "LX", "sku": v.sku, "name": v.name, "quantity": 1, "currentQuantity": 1,
                                     "unfulfilledQuantity": 1, "variant": {"id": None},
                                     "originalUnitPriceSet": {"shopMoney": {"amount": "3500.00"}}}]}},
            ("Cash on Delivery (COD)",))
        online_orders.confirm(order.id, clerk.id, shopify_enabled=False)
        f = fulfillments.pack(fulfillments.create(order.id, lhr.id, clerk.id).uid, clerk.id)
        return couriers.dispatch(f.uid, clerk.id, "leopards", "1045", shopify_enabled=False).uid
    finally:
        db.close()


def consignment(cfg, uid):
    db.open_database(f"sqlite:///{cfg.parent / 'pos.db'}")
    try:
        c = Consignment.get(Consignment.uid == uid)
        Consignment.update(last_tracked_at=None).execute()   # due for tracking at the next pass
        return c
    finally:
        db.close()


def test_agent_books_and_tracks_and_admin_settles(site, tmp_path):
    cfg, sim = site
    uid = dispatch_one(cfg)
    waiting = run(cfg, "pos_core.admin", "courier", "waiting")
    assert waiting.returncode == 0 and "Rawalpindi" in waiting.stdout and "PENDING" in waiting.stdout

    city = run(cfg, "pos_core.admin", "courier", "city", "leopards", "Pindi")
    assert city.returncode == 1 and "could be: Rawalpindi (code 1045); Pindi Bhattian" in city.stdout

    httpx.post(f"{sim.url}/_sim/faults", json={"op": "book", "fault": "booked_500"})
    first = run(cfg, "sync_agent", "once")
    assert first.returncode == 0, first.stderr
    assert consignment(cfg, uid).status == couriers.TO_BE_BOOKED      # the 500 left it uncertain
    db.open_database(f"sqlite:///{cfg.parent / 'pos.db'}")
    from pos_core.models import OutboxJob
    OutboxJob.update(next_attempt_at=OutboxJob.created_at).execute()
    db.close()
    assert run(cfg, "sync_agent", "once").returncode == 0
    c = consignment(cfg, uid)
    assert c.status == couriers.BOOKED and len(httpx.get(f"{sim.url}/_sim/parcels").json()["parcels"]) == 1
    assert (cfg.parent / "labels" / f"{c.tracking_number}.pdf").read_bytes().startswith(b"%PDF")

    httpx.post(f"{sim.url}/_sim/advance", json={"tracking_number": c.tracking_number, "status": "Delivered"})
    assert run(cfg, "sync_agent", "once").returncode == 0
    assert consignment(cfg, uid).status == couriers.DELIVERED
    listed = run(cfg, "pos_core.admin", "courier", "list")
    assert f"Leopards {c.tracking_number} delivered" in listed.stdout

    owed = run(cfg, "pos_core.admin", "courier", "owed")
    assert "MISSING" in owed.stdout and "owed: Leopards Rs 3,500.00" in owed.stdout
    statement = tmp_path / "leopards-payments.csv"
    statement.write_text(f"CN Number,Order ID,COD Amount,Delivery Charges,Net Payable\n"
                         f"{c.tracking_number},{c.reference},3000,150,2850\n")
    out = run(cfg, "pos_core.admin", "courier", "statement", "leopards", str(statement), "--staff", "imran")
    assert out.returncode == 0, out.stderr
    assert "SHORT_PAID" in out.stdout and "short by Rs 500.00" in out.stdout
    again = run(cfg, "pos_core.admin", "courier", "statement", "leopards", str(statement), "--staff", "imran")
    assert again.returncode == 1 and "imported already" in again.stderr
    owed = run(cfg, "pos_core.admin", "courier", "owed")
    assert "owed: Leopards Rs 500.00" in owed.stdout

    refused = run(cfg, "pos_core.admin", "courier", "by-hand", c.reference, "TCS", "779", "--staff", "imran")
    assert refused.returncode == 1 and "only one still to be booked" in refused.stderr

    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Amount\nx,1\n")
    out = run(cfg, "pos_core.admin", "courier", "statement", "leopards", str(bad), "--staff", "imran")
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "consignment number column" in out.stderr


def test_doctor_checks_each_couriers_credentials(site):
    import io
    from sync_agent import doctor
    cfg, sim = site

    def courier_line():
        out = io.StringIO()
        doctor.Doctor(str(cfg), False, out, timeout_s=2).run()
        db.close()
        return next(l for l in out.getvalue().splitlines() if "courier leopards" in l), out.getvalue()

    line, _ = courier_line()
    assert line.startswith("OK") and "28 cities" in line
    cfg.write_text(cfg.read_text().replace('api_password = "leo-pass"', 'api_password = "wrong"'))
    line, text = courier_line()
    assert line.startswith("FAIL") and "Invalid API Key or Password" in line and "to be booked" in text
