"""The agent process: an APScheduler 3 BlockingScheduler.

* outbox push every 2 s: inventory batches and order jobs (fulfillments, tags, corrections);
  while idle it keeps looking for new work every 0.2 s until the next run is due, so a sale
  reaches Shopify well under 2 s after it is committed;
* FBR every second: invoices in order, behind a circuit breaker;
* online orders every `shopify.poll_seconds` (20 s by default);
* heartbeat every 5 s: AgentHeartbeat rows with queue depths, last contact, last error;
* on SQLite, a WAL checkpoint every second in a thread of its own (checkpointer.py), so the
  tills' commits never copy the WAL into the database (they stop while its heartbeat is fresh);
* catalog incremental every 10 minutes (first run 30 s after start); reconciliation hourly;
* a backup of a SQLite database every night at 02:30 Asia/Karachi, keeping `[backup] keep` (14).
One agent per database (lock.py): `run` and `once` refuse while another agent works on it.
SIGTERM/SIGINT: stop taking new work, let the job in hand finish, exit 0. Under systemd
(NOTIFY_SOCKET set): READY=1 after start-up, WATCHDOG=1 from a scheduler job, STOPPING=1.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
import time

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from pos_core import config as configmod, db, fiscal, heartbeat, loyalty, migrations, outbox
from pos_core.db import database
from pos_core.models import utcnow

from . import catalog, orders, reconcile, sdnotify
from . import couriers as courier_pkg
from .couriers import worker as courier_worker
from .lock import AgentLock
from .fbr.transport import FbrTransport
from .fbr.worker import FbrWorker
from .outbox_worker import OutboxWorker
from .shopify.client import ShopifyClient

log = logging.getLogger("sync_agent")

PUSH_SECONDS, HEARTBEAT_SECONDS, CATALOG_SECONDS, RECONCILE_SECONDS = 2.0, 5.0, 600.0, 3600.0
IDLE_POLL = 0.2
HQ_SECONDS = 5.0
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}


def nightly_backup_trigger():
    from apscheduler.triggers.cron import CronTrigger
    return CronTrigger(hour=2, minute=30, timezone="Asia/Karachi")


def reports_nightly_trigger():
    # After the day has closed (summary.SETTLE, an hour) and before the nightly backup.
    from apscheduler.triggers.cron import CronTrigger
    return CronTrigger(hour=1, minute=30, timezone="Asia/Karachi")


def _backoff_from_env() -> dict:
    """POS_AGENT_BACKOFF="base,cap" (seconds) tunes the per-job retry backoff (tests use it)."""
    raw = os.environ.get("POS_AGENT_BACKOFF", "")
    try:
        base, cap = (float(x) for x in raw.split(","))
        return {"backoff_base": base, "backoff_cap": cap}
    except ValueError:
        return {}


class Agent:
    def __init__(self, cfg, client: ShopifyClient | None = None, stop: threading.Event | None = None):
        self.cfg = cfg
        from pos_core import catalog_import
        catalog_import.set_category_rules(cfg.categories)  # department > category > sub, [categories]
        self.stop = stop or threading.Event()
        self.client = client
        # Issue 14: a chain branch whose Shopify work goes through the head office never talks to
        # Shopify (and needs no token): its agent hands the jobs over on the hq channel.
        self.shopify_via_hq = cfg.hq.role == "branch" and cfg.hq.shopify == "head-office"
        if self.shopify_via_hq:
            self.client = None
        elif self.client is None and cfg.shopify.enabled:
            self.client = ShopifyClient(cfg.shopify, cfg.path)
        self.backoff = _backoff_from_env()
        self.worker = OutboxWorker(self.client, stop=self.stop, **self.backoff) if self.client else None
        self.fbr = None
        if cfg.fbr.mode != "off":
            token = configmod.read_secret(cfg.fbr.token, cfg.fbr.token_file, cfg.path, "fbr.token_file")
            self.fbr = FbrWorker(FbrTransport(cfg.fbr.mode, cfg.fbr.endpoint, token),
                                 repeat_usin_returns_original=cfg.fbr.repeat_usin_returns_original)
        # Couriers whose APIs book our parcels ([courier_api.*]); empty when none is configured.
        self.couriers = courier_pkg.build_adapters(cfg)
        self.last_contact: dt.datetime | None = None
        self.last_error: str | None = None
        self.catalog_error: str | None = None
        self.scheduler: BlockingScheduler | None = None
        self.hq = None      # the chain link (issue 13): a BranchLink or a HeadOffice
        if cfg.hq.role == "branch":
            from .hq.link import BranchLink
            self.hq = BranchLink.from_config(cfg)
            self.hq.relay_shopify = self.shopify_via_hq
        elif cfg.hq.role == "head-office":
            from .hq.office import HeadOffice
            self.hq = HeadOffice(keep_days=cfg.hq.keep_days)
        self.looping = False
        # One poller per shop (issue 14): in a chain the head office's agent polls Shopify's orders,
        # imports the catalog and reconciles; a branch gets them from the head office. A single
        # shop (no [hq] role) polls as before.
        self.polls_shopify = cfg.hq.role != "branch"

    # -- jobs ---------------------------------------------------------------------------------
    def start_up(self) -> None:
        with database.connection_context():
            migrations.check_current()
            if self.cfg.hq.role == "head-office" and not self.client:
                log.warning("[shopify] is not enabled here: the branches' Shopify jobs that reach the head office "
                            "wait until it is")
            if self.worker:
                self.worker.recover()
                orders.recover_interrupted()
            if self.couriers:
                courier_worker.recover_interrupted()
            if self.fbr:
                stuck = fiscal.recover_interrupted(resend=self.cfg.fbr.repeat_usin_returns_original)
                if stuck and self.cfg.fbr.repeat_usin_returns_original:
                    log.warning("%d FBR invoice(s) were being sent when the agent stopped: resending the same "
                                "USIN (fbr.repeat_usin_returns_original)", stuck)
                elif stuck:
                    log.warning("%d FBR invoice(s) were being sent when the agent stopped: "
                                "marked NEEDS_RECONCILIATION", stuck)
        self.beat()

    def courier_push(self) -> int:
        """Book (and cancel) parcels: before the Shopify jobs, so a fulfillment that waited for its
        booking goes out in the same pass."""
        if not self.couriers:
            return 0
        counts = courier_worker.run_jobs(self.couriers, url_templates=self.cfg.courier_urls,
                                         label_dir=self._label_dir())
        if counts["contact"]:
            heartbeat.beat("couriers", contact=True, error="" if not counts["deferred"] else "some bookings wait",
                           detail={"counts": counts})
        return counts["synced"]

    def track_couriers(self) -> None:
        if not self.couriers:
            return
        with database.connection_context():
            try:
                every = {n: dt.timedelta(minutes=a.track_minutes) for n, a in self.cfg.courier_accounts.items()}
                courier_worker.track_due(self.couriers, shopify_enabled=self.cfg.shopify.enabled, every=every)
            except Exception as exc:  # noqa: BLE001 - shown in status; the next pass tries again
                log.warning("courier tracking failed: %s", exc)
                heartbeat.beat("couriers", error=f"courier tracking failed: {exc}")

    def courier_daily(self) -> None:
        """Each courier's city list (the tills map typed cities against it) and the COD it has
        paid over (where it has a payment API), daily."""
        if not self.couriers:
            return
        with database.connection_context():
            courier_worker.refresh_cities(self.couriers)
            courier_worker.collect_payments(self.couriers)

    def _label_dir(self):
        from pathlib import Path
        if self.cfg.database_url.startswith("sqlite:///"):
            return Path(self.cfg.database_url[len("sqlite:///"):]).parent / "labels"
        return None

    def push(self, linger: float = 0.0) -> int:
        """Send what is due; with `linger`, keep looking for new work until it has passed."""
        if self.couriers and not self.worker:
            with database.connection_context():
                return self.courier_push()
        if not self.worker:
            return 0
        sent = 0
        deadline = time.monotonic() + linger
        with database.connection_context():
            while not self.stop.is_set():
                sent += self.courier_push()
                summary = self.worker.run_once()
                sent += summary.synced
                jobs = orders.run_jobs(self.client, **({"backoff_base": self.backoff["backoff_base"],
                                                        "backoff_cap": self.backoff["backoff_cap"]}
                                                       if self.backoff else {}))
                sent += jobs["synced"]
                if summary.contact:
                    self.last_contact = utcnow()
                if summary.last_error:
                    self.last_error = summary.last_error
                elif summary.synced:
                    self.last_error = ""
                if summary.batches and (summary.synced or summary.failed):
                    self._beat_shopify()
                if time.monotonic() >= deadline:
                    break
                if not summary.batches and not any(jobs.values()):
                    self.stop.wait(IDLE_POLL)
        return sent

    def _hq_loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.hq_sync(linger=HQ_SECONDS)
            except Exception as exc:  # noqa: BLE001 - logged; the loop must outlive any one failure
                log.warning("hq: %s", exc)
                self.stop.wait(self.cfg.hq.push_seconds)

    def hq_sync(self, linger: float = 0.0) -> None:
        """The chain link: push and pull (branch) or apply the inbox (head office)."""
        if not self.hq:
            return
        with database.connection_context():
            if self.cfg.hq.role == "branch":
                self.hq.run_once(linger=linger, stop=self.stop, idle=self.cfg.hq.push_seconds)
            else:
                self.hq.run_once(linger=linger, stop=self.stop, idle=min(self.cfg.hq.push_seconds, 0.1))

    def fbr_push(self) -> int:
        """Report due invoices in order; the worker's breaker keeps a dead link from being hammered."""
        if not self.fbr:
            return 0
        with database.connection_context():
            counts = self.fbr.run_once()
            self._beat_fbr()
        return counts["accepted"]

    def poll_orders(self) -> None:
        if not self.client:
            return
        with database.connection_context():
            try:
                orders.poll(self.client, self.cfg.shopify.cod_gateways)
            except Exception as exc:  # noqa: BLE001 - shown in status; the next poll tries again
                log.warning("order poll failed: %s", exc)
                heartbeat.beat("orders", error=f"order poll failed: {exc}")

    def reconcile(self) -> None:
        if not self.client:
            return
        with database.connection_context():
            try:
                reconcile.run(self.client)
            except Exception as exc:  # noqa: BLE001
                log.warning("reconciliation failed: %s", exc)
                heartbeat.beat("reconcile", error=f"reconciliation failed: {exc}")

    def discount_codes(self) -> None:
        """Shopify's code discounts as the tills' coupons (issue 16), with the catalog's period."""
        if not self.client:
            return
        from .discounts import import_discount_codes
        with database.connection_context():
            try:
                stats = import_discount_codes(self.client)
                log.info("discount codes: %(discounts)d discounts, %(codes)d codes, %(skipped)d skipped", stats)
            except Exception as exc:  # noqa: BLE001 - the next pass tries again
                log.warning("discount codes not read: %s", exc)

    def expire_points(self) -> int:
        """Loyalty points whose time has come (issue 16), hourly: a balance is right the same day."""
        with database.connection_context():
            try:
                n = loyalty.expire()
            except Exception as exc:  # noqa: BLE001 - the next hour tries again
                log.warning("loyalty expiry failed: %s", exc)
                return 0
        if n:
            log.info("loyalty: %d points expired", n)
        return n

    def beat(self) -> None:
        with database.connection_context():
            self._beat_shopify()
            if self.looping:   # "the agent is running" comes from the loop alone (doctor, status)
                heartbeat.beat(heartbeat.AGENT_LOOP, detail={"pid": os.getpid()})

    def _beat_shopify(self) -> None:
        depths = outbox.queue_depths()
        kwargs = {"detail": {"queue": depths.get("shopify", {}), "pid": os.getpid()}}
        if self.shopify_via_hq:
            from pos_core import shopify_relay
            kwargs["detail"].update(via="head-office", where=shopify_relay.summary())
        if self.last_contact:
            kwargs["contact"] = self.last_contact
        if self.last_error is not None:
            kwargs["error"] = self.last_error
        heartbeat.beat("shopify", **kwargs)
        if self.cfg.fbr.mode != "off" or depths.get("fbr"):
            self._beat_fbr(depths)

    def _beat_fbr(self, depths: dict | None = None) -> None:
        depths = depths if depths is not None else outbox.queue_depths()
        detail = {"queue": depths.get("fbr", {}), "mode": self.cfg.fbr.mode}
        kwargs = {}
        if self.fbr:
            detail.update(self.fbr.state())
            if self.fbr.last_contact_at:
                kwargs["contact"] = self.fbr.last_contact_at
            kwargs["error"] = self.fbr.last_error
        heartbeat.beat("fbr", detail=detail, **kwargs)

    def catalog_pass(self, mode: str = "incremental") -> None:
        if not self.client:
            return
        with database.connection_context():
            try:
                catalog.import_catalog(self.client, self.cfg.shopify.locations, mode=mode,
                                       progress=catalog.TextProgress(enabled=False))
                self.last_contact = utcnow()
            except Exception as exc:  # noqa: BLE001 - the next pass tries again; the error is shown
                log.warning("catalog pass failed: %s", exc)
                heartbeat.beat(catalog.CURSOR_CHANNEL, error=f"catalog pass failed: {exc}")

    def nightly_backup(self) -> None:
        from pos_core import backup
        try:
            info = backup.nightly(self.cfg)
            log.info("nightly backup %s (%d bytes, %.1f s)", info.path.name, info.size, info.seconds)
        except Exception as exc:  # noqa: BLE001 - shown in status; tomorrow's run tries again
            log.warning("nightly backup failed: %s", exc)
            with database.connection_context():
                heartbeat.beat("backup", error=f"nightly backup failed: {exc}")
            return
        with database.connection_context():
            heartbeat.beat("backup", error="", detail={"last": info.path.name, "bytes": info.size})

    def reports_nightly(self) -> None:
        """The back office's summaries and reorder forecasts, brought up to date at night."""
        from pos_core import reports
        try:
            with database.connection_context():
                done = reports.nightly()
            log.info("back-office summaries refreshed: %s", done)
        except Exception as exc:  # noqa: BLE001 - the reports compute what they need on demand
            log.warning("back-office summaries failed: %s", exc)

    def watchdog(self) -> None:
        sdnotify.notify("WATCHDOG=1")

    # -- modes ----------------------------------------------------------------------------------
    def once(self) -> None:
        """Every job a single time. Refused (AgentRunning) while another agent holds the database."""
        with AgentLock():
            self.start_up()
            if self.client and self.polls_shopify:
                self.catalog_pass("auto")
                self.poll_orders()
            self.push()
            self.track_couriers()
            self.courier_daily()
            self.fbr_push()
            self.hq_sync()
            self.beat()

    def run(self) -> int:
        with AgentLock():   # held until the process ends; the OS or the server drops it on a crash
            return self._run()

    def _run(self) -> int:
        self.looping = True
        self.start_up()
        sched = BlockingScheduler(job_defaults=JOB_DEFAULTS, executors={"default": ThreadPoolExecutor(4)})
        self.scheduler = sched
        now = dt.datetime.now(dt.timezone.utc)
        sched.add_job(self.push, "interval", seconds=PUSH_SECONDS, kwargs={"linger": PUSH_SECONDS * 0.9},
                      id="outbox-push", next_run_time=now, replace_existing=True)
        sched.add_job(self.beat, "interval", seconds=HEARTBEAT_SECONDS, id="heartbeat",
                      next_run_time=now, replace_existing=True)
        if self.client and self.polls_shopify:
            sched.add_job(self.catalog_pass, "interval", seconds=CATALOG_SECONDS, id="catalog",
                          next_run_time=now + dt.timedelta(seconds=30), replace_existing=True)
            sched.add_job(self.discount_codes, "interval", seconds=CATALOG_SECONDS, id="discount-codes",
                          next_run_time=now + dt.timedelta(seconds=40), replace_existing=True)
            sched.add_job(self.poll_orders, "interval", seconds=self.cfg.shopify.poll_seconds, id="orders",
                          next_run_time=now + dt.timedelta(seconds=2), replace_existing=True)
            sched.add_job(self.reconcile, "interval", seconds=RECONCILE_SECONDS, id="reconcile",
                          next_run_time=now + dt.timedelta(minutes=5), replace_existing=True)
        ckpt_thread = None
        if database.obj is not None and db.is_sqlite():
            from .checkpointer import Checkpointer
            ckpt_thread = threading.Thread(target=Checkpointer(self.stop).run, name="wal-checkpoint", daemon=True)
        hq_thread = None
        if self.hq:
            # The chain link runs in a loop of its own, not as a scheduler job: a job's gap between
            # runs would add to the lag, and a run that catches up a backlog would be reported as
            # "skipped" runs. Each pass lingers HQ_SECONDS, looking for work every hq.push_seconds.
            hq_thread = threading.Thread(target=self._hq_loop, name="hq", daemon=True)
        if self.fbr:
            sched.add_job(self.fbr_push, "interval", seconds=1, id="fbr-push", next_run_time=now,
                          replace_existing=True)
        if self.couriers:
            sched.add_job(self.track_couriers, "interval", seconds=60, id="courier-tracking",
                          next_run_time=now + dt.timedelta(seconds=10), replace_existing=True)
            sched.add_job(self.courier_daily, "interval", hours=24, id="courier-daily",
                          next_run_time=now + dt.timedelta(seconds=45), replace_existing=True)
        sched.add_job(self.expire_points, "interval", hours=1, id="points-expiry",
                      next_run_time=now + dt.timedelta(minutes=1), replace_existing=True)
        if self.cfg.database_url.startswith("sqlite"):
            sched.add_job(self.nightly_backup, nightly_backup_trigger(), id="nightly-backup",
                          replace_existing=True)
        sched.add_job(self.reports_nightly, reports_nightly_trigger(), id="reports-nightly", replace_existing=True)
        period = sdnotify.watchdog_period()
        if period:
            sched.add_job(self.watchdog, "interval", seconds=period, id="watchdog", next_run_time=now)
        sched.add_listener(lambda ev: log.warning("scheduler: job %s %s", ev.job_id,
                                                  "missed" if ev.code == EVENT_JOB_MISSED else f"failed: {ev.exception}"),
                           EVENT_JOB_ERROR | EVENT_JOB_MISSED)

        def on_signal(signum, frame):
            if self.stop.is_set():   # a second signal (timeout(1) signals the group too): already stopping
                return
            log.info("signal %d: finishing the job in hand, then stopping", signum)
            sdnotify.notify("STOPPING=1")
            self.stop.set()
            sched.shutdown(wait=True)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        sdnotify.notify("READY=1", "STATUS=syncing")
        log.info("pos-agent running (shopify %s)", "on" if self.client else "off")
        if hq_thread is not None:
            hq_thread.start()
        if ckpt_thread is not None:
            ckpt_thread.start()
        sched.start()      # returns after shutdown
        if hq_thread is not None:
            hq_thread.join(30)   # the pass in hand ends at the stop event
        if ckpt_thread is not None:
            ckpt_thread.join(15)   # says "running: false" on its way out: the tills checkpoint again
        if self.client:
            self.client.close()
        if self.fbr:
            self.fbr.transport.close()
        if self.hq is not None and hasattr(self.hq, "close"):
            self.hq.close()
        log.info("pos-agent stopped")
        return 0
