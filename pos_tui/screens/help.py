"""F1: every key on every screen, as currently mapped (the config's [keys] table applies)."""
from __future__ import annotations


def _screens():
    """(heading, class) for the key map: the app's own keys, then every screen the registry
    gives a heading, in the registry's order."""
    from ..app import SCREENS, PosApp, screen_class
    return [("Everywhere", PosApp)] + [(title, screen_class(name)) for name, (_, title) in SCREENS.items() if title]


def key_rows(keymap: dict | None = None):
    keymap = keymap or {}
    for title, cls in _screens():
        for b in cls.BINDINGS:
            yield title, b.id, keymap.get(b.id, b.key), b.tooltip or b.description


def key_map_text(app) -> str:
    lines, last = [], None
    for title, bid, key, desc in key_rows(getattr(app, "_keymap", None) or {}):
        if title != last:
            lines += ["", title]
            last = title
        lines.append(f"  {key:<8} {desc[:38]:<38} {bid}")
    lines.insert(0, f"  {'key':<8} {'does':<38} id (for [keys] in the config)")
    lines += ["", "Scanner: scan anywhere on the sale screen; the item goes into the cart.",
              "Barcode field: 3*code adds three. Discounts: 10% or 250 (rupees off)."]
    return "\n".join(lines).strip()
