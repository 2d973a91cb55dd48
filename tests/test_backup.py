"""Backups of a live SQLite database: the online backup API, gzip, a sha256 sidecar; restore checks
the checksum and the ledger of the restored copy before it replaces anything."""
from __future__ import annotations

import pytest

from pos_core import config as configmod


def test_backup_config_keys(tmp_path):
    cfg = configmod.parse({"database": {"url": "sqlite:////var/lib/pos/pos.db"}}, tmp_path / "pos.toml")
    assert cfg.backup.dir == "" and cfg.backup.keep == 14
    cfg = configmod.parse({"database": {"url": "sqlite:////x.db"}, "backup": {"dir": "/srv/b", "keep": 7}},
                          tmp_path / "pos.toml")
    assert (cfg.backup.dir, cfg.backup.keep) == ("/srv/b", 7)
    with pytest.raises(configmod.ConfigError, match="backup.keep"):
        configmod.parse({"database": {"url": "sqlite:////x.db"}, "backup": {"keep": 0}}, tmp_path / "pos.toml")


import gzip
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from pos_core import backup, db, ledger, migrations, sales
from pos_core.models import PosOrder, PosOrderLine, StockLevel, StockMovement
from pos_core.policy import SalePolicy
from pos_core.sales import SaleLine, Tender

REPO = Path(__file__).resolve().parent.parent


def admin(*args, cwd=REPO, timeout=60):
    exe = Path(sys.executable).with_name("pos-admin")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "pos_core.admin"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, cwd=cwd, timeout=timeout)


def sell(site, n=3):
    out = []
    for i in range(n):
        out.append(sales.complete_sale(SalePolicy(), counter_id=site.counter.id, shift_id=site.shift.id,
                                       staff_id=site.cashier.id, lines=[SaleLine(site.kurta.id, 1 + i % 2)],
                                       tenders=[Tender("cash", Decimal("100000"))]))
    return out


def order_snapshot():
    """Every order with its lines and its movements, as plain data."""
    lines = defaultdict(list)
    for l in PosOrderLine.select().order_by(PosOrderLine.order, PosOrderLine.line_no):
        lines[l.order_id].append((l.variant_id, l.qty, l.unit_price_paisa))
    moves = {m.event_key: m.delta for m in StockMovement.select()}
    return {o.uid: (o.number, o.total_paisa, tuple(lines[o.id])) for o in PosOrder.select()}, moves


def test_make_verify_restore_round_trip(sqlite_db, tmp_path):
    from conftest import make_site
    site = make_site()
    sold = sell(site)
    before = order_snapshot()
    db.close()
    info = backup.make(sqlite_db, tmp_path / "b")
    assert info.path.name.startswith("pos-manual-") and info.path.name.endswith(".db.gz")
    side = info.path.with_name(info.path.name + ".sha256").read_text()
    assert side == f"{info.sha256}  {info.path.name}\n"
    assert backup.verify_checksum(info.path) == info.sha256
    # a plain single-file SQLite database inside (journal not WAL), readable by anything
    raw = tmp_path / "raw.db"
    raw.write_bytes(gzip.decompress(info.path.read_bytes()))
    assert sqlite3.connect(raw).execute("PRAGMA journal_mode").fetchone()[0] == "delete"

    target = f"sqlite:///{tmp_path / 'restored' / 'pos.db'}"
    report = backup.restore(info.path, target)
    assert report.orders == len(sold) and report.schema == migrations.LATEST
    db.open_database(target)
    assert ledger.check() == [] and order_snapshot() == before
    db.close()


def test_restore_refuses_a_damaged_file_or_a_missing_checksum(sqlite_db, tmp_path):
    db.close()
    info = backup.make(sqlite_db, tmp_path / "b")
    data = bytearray(info.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "b" / "pos-manual-20250101-000000.db.gz"
    bad.write_bytes(bytes(data))
    (tmp_path / "b" / (bad.name + ".sha256")).write_text(
        info.path.with_name(info.path.name + ".sha256").read_text().replace(info.path.name, bad.name))
    target = tmp_path / "live.db"
    with pytest.raises(backup.BackupError, match="checksum mismatch"):
        backup.restore(bad, f"sqlite:///{target}")
    (tmp_path / "b" / (bad.name + ".sha256")).unlink()
    with pytest.raises(backup.BackupError, match="no checksum"):
        backup.restore(bad, f"sqlite:///{target}")
    assert not target.exists()


def test_restore_refuses_a_copy_whose_ledger_disagrees_and_leaves_the_live_file(sqlite_db, tmp_path):
    from conftest import make_site
    site = make_site()
    sell(site, 2)
    StockLevel.update(on_hand=StockLevel.on_hand + 5).where(StockLevel.variant == site.suit.id).execute()
    db.close()
    info = backup.make(sqlite_db, tmp_path / "b")
    live = tmp_path / "live.db"
    live.write_bytes(b"live bytes")
    with pytest.raises(backup.BackupError, match="disagree with its ledger.*1002"):
        backup.restore(info.path, f"sqlite:///{live}")
    assert live.read_bytes() == b"live bytes"


def test_restore_over_a_live_database_keeps_a_safety_copy(sqlite_db, tmp_path):
    from conftest import make_site
    site = make_site()
    sell(site, 2)
    db.close()
    info = backup.make(sqlite_db, tmp_path / "b")
    db.open_database(sqlite_db)
    sell(site, 3)             # sales after the backup, which the restore takes away
    assert PosOrder.select().count() == 5
    db.close()
    report = backup.restore(info.path, sqlite_db, safety_dir=tmp_path / "b")
    assert report.safety_copy and report.safety_copy.name.startswith("pos-pre-restore-")
    db.open_database(sqlite_db)
    assert PosOrder.select().count() == 2 and ledger.check() == []
    db.close()
    kept = backup.restore(report.safety_copy, f"sqlite:///{tmp_path / 'kept.db'}")
    assert kept.orders == 5


def test_prune_keeps_the_newest_nightly_copies_only(sqlite_db, tmp_path):
    import datetime as dt
    db.close()
    d = tmp_path / "b"
    manual = backup.make(sqlite_db, d, kind="manual")
    start = dt.datetime(2020, 1, 1, 2, 30)
    for day in range(17):
        backup.make(sqlite_db, d, kind="nightly", now=start + dt.timedelta(days=day))
    gone = backup.prune(d, 14)
    assert len(gone) == 3 and all("2020010" in p.name for p in gone)
    left = backup.list_backups(d)
    assert len(left) == 15 and manual.path in left
    assert left[-2].name == "pos-nightly-20200117-023000.db.gz" and left[-1] == manual.path
    assert len(list(d.glob("*.sha256"))) == 15


def test_postgres_and_memory_urls_are_refused_with_a_pointer():
    with pytest.raises(backup.BackupError, match="pg_dump"):
        backup.sqlite_path("postgresql://pos@db/pos")
    with pytest.raises(backup.BackupError, match="not a SQLite file"):
        backup.sqlite_path("sqlite:///:memory:")


def test_nightly_job_in_the_agent_is_a_cron_at_0230_karachi(tmp_path, monkeypatch):
    from sync_agent import daemon
    cfg_path = tmp_path / "pos.toml"
    cfg_path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "pos.db"}"\n[backup]\nkeep = 3\n')
    cfg = configmod.load(str(cfg_path))
    db.open_database(cfg.database_url)
    migrations.init()
    db.close()
    agent = daemon.Agent(cfg)
    for _ in range(5):
        agent.nightly_backup()
    assert len(backup.list_backups(tmp_path / "backups")) == 3
    job = daemon.nightly_backup_trigger()
    assert str(job.timezone) == "Asia/Karachi"
    assert "hour='2'" in str(job) and "minute='30'" in str(job)


def test_pos_admin_backup_and_restore_commands(sqlite_db, tmp_path):
    from conftest import make_site
    site = make_site()
    sell(site, 2)
    db.close()
    cfg = tmp_path / "pos.toml"
    cfg.write_text(f'[database]\nurl = "{sqlite_db}"\n')
    r = admin("--config", str(cfg), "backup")
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.split("backup written: ")[1].split(" (")[0])
    assert path.parent == tmp_path / "backups" and path.exists()
    other = tmp_path / "other.toml"
    other.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "new" / "pos.db"}"\n')
    r = admin("--config", str(other), "restore", str(path))
    assert r.returncode == 0, r.stderr
    assert "2 orders" in r.stdout
    r = admin("--config", str(other), "check-stock")
    assert r.returncode == 0 and "match" in r.stdout
    pg = tmp_path / "pg.toml"
    pg.write_text('[database]\nurl = "postgresql://pos@127.0.0.1:1/pos"\n')
    r = admin("--config", str(pg), "backup")
    assert r.returncode == 1 and "pg_dump" in r.stderr


def test_upgrade_across_a_migration_keeps_every_order(sqlite_db, monkeypatch):
    """A database at the latest schema with sales, then a (test-only) next migration that adds a column: every order,
    line and movement survives and the ledger still adds up."""
    from conftest import make_site
    from peewee import CharField
    from playhouse.migrate import SchemaMigrator, migrate as run_ops
    site = make_site()
    sell(site, 6)
    before = order_snapshot()
    assert migrations.applied_versions() == {v for v, _, _ in migrations.MIGRATIONS}

    def add_note(database):
        m = SchemaMigrator.from_database(database)
        run_ops(m.add_column("pos_order", "upgrade_note", CharField(default="", max_length=40)))

    test_version = migrations.LATEST + 100
    monkeypatch.setattr(migrations, "MIGRATIONS",
                        migrations.MIGRATIONS + [(test_version, "test: order note", add_note)])
    monkeypatch.setattr(migrations, "LATEST", test_version)
    assert migrations.migrate() == [test_version]
    migrations.check_current()
    cols = [c.name for c in db.database.get_columns("pos_order")]
    assert "upgrade_note" in cols
    assert order_snapshot() == before
    assert ledger.check() == []
    assert migrations.migrate() == []


# -- backup while four tills sell ---------------------------------------------------------------
SELL_SECONDS = 6.0


@pytest.mark.slow
def test_backup_while_four_processes_sell_then_restore_is_consistent(tmp_path):
    from conftest import make_site
    from pos_core import branches, shifts
    path = tmp_path / "pos.db"
    url = f"sqlite:///{path}"
    db.open_database(url)
    migrations.init()
    site = make_site()
    c3 = branches.create_counter(site.lhr, "C3")
    tills = [(site.counter, site.shift)]
    for counter in (site.counter2, c3, site.khi_counter):
        tills.append((counter, shifts.open_shift(counter.id, site.cashier.id, Decimal("1000"))))
    variant_ids = [v.id for v in (site.kurta, site.suit, site.book, site.lipstick, site.local_only)]
    cashier_id = site.cashier.id
    db.close()
    cfg = tmp_path / "pos.toml"
    cfg.write_text(f'[database]\nurl = "{url}"\n')

    start_at = time.time() + 2.5
    procs = []
    for i, (counter, shift) in enumerate(tills):
        args = json.dumps([url, counter.id, shift.id, cashier_id, variant_ids, start_at, SELL_SECONDS,
                           str(tmp_path / f"worker{i}.json"), i])
        procs.append(subprocess.Popen([sys.executable, str(REPO / "tests" / "test_concurrency.py"), "worker", args],
                                      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    while time.time() < start_at + 1.5:
        time.sleep(0.05)
    made, timings = [], []
    while time.time() < start_at + SELL_SECONDS - 0.5:
        t0 = time.perf_counter()
        r = admin("--config", str(cfg), "backup")
        timings.append(time.perf_counter() - t0)
        assert r.returncode == 0, r.stdout + r.stderr
        made.append(Path(r.stdout.split("backup written: ")[1].split(" (")[0]))
    for p in procs:
        out = p.communicate(timeout=SELL_SECONDS + 60)[0]
        assert p.returncode == 0, out
    results = [json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(4)]
    assert not [e for r in results for e in r["errors"]]
    total = sum(len(r["sales"]) for r in results)
    assert len(made) >= 2

    for n, b in enumerate(made):
        target = f"sqlite:///{tmp_path / f'restored{n}.db'}"
        report = backup.restore(b, target)
        assert 0 < report.orders <= total + 0        # a snapshot taken while selling
        db.open_database(target)
        try:
            assert ledger.check() == []
            lines = defaultdict(int)
            for l in PosOrderLine.select():
                lines[l.order_id] += 1
            moves = defaultdict(int)
            for m in StockMovement.select().where(StockMovement.kind == "sale"):
                moves[m.event_key.split(":")[1]] += 1
            for o in PosOrder.select().where(PosOrder.kind == "sale"):
                assert lines[o.id] >= 1 and moves[o.uid] == lines[o.id], o.number
        finally:
            db.close()
        r = admin("--config", str(_cfg_for(tmp_path, target, n)), "check-stock")
        assert r.returncode == 0, r.stdout + r.stderr
    print(f"\n{total} sales by 4 processes in {SELL_SECONDS:g} s; {len(made)} backups meanwhile, "
          f"slowest {max(timings):.2f} s (command included)")


def _cfg_for(tmp_path, url, n):
    p = tmp_path / f"restored{n}.toml"
    p.write_text(f'[database]\nurl = "{url}"\n')
    return p
