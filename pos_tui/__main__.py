"""`pos-till [--config PATH]`: start the till for the counter named in the config."""
from __future__ import annotations

import argparse
import os
import sys

from pos_core import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pos-till", description="Point of sale till (keyboard only).")
    parser.add_argument("--config", help="config file (default: $POS_CONFIG or /etc/pos/pos.toml)")
    args = parser.parse_args(argv)

    def run() -> int:
        from pos_core import migrations
        cfg = cli.load_and_open(args.config)
        migrations.check_current()
        from printers.labels import LabelConfigError, parse_output
        from printers.template import TemplateError
        from .receipts import receipt_template
        try:
            receipt_template(cfg)  # a broken [receipt] stops the till now, not at the first receipt
            if cfg.labels:
                parse_output(cfg.labels, f"{cfg.path} [labels]")
        except (TemplateError, LabelConfigError) as exc:
            print(f"config error: {exc}", file=sys.stderr)
            return cli.EXIT_CONFIG
        from .app import configure_log
        configure_log(cfg)  # $POS_TILL_LOG or ~/.local/state/pos/till.log; never stderr
        # Over SSH and on the console animations are wasted bandwidth. The frame rate stays at
        # Textual's 60: a till screen changes rarely, and a lower rate adds its whole frame period
        # to every scan's time to appear.
        os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
        from .app import make_app
        app = make_app(cfg)
        app.run(mouse=False)
        return 0

    return cli.run(run)


if __name__ == "__main__":
    raise SystemExit(main())
