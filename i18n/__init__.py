"""Languages users read: one message catalogue for reports, dashboards, alerts and the
demo's terminal, in English (the source strings) and Simplified Chinese (zh-CN).

User-facing strings are written in English in the code and marked: `_("...")` where a
translator is at hand (`_ = translator(lang)`), `N_("...")` for constants that are
translated later. The catalogue is a gettext `.po` file per language
(`i18n/locale/<lang>/LC_MESSAGES/plantstream.po`), read with Babel; Babel also
formats numbers and dates per locale. `tests/i18n/test_catalogue.py` extracts every
marked string from the source and fails when one has no zh-CN translation.

    _ = translator("zh-CN")
    _("Total comprehensive energy consumption")   # -> "综合能源消费量"
    month_label(2026, 10, "zh-CN")                 # -> "2026年10月"
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final, Literal, get_args

from babel.dates import format_date
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

__all__ = [
    "DEFAULT_LANG",
    "LANGS",
    "N_",
    "Lang",
    "catalogue",
    "date_label",
    "format_number",
    "lang_argument",
    "month_label",
    "negotiate",
    "parse_lang",
    "translator",
]

Lang = Literal["en", "zh-CN"]
LANGS: Final[tuple[Lang, ...]] = get_args(Lang)
DEFAULT_LANG: Final[Lang] = "en"
LOCALE_DIR: Final = Path(__file__).resolve().parent / "locale"
_BABEL_LOCALE: Final[dict[str, str]] = {"en": "en", "zh-CN": "zh_CN"}


def N_(message: str) -> str:
    """Mark `message` for the catalogue without translating it here."""
    return message


def parse_lang(value: str) -> Lang:
    """`en` or `zh-CN` (also accepts zh, zh_CN, zh-Hans, case-insensitive)."""
    key = value.strip().replace("_", "-").lower()
    if key in ("zh", "zh-cn", "zh-hans", "zh-hans-cn"):
        return "zh-CN"
    if key in ("en", "en-us", "en-gb"):
        return "en"
    raise ValueError(f"unsupported language {value!r}; use one of {', '.join(LANGS)}")


def lang_argument(value: str) -> Lang:
    """`parse_lang` for argparse's `type=`: a bad language is a usage error naming it."""
    try:
        return parse_lang(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def negotiate(accept_language: str | None, default: Lang = DEFAULT_LANG) -> Lang:
    """The best of LANGS for an HTTP `Accept-Language` header (q-values honoured)."""
    if not accept_language:
        return default
    offers: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept_language.split(",")[:32]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        offers.append((-quality, position, tag.strip()))
    for negative_quality, _, tag in sorted(offers):
        if negative_quality >= 0:
            continue
        for candidate in (tag, tag.split("-")[0]):
            try:
                return parse_lang(candidate)
            except ValueError:
                continue
    return default


@functools.cache
def catalogue(lang: Lang) -> Mapping[str, str]:
    """msgid -> translation for `lang` (empty for English, the source language)."""
    if lang == "en":
        return {}
    path = LOCALE_DIR / _BABEL_LOCALE[lang] / "LC_MESSAGES" / "plantstream.po"
    with path.open("rb") as handle:
        po = read_po(handle, locale=_BABEL_LOCALE[lang])
    return {str(m.id): str(m.string) for m in po if m.id and m.string and not m.fuzzy}


def translator(lang: Lang) -> Callable[[str], str]:
    """`_(msgid)` for `lang`; a string with no translation stays in English."""
    table = catalogue(lang)
    return lambda message: table.get(message, message)


def format_number(value: float, lang: Lang, *, decimals: int = 2) -> str:
    """Grouped thousands, fixed decimals, in the locale's symbols."""
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    return format_decimal(value, format=pattern, locale=_BABEL_LOCALE[lang])


def month_label(year: int, month: int, lang: Lang) -> str:
    """`2026-10` in English, `2026年10月` in Chinese."""
    if lang == "en":
        return f"{year}-{month:02d}"
    return format_date(dt.date(year, month, 1), "yyyy年M月", locale=_BABEL_LOCALE[lang])


def date_label(day: dt.date, lang: Lang) -> str:
    """`2026-10-05` in English, `2026年10月5日` in Chinese."""
    if lang == "en":
        return day.isoformat()
    return format_date(day, "long", locale=_BABEL_LOCALE[lang])
