"""`pos-admin`: the technician's and manager's commands."""
from __future__ import annotations

import argparse
import sys

from . import admin_chain, admin_courier, admin_loyalty, admin_reconcile, admin_shelf, admin_staff, admin_stock, backup, cli, demo, ledger, migrations, outbox
from .models import OutboxJob


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pos-admin", description="Point of sale administration")
    parser.add_argument("--config", help="config file (default: $POS_CONFIG or /etc/pos/pos.toml)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create the schema in a new, empty database")
    sub.add_parser("migrate", help="bring the database schema up to date")
    d = sub.add_parser("demo", help="create a demo site in a new database")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--shopify-seed", metavar="FILE", help="also write the catalog as a Shopify simulator seed file")
    sub.add_parser("check-stock", help="recompute every stock level from the ledger; non-zero exit on a mismatch")
    r = sub.add_parser("retry", help="put a failed sync job back in the queue")
    r.add_argument("job", help="the job's uid (see `pos-admin jobs`)")
    j = sub.add_parser("jobs", help="list sync jobs that are not yet synced")
    j.add_argument("--all", action="store_true", help="include synced jobs")
    admin_stock.add_commands(sub)
    admin_loyalty.add_commands(sub)
    admin_chain.add_commands(sub)
    admin_courier.add_commands(sub)
    admin_shelf.add_commands(sub)
    admin_staff.add_commands(sub)
    admin_reconcile.add_commands(sub)
    backup.add_commands(sub)
    doc = sub.add_parser("doctor", help="check config, database, agent, Shopify, FBR, printer, scanner, clock")
    doc.add_argument("--print", action="store_true", help="also print a test slip")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return _doctor(args)
    return cli.run(lambda: _dispatch(args))


def _doctor(args) -> int:
    """The checks need the network, which pos_core never touches: the agent's package runs them."""
    import subprocess
    cmd = [sys.executable, "-m", "sync_agent"] + (["--config", args.config] if args.config else [])
    cmd += ["doctor"] + (["--print"] if args.print else [])
    return subprocess.call(cmd)


def _dispatch(args) -> int:
    cfg = cli.load_and_open(args.config)
    if args.command in backup.COMMANDS + ("backups",):
        try:
            return backup.run(args, cfg)
        except backup.BackupError as exc:
            print(f"{args.command}: {exc}", file=sys.stderr)
            return 1
    if args.command in admin_chain.COMMANDS:
        return admin_chain.run(args, cfg)
    # Command groups that work on documents: each needs the schema this program knows.
    for group in (admin_stock, admin_loyalty, admin_courier, admin_staff, admin_shelf, admin_reconcile):
        if args.command in group.COMMANDS:
            migrations.check_current()
            return group.run(args, cfg)
    if args.command == "init":
        migrations.init()
        print(f"database initialised at schema {migrations.LATEST}")
    elif args.command == "migrate":
        ran = migrations.migrate()
        print(f"applied migrations: {ran}" if ran else "schema is up to date")
    elif args.command == "demo":
        migrations.migrate()
        summary = demo.build(seed=args.seed)
        print("demo site created: " + ", ".join(f"{k}={v}" for k, v in summary.items()))
        print("staff PINs: " + ", ".join(f"{name} ({role}) {pin}" for _, name, role, pin in demo.DEMO_STAFF))
        if args.shopify_seed:
            import json
            from pathlib import Path
            Path(args.shopify_seed).parent.mkdir(parents=True, exist_ok=True)
            Path(args.shopify_seed).write_text(json.dumps(demo.shopify_seed(), indent=1))
            print(f"Shopify simulator seed written to {args.shopify_seed}")
    elif args.command == "check-stock":
        migrations.check_current()
        bad = ledger.check()
        if bad:
            print(f"{len(bad)} stock level(s) disagree with the ledger:")
            for m in bad:
                print(f"  {m.branch_code} {m.variant_sku}: level {m.level}, ledger says {m.ledger}")
            return 1
        print("stock levels match the ledger")
    elif args.command == "retry":
        migrations.check_current()
        job = outbox.retry(args.job)
        print(f"job {job.uid} ({job.channel} {job.kind}) is PENDING again")
    elif args.command == "jobs":
        migrations.check_current()
        q = OutboxJob.select().order_by(OutboxJob.id)
        if not args.all:
            q = q.where(OutboxJob.status != outbox.SYNCED)
        for job in q:
            err = f"  {job.last_error}" if job.last_error else ""
            via = "  (sent by the head office)" if job.via_hq else f"  (for {job.origin_branch})" if job.origin_branch else ""
            print(f"{job.uid}  {job.channel:8} {job.kind:18} {job.status:22} tries={job.attempts}{via}{err}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
