"""Open the configured printer and send print operations to it.

`print_ops(cfg, ops)` never raises: whatever goes wrong (printer off,
unplugged, no permission, timeout, out of paper) comes back as
`PrintResult(ok=False, error=...)` with a sentence a cashier can act on.
It blocks for up to the configured timeout, so call it from a worker thread.

cfg (from the till's config file), by kind:
    {"kind": "usb", "vendor_id": 0x04B8, "product_id": 0x0202, "timeout": 5000,
     "in_ep": 0x82, "out_ep": 0x01, "profile": "TM-T20II"}      # timeout in ms
    {"kind": "serial", "device": "/dev/ttyUSB0", "baudrate": 9600}
    {"kind": "network", "host": "192.168.1.50", "port": 9100, "timeout": 5}  # seconds
    {"kind": "file", "path": "/dev/usb/lp0"}
    {"kind": "dummy"}
Common optional keys: "paper_mm" (58 or 80, default 80), "profile" (a
python-escpos profile name), "check_paper" (ask the printer for its paper
sensor before printing; default on for usb and serial, whose reads time out
quickly).

python-escpos is imported lazily through `_escpos_env.load_escpos()`.
"""

from __future__ import annotations

import copy
import errno
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._escpos_env import load_escpos
from .ops import Op

log = logging.getLogger(__name__)

KINDS = ("usb", "serial", "network", "file", "dummy")
_PAPER = {58: (32, 384), 80: (48, 576)}  # paper width -> (font A columns, printable dots)
_STATUS_READ_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class PrintResult:
    ok: bool
    error: str | None = None
    warning: str | None = None  # e.g. paper running low; printing still succeeded


class _ConfigError(ValueError):
    """The printer settings themselves are wrong (not the printer)."""


class _SetupError(RuntimeError):
    """This till lacks something the configured printer needs (a driver library)."""


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

def _paper_mm(cfg: dict) -> int:
    paper = int(cfg.get("paper_mm", 80))
    if paper not in _PAPER:
        raise _ConfigError(f"paper_mm must be 58 or 80, not {paper}")
    return paper


def columns_for(cfg: dict) -> int:
    """Characters per line for this printer: pass it to `layout()`."""
    return _PAPER[_paper_mm(cfg)][0]


def _int(value: Any) -> int:
    """USB ids are often written as hex strings in config files: "0x04b8"."""
    return int(value, 0) if isinstance(value, str) else int(value)


def describe(cfg: dict) -> str:
    """How a cashier would recognise the printer in a message."""
    kind = cfg.get("kind")
    if kind == "file":
        return str(cfg.get("path", "/dev/usb/lp0"))
    if kind == "network":
        return f"{cfg.get('host', '?')}:{cfg.get('port', 9100)}"
    if kind == "serial":
        return str(cfg.get("device", "?"))
    if kind == "usb":
        try:
            return f"USB printer {_int(cfg['vendor_id']):04x}:{_int(cfg['product_id']):04x}"
        except (KeyError, ValueError, TypeError):
            return "USB printer"
    return "printer"


def _set_media_width(printer, pixels: int) -> None:
    """Give the profile a paper width if it has none (the default profile
    doesn't), so images and QR codes can be centred. The profile data is a
    class-level dict shared by every printer using that profile, so copy it
    before changing it."""
    media = printer.profile.profile_data.get("media", {})
    if not isinstance(media.get("width", {}).get("pixels"), int):
        data = copy.deepcopy(printer.profile.profile_data)
        data.setdefault("media", {}).setdefault("width", {})["pixels"] = pixels
        printer.profile.profile_data = data


def open_printer(cfg: dict):
    """A python-escpos printer object for cfg. Nothing is opened yet: the
    device is opened on first use (or by `.open()`).

    Raises ValueError for bad settings and RuntimeError when a driver library
    is missing; `print_ops` turns both into a PrintResult."""
    kind = cfg.get("kind")
    if kind not in KINDS:
        raise _ConfigError(f"unknown printer kind {kind!r} (expected one of {', '.join(KINDS)})")
    P = load_escpos()
    common: dict[str, Any] = {}
    if cfg.get("profile"):
        common["profile"] = cfg["profile"]
    # pyusb / pyserial are optional extras of python-escpos. Checking first
    # gives a clear message, and avoids a USB object whose __del__ raises.
    if kind == "usb" and not P.Usb.is_usable():
        raise _SetupError("USB printing support (pyusb) is not installed on this till")
    if kind == "serial" and not P.Serial.is_usable():
        raise _SetupError("serial printing support (pyserial) is not installed on this till")
    try:
        if kind == "usb":
            printer = P.Usb(
                _int(cfg["vendor_id"]), _int(cfg["product_id"]),
                # 0 means "wait forever" in python-escpos: a jammed printer
                # would hang the till, so always pass a real timeout.
                timeout=int(cfg.get("timeout", 5000)) or 5000,
                in_ep=_int(cfg.get("in_ep", 0x82)), out_ep=_int(cfg.get("out_ep", 0x01)),
                **common,
            )
        elif kind == "serial":
            printer = P.Serial(cfg["device"], baudrate=int(cfg.get("baudrate", 9600)),
                               timeout=float(cfg.get("timeout", 1)), **common)
        elif kind == "network":
            printer = P.Network(cfg["host"], port=int(cfg.get("port", 9100)),
                                timeout=float(cfg.get("timeout", 5)), **common)
        elif kind == "file":
            printer = P.File(cfg.get("path", "/dev/usb/lp0"), **common)
        else:
            printer = P.Dummy(**common)
    except KeyError as e:
        if cfg.get("profile") and e.args[0] == cfg["profile"]:
            raise _ConfigError(f"unknown printer profile {cfg['profile']!r}") from e
        raise _ConfigError(f"{kind} printer setting {e.args[0]!r} is missing") from e
    _set_media_width(printer, _PAPER[_paper_mm(cfg)][1])
    return printer


# --------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------

def print_ops(cfg: dict, ops: Sequence[Op]) -> PrintResult:
    """Print `ops` on the printer described by cfg. Never raises."""
    try:
        return _print_ops(cfg, ops)
    except _ConfigError as e:
        return PrintResult(False, f"Printer settings are wrong: {e}")
    except _SetupError as e:
        return PrintResult(False, f"Printer cannot be used: {e}")
    except Exception as e:  # noqa: BLE001 - the till must never crash on a printer
        log.exception("unexpected printing failure")
        return PrintResult(False, f"Printing failed: {_first_line(e)}")


def print_receipt(cfg: dict, receipt, template=None, gift: bool = False) -> PrintResult:
    """Lay out `receipt` for this printer's paper (with a printers.template.Template, when the
    site has one) and print it. Never raises."""
    from .layout import layout  # stdlib-only, cheap

    try:
        if template is not None or gift:
            from . import template as tpl
            ops = tpl.layout(receipt, template or tpl.Template(), columns_for(cfg), gift=gift)
        else:
            ops = layout(receipt, columns_for(cfg))
    except _ConfigError as e:
        return PrintResult(False, f"Printer settings are wrong: {e}")
    except Exception as e:  # noqa: BLE001
        log.exception("receipt layout failed")
        return PrintResult(False, f"Receipt could not be prepared: {_first_line(e)}")
    return print_ops(cfg, ops)


def _print_ops(cfg: dict, ops: Sequence[Op]) -> PrintResult:
    from .escpos_out import render

    printer = open_printer(cfg)
    where = describe(cfg)

    # Render into memory first with the same profile: a bad barcode or image
    # fails here, before anything reaches the paper, and the job then goes out
    # in one write instead of a half-printed receipt.
    P = load_escpos()
    buffer = P.Dummy()
    buffer.profile = printer.profile
    try:
        render(ops, buffer, width=columns_for(cfg))
    except Exception as e:  # noqa: BLE001
        log.exception("receipt rendering failed")
        return PrintResult(False, f"Receipt could not be prepared: {_first_line(e)}")
    data = buffer.output

    if cfg["kind"] == "dummy":
        return PrintResult(True)

    # The kernel creates /dev entries for a plugged-in printer; opening a
    # missing one for writing would quietly create a plain file instead.
    if cfg["kind"] == "file" and str(where).startswith("/dev/") and not os.path.exists(where):
        return PrintResult(False, f"Printer not reachable: {where} not found (is the printer on and plugged in?)")

    try:
        printer.open()
    except Exception as e:  # noqa: BLE001
        return PrintResult(False, "Printer not reachable: " + _explain(e, where))

    warning = None
    try:
        if cfg.get("check_paper", cfg["kind"] in ("usb", "serial")):
            paper = _paper_status(printer)
            if paper == 0:
                return PrintResult(False, "Printer is out of paper: load a new roll and print again")
            if paper == 1:
                warning = "Printer paper is running low"
        # _raw is python-escpos' transport hook; the bytes are already complete ESC/POS.
        printer._raw(data)
        if hasattr(printer, "flush"):
            printer.flush()
    except Exception as e:  # noqa: BLE001
        return PrintResult(False, "Printing failed: " + _explain(e, where))
    finally:
        try:
            printer.close()
        except Exception:  # noqa: BLE001 - already reporting the real problem
            log.debug("closing printer failed", exc_info=True)
    return PrintResult(True, None, warning)


def _paper_status(printer) -> int | None:
    """2 plenty, 1 near end, 0 out; None when the printer doesn't answer."""
    device = getattr(printer, "device", None)
    is_socket = isinstance(device, socket.socket)
    if is_socket:  # don't wait the full job timeout for a status byte
        old_timeout = device.gettimeout()
        device.settimeout(_STATUS_READ_TIMEOUT_S)
    try:
        return printer.paper_status()
    except Exception:  # noqa: BLE001 - many printers don't answer status queries
        log.info("printer did not report paper status", exc_info=True)
        return None
    finally:
        if is_socket:
            device.settimeout(old_timeout)


# --------------------------------------------------------------------------
# Turning exceptions into sentences
# --------------------------------------------------------------------------

def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _chain(e: BaseException):
    """The exception and what caused it: python-escpos wraps OSErrors in
    DeviceNotFoundError and keeps the original only as __context__."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def _explain(e: BaseException, where: str) -> str:
    for err in _chain(e):
        code = getattr(err, "errno", None)
        if isinstance(err, FileNotFoundError) or code == errno.ENOENT:
            return f"{where} not found (is the printer on and plugged in?)"
        if isinstance(err, PermissionError) or code in (errno.EACCES, errno.EPERM):
            return f"no permission to use {where} (ask the administrator to add this user to the printer group)"
        if isinstance(err, ConnectionRefusedError):
            return f"{where} refused the connection (is the printer switched on?)"
        if isinstance(err, (TimeoutError, socket.timeout)) or code == errno.ETIMEDOUT or "timed out" in str(err).lower():
            return f"{where} did not answer in time (is it switched on and connected?)"
        if isinstance(err, socket.gaierror):
            return f"printer address {where} is unknown (check the printer settings)"
        if code in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN):
            return f"{where} cannot be reached on the network (check the cable or Wi-Fi)"
        if isinstance(err, (BrokenPipeError, ConnectionResetError)):
            return f"connection to {where} was lost while printing"
        if code == errno.EBUSY:
            return f"{where} is busy (another program is using the printer)"
        if type(err).__name__ == "USBNotFoundError" or "not found or cable not plugged" in str(err):
            return f"{where} not found (is the printer on and plugged in?)"
    return f"{where}: {_first_line(e)}"


__all__ = ["PrintResult", "open_printer", "print_ops", "print_receipt", "columns_for", "describe", "KINDS"]
