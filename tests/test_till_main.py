"""`pos-till` start-up: config mistakes and an out-of-date database are one line, not a traceback;
and the read queries behind the recent orders list."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys

from pos_core import orders
from pos_core.models import PosOrder

from test_till_kit import core_cash_sale, open_shift, till_db  # noqa: F401


def run_till(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pos_tui", *args], capture_output=True, text=True, timeout=60)


def test_a_missing_config_is_one_line_and_exit_2(tmp_path):
    out = run_till("--config", str(tmp_path / "nope.toml"))
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "expected a readable config file" in out.stderr


def test_a_bad_config_value_names_the_key(tmp_path):
    cfg = tmp_path / "pos.toml"
    cfg.write_text('[database]\nurl = "sqlite:///pos.db"\n[scanner]\nmax_gap_ms = 0\n')
    out = run_till("--config", str(cfg))
    assert out.returncode == 2 and "scanner.max_gap_ms" in out.stderr


def test_a_database_without_schema_is_refused(tmp_path):
    cfg = tmp_path / "pos.toml"
    cfg.write_text('[database]\nurl = "sqlite:///empty.db"\n[counter]\nbranch = "LHR1"\ncode = "C1"\n')
    out = run_till("--config", str(cfg))
    assert out.returncode == 3 and "pos-admin" in out.stderr and "Traceback" not in out.stderr


def test_recent_orders_by_number_phone_and_pakistan_date(till_db):
    open_shift()
    a = core_cash_sale([("L3SU-BLA-OS", 1)])
    b = core_cash_sale([("ELK-MAR-L", 1)])
    from pos_core import customers
    b.customer = customers.get_or_create("03001234567", "Ali")
    b.save()
    # 20:30 UTC on the 22nd is 01:30 on the 23rd in Pakistan.
    PosOrder.update(completed_at=dt.datetime(2026, 11, 22, 20, 30)).where(PosOrder.id == a.id).execute()
    assert [o.number for o in orders.recent(None, a.number[-6:])] == [a.number]
    assert [o.number for o in orders.recent(None, "0300-1234567")] == [b.number]
    assert [o.number for o in orders.recent(None, "2026-11-23")][-1] == a.number
    assert a.number not in [o.number for o in orders.recent(None, "2026-11-22")]
    assert [o.number for o in orders.recent(1)] == [b.number, a.number]
