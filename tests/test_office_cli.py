"""`pos-office` on the command line: the serve address, and one-line errors."""
from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from pos_office.__main__ import parse_serve


def test_serve_address_defaults_to_localhost():
    assert parse_serve("8080") == ("127.0.0.1", 8080)
    assert parse_serve(":8080") == ("127.0.0.1", 8080)
    assert parse_serve("0.0.0.0:9000") == ("0.0.0.0", 9000)
    for bad in ("localhost:http", "99999", "x:"):
        with pytest.raises(argparse.ArgumentTypeError, match="HOST:PORT"):
            parse_serve(bad)


def test_bad_config_and_old_database_are_one_line(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "pos_office", *a], capture_output=True, text=True)  # noqa: E731
    out = run("--config", str(tmp_path / "missing.toml"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "config error" in out.stderr
    cfg = tmp_path / "pos.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "empty.db"}"\n')
    out = run("--config", str(cfg))
    assert out.returncode == 3 and "no schema" in out.stderr and out.stderr.count("\n") == 1
    out = run("--config", str(cfg), "--serve", "nope:port")
    assert out.returncode == 2 and "HOST:PORT" in out.stderr
