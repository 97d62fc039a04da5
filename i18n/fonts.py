"""The CJK font the PDF reports and the dashboard previews draw Chinese with.

matplotlib embeds TrueType (glyf) fonts in a PDF as CID TrueType (`pdf.fonttype` 42):
searchable, extractable, valid. The Noto CJK fonts Debian ships are OpenType/CFF
collections (.ttc); matplotlib writes them as if they were TrueType (`FontFile2` holding
CFF data), which poppler reads with "Mismatch between font type and embedded font file"
warnings and stricter readers reject. So the font is Droid Sans Fallback, a TrueType
file with the whole CJK Unified Ideographs block, from the Debian package
`fonts-droid-fallback` (in the Makefile's APT_PACKAGES, installed by `make setup`).

Latin text stays in DejaVu Sans; matplotlib falls back per glyph to the CJK font
(`font.family` is a list), so figures and units look the same in both languages.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Final

from plantstream.errors import PlantStreamError

__all__ = ["CJK_FONT_ENV", "CJK_FONT_PACKAGE", "FontMissingError", "cjk_font_path",
           "font_family"]

CJK_FONT_PACKAGE: Final = "fonts-droid-fallback"
CJK_FONT_ENV: Final = "PLANTSTREAM_CJK_FONT"  # a .ttf to use instead
# where Debian (and Ubuntu) put the package's files
_KNOWN: Final = (
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
    Path("/usr/share/fonts-droid-fallback/truetype/DroidSansFallbackFull.ttf"),
    Path("/usr/share/fonts-droid-fallback/truetype/DroidSansFallback.ttf"),
)
_LATIN: Final = "DejaVu Sans"  # matplotlib's own default, shipped with it


class FontMissingError(PlantStreamError):
    """No TrueType CJK font: Chinese text cannot be drawn."""

    def __init__(self, *, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"no CJK TrueType font for Chinese text: {reason}. Install the Debian package "
            f"{CJK_FONT_PACKAGE} (`make setup` does), or set ${CJK_FONT_ENV} to a .ttf file "
            "with Chinese glyphs (not a .ttc/.otf: those embed badly in PDF)")


def _fc_list() -> list[Path]:
    """TrueType files fontconfig knows that cover Chinese (empty without fc-list)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        out = subprocess.run([fc_list, ":lang=zh-cn", "file"], capture_output=True, text=True,
                             timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    files = sorted({Path(line.split(":")[0].strip()) for line in out.splitlines() if line})
    return [f for f in files if f.suffix.lower() == ".ttf"]


@functools.cache
def cjk_font_path() -> Path:
    """The CJK TrueType file: $PLANTSTREAM_CJK_FONT, the Debian package's, or any .ttf
    fontconfig lists for zh-CN; FontMissingError otherwise."""
    configured = os.environ.get(CJK_FONT_ENV)
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise FontMissingError(reason=f"${CJK_FONT_ENV}={configured} is no file")
        if path.suffix.lower() != ".ttf":
            raise FontMissingError(reason=f"${CJK_FONT_ENV}={configured} is no .ttf file")
        return path
    for path in (*_KNOWN, *_fc_list()):
        if path.is_file():
            return path
    raise FontMissingError(reason=f"none of {', '.join(str(p) for p in _KNOWN)} exists and "
                                  "fontconfig lists no .ttf for zh-CN")


@functools.cache
def _registered_family() -> str:
    from matplotlib import font_manager

    path = cjk_font_path()
    font_manager.fontManager.addfont(str(path))
    entry = next(e for e in font_manager.fontManager.ttflist if Path(e.fname) == path)
    # Droid Sans Fallback has one weight: offer it for bold too, so bold headings take it
    # without a "failed to find font weight bold" warning
    font_manager.fontManager.ttflist.append(
        font_manager.FontEntry(fname=entry.fname, name=entry.name, style=entry.style,
                               variant=entry.variant, weight=700, stretch=entry.stretch,
                               size=entry.size))
    font_manager.fontManager._findfont_cached.cache_clear()  # type: ignore[attr-defined]
    return str(entry.name)


def font_family(lang: str) -> list[str]:
    """matplotlib's `font.family` for text in `lang`: DejaVu Sans, falling back per glyph
    to the CJK font for Chinese (FontMissingError when there is none)."""
    if lang == "en":
        return [_LATIN]
    return [_LATIN, _registered_family()]
