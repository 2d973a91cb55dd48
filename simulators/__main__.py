"""`pos-sim`: local fakes of the outside services the POS talks to.

Each simulator registers its own subcommand through a small `_add_<name>`
function so that several engineers can add theirs without touching each
other's code. A subcommand sets `func` (called with the parsed args, returns
an exit code).
"""

from __future__ import annotations

import argparse
import sys


def _add_fbr(subparsers: argparse._SubParsersAction) -> None:
    # Imported lazily so `pos-sim shopify ...` does not pay for (or break on) FBR code.
    from simulators.fbr import cli

    parser = subparsers.add_parser(
        "fbr",
        help="fake FBR IMS (cloud PostData + local fiscal component)",
        description=cli.DESCRIPTION,
    )
    cli.add_arguments(parser)
    parser.set_defaults(func=cli.run)


def _add_shopify(subparsers: argparse._SubParsersAction) -> None:
    # Lazy import: building the Admin schema is only paid for by `pos-sim shopify`.
    from simulators.shopify import cli

    parser = subparsers.add_parser(
        "shopify",
        help="fake Shopify Admin GraphQL API 2026-10",
        description=cli.DESCRIPTION,
    )
    cli.add_arguments(parser)
    parser.set_defaults(func=cli.run)


def _add_couriers(subparsers: argparse._SubParsersAction) -> None:
    from simulators.couriers import cli

    for name, func in (("leopards", cli.run_leopards), ("postex", cli.run_postex)):
        parser = subparsers.add_parser(name, help=f"fake {name} courier merchant API")
        cli.add_arguments(parser)
        parser.set_defaults(func=func)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pos-sim", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="SIMULATOR")
    subparsers.required = True
    _add_fbr(subparsers)
    _add_shopify(subparsers)
    _add_couriers(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
