"""Helpers for the back-office pilot tests (kept apart from the till's kit on purpose)."""
from __future__ import annotations

import html
import re

from pos_core import config as configmod


def office_config(tmp_path, url: str, **sections) -> configmod.Config:
    data = {"database": {"url": url}, "site": {"name": "Gulberg Fashion House"},
            "printer": {"kind": "file", "path": str(tmp_path / "printer.bin"), "width": 48,
                        "header": ["Gulberg Fashion House"]}}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return configmod.parse(data, tmp_path / "pos.toml")


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def type_text(pilot, text: str, enter: bool = False) -> None:
    from textual import events
    from textual.keys import _character_to_key
    for ch in text:
        pilot.app.post_message(events.Key(ch if ch.isalnum() else _character_to_key(ch), ch))
    if enter:
        pilot.app.post_message(events.Key("enter", "\r"))
    await pilot.pause()
    await settle(pilot)


def screen_text(app) -> str:
    """What the terminal shows, as plain text (from the screenshot's text spans)."""
    svg = app.export_screenshot()
    rows: dict[int, list[str]] = {}
    for x, line, text in re.findall(r'<text [^>]*x="([\d.]+)"[^>]*line-(\d+)\)"[^>]*>([^<]*)</text>', svg):
        text = html.unescape(text).replace("\xa0", " ").rstrip("\n")
        row = rows.setdefault(int(line), [])
        col = round(float(x) / 12.2)
        if len(row) < col:
            row.extend(" " * (col - len(row)))
        row[col:col + len(text)] = list(text)
    return "\n".join("".join(rows.get(i, [])).rstrip() for i in range(max(rows, default=-1) + 1))
