"""Sends due FBR jobs one at a time, in the order they were made.

A circuit breaker stops all attempts for a minute after FBR could not be reached, so the agent
neither hammers a dead link nor keeps the tills waiting for numbers that cannot come; the till
reads the breaker from the heartbeat and prints "offline" at once while it is open.
"""
from __future__ import annotations

import datetime as dt
import logging

from pos_core import fiscal
from pos_core.models import utcnow

from .transport import ACCEPTED, NOT_SENT, REJECTED, UNCERTAIN, FbrTransport

log = logging.getLogger("pos.agent.fbr")
BREAKER_SECONDS = 60


class FbrWorker:
    def __init__(self, transport: FbrTransport, clock=utcnow, repeat_usin_returns_original: bool = False):
        self.transport = transport
        self.clock = clock
        # fbr.repeat_usin_returns_original: an uncertain send is resent, not left for a person
        self.resend_uncertain = repeat_usin_returns_original
        self.breaker_until: dt.datetime | None = None
        self.offline_since: dt.datetime | None = None
        self.link_back_at: dt.datetime | None = None
        self.last_contact_at: dt.datetime | None = None
        self.last_error = ""

    def breaker_open(self) -> bool:
        return self.breaker_until is not None and self.clock() < self.breaker_until

    def run_once(self, limit: int = 20) -> dict:
        """Send what is due; returns counts by outcome."""
        counts = {ACCEPTED: 0, REJECTED: 0, NOT_SENT: 0, UNCERTAIN: 0}
        if self.breaker_open():
            return counts
        for job in fiscal.due_jobs(limit, now=self.clock()):
            if not fiscal.mark_sending(job):
                continue
            outcome = self.transport.post(job.payload["body"])
            counts[outcome.kind] += 1
            usin = job.payload.get("usin")
            if outcome.kind == ACCEPTED:
                fiscal.record_success(job, outcome.number, outcome.response or {}, self.transport.test_mode)
                self._link_up()
                log.info("fbr invoice %s accepted: %s", usin, outcome.number)
            elif outcome.kind == REJECTED:
                fiscal.record_rejection(job, outcome.message, outcome.response)
                self._link_up()
                log.warning("fbr invoice %s rejected: %s", usin, outcome.message)
            elif outcome.kind == NOT_SENT:
                fiscal.record_not_sent(job, outcome.message, now=self.clock())
                self._link_down(outcome.message)
                log.warning("fbr invoice %s not sent: %s", usin, outcome.message)
                break  # the breaker is open: leave the rest for later, in order
            else:
                fiscal.record_uncertain(job, outcome.message, resend=self.resend_uncertain, now=self.clock())
                self._link_down(outcome.message)
                if self.resend_uncertain:
                    log.warning("fbr invoice %s: outcome unknown, will resend the same USIN: %s", usin, outcome.message)
                else:
                    log.error("fbr invoice %s needs reconciliation: %s", usin, outcome.message)
                break
        return counts

    def _link_up(self) -> None:
        now = self.clock()
        if self.offline_since is not None:
            self.link_back_at, self.offline_since = now, None
        self.last_contact_at, self.breaker_until, self.last_error = now, None, ""

    def _link_down(self, message: str) -> None:
        now = self.clock()
        self.offline_since = self.offline_since or now
        self.breaker_until = now + dt.timedelta(seconds=BREAKER_SECONDS)
        self.last_error = message

    def state(self) -> dict:
        """What the heartbeat carries for the till and `pos-agent status`."""
        iso = lambda t: t.isoformat() if t else None  # noqa: E731
        alarm = fiscal.unsent_offline(self.link_back_at, now=self.clock())
        return {"breaker_open_until": iso(self.breaker_until) if self.breaker_open() else None,
                "offline_since": iso(self.offline_since), "link_back_at": iso(self.link_back_at),
                "offline_overdue": [o.number for o in alarm]}
