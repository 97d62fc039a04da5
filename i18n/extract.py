"""The catalogue's upkeep: which strings the code marks, and `python -m
plantstream.i18n.extract [TRANSLATIONS.json]` to bring the zh-CN `.po` file in step
(new marked strings added, translations kept or taken from the JSON file, strings no
code marks any more dropped); it lists what still has no translation.
"""

from __future__ import annotations

import ast
import datetime as dt
import io
import json
import re
import sys
import tokenize
from pathlib import Path
from typing import Final

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from plantstream.i18n import LOCALE_DIR

__all__ = ["USER_FACING", "marked_messages", "update"]

SOURCE_ROOT: Final = Path(__file__).resolve().parents[1]
# the package folders where user-facing text lives: reports, dashboards and alerts, the
# demo's terminal, and the terms themselves
USER_FACING: Final = ("reports", "dashboards", "devstack", "i18n")
HEADER: Final = """\
# Simplified Chinese (zh-CN) for PlantStream: reports, dashboards, alerts, the demo.
# The official terms (GB/T 2589, the dual-control and "Each Mu is a Hero" policies,
# ISO 22400 as used in Chinese plants) are used where they exist; see docs/i18n.md.
# Kept in step with the code by `python -m plantstream.i18n.extract`."""
ZH_PO: Final = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "plantstream.po"


# a call with one string literal, inside an f-string's replacement field
_CALL_IN_FSTRING = re.compile(r"""\b(?:N_|_)\((?P<literal>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\)""")


def _fstring_messages(path: Path) -> list[tuple[int, str]]:
    """(line, msgid) of `_("...")` calls inside f-strings, which Babel's extractor does
    not see on Python 3.11 (an f-string is one STRING token there)."""
    out = []
    with path.open("rb") as handle:
        for token in tokenize.tokenize(handle.readline):
            prefix = token.string[:3].lower()
            if token.type == tokenize.STRING and "f" in prefix.split('"')[0].split("'")[0]:
                for match in _CALL_IN_FSTRING.finditer(token.string):
                    out.append((token.start[0], str(ast.literal_eval(match["literal"]))))
    return out


def marked_messages(root: Path = SOURCE_ROOT) -> dict[str, str]:
    """msgid -> where it is first marked (`_("...")` and `N_("...")` calls, also inside
    f-strings)."""
    found: dict[str, str] = {}
    for folder in USER_FACING:
        for filename, lineno, message, _comments, _context in extract_from_dir(
                root / folder, method_map=[("**.py", "python")],
                keywords={"_": None, "N_": None}):
            if isinstance(message, str):
                found.setdefault(message, f"{folder}/{filename}:{lineno}")
        for path in sorted((root / folder).rglob("*.py")):
            for lineno, message in _fstring_messages(path):
                found.setdefault(message, f"{folder}/{path.relative_to(root / folder)}:{lineno}")
    return found


def update(po_path: Path = ZH_PO, translations: dict[str, str] | None = None,
           root: Path = SOURCE_ROOT) -> list[str]:
    """Rewrite `po_path` for the strings the code marks; returns the untranslated."""
    with po_path.open("rb") as handle:
        known = {str(m.id): str(m.string) for m in read_po(handle, locale="zh_CN") if m.id}
    catalog = Catalog(locale="zh_CN", project="PlantStream", version="0.1.0", fuzzy=False,
                      header_comment=HEADER, creation_date=dt.datetime(2026, 12, 1),
                      revision_date=dt.datetime(2026, 12, 1))
    missing = []
    for message in marked_messages(root):
        text = (translations or {}).get(message) or known.get(message, "")
        if not text:
            missing.append(message)
        catalog.add(message, text)
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, sort_output=False)
    po_path.write_bytes(buffer.getvalue())
    return missing


if __name__ == "__main__":
    extra = json.loads(Path(sys.argv[1]).read_text()) if len(sys.argv) > 1 else None
    untranslated = update(translations=extra)
    for message in untranslated:
        print(f"untranslated: {message!r}")
    sys.exit(1 if untranslated else 0)
