"""The agent's `hq` channel at the head office: apply what branches pushed, retry what is parked.

Nothing here connects to a branch; branches come to the head office's PostgreSQL themselves.
"""
from __future__ import annotations

import logging
import time

from pos_core import heartbeat, hq, shopify_relay
from pos_core.models import utcnow

log = logging.getLogger("sync_agent.hq")
CHANNEL = "hq"
RETRY_PARKED_SECONDS = 5.0
PUBLISH_SECONDS = 0.5


class HeadOffice:
    def __init__(self):
        self.last_retry = 0.0
        self.last_publish = 0.0
        self.applied = 0

    def run_once(self, linger: float = 0.0, stop=None, idle: float = 0.1) -> dict:
        total = {"applied": 0, "parked": 0}
        deadline = time.monotonic() + linger
        while True:
            counts = hq.apply_inbox()
            for k in total:
                total[k] += counts[k]
            # where the branches' Shopify jobs sent here have got to, for them to pull (issue 14)
            if time.monotonic() - self.last_publish >= PUBLISH_SECONDS:
                self.last_publish = time.monotonic()
                shopify_relay.publish()
            if time.monotonic() - self.last_retry >= RETRY_PARKED_SECONDS:
                self.last_retry = time.monotonic()
                fixed = hq.retry_parked()
                total["applied"] += fixed["applied"]
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                break
            if not counts["applied"] and not counts["parked"]:
                (stop.wait(idle) if stop is not None else time.sleep(idle))
        self.applied += total["applied"]
        if total["applied"] or total["parked"]:
            log.info("hq: applied %d, parked %d", total["applied"], total["parked"])
        self.beat()
        return total

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
