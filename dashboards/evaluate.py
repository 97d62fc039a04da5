"""Evaluate PlantStream alert rules against InfluxDB the way Grafana's unified
alerting does, so a rule can be proven here without a Grafana server.

Followed (Grafana 10/11 `pkg/expr` server-side expressions and `pkg/services/ngalert`):

* **queries**: `$timeFilter` becomes `time >= {now - from}ms and time <= {now - to}ms`
  (the InfluxQL backend's `renderTimeFilter`); every returned column besides `time`
  is one series labelled with the series' tags;
* **no data**: when any data source query returns no series, the evaluation is one
  NoData result labelled `datasource_uid` and `ref_id`; the rule's `noDataState`
  maps it to Normal (OK), NoData, or Alerting;
* **reduce** (`last`, `max`, `min`, `mean`, `sum`, `count`): mode `strict` gives NaN
  when any value is null or NaN; `dropNN` drops those first; `last`, `max`, `min`,
  `mean` of nothing are NaN, `sum` 0, `count` 0;
* **threshold** `gt` / `lt` and **math** (`$X`, numbers, comparisons, `&&`, `||`):
  1 or 0, NaN when an operand is NaN (except a short-circuiting `&&` / `||`); math
  joins series whose labels are equal or one a subset of the other, others drop;
* **condition**: per series, 0 is Normal, anything else (NaN included) Alerting,
  null NoData; two results with the same labels are an Error;
* **state and pending period**: Normal -> Pending on the first Alerting result when
  `for` > 0 (else straight to Alerting); Pending -> Alerting once
  `evaluated_at - pending_since >= for`; a Normal result resets to Normal. A series
  missing from an evaluation goes stale and resolves after two evaluation intervals.

Evaluations are sequential in rule time, so `run_rule` queries every evaluation time
up front (many InfluxQL statements per request) and then steps the state machine.

Not modelled: keep-firing-for, the Recovering state, execution errors other than the
duplicate-labels error, classic conditions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import httpx

from plantstream.dashboards._grafana import DATASOURCE_UID
from plantstream.dashboards.alerts import AlertRule, MathExpr, Query, Reduce, Threshold
from plantstream.dashboards.macros import TimeRange
from plantstream.errors import StoreError
from plantstream.store.influxql import InfluxQL, Series

__all__ = ["Firing", "Labels", "Result", "evaluate_once", "run_rule"]

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs
State = Literal["Normal", "Pending", "Alerting", "NoData", "Error"]
NAN = float("nan")


@dataclass(frozen=True, slots=True)
class Result:
    labels: Labels
    state: Literal["Normal", "Alerting", "NoData", "Error"]
    value: float | None = None


@dataclass(slots=True)
class Firing:
    """One alert instance's firing periods [start, end) in epoch ms (end None: still
    firing after the last evaluation)."""

    labels: Labels
    periods: list[tuple[int, int | None]] = field(default_factory=list)

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def _labels(tags: Mapping[str, str]) -> Labels:
    return tuple(sorted((str(k), str(v)) for k, v in tags.items()))


def _statement(node: Query, at_ms: int) -> str:
    window = TimeRange(at_ms - node.from_s * 1000, at_ms - node.to_s * 1000)
    return node.query.replace("$timeFilter", window.time_filter)


def _query_many(client: InfluxQL, statements: list[str], *, per_request: int = 200
                ) -> list[list[Series]]:
    """Each statement's series, many statements per HTTP request (a rule evaluated at
    hundreds of times would otherwise be hundreds of round trips). Uses the client's
    own HTTP session (same URL, database and credentials)."""
    out: list[list[Series]] = []
    for i in range(0, len(statements), per_request):
        chunk = statements[i:i + per_request]
        try:
            r = client._http.post(f"{client.url}/query", data={
                "db": client.database, "q": ";\n".join(chunk), "epoch": "ms"})
        except httpx.HTTPError as exc:
            raise StoreError(url=client.url, status=None, reason=str(exc)) from None
        if r.status_code != 200:
            raise StoreError(url=client.url, status=r.status_code, reason=r.text[:500])
        results = sorted(r.json().get("results", []), key=lambda x: int(x["statement_id"]))
        if len(results) != len(chunk):
            raise StoreError(url=client.url, status=200,
                             reason=f"{len(results)} results for {len(chunk)} statements")
        for result, text in zip(results, chunk, strict=True):
            if "error" in result:
                raise StoreError(url=client.url, status=200,
                                 reason=f"{result['error']} in {text!r}")
            out.append([Series(name=x.get("name", ""), tags=x.get("tags", {}) or {},
                               columns=x["columns"], values=x.get("values", []))
                        for x in result.get("series", [])])
    return out


def _query(node: Query, found: list[Series]) -> dict[Labels, list[float | None]] | None:
    series: dict[Labels, list[float | None]] = {}
    for s in found:
        for column in s.columns:
            if column == "time":
                continue
            key = _labels(s.tags)
            if key in series:
                raise ValueError(f"{node.ref}: duplicate series {key}")
            series[key] = [None if v is None else float(v) for v in s.column(column)]
    return series or None


def _reduce(node: Reduce, values: list[float | None]) -> float:
    numbers = [NAN if v is None else v for v in values]
    if node.mode == "dropNN":
        numbers = [v for v in numbers if not math.isnan(v)]
    elif any(math.isnan(v) for v in numbers):
        return NAN
    if node.reducer == "count":
        return float(len(numbers))
    if node.reducer == "sum":
        return float(sum(numbers))
    if not numbers:
        return NAN
    if node.reducer == "last":
        return numbers[-1]
    if node.reducer == "max":
        return max(numbers)
    if node.reducer == "min":
        return min(numbers)
    return sum(numbers) / len(numbers)


def _compare(op: str, a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return NAN
    result = {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b, "==": a == b,
              "!=": a != b}[op]
    return 1.0 if result else 0.0


def _logic(op: str, a: float, b: float) -> float:
    """Grafana's (Go) binaryOp: short circuit first (NaN != 0), then NaN propagates."""
    if op == "||" and a != 0:
        return 1.0
    if op == "&&" and a == 0:
        return 0.0
    if math.isnan(a) or math.isnan(b):
        return NAN
    return float(b != 0)


_TOKEN = re.compile(r"\s*(\$\{?[A-Za-z]\w*\}?|-?\d+(?:\.\d+)?(?:e-?\d+)?|&&|\|\||[<>!=]=|[<>])")


def _math(expression: str, values: Mapping[str, float]) -> float:
    """Comparisons joined by && / || (left to right, && before ||), as Grafana's math."""
    tokens = _TOKEN.findall(expression)
    if "".join(tokens).replace(" ", "") != expression.replace(" ", ""):
        raise ValueError(f"unsupported math expression: {expression}")

    def operand(token: str) -> float:
        if token.startswith("$"):
            return values[token.strip("${}")]
        return float(token)

    def comparison(i: int) -> tuple[float, int]:
        left = operand(tokens[i])
        if i + 1 < len(tokens) and tokens[i + 1] in ("<", ">", "<=", ">=", "==", "!="):
            return _compare(tokens[i + 1], left, operand(tokens[i + 2])), i + 3
        return left, i + 1

    def conjunction(i: int) -> tuple[float, int]:
        value, i = comparison(i)
        while i < len(tokens) and tokens[i] == "&&":
            right, i = comparison(i + 1)
            value = _logic("&&", value, right)
        return value, i

    value, i = conjunction(0)
    while i < len(tokens) and tokens[i] == "||":
        right, i = conjunction(i + 1)
        value = _logic("||", value, right)
    return value


def _join(operands: dict[str, dict[Labels, float]]) -> list[tuple[Labels, dict[str, float]]]:
    """Combine the operands' series whose labels are equal or nested."""
    combos: list[tuple[Labels, dict[str, float]]] = [((), {})]
    for ref, series in operands.items():
        joined = []
        for labels, values in combos:
            for other, number in series.items():
                a, b = set(labels), set(other)
                if not values or a <= b or b <= a:
                    joined.append((tuple(sorted(a | b)), {**values, ref: number}))
        combos = joined
    return combos


def evaluate_once(rule: AlertRule, client: InfluxQL, at_ms: int, *,
                  fetched: Mapping[str, list[Series]] | None = None) -> list[Result]:
    """One evaluation at `at_ms`: the condition's result per series (`fetched`: each
    query's series at `at_ms`, when already queried)."""
    numbers: dict[str, dict[Labels, float]] = {}
    raw: dict[str, dict[Labels, list[float | None]]] = {}
    for node in rule.nodes:
        if isinstance(node, Query):
            found = _query(node, fetched[node.ref] if fetched is not None
                           else client.query(_statement(node, at_ms)))
            if found is None:
                return [Result(labels=_labels({"datasource_uid": DATASOURCE_UID,
                                               "ref_id": node.ref}), state="NoData")]
            raw[node.ref] = found
        elif isinstance(node, Reduce):
            numbers[node.ref] = {k: _reduce(node, v) for k, v in raw[node.expression].items()}
        elif isinstance(node, Threshold):
            numbers[node.ref] = {k: _compare("<" if node.op == "lt" else ">", v, node.value)
                                 for k, v in numbers[node.expression].items()}
        elif isinstance(node, MathExpr):
            operands = {ref: numbers[ref] for ref in dict.fromkeys(node.refs)}
            numbers[node.ref] = {labels: _math(node.expression, values)
                                 for labels, values in _join(operands)}
    results = [Result(labels=k, state="Normal" if v == 0 else "Alerting", value=v)
               for k, v in numbers[rule.condition].items()]
    if len({r.labels for r in results}) != len(results):
        return [Result(labels=(), state="Error")]
    return results


_NO_DATA: dict[str, State] = {"OK": "Normal", "Alerting": "Alerting", "NoData": "NoData"}


@dataclass(slots=True)
class _Instance:
    state: State = "Normal"
    since_ms: int = 0
    last_seen_ms: int = 0


def run_rule(rule: AlertRule, client: InfluxQL, times: Iterable[int]) -> list[Firing]:
    """Evaluate `rule` at each of `times` (epoch ms, ascending, one group interval
    apart) with Grafana's state machine; return every instance that fired."""
    instances: dict[Labels, _Instance] = {}
    firing: dict[Labels, Firing] = {}
    rule_labels = dict(rule.labels) | {"alertname": rule.title}
    interval_ms = rule.interval_s * 1000
    times = list(times)
    fetched = {q.ref: _query_many(client, [_statement(q, at) for at in times])
               for q in rule.queries}
    for i, at in enumerate(times):
        seen = set()
        for result in evaluate_once(rule, client, at,
                                    fetched={ref: found[i] for ref, found in fetched.items()}):
            labels = _labels({**rule_labels, **dict(result.labels)})
            seen.add(labels)
            state: State = result.state
            if state == "NoData":
                state = _NO_DATA[rule.no_data]
            inst = instances.setdefault(labels, _Instance())
            inst.last_seen_ms = at
            if state == "Alerting":
                if inst.state == "Pending":
                    if at - inst.since_ms >= rule.for_s * 1000:
                        inst.state, inst.since_ms = "Alerting", at
                elif inst.state != "Alerting":
                    inst.state = "Pending" if rule.for_s > 0 else "Alerting"
                    inst.since_ms = at
            elif inst.state != state:
                inst.state, inst.since_ms = state, at
            _record(firing, labels, inst, at)
        for labels, inst in instances.items():
            if labels not in seen and at - inst.last_seen_ms >= 2 * interval_ms:
                inst.state = "Normal"  # stale series: resolved
                _record(firing, labels, inst, at)
    return list(firing.values())


def _record(firing: dict[Labels, Firing], labels: Labels, inst: _Instance, at: int) -> None:
    entry = firing.get(labels)
    is_open = entry is not None and entry.periods and entry.periods[-1][1] is None
    if inst.state == "Alerting" and not is_open:
        firing.setdefault(labels, Firing(labels=labels)).periods.append((at, None))
    elif inst.state != "Alerting" and is_open and entry is not None:
        entry.periods[-1] = (entry.periods[-1][0], at)
