"""Two branch boxes (SQLite files) and a head office (PostgreSQL), driven in this process:
pull the chain's records down, sell offline, push up, converge; duplicates, parking, the pull
cursor under out-of-order commits, and the head office refusing a branch's credential."""
from __future__ import annotations

import json
from pathlib import Path
from decimal import Decimal

import psycopg2
import pytest

from chain_kit import PG_URL, SKUS, at, drop_hq, new_branch_db, new_hq, open_for_trade, pull_until, role_url
from pos_core import chain, db, hq, ledger, sales
from pos_core.models import ChainChange, PosOrder, StockLevel, StockMovement, Variant
from pos_core.policy import SalePolicy
from sync_agent.hq.link import BranchLink

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs POS_TEST_PG_URL (the head office is PostgreSQL)")
POLICY = SalePolicy()


@pytest.fixture
def chain_sites(tmp_path):
    url, name = new_hq()
    with at(url):
        hq.add_branch("LHR1")
        hq.add_branch("KHI1")
    sites = {"hq": url, "hq_name": name,
             "LHR1": new_branch_db(tmp_path / "lhr.db"), "KHI1": new_branch_db(tmp_path / "khi.db")}
    yield sites
    db.close()
    drop_hq(name)


def link(sites, code, keep_days=7) -> BranchLink:
    return BranchLink(role_url(sites["hq_name"], code), "", code, keep_days=keep_days)


def sell(counter, shift, cashier, items):
    lines = [sales.SaleLine(Variant.get(Variant.sku == sku).id, q) for sku, q in items]
    total = sum(Variant.get(Variant.sku == sku).price_paisa * q for sku, q in items)
    return sales.complete_sale(POLICY, counter_id=counter.id, shift_id=shift.id, staff_id=cashier.id,
                               lines=lines, tenders=[sales.Tender("cash", Decimal(total) / 100)])


def ledger_of(code) -> dict[str, int]:
    rows = (StockLevel.select(Variant.sku, StockLevel.on_hand).join(Variant)
            .switch(StockLevel).join(chain.model_for("branch")).where(chain.model_for("branch").code == code).tuples())
    return dict(rows)


def test_sell_offline_then_converge_exactly_once(chain_sites):
    s = chain_sites
    sold = {}
    for code in ("LHR1", "KHI1"):
        with at(s[code]):
            ln = link(s, code)
            pull_until(ln)                                    # staff, branches, counters, catalog
            assert Variant.select().count() == len(SKUS)
            counter, shift, cashier = open_for_trade(code)
            # offline: the sales complete locally; nothing waits for the head office
            orders = [sell(counter, shift, cashier, [("1001", 1), ("1002", 2)]) for _ in range(5)]
            sold[code] = {o.uid for o in orders}
            ln.run_once()                                     # the link comes up: push and pull
            assert ln.up and ln.last_error == ""
            mine = ledger_of(code)
            assert mine["1001"] == 45 and mine["1002"] == 40
            ln.close()
    with at(s["hq"]):
        counts = hq.apply_inbox()
        assert counts["parked"] == 0 and counts["applied"] > 0
        for code in ("LHR1", "KHI1"):
            at_hq = {o.uid for o in PosOrder.select().join(chain.model_for("branch"))
                     .where(chain.model_for("branch").code == code)}
            assert at_hq == sold[code]
            assert ledger_of(code) == {"1001": 45, "1002": 40, "1003": 50, "1004": 50}
        assert ledger.check() == []
        before = db.database.execute_sql("SELECT count(*) FROM hq_inbox").fetchone()[0]
        status = {r["branch"]: r for r in hq.status()}
        assert status["LHR1"]["pending_rows"] == 0 and status["LHR1"]["parked"] == 0
        assert status["LHR1"]["last_contact_at"] is not None
    # duplicate delivery: the branch forgets how far it got and sends everything again
    with at(s["LHR1"]):
        ln = link(s, "LHR1")
        hq_db = ln._hq()
        with hq_db.atomic():
            hq_db.execute_sql("SELECT hq_mark(0, 0, 0, NULL, 4, '')")   # cannot move the position back
        assert ln.push_once() == 0
        # resend the whole log by hand, as a lost answer would
        ser = chain.Serializer(db.database)
        out = []
        for c in ChainChange.select().where(ChainChange.table_name.in_(chain.UP_TABLES)):
            for rec in ser.records(c.table_name, [c.row_id]).values():
                out.append((c.xid, c.seq, c.table_name, rec["k"], json.dumps(rec)))
        with hq_db.atomic():
            for xid, seq, t, k, d in out:
                hq_db.execute_sql("INSERT INTO hq_inbox (branch_code, xid, seq, table_name, key, data, schema_version) "
                                  "VALUES ('LHR1', %s, %s, %s, %s, %s, 4) ON CONFLICT DO NOTHING", (xid, seq, t, k, d))
        ln.close()
    with at(s["hq"]):
        assert db.database.execute_sql("SELECT count(*) FROM hq_inbox").fetchone()[0] == before
        assert hq.apply_inbox() == {"applied": 0, "parked": 0}
        assert PosOrder.select().count() == 10
        assert StockMovement.select().where(StockMovement.kind == "sale").count() == 20


def test_a_row_the_head_office_cannot_apply_is_parked_and_the_rest_flow(chain_sites):
    s = chain_sites
    with at(s["LHR1"]):
        ln = link(s, "LHR1")
        pull_until(ln)
        counter, shift, cashier = open_for_trade("LHR1")
        # an item made at the branch alone: the head office has no such SKU
        from pos_core.models import Product
        Variant.create(product=Product.get(), sku="LOCAL-9", name="Local", price_paisa=100_00)
        with db.write():
            v = Variant.get(Variant.sku == "LOCAL-9")
            ledger.record(ledger.Movement("opening:LHR1:LOCAL-9", v.id, counter.branch_id, 5, "opening", "o", "o"))
        bad = sell(counter, shift, cashier, [("LOCAL-9", 1)])
        good = sell(counter, shift, cashier, [("1001", 1)])
        ln.run_once()
        ln.close()
    with at(s["hq"]):
        hq.apply_inbox()
        assert PosOrder.get_or_none(PosOrder.uid == good.uid) is not None
        parked = hq.parked()
        assert parked and all("unknown variant" in p["reason"] for p in parked)
        assert {p["table"] for p in parked} >= {"pos_order_line", "stock_movement"}
        # the head office adds the SKU; the parked rows apply on the next retry, nothing lost
        from pos_core.models import Product
        with db.write():
            Variant.create(product=Product.get(), sku="LOCAL-9", name="Local", price_paisa=100_00)
        hq.retry_parked()
        assert hq.parked() == []
        order = PosOrder.get(PosOrder.uid == bad.uid)
        assert [l.sku for l in order.lines] == ["LOCAL-9"]
        assert ledger.check() == []
    with at(s["LHR1"]):
        ln = link(s, "LHR1")
        ln.run_once()
        assert ln.parked_up == 0
        ln.close()


def test_pull_never_skips_a_transaction_that_commits_out_of_order(chain_sites):
    """T1 takes the lower seq but commits after T2. A pull in between must not move past T1."""
    s = chain_sites
    with at(s["LHR1"]):
        ln = link(s, "LHR1")
        pull_until(ln)
        ln.close()
    t1 = psycopg2.connect(s["hq"])
    t2 = psycopg2.connect(s["hq"])
    c1, c2 = t1.cursor(), t2.cursor()
    c1.execute("UPDATE variant SET price_paisa = 11100 WHERE sku = '1001'")   # lower seq, still open
    c2.execute("UPDATE variant SET price_paisa = 22200 WHERE sku = '1002'")
    t2.commit()                                                                 # higher seq commits first
    with at(s["LHR1"]):
        ln = link(s, "LHR1")
        ln.pull_once()
        prices = {v.sku: v.price_paisa for v in Variant.select()}
        assert prices["1001"] == 99_99
        # T2's row is held back as well: its xid is above the oldest running transaction
        assert prices["1002"] == 333_33
        t1.commit()
        want = {"1001": 11100, "1002": 22200, "1003": 500_00, "1004": 1299_00}
        pull_until(ln, lambda: {v.sku: v.price_paisa for v in Variant.select()} == want)
        ln.close()
    t1.close()
    t2.close()


def test_a_branch_credential_cannot_touch_another_branchs_rows(chain_sites):
    s = chain_sites
    with at(s["KHI1"]):
        ln = link(s, "KHI1")
        pull_until(ln)
        counter, shift, cashier = open_for_trade("KHI1")
        khi_order = sell(counter, shift, cashier, [("1001", 1)])
        ln.run_once()
        ln.close()
    with at(s["hq"]):
        hq.apply_inbox()
        khi_rec = db.database.execute_sql("SELECT data FROM hq_inbox WHERE table_name = 'pos_order'").fetchone()[0]
    lhr = psycopg2.connect(role_url(s["hq_name"], "LHR1"))
    lhr.autocommit = True
    cur = lhr.cursor()
    for sql in ("UPDATE pos_order SET total_paisa = 1",
                "UPDATE stock_level SET on_hand = 999",
                "UPDATE staff SET role = 'admin'",
                "DELETE FROM stock_movement",
                "UPDATE hq_inbox SET status = 'APPLIED'"):
        with pytest.raises(psycopg2.Error, match="permission denied"):
            cur.execute(sql)
    with pytest.raises(psycopg2.Error, match="row-level security"):
        cur.execute("INSERT INTO hq_inbox (branch_code, xid, seq, table_name, key, data, schema_version) "
                    "VALUES ('KHI1', 0, 999999, 'pos_order', 'k', '{}', 4)")
    cur.execute("SELECT DISTINCT branch_code FROM hq_inbox")
    assert cur.fetchall() in ([], [("LHR1",)])              # Karachi's rows are invisible to Lahore
    # Lahore, through its own inbox, claiming to change Karachi's order: parked, not applied
    rec = json.loads(khi_rec)
    rec["d"]["total_paisa"] = 1
    cur.execute("INSERT INTO hq_inbox (branch_code, xid, seq, table_name, key, data, schema_version) "
                "VALUES ('LHR1', 0, 999999, 'pos_order', %s, %s, 4)", (rec["k"], json.dumps(rec)))
    lhr.close()
    with at(s["hq"]):
        hq.apply_inbox()
        assert PosOrder.get(PosOrder.uid == khi_order.uid).total_paisa != 1
        reasons = [p["reason"] for p in hq.parked()]
        assert any("belongs to KHI1, not to LHR1" in r for r in reasons)


def test_the_till_never_waits_on_a_dead_link(chain_sites, tmp_path):
    s = chain_sites
    with at(s["LHR1"]):
        ln = link(s, "LHR1")
        pull_until(ln)
        counter, shift, cashier = open_for_trade("LHR1")
        ln.close()
        dead = BranchLink("postgresql://nobody@127.0.0.1:1/none", "", "LHR1")
        sell(counter, shift, cashier, [("1001", 1)])
        dead.run_once()
        assert not dead.up and "unreachable" in dead.last_error
        from pos_core import heartbeat
        row = heartbeat.get_detail("hq")
        assert row["up"] is False and row["pending"] > 0


def test_a_newer_branch_is_parked_until_the_head_office_upgrades(chain_sites, monkeypatch):
    s = chain_sites
    from pos_core import migrations
    with at(s["LHR1"]):
        ln = link(s, "LHR1")
        pull_until(ln)
        counter, shift, cashier = open_for_trade("LHR1")
        order = sell(counter, shift, cashier, [("1001", 1)])
        monkeypatch.setattr(migrations, "LATEST", migrations.LATEST + 1)   # the branch runs a newer release
        ln.run_once()
        ln.close()
        monkeypatch.undo()
    with at(s["hq"]):
        hq.apply_inbox()
        reasons = {p["reason"] for p in hq.parked()}
        assert reasons and all("upgrade the head office" in r for r in reasons)
        assert PosOrder.get_or_none(PosOrder.uid == order.uid) is None
        monkeypatch.setattr(migrations, "LATEST", migrations.LATEST + 1)   # the head office upgrades
        hq.retry_parked()
        assert hq.parked() == []
        assert PosOrder.get(PosOrder.uid == order.uid).number == order.number


def test_an_older_head_office_still_feeds_a_newer_branch(chain_sites):
    """The head office lacks a column the branch's release has: the pull leaves it out and the
    branch's rows get its default; nothing stops."""
    s = chain_sites
    with at(s["hq"]):
        db.database.execute_sql("ALTER TABLE variant DROP COLUMN option_text")
    with at(s["LHR1"]):
        ln = link(s, "LHR1")
        pull_until(ln)
        assert {v.option_text for v in Variant.select()} == {""}
        assert ln.retry_parked_down() == 0
        from pos_core.models import ChainParked
        assert ChainParked.select().count() == 0
        ln.close()


def test_a_branch_restored_from_an_older_backup_stops_and_says_so(chain_sites, tmp_path):
    import shutil
    s = chain_sites
    path = s["LHR1"].replace("sqlite:///", "")
    with at(s["LHR1"]):
        ln = link(s, "LHR1")
        pull_until(ln)
        till = open_for_trade("LHR1")
        sell(*till, [("1001", 1)])
        ln.run_once()
        ln.close()
    shutil.copy(path, tmp_path / "old.db")                 # last night's copy
    with at(s["LHR1"]):
        for _ in range(3):
            sell(*till, [("1002", 1)])
        ln.run_once()
        ln.close()
    for suffix in ("-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)
    shutil.copy(tmp_path / "old.db", path)                 # the disk died: restored
    with at(s["LHR1"]):
        ln.run_once()
        assert not ln.up and "behind the head office" in ln.last_error
        ln.close()
    with at(s["hq"]):
        status = {r["branch"]: r for r in hq.status()}
        assert "restored from an older backup" in status["LHR1"]["last_error"]


def test_a_stalled_link_fails_in_seconds_and_recovers(chain_sites):
    """The link stops passing bytes without closing (the nearest hop still answers keepalives):
    the call fails after the silence limit instead of hanging the agent, and the next one works."""
    import time
    from urllib.parse import urlparse
    from faultproxy import FaultProxy
    s = chain_sites
    port = urlparse(PG_URL).port
    proxy = FaultProxy(port)
    try:
        url = role_url(s["hq_name"], "LHR1").replace(f":{port}/", f":{proxy.port}/")
        with at(s["LHR1"]):
            ln = BranchLink(url, "", "LHR1", silence_s=2)
            pull_until(ln)
            till = open_for_trade("LHR1")
            sell(*till, [("1001", 1)])
            proxy.stall()
            t0 = time.monotonic()
            ln.run_once()
            assert time.monotonic() - t0 < 10
            assert not ln.up and "did not answer for 2 s" in ln.last_error
            proxy.heal()
            ln.run_once()
            assert ln.up, ln.last_error
            ln.close()
    finally:
        proxy.close()


def test_a_64_kbit_link_still_delivers_every_sale_once(chain_sites):
    """A branch on a slow mobile link (64 kbit/s both ways): the backlog goes up in however many
    runs it takes, the till never waits, and the head office ends with each sale once."""
    import time
    from urllib.parse import urlparse
    from faultproxy import FaultProxy
    s = chain_sites
    port = urlparse(PG_URL).port
    proxy = FaultProxy(port)
    try:
        url = role_url(s["hq_name"], "LHR1").replace(f":{port}/", f":{proxy.port}/")
        with at(s["LHR1"]):
            ln = BranchLink(url, "", "LHR1")
            pull_until(ln)
            till = open_for_trade("LHR1")
            proxy.slow(64)
            t0 = time.monotonic()
            sold = {sell(*till, [("1001", 1), ("1002", 1)]).uid for _ in range(20)}
            assert time.monotonic() - t0 < 5          # selling never touches the link
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                ln.run_once()
                if ln.up and ln.push_once() == 0:
                    break
            assert ln.up, ln.last_error
            assert ln.push_once() == 0
            took = time.monotonic() - t0
            ln.close()
    finally:
        proxy.close()
    print(f"64 kbit/s: 20 sales up in {took:.1f} s")
    assert took > 2    # the proxy really held the link to 64 kbit/s (unthrottled it takes about 0.2 s)
    with at(s["hq"]):
        assert hq.apply_inbox()["parked"] == 0
        at_hq = [o.uid for o in PosOrder.select().join(chain.model_for("branch"))
                 .where(chain.model_for("branch").code == "LHR1")]
        assert sorted(at_hq) == sorted(sold)
        assert ledger_of("LHR1") == {"1001": 30, "1002": 30, "1003": 50, "1004": 50}


def _inbox(status: str, branch: str) -> int:
    return db.database.execute_sql("SELECT count(*) FROM hq_inbox WHERE status = %s AND branch_code = %s",
                                   (status, branch)).fetchone()[0]


def test_two_appliers_at_once_apply_each_branchs_rows_once(chain_sites):
    """The head office's agent runs two appliers, each on its own connection and its own share of
    the branches: every row applies once, each branch's in order, and a resent log (rows already
    here, under new positions) mixed with new rows in one batch doubles nothing."""
    import threading
    s = chain_sites
    sold, tills = {}, {}
    for code in ("LHR1", "KHI1"):
        with at(s[code]):
            ln = link(s, code)
            pull_until(ln)
            tills[code] = till = open_for_trade(code)
            sold[code] = {sell(*till, [("1001", 1), ("1002", 2)]).uid for _ in range(6)}
            ln.run_once()
            ln.close()
    with at(s["hq"]):
        # each share holds one of the two branches (by code: KHI1 is the first, LHR1 the second)
        assert hq.apply_inbox(part=(0, 2))["applied"] > 0
        assert _inbox("NEW", "LHR1") == 0 and _inbox("NEW", "KHI1") > 0
        assert hq.apply_inbox(part=(0, 2)) == {"applied": 0, "parked": 0}
    # LHR1 resends its whole log under new positions (as after the head office lost them), plus
    # one new sale; KHI1 sells again: both shares have work at once
    with at(s["LHR1"]):
        ser = chain.Serializer(db.database)
        resent = []
        for c in ChainChange.select().where(ChainChange.table_name.in_(chain.UP_TABLES)):
            for rec in ser.records(c.table_name, [c.row_id]).values():
                resent.append((c.xid, c.seq + 100_000, c.table_name, rec["k"], json.dumps(rec)))
        ln = link(s, "LHR1")
        hq_db = ln._hq()
        with hq_db.atomic():
            for xid, seq, t, k, d in resent:
                hq_db.execute_sql("INSERT INTO hq_inbox (branch_code, xid, seq, table_name, key, data, schema_version) "
                                  "VALUES ('LHR1', %s, %s, %s, %s, %s, 4)", (xid, seq, t, k, d))
        sold["LHR1"].add(sell(*tills["LHR1"], [("1003", 1)]).uid)
        ln.run_once()
        ln.close()
    with at(s["KHI1"]):
        ln = link(s, "KHI1")
        sold["KHI1"] |= {sell(*tills["KHI1"], [("1004", 1)]).uid for _ in range(3)}
        ln.run_once()
        ln.close()
    with at(s["hq"]):
        results, errors = [], []

        def drain(part):
            try:
                while True:
                    c = hq.apply_inbox(part=part)
                    results.append(c)
                    if not c["applied"] and not c.get("retried"):
                        return
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                db.database.close()
        workers = [threading.Thread(target=drain, args=((k, 2),)) for k in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        assert not errors, errors
        assert sum(r["parked"] for r in results) == 0
        assert _inbox("NEW", "LHR1") == 0 and _inbox("NEW", "KHI1") == 0
        for code in ("LHR1", "KHI1"):
            at_hq = [o.uid for o in PosOrder.select().join(chain.model_for("branch"))
                     .where(chain.model_for("branch").code == code)]
            assert sorted(at_hq) == sorted(sold[code])
        assert ledger_of("LHR1") == {"1001": 44, "1002": 38, "1003": 49, "1004": 50}
        assert ledger_of("KHI1") == {"1001": 44, "1002": 38, "1003": 50, "1004": 47}
        assert ledger.check() == []


# --- pruning the change logs (a branch's once the head office confirmed it; the head office's once
# every branch pulled it) and converging afterwards: a new branch, a branch back on an old backup


def log_rows() -> list[tuple[int, int]]:
    return [(c.xid, c.seq) for c in ChainChange.select().order_by(ChainChange.xid, ChainChange.seq)]


def test_a_branch_prunes_only_what_the_head_office_confirmed(chain_sites):
    s = chain_sites
    url = s["LHR1"]
    with at(url):
        ln = link(s, "LHR1")
        pull_until(ln)
        till = open_for_trade("LHR1")
        sent = [sell(*till, [("1001", 1)]).uid for _ in range(3)]
        ln.run_once()
        assert ln.pending(chain.parse_position(chain.get_state("pushed")))[0] == 0
        before = log_rows()
        assert ln.prune(force=True) == 0 and log_rows() == before        # younger than keep_days: kept
        ln.keep_days = 0
        waiting = [sell(*till, [("1002", 1)]).uid for _ in range(2)]   # not pushed yet
        pushed = chain.parse_position(chain.get_state("pushed"))
        unsent = [p for p in log_rows() if p > pushed]
        assert unsent and ln.prune(force=True) == len(before)
        assert log_rows() == unsent                                      # nothing unconfirmed is gone
        assert chain.parse_position(chain.get_state(chain.PRUNED)) == before[-1]
        assert ln.prune(force=True) == 0
        ln.run_once()                                                    # what waited still goes up
        assert ln.prune(force=True) == len(unsent) - 1
        assert log_rows() == unsent[-1:]     # the newest row stays: it tells a restored database
        ln.close()
    with at(s["hq"]):
        hq.apply_inbox()
        assert sorted(o.uid for o in PosOrder.select()) == sorted(sent + waiting)
        assert ledger.check() == [] and hq.parked() == []


def test_the_head_office_prunes_below_every_branchs_pull_and_a_new_or_restored_branch_reads_whole(chain_sites, tmp_path):
    import shutil
    s = chain_sites
    lhr, khi = s["LHR1"], s["KHI1"]
    with at(s["hq"]):
        logged = ChainChange.select().count()
        assert logged > 0
        assert hq.prune(0) == 0                     # no branch has said how far it pulled: all kept
    with at(lhr):
        ln = link(s, "LHR1", keep_days=0)
        pull_until(ln)
        ln.close()
    with at(s["hq"]):
        assert hq.prune(0) == 0                     # KHI1 has not pulled yet
    with at(khi):
        ln = link(s, "KHI1", keep_days=0)
        pull_until(ln)
        ln.close()
    shutil.copy(tmp_path / "khi.db", tmp_path / "khi-backup.db")    # KHI1's backup, taken now
    with at(s["hq"]):
        with db.write():
            Variant.update(price_paisa=888_00).where(Variant.sku == "1004").execute()
    for code, url in (("LHR1", lhr), ("KHI1", khi)):
        with at(url):
            ln = link(s, code, keep_days=0)
            pull_until(ln, lambda: Variant.get(Variant.sku == "1004").price_paisa == 888_00)
            ln.close()
    with at(s["hq"]):
        assert hq.prune(0, limit=5) == 5            # bounded batches
        while hq.prune(0):
            pass
        assert ChainChange.select().count() == 1    # the newest row stays
        pruned = chain.parse_position(chain.get_state(chain.PRUNED))
        assert pruned > (0, 0)
        with db.write():                            # the head office changes its catalog after pruning
            Variant.update(price_paisa=777_00).where(Variant.sku == "1003").execute()
    with at(lhr):
        ln = link(s, "LHR1", keep_days=0)
        pull_until(ln, lambda: Variant.get(Variant.sku == "1003").price_paisa == 777_00)
        ln.close()
    with at(s["hq"]):
        price_rows = [max((c.xid, c.seq) for c in ChainChange.select().where(ChainChange.table_name == "variant"))]
        hq.prune(0)
        # KHI1 has not pulled the price yet: its row stays, whatever LHR1 has
        assert price_rows and all(ChainChange.get_or_none(ChainChange.seq == q) for _, q in price_rows)
        pruned = chain.parse_position(chain.get_state(chain.PRUNED))
        assert pruned < min(price_rows)
    # a branch box added after pruning, and KHI1 back on its backup, set to an old cursor: both
    # ask for rows the log no longer has, and read the tables whole instead
    with at(s["hq"]):
        hq.add_branch("ISB1")
        from pos_core import branches
        from pos_core.models import Branch
        with db.write():
            branches.create_counter(Branch.get(Branch.code == "ISB1"), "C1")
    isb = new_branch_db(tmp_path / "isb.db")
    shutil.copy(tmp_path / "khi-backup.db", tmp_path / "khi.db")
    khi_url = f"sqlite:///{tmp_path / 'khi.db'}"
    with at(khi_url):
        assert chain.parse_position(chain.get_state("pull_cursor")) < pruned
        assert Variant.get(Variant.sku == "1004").price_paisa == 1299_00     # the backup predates it
    for code, url in (("ISB1", isb), ("KHI1", khi_url)):
        with at(url):
            ln = link(s, code, keep_days=0)
            pull_until(ln, lambda: Variant.select().count() == 4
                       and Variant.get(Variant.sku == "1003").price_paisa == 777_00
                       and Variant.get(Variant.sku == "1004").price_paisa == 888_00)
            assert chain.parse_position(chain.get_state("pull_cursor")) > pruned
            till = open_for_trade(code)
            sold = sell(*till, [("1003", 1)]).uid
            ln.run_once()
            ln.close()
        with at(s["hq"]):
            hq.apply_inbox()
            assert PosOrder.get_or_none(PosOrder.uid == sold) is not None and hq.parked() == []


def test_a_deadlock_is_told_from_other_errors_through_peewee(chain_sites):
    """Two appliers can deadlock on rows they share (a customer both branches changed): PostgreSQL
    undoes one transaction, and apply_inbox returns {"retried": 1} for it, leaving its rows NEW for
    the next call, instead of failing the pass. This is the test of how it tells a deadlock (also
    when peewee has wrapped the driver's error) from a real failure."""
    import threading
    from peewee import PostgresqlDatabase
    s = chain_sites
    with at(s["hq"]):
        with db.write():
            db.database.execute_sql("CREATE TABLE dl (id int PRIMARY KEY)")
            db.database.execute_sql("INSERT INTO dl VALUES (1), (2)")
    a = PostgresqlDatabase(s["hq_name"], **{k: v for k, v in psycopg2.extensions.parse_dsn(s["hq"]).items()
                                            if k != "dbname"})
    b = psycopg2.connect(s["hq"])
    errors, ready = [], threading.Event()

    def other():
        cur = b.cursor()
        cur.execute("UPDATE dl SET id = id WHERE id = 2")
        ready.set()
        try:
            cur.execute("UPDATE dl SET id = id WHERE id = 1")
        except psycopg2.Error as exc:
            errors.append(exc)
        b.rollback()
    with a.atomic():
        a.execute_sql("UPDATE dl SET id = id WHERE id = 1")
        t = threading.Thread(target=other)
        t.start()
        ready.wait(5)
        try:
            a.execute_sql("UPDATE dl SET id = id WHERE id = 2")
        except Exception as exc:   # noqa: BLE001 - peewee's wrapper of the driver's error
            errors.append(exc)
    t.join(10)
    a.close()
    b.close()
    assert len(errors) == 1 and hq._rolled_back(errors[0])    # whichever of the two was undone
    import peewee
    raw = errors[0] if isinstance(errors[0], psycopg2.Error) else errors[0].__context__
    assert isinstance(raw, psycopg2.errors.DeadlockDetected)
    try:                                                       # as peewee wraps it
        with peewee.ExceptionWrapper(peewee.EXCEPTIONS):
            raise raw
    except peewee.OperationalError as wrapped:
        assert hq._rolled_back(wrapped)
    with at(s["hq"]):
        try:
            db.database.execute_sql("INSERT INTO dl VALUES (1)")
        except Exception as exc:   # noqa: BLE001
            dup = exc
    assert not hq._rolled_back(dup) and not hq._rolled_back(ValueError("x"))


def test_a_row_with_a_value_the_head_office_cannot_store_is_parked_and_its_batch_flows(chain_sites):
    """One bad value in a batch applied in one statement per table (a phone longer than the column)
    must not stop the batch: it is applied row by row, the bad row parks with the reason, the rest
    apply."""
    s = chain_sites
    with at(s["LHR1"]):
        ln = link(s, "LHR1")
        pull_until(ln)
        till = open_for_trade("LHR1")
        uids = {sell(*till, [("1001", 1)]).uid for _ in range(3)}
        ln.run_once()
        ln.close()
    with at(s["hq"]):
        bad = {"t": "customer", "k": chain.key_text({"phone": "+92" + "3" * 30}),
               "d": {"phone": "+92" + "3" * 30, "name": "Too long", "email": None, "shopify_id": None,
                     "created_at": "2026-12-07 10:00:00", "updated_at": "2026-12-07 10:00:00"}}
        known = {f.name for f in chain._fields("customer")}
        bad["d"] = {k: v for k, v in bad["d"].items() if k in known}
        with db.write():
            db.database.execute_sql(
                "INSERT INTO hq_inbox (branch_code, xid, seq, table_name, key, data, schema_version) "
                "VALUES ('LHR1', 0, 999999, 'customer', %s, %s, 4)", (bad["k"], json.dumps(bad)))
        counts = hq.apply_inbox()
        assert counts["parked"] == 1 and counts["applied"] > 0
        [p] = hq.parked()
        assert p["table"] == "customer" and "cannot store" in p["reason"]
        assert {o.uid for o in PosOrder.select()} == uids and ledger.check() == []
