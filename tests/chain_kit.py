"""Helpers for chain tests: a head office database on the test PostgreSQL, branch boxes on SQLite
files, and switching this process between them (the models follow `db.open_database`)."""
from __future__ import annotations

import contextlib
import os
from decimal import Decimal

import conftest
from pos_core import branches, chain, db, hq, ledger, migrations, shifts, staff
from pos_core.ledger import Movement
from pos_core.models import Barcode, Branch, Counter, Product, Staff, Variant

PG_URL = os.environ.get("POS_TEST_PG_URL", "")
SKUS = [("1001", 99_99), ("1002", 333_33), ("1003", 500_00), ("1004", 1299_00)]


@contextlib.contextmanager
def at(url: str):
    """Run the block with the models on the database at `url`."""
    db.close()
    db.open_database(url)
    try:
        yield
    finally:
        db.close()


def new_hq() -> tuple[str, str]:
    """A fresh head office: (url, database name). Seeds the chain's branches, staff and catalog."""
    name = conftest._fresh_pg_database()
    url = conftest._pg_url(name)
    with at(url):
        hq.init()
        with db.write():
            for code, city in (("LHR1", "Lahore"), ("KHI1", "Karachi")):
                b = branches.create_branch(code, city)
                branches.create_counter(b, "C1")
            staff.create("ayesha", "Ayesha", "cashier", "1111")
            staff.create("imran", "Imran", "manager", "3333")
            p = Product.create(title="Lawn")
            for sku, price in SKUS:
                v = Variant.create(product=p, sku=sku, name=f"Item {sku}", price_paisa=price, pct_code="6206.3000")
                Barcode.create(code=f"20000{sku}", variant=v)
    return url, name


def drop_hq(name: str) -> None:
    conftest._drop_pg_database(name)
    conn, _ = conftest._pg_admin()
    with conn.cursor() as cur:
        cur.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (f"{name}\\_%",))
        for (role,) in cur.fetchall():
            cur.execute(f"DROP ROLE IF EXISTS {role}")
    conn.close()


def role_url(hq_name: str, code: str) -> str:
    _, u = conftest._pg_admin()
    return f"postgresql://{hq_name}_br_{code.lower()}@{u.hostname}:{u.port}/{hq_name}"


def new_branch_db(path, code: str = "") -> str:
    """A branch box's SQLite database; `code` tells it which branch it is (as `branch join` does)."""
    url = f"sqlite:///{path}"
    with at(url):
        migrations.init()
        chain.enable_capture()
        chain.set_state("role", "branch")
        if code:
            chain.set_state("branch", code)
    return url


def open_for_trade(code: str, qty: int = 50):
    """After the first pull: opening stock and a shift at the branch's counter C1."""
    b = Branch.get(Branch.code == code)
    counter = Counter.get(Counter.branch == b, Counter.code == "C1")
    cashier = Staff.get(Staff.code == "ayesha")
    with db.write():
        for v in Variant.select():
            ledger.record(Movement(f"opening:{code}:{v.sku}", v.id, b.id, qty, "opening", "opening_stock", "open"))
    shift = shifts.open_shift(counter.id, cashier.id, Decimal("5000"))
    return counter, shift, cashier


def pull_until(ln, test=None, timeout: float = 30.0) -> None:
    """Pull until `test()` holds (default: the catalog has arrived). The pull stops below the
    oldest running writer's xid, and on the shared test cluster that may be another suite's
    transaction in another database: it delays a pull, never loses a row, so tests wait."""
    import time
    test = test or (lambda: Variant.select().count() >= len(SKUS))
    end = time.monotonic() + timeout
    while True:
        ln.pull_once()
        if test():
            return
        if time.monotonic() > end:
            raise AssertionError("the pull did not bring what was expected in time")
        time.sleep(0.1)


def sync_until_sent(ln, timeout: float = 30.0) -> None:
    """Run the link until nothing is left to push (see pull_until on why a test must wait)."""
    import time
    end = time.monotonic() + timeout
    while True:
        ln.run_once()
        if ln.up and ln.pending(ln._hq().execute_sql("SELECT xid, seq FROM hq_position()").fetchone())[0] == 0:
            return
        if time.monotonic() > end:
            raise AssertionError(f"the push did not drain in time ({ln.last_error})")
        time.sleep(0.1)


def map_to_shop(hq_url: str, sim_url: str, *, shared: bool = False, quantity: int = 100) -> dict:
    """At the head office: the chain's SKUs become the simulator's items and LHR1/KHI1 its first
    two locations (one location for both when `shared`), each item at `quantity` there. The
    mapping is the head office's (down rows), so branches have it after a pull.
    Returns {"locations": {code: gid}, "items": {sku: inventory item gid}}."""
    from sync_agent.testing import sim_post, sim_state
    st = sim_state(sim_url)
    locs = [loc["id"] for loc in st["locations"]][:2]
    where = {"LHR1": locs[0], "KHI1": locs[0] if shared else locs[1]}
    stocked = {(r["inventoryItemId"], r["locationId"]) for r in st["inventory"]}
    sim_variants = [v for p in st["products"] for v in p["variants"]
                    if v["tracked"] and all((v["inventoryItemId"], loc) in stocked for loc in locs)]
    items = {}
    with at(hq_url):
        with db.write():
            for code, loc in where.items():
                Branch.update(shopify_location_id=loc).where(Branch.code == code).execute()
            for (sku, _), sv in zip(SKUS, sim_variants):
                Variant.update(shopify_id=sv["id"], shopify_inventory_item_id=sv["inventoryItemId"],
                               tracked=True).where(Variant.sku == sku).execute()
                items[sku] = sv["inventoryItemId"]
    for item in items.values():
        for loc in set(where.values()):
            sim_post(sim_url, "inventory", {"inventoryItemId": item, "locationId": loc,
                                            "quantities": {"available": quantity}})
    return {"locations": where, "items": items}
