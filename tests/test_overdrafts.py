"""Issue 14: loyalty points (like store credit) spent twice at two branches offline are flagged at
the head office with both documents, nothing clipped; a manager settles an overdraft with an
append-only entry of its own that reaches every branch (real head office on PostgreSQL, two branch
SQLite files, the real link, `pos-admin` as a process)."""
from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

import pytest

from chain_kit import at, drop_hq, new_hq, pull_until
from pos_core import customers, db, hq, ledger, loyalty, overdrafts, sales
from pos_core.errors import InvalidInput, NotFound, PermissionDenied
from pos_core.models import AuditEvent, CreditEntry, PointsEntry, Staff, Variant
from test_chain_workflows import POLICY, REPO, _trade, link, needs_pg, sites, staff_id, sync  # noqa: F401

PHONE = "03001234567"


def _sell(code, sku, customer, points=0):
    counter, shift = _trade(code)
    v = Variant.get(Variant.sku == sku)
    tenders = [sales.Tender("points", Decimal(points))] if points else []
    tenders.append(sales.Tender("cash", Decimal(v.price_paisa - points * 100) / 100))
    return sales.complete_sale(POLICY, counter_id=counter.id, shift_id=shift.id, staff_id=staff_id("ayesha"),
                               lines=[sales.SaleLine(v.id, 1)], tenders=tenders, customer_id=customer.id)


def _admin(cfg, *args, pin="3333"):
    env = {**os.environ, "POS_STAFF_PIN": pin}
    return subprocess.run([sys.executable, "-m", "pos_core.admin", "--config", str(cfg), "hq", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=60, env=env)


def _points(phone=PHONE) -> int:
    return loyalty.balance(customers.find_by_phone(phone).id)


@needs_pg
def test_points_overdrawn_at_two_branches_are_flagged_then_written_off_once(sites, tmp_path):
    s = sites
    with at(s["LHR1"]):
        loyalty.set_program(point_value_paisa=100)       # a point is worth Re 1
        loyalty.set_rule("10")
        sana = customers.get_or_create(PHONE, "Sana")
        earned = loyalty.sale_points(_sell("LHR1", "1004", sana))[0]
        assert earned == 129                             # 10 a Rs 100 of Rs 1,299
        loyalty.set_rule("0")                            # the spends below earn nothing, to keep sums plain
    sync(s, "LHR1")
    with at(s["KHI1"]):
        loyalty.set_program(point_value_paisa=100)
        ln = link(s, "KHI1")
        pull_until(ln, lambda: customers.find_by_phone(PHONE) is not None and _points() == earned)
        ln.close()

    # Both links down: each branch takes 100 of her 129 points.
    with at(s["LHR1"]):
        lahore = _sell("LHR1", "1003", customers.find_by_phone(PHONE), points=100)
        assert _points() == 29
    with at(s["KHI1"]):
        karachi = _sell("KHI1", "1003", customers.find_by_phone(PHONE), points=100)
        assert _points() == 29
    sync(s, "KHI1")
    sync(s, "LHR1")
    with at(s["hq"]):
        assert _points() == -71                          # not clipped: what is owed shows
        assert sorted(e.delta for e in PointsEntry.select()) == [-100, -100, 129]
        [o] = hq.overdrafts()
        assert (o["what"], o["phone"], o["balance"]) == ("points", "+923001234567", -71)
        assert sorted((d["branch"], d["doc_ref"], d["delta"]) for d in o["documents"]) == sorted([
            ("LHR1", lahore.number, -100), ("KHI1", karachi.number, -100)])
    cfg = tmp_path / "hq.toml"
    cfg.write_text(f'[database]\nurl = "{s["hq"]}"\n')
    r = _admin(cfg, "overdrafts")
    assert r.returncode == 1, r.stderr
    assert "+923001234567 Sana: loyalty points -71 points" in r.stdout
    assert lahore.number in r.stdout and karachi.number in r.stdout and "KHI1" in r.stdout

    # Bad input is refused plainly and writes nothing.
    for args, pin, message in [
            (("settle", "03009999999", "--how", "writeoff", "--note", "x", "--staff", "imran"), "3333",
             "no customer with phone +923009999999"),
            (("settle", "12345", "--how", "writeoff", "--note", "x", "--staff", "imran"), "3333",
             "not a Pakistani mobile number"),
            (("settle", PHONE, "--how", "writeoff", "--note", "x", "--staff", "ayesha"), "1111",
             "may not settle overdraft"),
            (("settle", PHONE, "--how", "writeoff", "--note", "x", "--staff", "imran"), "0000", "wrong PIN"),
            (("settle", PHONE, "--how", "writeoff", "--note", " ", "--staff", "imran"), "3333", "a note is needed"),
            (("settle", PHONE, "--how", "writeoff", "--note", "x", "--what", "credit", "--staff", "imran"), "3333",
             "has no overdraft to settle (credit Rs 0.00)")]:
        r = _admin(cfg, "overdrafts", *args, pin=pin)
        assert r.returncode == 1 and message in r.stderr, (args, r.stdout, r.stderr)
    r = _admin(cfg, "overdrafts", "settle", PHONE, "--how", "forgive", "--note", "x", "--staff", "imran")
    assert r.returncode == 2 and "invalid choice" in r.stderr
    with at(s["hq"]):
        assert PointsEntry.select().count() == 3 and _points() == -71

    # The manager writes it off: one entry, audited, the balance back to zero, off the open list.
    r = _admin(cfg, "overdrafts", "settle", PHONE, "--how", "writeoff", "--note", "goodwill, Eid", "--staff", "imran")
    assert r.returncode == 0, r.stderr
    assert "+923001234567: 71 points written off; balance now 0 points" in r.stdout
    r = _admin(cfg, "overdrafts", "settle", PHONE, "--how", "writeoff", "--note", "again", "--staff", "imran")
    assert r.returncode == 0 and "settled already (written off by Imran" in r.stdout, r.stderr
    with at(s["hq"]):
        settle = PointsEntry.get(PointsEntry.kind == "settle")
        assert (settle.delta, settle.doc_ref, settle.staff.code) == (71, "overdraft written off", "imran")
        assert PointsEntry.select().count() == 4 and _points() == 0 and hq.overdrafts() == []
        [a] = AuditEvent.select().where(AuditEvent.action == overdrafts.ACTION)
        assert a.detail["how"] == "writeoff" and a.detail["note"] == "goodwill, Eid" and len(a.detail["documents"]) == 2
    r = _admin(cfg, "overdrafts")
    assert r.returncode == 0 and "no store credit or points overdrawn" in r.stdout
    r = _admin(cfg, "overdrafts", "--settled")                   # its history stays visible
    assert r.returncode == 0 and "written off by Imran: goodwill, Eid" in r.stdout
    assert lahore.number in r.stdout and karachi.number in r.stdout

    # The settlement reaches both branches like any other entry; every site agrees.
    for code in ("LHR1", "KHI1"):
        with at(s[code]):
            ln = link(s, code)
            pull_until(ln, lambda: PointsEntry.select().count() == 4)
            ln.close()
            assert _points() == 0 and ledger.check() == []
            assert PointsEntry.get(PointsEntry.kind == "settle").event_key == settle.event_key
    with at(s["hq"]):
        assert hq.parked() == []


@pytest.fixture
def office():
    if not os.environ.get("POS_TEST_PG_URL"):
        pytest.skip("needs POS_TEST_PG_URL (the head office is PostgreSQL)")
    url, name = new_hq()
    with at(url):
        yield
    db.close()
    drop_hq(name)


def test_charged_overdraft_stays_owed_and_a_deeper_one_is_listed_again(office):
    imran, ayesha = Staff.get(Staff.code == "imran"), Staff.get(Staff.code == "ayesha")
    sana = customers.get_or_create(PHONE, "Sana")
    with db.write():
        customers.add_credit(sana.id, 1000_00, "LHR1-C1-R000001", "refund:a")
        customers.add_credit(sana.id, -800_00, "LHR1-C1-000002", "spend:b")
        customers.add_credit(sana.id, -700_00, "KHI1-C1-000003", "spend:c")
    [o] = overdrafts.open_list()
    assert (o["what"], o["balance"], [d["doc_ref"] for d in o["documents"]]) == (
        "credit", -500_00, ["LHR1-C1-000002", "KHI1-C1-000003"])
    with pytest.raises(PermissionDenied):
        overdrafts.settle(PHONE, "charge", "she pays at her next visit", ayesha.id)
    with pytest.raises(InvalidInput, match="one of writeoff, charge"):
        overdrafts.settle(PHONE, "refund", "x", imran.id)

    r = overdrafts.settle(PHONE, "charge", "she pays at her next visit", imran.id)
    assert (r["done"], r["entry"], r["balance_after"]) == (True, 0, -500_00)   # the debt is recorded as owed
    assert overdrafts.open_list() == []
    assert overdrafts.settle(PHONE, "charge", "twice", imran.id)["done"] is False
    assert [e.delta_paisa for e in CreditEntry.select().order_by(CreditEntry.id)] == [1000_00, -800_00, -700_00, 0]
    assert CreditEntry.get(CreditEntry.delta_paisa == 0).event_key == "settle:credit:spend:c:charge"
    [h] = overdrafts.history()
    assert (h["how"], h["by"], h["customer"], h["balance"]) == ("charge", "Imran", "+923001234567", -500_00)

    # She pays some back (a refund to credit): still the overdraft the manager charged her.
    with db.write():
        customers.add_credit(sana.id, 200_00, "LHR1-C1-R000005", "refund:e")
    assert overdrafts.open_list() == []
    # A spend from a branch that was offline arrives later: a new overdraft, listed again.
    with db.write():
        customers.add_credit(sana.id, -100_00, "ISB1-C1-000004", "spend:d")
    [o] = overdrafts.open_list()
    assert o["balance"] == -400_00 and "ISB1-C1-000004" in [d["doc_ref"] for d in o["documents"]]
    assert overdrafts.settle(PHONE, "charge", "she will pay it all", imran.id)["done"] is True
    # She never pays: the charged overdraft is written off, once.
    r = overdrafts.settle(PHONE, "writeoff", "she moved away", imran.id)
    assert (r["done"], r["entry"], r["balance_after"]) == (True, 400_00, 0)
    assert overdrafts.settle(PHONE, "writeoff", "again", imran.id)["done"] is False
    assert overdrafts.settle(PHONE, "charge", "again", imran.id)["done"] is False
    assert overdrafts.open_list() == [] and [h["how"] for h in overdrafts.history()] == ["writeoff", "charge", "charge"]
    with pytest.raises(InvalidInput, match="has no overdraft to settle"):
        customers.get_or_create("03007654321", "Bilal")
        overdrafts.settle("03007654321", "writeoff", "x", imran.id)
    with pytest.raises(NotFound, match="no customer with phone"):
        overdrafts.settle("03110000000", "writeoff", "x", imran.id)


def test_points_charged_to_the_customer_keep_the_lots_sound(office):
    imran = Staff.get(Staff.code == "imran")
    sana = customers.get_or_create(PHONE, "Sana")
    with db.write():
        loyalty.move(sana.id, 50, "earn", "LHR1-C1-000001", "earn:a")
        loyalty.move(sana.id, -40, "redeem", "LHR1-C1-000002", "redeem:b")
        loyalty.move(sana.id, -40, "redeem", "KHI1-C1-000003", "redeem:c")
        customers.add_credit(sana.id, -1_00, "KHI1-C1-000003", "spend:c")   # both overdrawn
    with pytest.raises(InvalidInput, match="say which with --what"):
        overdrafts.settle(PHONE, "charge", "x", imran.id)
    r = overdrafts.settle(PHONE, "charge", "from her next purchases", imran.id, what="points")
    assert (r["done"], r["entry"], r["balance_after"]) == (True, 0, -30)
    assert [o["what"] for o in overdrafts.open_list()] == ["credit"]
    with db.write():   # her next purchase earns 45: the debt is paid first
        loyalty.move(sana.id, 45, "earn", "LHR1-C1-000004", "earn:d")
    assert loyalty.balance(sana.id) == 15
    assert sum(left for _, left in loyalty.lots(sana.id, sana.created_at)) == 15


def test_two_managers_settling_at_once_write_one_entry(office):
    import threading
    imran = Staff.get(Staff.code == "imran")
    sana = customers.get_or_create(PHONE, "Sana")
    with db.write():
        customers.add_credit(sana.id, 100_00, "LHR1-C1-R000001", "refund:a")
        customers.add_credit(sana.id, -300_00, "KHI1-C1-000002", "spend:b")
    start, results = threading.Barrier(2), []

    def settle(how):
        start.wait()
        try:
            results.append(overdrafts.settle(PHONE, how, f"{how} agreed", imran.id))
        finally:
            db.database.close()     # this thread's connection
    threads = [threading.Thread(target=settle, args=(how,)) for how in ("writeoff", "writeoff")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r["done"] for r in results) == [False, True]
    assert "settled already" in next(r["reason"] for r in results if not r["done"])
    [entry] = CreditEntry.select().where(CreditEntry.event_key.startswith("settle:"))
    assert (entry.event_key, entry.delta_paisa) == ("settle:credit:spend:b:writeoff", 200_00)
    assert customers.find_by_phone(PHONE).store_credit_paisa == 0 and len(overdrafts.history()) == 1
