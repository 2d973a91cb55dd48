"""`pos-agent once` and `status` as a technician runs them, with FBR on (real processes, real HTTP)."""
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from pos_core import db, migrations, sales
from pos_core.config import write_private
from pos_core.models import OutboxJob, PosOrder
from pos_core.policy import SalePolicy
from simulators.fbr import server as fbr_sim

from conftest import make_site

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "fbr-process-token-secret"


@pytest.fixture
def setup(tmp_path):
    sim = fbr_sim.start(port=0, token=TOKEN)
    url = f"sqlite:///{tmp_path / 'pos.db'}"
    db.open_database(url)
    migrations.init()
    site = make_site()
    token_file = tmp_path / "fbr.token"
    write_private(token_file, TOKEN + "\n")
    cfg = tmp_path / "pos.toml"
    cfg.write_text(f'[database]\nurl = "{url}"\n\n[fbr]\nmode = "sandbox"\nposid = "123456"\n'
                   f'endpoint = "{sim.url}/FBR/v1/api/Live/PostData"\ntoken_file = "{token_file}"\n')
    yield site, sim, cfg
    db.close()
    sim.stop()


def agent(cfg, *args):
    env = dict(os.environ, POS_AGENT_LOG="DEBUG")
    return subprocess.run([sys.executable, "-m", "sync_agent", "--config", str(cfg), *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=60)


def test_once_reports_the_days_invoices_and_status_names_what_needs_a_person(setup):
    site, sim, cfg = setup
    policy = SalePolicy(fbr_enabled=True, fbr_posid="123456", service_fee_paisa=100)
    sold = [sales.complete_sale(policy, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.cashier.id,
                                lines=[sales.SaleLine(site.book.id, 1)], tenders=[sales.Tender("cash", Decimal("501"))])
            for _ in range(2)]
    out = agent(cfg, "once")
    assert out.returncode == 0, out.stderr
    numbers = [PosOrder.get_by_id(o.id).fbr_invoice_number for o in sold]
    assert all(n and "*test*" in n for n in numbers)
    assert TOKEN not in out.stderr and TOKEN not in out.stdout
    # the third sale's answer is lost after FBR stored it: a person must settle it
    lost = sales.complete_sale(policy, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.cashier.id,
                               lines=[sales.SaleLine(site.book.id, 1)], tenders=[sales.Tender("cash", Decimal("501"))])
    httpx.post(f"{sim.url}/_sim/faults", json={"store_no_response_rate": 1.0}).raise_for_status()
    assert agent(cfg, "once").returncode == 0
    job = OutboxJob.get((OutboxJob.doc_ref == lost.uid) & (OutboxJob.channel == "fbr"))
    assert job.status == "NEEDS_RECONCILIATION"
    status = agent(cfg, "status")
    assert status.returncode == 0
    assert lost.number in status.stdout and "NEEDS_RECONCILIATION" in status.stdout
    assert "fbr" in status.stdout and TOKEN not in status.stdout
    stored = httpx.get(f"{sim.url}/_sim/invoices").json()["invoices"]
    assert [i["USIN"] for i in stored].count(lost.number) == 1
