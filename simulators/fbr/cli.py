"""`pos-sim fbr`: run the fake FBR IMS until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .faults import FaultConfig
from .ims import DUPLICATE_POLICIES
from .validation import MODES

DESCRIPTION = (
    "Fake FBR IMS on 127.0.0.1: POST /FBR/v1/api/Live/PostData (sandbox), "
    "POST /imsp/v1/api/Live/PostData (production), the local fiscal component "
    "/api/IMSFiscal/GetInvoiceNumberByModel and /api/IMSFiscal/Get, plus /_sim/* "
    "control endpoints. Prints 'listening on http://127.0.0.1:PORT' once ready."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--token", default="fbr-test-token", help="sandbox Bearer token")
    parser.add_argument("--prod-token", default="fbr-prod-token", help="production Bearer token")
    parser.add_argument("--mode", choices=MODES, default="strict")
    parser.add_argument("--duplicate", choices=DUPLICATE_POLICIES, default="first",
                        help="what a repeated POSID+USIN gets")
    parser.add_argument("--data", metavar="DIR", help="persist accepted invoices in DIR")
    parser.add_argument("--component-env", choices=("test", "production"), default="test",
                        help="local component mode; test numbers end in *test*")
    parser.add_argument("--verbose", action="store_true", help="log request lines to stderr")
    faults = parser.add_argument_group("fault injection (invoice POSTs only)")
    faults.add_argument("--latency-ms", type=int, default=0)
    faults.add_argument("--error-rate", type=float, default=0.0, help="probability of an HTML 5xx")
    faults.add_argument("--error-status", type=int, action="append", choices=(500, 502, 503),
                        help="5xx status(es) to pick from (repeatable; default all three)")
    faults.add_argument("--drop-rate", type=float, default=0.0,
                        help="probability of closing the connection before processing")
    faults.add_argument("--store-no-response-rate", type=float, default=0.0,
                        help="probability of storing the invoice, then closing without a response")
    faults.add_argument("--hang-seconds", type=float, default=0.0,
                        help="sleep this long before answering")
    faults.add_argument("--hang-rate", type=float, default=1.0)
    faults.add_argument("--hang-after-store", action="store_true",
                        help="store the invoice before hanging (accept-then-hang)")
    faults.add_argument("--seed", type=int, help="make fault injection deterministic")


def run(args: argparse.Namespace) -> int:
    from .server import start  # after argument parsing, so --help stays fast

    try:
        faults = FaultConfig(
            latency_ms=args.latency_ms, error_rate=args.error_rate,
            error_statuses=args.error_status or [500, 502, 503], drop_rate=args.drop_rate,
            store_no_response_rate=args.store_no_response_rate, hang_seconds=args.hang_seconds,
            hang_rate=args.hang_rate, hang_after_store=args.hang_after_store, seed=args.seed)
        faults.check()
        handle = start(port=args.port, token=args.token, mode=args.mode, duplicate=args.duplicate,
                       data_dir=args.data, prod_token=args.prod_token, faults=faults,
                       verbose=args.verbose, component_env=args.component_env)
    except (ValueError, OSError) as exc:
        print(f"pos-sim fbr: {exc}", file=sys.stderr)
        return 2

    done = threading.Event()
    # SIGTERM (what a test harness sends) shuts down as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(f"listening on {handle.url}", flush=True)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
    return 0
