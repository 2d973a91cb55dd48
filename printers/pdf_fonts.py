"""Fonts for PDFs that may show Urdu: item Urdu names, branch and customer names.

fpdf2's core fonts (Helvetica) are Latin-1 only: an Urdu name came out as "????". With Debian's
Noto fonts embedded (Noto Sans for Latin, Noto Naskh Arabic as the fallback for what Noto Sans
lacks) and fpdf2's text shaping (HarfBuzz through uharfbuzz), Urdu letters join and run right to
left as they should, and the PDF's text layer still reads back as the Unicode that was written.
Naskh, not Nastaliq, on paper forms: it is compact and sits on the line beside Latin text.

Without the fonts (scripts/ci-fonts installs them) a PDF still comes out, in Helvetica, with "?"
for what Latin-1 cannot hold, as before; `use_unicode` says which it got.
"""
from __future__ import annotations

from .urdu import FONT_DIRS, _find

LATIN_DIRS = FONT_DIRS + ("/usr/share/fonts/truetype/dejavu",)
FAMILY = "PosSans"
STYLES = {"": ("NotoSans-Regular.ttf", "DejaVuSans.ttf"), "B": ("NotoSans-Bold.ttf", "DejaVuSans-Bold.ttf"),
          "I": ("NotoSans-Italic.ttf", "DejaVuSans-Oblique.ttf")}
URDU_FAMILY = "PosUrdu"
URDU_STYLES = {"": ("NotoNaskhArabic-Regular.ttf",), "B": ("NotoNaskhArabic-Bold.ttf", "NotoNaskhArabic-Regular.ttf"),
               "I": ("NotoNaskhArabic-Regular.ttf",)}


def shaping_available() -> bool:
    try:
        import uharfbuzz  # noqa: F401  (fpdf2's text shaping engine)
    except ImportError:
        return False
    return True


def use_unicode(pdf) -> bool:
    """Register the Unicode fonts on `pdf` as family FAMILY (styles "", "B", "I") with Urdu
    shaping; False (and nothing registered) when a font or the shaper is missing."""
    latin = {style: _find(names, LATIN_DIRS) for style, names in STYLES.items()}
    urdu = {style: _find(names, FONT_DIRS) for style, names in URDU_STYLES.items()}
    if None in latin.values() or None in urdu.values() or not shaping_available():
        return False
    for style, path in latin.items():
        pdf.add_font(FAMILY, style, str(path))
    for style, path in urdu.items():
        pdf.add_font(URDU_FAMILY, style, str(path))
    pdf.set_fallback_fonts([URDU_FAMILY], exact_match=False)
    pdf.set_text_shaping(True)
    return True


def missing() -> list[tuple[str, str]]:
    """What this box lacks to put Urdu on paper, as (what, the Debian package that brings it):
    the fonts receipts (printers/urdu.py) and PDFs use, Pillow's libraqm, the PDF shaper."""
    from PIL import features
    from .urdu import FONTS
    out = []
    for what, names, dirs, pkg in (("Noto Sans (PDF text)", STYLES[""], LATIN_DIRS, "fonts-noto-core"),
                                   ("Noto Naskh Arabic (Urdu in PDFs and receipts)", URDU_STYLES[""], FONT_DIRS,
                                    "fonts-noto-core"),
                                   ("Noto Nastaliq Urdu (Urdu on receipts)", FONTS["nastaliq"], FONT_DIRS,
                                    "fonts-noto-extra")):
        if _find(names, dirs) is None:
            out.append((what, pkg))
    if not features.check("raqm"):
        out.append(("libraqm (Pillow's Urdu shaping, receipts)", "libraqm0"))
    if not shaping_available():
        out.append(("uharfbuzz (Urdu shaping in PDFs)", "pip: uharfbuzz, a dependency of pos"))
    return out


def latin1(text: str) -> str:
    """For a core-font PDF: anything outside Latin-1 prints as "?" instead of failing."""
    return text.encode("latin-1", "replace").decode("latin-1")


class Writer:
    """Fonts for one PDF: `font(style, size)` sets the Unicode family when it is here (else
    Helvetica), `text(s)` is what may be written with it."""

    def __init__(self, pdf):
        self.pdf = pdf
        self.unicode = use_unicode(pdf)

    def font(self, style: str = "", size: float = 9) -> None:
        self.pdf.set_font(FAMILY if self.unicode else "helvetica", style, size)

    def text(self, s) -> str:
        s = "" if s is None else str(s)
        return s if self.unicode else latin1(s)
