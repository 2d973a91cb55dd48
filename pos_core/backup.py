"""Backups of the site's SQLite database, and restoring one.

`make()` copies a live database with SQLite's online backup API (stdlib `sqlite3`), so tills and
the agent keep selling while it runs and the copy is one consistent snapshot (a plain file copy of
a WAL database can miss committed pages or catch a half-written one). The copy is switched to a
single-file journal, checked with `PRAGMA quick_check`, gzipped, and given a sidecar
`NAME.sha256` in `sha256sum` format, so `sha256sum -c` also checks it by hand.

`restore()` refuses unless the checksum matches, SQLite's integrity check passes, the copy has a
schema this program knows and its stock levels agree with its ledger (`ledger.check()` on the
restored copy) - all before the live file is touched. The live database is then overwritten
through the backup API as well (other processes' connections see the new content, not a deleted
inode), after a safety copy of what it held.

PostgreSQL sites use `pg_dump`; these functions refuse with that pointer.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import os
import re
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PG_DUMP_HINT = ("this site's database is PostgreSQL: back it up with pg_dump "
                "(pg_dump -Fc -f pos-$(date +%F).dump DBNAME) and restore with pg_restore; see README")
NAME_RE = re.compile(r"^pos-(?:(?P<kind>nightly|manual|pre-restore|pre-upgrade)-)?(?P<stamp>\d{8}-\d{6})(?:-(?P<n>\d+))?\.db\.gz$")
CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    sha256: str
    size: int            # compressed bytes
    db_size: int         # the uncompressed copy's bytes
    seconds: float


def sqlite_path(url: str) -> Path:
    """The file behind a sqlite:/// URL; BackupError for PostgreSQL or an in-memory database."""
    if url.startswith(("postgres://", "postgresql://")):
        raise BackupError(PG_DUMP_HINT)
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix + ":memory:":
        raise BackupError(f"cannot back up database URL {url.split('?')[0]!r}: not a SQLite file")
    return Path(url[len(prefix):].split("?", 1)[0])


def backup_dir(cfg) -> Path:
    """`[backup] dir`, or backups/ beside the SQLite file."""
    if cfg.backup.dir:
        return Path(cfg.backup.dir)
    return sqlite_path(cfg.database_url).parent / "backups"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_live(src_path: Path, dest_path: Path) -> None:
    """One consistent snapshot of a live database into a new single-file database."""
    if not src_path.exists():
        raise BackupError(f"no database at {src_path}")
    # pages=-1 (the default) copies everything in one step, inside one read transaction: with WAL
    # the writers go on committing and the copy is the state as of the step's start.
    src = sqlite3.connect(src_path, timeout=30)
    try:
        dst = sqlite3.connect(dest_path)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            ok = dst.execute("PRAGMA quick_check").fetchone()[0]
            if ok != "ok":
                raise BackupError(f"the copy of {src_path} failed SQLite's check: {ok}")
        finally:
            dst.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot read {src_path}: {exc}") from None
    finally:
        src.close()


def make(db_url: str, dest_dir: Path | str, kind: str = "manual", now: dt.datetime | None = None) -> BackupInfo:
    """Write `dest_dir/pos-KIND-YYYYmmdd-HHMMSS.db.gz` and its `.sha256`; return what was written."""
    t0 = time.perf_counter()
    src_path = sqlite_path(db_url)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    final = dest_dir / f"pos-{kind}-{stamp}.db.gz"
    n = 1
    while final.exists():
        n += 1
        final = dest_dir / f"pos-{kind}-{stamp}.db.gz".replace(".db.gz", f"-{n}.db.gz")
    fd, raw_name = tempfile.mkstemp(prefix=".backup-", suffix=".db", dir=dest_dir)
    os.close(fd)
    raw = Path(raw_name)
    part = final.with_name(final.name + ".part")
    try:
        _copy_live(src_path, raw)
        db_size = raw.stat().st_size
        h = hashlib.sha256()
        with open(raw, "rb") as fin, open(part, "wb") as fout:
            with gzip.GzipFile(filename=f"pos-{stamp}.db", mode="wb", fileobj=_HashingWriter(fout, h),
                               compresslevel=6, mtime=0) as gz:
                shutil.copyfileobj(fin, gz, CHUNK)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(part, final)
        digest = h.hexdigest()
        side = final.with_name(final.name + ".sha256")
        side.write_text(f"{digest}  {final.name}\n")
        _fsync_dir(dest_dir)
    finally:
        raw.unlink(missing_ok=True)
        part.unlink(missing_ok=True)
    return BackupInfo(final, digest, final.stat().st_size, db_size, time.perf_counter() - t0)


class _HashingWriter:
    """A file wrapper that hashes what goes through it (the compressed bytes)."""

    def __init__(self, f, h):
        self.f, self.h = f, h

    def write(self, data) -> int:
        self.h.update(data)
        return self.f.write(data)

    def flush(self) -> None:
        self.f.flush()


def verify_checksum(path: Path | str) -> str:
    """The file's sha256 if its sidecar agrees; BackupError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    side = path.with_name(path.name + ".sha256")
    try:
        expected = side.read_text().split()[0].lower()
    except (OSError, IndexError):
        raise BackupError(f"no checksum beside the backup ({side.name} missing or empty): "
                          "refusing to restore a file that cannot be checked") from None
    actual = _sha256(path)
    if actual != expected:
        raise BackupError(f"checksum mismatch for {path.name}: the file is damaged or incomplete "
                          f"(expected {expected[:12]}..., found {actual[:12]}...); use another backup")
    return actual


def list_backups(directory: Path | str) -> list[Path]:
    """Backups in `directory`, oldest first (by the time in their names)."""
    d = Path(directory)
    if not d.is_dir():
        return []
    found = [(m.group("stamp"), int(m.group("n") or 1), p) for p in d.iterdir() if (m := NAME_RE.match(p.name))]
    return [p for _, _, p in sorted(found)]


def prune(directory: Path | str, keep: int, kind: str = "nightly") -> list[Path]:
    """Delete all but the newest `keep` backups of `kind` (and their sidecars); return the deleted."""
    mine = [p for p in list_backups(directory) if (NAME_RE.match(p.name).group("kind") or "") == kind]
    gone = mine[:-keep] if keep > 0 else mine
    for p in gone:
        p.unlink(missing_ok=True)
        p.with_name(p.name + ".sha256").unlink(missing_ok=True)
    return gone


@dataclass(frozen=True)
class RestoreReport:
    source: Path
    target: Path
    schema: int
    orders: int
    safety_copy: Path | None


def inspect_copy(path: Path) -> tuple[int, int]:
    """Check a decompressed copy with SQLite and the product's own rules; (schema, orders).

    Binds the models to the copy for the duration (the caller reopens its own database after)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the backup is not a readable SQLite database: {exc}") from None
    finally:
        conn.close()
    if result != "ok":
        raise BackupError(f"the backup fails SQLite's integrity check: {result}")
    from . import db, ledger, migrations
    from .models import PosOrder
    db.open_database(f"sqlite:///{path}")
    try:
        versions = migrations.applied_versions()
        if not versions:
            raise BackupError("the backup holds no schema: it is not a POS database")
        if max(versions) > migrations.LATEST:
            raise BackupError(f"the backup is at schema {max(versions)}, newer than this program "
                              f"({migrations.LATEST}): restore it with the version that made it")
        bad = ledger.check()
        if bad:
            first = ", ".join(f"{m.branch_code} {m.variant_sku} level {m.level} ledger {m.ledger}" for m in bad[:3])
            raise BackupError(f"the backup's stock levels disagree with its ledger in {len(bad)} place(s) "
                              f"({first}): refusing to restore it; use an earlier backup")
        orders = PosOrder.select().count()
        return max(versions), orders
    finally:
        db.close()


def restore(backup_file: Path | str, target_url: str, safety_dir: Path | str | None = None) -> RestoreReport:
    """Check `backup_file` thoroughly, then replace the database at `target_url` with it."""
    source = Path(backup_file)
    target = sqlite_path(target_url)
    verify_checksum(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".restore-", suffix=".db", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            with gzip.open(source, "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, CHUNK)
        except (OSError, EOFError) as exc:
            raise BackupError(f"cannot decompress {source.name}: {exc}") from None
        schema, orders = inspect_copy(tmp)
        safety = None
        if target.exists():
            if safety_dir is not None:
                try:
                    safety = make(target_url, safety_dir, kind="pre-restore").path
                except BackupError:
                    safety = None       # the live file may be the damaged one; restoring is the fix
            src = sqlite3.connect(tmp)
            dst = sqlite3.connect(target, timeout=30)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=WAL")
            finally:
                dst.close()
                src.close()
        else:
            mode = 0o660
            os.chmod(tmp, mode)
            os.replace(tmp, target)
            conn = sqlite3.connect(target)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.close()
        return RestoreReport(source, target, schema, orders, safety)
    finally:
        tmp.unlink(missing_ok=True)


def nightly(cfg, now: dt.datetime | None = None) -> BackupInfo:
    """The agent's nightly job: one backup, then keep the newest `[backup] keep` nightly copies."""
    info = make(cfg.database_url, backup_dir(cfg), kind="nightly", now=now)
    prune(backup_dir(cfg), cfg.backup.keep, kind="nightly")
    return info


# -- pos-admin backup / restore -------------------------------------------------------------------
COMMANDS = ("backup", "restore")


def add_commands(sub) -> None:
    b = sub.add_parser("backup", help="a consistent, compressed, checksummed copy of the live SQLite database")
    b.add_argument("--dir", help="where to write it (default: [backup] dir, or backups/ beside the database)")
    b.add_argument("--kind", default="manual", choices=("manual", "pre-upgrade"), help=argparse.SUPPRESS)
    r = sub.add_parser("restore", help="check a backup (checksum, integrity, ledger) and put it in place")
    r.add_argument("file", help="a pos-*.db.gz written by `pos-admin backup` or the agent")
    r.add_argument("--force", action="store_true", help="restore even though the agent looks alive")
    sub.add_parser("backups", help="list the backups in the backup directory")


def run(args, cfg) -> int:
    if args.command == "backups":
        for p in list_backups(backup_dir(cfg)):
            print(f"{p}  {p.stat().st_size:,} bytes")
        return 0
    if args.command == "backup":
        info = make(cfg.database_url, Path(args.dir) if args.dir else backup_dir(cfg), kind=args.kind)
        print(f"backup written: {info.path} ({info.size:,} bytes compressed from {info.db_size:,}, "
              f"{info.seconds:.2f} s)\nsha256 {info.sha256}")
        return 0
    target = sqlite_path(cfg.database_url)
    if target.exists() and not args.force:
        _refuse_if_agent_alive(cfg.database_url)
    report = restore(args.file, cfg.database_url, safety_dir=backup_dir(cfg))
    print(f"restored {report.source.name} into {report.target}: schema {report.schema}, "
          f"{report.orders} orders; checksum, integrity and stock ledger checked")
    if report.safety_copy:
        print(f"what the database held before is kept in {report.safety_copy}")
    from . import migrations
    if report.schema < migrations.LATEST:
        print("the backup is from an older version: run `pos-admin migrate` before starting the till")
    print("now start the agent again: systemctl start pos-agent")
    return 0


def _refuse_if_agent_alive(url: str) -> None:
    from . import db, heartbeat
    from peewee import DatabaseError
    db.open_database(url)
    try:
        rows = heartbeat.read()
    except DatabaseError:
        return                           # unreadable database: that is why we restore
    finally:
        db.close()
    ages = [a for a in (heartbeat.age_seconds(r) for r in rows) if a is not None]
    if ages and min(ages) < 30:
        raise BackupError("the agent wrote a heartbeat less than 30 s ago: stop it and close the tills "
                          "first (systemctl stop pos-agent), or pass --force")
