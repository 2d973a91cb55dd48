"""Issue 14: a branch claims an online order's lines at the head office before packing. Two
branches claiming the same order at the same moment: one wins, the other is refused and told who
holds it. Each branch talks to the head office's PostgreSQL as its own role, as its agent does."""
from __future__ import annotations

import threading

import pytest

from chain_kit import PG_URL, at, drop_hq, new_hq, role_url
from pos_core import db, hq
from pos_core.errors import InvalidInput
from pos_core.models import SmartOrder, SmartOrderLine
from sync_agent.hq import claims
from sync_agent.hq.link import BranchLink

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs POS_TEST_PG_URL (the head office is PostgreSQL)")
ORDERS = 8


@pytest.fixture
def office():
    url, name = new_hq()
    with at(url):
        hq.add_branch("LHR1")
        hq.add_branch("KHI1")
        with db.write():
            for n in range(ORDERS):
                o = SmartOrder.create(shopify_id=f"gid://shopify/Order/{n}", name=f"#{1001 + n}",
                                      created_at_shopify="2026-12-07T10:00:00Z", updated_at_shopify="2026-12-07T10:00:00Z")
                for line in ("L1", "L2"):
                    SmartOrderLine.create(order=o, shopify_line_id=line, name="Lawn", quantity=1, current_quantity=1)
    yield {"url": url, "name": name}
    db.close()
    drop_hq(name)


def link(office, code) -> BranchLink:
    return BranchLink(role_url(office["name"], code), "", code)


def test_two_branches_claiming_the_same_orders_at_once_never_both_win(office):
    links = {code: link(office, code) for code in ("LHR1", "KHI1")}
    for ln in links.values():
        ln._hq()                                  # both connected before the race starts
    results: dict[str, list[claims.Claim]] = {code: [] for code in links}
    gate = threading.Barrier(2)

    def run(code):
        for n in range(ORDERS):
            gate.wait()
            results[code].append(claims.claim(links[code], f"gid://shopify/Order/{n}"))

    threads = [threading.Thread(target=run, args=(code,)) for code in links]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for n in range(ORDERS):
        a, b = results["LHR1"][n], results["KHI1"][n]
        assert a.ok != b.ok, (a, b)                                   # exactly one wins
        winner, loser = (a, b) if a.ok else (b, a)
        assert loser.held_elsewhere == {"L1": winner.branch, "L2": winner.branch}
        assert loser.message() == f"order gid://shopify/Order/{n} is held by {winner.branch}: not claimed here"
    with at(office["url"]):
        for n in range(ORDERS):
            holders = hq.claims(f"gid://shopify/Order/{n}")
            assert len(set(holders.values())) == 1 and set(holders) == {"L1", "L2"}
    for ln in links.values():
        ln.close()


def test_claims_by_line_all_or_nothing_release_and_refusals(office):
    lhr, khi = link(office, "LHR1"), link(office, "KHI1")
    order = "gid://shopify/Order/0"
    c = claims.claim(lhr, order, ["L1"])                 # Lahore has only the first line in stock
    assert c.ok and c.lines == {"L1": "LHR1"}
    c = claims.claim(khi, order, ["L2"])                 # Karachi packs the other
    assert c.ok and c.lines == {"L2": "KHI1"}
    c = claims.claim(khi, order)                         # the whole order: one line is Lahore's
    assert not c.ok and c.held_elsewhere == {"L1": "LHR1"}
    assert claims.claim(lhr, order, ["L1"]).ok           # claiming again what it holds: still its
    # a branch cannot give back another branch's claim
    assert claims.release(khi, order, ["L1"]) == 0
    assert claims.release(lhr, order, ["L1"]) == 1
    c = claims.claim(khi, order)
    assert c.ok and c.lines == {"L1": "KHI1", "L2": "KHI1"}
    with pytest.raises(InvalidInput, match="has no online order gid://shopify/Order/99"):
        claims.claim(lhr, "gid://shopify/Order/99")
    with pytest.raises(InvalidInput, match="has no line L9"):
        claims.claim(lhr, "gid://shopify/Order/1", ["L1", "L9"])
    assert claims.claim(lhr, "gid://shopify/Order/1", ["L1"]).ok   # the refusal claimed nothing
    # a branch's role has no way round the functions
    import peewee
    with pytest.raises(peewee.ProgrammingError):
        with khi._hq().atomic():
            khi._hq().execute_sql("UPDATE hq_claim SET branch_code = 'KHI1'")
    lhr.close()
    khi.close()


def test_claiming_needs_the_head_office_link_and_says_so(office):
    dead = BranchLink("postgresql://nobody@127.0.0.1:1/none", "", "LHR1")
    with pytest.raises(claims.ClaimUnavailable, match="needs the head-office link, and it is down"):
        claims.claim(dead, "gid://shopify/Order/0")


@pytest.mark.parametrize("role, polls", [("off", True), ("head-office", True), ("branch", False)])
def test_one_shopify_poller_per_shop(tmp_path, role, polls, monkeypatch):
    """The head office's agent (or a single shop's) polls orders and imports the catalog; a
    branch's agent does not: it gets Smart Orders and the catalog from the head office."""
    from pos_core import config as configmod
    from sync_agent import daemon
    data = {"database": {"url": f"sqlite:///{tmp_path / 'pos.db'}"}, "counter": {"branch": "LHR1", "code": "C1"}}
    if role != "off":
        data["hq"] = {"role": role}
        if role == "branch":
            data["hq"]["url"] = "postgresql://pos_hq_br_lhr1@127.0.0.1:1/pos_hq"
    cfg = configmod.parse(data, tmp_path / "pos.toml")
    agent = daemon.Agent(cfg, client=object())
    calls = []
    for name in ("catalog_pass", "poll_orders", "push", "track_couriers", "courier_daily", "fbr_push",
                 "hq_sync", "beat", "start_up"):
        monkeypatch.setattr(agent, name, lambda *a, _n=name, **k: calls.append(_n))
    from pos_core import migrations
    db.open_database(cfg.database_url)
    try:
        migrations.init()
        agent.once()
    finally:
        db.close()
    assert ("poll_orders" in calls) is polls and ("catalog_pass" in calls) is polls
    assert "push" in calls and "hq_sync" in calls


def test_pos_admin_shows_and_releases_claims_at_the_head_office(office, tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    lhr = link(office, "LHR1")
    assert claims.claim(lhr, "gid://shopify/Order/3").ok
    lhr.close()
    cfg = tmp_path / "hq.toml"
    cfg.write_text(f'[database]\nurl = "{office["url"]}"\n')

    def admin(*args):
        return subprocess.run([sys.executable, "-m", "pos_core.admin", "--config", str(cfg), "hq", *args],
                              cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=60)
    r = admin("claims", "gid://shopify/Order/3")
    assert r.returncode == 0 and "L1" in r.stdout and "LHR1" in r.stdout
    r = admin("release", "gid://shopify/Order/3", "L2")
    assert r.returncode == 0 and "L2: LHR1's claim given back" in r.stdout
    with at(office["url"]):
        assert hq.claims("gid://shopify/Order/3") == {"L1": "LHR1"}
    assert admin("release", "gid://shopify/Order/3").returncode == 0
    r = admin("release", "gid://shopify/Order/3")
    assert r.returncode == 1 and "no claim on gid://shopify/Order/3 to give back" in r.stdout
