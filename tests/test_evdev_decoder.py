"""The evdev scanner path: ScanDecoder on recorded and hand-built event sequences; the reader's
grab only after keys are released, the fallback when evdev/the device/permission is missing."""
from __future__ import annotations

import asyncio
import errno

import pytest

from pos_tui import evdev_scanner as es
from pos_tui.evdev_scanner import ScanDecoder

evdev = pytest.importorskip("evdev")
from evdev import InputEvent, ecodes  # noqa: E402

US_KEYS = {}
for ch in "abcdefghijklmnopqrstuvwxyz":
    US_KEYS[ch] = (ecodes.ecodes[f"KEY_{ch.upper()}"], False)
    US_KEYS[ch.upper()] = (ecodes.ecodes[f"KEY_{ch.upper()}"], True)
for ch in "0123456789":
    US_KEYS[ch] = (ecodes.ecodes[f"KEY_{ch}"], False)
for ch, name, shift in [("-", "MINUS", False), ("_", "MINUS", True), ("/", "SLASH", False), (".", "DOT", False),
                        ("@", "2", True), ("#", "3", True), ('"', "APOSTROPHE", True), ("$", "4", True),
                        ("]", "RIGHTBRACE", False), (" ", "SPACE", False), ("+", "EQUAL", True)]:
    US_KEYS[ch] = (ecodes.ecodes[f"KEY_{name}"], shift)


class Clock:
    def __init__(self, t=1_700_000_000.0):
        self.t = t

    def ev(self, type_, code, value, dt=0.002):
        self.t += dt
        sec = int(self.t)
        return InputEvent(sec, int(round((self.t - sec) * 1e6)), type_, code, value)


def events_for(text, clock=None, keys=US_KEYS, shift_key=ecodes.KEY_LEFTSHIFT, enter=True, msc=True):
    """What a scanner sends for `text`: MSC_SCAN, key down, SYN, key up, SYN; Shift around capitals."""
    c = clock or Clock()
    out = []
    for ch in text:
        code, shift = keys[ch]
        if shift:
            out += [c.ev(ecodes.EV_KEY, shift_key, 1), c.ev(ecodes.EV_SYN, 0, 0, 0)]
        if msc:
            out.append(c.ev(ecodes.EV_MSC, ecodes.MSC_SCAN, 0x70000 + code, 0))
        out += [c.ev(ecodes.EV_KEY, code, 1), c.ev(ecodes.EV_SYN, 0, 0, 0),
                c.ev(ecodes.EV_KEY, code, 0), c.ev(ecodes.EV_SYN, 0, 0, 0)]
        if shift:
            out += [c.ev(ecodes.EV_KEY, shift_key, 0), c.ev(ecodes.EV_SYN, 0, 0, 0)]
    if enter:
        out += [c.ev(ecodes.EV_KEY, ecodes.KEY_ENTER, 1), c.ev(ecodes.EV_SYN, 0, 0, 0),
                c.ev(ecodes.EV_KEY, ecodes.KEY_ENTER, 0), c.ev(ecodes.EV_SYN, 0, 0, 0)]
    return out


# A recording from `python -m evdev.evtest` of a Honeywell-style scanner reading "Ab-1" with an AIM
# prefix "]C0" (sec, usec, type, code, value), trimmed to the key events and SYNs.
RECORDED_AIM = [
    (1718000000, 1000, 1, 27, 1), (1718000000, 1000, 0, 0, 0), (1718000000, 2000, 1, 27, 0),
    (1718000000, 3000, 1, 54, 1), (1718000000, 4000, 1, 46, 1), (1718000000, 5000, 1, 46, 0),
    (1718000000, 6000, 1, 54, 0), (1718000000, 7000, 1, 11, 1), (1718000000, 8000, 1, 11, 0),
    (1718000000, 9000, 1, 42, 1), (1718000000, 10000, 1, 30, 1), (1718000000, 11000, 1, 30, 0),
    (1718000000, 12000, 1, 42, 0), (1718000000, 13000, 1, 48, 1), (1718000000, 14000, 1, 48, 0),
    (1718000000, 15000, 1, 12, 1), (1718000000, 16000, 1, 12, 0), (1718000000, 17000, 1, 2, 1),
    (1718000000, 18000, 1, 2, 0), (1718000000, 19000, 1, 96, 1), (1718000000, 20000, 0, 0, 0),
    (1718000000, 21000, 1, 96, 0),
]


def test_key_codes_match_the_kernels():
    for name in ("KEY_ENTER", "KEY_KPENTER", "KEY_TAB", "KEY_LEFTSHIFT", "KEY_RIGHTSHIFT", "KEY_CAPSLOCK",
                 "KEY_LEFTCTRL", "KEY_RIGHTALT", "EV_KEY", "EV_SYN", "EV_MSC"):
        assert getattr(es, name) == ecodes.ecodes[name], name
    plain, _ = es.LAYOUTS["us"]
    assert plain[ecodes.KEY_102ND] == "\\" and plain[ecodes.KEY_KP7] == "7" and plain[ecodes.KEY_GRAVE] == "`"


def test_ean13_and_a_mixed_code_with_shift():
    d = ScanDecoder(max_gap_ms=50)
    assert d.feed_all(events_for("8961234567895")) == ["8961234567895"]
    assert d.feed_all(events_for("AB-12/x.Q_", shift_key=ecodes.KEY_RIGHTSHIFT)) == ["AB-12/x.Q_"]
    assert d.feed_all(events_for('ORD#1001@"pk"+$5')) == ['ORD#1001@"pk"+$5']


def test_uk_layout_maps_the_iso_keys():
    d = ScanDecoder("uk")
    c = Clock()
    k = ecodes
    seq = []
    for code, shift in [(k.KEY_2, True), (k.KEY_3, True), (k.KEY_APOSTROPHE, True), (k.KEY_BACKSLASH, False),
                        (k.KEY_BACKSLASH, True), (k.KEY_102ND, False), (k.KEY_A, True), (k.KEY_1, False)]:
        if shift:
            seq.append(c.ev(k.EV_KEY, k.KEY_LEFTSHIFT, 1))
        seq += [c.ev(k.EV_KEY, code, 1), c.ev(k.EV_KEY, code, 0)]
        if shift:
            seq.append(c.ev(k.EV_KEY, k.KEY_LEFTSHIFT, 0))
    seq += [c.ev(k.EV_KEY, k.KEY_ENTER, 1), c.ev(k.EV_KEY, k.KEY_ENTER, 0)]
    assert d.feed_all(seq) == ['"£@#~\\A1']
    assert ScanDecoder("us").feed_all(seq) == ['@#"\\|\\A1']
    with pytest.raises(ValueError, match="layout"):
        ScanDecoder("fr")


def test_shift_held_across_several_characters_and_autorepeat_of_held_keys():
    c, k = Clock(), ecodes
    seq = [c.ev(k.EV_KEY, k.KEY_LEFTSHIFT, 1), c.ev(k.EV_KEY, k.KEY_LEFTSHIFT, 2)]   # shift autorepeats
    for code in (k.KEY_A, k.KEY_B):
        seq += [c.ev(k.EV_KEY, code, 1), c.ev(k.EV_KEY, code, 0)]
    seq += [c.ev(k.EV_KEY, k.KEY_LEFTSHIFT, 0), c.ev(k.EV_KEY, k.KEY_C, 1),
            c.ev(k.EV_KEY, k.KEY_C, 2), c.ev(k.EV_KEY, k.KEY_C, 2),                       # held C repeats
            c.ev(k.EV_KEY, k.KEY_C, 0), c.ev(k.EV_KEY, k.KEY_ENTER, 1), c.ev(k.EV_KEY, k.KEY_ENTER, 0)]
    d = ScanDecoder()
    assert d.feed_all(seq) == ["ABc"]
    assert d.held == set()


def test_both_shift_keys_release_independently():
    c, k = Clock(), ecodes
    seq = [c.ev(k.EV_KEY, k.KEY_LEFTSHIFT, 1), c.ev(k.EV_KEY, k.KEY_RIGHTSHIFT, 1),
           c.ev(k.EV_KEY, k.KEY_LEFTSHIFT, 0), c.ev(k.EV_KEY, k.KEY_X, 1), c.ev(k.EV_KEY, k.KEY_X, 0),
           c.ev(k.EV_KEY, k.KEY_RIGHTSHIFT, 0), c.ev(k.EV_KEY, k.KEY_X, 1), c.ev(k.EV_KEY, k.KEY_X, 0),
           c.ev(k.EV_KEY, k.KEY_KPENTER, 1)]
    assert ScanDecoder().feed_all(seq) == ["Xx"]


def test_caps_lock_inverts_letters_only():
    c, k = Clock(), ecodes
    seq = [c.ev(k.EV_KEY, k.KEY_CAPSLOCK, 1), c.ev(k.EV_KEY, k.KEY_CAPSLOCK, 0)] + events_for("ab1C", c)
    assert ScanDecoder().feed_all(seq) == ["AB1c"]


def test_scanner_with_an_aim_prefix_recorded():
    evs = [InputEvent(*row) for row in RECORDED_AIM]
    assert ScanDecoder(prefix="]C0").feed_all(evs) == ["Ab-1"]
    assert ScanDecoder().feed_all(evs) == ["]C0Ab-1"]


def test_prefix_and_suffix_stripping_only_when_present():
    d = ScanDecoder(prefix="#", suffix="/")
    assert d.feed_all(events_for("#12345/")) == ["12345"]
    assert d.feed_all(events_for("12345")) == ["12345"]


def test_a_broken_off_scan_is_dropped_by_the_gap_and_back_to_back_scans_both_count():
    c = Clock()
    partial = events_for("99999", c, enter=False)
    c.t += 1.0                                   # the scanner stopped mid-code; a new scan starts
    d = ScanDecoder(max_gap_ms=100)
    assert d.feed_all(partial + events_for("12345678", c) + events_for("87654321", c)) == ["12345678", "87654321"]


def test_min_length_and_an_empty_enter():
    d = ScanDecoder(min_length=4)
    assert d.feed_all(events_for("12")) == []
    assert d.feed_all(events_for("")) == []
    assert d.feed_all(events_for("1234")) == ["1234"]


def test_ctrl_chords_and_unknown_keys_add_nothing():
    c, k = Clock(), ecodes
    seq = [c.ev(k.EV_KEY, k.KEY_LEFTCTRL, 1), c.ev(k.EV_KEY, k.KEY_J, 1), c.ev(k.EV_KEY, k.KEY_J, 0),
           c.ev(k.EV_KEY, k.KEY_LEFTCTRL, 0), c.ev(k.EV_KEY, k.KEY_F5, 1), c.ev(k.EV_KEY, k.KEY_F5, 0)]
    assert ScanDecoder().feed_all(seq + events_for("1234", c)) == ["1234"]


# -- the reader ------------------------------------------------------------------------------------
class FakeDevice:
    def __init__(self, events, held_polls=3, fail_with=None):
        self.events, self.held_polls, self.fail_with = events, held_polls, fail_with
        self.log = []

    def active_keys(self):
        self.log.append("active_keys")
        if self.held_polls:
            self.held_polls -= 1
            return [ecodes.KEY_A]
        return []

    def grab(self):
        self.log.append("grab")

    def capabilities(self):
        return {ecodes.EV_KEY: [ecodes.KEY_ENTER, ecodes.KEY_A]}

    def close(self):
        self.log.append("close")

    async def async_read_loop(self):
        for ev in self.events:
            await asyncio.sleep(0)
            yield ev
        if self.fail_with:
            raise OSError(self.fail_with, "No such device")
        await asyncio.sleep(3600)


async def test_reader_grabs_only_after_keys_are_released_then_delivers_scans():
    got = []
    dev = FakeDevice(events_for("8961234567895") + events_for("ABC-1"), held_polls=3)
    reader = es.start_reader("/dev/input/fake", got.append, open_device=lambda p: dev)
    assert reader is not None
    for _ in range(200):
        await asyncio.sleep(0.01)
        if len(got) == 2:
            break
    assert got == ["8961234567895", "ABC-1"]
    assert dev.log.index("grab") > dev.log.index("active_keys") + 2   # three "held" answers first
    assert reader.grabbed and "exclusive" in reader.description
    await reader.stop()
    assert dev.log[-1] == "close"


async def test_reader_survives_an_unplug_and_reopens():
    got, opened = [], []
    devices = [FakeDevice(events_for("11111111"), 0, fail_with=errno.ENODEV), FakeDevice(events_for("22222222"), 0)]

    def open_device(path):
        opened.append(path)
        return devices[len(opened) - 1]

    reader = es.start_reader("/dev/input/fake", got.append, open_device=open_device)
    reader.retry_s = 0.01
    for _ in range(300):
        await asyncio.sleep(0.01)
        if len(got) == 2:
            break
    assert got == ["11111111", "22222222"] and len(opened) == 2
    await reader.stop()


async def test_a_failing_handler_does_not_stop_the_reader():
    calls = []

    def on_scan(code):
        calls.append(code)
        raise RuntimeError("boom")

    reader = es.Reader("/x", ScanDecoder(), on_scan)
    await reader.consume(_aiter(events_for("1234") + events_for("5678")))
    assert calls == ["1234", "5678"]


async def _aiter(items):
    for i in items:
        yield i


def test_fallback_reasons(tmp_path, monkeypatch):
    assert es.start_reader(str(tmp_path / "nope"), print) is None
    assert "does not exist" in es.last_reason
    f = tmp_path / "event0"
    f.write_bytes(b"")
    monkeypatch.setattr(es.os, "access", lambda p, m: False)
    assert es.start_reader(str(f), print) is None
    assert "no permission" in es.last_reason and "group pos" in es.last_reason
    assert es.unavailable_reason("") == "no scanner.device configured"
    monkeypatch.setitem(__import__("sys").modules, "evdev", None)
    assert es.unavailable_reason(str(f)) == "the evdev module is not installed"


async def test_a_device_without_enter_is_not_taken_for_a_scanner():
    class Mouse(FakeDevice):
        def capabilities(self):
            return {ecodes.EV_KEY: [ecodes.BTN_LEFT]}
    m = Mouse([])
    assert es.start_reader("/dev/input/mouse", print, open_device=lambda p: m) is None
    assert "not a scanner" in es.last_reason and m.log == ["close"]


def test_pure_module_imports_without_textual_or_evdev():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", "import sys, pos_tui.evdev_scanner; "
                          "print(sorted(m for m in ('evdev', 'textual') if m in sys.modules))"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
