"""pos-admin loyalty | promo | coupon | commission, run as a manager would, with one-line errors."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    d = tmp_path_factory.mktemp("admin_loyalty")
    cfg = d / "pos.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{d / "pos.db"}"\n')
    assert run(cfg, "demo").returncode == 0
    return cfg


def run(cfg, *args):
    return subprocess.run([sys.executable, "-m", "pos_core.admin", "--config", str(cfg), *args],
                          capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=60)


def ok(cfg, *args) -> str:
    out = run(cfg, *args)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_loyalty_rules(cfg):
    ok(cfg, "loyalty", "set", "--point-value", "0.50", "--expiry-days", "180", "--on")
    ok(cfg, "loyalty", "tier", "Gold", "100000")
    ok(cfg, "loyalty", "rule", "1.5")
    ok(cfg, "loyalty", "rule", "3", "--tier", "Gold", "--category", "Lawn")
    shown = ok(cfg, "loyalty", "show")
    assert "a point pays Rs 0.50" in shown and "tier Gold: from Rs 100,000.00" in shown
    assert "rule Lawn / Gold: 3 points per Rs 100" in shown and "any category / any tier: 1.5 points" in shown
    bad = run(cfg, "loyalty", "rule", "2", "--tier", "Platinum")
    assert bad.returncode == 1 and bad.stderr.strip() == "error: no tier 'Platinum'; add it first"
    assert "0 points expired" in ok(cfg, "loyalty", "expire")


def test_promotions_and_coupons(cfg):
    added = ok(cfg, "promo", "add", "Eid 20% lawn", "item_percent", "--value", "20", "--category", "Lawn",
               "--from", "2026-03-28", "--to", "2026-04-02T23:59", "--branches", "LHR1,KHI1", "--exclusive")
    pid = added.split()[1]
    ok(cfg, "promo", "add", "Happy hour", "bill_percent", "--value", "5", "--hours", "16:00-18:00")
    listed = ok(cfg, "promo", "list")
    assert "Eid 20% lawn" in listed and "exclusive" in listed
    assert "2026-03-28 00:00:00 to 2026-04-02 23:59:00" in listed     # typed in Pakistan time, shown back the same
    bad = run(cfg, "promo", "add", "Nothing", "item_percent", "--value", "120")
    assert bad.returncode == 1 and "at most 100" in bad.stderr and len(bad.stderr.splitlines()) == 1
    bad = run(cfg, "promo", "add", "Late", "bill_amount", "--value", "100", "--hours", "25:00-26:00")
    assert bad.returncode == 1 and "times run 00:00 to 23:59" in bad.stderr
    coupon_promo = ok(cfg, "promo", "add", "Parcel 10%", "bill_percent", "--value", "10", "--coupon-only").split()[1]
    ok(cfg, "coupon", "add", "parcel-77", coupon_promo, "--uses", "1", "--min-spend", "1000")
    assert "PARCEL-77 is valid" in ok(cfg, "coupon", "check", "PARCEL-77", "--bill", "1500")
    short = run(cfg, "coupon", "check", "PARCEL-77", "--bill", "999")
    assert short.returncode == 1 and "at least Rs 1,000.00" in short.stderr
    assert "used 0/1" in ok(cfg, "coupon", "list")
    assert "switched off" in ok(cfg, "promo", "off", pid)


def test_commission_plans_and_report(cfg):
    ok(cfg, "commission", "plan", "Floor", "2")
    ok(cfg, "commission", "plan", "Shoes", "5", "--category", "Footwear")
    ok(cfg, "commission", "slabs", "Monthly", "0:0,50000:1")
    bad = run(cfg, "commission", "slabs", "Broken", "100:1")
    assert bad.returncode == 1 and "first slab must start at Rs 0" in bad.stderr
    report = ok(cfg, "commission", "report", "--from", "2026-01-01", "--to", "2026-12-31")
    assert "no attributed sales" in report or "net sales" in report
