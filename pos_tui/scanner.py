"""Keyboard-wedge scanner detection.

A USB scanner in keyboard mode "types" its code and presses Enter. Over SSH or on a console
without evdev that is all the till sees, so it tells a scan from a person by timing: a scanner
sends every character within a few milliseconds of the last, a person never types a run of
`min_length` characters that evenly fast. Pure: fed (character, timestamp), no Textual import,
so it can be unit-tested with hand-made timings.
"""
from __future__ import annotations

from dataclasses import dataclass, field

TERMINATORS = ("\r", "\n")


@dataclass
class WedgeDetector:
    max_gap_ms: int = 50
    min_length: int = 4
    max_length: int = 64          # longer is not a barcode; stop buffering a stuck key
    _buf: list[str] = field(default_factory=list)
    _last: float | None = None

    @property
    def pending(self) -> int:
        """Characters in the burst being collected (1 means a new burst just started)."""
        return len(self._buf)

    def reset(self) -> None:
        self._buf.clear()
        self._last = None

    def feed(self, ch: str, t: float) -> str | None:
        """Feed one key (`t` in seconds). Returns the code when `ch` is the Enter that ends a
        scanner burst, else None. A slow gap starts a new burst, so human typing never
        accumulates into a 'scan'."""
        gap_ok = self._last is not None and (t - self._last) * 1000 <= self.max_gap_ms
        self._last = t
        if ch in TERMINATORS:
            code = "".join(self._buf) if gap_ok and len(self._buf) >= self.min_length else None
            self.reset()
            return code
        if len(ch) != 1 or not ch.isprintable():
            self.reset()
            return None
        if not gap_ok:
            self._buf.clear()
        if len(self._buf) >= self.max_length:
            self._buf.clear()
        self._buf.append(ch)
        return None
