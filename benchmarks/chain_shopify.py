"""A chain branch's Shopify stock changes through the head office (issue 14), reported into
docs/performance.md.

    POS_TEST_PG_URL=postgresql://postgres@127.0.0.1:PORT/postgres \\
        .venv/bin/python benchmarks/chain_shopify.py [--sales 40] [--every 0.5] [--json]

A head office (PostgreSQL) and one branch box (SQLite), their agents as processes (`pos-agent run`,
the branch's push_seconds 0.5 s, no Shopify token at the branch), the Shopify simulator in this
process over real HTTP. This process sells one one-line sale every `--every` seconds at the branch
and polls for each: when the simulator has applied its change (sale -> Shopify), and when the
branch's own job says SYNCED (sale -> the outcome back at the branch).
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from checkout import machine, percentile  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sales", type=int, default=40)
    ap.add_argument("--every", type=float, default=0.5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from chain_kit import Agent, at, drop_hq, map_to_shop, new_branch_db, new_hq, open_for_trade, role_url, wait_for
    from pos_core import db, hq, outbox, sales
    from pos_core.config import write_private
    import psycopg2
    from pos_core.models import Variant
    from pos_core.policy import SalePolicy
    from simulators.shopify.server import start
    from sync_agent.testing import sim_adjustments

    tmp = Path(tempfile.mkdtemp(prefix="chain-shopify-"))
    token = "shpat_bench_chain"
    shop = start(port=0, data_dir=tmp / "shop", seed_products=0, token=token, bucket=20000, restore=2000)
    hq_url, hq_name = new_hq()
    agents = []
    try:
        with at(hq_url):
            hq.add_branch("LHR1")
        m = map_to_shop(hq_url, shop.url, quantity=10_000)
        write_private(tmp / "shopify.token", token + "\n")
        locs = "\n".join(f'{c} = "{g}"' for c, g in m["locations"].items())
        (tmp / "hq.toml").write_text(
            f'[database]\nurl = "{hq_url}"\n[shopify]\nenabled = true\nshop = "b.myshopify.com"\n'
            f'endpoint = "{shop.url}"\ntoken_file = "{tmp / "shopify.token"}"\n[shopify.locations]\n{locs}\n'
            f'[hq]\nrole = "head-office"\npush_seconds = "0.5"\n')
        lhr = new_branch_db(tmp / "LHR1.db")
        (tmp / "lhr.toml").write_text(
            f'[database]\nurl = "{lhr}"\n[counter]\nbranch = "LHR1"\ncode = "C1"\n'
            f'[shopify]\nenabled = true\nshop = "b.myshopify.com"\n'
            f'[hq]\nrole = "branch"\nurl = "{role_url(hq_name, "LHR1")}"\npush_seconds = "0.5"\n')
        agents = [Agent(tmp / "hq.toml", tmp / "hq.log"), Agent(tmp / "lhr.toml", tmp / "lhr.log")]
        for a in agents:
            a.start()

        def mapped():
            with at(lhr):
                return Variant.select().where(Variant.shopify_inventory_item_id.is_null(False)).count() == 4
        wait_for("the branch's catalog", mapped, timeout=60)
        policy = SalePolicy(shopify_enabled=True)
        made: dict[str, tuple[float, str]] = {}   # job uid -> (commit time, key)
        at_shopify, at_branch = {}, {}
        done = threading.Event()

        def watch():
            # its own connections: the models in this process follow `at()`, which the seller uses
            branch_db = sqlite3.connect(str(tmp / "LHR1.db"))
            office = psycopg2.connect(hq_url)
            office.autocommit = True
            while not done.is_set() or len(at_branch) < len(made):
                now = time.time()
                keys = {a["idempotencyKey"] for a in sim_adjustments(shop.url) if a["source"] == "api"}
                synced = {u for (u,) in branch_db.execute("SELECT uid FROM outbox_job WHERE status = 'SYNCED'")}
                with office.cursor() as cur:   # a batch of several sales has a derived key: Shopify's answer is here
                    cur.execute("SELECT uid FROM outbox_job WHERE status = 'SYNCED'")
                    answered = {u for (u,) in cur.fetchall()}
                for uid, (t, key) in list(made.items()):
                    if uid not in at_shopify and (key in keys or uid in answered):
                        at_shopify[uid] = now - t
                    if uid not in at_branch and uid in synced:
                        at_branch[uid] = now - t
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            branch_db.close()
            office.close()

        with at(lhr):
            counter, shift, cashier = open_for_trade("LHR1", qty=1000)
            v = Variant.get(Variant.sku == "1001")
            deadline = time.monotonic() + args.sales * args.every + 120
            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            for _ in range(args.sales):
                o = sales.complete_sale(policy, counter_id=counter.id, shift_id=shift.id, staff_id=cashier.id,
                                        lines=[sales.SaleLine(v.id, 1)],
                                        tenders=[sales.Tender("cash", Decimal(v.price_paisa) / 100)])
                t = time.time()
                j = outbox.jobs_for(o.uid, outbox.SHOPIFY)[0]
                made[j.uid] = (t, j.idempotency_key)
                time.sleep(args.every)
            done.set()
        watcher.join()
        shop_ms = [s * 1000 for s in at_shopify.values()]
        branch_ms = [s * 1000 for s in at_branch.values()]
        out = {"sales": len(made), "every_s": args.every, "machine": machine(),
               "sale_to_shopify_ms": {"median": round(percentile(shop_ms, 50)), "p95": round(percentile(shop_ms, 95))},
               "sale_to_outcome_at_branch_ms": {"median": round(percentile(branch_ms, 50)),
                                                "p95": round(percentile(branch_ms, 95))},
               "arrived": {"shopify": len(at_shopify), "branch": len(at_branch)}}
    finally:
        for a in agents:
            a.stop()
        db.close()
        shop.stop()
        drop_hq(hq_name)
    print(json.dumps(out, indent=2) if args.json else
          f"{out['sales']} sales, one every {args.every} s: sale -> Shopify median {out['sale_to_shopify_ms']['median']} ms, "
          f"p95 {out['sale_to_shopify_ms']['p95']} ms; sale -> outcome at the branch median "
          f"{out['sale_to_outcome_at_branch_ms']['median']} ms, p95 {out['sale_to_outcome_at_branch_ms']['p95']} ms; "
          f"arrived {out['arrived']} ({out['machine']['cores']} cores, {out['machine']['date']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
