"""Shared set-up for the till tests: a demo database built once and copied per test, a config
pointing at it, and small pilot helpers. (No tests here; the name keeps it with the till's files.)"""
from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest

from pos_core import config as configmod, db as dbmod, demo, migrations, shifts
from pos_core.models import Barcode, Staff, Variant

_TEMPLATE: dict[str, Path] = {}


def demo_db(tmp_path_factory) -> Path:
    if "path" not in _TEMPLATE:
        path = tmp_path_factory.mktemp("till-template") / "pos.db"
        dbmod.open_database(f"sqlite:///{path}")
        migrations.init()
        demo.build()
        dbmod.close()
        _TEMPLATE["path"] = path
    return _TEMPLATE["path"]


def make_config(tmp_path: Path, db_path: Path, **sections) -> configmod.Config:
    data = {
        "database": {"url": f"sqlite:///{db_path}"},
        "site": {"name": "Gulberg Fashion House"},
        "counter": {"branch": "LHR1", "code": "C1"},
        "printer": {"kind": "file", "path": str(tmp_path / "printer.bin"), "width": 48,
                    "header": ["Gulberg Fashion House", "Main Boulevard, Lahore"], "footer": ["Thank you"]},
        # Pilot types far faster than a person; a long minimum keeps typed test input from
        # looking like a scanner burst. The scanner test sets its own values.
        "scanner": {"min_length": 64, "max_gap_ms": 50},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return configmod.parse(data, tmp_path / "pos.toml")


@pytest.fixture
def till_db(tmp_path, tmp_path_factory):
    path = tmp_path / "pos.db"
    shutil.copy(demo_db(tmp_path_factory), path)
    dbmod.open_database(f"sqlite:///{path}")
    yield path
    dbmod.close()


def barcode_of(sku: str) -> str:
    return Barcode.select().join(Variant).where(Variant.sku == sku).first().code


def staff(code: str) -> Staff:
    return Staff.get(Staff.code == code)


def open_shift(cashier: str = "ayesha", float_rs: str = "5000"):
    from pos_core.branches import find_counter
    return shifts.open_shift(find_counter("LHR1", "C1").id, staff(cashier).id, float_rs)


async def type_text(pilot, text: str, enter: bool = False) -> None:
    """Type `text` as key events posted in one go (pilot.press waits for idle after every key,
    which is ~70 ms a key), then let the app handle them."""
    from textual import events
    from textual.keys import _character_to_key
    for ch in text:
        key = ch if ch.isalnum() else _character_to_key(ch)
        pilot.app.post_message(events.Key(key, ch))
    if enter:
        pilot.app.post_message(events.Key("enter", "\r"))
    await pilot.pause()
    if enter:  # Enter may have started a worker (a PIN check, a sale): let it report back
        await settle(pilot, pilot.app)


async def settle(pilot, app) -> None:
    """Let workers finish and their messages be handled."""
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def sign_in(pilot, app, pin: str = "1111") -> None:
    await type_text(pilot, pin)
    await pilot.press("enter")
    await settle(pilot, app)


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


async def start_selling(pilot, app, pin: str = "1111") -> None:
    """Sign in at a counter whose shift is already open (see open_shift) and land on the sale screen."""
    await sign_in(pilot, app, pin)
    assert type(app.screen).__name__ == "SaleScreen", type(app.screen).__name__


async def scan(pilot, code: str) -> None:
    await type_text(pilot, code, enter=True)


def core_cash_sale(items: list[tuple[str, int]], cashier: str = "ayesha"):
    """A completed cash sale made straight through pos_core (for the orders/refund tests)."""
    from decimal import Decimal
    from pos_core import sales, shifts as shiftmod
    from pos_core.branches import find_counter
    from pos_core.policy import SalePolicy
    counter = find_counter("LHR1", "C1")
    lines = [sales.SaleLine(Variant.get(Variant.sku == sku).id, q) for sku, q in items]
    total = sum(Variant.get(Variant.sku == sku).price_paisa * q for sku, q in items)
    return sales.complete_sale(SalePolicy(), counter_id=counter.id, shift_id=shiftmod.current(counter.id).id,
                               staff_id=staff(cashier).id, lines=lines,
                               tenders=[sales.Tender("cash", Decimal(total) / 100)])


def flat(app) -> str:
    """The screen's words with line breaks and runs of spaces folded: for wrapped messages."""
    return " ".join(screen_text(app).split())
