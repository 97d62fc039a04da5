"""The jurisdiction report's published forms: canonical JSON with its content hash (the
energy report's mechanism), and a CSV ranking table (one row per enterprise)."""

from __future__ import annotations

import csv
import io
from typing import Any

import msgspec

from plantstream.reports.canonical import HASH_FIELD, canonical_value, seal
from plantstream.reports.mu.config import INDICATORS
from plantstream.reports.mu.model import JurisdictionReport

__all__ = ["jurisdiction_csv", "jurisdiction_json", "render_jurisdiction"]


def jurisdiction_json(report: JurisdictionReport) -> tuple[bytes, str]:
    """Canonical JSON bytes (with `content_sha256`) and the hash."""
    body = msgspec.to_builtins(report)
    assert isinstance(body, dict)
    return seal(body)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def jurisdiction_csv(report: JurisdictionReport) -> tuple[bytes, str]:
    """The ranking as a table, figures rounded as in the JSON (empty = null); every row
    carries the JSON report's content hash, so the two forms can be matched."""
    _, digest = jurisdiction_json(report)
    used = [i for i in INDICATORS
            if report.ranking and any(f.indicator == i for f in report.ranking[0].indicators)]
    header = ["rank", "enterprise", "name", "industry", "benchmark_group", "evaluable",
              "score", "class", "last_year_score", "last_year_class", "score_change"]
    for name in used:
        header += [f"{name}", f"{name}_benchmark", f"{name}_points",
                   f"{name}_last_year", f"{name}_change"]
    header += ["land_area_mu", "controlled_tce", "next_class", "next_class_points_needed",
               "largest_gap_indicator", "largest_gap_value_needed", "missing",
               HASH_FIELD]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    rows = canonical_value(msgspec.to_builtins(report.ranking))
    for row in rows:
        by_name = {f["indicator"]: f for f in row["indicators"]}
        nxt = row["next_class"] or {}
        cells: list[Any] = [row["rank"], row["enterprise"], row["name"], row["industry"],
                            row["benchmark_group"], row["evaluable"], row["score"],
                            row["class"], row["last_year"]["score"], row["last_year"]["class"],
                            row["score_change"]]
        for name in used:
            f = by_name.get(name, {})
            cells += [f.get("value"), f.get("benchmark"), f.get("points"),
                      f.get("last_year_value"), f.get("change")]
        cells += [row["inputs"]["land_area_mu"], row["inputs"]["controlled_tce"],
                  nxt.get("target_class"), nxt.get("points_needed"), nxt.get("indicator"),
                  nxt.get("value_needed"), "; ".join(row["missing"]), digest]
        writer.writerow([_cell(c) for c in cells])
    return buffer.getvalue().encode("utf-8"), digest


def render_jurisdiction(report: JurisdictionReport, fmt: str) -> tuple[bytes, str]:
    """The report as `json`, `csv` or `pdf` bytes, and its content hash."""
    if fmt == "csv":
        return jurisdiction_csv(report)
    body, digest = jurisdiction_json(report)
    if fmt == "pdf":
        from plantstream.reports.mu.pdf import jurisdiction_pdf  # matplotlib: only for PDFs
        return jurisdiction_pdf(report, digest), digest
    return body, digest
