"""`pos-agent` as a real process against the simulator on 127.0.0.1: status, config errors,
SIGTERM, an outage, and exactly-once delivery while the link misbehaves and the agent is killed."""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from pos_core import heartbeat
from pos_core.models import OutboxJob, Variant
from simulators.shopify.server import start
from sync_agent.testing import available, mirror_site, sell, sim_adjustments, sim_post, sim_state, write_config

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "shpat_daemon_secret_9f8e7d6c5b4a"


def agent(cfg: Path, *args: str, log: Path | None = None, level: str = "INFO", **extra_env) -> subprocess.Popen:
    env = {**os.environ, "POS_AGENT_BACKOFF": "0.2,2", "POS_AGENT_LOG": level, "PYTHONUNBUFFERED": "1", **extra_env}
    out = open(log, "ab") if log else subprocess.PIPE
    return subprocess.Popen([sys.executable, "-m", "sync_agent", "--config", str(cfg), *args], cwd=ROOT,
                            env=env, stdout=out, stderr=out)


def run_agent(cfg: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "POS_AGENT_BACKOFF": "0.2,2"}
    return subprocess.run([sys.executable, "-m", "sync_agent", "--config", str(cfg), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def wait_for(predicate, timeout: float, step: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def all_synced() -> bool:
    return OutboxJob.select().where(OutboxJob.status != "SYNCED").count() == 0


@pytest.fixture
def shop(tmp_path):
    handle = start(port=0, data_dir=tmp_path / "shop", seed_products=4, token=TOKEN)
    yield handle
    handle.stop()


@pytest.fixture
def setup(shop, sqlite_db, tmp_path):
    site = mirror_site(shop.url, n_branches=2, n_variants=5)   # the last one is sold online in the soak
    cfg = write_config(tmp_path / "pos.toml", sqlite_db, shop.url, TOKEN,
                       {b.code: b.shopify_location_id for b in site.branches})
    return site, cfg


def test_config_errors_are_one_line_and_exit_2(tmp_path):
    missing = run_agent(tmp_path / "nope.toml", "status")
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "config error" in missing.stderr
    bad = tmp_path / "pos.toml"
    bad.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/x.db"\n[shopify]\nenabled = true\n'
                   'shop = "x.myshopify.com"\n')
    res = run_agent(bad, "once")
    assert res.returncode == 2 and "shopify.token" in res.stderr


def test_import_catalog_command(setup, shop, tmp_path):
    site, cfg = setup
    res = run_agent(cfg, "import-catalog", "--paged")
    assert res.returncode == 0, res.stderr
    assert "imported:" in res.stdout and "catalog: paged:" in res.stderr
    n = sum(len(p["variants"]) for p in sim_state(shop.url)["products"])
    assert Variant.select().where(Variant.shopify_id.is_null(False)).count() == n
    assert TOKEN not in res.stdout + res.stderr
    off = tmp_path / "off.toml"
    write_config(off, f"sqlite:///{tmp_path}/off.db", shop.url, TOKEN, {}, enabled=False)
    res = run_agent(off, "import-catalog")
    assert res.returncode == 2 and "shopify.enabled" in res.stderr


def test_import_catalog_bulk_answered_without_an_operation_is_one_line(setup, shop):
    site, cfg = setup
    sim_post(shop.url, "bulk", {"no_operation_next": True})
    res = run_agent(cfg, "import-catalog", "--bulk")
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    last = [l for l in res.stderr.splitlines() if l.strip()][-1]
    assert last.startswith("shopify: ") and "no bulk operation" in last and "--paged" in last


def test_locations_lists_every_location_with_its_id_and_branch(setup, shop):
    site, cfg = setup
    res = run_agent(cfg, "locations")
    assert res.returncode == 0, res.stderr
    for loc in sim_state(shop.url)["locations"]:
        row = next(l for l in res.stdout.splitlines() if loc["id"] in l)
        mapped = [b.code for b in site.branches if b.shopify_location_id == loc["id"]]
        for code in mapped:
            assert code in row
    assert "[shopify.locations]" in res.stdout and TOKEN not in res.stdout + res.stderr


def test_status_shows_queue_depths_and_the_heartbeat(setup):
    site, cfg = setup
    sell(site, 0, [(site.variants[0], 1), (site.variants[1], 1)])
    before = run_agent(cfg, "status")
    assert before.returncode == 0
    assert "shopify  PENDING 2" in before.stdout and "no heartbeat yet" in before.stdout
    once = run_agent(cfg, "once")
    assert once.returncode == 0, once.stderr
    after = run_agent(cfg, "status")
    assert after.returncode == 0
    assert "shopify  empty" in after.stdout.split("agent:")[0]
    line = next(l for l in after.stdout.splitlines() if l.strip().startswith("shopify ") and "seen" in l)
    assert "last error: none" in line and "last contact 20" in line
    assert "\nWAL " in after.stdout and "checkpointed by each writer" in after.stdout   # `once` runs no checkpointer
    assert all_synced()
    rows = {r["channel"]: r for r in heartbeat.read()}
    assert rows["shopify"]["detail"]["queue"] == {}
    assert rows["shopify_catalog"]["detail"]["products_watermark"]   # `once` ran the catalog too


def test_sigterm_finishes_the_job_in_hand_and_exits_0(setup, shop, tmp_path):
    site, cfg = setup
    log = tmp_path / "agent.log"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(20)
    proc = agent(cfg, "run", log=log, NOTIFY_SOCKET=str(tmp_path / "notify.sock"))
    try:
        assert notify.recv(4096).split(b"\n")[0] == b"READY=1"
        assert wait_for(lambda: any(r["channel"] == "shopify" for r in heartbeat.read()), 20)
        sim_post(shop.url, "faults", {"latency_ms": 1500, "scope": "mutations"})
        sell(site, 0, [(site.variants[0], 1)])
        assert wait_for(lambda: OutboxJob.get().status == "SENDING", 10, 0.02)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert notify.recv(4096) == b"STOPPING=1"
    finally:
        notify.close()
        if proc.poll() is None:
            proc.kill()
    assert OutboxJob.get().status == "SYNCED"          # the request in hand was finished
    assert "stopped" in log.read_text()


def test_an_outage_queues_sales_and_they_drain_in_order_when_the_link_returns(setup, shop, tmp_path):
    site, cfg = setup
    log = tmp_path / "agent.log"
    proc = agent(cfg, "run", log=log)
    port, data = shop.port, shop.data_dir
    try:
        sell(site, 0, [(site.variants[0], 1)])
        assert wait_for(all_synced, 15)
        shop.stop()                                        # the link is down
        t_down = time.monotonic()
        for i in range(12):
            sell(site, i % 2, [(site.variants[i % 4], 1)])
            time.sleep(1.0)
        assert OutboxJob.select().where(OutboxJob.status == "SYNCED").count() == 1
        assert "cannot connect" in OutboxJob.select().where(OutboxJob.status == "PENDING").first().last_error
        assert time.monotonic() - t_down >= 10
        back = start(port=port, data_dir=data, token=TOKEN)   # the same shop returns
        try:
            assert wait_for(all_synced, 30, 0.2)
            applied = [a for a in sim_adjustments(back.url) if a["source"] == "api" and a["name"] == "available"]
            assert len(applied) == 13
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
            back.stop()
    finally:
        if proc.poll() is None:
            proc.kill()
    jobs = list(OutboxJob.select().order_by(OutboxJob.id))
    # in order: per branch, the adjustment groups come in the order the sales were made
    groups = [j.result["adjustmentGroupId"] for j in jobs]
    for branch in ("B1", "B2"):
        ids = [int(g.rsplit("/", 1)[1]) for g, j in zip(groups, jobs) if j.payload["branch"] == branch]
        assert ids == sorted(ids)
    assert TOKEN not in log.read_text()


ORDERS = 8
COD = ("Cash on Delivery (COD)",)


def _soak_orders(site, shop):
    """ORDERS online orders of 2 units each, assigned by Shopify to branch 1's location, already
    polled into the local database (before any fault is switched on)."""
    from pos_core.config import ShopifyConfig
    from sync_agent import orders as agent_orders
    from sync_agent.shopify.client import ShopifyClient
    item = site.variants[-1]
    codes = {l["id"]: l["code"] for l in sim_state(shop.url)["locations"]}
    for b in site.branches:
        sim_post(shop.url, "inventory", {"inventoryItemId": item.shopify_inventory_item_id,
                                         "locationId": b.shopify_location_id, "quantities": {"available": 100}})
    made = []
    for i in range(ORDERS):
        made.append(sim_post(shop.url, "orders", {
            "action": "create", "gateway": COD[0], "location": codes[site.branches[0].shopify_location_id],
            "customer": {"firstName": "Hina", "lastName": f"Soak{i}", "phone": "+923001234567"},
            "phone": "+923001234567", "lines": [{"sku": item.sku, "quantity": 2}],
            "shippingAddress": {"firstName": "Hina", "lastName": "Baig", "address1": "House 12", "city": "Lahore",
                                "phone": "+923001234567"}})["order"])
    sim_post(shop.url, "clock", {"advance_seconds": 1})
    with ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=shop.url), token=TOKEN) as client:
        agent_orders.poll(client, COD)
    return item, made


def _ship(site, order_gid: str, i: int, k: int) -> None:
    """Shipment k (0 or 1) of order i: one unit; the second from branch 2 (a fulfillmentOrderMove)."""
    from pos_core import fulfillments, online_orders
    so = online_orders.get(order_gid)
    if k == 0 and i % 2 == 0:
        online_orders.confirm(so.id, site.cashier.id, shopify_enabled=True)    # a tagsAdd job
    f = fulfillments.create(so.id, site.branches[k].id, site.cashier.id, {so.lines[0].id: 1})
    fulfillments.pack(f.uid, site.cashier.id)
    fulfillments.dispatch(f.uid, site.cashier.id, "TCS", f"SOAK-{i}-{k}", shopify_enabled=True)


@pytest.mark.slow
def test_exactly_once_under_faults_and_kills(setup, shop, tmp_path):
    """300 sales on 2 branches / 2 locations and 16 shipments of 8 online orders (fulfillments,
    moves, tags); the simulator drops, delays, throttles and loses answers; the agent is
    SIGKILLed at random moments and restarted."""
    site, cfg = setup
    rng = random.Random(5)
    order_item, online = _soak_orders(site, shop)
    sale_items = site.variants[:-1]
    start_state = sim_state(shop.url)
    # Shopify's bucket: the order reads cost ~600 points, so a smaller bucket would never fit them
    sim_post(shop.url, "throttle", {"bucket": 1000, "restore": 100})
    sim_post(shop.url, "faults", {"latency_ms": 20, "error_rate": 0.08, "drop_before_rate": 0.08,
                                  "drop_after_rate": 0.15, "seed": 11})
    log = tmp_path / "agent.log"
    sales_done = threading.Event()
    problems: list[BaseException] = []
    shipments = [(i, k) for k in (0, 1) for i in range(ORDERS)]

    def make_sales():
        try:
            r = random.Random(7)
            for i in range(300):
                b = r.randrange(2)
                picks = r.sample(sale_items, r.randint(1, 2))
                sell(site, b, [(v, r.randint(1, 3)) for v in picks])
                if i % 18 == 5 and shipments:
                    n, k = shipments.pop(0)
                    _ship(site, online[n]["id"], n, k)
                time.sleep(r.uniform(0.0, 0.07))
            while shipments:
                n, k = shipments.pop(0)
                _ship(site, online[n]["id"], n, k)
        except BaseException as exc:  # noqa: BLE001
            problems.append(exc)
        finally:
            sales_done.set()

    seller = threading.Thread(target=make_sales)
    seller.start()
    kills = 0
    deadline = time.monotonic() + 75
    proc = agent(cfg, "run", log=log, level="DEBUG")
    try:
        while not sales_done.is_set() and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.4, 2.5))
            if rng.random() < 0.5:   # drain the bucket now and then: THROTTLED answers
                sim_post(shop.url, "throttle", {"currently": 0})
            proc.send_signal(signal.SIGKILL)
            # it was killed, not gone by itself (a crash, or refused because another agent held the lock)
            assert proc.wait() == -signal.SIGKILL, log.read_text(errors="replace")[-2000:]
            kills += 1
            proc = agent(cfg, "run", log=log, level="DEBUG")
        seller.join()
        assert not problems, problems
        assert wait_for(all_synced, max(5.0, deadline - time.monotonic()), 0.3), \
            Counter((j.kind, j.status, j.last_error[:80]) for j in OutboxJob.select() if j.status != "SYNCED")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert kills >= 5
    faults = httpx.get(f"{shop.url}/_sim/health").json()
    assert faults["ok"]
    order_jobs = list(OutboxJob.select().where(OutboxJob.kind != "inventory_adjust"))
    assert Counter(j.kind for j in order_jobs) == {"fulfillment_create": 2 * ORDERS, "tags_add": ORDERS // 2}
    jobs = list(OutboxJob.select().where(OutboxJob.kind == "inventory_adjust"))
    assert len(jobs) >= 300
    # every shipment is one fulfillment in Shopify, from the branch that sent it, told once
    listing = httpx.get(f"{shop.url}/_sim/orders").json()
    api = listing["apiFulfillments"]
    for i, o in enumerate(online):
        mine = [f for f in api if f["orderId"] == o["id"]]
        assert sorted(n for f in mine for n in f["trackingNumbers"]) == [f"SOAK-{i}-0", f"SOAK-{i}-1"], mine
        assert sorted(f["locationId"] for f in mine) == sorted(b.shopify_location_id for b in site.branches)
        tags = next(x for x in listing["orders"] if x["id"] == o["id"])["tags"]
        assert ("pos-cod-confirmed" in tags) == (i % 2 == 0)
    end_state = sim_state(shop.url)
    for b in site.branches:   # each unit's commitment moved once and shipped once: nothing left committed
        row = next(x for x in end_state["inventory"] if x["inventoryItemId"] == order_item.shopify_inventory_item_id
                   and x["locationId"] == b.shopify_location_id)
        assert row["committed"] == 0 and row["on_hand"] == 100 - ORDERS, row
    applied = [a for a in sim_adjustments(shop.url) if a["source"] == "api" and a["name"] == "available"]
    # every applied change belongs to a key the agent recorded, and each job's change was applied once
    want: Counter = Counter()
    for j in jobs:
        want[(j.result["idempotencyKey"], j.payload["inventoryItemId"], j.payload["locationId"], j.payload["delta"])] += 1
    got = Counter((a["idempotencyKey"], a["inventoryItemId"], a["locationId"], a["delta"]) for a in applied)
    assert got == want
    for a in applied:
        assert a["referenceDocumentUri"].startswith(("gid://pk-pos/Sale/", "gid://pk-pos/SyncBatch/"))
    for v in sale_items:
        for b in site.branches:
            delta = sum(j.payload["delta"] for j in jobs if j.payload["inventoryItemId"] == v.shopify_inventory_item_id
                        and j.payload["locationId"] == b.shopify_location_id)
            item, loc = v.shopify_inventory_item_id, b.shopify_location_id
            assert available(end_state, item, loc) == available(start_state, item, loc) + delta
    text = log.read_text()
    assert TOKEN not in text
    assert all(TOKEN not in (j.last_error or "") and TOKEN not in str(j.history) for j in jobs + order_jobs)
    assert "Traceback" not in text, text[-3000:]
