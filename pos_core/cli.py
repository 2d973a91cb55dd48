"""What every command-line entry point shares: config loading and one-line failures."""
from __future__ import annotations

import sys
from typing import Callable

from . import config as configmod
from .db import DatabaseUrlError, open_database
from .errors import PosError
from .migrations import SchemaError

EXIT_CONFIG = 2


def load_and_open(cli_path: str | None):
    cfg = configmod.load(cli_path)
    open_database(cfg.database_url)
    return cfg


def run(main: Callable[[], int]) -> int:
    """Run `main`, turning the errors a person can fix into one line and an exit status."""
    try:
        return main() or 0
    except configmod.ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except DatabaseUrlError as exc:
        print(f"config error: database.url: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except SchemaError as exc:
        print(f"database: {exc}", file=sys.stderr)
        return 3
    except PosError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence prints, not a traceback
        from peewee import OperationalError
        if isinstance(exc, OperationalError):
            print(f"database error: {exc}", file=sys.stderr)
            return 3
        raise
