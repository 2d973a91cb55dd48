"""The till's error log: a size-capped file a technician reads over SSH ($POS_TILL_LOG, else
~/.local/state/pos/till.log), with timestamps, never a token, never stderr."""
from __future__ import annotations

import logging
import re

import pytest

from pos_tui import app as appmod
from pos_tui.app import configure_log, make_app, till_log_path

from test_till_kit import make_config, open_shift, settle, start_selling, till_db, type_text  # noqa: F401

TOKEN = "fbr-secret-token-9f8e7d6c"


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    level, last, raising = root.level, logging.lastResort, logging.raiseExceptions
    yield
    for h in list(root.handlers):
        if getattr(h, "_pos_till", False):
            root.removeHandler(h)
            h.close()
    root.setLevel(level)
    logging.lastResort, logging.raiseExceptions = last, raising


def test_the_log_path_comes_from_the_launcher_or_the_users_state_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("POS_TILL_LOG", str(tmp_path / "till-ayesha.log"))
    assert till_log_path() == tmp_path / "till-ayesha.log"
    monkeypatch.delenv("POS_TILL_LOG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert till_log_path() == tmp_path / ".local" / "state" / "pos" / "till.log"


async def test_a_print_failure_is_logged_with_a_time_and_without_the_token(tmp_path, till_db, restore_logging,
                                                                          capfd):
    cfg = make_config(tmp_path, till_db, fbr={"mode": "production", "posid": "123456", "token": TOKEN,
                                              "wait_seconds": 0},
                      printer={"path": str(tmp_path / "no-such-dir" / "printer.bin")})
    path = configure_log(cfg, tmp_path / "logs" / "till.log")
    open_shift()
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await type_text(pilot, "L3SU-BLA-OS", enter=True)
        await pilot.press("f10")
        await pilot.pause()
        await type_text(pilot, "", enter=True)
        await settle(pilot, app)
        assert app.unprinted == app.last_uid
        logging.getLogger("pos_tui").error("a message that quotes the token %s by mistake", TOKEN)
    text = path.read_text()
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ WARNING pos_tui: Receipt LHR1-C1-\d+ did not print",
                     text, re.M)
    assert "by mistake" in text and TOKEN not in text and "***" in text
    assert "did not print" not in capfd.readouterr().err


def test_worker_errors_go_to_the_log_and_it_is_capped(tmp_path, restore_logging, monkeypatch):
    monkeypatch.setattr(appmod, "LOG_MAX_BYTES", 2000)
    path = configure_log(None, tmp_path / "till.log")
    log = logging.getLogger("pos_tui")
    try:
        raise RuntimeError("database is locked")
    except RuntimeError:
        log.exception("sale not saved")
    first = path.read_text()
    assert "ERROR pos_tui: sale not saved" in first and "RuntimeError: database is locked" in first
    for i in range(100):
        log.warning("line %d of padding to make the file roll over", i)
    assert (tmp_path / "till.log.1").exists() and not (tmp_path / "till.log.4").exists()
    assert path.stat().st_size <= 2000
