"""The status line: counter, cashier, shift, and the sync agent's state.

Reads the database on a timer with two cheap queries (the heartbeat table and the outbox queue
depths, both indexed by status); it never talks to the network.
"""
from __future__ import annotations

import datetime as dt

from rich.markup import escape
from textual.widgets import Static

from pos_core import outbox
from pos_core.models import AgentHeartbeat, utcnow

STALE_AFTER = dt.timedelta(minutes=2)


def _ago(when: dt.datetime | None) -> str:
    if when is None:
        return "never"
    s = int((utcnow() - when).total_seconds())
    if s < 60:
        return f"{max(s, 0)}s ago"
    if s < 3600:
        return f"{s // 60}m ago"
    return f"{s // 3600}h ago"


def agent_text() -> str:
    depths = outbox.queue_depths()
    beats = {b.channel: b for b in AgentHeartbeat.select()}
    parts = []
    for channel, label in ((outbox.SHOPIFY, "Shopify"), (outbox.FBR, "FBR")):
        d = depths.get(channel, {})
        waiting = d.get(outbox.PENDING, 0) + d.get(outbox.SENDING, 0)
        bad = d.get(outbox.FAILED, 0) + d.get(outbox.NEEDS_RECONCILIATION, 0)
        text = f"{label} {waiting}q"
        if bad:
            text += f" [bold red]{bad} FAILED[/]"
        parts.append(text)
    seen = max((b.seen_at for b in beats.values() if b.seen_at), default=None)
    contact = max((b.last_contact_at for b in beats.values() if b.last_contact_at), default=None)
    if seen is None or utcnow() - seen > STALE_AFTER:
        parts.append("[bold red]agent down[/]")
    else:
        parts.append(f"online {_ago(contact)}")
    return " ".join(parts)


class StatusBar(Static):
    """One line; `refresh_status` is called by the app's timer and after each sale."""

    def on_mount(self) -> None:
        self.refresh_status()
        self.set_interval(5, self.refresh_status)

    def refresh_status(self) -> None:
        app = self.app
        who = f"{escape(app.staff.name)} ({app.staff.role})" if app.staff else "signed out"
        shift = app.shift
        shift_text = f"shift #{shift.id}" if shift else "[bold red]no shift[/]"
        try:
            agent = agent_text()
        except Exception:  # noqa: BLE001 - a status line must never take the till down
            agent = "[red]status unavailable[/]"
        self.update(f"{app.counter.label} | {who} | {shift_text} | {agent}")
