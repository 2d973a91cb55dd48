"""End to end: `pos-office --serve` (textual-serve) opened in a real headless Chromium (Debian's
package), driven over the DevTools protocol: the page loads, the manager types a PIN into the
browser's terminal, today's sales figure is read from what the page received, and an export
chosen on the page (F10, CSV) arrives as a real browser download (textual-serve's
deliver_binary), which is parsed.

Only 127.0.0.1 is contacted: the browser's host resolver maps every other name to nothing (the
served page asks for a web font from Google, which must not be fetched).

The terminal in the page draws on a canvas, so the text is read from the page's own WebSocket
stream (a small hook installed before the page's scripts run), not from the DOM.
"""
from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from pos_core import db as dbmod, migrations

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OFFICE = Path(sys.executable).parent / "pos-office"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("POS_REQUIRE_CHROMIUM"),
                                reason="chromium is not installed (scripts/install-chromium)")

# Copies every byte the page receives on its WebSocket into window.__out, as text.
HOOK = """
(() => {
  const Native = window.WebSocket;
  window.__out = "";
  const dec = new TextDecoder();
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener("message", (e) => {
      window.__out += typeof e.data === "string" ? e.data : dec.decode(e.data, {stream: true});
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, Native);
})();
"""
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[=>]|\x1b\][^\x07]*\x07")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"process exited early: {proc.stdout.read() if proc.stdout else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


class Cdp:
    def __init__(self, ws):
        self.ws, self.n = ws, 0

    async def call(self, method: str, **params):
        self.n += 1
        await self.ws.send_str(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads((await self.ws.receive()).data)
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def screen(self) -> str:
        got = await self.call("Runtime.evaluate", expression="window.__out || ''", returnByValue=True)
        return ANSI.sub("", got["result"].get("value", ""))

    async def wait_for(self, text: str, timeout: float = 30) -> str:
        end = time.monotonic() + timeout
        shown = ""
        while time.monotonic() < end:
            shown = await self.screen()
            if text in shown:
                return shown
            await asyncio.sleep(0.2)
        raise AssertionError(f"{text!r} never reached the page; it got (last 2000 chars):\n{shown[-2000:]}")

    async def key(self, key: str, code: str, vk: int, text: str = "") -> None:
        base = {"key": key, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}
        await self.call("Input.dispatchKeyEvent", type="keyDown", text=text, **base)
        await self.call("Input.dispatchKeyEvent", type="keyUp", **base)

    async def type(self, text: str) -> None:
        for ch in text:
            await self.key(ch, f"Digit{ch}" if ch.isdigit() else f"Key{ch.upper()}", ord(ch.upper()), ch)
            await asyncio.sleep(0.05)


@pytest.fixture
def served(tmp_path):
    """A site with one sale today, and pos-office serving it on a free port."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from conftest import make_site
    from helpers import cash_sale
    db_path = tmp_path / "pos.db"
    dbmod.open_database(f"sqlite:///{db_path}")
    migrations.init()
    site = make_site()
    cash_sale(site, [(site.kurta, 2), (site.book, 1)])   # 2 x 99.99 + 500.00 = 699.98
    dbmod.close()
    cfg = tmp_path / "pos.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{db_path}"\n[site]\nname = "Gulberg Fashion House"\n')
    port = free_port()
    proc = subprocess.Popen([str(OFFICE), "--config", str(cfg), "--serve", f"127.0.0.1:{port}",
                             "--exports", str(tmp_path / "exports")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
                            start_new_session=True)
    try:
        wait_port(port, proc)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_the_back_office_in_headless_chromium(served, tmp_path):
    import aiohttp
    downloads = tmp_path / "downloads"
    downloads.mkdir()

    debug_port = free_port()
    browser = subprocess.Popen(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}",
         f"--remote-debugging-port={debug_port}", "--remote-allow-origins=*", "--window-size=1280,800",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    async def drive():
        async with aiohttp.ClientSession() as http:
            end = time.monotonic() + 30
            while True:
                try:
                    targets = await (await http.get(f"http://127.0.0.1:{debug_port}/json")).json()
                    page = next(t for t in targets if t["type"] == "page")
                    break
                except (aiohttp.ClientError, StopIteration):
                    if time.monotonic() > end:
                        raise
                    await asyncio.sleep(0.2)
            async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                cdp = Cdp(ws)
                await cdp.call("Page.enable")
                await cdp.call("Page.addScriptToEvaluateOnNewDocument", source=HOOK)
                await cdp.call("Page.navigate", url=f"http://127.0.0.1:{served}/")
                await cdp.wait_for("Back office - sign in")
                term = await cdp.call("Runtime.evaluate", returnByValue=True,
                                      expression="!!document.querySelector('.textual-terminal .xterm')")
                assert term["result"]["value"] is True     # the page really runs a terminal
                await cdp.call("Runtime.evaluate", expression="document.querySelector('.xterm-helper-textarea').focus()")
                await cdp.type("1111")                       # a cashier: refused
                await cdp.key("Enter", "Enter", 13, "\r")
                await cdp.wait_for("reports need a manager")
                await cdp.type("3333")                       # the manager
                await cdp.key("Enter", "Enter", 13, "\r")
                shown = await cdp.wait_for("Imran (manager)")
                shown = await cdp.wait_for("699.98")         # today's net sales, read from the page
                assert "Net" in shown
                # The export, chosen with keys on the page, comes down as a browser download.
                await cdp.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads),
                               eventsEnabled=True)
                await cdp.key("F10", "F10", 121)
                await cdp.wait_for("Export this report as")
                await cdp.key("Enter", "Enter", 13, "\r")     # the first choice: CSV
                await cdp.wait_for("deliver_file_start")
                end = time.monotonic() + 30
                while not [p for p in downloads.glob("*.csv")] and time.monotonic() < end:
                    await asyncio.sleep(0.2)
    try:
        asyncio.run(drive())
    finally:
        browser.terminate()
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            browser.kill()
    got = list(downloads.glob("*.csv"))
    assert len(got) == 1 and got[0].name.startswith("sales-summary_"), list(downloads.iterdir())
    rows = {r[0]: r for r in csv.reader(open(got[0], newline="", encoding="utf-8"))}
    assert rows["Measure"][0] == "Measure" and rows["Net"][1] == "699.98" and rows["Units"][1] == "3"
    # the same file the office saved on the server
    assert got[0].read_bytes() == (tmp_path / "exports" / got[0].name).read_bytes()
