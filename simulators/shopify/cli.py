"""`pos-sim shopify`: run the Shopify Admin GraphQL simulator as a process.

Prints exactly one line `listening on http://127.0.0.1:PORT` (flushed) once it accepts
requests, so a parent process can wait for it; SIGTERM/SIGINT save the shop and exit 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

DESCRIPTION = ("Fake Shopify Admin GraphQL API 2026-10 on 127.0.0.1: real schema, @idempotent, "
               "changeFromQuantity, cost throttling, bulk operations, fault injection.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = pick a free one)")
    parser.add_argument("--data", required=True, help="directory for state.json (and seed.json, bulk results)")
    parser.add_argument("--seed-products", type=int, default=0,
                        help="generate N products on first start (ignored when DIR has state.json or seed.json)")
    parser.add_argument("--token", default="shpat_test", help="accepted X-Shopify-Access-Token")
    parser.add_argument("--bucket", type=float, default=2000, help="throttle bucket size (points)")
    parser.add_argument("--restore", type=float, default=100, help="throttle restore rate (points/s)")
    parser.add_argument("--bulk-seconds", type=float, default=0.5, help="how long a bulk query 'runs'")
    parser.add_argument("--served-version", default=None, help="force the X-Shopify-API-Version header")
    faults = parser.add_argument_group("fault injection (also POST /_sim/faults)")
    faults.add_argument("--latency-ms", type=float, default=0)
    faults.add_argument("--error-rate", type=float, default=0.0, help="probability of HTTP 502/503")
    faults.add_argument("--drop-before-rate", type=float, default=0.0, help="close socket, nothing applied")
    faults.add_argument("--drop-after-rate", type=float, default=0.0, help="apply, then close socket")
    faults.add_argument("--fault-scope", choices=("all", "mutations", "queries"), default="all")
    faults.add_argument("--fault-seed", type=int, default=None)


def run(args: argparse.Namespace) -> int:
    from .server import start

    faults = {"latency_ms": args.latency_ms, "error_rate": args.error_rate,
              "drop_before_rate": args.drop_before_rate, "drop_after_rate": args.drop_after_rate,
              "scope": args.fault_scope, "seed": args.fault_seed}
    handle = start(port=args.port, data_dir=args.data, token=args.token, seed_products=args.seed_products,
                   bucket=args.bucket, restore=args.restore, bulk_seconds=args.bulk_seconds,
                   served_version=args.served_version, faults=faults)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"listening on {handle.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        handle.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pos-sim shopify", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
