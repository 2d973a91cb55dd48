"""`pos-admin doctor` against both simulators: everything passes, then each check fails once and
the failing line names the problem and a fix, and the exit status is non-zero."""
from __future__ import annotations

import datetime as dt
import email.utils
import io
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pos_core import db, heartbeat, migrations
from pos_core.models import StockLevel, utcnow
from simulators.fbr import server as fbr_server
from simulators.shopify import server as shop_server
from sync_agent import doctor

REPO = Path(__file__).resolve().parent.parent
FBR_TOKEN = "fbr-test-token"


@pytest.fixture(scope="module")
def sims(tmp_path_factory):
    # Shopify's server time is its Date header; the simulator's follows its own (advanceable) clock.
    orig = shop_server._Handler.date_time_string

    def sim_date(self, timestamp=None):
        return email.utils.format_datetime(self.server.sim.state.clock.now(), usegmt=True)

    shop_server._Handler.date_time_string = sim_date
    shop = shop_server.start(port=0, data_dir=tmp_path_factory.mktemp("shop"), token="shpat_doctor")
    fbr = fbr_server.start(port=0, token=FBR_TOKEN)
    yield shop, fbr
    shop.stop()
    fbr.stop()
    shop_server._Handler.date_time_string = orig


@pytest.fixture
def site(tmp_path, sims):
    from conftest import make_site
    shop, fbr = sims
    url = f"sqlite:///{tmp_path / 'pos.db'}"
    db.open_database(url)
    migrations.init()
    from pos_core.models import Branch
    make_site()
    for code, n in (("LHR1", 1001), ("KHI1", 1002)):
        Branch.update(shopify_location_id=f"gid://shopify/Location/{n}").where(Branch.code == code).execute()
    heartbeat.beat("shopify")
    heartbeat.beat(heartbeat.AGENT_LOOP)
    db.close()
    printer = tmp_path / "lp0"
    printer.write_bytes(b"")
    (tmp_path / "shopify.token").write_text("shpat_doctor\n")
    (tmp_path / "fbr.token").write_text(FBR_TOKEN + "\n")
    os.chmod(tmp_path / "shopify.token", 0o600)
    os.chmod(tmp_path / "fbr.token", 0o600)
    values = {
        "url": url, "shop_endpoint": shop.url, "shop_token": str(tmp_path / "shopify.token"),
        "fbr_endpoint": f"{fbr.url}/FBR/v1/api/Live/PostData", "fbr_token": str(tmp_path / "fbr.token"),
        "posid": "123456", "printer": str(printer), "scanner": "/dev/null",
        "loc": "gid://shopify/Location/1001", "version": "2026-10",
    }

    class Site:
        path = tmp_path / "pos.toml"

        def write(self, **changes):
            v = dict(values, **changes)
            self.path.write_text(f"""
[database]
url = "{v['url']}"
[counter]
branch = "LHR1"
code = "C1"
[printer]
kind = "file"
path = "{v['printer']}"
[scanner]
device = "{v['scanner']}"
[shopify]
enabled = true
shop = "doctor.myshopify.com"
api_version = "{v['version']}"
endpoint = "{v['shop_endpoint']}"
token_file = "{v['shop_token']}"
[shopify.locations]
LHR1 = "{v['loc']}"
[fbr]
mode = "sandbox"
endpoint = "{v['fbr_endpoint']}"
token_file = "{v['fbr_token']}"
posid = "{v['posid']}"
""")
            os.chmod(self.path, 0o640)
            return self

        def doctor(self, print_slip=False):
            out = io.StringIO()
            code = doctor.Doctor(str(self.path), print_slip, out, timeout_s=2).run()
            db.close()
            return code, out.getvalue()

    s = Site().write()
    s.tmp = tmp_path
    s.shop, s.fbr = shop, fbr
    return s


def line(output: str, name: str) -> str:
    """The check's line and its fix line."""
    lines = output.splitlines()
    for i, l in enumerate(lines):
        if l[6:].startswith(name):
            return l + ("\n" + lines[i + 1] if i + 1 < len(lines) and lines[i + 1].strip().startswith("fix:") else "")
    raise AssertionError(f"no {name!r} line in:\n{output}")


def assert_fails(site, name, *words):
    code, out = site.doctor()
    assert code == 1, out
    got = line(out, name)
    assert got.startswith("FAIL"), out
    assert "fix:" in got, got
    for w in words:
        assert w in got, f"{w!r} not in {got!r}"
    assert sum(1 for l in out.splitlines() if l.startswith("FAIL")) == 1, out
    return got


def test_everything_passes(site):
    code, out = site.doctor()
    assert code == 0, out
    for name in ("config", "database", "schema", "check-stock", "disk", "agent", "shopify token", "api version",
                 "shopify scopes", "locations", "clock", "fbr token", "fbr posid", "printer", "scanner"):
        assert line(out, name).startswith("OK"), line(out, name)
    assert "LHR1 -> Lahore - Liberty Market" in out and "everything checked is fine" in out


def test_config_invalid(site):
    site.path.write_text('[database]\nurl = "sqlite:////x.db"\n[printer]\nwidth = 40\n')
    assert_fails(site, "config", "printer.width", "edit")


def test_wrong_shopify_token(site):
    (site.tmp / "shopify.token").write_text("shpat_wrong")
    assert_fails(site, "shopify token", "refused the access token", "token")


def test_api_version_no_longer_served(site):
    httpx.post(f"{site.shop.url}/_sim/config", json={"served_version": "2026-07"})
    try:
        assert_fails(site, "api version", "asked for 2026-10, Shopify served 2026-07", "newer release")
    finally:
        httpx.post(f"{site.shop.url}/_sim/config", json={"served_version": None})


def test_unmapped_branch_location(site):
    site.write(loc="gid://shopify/Location/999")
    assert_fails(site, "locations", "LHR1", "Location/999", "Lahore - Liberty Market = gid://shopify/Location/1001")


def test_fbr_wrong_token(site):
    (site.tmp / "fbr.token").write_text("not-the-token")
    assert_fails(site, "fbr token", "refused the token", "fbr.token")


def test_fbr_unreachable(site):
    site.write(fbr_endpoint="http://127.0.0.1:9/FBR/v1/api/Live/PostData")
    assert_fails(site, "fbr link", "not reachable", "internet link")


def test_fbr_posid_refused(site):
    site.write(posid="12")
    assert_fails(site, "fbr posid", "POSID 12", "IRIS")
    requests = httpx.get(f"{site.fbr.url}/_sim/invoices").json()
    assert requests["count"] == 0          # the probes never created an invoice


def test_stale_heartbeat(site):
    db.open_database(site.path.read_text().split('url = "')[1].split('"')[0])
    heartbeat.beat(heartbeat.AGENT_LOOP, now=utcnow() - dt.timedelta(minutes=10))
    db.close()
    assert_fails(site, "agent", "10 min ago", "systemctl restart pos-agent")


def test_a_catalog_import_heartbeat_does_not_say_the_agent_runs(site):
    """Only the agent's loop says it is running; an import or `once` writes other channels."""
    db.open_database(site.path.read_text().split('url = "')[1].split('"')[0])
    from pos_core.models import AgentHeartbeat
    AgentHeartbeat.delete().execute()
    heartbeat.beat("shopify_catalog", contact=True)   # what `pos-agent import-catalog` writes
    db.close()
    assert_fails(site, "agent", "never run", "shopify_catalog", "systemctl enable --now pos-agent")


def test_planted_stock_mismatch(site):
    db.open_database(site.path.read_text().split('url = "')[1].split('"')[0])
    StockLevel.update(on_hand=StockLevel.on_hand + 3).where(StockLevel.id == StockLevel.select().first().id).execute()
    db.close()
    assert_fails(site, "check-stock", "1 stock level(s) disagree", "pos-admin restore")


def test_printer_missing(site):
    site.write(printer=str(site.tmp / "no-printer"))
    assert_fails(site, "printer", "does not exist", "udev")


def test_scanner_missing(site):
    site.write(scanner="/dev/input/pos-scanner-not-here")
    assert_fails(site, "scanner", "does not exist", "keyboard wedge", "udev")


def test_clock_skew(site):
    httpx.post(f"{site.shop.url}/_sim/clock", json={"advance_seconds": 600})
    try:
        assert_fails(site, "clock", "behind Shopify", "timedatectl set-ntp true")
    finally:
        httpx.post(f"{site.shop.url}/_sim/clock", json={"advance_seconds": -600})


def test_print_writes_a_test_slip(site):
    code, out = site.doctor(print_slip=True)
    assert code == 0, out
    assert "test slip printed" in line(out, "printer")
    data = (site.tmp / "lp0").read_bytes()
    assert b"PRINTER TEST" in data and b"\x1dV" in data       # title and a cut


def test_pos_admin_doctor_passes_the_exit_status_through(site):
    exe = Path(sys.executable).with_name("pos-admin")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "pos_core.admin"]
    ok = subprocess.run(cmd + ["--config", str(site.path), "doctor"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    site.write(scanner="/nonexistent")
    bad = subprocess.run(cmd + ["--config", str(site.path), "doctor"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "FAIL  scanner" in bad.stdout


def test_a_chain_branch_sending_shopify_through_the_head_office_needs_no_token(site):
    """Issue 14: the branch's agent never talks to Shopify, so no token file is asked for."""
    text = site.path.read_text().replace(f'token_file = "{site.tmp / "shopify.token"}"\n', "")
    text += '[hq]\nrole = "branch"\nurl = "postgresql://pos_hq_br_lhr1@127.0.0.1:1/pos_hq"\ntimeout_seconds = 2\n'
    site.path.write_text(text)
    code, out = site.doctor()
    assert line(out, "config").startswith("OK"), out
    assert line(out, "shopify").startswith("SKIP") and "head office" in line(out, "shopify"), out
    assert "shopify token" not in out


def test_urdu_fonts_missing_is_a_warning_with_the_fix(site, monkeypatch, tmp_path):
    """The font lookup pointed at an empty directory (POS_FONT_DIRS replaces Debian's font
    directories): the doctor warns with the packages to install, and still passes."""
    code, out = site.doctor()
    assert line(out, "urdu fonts").startswith("OK"), line(out, "urdu fonts")
    empty = tmp_path / "no-fonts"
    empty.mkdir()
    monkeypatch.setenv("POS_FONT_DIRS", str(empty))
    code, out = site.doctor()
    got = line(out, "urdu fonts")
    assert code == 0 and got.startswith("WARN"), out
    assert "Noto Naskh Arabic" in got and "Noto Nastaliq Urdu" in got and "Noto Sans" in got
    assert "fix: apt-get install fonts-noto-core fonts-noto-extra" in got, got
    # only the Nastaliq file missing: only its package is named
    have = empty.parent / "some-fonts"
    have.mkdir()
    from printers import pdf_fonts, urdu
    for names, dirs in ((pdf_fonts.STYLES[""], pdf_fonts.LATIN_DIRS), (pdf_fonts.URDU_STYLES[""], urdu.FONT_DIRS)):
        monkeypatch.delenv("POS_FONT_DIRS", raising=False)
        found = urdu._find(names, dirs)
        (have / found.name).symlink_to(found)
    monkeypatch.setenv("POS_FONT_DIRS", str(have))
    got = line(site.doctor()[1], "urdu fonts")
    assert got.startswith("WARN") and "Nastaliq" in got and "Naskh" not in got.split("fix:")[0], got
    assert "apt-get install fonts-noto-extra (" in got, got


def test_the_wal_line_says_its_size_and_who_checkpoints(site):
    from pos_core import wal
    code, out = site.doctor()
    got = line(out, "wal")
    assert got.startswith("OK") and " MB, checkpointed by each writer" in got and "not running" in got, got
    db.open_database(site.path.read_text().split('url = "')[1].split('"')[0])
    heartbeat.beat(wal.CHANNEL, detail={"running": True, "every_s": 1.0, "last": [0, 12, 12]})  # as the agent's loop
    db.close()
    code, out = site.doctor()
    assert "checkpointed by the agent, every 1 s (last: 12 of 12 frames copied)" in line(out, "wal"), out
