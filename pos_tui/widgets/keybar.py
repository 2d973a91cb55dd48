"""The key line at the bottom of each screen.

Textual 8.2.8's Footer rebuilds its key widgets every time the bindings change (each modal,
each focus change) and keeps the old ones alive through data-bind setters: about 20 widgets
a sale, 60 MB over 100 sales. The till's keys do not change while a screen is up, so this draws
them once as text, after the config's keymap has been applied.
"""
from __future__ import annotations

from rich.markup import escape
from textual.widgets import Static


def key_label(key: str) -> str:
    """ASCII names the Linux console can draw (Textual shows Enter as a symbol it may lack)."""
    names = {"enter": "Enter", "escape": "Esc", "delete": "Del", "up": "Up", "down": "Down", "tab": "Tab"}
    if key in names:
        return names[key]
    if key.startswith("ctrl+"):
        return "^" + key[5:].upper()
    if key[:1] == "f" and key[1:].isdigit():
        return key.upper()
    return key


class KeyBar(Static):
    DEFAULT_CSS = "KeyBar { height: 1; dock: bottom; padding: 0 1; }"

    def on_mount(self) -> None:
        self.call_after_refresh(self.show_keys)

    def show_keys(self) -> None:
        parts, seen = [], set()
        for key, active in self.screen.active_bindings.items():
            b = active.binding
            if not b.show or b.action in seen:
                continue
            seen.add(b.action)
            parts.append(f"[b reverse]{escape(key_label(key))}[/] {escape(b.description)}")
        self.update(" ".join(parts))
