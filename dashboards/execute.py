"""Run a dashboard's panel queries against InfluxDB the way Grafana would: macros and
variables substituted (`macros.render`), each panel in its own time range, over the
v1 `/query` API. Used by `preview` and by the tests that prove every panel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from plantstream.dashboards.macros import (
    TimeRange,
    grafana_interval,
    panel_range,
    render,
)
from plantstream.dashboards.validate import expected_columns, group_by_tags, targets
from plantstream.store.influxql import InfluxQL, Series

__all__ = ["TargetResult", "run_dashboard", "run_variables"]


@dataclass(frozen=True, slots=True)
class TargetResult:
    panel: dict[str, Any]
    ref: str
    query: str  # as sent, after substitution
    time_range: TimeRange
    columns: list[str]  # what the panel expects besides `time`
    tags: list[str]  # GROUP BY tags every series carries
    series: list[Series]

    @property
    def title(self) -> str:
        return f"{self.panel.get('title')} [{self.ref}]"


def run_variables(model: Mapping[str, Any], client: InfluxQL,
                  selection: Mapping[str, Sequence[str] | str]) -> dict[str, list[str]]:
    """The values each template variable's query offers (as Grafana's dropdowns)."""
    variables = model.get("templating", {}).get("list", [])
    offered: dict[str, list[str]] = {}
    whole = TimeRange(0, 0)
    for v in variables:
        if v.get("type") != "query":
            continue
        query = render(str(v["query"]), time_range=whole, interval_ms=1000,
                       variables=variables, selection=selection)
        offered[str(v["name"])] = [str(row[1]) for s in client.query(query) for row in s.values]
    return offered


def run_dashboard(model: Mapping[str, Any], client: InfluxQL, *, time_range: TimeRange,
                  selection: Mapping[str, Sequence[str] | str], min_interval: str = "10s",
                  max_data_points: int = 1000) -> list[TargetResult]:
    variables = model.get("templating", {}).get("list", [])
    timezone = str(model.get("timezone") or "utc")
    results = []
    for p, t in targets(model):
        window = panel_range(time_range, str(p.get("timeFrom", "")), timezone)
        minimum = max(min_interval, str(p.get("interval") or min_interval),
                      key=lambda text: grafana_interval(TimeRange(0, 0), min_interval=text))
        interval_ms = grafana_interval(window, max_data_points=max_data_points,
                                       min_interval=minimum)
        query = render(str(t["query"]), time_range=window, interval_ms=interval_ms,
                       variables=variables, selection=selection)
        results.append(TargetResult(panel=p, ref=str(t.get("refId")), query=query,
                                    time_range=window, columns=expected_columns(query),
                                    tags=group_by_tags(query), series=client.query(query)))
    return results
