"""Ctrl+Y: what is waiting for Shopify and FBR, what failed and why, and retry (supervisor)."""
from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Label, Static

from pos_core import outbox, staff as staffmod
from pos_core.errors import PosError
from pos_core.models import OutboxJob, PosOrder

from ..receipts import pk_time
from ..widgets.keybar import KeyBar
from ..widgets.status import StatusBar
from .dialogs import ApprovalScreen
from .orders import _msg, styled

SHOWN = (outbox.PENDING, outbox.SENDING, outbox.FAILED, outbox.NEEDS_RECONCILIATION)


class SyncScreen(Screen):
    SCANS = None
    BINDINGS = [
        Binding("escape", "back", "Back", id="sync.back"),
        Binding("f5", "retry", "Retry job", id="sync.retry", priority=True),
        Binding("up", "move(-1)", "Up", show=False, id="sync.up"),
        Binding("down", "move(1)", "Down", show=False, id="sync.down"),
    ]

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Label("Waiting and failed sync jobs (newest first)", classes="dialog-title")
        yield DataTable(id="jobs", cursor_type="row")
        yield Static(id="job-error")
        yield Label("", id="msg")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#jobs", DataTable)
        for label, width in (("Channel", 7), ("Kind", 16), ("Document", 16), ("Status", 10), ("Tries", 5),
                             ("Created", 11)):
            table.add_column(label, width=width)
        table.focus()
        self.reload()

    def show_message(self, text: str, error: bool = False) -> None:
        _msg(self, text, error)

    def reload(self) -> None:
        table = self.query_one("#jobs", DataTable)
        table.clear()
        jobs = list(OutboxJob.select().where(OutboxJob.status.in_(SHOWN)).order_by(OutboxJob.id.desc()).limit(200))
        numbers = dict(PosOrder.select(PosOrder.uid, PosOrder.number)
                       .where(PosOrder.uid.in_([j.doc_ref for j in jobs])).tuples()) if jobs else {}
        self.jobs = jobs
        for j in jobs:
            status = "ATTENTION" if j.status == outbox.NEEDS_RECONCILIATION else j.status
            table.add_row(j.channel, j.kind[:16], numbers.get(j.doc_ref) or j.doc_ref[:16],
                          styled(status if status != "ATTENTION" else "NEEDS_ATTENTION"),
                          str(j.attempts), pk_time(j.created_at, "%d-%m %H:%M"), key=j.uid)
        self.show_message(f"{len(jobs)} jobs waiting or failed" if jobs else "Nothing waiting: all synced")
        self.show_error()

    def show_error(self) -> None:
        table = self.query_one("#jobs", DataTable)
        job = self.jobs[table.cursor_row] if self.jobs else None
        text = f"Error: {job.last_error}" if job and job.last_error else ""
        self.query_one("#job-error", Static).update(escape(text))

    def action_move(self, step: int) -> None:
        table = self.query_one("#jobs", DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + step)))
            self.show_error()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_retry(self) -> None:
        if not self.jobs:
            return
        job = self.jobs[self.query_one("#jobs", DataTable).cursor_row]
        app = self.app

        def retry(person) -> None:
            if person is None:
                return
            try:
                outbox.retry(job.uid, person.id)
            except PosError as exc:
                self.show_message(str(exc), True)
                return
            self.reload()
            self.show_message(f"Job queued again (retried by {person.name})")
        if staffmod.may(app.staff, "retry_sync"):
            retry(app.staff)
        else:
            app.push_screen(ApprovalScreen("Retrying a sync job needs a supervisor",
                                           lambda s: staffmod.may(s, "retry_sync")), retry)
