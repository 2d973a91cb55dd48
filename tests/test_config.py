"""Config loading: every mistake names the file, the key, what was expected and what was found."""
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from pos_core import config

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path, text, name="pos.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_the_example_config_is_valid_and_complete():
    cfg = config.load(str(ROOT / "config.example.toml"))
    assert cfg.branch == "LHR1" and cfg.counter == "C1"
    assert cfg.default_tax_rate == Decimal("18")
    assert cfg.fbr.service_fee == Decimal("1.00") and cfg.fbr.mode == "off"
    assert cfg.shopify.locations == {"LHR1": "gid://shopify/Location/1"}
    assert cfg.printer.width == 48 and cfg.discount_limits["cashier"] == Decimal("10")


def test_only_a_database_url_is_enough(tmp_path):
    p = write(tmp_path, '[database]\nurl = "sqlite:///pos.db"\n')
    cfg = config.load(str(p))
    assert cfg.database_url == f"sqlite:///{tmp_path / 'pos.db'}"  # relative to the config file
    assert cfg.fbr.mode == "off" and not cfg.shopify.enabled


def test_lookup_order_cli_then_env(tmp_path, monkeypatch):
    a = write(tmp_path, '[database]\nurl = "sqlite:///a.db"\n', "a.toml")
    b = write(tmp_path, '[database]\nurl = "sqlite:///b.db"\n', "b.toml")
    monkeypatch.setenv("POS_CONFIG", str(b))
    assert config.load(str(a)).database_url.endswith("a.db")
    assert config.load(None).database_url.endswith("b.db")
    monkeypatch.delenv("POS_CONFIG")
    assert config.find_path(None) == config.DEFAULT_PATH


@pytest.mark.parametrize("text, key, expected", [
    ('[database]\nurl = "sqlite:///x.db"\n[fbr]\nmode = "on"\n', "fbr.mode", "one of off"),
    ('[database]\nurl = "sqlite:///x.db"\n[printer]\nwidth = 40\n', "printer.width", "32 (58 mm) or 48"),
    ('[database]\nurl = "sqlite:///x.db"\n[tax]\ndefault_rate = 18.5\n', "tax.default_rate", "written as text"),
    ('[database]\nurl = "sqlite:///x.db"\n[tax]\nprices_include_tax = "yes"\n', "tax.prices_include_tax", "true or false"),
    ('[database]\nurl = "sqlite:///x.db"\n[shopify]\nenabled = true\n', "shopify.shop", "shop domain"),
    ('[database]\nurl = "sqlite:///x.db"\n[fbr]\nposid = "12-34"\n', "fbr.posid", "POSID"),
    ('[database]\nurl = "sqlite:///x.db"\n[sales]\nx = 1\n', "sales", "one of"),
    ('[site]\nname = "x"\n', "database.url", "a database URL"),
    ('[database]\nurl = "sqlite:///x.db"\n[shopify.locations]\nLHR1 = 5\n', "shopify.locations.LHR1", "text"),
    ('[database\nurl = 1', "(file)", "valid TOML"),
])
def test_mistakes_name_file_key_expected_and_found(tmp_path, text, key, expected):
    p = write(tmp_path, text)
    with pytest.raises(config.ConfigError) as err:
        config.load(str(p))
    assert err.value.key == key
    assert expected in err.value.expected
    assert str(p) in str(err.value)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(config.ConfigError, match="no such file"):
        config.load(str(tmp_path / "nope.toml"))
    p = tmp_path / "bin.toml"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(config.ConfigError, match="UTF-8"):
        config.load(str(p))


def test_broken_config_exits_2_with_one_line_and_no_traceback(tmp_path):
    p = write(tmp_path, '[database]\nurl = "sqlite:///x.db"\n[printer]\nkind = "laser"\n')
    out = subprocess.run([sys.executable, "-m", "pos_core.admin", "--config", str(p), "check-stock"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "printer.kind" in lines[0] and str(p) in lines[0]
    assert "Traceback" not in out.stderr
    incomplete = write(tmp_path, '[counter]\nbranch = "LHR1"\n', "incomplete.toml")
    out = subprocess.run([sys.executable, "-m", "pos_core.admin", "--config", str(incomplete), "migrate"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "database.url" in out.stderr and "Traceback" not in out.stderr
    bad_url = write(tmp_path, '[database]\nurl = "mysql://x/y"\n', "mysql.toml")
    out = subprocess.run([sys.executable, "-m", "pos_core.admin", "--config", str(bad_url), "migrate"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "unsupported database URL" in out.stderr


def test_secret_files_are_private_and_never_repr(tmp_path):
    secret = tmp_path / "shopify.token"
    config.write_private(secret, "shpat_secret\n")
    assert secret.stat().st_mode & 0o777 == 0o600
    assert config.read_secret("", str(secret), "cfg", "shopify.token_file") == "shpat_secret"
    os.chmod(secret, 0o644)
    with pytest.raises(config.ConfigError, match="0600") as err:
        config.read_secret("", str(secret), "cfg", "shopify.token_file")
    assert "shpat_secret" not in str(err.value)
    cfg = config.parse({"database": {"url": "sqlite:///x.db"}, "shopify": {"token": "shpat_secret"},
                        "fbr": {"token": "fbr_secret"}}, "cfg.toml")
    assert "shpat_secret" not in repr(cfg) and "fbr_secret" not in repr(cfg)
