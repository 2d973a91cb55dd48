"""Reading a USB barcode scanner directly through evdev, with an exclusive grab.

With `[scanner] device` set (e.g. /dev/input/pos-scanner, the udev symlink), the till reads the
scanner's key events itself: scans reach the cart whatever screen has focus, and they never
type into a field, because the device is grabbed (EVIOCGRAB) - only after no key is held, or
the held key would stay "stuck" for everyone else. Without evdev, the device, or permission
(an SSH session, a missing udev rule) the till keeps its keyboard-wedge path (`scanner.py`).

`ScanDecoder` is pure: it is fed `InputEvent`-like objects (`type`, `code`, `value`, `sec`,
`usec`) and returns complete codes. It knows the US and UK layouts, both Shift keys, Caps Lock,
key-up and autorepeat events, a maximum gap between keys (a stale half-scan is dropped), and a
configured prefix/suffix the scanner adds (an AIM identifier like "]E0", a branch marker).

For the till: `start_reader(path, on_scan)` returns a running `Reader`, or None (and logs the
reason, also left in `last_reason`) so the caller shows "keyboard wedge" instead.
`on_scan(code)` is called on the event loop's thread.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
from typing import AsyncIterator, Callable, Iterable

log = logging.getLogger("pos_tui.scanner")

# linux/input-event-codes.h (stable kernel ABI; checked against evdev.ecodes in the tests)
EV_SYN, EV_KEY, EV_MSC = 0, 1, 4
KEY_ENTER, KEY_KPENTER, KEY_TAB = 28, 96, 15
KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_CAPSLOCK = 42, 54, 58
KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_LEFTALT, KEY_RIGHTALT = 29, 97, 56, 100
SHIFT_KEYS = frozenset({KEY_LEFTSHIFT, KEY_RIGHTSHIFT})
CTRL_ALT_KEYS = frozenset({KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_LEFTALT, KEY_RIGHTALT})
TERMINATORS = frozenset({KEY_ENTER, KEY_KPENTER})

_LETTERS = dict(zip("qwertyuiop", range(16, 26))) | dict(zip("asdfghjkl", range(30, 39))) \
    | dict(zip("zxcvbnm", range(44, 51)))
_DIGITS = {"1": 2, "2": 3, "3": 4, "4": 5, "5": 6, "6": 7, "7": 8, "8": 9, "9": 10, "0": 11}
_KEYPAD = {71: "7", 72: "8", 73: "9", 74: "-", 75: "4", 76: "5", 77: "6", 78: "+", 79: "1", 80: "2",
           81: "3", 82: "0", 83: ".", 55: "*", 98: "/"}


def _layout(symbols: dict[int, tuple[str, str]]) -> tuple[dict[int, str], dict[int, str]]:
    plain = {code: ch for ch, code in _LETTERS.items()} | {code: ch for ch, code in _DIGITS.items()}
    shifted = {code: ch.upper() for ch, code in _LETTERS.items()}
    for code, (p, s) in symbols.items():
        plain[code], shifted[code] = p, s
    plain[57] = shifted[57] = " "          # KEY_SPACE
    plain.update(_KEYPAD)
    shifted.update(_KEYPAD)
    return plain, shifted


_US_SYMBOLS = {2: ("1", "!"), 3: ("2", "@"), 4: ("3", "#"), 5: ("4", "$"), 6: ("5", "%"), 7: ("6", "^"),
               8: ("7", "&"), 9: ("8", "*"), 10: ("9", "("), 11: ("0", ")"), 12: ("-", "_"), 13: ("=", "+"),
               26: ("[", "{"), 27: ("]", "}"), 39: (";", ":"), 40: ("'", '"'), 41: ("`", "~"),
               43: ("\\", "|"), 51: (",", "<"), 52: (".", ">"), 53: ("/", "?"), 86: ("\\", "|")}
# UK (ISO): Shift+2 is ", Shift+3 is £, the key right of ; gives ' and @, the key by Enter # and ~,
# the extra key left of Z (KEY_102ND) \ and |, and the key left of 1 ` and ¬.
_UK_SYMBOLS = dict(_US_SYMBOLS) | {3: ("2", '"'), 4: ("3", "£"), 40: ("'", "@"), 43: ("#", "~"),
                                   86: ("\\", "|"), 41: ("`", "¬")}
LAYOUTS = {"us": _layout(_US_SYMBOLS), "uk": _layout(_UK_SYMBOLS)}


class ScanDecoder:
    """EV_KEY events from one scanner -> complete codes (see the module docstring)."""

    def __init__(self, layout: str = "us", max_gap_ms: int | None = 100, min_length: int = 1,
                 max_length: int = 128, prefix: str = "", suffix: str = "", tab_terminates: bool = False):
        if layout not in LAYOUTS:
            raise ValueError(f"unknown keyboard layout {layout!r}; known: {', '.join(LAYOUTS)}")
        self.plain, self.shifted = LAYOUTS[layout]
        self.max_gap_s = None if max_gap_ms is None else max_gap_ms / 1000
        self.min_length, self.max_length = min_length, max_length
        self.prefix, self.suffix = prefix, suffix
        self.terminators = TERMINATORS | ({KEY_TAB} if tab_terminates else frozenset())
        self.held: set[int] = set()
        self.caps = False
        self._buf: list[str] = []
        self._last: float | None = None

    @property
    def pending(self) -> str:
        return "".join(self._buf)

    def reset(self) -> None:
        self._buf.clear()
        self._last = None

    def feed(self, ev) -> str | None:
        if ev.type != EV_KEY:
            return None                          # EV_SYN, EV_MSC (MSC_SCAN) and the rest
        code, value = ev.code, ev.value
        if value == 0:
            self.held.discard(code)
            return None
        if value == 2:
            return None                          # autorepeat of a held key: not a new character
        self.held.add(code)
        if code in SHIFT_KEYS or code in CTRL_ALT_KEYS:
            return None
        if code == KEY_CAPSLOCK:
            self.caps = not self.caps
            return None
        t = ev.sec + ev.usec / 1_000_000
        if self.max_gap_s is not None and self._last is not None and t - self._last > self.max_gap_s:
            self._buf.clear()                    # what came before was a stale, broken-off scan
        self._last = t
        if code in self.terminators:
            text = "".join(self._buf)
            self.reset()
            return self._finish(text)
        if self.held & CTRL_ALT_KEYS:
            return None                          # a control chord is not part of a code
        shift = bool(self.held & SHIFT_KEYS)
        ch = (self.shifted if shift else self.plain).get(code)
        if ch is None:
            return None
        if self.caps and ch.isalpha():
            ch = ch.lower() if shift else ch.upper()
        if len(self._buf) >= self.max_length:
            self._buf.clear()                    # a stuck key, not a barcode
        self._buf.append(ch)
        return None

    def _finish(self, text: str) -> str | None:
        if self.prefix and text.startswith(self.prefix):
            text = text[len(self.prefix):]
        if self.suffix and text.endswith(self.suffix):
            text = text[:-len(self.suffix)]
        text = text.strip()
        return text if len(text) >= self.min_length else None

    def feed_all(self, events: Iterable) -> list[str]:
        return [code for ev in events if (code := self.feed(ev)) is not None]


# -- the device ------------------------------------------------------------------------------------
last_reason: str | None = None


def unavailable_reason(device_path: str) -> str | None:
    """Why the till cannot read `device_path` through evdev (None: it can)."""
    if not device_path:
        return "no scanner.device configured"
    try:
        import evdev  # noqa: F401
    except ImportError:
        return "the evdev module is not installed"
    if not os.path.exists(device_path):
        return f"{device_path} does not exist (scanner unplugged, or the udev rule is missing)"
    if not os.access(device_path, os.R_OK):
        return f"no permission to read {device_path} (this login must be in group pos; see the udev rule)"
    return None


async def wait_keys_released(device, poll_s: float = 0.02) -> None:
    """Return once no key is held on `device` (grabbing earlier would leave that key stuck)."""
    while device.active_keys():
        await asyncio.sleep(poll_s)


class Reader:
    """Reads one scanner device with an exclusive grab and feeds a ScanDecoder."""

    def __init__(self, device_path: str, decoder: ScanDecoder, on_scan: Callable[[str], None], *,
                 open_device: Callable[[str], object] | None = None, retry_s: float = 2.0):
        self.device_path, self.decoder, self.on_scan = device_path, decoder, on_scan
        self._open = open_device or _open_evdev
        self.retry_s = retry_s
        self.device = None
        self.grabbed = False
        self.status = "starting"
        self.scans = 0
        self._task: asyncio.Task | None = None

    @property
    def description(self) -> str:
        return f"evdev {self.device_path}" + (" (exclusive)" if self.grabbed else f" ({self.status})")

    def start(self) -> "Reader":
        self._task = asyncio.get_running_loop().create_task(self.run(), name="evdev-scanner")
        return self

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._close()

    async def run(self) -> None:
        """Open, wait for released keys, grab, read; on unplug retry every `retry_s`."""
        while True:
            try:
                if self.device is None:
                    self.device = self._open(self.device_path)
                self.status = "waiting for keys to be released"
                await wait_keys_released(self.device)
                self.device.grab()
                self.grabbed = True
                self.status = "reading"
                log.info("scanner: reading %s with an exclusive grab", self.device_path)
                await self.consume(self.device.async_read_loop())
            except asyncio.CancelledError:
                raise
            except OSError as exc:
                gone = exc.errno in (errno.ENODEV, errno.ENOENT, errno.EIO)
                self.status = "unplugged; waiting for it" if gone else f"error: {exc.strerror or exc}"
                log.warning("scanner %s: %s", self.device_path, self.status)
                self._close()
                await asyncio.sleep(self.retry_s)

    async def consume(self, events: AsyncIterator) -> None:
        async for ev in events:
            code = self.decoder.feed(ev)
            if code is not None:
                self.scans += 1
                try:
                    self.on_scan(code)
                except Exception:  # noqa: BLE001 - a bad handler must not stop the scanner
                    log.exception("scanner: on_scan failed for a scan")

    def _close(self) -> None:
        dev, self.device, self.grabbed = self.device, None, False
        self.decoder.reset()
        self.decoder.held.clear()
        if dev is not None:
            try:
                dev.close()          # closing the fd releases the grab too
            except OSError:
                pass


def _open_evdev(path: str):
    import evdev
    return evdev.InputDevice(path)


def start_reader(device_path: str, on_scan: Callable[[str], None], *, layout: str = "us",
                 max_gap_ms: int | None = 100, min_length: int = 4, prefix: str = "", suffix: str = "",
                 open_device: Callable[[str], object] | None = None) -> Reader | None:
    """Start reading `device_path` on the running event loop; None (reason logged and left in
    `last_reason`) when evdev, the device or the permission to read it is missing."""
    global last_reason
    reason = None if open_device else unavailable_reason(device_path)
    device = None
    if reason is None:
        try:
            device = (open_device or _open_evdev)(device_path)
            caps = device.capabilities() if hasattr(device, "capabilities") else {EV_KEY: [KEY_ENTER]}
            if KEY_ENTER not in caps.get(EV_KEY, []) and KEY_KPENTER not in caps.get(EV_KEY, []):
                device.close()
                device, reason = None, f"{device_path} is not a scanner (it has no Enter key)"
        except OSError as exc:
            reason = f"cannot open {device_path}: {exc.strerror or exc}"
    if reason:
        last_reason = reason
        log.warning("scanner: keyboard wedge in use: %s", reason)
        return None
    last_reason = None
    decoder = ScanDecoder(layout, max_gap_ms=max_gap_ms, min_length=min_length, prefix=prefix, suffix=suffix)
    reader = Reader(device_path, decoder, on_scan, open_device=open_device)
    reader.device = device
    return reader.start()
