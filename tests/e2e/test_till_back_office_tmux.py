"""End to end: the till's manager opens the back office from the till (F11) in the same
terminal, reads a report, quits it, and the till comes back where it was (tmux, TERM=linux, 80x24)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pos_core import db as dbmod, demo, migrations

from .test_till_tmux import Pane, tmux

ROOT = Path(__file__).resolve().parents[2]
TILL = Path(sys.executable).parent / "pos-till"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def test_ctrl_b_opens_the_back_office_and_comes_back_to_the_till(tmp_path):
    db_path = tmp_path / "pos.db"
    dbmod.open_database(f"sqlite:///{db_path}")
    migrations.init()
    demo.build()
    dbmod.close()
    cfg = tmp_path / "pos.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{db_path}"\n[site]\nname = "Gulberg Fashion House"\n'
                   f'[counter]\nbranch = "LHR1"\ncode = "C1"\n')
    session = f"office-{uuid.uuid4().hex[:8]}"
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24",
         f"cd {tmp_path} && env TERM=linux LANG=C.UTF-8 {TILL} --config {cfg}; sleep 30")
    pane = Pane(session)
    try:
        pane.wait_for("Enter your PIN")
        pane.type("1111")
        pane.key("Enter")
        pane.wait_for("Open a shift")
        pane.type("5000")
        pane.key("Enter")
        pane.wait_for("Barcode/SKU")
        pane.key("F11")
        pane.wait_for("Back office - sign in")
        pane.type("3333")
        pane.key("Enter")
        shown = pane.wait_for("Imran Qureshi (manager)")
        assert "Summary" in shown
        pane.key("C-q")
        shown = pane.wait_for("Back to the till")
        assert "Barcode/SKU" in shown
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
