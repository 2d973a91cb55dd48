"""Sign-in with a PIN. Five wrong PINs in a row lock the counter for a minute."""
from __future__ import annotations

import os

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, Label


class SignInScreen(Screen):
    SCANS = None  # a PIN is never a barcode

    def compose(self) -> ComposeResult:
        app = self.app
        with Vertical(id="signin", classes="dialog"):
            yield Label(escape(app.cfg.site_name), classes="dialog-title")
            yield Label(f"Counter {app.counter.label} - {escape(app.counter.branch.name)}")
            yield Label("Enter your PIN and press Enter:")
            yield Input(password=True, id="pin", max_length=8)
            yield Label("", id="signin-msg", classes="error")
            yield Label("F1: keys   Ctrl+Q: quit", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#pin", Input).focus()
        self.tick()
        self.set_interval(1, self.tick)
        if os.environ.get("POS_PROFILE_STARTUP"):
            # benchmarks/till.py: measure cold start to the first painted sign-in screen.
            self.call_after_refresh(self.app.exit)

    def tick(self) -> None:
        left = self.app.lock_left()
        pin = self.query_one("#pin", Input)
        if left:
            pin.disabled = True
            self.show_message(f"Counter locked after 5 wrong PINs: try again in {left} s", True)
        elif pin.disabled:
            pin.disabled = False
            pin.focus()
            self.show_message("", False)

    def show_message(self, text: str, error: bool = False) -> None:
        label = self.query_one("#signin-msg", Label)
        label.set_class(error, "error")
        label.update(escape(text))

    @on(Input.Submitted, "#pin")
    def submitted(self, event: Input.Submitted) -> None:
        pin = event.value.strip()
        event.input.value = ""
        if not pin:
            return
        self.show_message("Checking...")
        self.app.try_pin(pin)

    def refused(self, tries_left: int) -> None:
        if tries_left:
            self.show_message(f"PIN not recognised ({tries_left} tries left)", True)
        self.tick()
