"""Operating a chain: `pos-admin hq init/status/parked`, `branch add/join` (a single shop joins with
its history, refunds included), a head office restored from an older backup, a branch whose own
database is PostgreSQL (a branch server)."""
from __future__ import annotations

import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import conftest
from chain_kit import (PG_URL, SKUS, at, drop_hq, new_branch_db, new_hq, open_for_trade, pull_until, role_url,
                       sync_until_sent)
from pos_core import branches, chain, config as configmod, db, hq, ledger, migrations, refunds, sales, staff
from pos_core.models import Branch, PosOrder, Product, Staff, StockLevel, Variant
from pos_core.policy import SalePolicy
from sync_agent.hq.link import BranchLink

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs POS_TEST_PG_URL (the head office is PostgreSQL)")
REPO = Path(__file__).resolve().parents[1]
POLICY = SalePolicy()


def admin(*args, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pos_core.admin", *args], cwd=REPO, input=stdin,
                          capture_output=True, text=True, timeout=60)


def sell(counter, shift, cashier, sku, qty=1):
    v = Variant.get(Variant.sku == sku)
    return sales.complete_sale(POLICY, counter_id=counter.id, shift_id=shift.id, staff_id=cashier.id,
                               lines=[sales.SaleLine(v.id, qty)],
                               tenders=[sales.Tender("cash", Decimal(v.price_paisa * qty) / 100)])


def levels(code) -> dict[str, int]:
    b = Branch.get(Branch.code == code)
    return dict(StockLevel.select(Variant.sku, StockLevel.on_hand).join(Variant)
                .where(StockLevel.branch == b.id).tuples())


def single_shop(path: Path) -> tuple[str, list[str]]:
    """A shop that has sold on its own for a while (no chain): sales and a refund."""
    url = f"sqlite:///{path}"
    with at(url):
        migrations.init()
        b = branches.create_branch("LHR1", "Lahore")
        c = branches.create_counter(b, "C1")
        staff.create("ayesha", "Ayesha", "cashier", "1111")
        staff.create("imran", "Imran", "manager", "3333")
        p = Product.create(title="Lawn")
        for sku, price in SKUS:
            Variant.create(product=p, sku=sku, name=f"Item {sku}", price_paisa=price)
        counter, shift, cashier = open_for_trade("LHR1", 100)
        made = [sell(counter, shift, cashier, SKUS[i % 4][0], 1 + i % 3).uid for i in range(30)]
        sale = PosOrder.get(PosOrder.uid == made[0])
        r = refunds.refund(POLICY, counter_id=counter.id, shift_id=shift.id,
                           staff_id=Staff.get(Staff.code == "imran").id, sale_uid=sale.uid,
                           lines=[refunds.ReturnLine(sale.lines[0].id, 1)])
        made.append(r.uid)
        assert c.id == counter.id
    return url, made


def test_admin_commands_and_a_shop_joining_with_its_history(tmp_path):
    hq_url, hq_name = new_hq()
    try:
        hq_cfg = tmp_path / "hq.toml"
        hq_cfg.write_text(f'[database]\nurl = "{hq_url}"\n')
        r = admin("--config", str(hq_cfg), "hq", "init")          # again: idempotent
        assert r.returncode == 0, r.stderr
        r = admin("--config", str(hq_cfg), "branch", "add", "LHR1")
        assert r.returncode == 0, r.stderr
        password = r.stdout.split("shown once")[1].split(": ", 1)[1].strip()
        assert len(password) >= 24
        r = admin("--config", str(hq_cfg), "branch", "add", "lahore-1")
        assert r.returncode == 1 and "branch code" in r.stderr and "Traceback" not in r.stderr

        shop_url, made = single_shop(tmp_path / "shop.db")
        shop_cfg = tmp_path / "pos.toml"
        shop_cfg.write_text(f'[database]\nurl = "{shop_url}"\n[counter]\nbranch = "LHR1"\ncode = "C1"\n')
        r = admin("--config", str(shop_cfg), "branch", "join", "--hq-url", "postgresql://x:pw@h/db", "--branch", "LHR1")
        assert r.returncode == 1 and "must not hold the password" in r.stderr
        r = admin("--config", str(shop_cfg), "branch", "join", "--hq-url", role_url(hq_name, "LHR1"),
                  "--branch", "LHR1", stdin=password + "\n")
        assert r.returncode == 0, r.stderr
        secret = tmp_path / "hq.secret"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and secret.read_text().strip() == password
        assert password not in shop_cfg.read_text()
        cfg = configmod.load(str(shop_cfg))
        assert cfg.hq.role == "branch" and cfg.hq.branch == "LHR1"

        with at(shop_url):
            ln = BranchLink.from_config(cfg)
            ln.run_once()
            assert ln.up, ln.last_error
            mine = levels("LHR1")
            ln.close()
        r = admin("--config", str(hq_cfg), "hq", "status")
        assert r.returncode == 0 and "LHR1" in r.stdout
        with at(hq_url):
            hq.apply_inbox()
            assert sorted(o.uid for o in PosOrder.select()) == sorted(made)
            assert levels("LHR1") == mine
            assert ledger.check() == []
            refund = PosOrder.get(PosOrder.kind == "refund")
            assert refund.original.uid == made[0]                 # the link travelled by identity
            assert refund.lines[0].original_line.order.uid == made[0]
        r = admin("--config", str(hq_cfg), "hq", "parked")
        assert r.returncode == 0 and "no parked rows" in r.stdout
        r = admin("--config", str(hq_cfg), "hq", "status")
        assert "0 parked" in r.stdout and "0 waiting" in r.stdout
    finally:
        db.close()
        drop_hq(hq_name)


@pytest.mark.parametrize("keep_days", [7, 0])
def test_head_office_restored_from_an_older_backup_catches_up(tmp_path, keep_days):
    """keep_days 7: the branch still logs what the restored head office lost and sends it again.
    keep_days 0: the branch pruned it (confirmed, then gone): it logs every row again and sends
    them all; nothing is doubled, nothing is missing."""
    hq_url, hq_name = new_hq()
    backup = f"{hq_name}_bak"
    admin_conn, _ = conftest._pg_admin()
    try:
        with at(hq_url):
            hq.add_branch("LHR1")
        url = new_branch_db(tmp_path / "lhr.db")
        ln = BranchLink(role_url(hq_name, "LHR1"), "", "LHR1", keep_days=keep_days)
        with at(url):
            pull_until(ln)
            till = open_for_trade("LHR1")
            first = [sell(*till, "1001").uid for _ in range(5)]
            ln.run_once()
            ln.close()
        with at(hq_url):
            hq.apply_inbox()
            assert (hq.prune(keep_days) > 0) == (keep_days == 0)   # the branch pulled all of it
        with admin_conn.cursor() as cur:                     # last night's backup
            cur.execute(f"CREATE DATABASE {backup} TEMPLATE {hq_name}")
        with at(url):
            later = [sell(*till, "1002").uid for _ in range(7)]
            ln.run_once()
            ln.prune(force=True)
            pruned = chain.get_state(chain.PRUNED)
            assert bool(pruned) == (keep_days == 0)
            ln.close()
        with at(hq_url):
            hq.apply_inbox()
            assert PosOrder.select().count() == 12
        with admin_conn.cursor() as cur:                     # the disk dies; restore the backup
            cur.execute(f"DROP DATABASE {hq_name} WITH (FORCE)")
            cur.execute(f"CREATE DATABASE {hq_name} TEMPLATE {backup}")
        with at(hq_url):
            assert PosOrder.select().count() == 5
            with db.write():
                Variant.update(price_paisa=123_00).where(Variant.sku == "1003").execute()
        with at(url):
            ln.run_once()                                     # asks the head office how far it has us
            pull_until(ln, lambda: Variant.get(Variant.sku == "1003").price_paisa == 123_00)
            ln.close()
            mine = levels("LHR1")
        with at(hq_url):
            hq.apply_inbox()
            assert sorted(o.uid for o in PosOrder.select()) == sorted(first + later)
            assert levels("LHR1") == mine and ledger.check() == []
            assert hq.parked() == []
    finally:
        db.close()
        with admin_conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {backup} WITH (FORCE)")
        admin_conn.close()
        drop_hq(hq_name)


def test_a_branch_server_on_postgresql_replicates_too(tmp_path):
    """Topology 2 inside 3: the branch's counters share a PostgreSQL branch server, which joins."""
    hq_url, hq_name = new_hq()
    branch_name = conftest._fresh_pg_database()
    branch_url = conftest._pg_url(branch_name)
    try:
        with at(hq_url):
            hq.add_branch("KHI1")
        with at(branch_url):
            chain.enable_capture()
            ln = BranchLink(role_url(hq_name, "KHI1"), "", "KHI1")
            pull_until(ln)
            till = open_for_trade("KHI1")
            made = [sell(*till, "1004", 2).uid for _ in range(4)]
            sync_until_sent(ln)
            ln.close()
            mine = levels("KHI1")
            assert all(c.xid > 0 for c in chain.model_for("chain_change").select())
        with at(hq_url):
            hq.apply_inbox()
            assert sorted(o.uid for o in PosOrder.select()) == sorted(made)
            assert levels("KHI1") == mine == {"1001": 50, "1002": 50, "1003": 50, "1004": 42}
    finally:
        db.close()
        conftest._drop_pg_database(branch_name)
        drop_hq(hq_name)


def test_doctor_checks_the_head_office_link(tmp_path):
    import io
    from sync_agent.doctor import Doctor
    hq_url, hq_name = new_hq()
    try:
        with at(hq_url):
            hq.add_branch("LHR1")
        url = new_branch_db(tmp_path / "lhr.db")

        def doctor(branch, hq_url_text):
            cfg = tmp_path / f"{branch}.toml"
            cfg.write_text(f'[database]\nurl = "{url}"\n[counter]\nbranch = "{branch}"\ncode = "C1"\n'
                           f'[hq]\nrole = "branch"\nurl = "{hq_url_text}"\n')
            out = io.StringIO()
            d = Doctor(str(cfg), out=out)
            assert d.check_config(cfg)
            d.check_hq(True)
            return d.checks[-1], out.getvalue()
        ok, _ = doctor("LHR1", role_url(hq_name, "LHR1"))
        assert ok.status == "OK" and "answers as branch LHR1" in ok.detail
        bad, text = doctor("ISB1", role_url(hq_name, "ISB1"))
        assert bad.status == "FAIL" and "pos-admin branch add ISB1" in bad.fix
        dead, _ = doctor("LHR1", "postgresql://x@127.0.0.1:1/none")
        assert dead.status == "FAIL" and "cannot reach" in dead.detail and dead.fix
        cfg = tmp_path / "hq.toml"
        cfg.write_text(f'[database]\nurl = "{hq_url}"\n[hq]\nrole = "head-office"\n')
        out = io.StringIO()
        d = Doctor(str(cfg), out=out)
        assert d.check_config(cfg) and d.check_database()
        d.check_hq(True)
        assert d.checks[-1].status == "OK" and "nothing parked" in d.checks[-1].detail
    finally:
        db.close()
        drop_hq(hq_name)
