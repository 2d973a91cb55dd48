"""Till helpers for parcels booked through a courier's API (issue 18): the courier choice at
dispatch, what a shipment shows while it waits to be booked or comes back, and the airway bill.

Shared by the online order screen; imports no screen. The printing functions run inside a
pos_tui.work thread and return the line to show.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pos_core import courier_cities, couriers
from pos_core.errors import InvalidInput, StateError
from pos_core.models import Consignment

API = "api:"      # key prefix of a courier whose API books the parcel, in the courier pick list


def courier_rows(cfg, manual_templates: dict[str, str]) -> list[tuple[str, list[str]]]:
    """Couriers that book online first (when [courier_api.*] is set up), then typed-in ones."""
    rows = [(f"{API}{name}", [f"{couriers.NAMES[name]} (book)", "the agent books it; city from the address"])
            for name in sorted(cfg.courier_accounts) if name in couriers.NAMES]
    rows += [(name, [name, url.split("/")[2] if url.count("/") >= 2 else url])
             for name, url in manual_templates.items()]
    return rows


def city_choice(courier: str, typed: str) -> tuple[courier_cities.City | None, list[tuple[str, list[str]]]]:
    """The city when there is no doubt; otherwise rows to choose from (all cities if nothing fits)."""
    m = courier_cities.match(courier, typed)
    if m.found:
        return m.city, []
    options = list(m.choices) or courier_cities.cities(courier)
    return None, [(c.code, [c.name, c.code]) for c in options]


def check_weight(text: str):
    t = text.strip().lower().removesuffix("g").strip()
    if not t.isdigit() or not 1 <= int(t) <= 100_000:
        return None, "the weight in grams, 1 to 100000 (a kurta is about 400)"
    return int(t), None


def shipment_cells(f) -> tuple[str, str]:
    """(status, tracking) as the shipments table shows them: 'to be booked', 'returning'."""
    c = couriers.for_fulfillment(f.uid) if f.mode == "smart" else None
    status, tracking = f.status.lower(), f.tracking_number
    if c is not None:
        if c.status == couriers.TO_BE_BOOKED:
            tracking = "to be booked" + (" !" if c.last_error and not c.last_error.startswith("will retry") else "")
        elif c.status == couriers.RETURNING and f.status == "DISPATCHED":
            status = "returning"
    return status, tracking


def refused_booking(f):
    """The consignment of a shipment whose booking the courier refused (a person must act), or None."""
    from pos_core import outbox
    from pos_core.models import OutboxJob
    c = couriers.for_fulfillment(f.uid) if f is not None and f.mode == "smart" else None
    if c is None or c.status != couriers.TO_BE_BOOKED:
        return None
    job = OutboxJob.get_or_none(OutboxJob.uid == c.booking_job)
    return c if job is not None and job.status == outbox.FAILED else None


def cancelled_booking(f):
    """The consignment of a dispatched shipment whose courier booking was cancelled, or None."""
    c = couriers.for_fulfillment(f.uid) if f is not None and f.mode == "smart" else None
    return c if c is not None and c.status == couriers.CANCELLED and f.status == "DISPATCHED" else None


def label_dir(cfg) -> Path:
    """Where airway bill PDFs live: beside a SQLite database (the agent saves the courier's there),
    else in the till user's home."""
    url = cfg.database_url
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):]).parent / "labels"
    return Path.home() / "pos-labels"


def bill_for(uid: str):
    from printers.airway_bill import AirwayBill
    c = Consignment.get(Consignment.uid == uid)
    return c, AirwayBill(**couriers.airway_bill_data(c))


def output_rows(cfg, uid: str) -> list[tuple[str, list[str]]]:
    c = Consignment.get(Consignment.uid == uid)
    rows = [("slip", ["Receipt printer", "the bill with a scannable number"]),
            ("pdf", ["PDF label 4x6", str(label_dir(cfg))])]
    if cfg.printer.label_queue:
        rows.append(("label", ["Label printer", cfg.printer.label_queue]))
    if c.label_url.endswith(".pdf") and Path(c.label_url).exists():
        rows.append(("courier", [f"{couriers.NAMES[c.courier]}'s own PDF", c.label_url]))
    return rows


def print_bill(cfg, uid: str, how: str) -> str:
    """Print or save the airway bill; returns the line for the message bar."""
    c, bill = bill_for(uid)
    if how == "slip":
        from printers.layout import layout_slip
        from printers.airway_bill import to_slip
        from printers.transport import columns_for, print_ops
        from .receipts import printer_settings
        settings = printer_settings(cfg)
        if settings is None:
            raise StateError("no receipt printer is set up for this counter; choose the PDF label")
        result = print_ops(settings, layout_slip(to_slip(bill), columns_for(settings)))
        if not result.ok:
            raise StateError(f"airway bill {c.tracking_number} did NOT print: {result.error}")
        return f"Airway bill {c.tracking_number} printed"
    if how in ("pdf", "label"):
        from printers.airway_bill import to_pdf
        folder = label_dir(cfg)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{c.tracking_number}-pos.pdf"
        path.write_bytes(to_pdf(bill))
        if how == "pdf":
            return f"Airway bill saved: {path}"
        return _lp(path, cfg.printer.label_queue)
    if how == "courier":
        if cfg.printer.label_queue:
            return _lp(Path(c.label_url), cfg.printer.label_queue)
        return f"{couriers.NAMES[c.courier]}'s airway bill: {c.label_url}"
    raise InvalidInput(f"unknown airway bill output {how!r}")


def _lp(path: Path, queue: str) -> str:
    """A label printer through CUPS (lp), which takes the PDF as it is."""
    lp = shutil.which("lp")
    if lp is None:
        raise StateError(f"no 'lp' command to send {path.name} to the label printer; the PDF is at {path}")
    done = subprocess.run([lp, "-d", queue, str(path)], capture_output=True, text=True, timeout=20)
    if done.returncode != 0:
        raise StateError(f"label printer {queue}: {(done.stderr or done.stdout).strip()[:100]}; the PDF is at {path}")
    return f"Airway bill sent to {queue}"
