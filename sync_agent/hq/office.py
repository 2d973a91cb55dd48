"""The agent's `hq` channel at the head office: apply what branches pushed, retry what is parked.

Nothing here connects to a branch; branches come to the head office's PostgreSQL themselves.
"""
from __future__ import annotations

import logging
import threading
import time

from pos_core import db, heartbeat, hq, shopify_relay
from pos_core.models import utcnow

log = logging.getLogger("sync_agent.hq")
CHANNEL = "hq"
RETRY_PARKED_SECONDS = 5.0
PRUNE_SECONDS = 60.0
PUBLISH_SECONDS = 0.5
# Appliers working at once, each on its own connection and its own share of the branches: one
# applier leaves a core idle while it waits on PostgreSQL (half its time), two keep both busy.
APPLIERS = 2


class HeadOffice:
    def __init__(self, appliers: int = APPLIERS, keep_days: float = 7):
        self.last_retry = 0.0
        self.last_prune = -PRUNE_SECONDS
        self.last_publish = 0.0
        self.applied = 0
        self.appliers = max(1, appliers)
        self.keep_days = keep_days

    def run_once(self, linger: float = 0.0, stop=None, idle: float = 0.1) -> dict:
        total = {"applied": 0, "parked": 0}
        deadline = time.monotonic() + linger
        n = self.appliers
        shares = [{"applied": 0, "parked": 0} for _ in range(1, n)]
        halt = threading.Event()      # set when this pass's main loop ends, however it ends
        helpers = [threading.Thread(target=self._share, args=((k, n), deadline, halt, idle, shares[k - 1]),
                                    name=f"hq-apply-{k}", daemon=True) for k in range(1, n)]
        for h in helpers:
            h.start()
        try:
            self._main_share(n, deadline, stop, idle, total)
        finally:
            halt.set()
            for h in helpers:     # never two appliers on one share: the next pass starts anew
                h.join()
        for share in shares:
            for k in total:
                total[k] += share[k]
        self.applied += total["applied"]
        if total["applied"] or total["parked"]:
            log.info("hq: applied %d, parked %d", total["applied"], total["parked"])
        self.beat()
        return total

    def _main_share(self, n, deadline, stop, idle, total) -> None:
        """Share 0 of the inbox, and the head office's periodic work (publish, retry, prune)."""
        while True:
            counts = hq.apply_inbox(part=(0, n))
            for k in total:
                total[k] += counts[k]
            # where the branches' Shopify jobs sent here have got to, for them to pull (issue 14)
            if time.monotonic() - self.last_publish >= PUBLISH_SECONDS:
                shopify_relay.publish(full=not self.last_publish)   # every job once after a start
                self.last_publish = time.monotonic()
            if time.monotonic() - self.last_retry >= RETRY_PARKED_SECONDS:
                self.last_retry = time.monotonic()
                fixed = hq.retry_parked()
                total["applied"] += fixed["applied"]
            if time.monotonic() - self.last_prune >= PRUNE_SECONDS:
                self.last_prune = time.monotonic()
                # the head office's own change log, below what every branch has pulled
                hq.prune(self.keep_days)
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                break
            if not counts["applied"] and not counts["parked"] and not counts.get("retried"):
                (stop.wait(idle) if stop is not None else time.sleep(idle))

    @staticmethod
    def _share(part, deadline, halt, idle, total) -> None:
        """Another applier, on its own connection, for its share of the branches (until `deadline`)."""
        try:
            with db.database.connection_context():
                while True:
                    counts = hq.apply_inbox(part=part)
                    for k in ("applied", "parked"):
                        total[k] += counts[k]
                    if time.monotonic() >= deadline or halt.is_set():
                        return
                    if not counts["applied"] and not counts["parked"] and not counts.get("retried"):
                        halt.wait(idle)
        except Exception as exc:  # noqa: BLE001 - this share waits for the next pass
            log.warning("hq applier %d/%d: %s", part[0], part[1], exc)

    def beat(self) -> None:
        # Cheap on purpose (index-only counts): it runs after every pass.
        d = hq.db.database
        counts = dict(d.execute_sql("SELECT status, count(*) FROM hq_inbox WHERE status IN ('NEW', 'PARKED') "
                                    "GROUP BY status").fetchall())
        n, lag = d.execute_sql("SELECT count(*), coalesce(max(EXTRACT(EPOCH FROM (timezone('utc', now()) "
                               "- oldest_pending_at))), 0) FROM hq_branch_link").fetchone()
        heartbeat.beat(CHANNEL, contact=utcnow(), error="", detail={
            "role": "head-office", "branches": n, "up": True, "pending": counts.get("NEW", 0),
            "parked_up": counts.get("PARKED", 0), "lag_s": round(float(lag), 1)})
