"""The status line: counter, cashier, shift, the sync agent's state, FBR's link and the scanner.

Reads the database on a timer with two cheap queries (the heartbeat table and the outbox queue
depths, both indexed by status); it never talks to the network. FBR's part comes from the agent's
"fbr" heartbeat detail: "FBR offline since HH:MM" while the circuit breaker is open or the link
is down, and a red ALARM when offline invoices are still unsent 20 hours after the link came back.
"""
from __future__ import annotations

import datetime as dt
import logging

from rich.markup import escape
from textual.widgets import Static

from pos_core import outbox
from pos_core.models import AgentHeartbeat, utcnow

STALE_AFTER = dt.timedelta(minutes=2)
PK_OFFSET = dt.timedelta(hours=5)


def _when(value) -> dt.datetime | None:
    """A heartbeat time (ISO text, naive UTC) as a datetime; None when missing or unreadable."""
    if isinstance(value, dt.datetime):
        return value
    if not value:
        return None
    try:
        t = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None) if t.tzinfo else t


def breaker_open(detail: dict, now: dt.datetime | None = None) -> bool:
    until = _when(detail.get("breaker_open_until"))
    return until is not None and until > (now or utcnow())


def fbr_breaker_open(now: dt.datetime | None = None) -> bool:
    """The agent's FBR circuit breaker is open: FBR was unreachable a moment ago (one query)."""
    row = AgentHeartbeat.get_or_none(AgentHeartbeat.channel == outbox.FBR)
    return bool(row) and breaker_open(row.detail or {}, now)


def fbr_text(detail: dict, now: dt.datetime | None = None) -> str:
    """The FBR link part of the status line ("" when all is well)."""
    parts = []
    since = _when(detail.get("offline_since"))
    if breaker_open(detail, now) and since is None:
        since = now or utcnow()
    if since is not None:
        parts.append(f"[bold]FBR offline since {(since + PK_OFFSET):%H:%M}[/]")
    overdue = detail.get("offline_overdue") or []
    if overdue:
        parts.append(f"[bold white on red] ALARM {len(overdue)} FBR unsent 20h [/]")
    return " ".join(parts)


def hq_text(detail: dict, last_contact: dt.datetime | None) -> str:
    """The head-office link (a chain branch): "HQ 0q", or "HQ down 42q 5m" with the oldest unsent
    change's age. Read from the agent's heartbeat row: the till never waits on the link."""
    pending = int(detail.get("pending") or 0)
    lag = float(detail.get("lag_s") or 0)
    parked = int(detail.get("parked_up") or 0) + int(detail.get("parked_down") or 0)
    text = f"HQ {pending}q"
    if detail.get("rewound"):
        # restored from an older backup: nothing is pushed until `pos-admin branch recover`
        text = f"[bold red]HQ stopped: restored[/] {pending}q"
    elif not detail.get("up"):
        text = f"[bold]HQ down[/] {pending}q"
        if pending and lag >= 1:
            text += f" {_span(lag)}"
        elif last_contact is None:
            text += " never"
    elif lag >= 10:
        text += f" {_span(lag)}"
    if parked:
        text += f" [bold red]{parked} parked[/]"
    return text


def hq_lines(limit: int = 3) -> list[str]:
    """For the sync screen: the head-office link in words and the rows this branch could not
    apply, with their reasons ([] on a single shop)."""
    from pos_core.models import ChainParked
    row = AgentHeartbeat.get_or_none(AgentHeartbeat.channel == "hq")
    if row is None:
        return []
    d = row.detail or {}
    state = "up" if d.get("up") else "DOWN"
    lines = [f"Head office link {state}: {int(d.get('pending') or 0)} change(s) waiting"
             f"{', oldest ' + _span(float(d.get('lag_s') or 0)) if d.get('pending') else ''}; "
             f"{int(d.get('parked_up') or 0)} parked at the head office (pos-admin hq parked there)"]
    if d.get("rewound"):
        lines.append("[bold red]Nothing is pushed to the head office[/]: this database was restored from "
                     "an older backup. Keep selling; a technician runs `pos-admin branch recover`.")
    if row.last_error:
        lines.append(escape(row.last_error))
    parked = list(ChainParked.select().where(ChainParked.resolved_at.is_null()).order_by(ChainParked.id).limit(limit))
    for p in parked:
        lines.append(f"[bold red]not applied here[/] {escape(p.table_name)} {escape(p.key)}: {escape(p.reason)}")
    return lines


def _span(seconds: float) -> str:
    s = int(seconds)
    return f"{s}s" if s < 60 else f"{s // 60}m" if s < 3600 else f"{s // 3600}h"


def _ago(when: dt.datetime | None) -> str:
    if when is None:
        return "never"
    s = int((utcnow() - when).total_seconds())
    if s < 60:
        return f"{max(s, 0)}s ago"
    if s < 3600:
        return f"{s // 60}m ago"
    return f"{s // 3600}h ago"


def agent_parts() -> tuple[str, str, str]:
    """(queues, FBR link, agent) markup for the status line."""
    depths = outbox.queue_depths()
    beats = {b.channel: b for b in AgentHeartbeat.select()}
    parts = []
    # a chain branch whose Shopify jobs the head office sends (issue 14): its queue is theirs too
    via_hq = ((beats.get(outbox.SHOPIFY) and beats[outbox.SHOPIFY].detail) or {}).get("via") == "head-office"
    for channel, label in ((outbox.SHOPIFY, "Shopify via HQ" if via_hq else "Shopify"), (outbox.FBR, "FBR")):
        d = depths.get(channel, {})
        waiting = d.get(outbox.PENDING, 0) + d.get(outbox.SENDING, 0)
        bad = d.get(outbox.FAILED, 0) + d.get(outbox.NEEDS_RECONCILIATION, 0)
        text = f"{label} {waiting}q"
        if bad:
            text += f" [bold red]{bad} FAILED[/]"
        parts.append(text)
    hq_beat = beats.get("hq")
    if hq_beat is not None:
        parts.append(hq_text(hq_beat.detail or {}, hq_beat.last_contact_at))
    d = depths.get("courier", {})   # parcels to be booked with a courier (issue 18), only when there are
    if any(d.get(k, 0) for k in (outbox.PENDING, outbox.SENDING, outbox.FAILED, outbox.NEEDS_RECONCILIATION)):
        text = f"Parcels {d.get(outbox.PENDING, 0) + d.get(outbox.SENDING, 0)} to book"
        bad = d.get(outbox.FAILED, 0) + d.get(outbox.NEEDS_RECONCILIATION, 0)
        parts.append(text + (f" [bold red]{bad} refused[/]" if bad else ""))
    fbr_beat = beats.get(outbox.FBR)
    link = fbr_text(fbr_beat.detail or {}) if fbr_beat is not None else ""
    seen = max((b.seen_at for b in beats.values() if b.seen_at), default=None)
    contact = max((b.last_contact_at for b in beats.values() if b.last_contact_at), default=None)
    if seen is None or utcnow() - seen > STALE_AFTER:
        agent = "[bold red]agent down[/]"
    else:
        agent = f"online {_ago(contact)}"
    return " ".join(parts), link, agent


def agent_text() -> str:
    queues, link, agent = agent_parts()
    return " ".join(p for p in (queues, link, agent) if p)


def _cells(markup: str) -> int:
    from rich.text import Text
    return Text.from_markup(markup).cell_len


def fit(candidates: list[list[str]], width: int) -> str:
    """The first (richest) candidate line that fits `width` cells; else the last one, cut."""
    lines = [" | ".join(p for p in parts if p) for parts in candidates]
    for line in lines:
        if _cells(line) <= width:
            return line
    return lines[-1]


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
            queues, link, agent = agent_parts()
            self._failed = False
        except Exception:  # noqa: BLE001 - a status line must never take the till down
            if not getattr(self, "_failed", False):  # once per outage, not every 5 s
                logging.getLogger("pos_tui").exception("status line: reading the database")
            self._failed = True
            queues, link, agent = "[red]status unavailable[/]", "", ""
        # Which scanner path is live, shown when an evdev device is configured (it may have failed).
        scanner = ""
        if app.cfg.scanner.device:
            scanner = "scan:evdev" if getattr(app, "scanner_reader", None) is not None else "[bold]scan:kbd[/]"
        name = escape(app.staff.name) if app.staff else "signed out"
        label = app.counter.label
        width = self.size.width or app.size.width or 80
        # Richest first; an FBR outage or alarm moves to the front and the rest gives way.
        if link:
            candidates = [[label, link, queues, who, agent], [label, link, queues, name, agent],
                          [label, link, queues, agent], [label, link, queues], [link, queues], [link]]
        else:
            candidates = [[label, who, shift_text, queues + " " + agent, scanner],
                          [label, name, shift_text, queues + " " + agent, scanner],
                          [label, name, queues + " " + agent, scanner],
                          [label, who, shift_text, queues + " " + agent],
                          [label, name, shift_text, queues + " " + agent], [label, name, queues + " " + agent],
                          [label, queues + " " + agent]]
        self.update(fit(candidates, width))
