"""Line protocol for docs/schema.md (`sample` in its v2 shape), as plain formatted strings.

influxdb-client's `Point` serialises about 150,000 points/s where a formatted string
reaches about 1.5 million (DESIGN.md), so bulk points are formatted directly. Tag
values are wire-format ids (`[A-Za-z0-9_.-]`), which need no escaping; string fields
are escaped. Every point's key (measurement, tags, timestamp) comes from the batch
alone, so a redelivered batch rewrites identical points (idempotent writes).
"""

from __future__ import annotations

import itertools
import operator
import secrets
from collections.abc import Iterable, Sequence
from typing import Final

import msgspec

from plantstream.analytics import MachineComponents, StateModel
from plantstream.config import PlantConfig
from plantstream.ingest.stops import CORRECTION_TAG, StopCorrection
from plantstream.store.lineprotocol import escape_string
from plantstream.store.lineprotocol import format_float as _num
from plantstream.wire import Batch, SignalSamples

__all__ = ["DIRTY", "SAMPLE_SCHEMA", "batch_lines", "component_lines", "correction_lines",
           "dirty_lines", "dirty_minute_lines", "is_late", "machines_sample_lines",
           "sample_lines"]

SAMPLE_SCHEMA: Final = 2  # `sample`: one point per machine and instant, a field per signal
DIRTY: Final = "rollup_dirty"  # read by plantstream.rollups.kpi
DEFAULT_LATE_AFTER_S: Final = 30.0
_MINUTE_MS: Final = 60_000
_MAX_DIRTY_MINUTES: Final = 1440  # a batch never spans a day; a guard against nonsense
_ENCODE: Final = msgspec.json.encode


def component_lines(components: Iterable[MachineComponents],
                    main_meters: frozenset[str] = frozenset()) -> list[str]:
    """The `oee_components`, `production` and `energy` points of the components; the
    energy of a main incoming meter (`main_meters`) goes to `energy_main` instead, so
    that sums over `energy` stay sums over the sub-meters."""
    out: list[str] = []
    for c in components:
        energy = "energy_main" if c.machine in main_meters else "energy"
        tags = f"site={c.site},line={c.line},machine={c.machine}"
        t = c.t_start_ms
        tc = c.time
        if c.has_state:  # a meter on its own has no time components
            out.append(
                f"oee_components,{tags} interval_s={_num(tc.interval_s)},"
                f"pot_s={_num(tc.pot_s)},planned_down_s={_num(tc.planned_down_s)},"
                f"pbt_s={_num(tc.pbt_s)},apt_s={_num(tc.apt_s)},asut_s={_num(tc.asut_s)},"
                f"adet_s={_num(tc.adet_s)},adot_s={_num(tc.adot_s)},"
                f"unknown_s={_num(tc.unknown_s)},minor_stop_s={_num(tc.minor_stop_s)},"
                f"minor_stops={tc.minor_stops}i,pq={tc.pq}i,gq={tc.gq}i,sq={tc.sq}i,"
                f"rq={tc.rq}i,pru_pq_s={_num(tc.pru_pq_s)},pru_gq_s={_num(tc.pru_gq_s)},"
                f"su={tc.su}i,pru_su_s={_num(tc.pru_su_s)} {t}")
        for p in c.products:
            pru = "" if p.pru_s is None else f",pru_s={_num(p.pru_s)}"
            out.append(f"production,{tags},product={p.product} good={p.good}i,"
                       f"scrap={p.scrap}i,rework={p.rework}i,"
                       f"startup_rejects={p.startup_rejects}i{pru} {t}")
        for e in c.energy:
            conv = ""
            if e.kgce is not None and e.kgco2 is not None:
                conv = f",kgce={_num(e.kgce)},kgco2={_num(e.kgco2)}"
            out.append(
                f"{energy},{tags},carrier={e.carrier} quantity={_num(e.quantity)},"
                f"unit={escape_string(e.unit)}{conv},covered_s={_num(e.covered_s)},"
                f"interval_s={_num(e.interval_s)},raw_start={_num(e.raw_start)},"
                f"raw_end={_num(e.raw_end)},rollovers={e.rollovers}i,resets={e.resets}i,"
                f"jitter={e.jitter}i,rejected={e.rejected}i {t}")
    return out


def correction_lines(corrections: Iterable[StopCorrection]) -> list[str]:
    """`oee_components` points tagged `correction=minor_stop`: differences that sum
    into the machine's components (a query that does not group by `correction` adds
    them). `apt_s` / `adet_s` / `adot_s` / `asut_s` only where they change (TPM model)."""
    out: list[str] = []
    for c in corrections:
        tc = c.time
        moved = "".join(f",{name}={_num(getattr(tc, name))}"
                        for name in ("apt_s", "asut_s", "adet_s", "adot_s")
                        if getattr(tc, name))
        out.append(f"oee_components,site={c.site},line={c.line},machine={c.machine},"
                   f"correction={CORRECTION_TAG} minor_stop_s={_num(tc.minor_stop_s)},"
                   f"minor_stops={tc.minor_stops}i{moved} {c.t_ms}")
    return out


def batch_lines(batch: Batch, plant: PlantConfig, model: StateModel, *, received_ms: int,
                raw_samples: bool = True, content: str | None = None,
                samples: int | None = None) -> list[str]:
    """The `batch`, `state` and (optionally) `sample` points of one batch; `content` is
    the batch's content hash (plantstream.ingest.conflicts), `samples` its
    `sample_count` when the caller has counted already (a pass over every signal)."""
    site = batch.site
    if samples is None:
        samples = batch.sample_count
    t0 = batch.t_start_ms
    hashed = "" if content is None else f"content={escape_string(content)},"
    out = [f"batch,site={site},gateway={batch.gateway} {hashed}seq={batch.seq}i,"
           f"machines={len(batch.machines)}i,samples={samples}i,"
           f"backlog={'true' if batch.backlog else 'false'},t_end={batch.t_end_ms}i,"
           f"lag_s={_num((received_ms - batch.t_end_ms) / 1000.0)} {t0}"]
    sampled: list[tuple[str, Sequence[SignalSamples]]] = []
    for m in batch.machines:
        tags = f"site={site},line={plant.line_of(m.machine)},machine={m.machine}"
        if m.state_at_start is not None:  # None: a meter on its own
            element, _ = model.element(m.state_at_start)
            out.append(f"state,{tags} code={m.state_at_start}i,element=\"{element}\" {t0}")
        for change in m.changes:
            element, _ = model.element(change.state)
            out.append(f"state,{tags} code={change.state}i,element=\"{element}\" {change.t_ms}")
        if raw_samples and m.samples:
            sampled.append((f"sample,{tags} ", m.samples))
    return out + machines_sample_lines(sampled, t0)


def machines_sample_lines(machines: Sequence[tuple[str, Sequence[SignalSamples]]],
                          t0: int) -> list[str]:
    """`sample_lines` of many machines (prefix, signals), the common case in bulk: when
    every machine has the same signals at the same offsets, all their points are
    formatted by a handful of C-level calls (see `_grid_lines`)."""
    if not machines:
        return []
    grid = _grid([signals for _, signals in machines])
    if grid is not None:
        return _grid_lines([p for p, _ in machines], [s for _, s in machines], *grid, t0)
    return [line for prefix, signals in machines
            for line in sample_lines(prefix, signals, t0)]


def sample_lines(prefix: str, signals: Sequence[SignalSamples], t0: int) -> list[str]:
    """Schema v2 `sample` points of one machine: one point per sample time with a field
    per signal sampled at that instant (docs/schema.md). Formatted in bulk when the
    signals share their offsets (the common case), else row by row; a signal named twice
    at one instant keeps its last value, as the one-point-per-sample schema v1 did."""
    grid = _grid([signals])
    if grid is not None:
        return _grid_lines([prefix], [signals], *grid, t0)
    rows: dict[int, dict[str, float]] = {}
    for s in signals:
        name = s.signal
        for off, v in zip(s.offsets_ms, s.values, strict=True):
            if v is not None:
                rows.setdefault(off, {})[name] = v
    return [f"{prefix}{','.join(f'{k}={v!r}' for k, v in fields.items())} {t0 + off}"
            for off, fields in sorted(rows.items())]


_SIGNAL = operator.attrgetter("signal")
_OFFSETS = operator.attrgetter("offsets_ms")
_VALUES = operator.attrgetter("values")


def _grid(machines: Sequence[Sequence[SignalSamples]]) -> tuple[list[str], list[int]] | None:
    """(names, offsets) when every machine has the signals `names`, each once, all
    sampled at `offsets` with no value missing; else None. (Checked with C-level maps:
    a generator per signal cost more than the formatting it guards.)"""
    names = list(map(_SIGNAL, machines[0]))
    if not names or len(set(names)) != len(names):
        return None
    if not all(list(map(_SIGNAL, signals)) == names for signals in machines[1:]):
        return None
    offsets: list[int] = machines[0][0].offsets_ms
    signals = [s for m in machines for s in m]
    if not all(map(offsets.__eq__, map(_OFFSETS, signals))):
        return None
    if any(map(operator.contains, map(_VALUES, signals), itertools.repeat(None))):
        return None
    return names, offsets


def _grid_lines(prefixes: list[str], machines: list[Sequence[SignalSamples]],
                names: list[str], offsets: list[int], t0: int) -> list[str]:
    """Points of machines whose signals form one grid (`_grid`), formatted in bulk.

    Formatting each value with `repr` in an f-string was 0.33 us per sample, the largest
    share of the worker's CPU (`python -m plantstream.bench.ingest_profile`). Here
    msgspec writes every value of the batch in one call (the shortest text that
    round-trips, as `repr`; InfluxDB parses it to the same float), and the lines are
    assembled by slicing token lists into one list of pieces and joining it once.
    """
    n, k = len(offsets), len(names)
    if n == 0:
        return []
    rows = [row for signals in machines for row in
            zip(*(s.values for s in signals), strict=True)]
    text = _ENCODE(rows).decode()  # "[[v,v,...],[v,...]]", row-major
    tokens = text[2:-2].replace("],[", ",").split(",")
    count = len(rows)
    step = 2 * k + 2  # per row: name=, value (k times), " ", stamp
    pieces: list[str] = [""] * (count * step)
    pieces[0::step] = [f"{prefix}{names[0]}=" for prefix in prefixes for _ in range(n)]
    for j in range(k):
        if j:
            pieces[2 * j::step] = [f",{names[j]}="] * count
        pieces[2 * j + 1::step] = tokens[j::k]
    pieces[2 * k::step] = [" "] * count
    pieces[2 * k + 1::step] = [f"{t0 + off}\n" for off in offsets] * len(machines)
    lines = "".join(pieces).split("\n")
    lines.pop()  # after the last newline
    return lines


def is_late(batch: Batch, received_ms: int, *,
            late_after_s: float = DEFAULT_LATE_AFTER_S) -> bool:
    return batch.backlog or received_ms - batch.t_end_ms > late_after_s * 1000


def dirty_lines(batch: Batch, plant: PlantConfig, received_ms: int, *,
                late_after_s: float = DEFAULT_LATE_AFTER_S) -> list[str]:
    """`rollup_dirty` points for a late batch (backlog, or received more than
    `late_after_s` after its t_end); [] for a batch on time.

    One point per minute window the batch touches (tag site, timestamp = minute start,
    field `token` random): the job derives the hour, shift and day windows from it.
    Write these with the batch's own points, in the same request. `plant` is checked
    for the site (a batch of an unknown site is never marked).
    """
    if not is_late(batch, received_ms, late_after_s=late_after_s):
        return []
    if plant.site(batch.site) is None:
        return []
    token = secrets.randbits(62)
    first = batch.t_start_ms - batch.t_start_ms % _MINUTE_MS
    minutes = range(first, batch.t_end_ms, _MINUTE_MS)[:_MAX_DIRTY_MINUTES]
    return [f"{DIRTY},site={batch.site} token={token}i,received_ms={received_ms}i,"
            f"gateway=\"{batch.gateway}\",seq={batch.seq}i {t}" for t in minutes]


def dirty_minute_lines(batch: Batch, times_ms: Iterable[int], received_ms: int) -> list[str]:
    """`rollup_dirty` points for the minutes of `times_ms` (points a batch writes into
    earlier windows, e.g. a minor stop's classification when it ends), whether or not
    the batch is late."""
    token = secrets.randbits(62)
    minutes = sorted({t - t % _MINUTE_MS for t in times_ms})
    return [f"{DIRTY},site={batch.site} token={token}i,received_ms={received_ms}i,"
            f"gateway=\"{batch.gateway}\",seq={batch.seq}i {t}" for t in minutes]
