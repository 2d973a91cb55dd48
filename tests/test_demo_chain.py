"""`./scripts/demo --chain` as a newcomer (or CI) runs it without a terminal: a real process that
starts its own PostgreSQL head office, two branch boxes, three agents and the Shopify and FBR
simulators on 127.0.0.1. Issue 14's "done when": the demo shows a transfer between the two branch
boxes and an online order claimed by one of them. Its output is checked, and the branch boxes'
SQLite files it leaves behind are read independently of what it printed."""
from __future__ import annotations

import glob
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
HAVE_PG = bool(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
pytestmark = pytest.mark.skipif(not HAVE_PG, reason="needs PostgreSQL's server binaries (scripts/pg-throwaway)")


def _venv_is_this_checkout() -> None:
    """The demo makes .venv when it is missing or broken (a pip install over the network): the test
    must find it already there, an install of this very checkout, so nothing is installed."""
    if not VENV_PYTHON.exists():
        pytest.skip("no .venv in the checkout (./scripts/test makes it)")
    # the same imports the demo checks before deciding to (re)install
    where = subprocess.run([str(VENV_PYTHON), "-c", "import pos_core, textual, httpx; print(pos_core.__file__)"],
                           capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, f".venv cannot import the product, the demo would reinstall it: {where.stderr}"
    assert Path(where.stdout.strip()).resolve().is_relative_to(REPO), \
        f".venv runs another checkout's code ({where.stdout.strip()}), not {REPO}"


def test_the_chain_demo_shows_a_transfer_and_an_online_order_claimed_by_one_branch():
    _venv_is_this_checkout()
    # under /tmp, not pytest's 0700 tree: run as root, the PostgreSQL server runs as `postgres`
    demo = Path(tempfile.mkdtemp(prefix="pos-demo-chain-", dir="/tmp"))
    env = dict(os.environ, POS_DEMO_DIR=str(demo), POS_DEMO_SECONDS="1")
    started = time.monotonic()
    proc = subprocess.Popen([str(REPO / "scripts" / "demo"), "--chain"], cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=240)
        took = time.monotonic() - started
        assert proc.returncode == 0, out
        assert "Traceback" not in out and "pip" not in out, out
        lines = out.splitlines()

        def line(start: str) -> str:
            found = [l for l in lines if l.startswith(start)]
            assert found, f"no line starting {start!r} in:\n{out}"
            return found[0]

        # the transfer between the two boxes: received one short at Karachi, the outcome seen at Lahore
        assert line("Karachi received TR-LHR1-000001") == "Karachi received TR-LHR1-000001: DISCREPANCY"
        assert line("Lahore sees TR-LHR1-000001") == "Lahore sees TR-LHR1-000001: DISCREPANCY (1/2, 2/2, 2/2)"
        # a branch sale's stock change reached Shopify through the head office, once
        assert line("Lahore's sale LHR1-C1-000001").endswith(
            "SYNCED through the head office (via_hq=True); the Shopify simulator applied it 1 time(s): -1 at LHR-01")
        # the online order at both branches, claimed by Lahore; Karachi refused, naming LHR1
        assert line("LHR1 sees online order #1001") == "LHR1 sees online order #1001 (2 lines) as a Smart Order"
        assert line("KHI1 sees online order #1001") == "KHI1 sees online order #1001 (2 lines) as a Smart Order"
        assert line("LHR1 claims #1001") == "LHR1 claims #1001: LHR1 holds order #1001 (2 line(s)): pack it here"
        assert line("KHI1 claims #1001") == "KHI1 claims #1001: refused: order #1001 is held by LHR1: not claimed here"
        # packed and dispatched at Lahore: one fulfillment in the simulator, sent by the head office
        assert line("Lahore packed #1001") == "Lahore packed #1001: 3 unit(s) taken from LHR1's stock"
        assert line("Shopify has") == "Shopify has 1 fulfillment(s) for #1001: tracking DEMO-TCS-1 from LHR-01"
        for code in ("LHR1", "KHI1"):
            assert line(f"{code}: Shopify's count") == f"{code}: Shopify's count equals the ledger for 300 of 300 items"
        assert [l for l in lines if l.endswith("stock levels match the ledger")] == [
            "hq: stock levels match the ledger", "lhr1: stock levels match the ledger",
            "khi1: stock levels match the ledger"]

        # what the branch boxes kept, read from their files: the claim Lahore holds and the holder
        # Karachi was told of, Lahore's shipment with the fulfillment id the head office brought back
        with sqlite3.connect(demo / "lhr1" / "pos.db") as c:
            assert {b for (b,) in c.execute("SELECT branch_code FROM order_claim")} == {"LHR1"}
            shipped = c.execute("SELECT status, shopify_fulfillment_id FROM fulfillment").fetchall()
            assert len(shipped) == 1 and shipped[0][0] == "DISPATCHED" and shipped[0][1], shipped
            assert c.execute("SELECT count(*) FROM outbox_job WHERE channel = 'shopify' AND NOT via_hq").fetchone() == (0,)
        with sqlite3.connect(demo / "khi1" / "pos.db") as c:
            assert {b for (b,) in c.execute("SELECT branch_code FROM order_claim")} == {"LHR1"}
            assert c.execute("SELECT count(*) FROM fulfillment").fetchone() == (0,)
        print(f"chain demo took {took:.1f} s")
    finally:
        if proc.poll() is None:        # timed out or the test failed mid-run: the demo's own trap first
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)   # anything of the demo's still running (its agents)
        except ProcessLookupError:
            pass
        proc.wait()
        subprocess.run([str(REPO / "scripts" / "pg-throwaway"), "stop", str(demo / "pg")],
                       capture_output=True, timeout=60)
        shutil.rmtree(demo, ignore_errors=True)
