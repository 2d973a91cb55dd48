"""Tests for the printers package: layout (golden text), ESC/POS bytes, transport.

Golden files live in tests/fixtures/receipts/. After an intended layout
change, regenerate them with `UPDATE_GOLDEN=1 pytest tests/test_printers.py`
and review the diff like any other code.
"""

from __future__ import annotations

import json
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import pytest

from printers import layout as layout_mod
from printers.layout import layout, layout_slip
from printers.ops import QR, Barcode, Cut, DrawerKick, Image, Text
from printers.preview import preview
from printers.receipt import (
    REFUND, SALE, Customer, FbrBlock, Receipt, ReceiptLine, Slip, TaxLine, Tender, Totals, format_money,
)

GOLDEN = Path(__file__).parent / "fixtures" / "receipts"
REPO = Path(__file__).resolve().parent.parent
FISCAL = "123456ABCD20250115143210"  # shaped like an IMS InvoiceNumber
WIDTHS = (32, 48)


@pytest.fixture(autouse=True, scope="module")
def _escpos_cache(tmp_path_factory):
    """Keep python-escpos' capabilities pickle out of the user's home."""
    old = os.environ.get("ESCPOS_CAPABILITIES_PICKLE_DIR")
    if not old:
        os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = str(tmp_path_factory.mktemp("escpos-cache"))
    yield
    if not old:
        os.environ.pop("ESCPOS_CAPABILITIES_PICKLE_DIR", None)


# --------------------------------------------------------------------------
# Sample documents
# --------------------------------------------------------------------------

def sale(**changes) -> Receipt:
    r = Receipt(
        title=SALE,
        header_lines=("Zara Threads", "12-B Main Boulevard, Gulberg III, Lahore",
                      "NTN 1234567-8", "STRN 3277876123456", "PoS No: 812345"),
        number="LHR1-C2-000123",
        when="15-01-2025 14:32",
        branch="LHR1",
        counter="C2",
        cashier="Ayesha",
        customer=Customer("Ali Raza", "0300-1234567"),
        lines=[
            ReceiptLine("Embroidered Lawn Kurta with Chiffon Dupatta (3 piece)", "Red / M",
                        2, D("1500.00"), D("100.00"), D("2900.00")),
            ReceiptLine("Cotton Socks", "", 10, D("250.00"), D("0"), D("2500.00")),
        ],
        totals=Totals(subtotal=D("5400.00"), discount=D("0"),
                      taxes=[TaxLine("Sales tax 18% (incl.)", D("823.73"))],
                      service_fee=D("1.00"), total=D("5401.00")),
        tenders=[Tender("Cash", D("6000.00"))],
        change=D("599.00"),
        footer_lines=("Exchange within 14 days with receipt.", "Thank you for shopping!"),
        fbr=FbrBlock(FISCAL, offline=False, test_mode=False, logo_path="/opt/pos/fbr-pos-logo.png"),
        open_drawer=True,
    )
    return replace(r, **changes)


def refund() -> Receipt:
    return sale(
        title=REFUND, number="LHR1-C2-000130", ref_number="LHR1-C2-000123",
        lines=[ReceiptLine("Cotton Socks", "", 2, D("250.00"), D("0"), D("500.00"))],
        totals=Totals(D("500.00"), D("0"), [TaxLine("Sales tax 18% (incl.)", D("76.27"))], None, D("500.00")),
        tenders=[Tender("Cash refund", D("500.00"))], change=None,
        fbr=FbrBlock("123456ABCD20250116101500", logo_path="/opt/pos/fbr-pos-logo.png"),
    )


def offline() -> Receipt:
    return sale(fbr=FbrBlock(None, offline=True, logo_path="/opt/pos/fbr-pos-logo.png"))


def sandbox_receipt() -> Receipt:
    return sale(fbr=FbrBlock("100000*test*0001", test_mode=True, logo_path="/opt/pos/fbr-pos-logo.png"))


def huge() -> Receipt:
    """Worst case for 58 mm paper: long names, an unbreakable SKU, big money."""
    return sale(
        header_lines=("A Very Long Shop Name That Cannot Fit On One Line (Pvt) Ltd",),
        customer=Customer("Muhammad Abdul Rehman Siddiqui Qureshi Khan", "+92-300-1234567", "35202-1234567-1"),
        lines=[
            ReceiptLine("Bridal Lehenga " * 6, "Maroon / Custom stitched / Extra long variant text", 999,
                        D("12345678.90"), D("1234567.89"), D("12332098732.11")),
            ReceiptLine("SKU-" + "X" * 60, "", 1, D("12345678.90"), D("0"), D("12345678.90")),
        ],
        totals=Totals(D("12344444411.01"), D("1234567.89"), [TaxLine("Sales tax 18% on everything", D("2221999999.99"))],
                      D("1.00"), D("14565209843.11")),
        tenders=[Tender("Bank transfer (Meezan Bank, ref 00001234567)", D("14565209843.11"))],
        change=D("0"),
    )


def transfer_slip() -> Slip:
    return Slip(
        title="TRANSFER SLIP", number="TR-LHR1-000045", when="15-01-2025 18:05",
        header_lines=("Zara Threads",),
        lines=[("From", "LHR1 Gulberg"), ("To", "ISB1 F-7 Markaz"),
               ("Lawn Kurta Red / M", "x 12"), ("Cotton Socks", "x 40"), ("", ""), ("Total qty", "52")],
        barcode="TR-LHR1-000045",
        footer_lines=("Received by: ____________",),
    )


GOLDEN_CASES = {
    "sale_32": lambda: preview(layout(sale(), 32), 32),
    "sale_48": lambda: preview(layout(sale(), 48), 48),
    "refund_48": lambda: preview(layout(refund(), 48), 48),
    "offline_32": lambda: preview(layout(offline(), 32), 32),
    "test_mode_48": lambda: preview(layout(sandbox_receipt(), 48), 48),
    "slip_32": lambda: preview(layout_slip(transfer_slip(), 32), 32),
}


# --------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_layout_matches_golden(name):
    text = GOLDEN_CASES[name]()
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()


ALL_DOCS = {"sale": sale, "refund": refund, "offline": offline, "test_mode": sandbox_receipt, "huge": huge}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("doc", sorted(ALL_DOCS))
def test_every_line_fits_the_paper(doc, width):
    ops = layout(ALL_DOCS[doc](), width)
    for op in ops:
        if isinstance(op, Text):
            limit = width // 2 if op.double else width
            assert len(op.text) <= limit, op
    for line in preview(ops, width).splitlines():
        assert len(line) <= width, line


@pytest.mark.parametrize("width", WIDTHS)
def test_long_names_wrap_and_big_amounts_stay_whole(width):
    text = preview(layout(huge(), width), width)
    lines = text.splitlines()
    # Every word of the long name survives the wrap, over several lines.
    name_lines = [line for line in lines if "Bridal Lehenga" in line]
    assert len(name_lines) >= 2
    assert sum(line.count("Bridal") for line in name_lines) == 6
    # An unbreakable SKU is split, not lost.
    assert "".join(lines).count("X") >= 60
    # Money is never split across lines and is right-aligned to the edge.
    for amount in ("12,345,678.90", "12,332,098,732.11", "14,565,209,843.11", "-1,234,567.89"):
        hits = [line for line in lines if amount in line]
        assert hits, amount
        assert any(line.endswith(amount) for line in hits), amount


@pytest.mark.parametrize("width", WIDTHS)
def test_item_columns_line_up(width):
    receipt = sale(lines=[
        ReceiptLine("A", "", 1, D("9.50"), D("0"), D("9.50")),
        ReceiptLine("B", "", 120, D("1500.00"), D("0"), D("180000.00")),
        ReceiptLine("C", "", 7, D("12345678.90"), D("10"), D("86419742.30")),
    ])
    lines = preview(layout(receipt, width), width).splitlines()
    rows = [m for line in lines if (m := re.search(r"\d+ x +([\d,.]+)", line))]
    assert len(rows) == 3
    assert len({m.start(0) + m.group(0).index(" x ") for m in rows}) == 1  # the "x" column
    assert len({m.end(1) for m in rows}) == 1  # prices end in one column
    for total in ("9.50", "180,000.00", "86,419,742.30", "-10.00"):
        assert any(len(line) == width and line.endswith(" " + total) for line in lines), total


def test_totals_block_has_service_fee_and_tax_lines():
    text = preview(layout(sale(), 48), 48)
    assert re.search(r"^POS Service Fee +1\.00$", text, re.M)
    assert re.search(r"^Sales tax 18% \(incl\.\) +823\.73$", text, re.M)
    assert re.search(r"^TOTAL +Rs 5,401\.00$", text, re.M)
    assert re.search(r"^Change +599\.00$", text, re.M)
    # No fee line when the document doesn't collect one (refund has None).
    assert "POS Service Fee" not in preview(layout(refund(), 48), 48)


def test_live_fbr_block():
    ops = layout(sale(), 48)
    qrs = [op for op in ops if isinstance(op, QR)]
    assert [q.data for q in qrs] == [FISCAL]  # the bare number, nothing else
    assert qrs[0].size_mm >= 7
    assert [op.path for op in ops if isinstance(op, Image)] == ["/opt/pos/fbr-pos-logo.png"]
    text = preview(ops, 48)
    assert f"FBR Invoice #: {FISCAL}" in text
    assert "Verify this invoice through FBR TaxAsaan" in text
    assert "offline" not in text.lower() and "TEST" not in text


@pytest.mark.parametrize("fbr", [FbrBlock(None), FbrBlock(FISCAL, offline=True, logo_path="/x.png")])
def test_offline_fbr_block_has_no_fbr_mark(fbr):
    ops = layout(sale(fbr=fbr), 32)
    assert not [op for op in ops if isinstance(op, (QR, Image))]
    text = preview(ops, 32)
    assert "Issued in offline mode - FBR invoice number pending" in " ".join(text.split())
    assert "FBR Invoice #" not in text and "Verify this invoice" not in text


@pytest.mark.parametrize("fbr", [
    FbrBlock("100000ABCD0001", test_mode=True, logo_path="/x.png"),
    FbrBlock("100000*TEST*0001", test_mode=False, logo_path="/x.png"),  # detected from the number
])
def test_sandbox_invoice_is_never_printed_as_live(fbr):
    ops = layout(sale(fbr=fbr), 48)
    text = preview(ops, 48)
    assert "FBR TEST INVOICE - NOT VALID FOR TAX" in text
    assert not [op for op in ops if isinstance(op, Image)]
    assert "Verify this invoice" not in text


def test_reprint_and_refund_markers():
    ops = layout(sale(reprint=True), 48)
    assert "REPRINT" in preview(ops, 48)
    assert not [op for op in ops if isinstance(op, DrawerKick)]  # a reprint never opens the drawer
    assert isinstance(layout(sale(), 48)[0], DrawerKick)
    text = preview(layout(refund(), 48), 48)
    assert re.search(r"^Original invoice #: +LHR1-C2-000123$", text, re.M)
    assert "Cash refund" in text and "Change" not in text   # no "Change 0.00" under a refund
    assert re.search(r"^Change +0\.00$", preview(layout(sale(tenders=[Tender("Card", D("12.00"))], change=D("0")), 48), 48),
                     re.M), "a sale keeps its change line"


def test_slip_layout():
    ops = layout_slip(transfer_slip(), 48)
    assert [op.value for op in ops if isinstance(op, Barcode)] == ["TR-LHR1-000045"]
    assert isinstance(ops[-1], Cut)
    assert re.search(r"^Total qty +52$", preview(ops, 48), re.M)


def test_money_is_decimal_only():
    assert format_money(D("1234")) == "1,234.00"
    assert format_money(D("12345678.905")) == "12,345,678.91"  # half up, like the books
    assert format_money(D("-100")) == "-100.00"
    with pytest.raises(TypeError):
        ReceiptLine("x", "", 1, 1.5, D("0"), D("1.5"))  # float price
    with pytest.raises(TypeError):
        format_money(100)


def test_width_validated():
    with pytest.raises(ValueError):
        layout(sale(), 10)


def test_preview_placeholders():
    text = preview([QR("1234567890" * 10), Image("/x.png"), Cut()], 32)
    qr, logo, cut = text.splitlines()
    assert qr.startswith("[QR: 1234") and qr.endswith("...]") and len(qr) <= 32
    assert logo.strip() == "[LOGO]"
    assert "8<" in cut and cut.startswith("- -")


# --------------------------------------------------------------------------
# ESC/POS bytes (python-escpos Dummy)
# --------------------------------------------------------------------------

GS_V = b"\x1dV"
ESC_P = b"\x1bp"
QR_PREFIX = b"\x1d(k"


def dummy(profile: str | None = None):
    from printers._escpos_env import load_escpos

    P = load_escpos()
    return P.Dummy(profile=profile) if profile else P.Dummy()


def qr_commands(data: bytes) -> list[tuple[bytes, bytes]]:
    """Parse GS ( k commands into (cn fn, parameters)."""
    found, i = [], 0
    while (i := data.find(QR_PREFIX, i)) != -1:
        length = data[i + 3] + 256 * data[i + 4]
        body = data[i + 5: i + 5 + length]
        found.append((body[:2], body[2:]))
        i += 5 + length
    return found


def render_bytes(ops, printer=None, **kw) -> bytes:
    from printers.escpos_out import render

    printer = printer or dummy()
    render(ops, printer, width=48, **kw)
    return printer.output


def test_escpos_cut_drawer_bold_align():
    out = render_bytes(layout(sale(), 48))
    assert out.startswith(b"\x1bp\x0022")  # drawer kick (ESC p 0) before anything prints
    assert out.count(ESC_P) == 1
    assert b"\x1bd\x06" + GS_V + b"\x00" in out  # feed past the blade, then full cut
    assert b"\x1bE\x01" in out and b"\x1bE\x00" in out  # bold on and off
    assert b"\x1ba\x01" in out and b"\x1ba\x00" in out  # centre and left
    assert b"\x1b!0" in out  # double height+width for the shop name
    assert b"Zara Threads" in out and b"TOTAL" in out


def test_escpos_native_qr_holds_exactly_the_fiscal_number():
    from printers.escpos_out import qr_module_dots

    out = render_bytes(layout(sale(), 48))
    commands = qr_commands(out)
    stored = [params[1:] for fn, params in commands if fn == b"1P"]  # "1P0" + data
    assert stored == [FISCAL.encode()]
    size = [params[0] for fn, params in commands if fn == b"1C"]
    assert size == [qr_module_dots(FISCAL, layout_mod.FBR_QR_SIZE_MM)]
    # Printed side >= 7 mm at 203 dpi: version-2 code (25 modules) at that module size.
    assert size[0] * 25 / 203 * 25.4 >= 7.0
    assert [fn for fn, _ in commands][-1] == b"1Q"  # and it is actually printed


def test_qr_module_size_meets_minimum_for_any_payload():
    from printers.escpos_out import qr_module_dots

    for data in ("1", FISCAL, "X" * 60):
        import qrcode

        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
        code.add_data(data)
        code.make(fit=True)
        modules = 17 + 4 * code.version
        assert qr_module_dots(data, 7.0) * modules / 203 * 25.4 >= 7.0


def test_escpos_offline_receipt_has_no_qr_bytes():
    out = render_bytes(layout(offline(), 48))
    assert QR_PREFIX not in out
    assert b"\x1dv0" not in out  # no raster image either (logo or image QR)
    assert b"Issued in offline mode - FBR invoice number" in out and b"pending" in out


def test_escpos_image_qr_when_profile_lacks_native_qr(tmp_path):
    printer = dummy()
    printer.profile.profile_data = {**printer.profile.profile_data,
                                    "features": {**printer.profile.features, "qrCode": False}}
    out = render_bytes([QR(FISCAL)], printer)
    assert QR_PREFIX not in out and b"\x1dv0" in out  # raster image instead


def test_escpos_logo_printed_and_missing_logo_skipped(tmp_path):
    from PIL import Image as PILImage

    logo = tmp_path / "logo.png"
    PILImage.new("1", (64, 32), 0).save(logo)
    assert b"\x1dv0" in render_bytes([Image(str(logo))])
    assert render_bytes([Image(str(tmp_path / "missing.png")), Text("still prints")]).count(b"still prints") == 1


def test_escpos_barcode_for_slip():
    out = render_bytes(layout_slip(transfer_slip(), 48))
    assert b"\x1dkI" in out and b"{BTR-LHR1-000045" in out  # CODE128, code set B


# --------------------------------------------------------------------------
# Transport
# --------------------------------------------------------------------------

class _Collector(socketserver.BaseRequestHandler):
    """A pretend network printer: keeps every byte; answers a paper-status
    query (DLE EOT 4) with the byte the test chose."""

    def handle(self):
        chunks = []
        while data := self.request.recv(65536):
            chunks.append(data)
            if self.server.paper_reply and b"\x10\x04\x04" in data:
                self.request.sendall(self.server.paper_reply)
        self.server.received.append(b"".join(chunks))


@pytest.fixture
def printer_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Collector)
    server.daemon_threads = True
    server.received, server.paper_reply = [], None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _wait_for(predicate, timeout=5.0):
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_print_to_file(tmp_path):
    from printers.transport import print_ops

    path = tmp_path / "lp0"
    result = print_ops({"kind": "file", "path": str(path), "paper_mm": 58}, layout(sale(), 32))
    assert result.ok and result.error is None
    data = path.read_bytes()
    assert data.startswith(ESC_P) and GS_V in data and FISCAL.encode() in data


def test_print_receipt_to_network_printer(printer_server):
    from printers.transport import print_receipt

    port = printer_server.server_address[1]
    result = print_receipt({"kind": "network", "host": "127.0.0.1", "port": port, "timeout": 3}, sale())
    assert result.ok, result.error
    assert _wait_for(lambda: printer_server.received)
    data = printer_server.received[0]
    assert b"Zara Threads" in data and GS_V in data
    assert b"-" * 48 + b"\n" in data  # 80 mm paper by default


def test_network_printer_out_of_paper(printer_server):
    from printers.transport import print_ops

    printer_server.paper_reply = bytes([114])  # DLE EOT 4 answer: paper end sensors set
    port = printer_server.server_address[1]
    result = print_ops({"kind": "network", "host": "127.0.0.1", "port": port, "check_paper": True},
                       layout(sale(), 48))
    assert not result.ok and "out of paper" in result.error
    assert _wait_for(lambda: printer_server.received)
    assert b"Zara Threads" not in printer_server.received[0]  # nothing printed


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("cfg, expected", [
    ({"kind": "network", "host": "127.0.0.1", "port": "CLOSED", "timeout": 2}, "refused the connection"),
    ({"kind": "file", "path": "MISSING_DIR"}, "not found"),
    ({"kind": "file", "path": "/dev/usb/lp-pos-test-does-not-exist"}, "/dev/usb/lp-pos-test-does-not-exist not found"),
    ({"kind": "printer-that-does-not-exist"}, "Printer settings are wrong"),
    ({"kind": "usb"}, "Printer"),  # settings missing, or pyusb missing: either way a sentence
])
def test_unreachable_printers_give_readable_errors(cfg, expected, tmp_path):
    from printers.transport import print_ops

    cfg = dict(cfg)
    if cfg.get("port") == "CLOSED":
        cfg["port"] = _closed_port()
    if cfg.get("path") == "MISSING_DIR":
        cfg["path"] = str(tmp_path / "no-such-dir" / "lp0")
    result = print_ops(cfg, layout(sale(), 48))  # must not raise
    assert result.ok is False
    assert expected in result.error
    assert "Traceback" not in result.error and "\n" not in result.error
    if cfg["kind"] in ("file", "network"):
        assert result.error.startswith("Printer not reachable: ")


# --------------------------------------------------------------------------
# Import hygiene
# --------------------------------------------------------------------------

def _run_python(code: str, **env) -> dict:
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_light_modules_do_not_import_heavy_or_app_packages():
    code = (
        "import sys, json\n"
        "import printers, printers.receipt, printers.layout, printers.preview, printers.ops\n"
        "import printers.escpos_out, printers.transport  # lazy: escpos only on first print\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('escpos', 'textual', 'httpx', 'pos_core', 'usb', 'serial')]\n"
        "print(json.dumps(bad))\n"
    )
    assert _run_python(code) == []


def test_printers_never_import_the_app():
    for path in (REPO / "printers").glob("*.py"):
        source = path.read_text()
        assert not re.search(r"^\s*(from|import)\s+(pos_core|pos_tui|textual|httpx)\b", source, re.M), path


def test_escpos_import_uses_persistent_cache_and_leaves_root_logging(tmp_path):
    code = (
        "import json, logging, os\n"
        "os.environ.pop('ESCPOS_CAPABILITIES_PICKLE_DIR', None)\n"
        "from printers.transport import print_ops\n"
        "from printers.ops import Text\n"
        "r = print_ops({'kind': 'dummy'}, [Text('hi')])\n"
        "print(json.dumps([r.ok, os.environ['ESCPOS_CAPABILITIES_PICKLE_DIR'], len(logging.getLogger().handlers)]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ESCPOS_CAPABILITIES_PICKLE_DIR"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={**env, "POS_CACHE_DIR": str(tmp_path)}, timeout=60, check=True)
    ok, cache, handlers = json.loads(out.stdout.strip().splitlines()[-1])
    assert ok and cache == str(tmp_path / "escpos")
    assert list(Path(cache).glob("*.capabilities.pickle"))  # the next start is fast
    assert handlers == 0  # escpos' basicConfig() undone
