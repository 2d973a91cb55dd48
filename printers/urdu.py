"""Urdu on a thermal receipt: shaped, right to left, drawn at the printer's dot width, sent as raster.

Thermal printers carry no Urdu font, and Urdu letters change shape with their neighbours, so the
text is shaped by a real engine (Pillow's basic layout cannot join Arabic script; Pillow built with
libraqm uses HarfBuzz + FriBiDi) with a real font packaged by Debian:

* Noto Nastaliq Urdu (fonts-noto-extra): the calligraphic style Urdu readers expect; tall, so it
  needs a bigger line height;
* Noto Naskh Arabic (fonts-noto-core): plainer, more compact, quicker to draw.

`render_lines` draws a block of lines as one 1-bit image exactly `dots` wide (576 for 80 mm,
384 for 58 mm at 203 dpi); `raster(img)` is what python-escpos sends for it (GS v 0), and
`decode_raster` reads such bytes back to pixels, which the tests use to prove the printer gets the
image that was drawn. A mixed line ("قمیض لان" on the right, "1,250.00" on the left) is one row.

The till never shows Urdu (the Linux console cannot draw it); it shows the Roman name.
CI installs libraqm0 and the fonts with scripts/ci-fonts (called by scripts/test).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

FONT_DIRS = ("/usr/share/fonts/truetype/noto", "/usr/share/fonts/opentype/noto")
FONTS = {
    "nastaliq": ("NotoNastaliqUrdu-Regular.ttf", "NotoNastaliqUrdu-Regular.otf"),
    "naskh": ("NotoNaskhArabic-Regular.ttf", "NotoNaskhArabic-Regular.otf"),
}
LATIN_FONT = ("NotoSans-Regular.ttf", "DejaVuSans.ttf")
LATIN_DIRS = FONT_DIRS + ("/usr/share/fonts/truetype/dejavu",)
DOTS_80MM = 576
DOTS_58MM = 384
# Nastaliq's letters climb and fall far from the baseline: it needs about twice Naskh's line height.
LINE_FACTOR = {"nastaliq": 2.0, "naskh": 1.5}


class UrduError(RuntimeError):
    """Urdu cannot be drawn here; the message says what to install."""


@dataclass(frozen=True)
class Line:
    text: str                 # Urdu (logical order, as typed; the shaper handles direction)
    left: str = ""            # Latin text on the left of the same row, e.g. an amount
    align: str = "right"      # right (Urdu's start), center


def _find(names: tuple[str, ...], dirs: tuple[str, ...]) -> Path | None:
    """The first of `names` in POS_URDU_FONT_DIR (one more directory, searched first) or `dirs`;
    POS_FONT_DIRS (directories separated by ':') replaces `dirs`, Debian's font directories, for
    a box that keeps its fonts elsewhere (and for the doctor's test on an empty directory)."""
    override = os.environ.get("POS_URDU_FONT_DIR")
    if os.environ.get("POS_FONT_DIRS") is not None:
        dirs = tuple(d for d in os.environ["POS_FONT_DIRS"].split(":") if d)
    for d in ((override,) if override else ()) + dirs:
        for n in names:
            p = Path(d) / n
            if p.is_file():
                return p
    return None


def check_available(font: str = "nastaliq") -> Path:
    """The font file, after checking the shaping engine; a one-line error saying what is missing."""
    from PIL import features
    if font not in FONTS:
        raise UrduError(f"Urdu font must be one of {', '.join(FONTS)}, not {font!r}")
    if not features.check("raqm"):
        raise UrduError("Pillow cannot shape Urdu: install libraqm0 (apt-get install libraqm0)")
    path = _find(FONTS[font], FONT_DIRS)
    if path is None:
        pkg = "fonts-noto-extra" if font == "nastaliq" else "fonts-noto-core"
        raise UrduError(f"the {font} Urdu font is not installed: apt-get install {pkg}")
    return path


@functools.lru_cache(maxsize=16)
def _font(font: str, size: int):
    from PIL import ImageFont
    return ImageFont.truetype(str(check_available(font)), size, layout_engine=ImageFont.Layout.RAQM)


@functools.lru_cache(maxsize=8)
def _latin(size: int):
    from PIL import ImageFont
    path = _find(LATIN_FONT, LATIN_DIRS)
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(str(path), size)


def warm_up(font: str = "nastaliq", size: int = 26) -> None:
    """Open the font and shape one line, so the first Urdu receipt after start-up does not pay for
    it (about a third of a cold receipt's time). The till runs this in a background thread."""
    render_lines([Line("شکریہ")], dots=DOTS_58MM, font=font, size=size)


_char_widths: dict[tuple[int, str], float] = {}


def _isolated_width(font, text: str) -> float:
    total = 0.0
    for ch in text:
        key = (id(font), ch)
        w = _char_widths.get(key)
        if w is None:
            w = _char_widths[key] = font.getlength(ch, direction="rtl", language="ur")
        total += w
    return total


def _fit(lines: list[Line], dots: int, ur, la, margin: int) -> list[Line]:
    """Rows that fit the paper: a line too wide for its room (beside its amount, if any) is
    wrapped at spaces, the first words on the first row as Urdu reads; the amount stays on the
    last row. A single word wider than the paper is left as it is (the paper cuts it)."""
    rows: list[Line] = []
    for line in lines:
        room = dots - 2 * margin - (la.getlength(line.left) + 2 * margin if line.left else 0)
        width = lambda t: ur.getlength(t, direction="rtl", language="ur")  # noqa: E731
        # Shaping costs as much as drawing: first a cheap bound, the letters' isolated widths
        # added up (joined letters are narrower), and the real width only when that is too wide.
        if not line.text or _isolated_width(ur, line.text) <= room or width(line.text) <= room:
            rows.append(line)
            continue
        words, current, out = line.text.split(), "", []
        for word in words:
            trial = f"{current} {word}".strip()
            if current and width(trial) > room:
                out.append(current)
                current = word
            else:
                current = trial
        out.append(current)
        rows += [Line(t, "", line.align) for t in out[:-1]] + [Line(out[-1], line.left, line.align)]
    return rows


def render_lines(lines: list[Line], dots: int = DOTS_80MM, font: str = "nastaliq", size: int = 26,
                 margin: int = 4):
    """One 1-bit image, `dots` wide, one row per line (more for a line that has to wrap); black
    text on white."""
    from PIL import Image, ImageDraw
    if dots % 8:
        raise ValueError("the dot width must be a multiple of 8 (raster bytes)")
    ur, la = _font(font, size), _latin(int(size * 0.85))
    lines = _fit(lines, dots, ur, la, margin)
    row = int(size * LINE_FACTOR[font])
    img = Image.new("1", (dots, max(1, row * len(lines))), 1)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        top = i * row
        mid = top + row // 2
        if line.text:
            # direction/language tell raqm it is Urdu (rtl), so joining and mark placement follow Urdu rules.
            kw = {"direction": "rtl", "language": "ur", "anchor": "mm" if line.align == "center" else "rm"}
            x = dots // 2 if line.align == "center" else dots - margin
            draw.text((x, mid), line.text, font=ur, fill=0, **kw)
        if line.left:
            draw.text((margin, mid), line.left, font=la, fill=0, anchor="lm")
    return img


def raster(img) -> bytes:
    """The ESC/POS bytes python-escpos sends for this image (GS v 0 raster, one fragment)."""
    import copy
    from ._escpos_env import load_escpos
    p = load_escpos().Dummy()
    data = copy.deepcopy(p.profile.profile_data)  # shared by every Dummy: copy before changing
    data.setdefault("media", {}).setdefault("width", {})["pixels"] = img.width
    p.profile.profile_data = data
    p.image(img, impl="bitImageRaster", fragment_height=max(img.height, 1))
    return p.output


def decode_raster(data: bytes):
    """Read GS v 0 blocks back into a 1-bit image (blocks stacked top to bottom)."""
    from PIL import Image
    blocks = []
    i = 0
    while True:
        j = data.find(b"\x1dv0", i)
        if j < 0:
            break
        x_bytes = data[j + 4] | data[j + 5] << 8
        height = data[j + 6] | data[j + 7] << 8
        body = data[j + 8:j + 8 + x_bytes * height]
        if len(body) != x_bytes * height:
            raise ValueError("raster block is cut short")
        # ESC/POS: bit set = dot burned (black); PIL mode "1": 0 = black, so invert.
        blk = Image.frombytes("1", (x_bytes * 8, height), bytes(b ^ 0xFF for b in body))
        blocks.append(blk)
        i = j + 8 + len(body)
    if not blocks:
        raise ValueError("no GS v 0 raster in the data")
    out = Image.new("1", (max(b.width for b in blocks), sum(b.height for b in blocks)), 1)
    y = 0
    for b in blocks:
        out.paste(b, (0, y))
        y += b.height
    return out


def differing_pixels(a, b) -> int:
    """How many pixels differ (images of different size differ everywhere)."""
    from PIL import ImageChops
    if a.size != b.size:
        return max(a.width * a.height, b.width * b.height)
    diff = ImageChops.logical_xor(a.convert("1"), b.convert("1"))
    return diff.convert("L").histogram()[255]
