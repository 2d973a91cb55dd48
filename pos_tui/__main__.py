"""`pos-till [--config PATH]`: start the till for the counter named in the config."""
from __future__ import annotations

import argparse
import os

from pos_core import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pos-till", description="Point of sale till (keyboard only).")
    parser.add_argument("--config", help="config file (default: $POS_CONFIG or /etc/pos/pos.toml)")
    args = parser.parse_args(argv)

    def run() -> int:
        from pos_core import migrations
        cfg = cli.load_and_open(args.config)
        migrations.check_current()
        # Over SSH and on the console, animation and 60 fps are wasted bandwidth.
        os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
        os.environ.setdefault("TEXTUAL_FPS", "30")
        from .app import make_app
        app = make_app(cfg)
        app.run(mouse=False)
        return 0

    return cli.run(run)


if __name__ == "__main__":
    raise SystemExit(main())
