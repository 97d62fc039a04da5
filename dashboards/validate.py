"""Is a dashboard a valid Grafana dashboard model that PlantStream can stand behind?

`problems(model)` lists what is wrong (empty: valid): schema version set, unique
panel ids, grid positions inside the 24 columns and not overlapping, every data source
reference resolving to the provisioned data source, every template variable used
defined, every target a raw InfluxQL query whose SELECT names each column it returns.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from plantstream.dashboards._grafana import DATASOURCE_NAME, DATASOURCE_TYPE, DATASOURCE_UID
from plantstream.dashboards.macros import variables_used

__all__ = ["expected_columns", "group_by_tags", "problems", "targets"]

_SELECT = re.compile(r"^\s*SELECT\s+(?P<items>.+?)\s+FROM\s", re.I | re.S)
_ALIAS = re.compile(r'\sAS\s+"(?P<name>[^"]+)"\s*$', re.I)
_GROUP_BY = re.compile(r"\sGROUP\s+BY\s+(?P<keys>.+?)(?:\s+fill\(|\s+ORDER\s|\s+LIMIT\s|"
                       r"\s+tz\(|$)", re.I | re.S)
_LINK_UID = re.compile(r"/d/([\w-]+)")


def _split_top_level(text: str) -> list[str]:
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    items.append("".join(current).strip())
    return items


def expected_columns(query: str) -> list[str]:
    """The columns a query returns besides `time`: every SELECT item's `AS "name"`
    (raises ValueError for an item without an alias); SHOW queries give key, value."""
    if re.match(r"^\s*SHOW\s+TAG\s+VALUES", query, re.I):
        return ["key", "value"]
    match = _SELECT.match(query)
    if not match:
        raise ValueError(f"not a SELECT or SHOW TAG VALUES query: {query}")
    columns = []
    for item in _split_top_level(match.group("items")):
        alias = _ALIAS.search(" " + item)
        if not alias:
            raise ValueError(f"SELECT item without AS \"name\": {item!r}")
        columns.append(alias.group("name"))
    return columns


def group_by_tags(query: str) -> list[str]:
    match = _GROUP_BY.search(query)
    if not match:
        return []
    return [k.strip().strip('"') for k in _split_top_level(match.group("keys"))
            if not k.strip().lower().startswith("time(")]


def targets(model: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(panel, target) for every target of every panel (rows' nested panels too)."""
    for p in model.get("panels", []):
        for nested in [p, *p.get("panels", [])]:
            for t in nested.get("targets", []):
                yield nested, t


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _datasource_problem(where: str, ref: Any) -> str | None:
    if isinstance(ref, str):
        return None if ref == DATASOURCE_NAME else f"{where}: data source {ref!r} unknown"
    if not isinstance(ref, Mapping):
        return f"{where}: no data source"
    if ref.get("type") == "grafana" or ref.get("uid") == "-- Grafana --":
        return None  # Grafana's built-in annotation source
    if ref.get("uid") != DATASOURCE_UID or ref.get("type") != DATASOURCE_TYPE:
        return f"{where}: data source {dict(ref)} is not the provisioned {DATASOURCE_UID}"
    return None


def _overlaps(a: Mapping[str, int], b: Mapping[str, int]) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def problems(model: Mapping[str, Any], *, known_uids: frozenset[str] = frozenset()
             ) -> list[str]:
    found: list[str] = []
    if not isinstance(model.get("schemaVersion"), int) or model["schemaVersion"] < 30:
        found.append(f"schemaVersion not set to a current version: {model.get('schemaVersion')}")
    for key in ("uid", "title", "timezone"):
        if not model.get(key):
            found.append(f"dashboard {key} not set")
    panels = list(model.get("panels", []))
    ids = [p.get("id") for p in panels]
    if any(not isinstance(i, int) for i in ids) or len(set(ids)) != len(ids):
        found.append(f"panel ids not unique integers: {ids}")
    titles = [p.get("title") for p in panels]
    if len(set(titles)) != len(titles):
        found.append(f"panel titles not unique: {titles}")
    boxes: list[tuple[str, dict[str, int]]] = []
    for p in panels:
        pos = p.get("gridPos", {})
        name = f"panel {p.get('id')} {p.get('title')!r}"
        if not all(isinstance(pos.get(k), int) for k in ("x", "y", "w", "h")):
            found.append(f"{name}: gridPos incomplete {pos}")
            continue
        if pos["x"] < 0 or pos["y"] < 0 or pos["w"] < 1 or pos["h"] < 1 or \
                pos["x"] + pos["w"] > 24:
            found.append(f"{name}: gridPos outside the 24-column grid {pos}")
        for other, other_pos in boxes:
            if _overlaps(pos, other_pos):
                found.append(f"{name} overlaps {other}")
        boxes.append((name, pos))
        if p.get("type") != "row":
            problem = _datasource_problem(name, p.get("datasource"))
            if problem:
                found.append(problem)
    for p, t in targets(model):
        where = f"panel {p.get('id')} target {t.get('refId')}"
        problem = _datasource_problem(where, t.get("datasource", p.get("datasource")))
        if problem:
            found.append(problem)
        if not t.get("rawQuery") or not t.get("query"):
            found.append(f"{where}: not a raw InfluxQL query")
            continue
        try:
            expected_columns(t["query"])
        except ValueError as exc:
            found.append(f"{where}: {exc}")
    for p in panels:
        refs = [t.get("refId") for t in p.get("targets", [])]
        if len(set(refs)) != len(refs):
            found.append(f"panel {p.get('id')}: refIds not unique {refs}")
    variables = model.get("templating", {}).get("list", [])
    defined = {v.get("name") for v in variables}
    for v in variables:
        if v.get("type") == "query":
            problem = _datasource_problem(f"variable {v.get('name')}", v.get("datasource"))
            if problem:
                found.append(problem)
    used = set().union(*(variables_used(s) for s in _strings(
        {k: v for k, v in model.items() if k != "templating"})))
    used |= set().union(*(variables_used(str(v.get("query", ""))) for v in variables))
    for name in sorted(used - defined):
        found.append(f"template variable ${name} used but not defined")
    uids = known_uids | {model.get("uid")}
    for text in _strings(model.get("panels", [])):
        for uid in _LINK_UID.findall(text):
            if known_uids and uid not in uids:
                found.append(f"link to unknown dashboard {uid}")
    return found
