"""`pos-agent`: the sync agent's command line.

    pos-agent [--config PATH] run              the daemon (systemd: Type=notify)
    pos-agent [--config PATH] once             every job a single time, then exit
    pos-agent [--config PATH] status           queue depths, last contact and last error per channel
    pos-agent [--config PATH] import-catalog [--bulk|--paged]
    pos-agent [--config PATH] doctor [--print]   every check with its fix (`pos-admin doctor`)
    pos-agent [--config PATH] locations        the shop's locations and ids, for [shopify.locations]
    pos-agent [--config PATH] hq-recover [--force]   a branch restored from an older backup
                                               (`pos-admin branch recover`; docs/chain.md)
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from pos_core import cli, config as configmod, fiscal, heartbeat, migrations, outbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pos-agent", description="Point of sale sync agent (Shopify, FBR)")
    parser.add_argument("--config", help="config file (default: $POS_CONFIG or /etc/pos/pos.toml)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the agent until SIGTERM")
    sub.add_parser("once", help="run every job once and exit")
    sub.add_parser("status", help="queue depths and the agent's last contact and error per channel")
    rec = sub.add_parser("reconcile", help="compare Shopify's quantities with the ledger now (changes nothing)")
    rec.add_argument("--location", help="one location id (default: every mapped location)")
    imp = sub.add_parser("import-catalog", help="import shop, locations, products, variants and customers")
    how = imp.add_mutually_exclusive_group()
    how.add_argument("--bulk", action="store_true", help="a full import through a bulk operation (default the first time)")
    how.add_argument("--paged", action="store_true", help="a full import page by page")
    sub.add_parser("locations", help="list the shop's locations and their ids, and which branch maps to each")
    doc = sub.add_parser("doctor", help="check config, database, agent, Shopify, FBR, printer, scanner, clock")
    doc.add_argument("--print", action="store_true", help="also print a test slip")
    hr = sub.add_parser("hq-recover", help="(chain branch) bring back from the head office what a restore "
                                           "from an older backup lost, then push on")
    hr.add_argument("--force", action="store_true", help="run even when no rewind is detected")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
        from . import doctor
        return doctor.run(args.config, print_slip=args.print)
    import faulthandler
    import signal
    faulthandler.register(signal.SIGUSR1, all_threads=True)   # `kill -USR1`: every thread's stack to the log
    logging.basicConfig(level=os.environ.get("POS_AGENT_LOG", "INFO").upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # APScheduler logs every run of every job at INFO ("Running job", "executed successfully"):
    # ~300,000 lines a day on an idle box. The journal keeps what a technician needs.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return cli.run(lambda: _one_line(args))


def _one_line(args) -> int:
    """Shopify's and the network's refusals end a command in one line, never a traceback."""
    try:
        return _dispatch(args)
    except TimeoutError as exc:
        print(f"timed out: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        client = sys.modules.get("sync_agent.shopify.client")   # loaded only by commands that talk to Shopify
        if client is not None and isinstance(exc, client.ShopifyError):
            print(f"shopify: {exc.message}", file=sys.stderr)
            return 1
        raise


def _dispatch(args) -> int:
    cfg = cli.load_and_open(args.config)
    if args.command == "status":
        migrations.check_current()
        return print_status()
    if args.command == "hq-recover":
        migrations.check_current()
        if cfg.hq.role != "branch":
            raise configmod.ConfigError(cfg.path, "hq.role", '"branch" (recover runs on a branch box)', cfg.hq.role)
        from .hq.link import BranchLink
        from .hq.recover import recover
        import psycopg2
        from peewee import OperationalError
        from .hq.link import HqUnavailable
        link = BranchLink.from_config(cfg)
        try:
            return recover(link, force=args.force)
        except (psycopg2.OperationalError, OperationalError, HqUnavailable) as exc:
            cause = exc if isinstance(exc, (psycopg2.Error, HqUnavailable)) else (exc.__cause__ or exc.__context__)
            if not isinstance(cause, (psycopg2.OperationalError, HqUnavailable)):
                raise   # a local database's failure (the branch box may be PostgreSQL too)
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"hq-recover: cannot reach the head office ({text}); nothing was changed here. "
                  "Keep selling and run it again when the link is up", file=sys.stderr)
            return 1
        finally:
            link.close()
    from .daemon import Agent  # httpx and apscheduler only for the commands that need them
    if args.command == "import-catalog":
        if not cfg.shopify.enabled:
            raise configmod.ConfigError(cfg.path, "shopify.enabled", "true to import the catalog", False)
        from . import catalog
        agent = Agent(cfg)
        migrations.check_current()
        mode = "bulk" if args.bulk else "paged" if args.paged else "auto"
        stats = catalog.import_catalog(agent.client, cfg.shopify.locations, mode=mode,
                                       progress=catalog.TextProgress(),
                                       default_tax_bp=int(cfg.default_tax_rate * 100))
        agent.client.close()
        print(f"imported: {stats.variants_created} variants new, {stats.variants_updated} changed, "
              f"{stats.customers_created} customers new; {stats.phones_skipped} invalid phones skipped, "
              f"{stats.barcode_conflicts} barcode conflicts")
        return 0
    if args.command == "locations":
        if not cfg.shopify.enabled:
            raise configmod.ConfigError(cfg.path, "shopify.enabled", "true to list the shop's locations", False)
        return print_locations(cfg)
    agent = Agent(cfg)
    if args.command == "reconcile":
        from . import reconcile
        if not agent.client:
            raise configmod.ConfigError(cfg.path, "shopify.enabled", "true to reconcile", False)
        migrations.check_current()
        for run in reconcile.run(agent.client, args.location):
            print(f"{run.location_id}: {run.items_compared} items, {len(run.differences)} difference(s), "
                  f"{run.cost_used} cost points (report {run.uid})")
            for d in run.differences:
                print(f"  {d['sku']:20} shopify {d['shopify_on_hand']:6} ledger {d['ledger_on_hand']:6}  "
                      + "; ".join(d["causes"]))
        agent.client.close()
        return 0
    if args.command == "once":
        agent.once()
        return 0
    return agent.run()


def print_locations(cfg) -> int:
    """Every location of the shop with its id, so a technician can map branches without JSON."""
    from . import catalog
    from .shopify.client import ShopifyClient
    with ShopifyClient(cfg.shopify, cfg.path) as client:
        shop, found, _ = catalog.read_locations(client)
    by_location: dict[str, list[str]] = {}
    for code, gid in sorted(cfg.shopify.locations.items()):
        by_location.setdefault(gid, []).append(code)
    print(f"Shopify locations of {shop.get('name')} ({shop.get('myshopifyDomain')}):")
    print(f"  {'id':34} {'name':28} {'active':6} {'online':6} branches in the config")
    for loc in found:
        print(f"  {loc['id']:34} {loc['name'][:28]:28} {'yes' if loc['isActive'] else 'no':6} "
              f"{'yes' if loc.get('fulfillsOnlineOrders') else 'no':6} {', '.join(by_location.get(loc['id'], [])) or '-'}")
    known = {loc["id"] for loc in found}
    for gid, codes in by_location.items():
        if gid not in known:
            print(f"WARNING: {', '.join(codes)} mapped to {gid}, which this shop does not have")
    print("Map each branch in the config, for example:")
    print("  [shopify.locations]")
    for loc in [l for l in found if l["isActive"]][:3]:
        print(f'  BRANCHCODE = "{loc["id"]}"   # {loc["name"]}')
    return 0


def print_status() -> int:
    depths = outbox.queue_depths()
    print("queue (not yet synced):")
    for channel in sorted(depths):
        counts = depths[channel]
        text = ", ".join(f"{status} {n}" for status, n in sorted(counts.items())) or "empty"
        print(f"  {channel:8} {text}")
    rows = heartbeat.read()
    print("agent:")
    if not rows:
        print("  no heartbeat yet (is pos-agent running?)")
    for row in rows:
        age = heartbeat.age_seconds(row)
        seen = f"seen {age:.0f} s ago" if age is not None else "never seen"
        contact = row["last_contact_at"].strftime("%Y-%m-%d %H:%M:%S UTC") if row["last_contact_at"] else "never"
        err = row["last_error"] or "none"
        print(f"  {row['channel']:16} {seen}; last contact {contact}; last error: {err}")
        if row["channel"] == "hq":
            d = row["detail"]
            state = "up" if d.get("up") else "DOWN"
            print(f"  {'':16} head office link {state} ({d.get('role', '?')}): {d.get('pending', 0)} change(s) "
                  f"not yet sent, oldest {d.get('lag_s', 0)} s; parked here {d.get('parked_down', 0)}, "
                  f"at the head office {d.get('parked_up', 0)}")
            if d.get("rewound"):
                print(f"  {'':16} PUSH STOPPED: {d['rewound']}")
    _print_wal(rows)
    _print_relay()
    _print_fbr_attention()
    return 0


def _print_wal(rows: list[dict]) -> None:
    """SQLite: the WAL file's size and who checkpoints it (pos_core/wal.py)."""
    from pos_core import db, wal
    if not db.is_sqlite():
        return
    size = wal.wal_bytes(db.database.obj.database)
    print(f"WAL {'none' if size is None else f'{size / 1e6:.1f} MB'}; "
          f"checkpointed by {wal.describe(wal.checkpoint_row(rows))}")


def _print_relay() -> None:
    """A chain branch whose Shopify work the head office sends (issue 14): where its jobs are, and
    the ones a person must look at (retry them here with `pos-admin retry`: it goes to the head office)."""
    from pos_core import shopify_relay
    from pos_core.models import OutboxJob
    where = shopify_relay.summary()
    if heartbeat.get_detail("shopify").get("via") != "head-office" and not any(k.startswith("head") for k in where):
        return
    print("shopify via the head office: " + (", ".join(f"{k} {n}" for k, n in sorted(where.items()))
                                             or "everything synced"))
    for job in (OutboxJob.select().where((OutboxJob.via_hq == True)  # noqa: E712
                                         & OutboxJob.status.in_([outbox.FAILED, outbox.NEEDS_RECONCILIATION]))
                .order_by(OutboxJob.id).limit(20)):
        print(f"  {job.kind} {job.doc_type} {job.doc_ref}  {job.status}  {job.last_error[:120]}  (job {job.uid})")


def _print_fbr_attention() -> None:
    """What a person must look at for FBR: uncertain invoices and the 24-hour offline rule."""
    stuck = fiscal.needing_person()
    if stuck:
        print("FBR documents needing a person:")
        for job, why in stuck:
            print(f"  {job.payload.get('usin')}  {job.status}  {why}  (job {job.uid})")
    detail = heartbeat.get_detail("fbr")
    overdue = detail.get("offline_overdue") or []
    if overdue:
        print(f"ALARM: {len(overdue)} offline invoice(s) still unsent 20 hours after the link came back "
              f"(FBR allows 24): {', '.join(overdue[:10])}")
    if detail.get("breaker_open_until"):
        print(f"FBR link down: not sending until {detail['breaker_open_until']} UTC")


if __name__ == "__main__":
    sys.exit(main())
