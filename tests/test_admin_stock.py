"""pos-admin's stock commands, run as a technician or manager would run them."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = tmp_path_factory.mktemp("admin")
    cfg = d / "pos.toml"
    cfg.write_text('[database]\nurl = "sqlite:///demo.db"\n')
    assert run(cfg, "demo").returncode == 0
    return cfg


def run(cfg, *args, pin="3333", approver_pin=None):
    env = dict(os.environ, POS_STAFF_PIN=pin)
    if approver_pin:
        env["POS_APPROVER_PIN"] = approver_pin
    return subprocess.run([sys.executable, "-m", "pos_core.admin", "--config", str(cfg), *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, timeout=60)


def test_transfer_round_trip_with_a_shortfall(demo):
    out = run(demo, "transfer", "create", "LHR1", "KHI1", "--item", "PLS-002-L:4", "--staff", "imran")
    assert out.returncode == 0, out.stderr
    number = out.stdout.split()[0]
    assert run(demo, "transfer", "dispatch", number, "--staff", "imran").returncode == 0
    assert "in transit to here 4" in run(demo, "stock", "PLS-002-L").stdout
    got = run(demo, "transfer", "receive", number, "--item", "PLS-002-L:3", "--staff", "ayesha", pin="1111")
    assert "DISCREPANCY" in got.stdout and "received 3" in got.stdout
    refused = run(demo, "transfer", "resolve", number, "1", "returned_to_sender", "--staff", "ayesha", pin="1111")
    assert refused.returncode == 1 and "may not" in refused.stderr
    done = run(demo, "transfer", "resolve", number, "1", "returned_to_sender", "--staff", "imran")
    assert "RECEIVED" in done.stdout
    again = run(demo, "transfer", "receive", number, "--item", "PLS-002-L:1", "--staff", "imran")
    assert again.returncode == 1 and "received once" in again.stderr
    assert run(demo, "check-stock").returncode == 0


def test_purchase_order_adjustment_and_stock_take(demo):
    out = run(demo, "po", "create", "KHI1", "Gul Ahmed", "--item", "PLS-003-XL:10:1200.50", "--staff", "imran")
    number = out.stdout.split()[0]
    got = run(demo, "po", "receive", number, "--item", "PLS-003-XL:4", "--staff", "imran")
    assert "PARTIAL" in got.stdout and "due     6" in got.stdout
    assert "CLOSED" in run(demo, "po", "close", number, "--staff", "imran").stdout
    big = run(demo, "adjust", "KHI1", "lost", "--item", "PLS-003-XL:-3", "--note", "missing", "--staff", "ayesha",
              pin="1111")
    assert big.returncode == 1 and "manager" in big.stderr  # Rs 7,470 needs approval
    ok = run(demo, "adjust", "KHI1", "lost", "--item", "PLS-003-XL:-3", "--note", "missing", "--staff", "ayesha",
             "--approver", "imran", pin="1111", approver_pin="3333")
    assert ok.returncode == 0 and "ADJ-KHI1-" in ok.stdout
    start = run(demo, "stocktake", "start", "KHI1", "--category", "Gifts", "--staff", "imran")
    take = start.stdout.split()[0]
    assert run(demo, "stocktake", "count", take, "QRC-BLA-OS", "7", "--staff", "imran").returncode == 0
    review = run(demo, "stocktake", "review", take)
    assert "QRC-BLA-OS" in review.stdout and "counted     7" in review.stdout
    assert run(demo, "stocktake", "post", take, "--staff", "imran").returncode == 0
    assert "on hand      7" in run(demo, "stock", "QRC-BLA-OS").stdout.split("KHI1")[1].splitlines()[0]
    assert run(demo, "check-stock").returncode == 0


def test_wrong_pin_unknown_items_and_branches_are_one_line_errors(demo):
    bad = run(demo, "adjust", "LHR1", "damaged", "--item", "PLS-001-M:-1", "--note", "x", "--staff", "imran", pin="0000")
    assert bad.returncode == 1 and "wrong PIN" in bad.stderr and "Traceback" not in bad.stderr
    unknown = run(demo, "transfer", "create", "LHR1", "KHI1", "--item", "NOPE-1:1", "--staff", "imran")
    assert unknown.returncode == 1 and "no item has this barcode or SKU" in unknown.stderr
    branch = run(demo, "levels", "ISB1")
    assert branch.returncode == 1 and "no branch" in branch.stderr
    qty = run(demo, "transfer", "create", "LHR1", "KHI1", "--item", "PLS-001-M:0", "--staff", "imran")
    assert qty.returncode == 1 and "quantity" in qty.stderr
