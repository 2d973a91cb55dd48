"""The till's cold start stays lean (issue 16: <= 1.5x a minimal Textual app, benchmarks/till.py).

Timing assertions would be flaky on a shared machine, so these guard what the gain was made of:
what a till process has imported once its sign-in screen is painted, started through the real
`pos-till` entry point in its own process. And the deferred psycopg2 still works the moment a
PostgreSQL URL is used.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from test_till_kit import till_db  # noqa: F401

# Loaded only when something needs them: PostgreSQL, printing, scanning through evdev, labels.
NEVER_AT_START = {"psycopg2", "PIL", "escpos", "fpdf", "barcode", "qrcode", "evdev", "playhouse.db_url"}


def _loaded(code: str, env: dict | None = None) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ, **(env or {})))
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def _heavy(mods: set[str]) -> set[str]:
    return {m for m in mods if m in NEVER_AT_START or m.split(".")[0] in NEVER_AT_START}


def test_importing_the_till_loads_no_database_driver_printer_or_screen_code():
    mods = _loaded("import pos_tui.app")
    assert "pos_tui.app" in mods and "peewee" in mods
    assert _heavy(mods) == set()
    # screens load on first open (app.open), the sale services on the first sale
    assert {m for m in mods if m.startswith("pos_tui.screens.")} == set()
    assert {"pos_core.sales", "pos_core.pricing", "pos_core.promotions", "pos_core.catalog"} & mods == set()


def test_the_till_up_to_its_painted_sign_in_screen_loads_only_what_sign_in_needs(till_db, tmp_path):
    cfg = tmp_path / "pos.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{till_db}"\n[counter]\nbranch = "LHR1"\ncode = "C1"\n'
                   f'[printer]\nkind = "file"\npath = "{tmp_path / "printer.bin"}"\n')
    # pos-till's own main(), headless; POS_PROFILE_STARTUP quits once sign-in is painted.
    code = ("from textual.app import App\n"
            "run = App.run\n"
            "App.run = lambda self, **kw: run(self, headless=True, size=(80, 24))\n"
            "from pos_tui.__main__ import main\n"
            f"assert main(['--config', {str(cfg)!r}]) == 0\n")
    mods = _loaded(code, {"POS_PROFILE_STARTUP": "1", "TEXTUAL_ANIMATIONS": "none",
                          "POS_TILL_LOG": str(tmp_path / "till.log")})
    assert "pos_tui.screens.signin" in mods  # it did get as far as sign-in
    assert _heavy(mods) == set()
    assert {m for m in mods if m.startswith("pos_tui.screens.")} == {"pos_tui.screens.signin"}
    assert {"pos_core.sales", "pos_core.staff", "pos_core.shifts", "pos_core.promotions"} & mods == set()


def test_sqlite_urls_open_as_before(tmp_path):
    from peewee import SqliteDatabase
    from playhouse.db_url import connect
    from pos_core import db as dbmod
    for url in (f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}?timeout=3"):
        ours = dbmod.open_database(url)
        theirs = connect(url, pragmas=dbmod.SQLITE_PRAGMAS, timeout=dbmod.BUSY_TIMEOUT_S, lock_type="IMMEDIATE")
        assert type(ours) is type(theirs) is SqliteDatabase
        assert (ours.database, ours._pragmas, ours._timeout, ours._lock_type, ours.connect_params) == \
            (theirs.database, theirs._pragmas, theirs._timeout, theirs._lock_type, theirs.connect_params)
        assert ours.execute_sql("PRAGMA journal_mode").fetchone() == ("wal",)
        dbmod.close()
    with pytest.raises(dbmod.DatabaseUrlError):
        dbmod.open_database("mysql://x/y")


@pytest.mark.skipif(not os.environ.get("POS_TEST_PG_URL"), reason="needs POS_TEST_PG_URL")
def test_postgresql_works_when_psycopg2_was_left_out_of_peewees_import():
    code = f"""
import sys, uuid
from pos_core import db, models
assert "psycopg2" not in sys.modules
import peewee
assert peewee.psycopg2 is None
# any PostgreSQL database, not only the one open_database makes (the agent's head-office link)
other = peewee.PostgresqlDatabase(None)
assert peewee.psycopg2 is not None and type(other._adapter).__name__ == "Psycopg2Adapter"
d = db.open_database({os.environ["POS_TEST_PG_URL"]!r})
assert db.is_postgres()
u = uuid.uuid4()
assert d.execute_sql("SELECT %s::uuid", (u,)).fetchone() == (u,)   # peewee's uuid adapter is registered
try:
    with db.write():
        d.execute_sql("SELECT 1/0")
except peewee.DataError:
    pass
assert d.is_connection_usable() and d.execute_sql("SELECT 2").fetchone() == (2,)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


async def test_the_till_starts_in_ansi_dark_without_parsing_its_css_twice(tmp_path, till_db, monkeypatch):  # noqa: F811
    from textual.css.stylesheet import Stylesheet
    from pos_tui.app import make_app
    from test_till_kit import make_config
    reparsed = []
    reparse = Stylesheet.reparse
    monkeypatch.setattr(Stylesheet, "reparse", lambda self: reparsed.append(1) or reparse(self))
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert type(app.screen).__name__ == "SignInScreen"
        assert app.theme == "ansi-dark" and "-theme-ansi-dark" in app.classes and "-dark-mode" in app.classes
        # the terminal's own 16 colours, as the theme switch in on_mount used to give
        assert app.get_css_variables()["background"] == "ansi_default"
        assert app.stylesheet._variables["primary"] == "ansi_blue"
        assert reparsed == []
