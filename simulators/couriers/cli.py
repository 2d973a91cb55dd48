"""`pos-sim leopards` / `pos-sim postex`: run a fake courier API until interrupted."""
from __future__ import annotations

import argparse
import signal
import threading


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")


def run_leopards(args: argparse.Namespace) -> int:
    from .leopards import start
    return _serve(start(port=args.port), "leopards (api_key leo-key, api_password leo-pass)")


def run_postex(args: argparse.Namespace) -> int:
    from .postex import start
    return _serve(start(port=args.port), "postex (token postex-token)")


def _serve(handle, what: str) -> int:
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(f"{what} listening on {handle.url}", flush=True)
    done.wait()
    handle.stop()
    return 0
