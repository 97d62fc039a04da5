"""The published forms of a report: canonical JSON with its content hash, and CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import msgspec

from plantstream.i18n import N_, Lang, translator
from plantstream.reports.canonical import HASH_FIELD, canonical_value, seal
from plantstream.reports.labels import field_label
from plantstream.reports.model import Report

__all__ = ["report_csv", "report_json"]

# list members are keyed by these fields in the CSV paths, e.g. energy.carriers[electricity]
_LIST_KEYS = ("carrier", "product", "month", "label")


def report_json(report: Report) -> tuple[bytes, str]:
    """Canonical JSON bytes (with `content_sha256`) and the hash."""
    body = msgspec.to_builtins(report)
    assert isinstance(body, dict)
    return seal(body)


def _key(item: dict[str, Any], index: int) -> str:
    if "machine" in item and "carrier" in item:
        key = f"{item.get('site', '')}/{item['machine']}/{item['carrier']}"
        return key + (f"/{item['first_day']}" if "first_day" in item else "")
    if "month" in item and "carrier" in item:
        return f"{item['month']}/{item['carrier']}"
    for name in _LIST_KEYS:
        if name in item:
            return str(item[name])
    return str(index)


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for k in sorted(value):
            _flatten(f"{prefix}.{k}" if prefix else str(k), value[k], out)
    elif isinstance(value, list):
        if not value:
            out.append((prefix, ""))
        for i, item in enumerate(value):
            key = _key(item, i) if isinstance(item, dict) else str(i)
            _flatten(f"{prefix}[{key}]", item, out)
    elif value is None:
        out.append((prefix, ""))
    elif isinstance(value, bool):
        out.append((prefix, "true" if value else "false"))
    else:
        out.append((prefix, str(value)))


_HEADER = (N_("field"), N_("value"), N_("label"))


def report_csv(report: Report, lang: Lang = "en") -> tuple[bytes, str]:
    """One `field,value,label` row per figure (same rounding as the JSON; empty = null),
    the content hash of the JSON report first, so both forms can be matched.

    `field` and `value` are the same in every language (the JSON's paths and values);
    the header and the `label` column (the figure's name) are in `lang`."""
    _, digest = report_json(report)
    rows: list[tuple[str, str]] = [(HASH_FIELD, digest)]
    _flatten("", canonical_value(msgspec.to_builtins(report)), rows)
    _ = translator(lang)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([_(name) for name in _HEADER])
    writer.writerows((field, value, field_label(field, lang)) for field, value in rows)
    return buffer.getvalue().encode("utf-8"), digest
