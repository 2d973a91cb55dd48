"""pos-admin's back-room commands: barcodes for items without one, PLU/unit/Urdu name, measured codes."""
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = tmp_path_factory.mktemp("admin-shelf")
    cfg = d / "pos.toml"
    cfg.write_text('[database]\nurl = "sqlite:///demo.db"\n[barcodes]\nean_prefix = "22"\n')
    assert run(cfg, "demo").returncode == 0
    return cfg


def run(cfg, *args):
    return subprocess.run([sys.executable, "-m", "pos_core.admin", "--config", str(cfg), *args],
                          capture_output=True, text=True, cwd=ROOT, env=dict(os.environ), stdin=subprocess.DEVNULL,
                          timeout=60)


def test_plu_unit_and_a_measured_code(demo):
    out = run(demo, "item", "PLS-002-L", "--plu", "123", "--unit", "m", "--urdu", "لان")
    assert out.returncode == 0 and "PLU 123, unit m, Urdu name set" in out.stdout, out.stderr
    code = run(demo, "embedded-code", "PLS-002-L", "--qty", "2.5")
    assert code.returncode == 0, code.stderr
    assert code.stdout.startswith("2900123") and " 2.500 m  Rs " in code.stdout
    clash = run(demo, "item", "PLS-003-XL", "--plu", "123")
    assert clash.returncode == 1 and "PLU 00123 already belongs to PLS-002-L" in clash.stderr
    none = run(demo, "embedded-code", "PLS-003-XL", "--price", "100")
    assert none.returncode == 1 and "has no PLU" in none.stderr


def test_barcodes_for_items_without_and_the_category_tree(demo):
    db = demo.parent / "demo.db"
    con = sqlite3.connect(db)
    con.execute("DELETE FROM barcode WHERE variant_id IN (SELECT id FROM variant WHERE sku = 'PLS-002-L')")
    con.commit()
    con.close()
    out = run(demo, "barcodes")
    assert out.returncode == 0, out.stderr
    line = next(l for l in out.stdout.splitlines() if l.startswith("PLS-002-L:"))
    code = line.split()[1]
    assert code.startswith("22") and len(code) == 13 and "1 barcode(s) assigned" in out.stdout
    assert "0 barcode(s) assigned" in run(demo, "barcodes").stdout
    tree = run(demo, "categories")
    assert tree.returncode == 0 and tree.stdout.strip()
