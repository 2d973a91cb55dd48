"""A database made by the last released code (schema 10) upgrades to this code with every sale kept.

Each migration has its own test against a hand-made older schema; this one runs the real previous
release out of git, so migrations that land out of number order (11 after 15 was written, 12 next to
16) are tried together on data that release really wrote, on both backends.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BACKENDS, _drop_pg_database, _pg_admin, _pg_url

ROOT = Path(__file__).resolve().parent.parent
RELEASE = "cc0503a85da6af987abf5097e071af3e4ffc4c2a"   # landed 2026-12-07, migrations 1..10

MAKE = """
import sys
sys.path.insert(0, sys.argv[2])
from decimal import Decimal
from pos_core import db, migrations, refunds, sales
from pos_core.policy import SalePolicy
from pos_core.sales import SaleLine, Tender
db.open_database(sys.argv[1]); migrations.init()
from conftest import make_site
s = make_site()
orders = [sales.complete_sale(SalePolicy(), counter_id=s.counter.id, shift_id=s.shift.id, staff_id=s.cashier.id,
          lines=[SaleLine(s.kurta.id, 2), SaleLine(s.suit.id, 1)], tenders=[Tender("cash", Decimal("100000"))])
          for _ in range(4)]
print(sorted(migrations.applied_versions()))
"""

CHECK = """
import sys
from pos_core import db, ledger, migrations
from pos_core.models import PosOrder, PosOrderLine, StockMovement
db.open_database(sys.argv[1])
before = (PosOrder.select().count(), PosOrderLine.select().count(), StockMovement.select().count())
done = migrations.migrate()
migrations.check_current()
after = (PosOrder.select().count(), PosOrderLine.select().count(), StockMovement.select().count())
assert before == after, (before, after)
assert ledger.check() == []
assert migrations.migrate() == []
import json
print(json.dumps({"done": done, "counts": after}))
"""


def _release_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "release"
    tree.mkdir()
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", RELEASE], capture_output=True, timeout=60)
    except FileNotFoundError:
        pytest.skip("git is not installed")
    if archive.returncode != 0:
        pytest.skip(f"this checkout has no history back to {RELEASE[:7]} (a shallow clone)")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_database_of_the_previous_release_upgrades_with_every_sale(backend, tmp_path):
    tree = _release_tree(tmp_path)
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        name = f"pos_upgrade_{os.getpid()}"
        conn, _ = _pg_admin()
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
            cur.execute(f"CREATE DATABASE {name}")
        conn.close()
        url = _pg_url(name)
    try:
        old_env = dict(os.environ, PYTHONPATH=str(tree))
        made = subprocess.run([sys.executable, "-c", MAKE, url, str(tree / "tests")], env=old_env,
                              capture_output=True, text=True, timeout=120, cwd=tree)
        assert made.returncode == 0, made.stderr
        assert made.stdout.strip() == "[1, 4, 5, 6, 7, 8, 9, 10]"
        new_env = dict(os.environ, PYTHONPATH=str(ROOT))
        up = subprocess.run([sys.executable, "-c", CHECK, url], env=new_env, capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
        assert up.returncode == 0, up.stderr[-3000:]
        result = json.loads(up.stdout)
        assert {11, 12, 15, 16} <= set(result["done"])
        assert result["counts"] == [4, 8, 18]       # orders, lines, movements (10 opening + 8 sold)
    finally:
        if backend != "sqlite":
            _drop_pg_database(name)
