"""Sums of raw components per window and machine (InfluxQL), and the KPI points.

The database does the summing (`sum()` grouped by line and machine, and by `time(1m)`
for minute windows); line and site aggregates are sums of the machine sums; every
ratio comes from `plantstream.analytics.kpis` over summed components.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from plantstream.analytics import TimeComponents, kpis, merge_time_components
from plantstream.store.influxql import InfluxQL, Series
from plantstream.store.lineprotocol import format_float as _num

__all__ = ["ALL", "COMPONENT_FIELDS", "Cell", "kpi_lines", "query_sums"]

ALL: Final = "_all"  # the `line` / `machine` tag value of an aggregate
FLOAT_FIELDS: Final = ("interval_s", "pot_s", "planned_down_s", "pbt_s", "apt_s", "asut_s",
                       "adet_s", "adot_s", "unknown_s", "minor_stop_s", "pru_pq_s",
                       "pru_gq_s", "pru_su_s")
INT_FIELDS: Final = ("minor_stops", "pq", "gq", "sq", "rq", "su")
COMPONENT_FIELDS: Final = FLOAT_FIELDS + INT_FIELDS
ENERGY_FIELDS: Final = ("quantity", "kgce", "kgco2")
RATIOS: Final = ("availability", "effectiveness", "quality", "oee", "value_adding")


@dataclass(slots=True)
class Cell:
    """Summed components of one window and one machine (or line, or site)."""

    time: TimeComponents = field(default_factory=TimeComponents)
    batches: int = 0
    # carrier -> [quantity, kgce, kgco2]; None where no batch had the field
    energy: dict[str, list[float | None]] = field(default_factory=dict)

    def add(self, other: Cell) -> None:
        self.time = merge_time_components([self.time, other.time])
        self.batches += other.batches
        for carrier, values in other.energy.items():
            mine = self.energy.setdefault(carrier, [None, None, None])
            for i, v in enumerate(values):
                if v is not None:
                    mine[i] = v if mine[i] is None else mine[i] + v  # type: ignore[operator]


Key = tuple[int, str, str]  # window start ms, line, machine


def _where(site: str, t0_ms: int, t1_ms: int) -> str:
    site_q = site.replace("'", "\\'")
    return f"\"site\" = '{site_q}' AND time >= {t0_ms}ms AND time < {t1_ms}ms"


def statements(site: str, t0_ms: int, t1_ms: int, *, minute_buckets: bool) -> list[str]:
    group = 'time(1m), "line", "machine"' if minute_buckets else '"line", "machine"'
    sums = ", ".join(f'sum("{f}") AS "{f}"' for f in COMPONENT_FIELDS)
    energy = ", ".join(f'sum("{f}") AS "{f}"' for f in ENERGY_FIELDS)
    where = _where(site, t0_ms, t1_ms)
    return [f'SELECT {sums}, count("pbt_s") AS "batches" FROM "oee_components" '
            f"WHERE {where} GROUP BY {group}",
            f'SELECT {energy} FROM "energy" WHERE {where} GROUP BY {group}, "carrier"']


def _number(value: Any) -> float:
    return float(value) if value is not None else 0.0


def _absorb(cells: dict[Key, Cell], series: Series) -> None:
    line = series.tags.get("line", "")
    machine = series.tags.get("machine", "")
    carrier = series.tags.get("carrier")
    if not line or not machine:
        return  # points without a line or machine tag are not part of any rollup
    for row in series.rows():
        key = (int(row["time"]), line, machine)
        if carrier is None:
            if not row.get("batches") and row.get("minor_stop_s") is None:
                continue  # an empty minute bucket (minor-stop corrections alone count)
            time = TimeComponents()
            for f in FLOAT_FIELDS:
                setattr(time, f, _number(row[f]))
            for f in INT_FIELDS:
                setattr(time, f, int(row[f] or 0))
            cell = cells.setdefault(key, Cell())
            cell.add(Cell(time=time, batches=int(row["batches"])))
        else:
            values = [None if row[f] is None else float(row[f]) for f in ENERGY_FIELDS]
            if all(v is None for v in values):
                continue
            cells.setdefault(key, Cell()).add(Cell(energy={carrier: values}))


def query_sums(influx: InfluxQL, site: str, windows: Sequence[tuple[int, int]], *,
               minute_buckets: bool = False, per_request: int = 200) -> dict[Key, Cell]:
    """Machine cells of every window. With `minute_buckets`, `windows` are contiguous
    ranges split into minutes by the database; otherwise one statement per window."""
    cells: dict[Key, Cell] = {}
    for i in range(0, len(windows), per_request):
        chunk = windows[i:i + per_request]
        query = ";".join(s for a, b in chunk
                         for s in statements(site, a, b, minute_buckets=minute_buckets))
        for series in influx.query(query):
            _absorb(cells, series)
    return cells


def with_aggregates(cells: dict[Key, Cell]) -> dict[Key, Cell]:
    """Machine cells plus line (`machine=_all`) and site (`line=_all`) sums."""
    out: dict[Key, Cell] = {}
    for (start, line, machine), cell in cells.items():
        out[(start, line, machine)] = cell
        for key in ((start, line, ALL), (start, ALL, ALL)):
            out.setdefault(key, Cell()).add(cell)
    return out


def kpi_lines(measurement: str, site: str, cells: dict[Key, Cell],
              window_end: dict[int, int]) -> Iterable[str]:
    """Line protocol of every cell: summed components, energy, ratios of the sums."""
    for (start, line, machine), cell in sorted(cells.items()):
        tc = cell.time
        parts = [f"{f}={_num(getattr(tc, f))}" for f in FLOAT_FIELDS]
        parts += [f"{f}={int(getattr(tc, f))}i" for f in INT_FIELDS]
        parts.append(f"batches={cell.batches}i")
        parts.append(f"window_s={_num((window_end[start] - start) / 1000)}")
        k = kpis(tc)
        for name in RATIOS:
            value = getattr(k, name)
            if value is not None:  # undefined is absent, never 0
                parts.append(f"{name}={_num(value)}")
        parts.append(f"effectiveness_above_one={'true' if k.effectiveness_above_one else 'false'}")
        kgce: float | None = None
        kgco2: float | None = None
        for carrier, (quantity, c_kgce, c_kgco2) in sorted(cell.energy.items()):
            if quantity is not None:
                parts.append(f"{carrier}_quantity={_num(quantity)}")
            if c_kgce is not None:
                parts.append(f"{carrier}_kgce={_num(c_kgce)}")
                kgce = c_kgce if kgce is None else kgce + c_kgce
            if c_kgco2 is not None:
                parts.append(f"{carrier}_kgco2={_num(c_kgco2)}")
                kgco2 = c_kgco2 if kgco2 is None else kgco2 + c_kgco2
        if kgce is not None:
            parts.append(f"kgce={_num(kgce)}")
        if kgco2 is not None:
            parts.append(f"kgco2={_num(kgco2)}")
        yield f"{measurement},site={site},line={line},machine={machine} {','.join(parts)} {start}"
