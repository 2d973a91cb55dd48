"""Online order claims at the head office (issue 14), reported into docs/performance.md.

    POS_TEST_PG_URL=postgresql://postgres@127.0.0.1:PORT/postgres \\
        .venv/bin/python benchmarks/chain_claims.py [--orders 200] [--lines 3]

1. round trip: one branch claims N orders of L lines one after the other (`claims.claim`, each a
   head-office transaction through `hq_claim()` under the order's lock); median and p95.
2. race: two branches claim the same N orders at the same moment (two threads, one connection
   each, a barrier before each order); claims per second and a check that every order has exactly
   one holder.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from chain_kit import at, drop_hq, new_hq, role_url  # noqa: E402
from pos_core import db, hq  # noqa: E402
from pos_core.models import SmartOrder, SmartOrderLine  # noqa: E402
from sync_agent.hq import claims  # noqa: E402
from sync_agent.hq.link import BranchLink  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=200)
    ap.add_argument("--lines", type=int, default=3)
    args = ap.parse_args()
    url, name = new_hq()
    try:
        with at(url):
            for code in ("LHR1", "KHI1"):
                hq.add_branch(code)
            with db.write():
                for prefix in ("solo", "race"):
                    for n in range(args.orders):
                        o = SmartOrder.create(shopify_id=f"{prefix}{n}", name=f"#{n}", created_at_shopify="-",
                                              updated_at_shopify="-")
                        for i in range(args.lines):
                            SmartOrderLine.create(order=o, shopify_line_id=f"L{i}", name="-", quantity=1,
                                                  current_quantity=1)
        links = {c: BranchLink(role_url(name, c), "", c) for c in ("LHR1", "KHI1")}
        for ln in links.values():
            ln._hq()
        times = []
        for n in range(args.orders):
            t0 = time.perf_counter()
            assert claims.claim(links["LHR1"], f"solo{n}").ok
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        print(f"round trip: {args.orders} orders x {args.lines} lines: median {statistics.median(times):.2f} ms, "
              f"p95 {times[int(len(times) * 0.95)]:.2f} ms")
        gate = threading.Barrier(2)
        won = {c: 0 for c in links}

        def run(code):
            for n in range(args.orders):
                gate.wait()
                won[code] += claims.claim(links[code], f"race{n}").ok

        threads = [threading.Thread(target=run, args=(c,)) for c in links]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        with at(url):
            single = all(len(set(hq.claims(f"race{n}").values())) == 1 for n in range(args.orders))
        print(f"race: two branches on the same {args.orders} orders: {2 * args.orders / wall:.0f} claims/s, "
              f"won {won['LHR1']} + {won['KHI1']} = {sum(won.values())}, one holder per order: {single}")
        for ln in links.values():
            ln.close()
        return 0 if single and sum(won.values()) == args.orders else 1
    finally:
        db.close()
        drop_hq(name)


if __name__ == "__main__":
    sys.exit(main())
