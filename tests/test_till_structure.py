"""The till's shape: screens never import one another (they open each other by name through
`app.open` and the SCREENS registry), shared helpers import no screen, and every screen is
registered, so only pos_tui/app.py knows them all."""
from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest
from textual.screen import Screen

import pos_tui
from pos_tui.app import SCREENS, PosApp, screen_class

PKG = Path(pos_tui.__file__).parent
SCREEN_DIR = PKG / "screens"
SCREEN_MODULES = sorted(p for p in SCREEN_DIR.glob("*.py") if p.name != "__init__.py")
# Modules every screen may use: they must not import a screen themselves.
SHARED = [PKG / "ui.py", PKG / "work.py", PKG / "receipts.py", PKG / "cart.py", PKG / "messages.py", PKG / "airway.py",
          *sorted((PKG / "widgets").glob("*.py"))]


def package_of(path: Path) -> str:
    return ".".join(["pos_tui", *path.relative_to(PKG).parts[:-1]])


def imported_modules(path: Path, package: str | None = None) -> list[tuple[int, str]]:
    """Every module an import statement in `path` names (absolute dotted names), with its line.
    Imports inside functions count too: a lazy import is still an import."""
    package = package or package_of(path)
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            # `from . import sale` / `from .screens import sale` import modules by name
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names]
    return out


def screen_imports(path: Path, package: str | None = None) -> list[str]:
    """One entry per import statement that reaches a module of pos_tui/screens."""
    found: dict[int, str] = {}
    for line, mod in imported_modules(path, package):
        parts = mod.split(".")
        if parts[:2] == ["pos_tui", "screens"] and len(parts) > 2 and (SCREEN_DIR / f"{parts[2]}.py").exists():
            found.setdefault(line, f"{path.name}:{line} imports {'.'.join(parts[:3])}")
    return list(found.values())


def test_the_checker_sees_screen_imports(tmp_path):
    # The checker itself must be able to fail: every import form that reaches another screen.
    bad = tmp_path / "probe.py"
    bad.write_text("from .sale import SaleScreen\nfrom . import orders\n"
                   "def f():\n    from pos_tui.screens.dialogs import PromptScreen\n    import pos_tui.screens.sync\n")
    assert len(screen_imports(bad, "pos_tui.screens")) == 4
    ok = tmp_path / "ok.py"
    ok.write_text("from ..ui import show_msg\nfrom ..widgets.status import StatusBar\nfrom pos_core import sales\n"
                  "from .. import work\n")
    assert screen_imports(ok, "pos_tui.screens") == []


@pytest.mark.parametrize("path", SCREEN_MODULES, ids=lambda p: p.name)
def test_no_screen_module_imports_another_screen(path):
    assert screen_imports(path) == []


@pytest.mark.parametrize("path", SHARED, ids=lambda p: str(p.relative_to(PKG)))
def test_shared_helpers_import_no_screen(path):
    found = [m for _, m in imported_modules(path) if m.startswith("pos_tui.screens") or m == "pos_tui.app"]
    assert found == []


def defined_screens() -> set[str]:
    """module:Class of every Screen subclass defined in pos_tui/screens."""
    out = set()
    for path in SCREEN_MODULES:
        module = importlib.import_module(f"pos_tui.screens.{path.stem}")
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Screen) and obj.__module__ == module.__name__:
                out.add(f"{module.__name__}:{name}")
    return out


def test_every_screen_is_registered_and_every_entry_opens():
    registered = {path for path, _ in SCREENS.values()}
    assert defined_screens() - registered == set(), "add these to SCREENS in pos_tui/app.py"
    for name in SCREENS:
        assert issubclass(screen_class(name), Screen), name
    assert len(registered) == len(SCREENS), "one class registered under two names"


def test_unknown_screen_name_is_a_clear_error():
    with pytest.raises(KeyError, match="no screen called 'nope'"):
        screen_class("nope")


def test_key_map_comes_from_the_registry():
    from pos_tui.screens.help import key_rows
    titles = [t for t, *_ in key_rows()]
    assert titles[0] == "Everywhere"
    expected = [title for _, title in SCREENS.values() if title]
    seen = list(dict.fromkeys(titles))
    # every titled screen with keys is listed, in the registry's order
    with_keys = [t for t in expected if screen_class(next(n for n, (_, tt) in SCREENS.items() if tt == t)).BINDINGS]
    assert seen == ["Everywhere"] + with_keys
    assert PosApp.BINDINGS


def test_no_screen_binds_one_key_twice():
    # Two bindings on one key: only one of them ever runs, so the other feature is unreachable.
    from textual.binding import Binding
    for name in list(SCREENS) + ["__app__"]:
        cls = PosApp if name == "__app__" else screen_class(name)
        seen: dict[str, str] = {}
        for b in getattr(cls, "BINDINGS", []):
            if not isinstance(b, Binding):
                continue
            for key in b.key.split(","):
                key = key.strip()
                assert key not in seen, f"{name}: {key} is bound to both {seen[key]} and {b.action}"
                seen[key] = b.action
