"""`pos-office [--config PATH] [--serve HOST:PORT] [--exports DIR]`: the back office.

In a terminal (console or SSH) it runs in place. With `--serve` it starts textual-serve: each
browser that opens http://HOST:PORT gets its own back-office process (and signs in with its own
PIN). The default host is 127.0.0.1, so a browser on another machine needs a deliberate
`--serve 0.0.0.0:8080` (or an SSH tunnel).
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys

from pos_core import cli

DEFAULT_HOST = "127.0.0.1"


def parse_serve(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":") if ":" in value else (DEFAULT_HOST, ":", value)
    host = host or DEFAULT_HOST
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{value!r}: use HOST:PORT or PORT, e.g. 127.0.0.1:8080")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pos-office", description="Back office: reports for managers and owners.")
    parser.add_argument("--config", help="config file (default: $POS_CONFIG or /etc/pos/pos.toml)")
    parser.add_argument("--serve", metavar="HOST:PORT", type=parse_serve,
                        help="serve the back office to a browser (textual-serve); host defaults to 127.0.0.1")
    parser.add_argument("--exports", metavar="DIR", help="where exports are saved (default ./exports)")
    args = parser.parse_args(argv)

    def run() -> int:
        from pos_core import config as configmod, migrations
        # Reports share the box with selling tills: the back office yields the CPU to them.
        # POS_OFFICE_NICE=0 turns it off (a head-office server with no tills).
        try:
            os.nice(int(os.environ.get("POS_OFFICE_NICE", "10")))
        except (OSError, ValueError):
            pass
        cfg = cli.load_and_open(args.config)
        migrations.check_current()
        if args.exports:
            os.environ["POS_OFFICE_EXPORTS"] = args.exports
        if args.serve:
            from pos_core import db
            db.close()
            host, port = args.serve
            command = [sys.executable, "-m", "pos_office", "--config", str(configmod.find_path(args.config))]
            if args.exports:
                command += ["--exports", args.exports]
            from textual_serve.server import Server
            print(f"pos-office: serving on http://{host}:{port}", flush=True)
            Server(shlex.join(command), host=host, port=port, title="Back office").serve()
            return 0
        os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
        from .app import make_app
        make_app(cfg).run()
        return 0

    return cli.run(run)


if __name__ == "__main__":
    raise SystemExit(main())
