"""Fixtures: a real database on each backend, and a small site to sell from.

Every service test runs on a SQLite file, and again on PostgreSQL when POS_TEST_PG_URL names a
server (CI starts a throwaway one). Each PostgreSQL test gets a fresh database copied from a
template that was migrated once.
"""
from __future__ import annotations

import itertools
import os
import uuid
from decimal import Decimal

import pytest

from pos_core import branches, db as dbmod, ledger, migrations, shifts, staff
from pos_core.ledger import Movement
from pos_core.models import Barcode, Product, Variant

PG_URL = os.environ.get("POS_TEST_PG_URL", "")
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])
_counter = itertools.count()
_template_ready = False


def _pg_admin():
    import psycopg2
    from urllib.parse import urlparse
    u = urlparse(PG_URL)
    conn = psycopg2.connect(host=u.hostname, port=u.port, user=u.username or "postgres",
                            password=u.password, dbname=u.path.lstrip("/") or "postgres")
    conn.autocommit = True
    return conn, u


def _pg_url(name: str) -> str:
    _, u = _pg_admin()
    auth = u.username or "postgres"
    return f"postgresql://{auth}@{u.hostname}:{u.port}/{name}"


def _fresh_pg_database() -> str:
    global _template_ready
    conn, _ = _pg_admin()
    template = f"pos_template_{os.getpid()}"
    with conn.cursor() as cur:
        if not _template_ready:
            cur.execute(f"DROP DATABASE IF EXISTS {template}")
            cur.execute(f"CREATE DATABASE {template}")
            dbmod.open_database(_pg_url(template))
            migrations.init()
            dbmod.close()
            _template_ready = True
        name = f"pos_t_{os.getpid()}_{next(_counter)}"
        cur.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    conn.close()
    return name


def _drop_pg_database(name: str) -> None:
    conn, _ = _pg_admin()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    conn.close()


@pytest.fixture(params=BACKENDS)
def database(request, tmp_path):
    """An initialised, empty database on each backend; yields its URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'pos.db'}"
        dbmod.open_database(url)
        migrations.init()
        yield url
        dbmod.close()
    else:
        name = _fresh_pg_database()
        url = _pg_url(name)
        dbmod.open_database(url)
        yield url
        dbmod.close()
        _drop_pg_database(name)


@pytest.fixture
def sqlite_db(tmp_path):
    url = f"sqlite:///{tmp_path / 'pos.db'}"
    dbmod.open_database(url)
    migrations.init()
    yield url
    dbmod.close()


class Site:
    """Names for what the `site` fixture made, so tests read like the shop floor."""


def make_site() -> Site:
    s = Site()
    s.lhr = branches.create_branch("LHR1", "Lahore", shopify_location_id="gid://shopify/Location/1")
    s.khi = branches.create_branch("KHI1", "Karachi", shopify_location_id="gid://shopify/Location/2")
    s.counter = branches.create_counter(s.lhr, "C1", fbr_posid="123456")
    s.counter2 = branches.create_counter(s.lhr, "C2", fbr_posid="123457")
    s.khi_counter = branches.create_counter(s.khi, "C1", fbr_posid="223456")
    s.cashier = staff.create("ayesha", "Ayesha", "cashier", "1111")
    s.supervisor = staff.create("sana", "Sana", "supervisor", "2222")
    s.manager = staff.create("imran", "Imran", "manager", "3333")
    p = Product.create(title="Test goods")

    def variant(sku, price, tax_bp=1800, barcode=None, third=False, shopify=True):
        v = Variant.create(product=p, sku=sku, name=f"Item {sku}", price_paisa=price, tax_rate_bp=tax_bp,
                           pct_code="6206.3000", third_schedule=third,
                           shopify_inventory_item_id=f"gid://shopify/InventoryItem/{sku}" if shopify else None)
        Barcode.create(code=barcode or f"20000{sku}", variant=v)
        return v

    s.kurta = variant("1001", 99_99, barcode="8961234567895")
    s.suit = variant("1002", 333_33)
    s.book = variant("1003", 500_00, tax_bp=0)
    s.lipstick = variant("1004", 1299_00, third=True)
    s.local_only = variant("1005", 100_00, shopify=False)
    for v in (s.kurta, s.suit, s.book, s.lipstick, s.local_only):
        for b in (s.lhr, s.khi):
            ledger.record(Movement(f"opening:{b.code}:{v.sku}", v.id, b.id, 50, "opening", "opening_stock", "open"))
    s.shift = shifts.open_shift(s.counter.id, s.cashier.id, Decimal("5000"))
    return s


@pytest.fixture
def site(database):
    return make_site()


def uid() -> str:
    return uuid.uuid4().hex
