"""Import python-escpos cheaply and without side effects. Standard library only.

python-escpos 3.1 at import time (engineering-patterns.md §3.7):
* parses a ~300 KB capabilities file unless ESCPOS_CAPABILITIES_PICKLE_DIR
  points at a persistent cache (~350 ms cold; seconds on a Raspberry Pi),
  and crashes if that directory does not exist;
* calls logging.basicConfig(), which hijacks the root logger of the app.

So every module here imports escpos through `load_escpos()`, and only inside
functions: importing `printers` must stay instant for the till.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from types import ModuleType

_ENV = "ESCPOS_CAPABILITIES_PICKLE_DIR"


def cache_dir() -> Path:
    """$ESCPOS_CAPABILITIES_PICKLE_DIR, else $POS_CACHE_DIR/escpos, else
    ~/.cache/pos-escpos."""
    if os.environ.get(_ENV):
        return Path(os.environ[_ENV])
    if os.environ.get("POS_CACHE_DIR"):
        return Path(os.environ["POS_CACHE_DIR"]) / "escpos"
    return Path.home() / ".cache" / "pos-escpos"


def _prepare_cache_dir() -> None:
    path = cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK):
            raise PermissionError(path)
    except OSError:
        # A read-only home must not stop printing: fall back to a throwaway
        # dir (slower import, same behaviour).
        path = Path(tempfile.mkdtemp(prefix="pos-escpos-"))
    os.environ[_ENV] = str(path)


def load_escpos() -> ModuleType:
    """Return the `escpos.printer` module, importing it once with the cache
    directory set and the root logger left as the app configured it."""
    import sys

    if "escpos.printer" in sys.modules:
        return sys.modules["escpos.printer"]
    _prepare_cache_dir()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    import escpos.printer  # noqa: PLC0415 - deliberately lazy, see module doc

    # Undo basicConfig() if escpos added a handler the app did not ask for.
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    return escpos.printer
