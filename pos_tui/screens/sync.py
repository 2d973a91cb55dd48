"""Ctrl+Y: what is waiting for Shopify and FBR, what failed and why, and what a supervisor can do.

FBR invoices show as PENDING (not yet reported: offline or queued), REJECTED (FAILED with FBR's
reason) or RECONCILE (NEEDS_RECONCILIATION: the request may have reached FBR and nobody knows the
outcome). For a RECONCILE invoice a supervisor looks in FBR's portal, then either resends the same
USIN (F5, `outbox.retry`) or records the number the portal shows (F6, `fiscal.settle`). Shopify
jobs are retried with F5 as before. Each action needs a supervisor: the one signed in, or a PIN.
"""
from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Label, Static

from pos_core import fiscal, outbox, staff as staffmod
from pos_core.models import OutboxJob, PosOrder

from .. import work
from ..receipts import pk_time
from ..widgets.keybar import KeyBar
from ..widgets.status import StatusBar, hq_lines
from ..ui import show_msg

SHOWN = (outbox.PENDING, outbox.SENDING, outbox.FAILED, outbox.NEEDS_RECONCILIATION)
# What a job's status is called on this screen, per channel, and how it is drawn.
FBR_LABELS = {outbox.PENDING: "PENDING", outbox.SENDING: "SENDING", outbox.FAILED: "REJECTED",
              outbox.NEEDS_RECONCILIATION: "RECONCILE"}
SHOPIFY_LABELS = {outbox.PENDING: "PENDING", outbox.SENDING: "SENDING", outbox.FAILED: "FAILED",
                  outbox.NEEDS_RECONCILIATION: "ATTENTION"}
STYLES = {"PENDING": "yellow", "SENDING": "yellow", "FAILED": "bold red", "REJECTED": "bold red",
          "RECONCILE": "bold red", "ATTENTION": "bold red", "WAITING": "bold red"}
# A credit note behind a rejected or uncertain original is PENDING to the agent, but it will never
# go until a person settles the original: it is shown as WAITING, with the reason.


def status_label(job: OutboxJob) -> str:
    return (FBR_LABELS if job.channel == outbox.FBR else SHOPIFY_LABELS).get(job.status, job.status)


def check_fiscal_number(text: str):
    number = text.strip()
    if not (8 <= len(number) <= 40) or any(ch.isspace() for ch in number):
        return None, "type the number as the portal shows it (8-40 chars)"
    return number, None


class SyncScreen(Screen):
    SCANS = None
    waiting: dict[str, str] = {}   # job uid -> why it waits for a person (set by reload)
    BINDINGS = [
        Binding("escape", "back", "Back", id="sync.back"),
        Binding("f5", "retry", "Retry/resend", id="sync.retry", priority=True),
        Binding("f6", "settle", "FBR no.", id="sync.settle", priority=True),
        Binding("up", "move(-1)", "Up", show=False, id="sync.up"),
        Binding("down", "move(1)", "Down", show=False, id="sync.down"),
    ]

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Label("Waiting and failed sync jobs (newest first)", classes="dialog-title", id="sync-title")
        yield Static(id="hq-link")
        yield DataTable(id="jobs", cursor_type="row")
        yield Static(id="job-error")
        yield Label("", id="msg")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#jobs", DataTable)
        for label, width in (("Channel", 7), ("Kind", 12), ("Document", 16), ("Status", 9), ("Tries", 5),
                             ("Created", 11)):
            table.add_column(label, width=width)
        table.focus()
        self.reload()

    def show_message(self, text: str, error: bool = False) -> None:
        show_msg(self, text, error)

    @work.guarded("Reading the sync queue")
    def reload(self) -> None:
        hq = hq_lines()     # a chain branch: the head-office link and rows not applied here
        self.query_one("#hq-link", Static).update("\n".join(hq))
        self.query_one("#hq-link", Static).display = bool(hq)
        table = self.query_one("#jobs", DataTable)
        table.clear()
        jobs = list(OutboxJob.select().where(OutboxJob.status.in_(SHOWN)).order_by(OutboxJob.id.desc()).limit(200))
        numbers = dict(PosOrder.select(PosOrder.uid, PosOrder.number)
                       .where(PosOrder.uid.in_([j.doc_ref for j in jobs])).tuples()) if jobs else {}
        self.jobs, self.numbers = jobs, numbers
        self.waiting = {j.uid: why for j, why in fiscal.needing_person() if j.status == outbox.PENDING}
        for j in jobs:
            label = "WAITING" if j.uid in self.waiting else status_label(j)
            style = STYLES.get(label)
            # a chain branch's Shopify job the head office sends (issue 14)
            table.add_row("shop>HQ" if j.via_hq else j.channel, j.kind[:12], numbers.get(j.doc_ref) or j.doc_ref[:16],
                          f"[{style}]{label}[/]" if style else label,
                          str(j.attempts), pk_time(j.created_at, "%d-%m %H:%M"), key=j.uid)
        self.query_one("#sync-title", Label).update(self.summary(jobs, self.waiting))
        self.show_message(f"{len(jobs)} jobs waiting or failed" if jobs else "Nothing waiting: all synced")
        self.show_error()

    @staticmethod
    def summary(jobs: list[OutboxJob], waiting: dict | None = None) -> str:
        waiting = waiting or {}
        fbr = ["WAITING" if j.uid in waiting else status_label(j) for j in jobs if j.channel == outbox.FBR]
        shop = [j for j in jobs if j.channel != outbox.FBR]
        parts = []
        if fbr:
            parts.append("FBR: " + ", ".join(f"{fbr.count(s)} {s.lower()}" for s in
                                             ("PENDING", "SENDING", "WAITING", "REJECTED", "RECONCILE")
                                             if fbr.count(s)))
        if shop:
            parts.append(f"Shopify: {len(shop)} waiting or failed")
        return "  ".join(parts) or "Waiting and failed sync jobs"

    def current(self) -> OutboxJob | None:
        if not self.jobs:
            return None
        return self.jobs[min(self.query_one("#jobs", DataTable).cursor_row, len(self.jobs) - 1)]

    def show_error(self) -> None:
        job = self.current()
        text = ""
        if job is not None and job.channel == outbox.FBR:
            if job.uid in self.waiting:
                text = f"Waiting for a person: {self.waiting[job.uid]}"
            elif job.status == outbox.FAILED:
                text = f"Rejected by FBR: {job.last_error or 'no reason given'}\nF5 sends it again as it is"
            elif job.status == outbox.NEEDS_RECONCILIATION:
                text = (f"Outcome unknown: {job.last_error or 'no answer from FBR'}\nLook in FBR's portal: "
                        f"F5 resend same USIN (not there) / F6 record FBR's number (there)")
            elif job.last_error:
                text = f"Not reported yet: {job.last_error}"
        elif job is not None and job.via_hq:
            text = f"Sent by the head office: {job.last_error or 'waiting there'}"
            if job.status in (outbox.FAILED, outbox.NEEDS_RECONCILIATION):
                text += "\nF5 asks the head office to retry it"
        elif job is not None and job.last_error:
            text = f"Error: {job.last_error}"
        self.query_one("#job-error", Static).update(escape(text))

    def action_move(self, step: int) -> None:
        table = self.query_one("#jobs", DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + step)))
            self.show_error()

    def action_back(self) -> None:
        self.app.pop_screen()

    def _as_supervisor(self, what: str, then) -> None:
        """Run `then(person)` as the signed-in supervisor, or after a supervisor's PIN."""
        app = self.app
        if staffmod.may(app.staff, "retry_sync"):
            then(app.staff)
        else:
            app.open("approval", f"{what} needs a supervisor", lambda s: staffmod.may(s, "retry_sync"), then=lambda person: then(person) if person is not None else None)

    def action_retry(self) -> None:
        job = self.current()
        if job is None:
            return
        if job.status not in (outbox.FAILED, outbox.NEEDS_RECONCILIATION):
            self.show_message("Only a failed job can be retried; this one is still waiting", True)
            return
        fbr_usin = job.channel == outbox.FBR and job.status == outbox.NEEDS_RECONCILIATION
        what = "Resending the same USIN to FBR" if fbr_usin else "Retrying a sync job"

        def retry(person) -> None:
            work.run(self, lambda: outbox.retry(job.uid, person.id), lambda _: retried(person),
                     busy=None, what="Retrying the job")

        def retried(person) -> None:
            self.reload()
            if fbr_usin:
                number = self.numbers.get(job.doc_ref, job.doc_ref)
                self.show_message(f"{number} will be sent to FBR again with the same USIN "
                                  f"(resent by {person.name})")
            elif job.via_hq:
                self.show_message(f"Retry asked of the head office (by {person.name}); it goes with the next sync")
            else:
                self.show_message(f"Job queued again (retried by {person.name})")
        self._as_supervisor(what, retry)

    def action_settle(self) -> None:
        job = self.current()
        if job is None or job.channel != outbox.FBR or job.status != outbox.NEEDS_RECONCILIATION:
            self.show_message("F6 records FBR's number for an FBR invoice marked RECONCILE", True)
            return
        number_of = self.numbers.get(job.doc_ref, job.doc_ref)

        def settle(person, number) -> None:
            from pos_core import fiscal
            if number is None:
                return

            def settled(_) -> None:
                self.reload()
                self.show_message(f"{number_of}: FBR number {number} recorded by {person.name}; "
                                  "Ctrl+R/orders reprints")
            work.run(self, lambda: fiscal.settle(job.uid, number, person.id), settled, busy=None,
                     what="Recording the FBR number")

        def ask(person) -> None:
            self.app.open("prompt", "FBR number from the portal",
                                              f"Invoice {escape(number_of)}\nFBR invoice number as the portal shows it:",
                                              check_fiscal_number, then=lambda number: settle(person, number))
        self._as_supervisor("Recording an FBR number", ask)
