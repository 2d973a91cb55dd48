"""The core and the agent stay free of UI code; the core is free of network and printer code."""
import subprocess
import sys

import pytest

FORBIDDEN_IN_CORE = ["textual", "rich", "httpx", "escpos", "evdev", "apscheduler", "printers", "pos_tui",
                     "sync_agent"]


def loaded_after(import_line: str) -> set[str]:
    code = f"import sys; {import_line}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {m.split(".")[0] for m in out.stdout.split()}


def test_pos_core_imports_no_ui_network_or_printer_code():
    mods = ("admin", "catalog", "config", "demo", "ledger", "migrations", "outbox", "refunds", "sales", "shifts",
            "reports", "barcodes", "categories", "shelf_labels", "admin_shelf", "catalog_import")
    loaded = loaded_after("import pos_core; " + "; ".join(f"import pos_core.{m}" for m in mods))
    assert "pos_core" in loaded and "peewee" in loaded
    assert not loaded & set(FORBIDDEN_IN_CORE), loaded & set(FORBIDDEN_IN_CORE)


@pytest.mark.parametrize("module, forbidden", [
    ("printers.layout", {"textual", "httpx", "pos_core", "escpos"}),
    # Templates, tags and Urdu load Pillow, fpdf2 and python-barcode only when they draw something.
    ("printers.template", {"pos_core", "escpos", "PIL", "textual"}),
    ("printers.labels", {"pos_core", "escpos", "PIL", "fpdf", "barcode"}),
    ("printers.urdu", {"pos_core", "escpos", "PIL"}),
    # The back office and the till never import each other (the till runs pos-office as a program).
    ("pos_office.app", {"pos_tui", "sync_agent", "httpx"}),
    ("pos_office.__main__", {"pos_tui", "sync_agent"}),
    ("pos_tui.app", {"pos_office"}),
])
def test_packages_keep_their_import_rules(module, forbidden):
    loaded = loaded_after(f"import {module}")
    assert not loaded & forbidden


def test_the_agent_never_leans_on_the_till():
    """Not even in the doctor's test-slip child process: what both need lives in printers/."""
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent / "sync_agent"
    leaning = [str(p.relative_to(root.parent)) for p in root.rglob("*.py") if "pos_tui" in p.read_text()]
    assert leaning == []
    loaded = loaded_after("import sync_agent.doctor, sync_agent.daemon, sync_agent.__main__")
    assert not loaded & {"pos_tui", "textual"}, loaded & {"pos_tui", "textual"}
