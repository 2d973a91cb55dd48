"""The agent's heartbeat: one AgentHeartbeat row per channel, written by the agent, read by the till.

`beat()` is a short write transaction; `read()` returns plain dicts for a status bar or a CLI.
A channel's `detail` is free JSON (queue depths, the catalog cursor, counters); `beat` merges
the keys it is given into what is stored, so two writers of different keys do not erase each other.
"""
from __future__ import annotations

import datetime as dt

from . import db
from .models import AgentHeartbeat, utcnow

_UNSET = object()
# Written only by the running agent's scheduler loop (`pos-agent run`), never by `once`, a
# catalog import or another command: "is the agent running?" is answered from this row alone.
AGENT_LOOP = "agent"


def beat(channel: str, *, contact: bool | dt.datetime = False, error=_UNSET, detail: dict | None = None,
         now: dt.datetime | None = None) -> AgentHeartbeat:
    """Record that the agent is alive for `channel`.

    contact: True if the other side answered just now, or the time it last answered.
    error: the last error text ("" clears it; leave it out to keep the stored one).
    detail: keys merged into the stored detail.
    """
    now = now or utcnow()
    with db.write():
        row = AgentHeartbeat.get_or_none(AgentHeartbeat.channel == channel)
        if row is None:
            row = AgentHeartbeat(channel=channel, detail={})
            created = True
        else:
            created = False
        row.seen_at = now
        if isinstance(contact, dt.datetime):
            row.last_contact_at = contact
        elif contact:
            row.last_contact_at = now
        if error is not _UNSET:
            row.last_error = error or ""
        if detail:
            merged = dict(row.detail or {})
            merged.update(detail)
            row.detail = merged
        row.save(force_insert=created)
    return row


def get_detail(channel: str) -> dict:
    row = AgentHeartbeat.get_or_none(AgentHeartbeat.channel == channel)
    return dict(row.detail or {}) if row else {}


def read() -> list[dict]:
    """Every channel's row, oldest name first, as plain data."""
    return [{"channel": r.channel, "seen_at": r.seen_at, "last_contact_at": r.last_contact_at,
             "last_error": r.last_error, "detail": r.detail or {}}
            for r in AgentHeartbeat.select().order_by(AgentHeartbeat.channel)]


def age_seconds(row: dict, now: dt.datetime | None = None) -> float | None:
    """How long ago the agent last beat for this channel (None if never)."""
    seen = row.get("seen_at")
    if seen is None:
        return None
    return ((now or utcnow()) - seen).total_seconds()
