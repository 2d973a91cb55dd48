"""End to end: the real `pos-till` in tmux with TERM=linux at 80x24, driven as a cashier would.

A person types slowly (one key every ~80 ms); the barcode scanner sends a whole code and Enter at
once, which is exactly what `tmux send-keys "<code>" Enter` does.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pos_core import db as dbmod, demo, migrations
from pos_core.models import Barcode, PosOrder, Shift, Variant

ROOT = Path(__file__).resolve().parents[2]
TILL = Path(sys.executable).parent / "pos-till"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


class Pane:
    def __init__(self, session: str):
        self.session = session

    def screen(self) -> str:
        return tmux("capture-pane", "-p", "-t", self.session)

    def wait_for(self, text: str, timeout: float = 20) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{self.screen()}")

    def type(self, text: str) -> None:
        for ch in text:
            tmux("send-keys", "-t", self.session, "-l", ch)
            time.sleep(0.08)

    def key(self, *keys: str) -> None:
        for k in keys:
            tmux("send-keys", "-t", self.session, k)
            time.sleep(0.08)

    def scan(self, code: str) -> None:
        tmux("send-keys", "-t", self.session, "-l", code)
        tmux("send-keys", "-t", self.session, "Enter")


@pytest.fixture
def site(tmp_path):
    db_path = tmp_path / "pos.db"
    dbmod.open_database(f"sqlite:///{db_path}")
    migrations.init()
    demo.build()
    codes = [Barcode.select().join(Variant).where(Variant.sku == sku).first().code
             for sku in ("L3SU-BLA-OS", "ELK-MAR-L")]
    cfg = tmp_path / "pos.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{db_path}"\n[site]\nname = "Gulberg Fashion House"\n'
                   f'[counter]\nbranch = "LHR1"\ncode = "C1"\n'
                   f'[printer]\nkind = "file"\npath = "{tmp_path / "printer.bin"}"\n')
    yield cfg, codes
    dbmod.close()


def test_sign_in_open_shift_and_sell_two_items_for_cash(site, tmp_path):
    cfg, codes = site
    session = f"till-{uuid.uuid4().hex[:8]}"
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24",
         f"cd {ROOT} && env TERM=linux LANG=C.UTF-8 {TILL} --config {cfg}; sleep 30")
    pane = Pane(session)
    try:
        pane.wait_for("Enter your PIN")
        pane.type("1111")
        pane.key("Enter")
        pane.wait_for("Open a shift")
        pane.type("5000")
        pane.key("Enter")
        pane.wait_for("Barcode/SKU")
        pane.scan(codes[0])
        pane.wait_for("Lawn 3pc Suit")
        pane.scan(codes[1])
        pane.wait_for("2 lines, 2 items")
        shown = pane.screen()
        assert "8,440.00" in shown and "Ayesha Khan (cashier)" in shown
        pane.key("F10")
        pane.wait_for("TOTAL DUE Rs 8,440.00")
        pane.type("10000")
        pane.key("Enter")
        shown = pane.wait_for("CHANGE")
        assert "saved" in shown and "Change Rs 1,560.00" in shown
        pane.wait_for("printed")
        order = PosOrder.get(PosOrder.kind == "sale")
        assert order.total_paisa == 844000 and order.change_paisa == 156000
        assert sorted(l.sku for l in order.lines) == ["ELK-MAR-L", "L3SU-BLA-OS"]
        assert [(p.method, p.tendered_paisa) for p in order.payments] == [("cash", 1000000)]
        assert Shift.get().opening_float_paisa == 500000
        assert order.number.encode() in (tmp_path / "printer.bin").read_bytes()
        pane.key("C-q")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
