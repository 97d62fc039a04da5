"""The evaluator's state machine against a real InfluxDB, on points written by the
test: pending period, no-data handling, stale series, one instance per series,
NaN as Alerting (Grafana's `evaluateExecutionResult`)."""

from __future__ import annotations

import httpx
import pytest

from plantstream.dashboards.alerts import AlertRule, MathExpr, Query, Reduce, Threshold
from plantstream.dashboards.evaluate import evaluate_once, run_rule
from plantstream.store.influxql import InfluxQL

pytestmark = pytest.mark.services

MIN = 60_000
T0 = 1_790_000_000_000 - 1_790_000_000_000 % MIN  # a whole minute


def _write(client: InfluxQL, lines: list[str]) -> None:
    r = httpx.post(f"{client.url}/write", params={"db": client.database, "precision": "ms"},
                   content="\n".join(lines).encode())
    assert r.status_code == 204, r.text


def _rule(*, for_s: int = 0, no_data: str = "OK", op: str = "gt", value: float = 10.0,
          query: str = 'SELECT max("lag_s") AS "lag" FROM "ingest_health" '
                       'WHERE $timeFilter GROUP BY "worker"') -> AlertRule:
    return AlertRule(uid="ps-test", title="Test", group="ingest", condition="C",
                     summary="s", action="a", dashboard_uid="plantstream-gateways",
                     panel="Backlog", for_s=for_s, no_data=no_data,  # type: ignore[arg-type]
                     nodes=(Query(ref="A", from_s=60, query=query),
                            Reduce(ref="B", expression="A"),
                            Threshold(ref="C", expression="B", op=op,  # type: ignore[arg-type]
                                      value=value)))


def _lag(client: InfluxQL, worker: str, values: dict[int, float]) -> None:
    """One ingest_health point per minute offset: minute -> lag (at 30 s into it)."""
    _write(client, [f"ingest_health,worker={worker} lag_s={v} {T0 + m * MIN + 30_000}"
                    for m, v in values.items()])


def test_pending_period_then_firing_then_resolved(influxql: InfluxQL) -> None:
    # high from minute 2 to minute 6 (evaluations at the end of each minute see it)
    _lag(influxql, "w1", {m: (50.0 if 2 <= m <= 6 else 1.0) for m in range(12)})
    times = [T0 + m * MIN for m in range(1, 13)]
    fired = run_rule(_rule(for_s=120), influxql, times)
    assert len(fired) == 1 and fired[0].label_map["worker"] == "w1"
    # true at T0+3m (pending since), +4m, +5m: 120 s observed at +5m -> Alerting
    assert fired[0].periods == [(T0 + 5 * MIN, T0 + 8 * MIN)]
    # a pending period longer than the condition lasts: never fires
    assert run_rule(_rule(for_s=300), influxql, times) == []
    # without one: fires on the first true evaluation
    assert run_rule(_rule(), influxql, times)[0].periods == [(T0 + 3 * MIN, T0 + 8 * MIN)]


def test_one_instance_per_series(influxql: InfluxQL) -> None:
    _lag(influxql, "w1", {0: 50.0})
    _lag(influxql, "w2", {0: 1.0})
    _lag(influxql, "w3", {0: 70.0})
    results = evaluate_once(_rule(), influxql, T0 + MIN)
    states = {dict(r.labels)["worker"]: r.state for r in results}
    assert states == {"w1": "Alerting", "w2": "Normal", "w3": "Alerting"}


def test_no_data_follows_the_rules_no_data_state(influxql: InfluxQL) -> None:
    times = [T0 + m * MIN for m in range(1, 4)]
    (result,) = evaluate_once(_rule(), influxql, times[0])
    assert result.state == "NoData"
    assert dict(result.labels) == {"datasource_uid": "plantstream-influxql", "ref_id": "A"}
    assert run_rule(_rule(no_data="OK"), influxql, times) == []
    assert run_rule(_rule(no_data="NoData"), influxql, times) == []  # NoData is not firing
    (silent,) = run_rule(_rule(no_data="Alerting"), influxql, times)
    assert silent.periods == [(times[0], None)]
    assert silent.label_map["ref_id"] == "A"


def test_a_vanished_series_resolves_after_two_intervals(influxql: InfluxQL) -> None:
    _lag(influxql, "w1", {0: 50.0})
    _lag(influxql, "w2", {m: 1.0 for m in range(6)})  # keeps the query from being NoData
    times = [T0 + m * MIN for m in range(1, 6)]
    (fired,) = run_rule(_rule(), influxql, times)
    # firing at +1m; w1 is gone from +2m; stale (resolved) two intervals after last seen
    assert fired.periods == [(T0 + MIN, T0 + 3 * MIN)]


def test_nan_is_alerting_as_in_grafana(influxql: InfluxQL) -> None:
    """A null in the reduced series makes strict reduce NaN; Grafana's condition
    treats NaN (nonzero) as Alerting: the rules avoid nulls for that reason."""
    _write(influxql, [f"m,w=a x=1 {T0 + 10_000}"])
    rule = AlertRule(uid="ps-test", title="Test", group="ingest", condition="C", summary="s",
                     action="a", dashboard_uid="plantstream-gateways", panel="Backlog",
                     nodes=(Query(ref="A", from_s=60, query='SELECT max("x") AS "x" FROM '
                                  '"m" WHERE $timeFilter GROUP BY time(10s)'),  # null buckets
                            Reduce(ref="B", expression="A", reducer="max"),
                            MathExpr(ref="C", expression="$B > 5")))
    (result,) = evaluate_once(rule, influxql, T0 + MIN)
    assert result.state == "Alerting" and result.value != result.value  # NaN
