"""Helpers for chain tests: a head office database on the test PostgreSQL, branch boxes on SQLite
files, and switching this process between them (the models follow `db.open_database`)."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import conftest
from pos_core import branches, chain, db, hq, ledger, migrations, shifts, staff
from pos_core.ledger import Movement
from pos_core.models import Barcode, Branch, Counter, Product, Staff, Variant

PG_URL = os.environ.get("POS_TEST_PG_URL", "")
REPO = Path(__file__).resolve().parents[1]
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
        if ln.up and ln.unsent() == 0:
            return
        if time.monotonic() > end:
            raise AssertionError(f"the push did not drain in time ({ln.last_error})")
        time.sleep(0.1)


def map_to_shop(hq_url: str, sim_url: str, *, shared: bool = False, quantity: int = 100) -> dict:
    """The chain's catalog in the Shopify simulator (one product, the chain's SKUs, prices and
    barcodes, `quantity` of each at the locations) and at the head office its Shopify ids, with
    LHR1/KHI1 on the shop's first two locations (one location for both when `shared`). The mapping
    is the head office's (down rows), so branches have it after a pull; a catalog pass at the head
    office finds the same items by SKU. Returns {"locations": {code: gid}, "items": {sku: item gid}}."""
    from sync_agent.testing import sim_post, sim_state
    locs = [loc["id"] for loc in sim_state(sim_url)["locations"]][:2]
    where = {"LHR1": locs[0], "KHI1": locs[0] if shared else locs[1]}
    stocked = sorted(set(where.values()))
    product = sim_post(sim_url, "products", {"action": "create", "product": {
        "title": "Lawn", "productType": "Lawn",
        "variants": [{"sku": sku, "barcode": f"20000{sku}", "price": f"{price / 100:.2f}",
                      "inventory": {loc: quantity for loc in stocked}} for sku, price in SKUS]}})["product"]
    items = {}
    with at(hq_url):
        with db.write():
            for code, loc in where.items():
                Branch.update(shopify_location_id=loc).where(Branch.code == code).execute()
            p = Product.get(Product.title == "Lawn")
            p.shopify_id = product["id"]
            p.save()
            for sv in product["variants"]:
                Variant.update(shopify_id=sv["id"], shopify_inventory_item_id=sv["inventoryItemId"],
                               tracked=True).where(Variant.sku == sv["sku"]).execute()
                items[sv["sku"]] = sv["inventoryItemId"]
    return {"locations": where, "items": items}


# --- agents as processes (the chain's process tests) ---------------------------------------------

class Agent:
    def __init__(self, cfg: Path, log: Path, **env):
        self.cfg, self.log, self.proc, self.env = cfg, log, None, env

    def start(self):
        """Start it as systemd would restart it: a SIGKILLed agent's PostgreSQL advisory lock goes
        when the server notices the dead connection, so a restart at once may be refused; retry."""
        env = dict(os.environ, POS_AGENT_LOG="INFO", **self.env)
        for _ in range(20):
            self.proc = subprocess.Popen([sys.executable, "-m", "sync_agent", "--config", str(self.cfg), "run"],
                                         cwd=REPO, env=env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
            try:
                self.proc.wait(1.5)
            except subprocess.TimeoutExpired:
                return                      # still running: it has the lock
            time.sleep(0.5)
        raise AssertionError(f"{self.cfg.name}: the agent would not stay up (see {self.log})")

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def wait_for(what, test, timeout=60.0, every=0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if test():
            return
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")
