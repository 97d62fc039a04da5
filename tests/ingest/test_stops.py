"""How a timeline is cut into batches never changes a number (DESIGN.md, contract 7).

The real edge batcher cuts one machine timeline into 1 s, 10 s and 60 s batches; those
are merged into 1 h batches and into one batch for the whole timeline. Every batch goes
through the wire (encode, decode and check) and the real ingest component path
(`batches_components` + `stop_corrections`). The components summed per minute (1 s,
10 s, 60 s), per hour (also 1 h) and over the whole timeline (also one batch) are
identical, in both OEE models; and the examples of issue 13 give the right answers.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plantstream.analytics import (
    ShiftCalendar,
    StateModel,
    TimeComponents,
    kpis,
    load_coefficients,
    six_big_losses,
)
from plantstream.config import (
    Enterprise,
    Gateway,
    Line,
    Machine,
    OeeSettings,
    PlantConfig,
    Site,
    convert,
)
from plantstream.devstack.services import InfluxD, Mosquitto
from plantstream.edge.batcher import Batcher
from plantstream.edge.readings import StateReading
from plantstream.ingest.components import batches_components
from plantstream.ingest.config import InfluxConfig, RollupConfig
from plantstream.ingest.points import correction_lines
from plantstream.ingest.stops import stop_corrections
from plantstream.ingest.worker import IngestWorker
from plantstream.rollups._sums import FLOAT_FIELDS, INT_FIELDS
from plantstream.rollups.kpi import RollupJob
from plantstream.store.influxql import InfluxQL
from plantstream.topics import Topics
from plantstream.wire import Batch, decode_batch, encode
from tests.harness import START_MS, Simulated, ingest_config, publish, simulate, wait_for_batches

HOUR = 3_600_000
T0 = 1_772_409_600_000  # 2026-03-02T00:00:00Z, an hour boundary
COEFFICIENTS = load_coefficients()
RUNNING, STOP, MICROSTOP, SETUP, IDLE = 10000, 40000, 50000, 100000, 60000
CODES = [RUNNING, STOP, MICROSTOP, SETUP, IDLE, 31000]  # 31000: unknown to the model


def plant(model: str = "iso22400", *, threshold_s: float = 120.0) -> PlantConfig:
    return PlantConfig(
        enterprise=Enterprise(id="e", name="E"), sites=[Site(id="s")],
        lines=[Line(id="l", site="s")], gateways=[Gateway(id="g", site="s")],
        machines=[Machine(id=m, line="l", gateway="g") for m in ("m0", "m1")],
        oee=OeeSettings(model=model, minor_stop_threshold_s=threshold_s))  # type: ignore[arg-type]


def edge_batches(readings: Sequence[StateReading], flush_ms: int, end_ms: int) -> list[Batch]:
    """The real batcher's intervals as decoded wire batches."""
    batcher = Batcher(flush_interval_ms=flush_ms, start_ms=T0)
    closed = batcher.add(readings) + batcher.close_until(end_ms)
    return [decode_batch(encode(Batch(v=1, site="s", gateway="g", seq=i,
                                      t_start_ms=c.t_start_ms, t_end_ms=c.t_end_ms,
                                      machines=c.machines)))
            for i, c in enumerate(closed)]


def merged(batches: Sequence[Batch], span_ms: int) -> list[Batch]:
    """Consecutive batches merged into batches of `span_ms` (what a gateway with that
    flush interval would have sent): state and its start from the first, all changes."""
    groups: dict[int, list[Batch]] = defaultdict(list)
    for b in batches:
        groups[(b.t_start_ms - T0) // span_ms].append(b)
    out = []
    for seq, (_, group) in enumerate(sorted(groups.items())):
        machines = {}
        for b in group:
            for m in b.machines:
                if m.machine not in machines:
                    machines[m.machine] = m
                else:
                    first = machines[m.machine]
                    machines[m.machine] = msgspec.structs.replace(
                        first, changes=[*first.changes, *m.changes])
        out.append(decode_batch(encode(Batch(
            v=1, site="s", gateway="g", seq=seq, t_start_ms=group[0].t_start_ms,
            t_end_ms=group[-1].t_end_ms, machines=list(machines.values())))))
    return out


def ingest_points(batches: Sequence[Batch], config: PlantConfig, *,
                  calendar: ShiftCalendar | None = None
                  ) -> list[tuple[int, str, TimeComponents]]:
    """(timestamp, machine, components) of every `oee_components` point ingest writes."""
    points = [(mc.t_start_ms, mc.machine, mc.time)
              for rows in batches_components(batches, config, COEFFICIENTS,
                                             calendar=calendar) for mc in rows]
    model = StateModel(config.states)
    for b in batches:
        corrections = stop_corrections(b, config, model, calendar=calendar)
        assert len(correction_lines(corrections)) == len(corrections)
        points += [(c.t_ms, c.machine, c.time) for c in corrections]
    return points


def summed(points: Iterable[tuple[int, str, TimeComponents]], window_ms: int
           ) -> dict[tuple[int, str], dict[str, int]]:
    """Components per (window, machine) in integer milliseconds (exact sums)."""
    out: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for t, machine, tc in points:
        cell = out[((t - T0) // window_ms, machine)]
        for f in fields(tc):
            value = getattr(tc, f.name)
            cell[f.name] += value if isinstance(value, int) else round(value * 1000)
    return {k: {f: v for f, v in cell.items() if v} for k, cell in out.items()}


def total(points: Iterable[tuple[int, str, TimeComponents]]) -> TimeComponents:
    out = TimeComponents()
    for _, _, tc in points:
        out.add(tc)
    return out


@st.composite
def timelines(draw: st.DrawFn, span_ms: int, focus_ms: int) -> list[StateReading]:
    """State readings of two machines over [T0, T0 + span_ms), events spread over it and
    clustered around `focus_ms`; repeated readings of an unchanged state too."""
    readings = []
    for machine in ("m0", "m1"):
        times = draw(st.lists(st.one_of(
            st.integers(T0 + 1, T0 + span_ms - 1),
            st.integers(T0 + focus_ms - 200_000, T0 + focus_ms + 200_000)), max_size=40))
        readings.append(StateReading(machine, T0, draw(st.sampled_from(CODES))))
        readings += [StateReading(machine, t, draw(st.sampled_from(CODES)))
                     for t in sorted(times)]
    readings.sort(key=lambda r: r.t_ms)
    return readings


@settings(max_examples=20, deadline=None)
@given(readings=timelines(20 * 60_000, 10 * 60_000), tpm=st.booleans(),
       threshold_s=st.sampled_from([3.0, 120.0]))
def test_components_do_not_depend_on_batch_length(
        readings: list[StateReading], tpm: bool, threshold_s: float) -> None:
    """1 s, 10 s and 60 s batches from the edge batcher, and one 20-minute batch: the
    same components per minute (and in total)."""
    end = T0 + 20 * 60_000
    config = plant("tpm" if tpm else "iso22400", threshold_s=threshold_s)
    per_minute = summed(ingest_points(edge_batches(readings, 60_000, end), config), 60_000)
    for flush in (1_000, 10_000):
        assert summed(ingest_points(edge_batches(readings, flush, end), config),
                      60_000) == per_minute
    whole = ingest_points(merged(edge_batches(readings, 60_000, end), end - T0), config)
    assert summed(whole, end - T0) == summed(
        ingest_points(edge_batches(readings, 1_000, end), config), end - T0)


@settings(max_examples=20, deadline=None)
@given(readings=timelines(2 * HOUR, HOUR), tpm=st.booleans(),
       threshold_s=st.sampled_from([3.0, 120.0]))
def test_hour_batches_give_the_same_hours(
        readings: list[StateReading], tpm: bool, threshold_s: float) -> None:
    """10 s batches, 1 h batches and one 2 h batch: the same components per hour (and in
    total), stops across the hour boundary included."""
    end = T0 + 2 * HOUR
    config = plant("tpm" if tpm else "iso22400", threshold_s=threshold_s)
    ten = edge_batches(readings, 10_000, end)
    per_hour = summed(ingest_points(ten, config), HOUR)
    assert summed(ingest_points(merged(ten, HOUR), config), HOUR) == per_hour
    assert summed(ingest_points(merged(ten, 2 * HOUR), config), 2 * HOUR) == summed(
        ingest_points(ten, config), 2 * HOUR)


def components(readings: Sequence[StateReading], flush_ms: int | None, end_ms: int,
               config: PlantConfig) -> TimeComponents:
    batches = edge_batches(readings, flush_ms or 60_000, end_ms)
    if flush_ms is None:
        batches = merged(batches, end_ms - T0)
    return total(ingest_points(batches, config))


@pytest.mark.parametrize("flush_ms", [None, 1_000, 10_000, 60_000])
def test_five_minute_stop_is_a_breakdown_in_any_batches(flush_ms: int | None) -> None:
    """10:00-10:05 running, 10:05-10:10 unspecified stop (issue 13's first example)."""
    readings = [StateReading("m0", T0, RUNNING), StateReading("m0", T0 + 300_000, STOP)]
    iso = components(readings, flush_ms, T0 + 600_000, plant())
    tpm = components(readings, flush_ms, T0 + 600_000, plant("tpm"))
    assert (iso.minor_stops, iso.minor_stop_s, iso.adet_s) == (0, 0.0, 300.0)
    assert six_big_losses(iso).breakdowns_s == 300.0
    assert kpis(iso).availability == 0.5
    assert kpis(tpm).availability == 0.5


@pytest.mark.parametrize("flush_ms", [None, 1_000, 10_000, 60_000])
def test_straddling_stop_is_one_minor_stop_of_30_s(flush_ms: int | None) -> None:
    """A 30 s stop from 10:00:55 to 10:01:25 (issue 13's second example)."""
    readings = [StateReading("m0", T0, RUNNING), StateReading("m0", T0 + 55_000, STOP),
                StateReading("m0", T0 + 85_000, RUNNING)]
    for model in ("iso22400", "tpm"):
        tc = components(readings, flush_ms, T0 + 120_000, plant(model))
        assert (tc.minor_stops, tc.minor_stop_s) == (1, 30.0)
        assert six_big_losses(tc, model=model).breakdowns_s == 0.0
        assert kpis(tc).availability == (90 / 120 if model == "iso22400" else 1.0)


def test_stop_ending_on_a_batch_boundary_is_judged_whole() -> None:
    """A stop from 10:00:05 to exactly 10:00:20: the change opens the third 10 s batch."""
    readings = [StateReading("m0", T0, RUNNING), StateReading("m0", T0 + 5_000, STOP),
                StateReading("m0", T0 + 20_000, RUNNING)]
    batches = edge_batches(readings, 10_000, T0 + 30_000)
    third = batches[2].machines[0]
    assert (third.state_at_start, third.state_since_ms) == (STOP, T0 + 5_000)
    assert [(c.t_ms, c.state) for c in third.changes] == [(T0 + 20_000, RUNNING)]
    tc = total(ingest_points(batches, plant()))
    assert (tc.minor_stops, tc.minor_stop_s) == (1, 15.0)


def test_an_open_stop_is_not_a_minor_stop_yet() -> None:
    """While a stop goes on, every batch counts it under its element (ADET); the batch
    where it ends writes its classification for the whole stop, keyed by its pieces."""
    readings = [StateReading("m0", T0, RUNNING), StateReading("m0", T0 + 55_000, STOP),
                StateReading("m0", T0 + 85_000, RUNNING)]
    batches = edge_batches(readings, 10_000, T0 + 120_000)
    open_part = total(ingest_points(batches[:8], plant()))  # up to 10:01:20
    assert (open_part.minor_stops, open_part.adet_s) == (0, 25.0)
    (ending,) = [b for b in batches if stop_corrections(b, plant(), StateModel(
        plant().states))]
    assert ending.t_start_ms == T0 + 80_000
    lines = correction_lines(stop_corrections(ending, plant(), StateModel(plant().states)))
    assert lines == [
        f"oee_components,site=s,line=l,machine=m0,correction=minor_stop "
        f"minor_stop_s=5.0,minor_stops=1i {T0 + 55_000}",
        f"oee_components,site=s,line=l,machine=m0,correction=minor_stop "
        f"minor_stop_s=25.0,minor_stops=0i {T0 + 60_000}"]


@pytest.mark.services
def test_live_path_stores_one_minor_stop_once(broker: Mosquitto, influxd: InfluxD,
                                              database: str, influxql: InfluxQL,
                                              topic_root: str, tmp_path: Path) -> None:
    """Real Mosquitto, worker and InfluxDB: the straddling 30 s stop in 10 s batches,
    every batch delivered twice, is one minor stop of 30 s; its minutes are marked dirty
    for the rollups, and the rolled-up minutes hold it."""
    readings = [StateReading("m0", START_MS, RUNNING),
                StateReading("m0", START_MS + 55_000, STOP),
                StateReading("m0", START_MS + 85_000, RUNNING)]
    batcher = Batcher(flush_interval_ms=10_000, start_ms=START_MS)
    closed = batcher.add(readings) + batcher.close_until(START_MS + 120_000)
    topic = Topics(root=topic_root).gateway(site="s", gateway="g").batch
    messages = [(topic, encode(Batch(v=1, site="s", gateway="g", seq=i,
                                     t_start_ms=c.t_start_ms, t_end_ms=c.t_end_ms,
                                     machines=c.machines))) for i, c in enumerate(closed)]
    config = plant()

    async def main() -> None:
        settings = ingest_config(broker_port=broker.port, influx_url=influxd.url,
                                 database=database, topic_root=topic_root, spool_dir=tmp_path)
        # no batch is late here: the only dirty markers are the stop's
        settings = msgspec.structs.replace(settings, rollup=RollupConfig(late_after_s=1e9))
        worker = IngestWorker(config=settings, plant=config)
        async with worker:
            await worker.connected.wait()
            await publish(broker.port, [m for message in messages for m in (message, message)])
            stored = await asyncio.to_thread(wait_for_batches, influxql, len(messages))
            assert stored == len(messages)
            async with asyncio.timeout(30):
                while worker.stats.batches < 2 * len(messages):
                    await asyncio.sleep(0.05)

    asyncio.run(main())
    row = influxql.query('SELECT sum("minor_stops"), sum("minor_stop_s"), sum("adet_s"), '
                         'sum("apt_s") FROM "oee_components"')[0].values[0][1:]
    assert row == [1, 30.0, 30.0, 90.0]
    dirty = influxql.query('SELECT "seq" FROM "rollup_dirty"')[0].values
    assert dirty == [[START_MS, 8], [START_MS + 60_000, 8]]  # by the batch where it ended
    with RollupJob(influx=InfluxConfig(url=influxd.url, database=database),
                   plant=config) as job:
        job.run_once(now_ms=START_MS + 3_600_000)
    minutes = influxql.query('SELECT "minor_stops", "minor_stop_s" FROM "kpi_1m" '
                             "WHERE \"machine\" = 'm0'")[0].values
    assert [v[1:] for v in minutes] == [[1, 5.0], [0, 25.0]]


def split(batches: Sequence[Batch], span_ms: int) -> list[Batch]:
    """Cut batches into `span_ms` pieces the way an edge agent would send them: the state
    at each piece's start, when it began, the changes inside (counts in the first)."""
    out: list[Batch] = []
    since: dict[str, int] = {}
    for b in batches:
        for t0 in range(b.t_start_ms, b.t_end_ms, span_ms):
            t1 = min(t0 + span_ms, b.t_end_ms)
            machines = []
            for m in b.machines:
                assert m.state_at_start is not None
                state = m.state_at_start
                for c in m.changes:
                    if c.t_ms < t0:
                        state = c.state
                if t0 == b.t_start_ms:
                    since.setdefault(m.machine, m.state_since_ms or t0)
                inside = [c for c in m.changes if t0 <= c.t_ms < t1]
                machines.append(msgspec.structs.replace(
                    m, state_at_start=state, changes=inside, state_since_ms=since[m.machine],
                    counts=m.counts if t0 == b.t_start_ms else []))
                for change in inside:
                    if change.state != state:
                        since[m.machine] = change.t_ms
                    state = change.state
            out.append(Batch(v=1, site=b.site, gateway=b.gateway, seq=len(out),
                             t_start_ms=t0, t_end_ms=t1, machines=machines))
    return out


@pytest.mark.parametrize("model", ["iso22400", "tpm"])
def test_iso22400_worked_example_in_10_s_batches(model: str) -> None:
    """The golden 8-hour case (tests/analytics/cases) as 2,880 batches of 10 s: every
    component equal to the two 4-hour batches (it counted 18 minor stops before)."""
    case = Path(__file__).parents[1] / "analytics" / "cases" / "iso22400_worked_example"
    batches = [decode_batch(line.encode()) for line in
               (case / "input.jsonl").read_text(encoding="utf-8").splitlines() if line]
    config = convert(tomllib.loads((case / "config.toml").read_text(encoding="utf-8"))
                     ["plant"], PlantConfig, source=str(case))
    config = msgspec.structs.replace(config, oee=msgspec.structs.replace(config.oee,
                                                                         model=model))
    whole = total(ingest_points(batches, config))
    tens = split(batches, 10_000)
    assert len(tens) == 2_880
    assert total(ingest_points(tens, config)) == whole
    assert (whole.minor_stops, whole.minor_stop_s) == (2, 150.0)


@pytest.mark.services
def test_simulated_shift_stores_the_same_numbers_in_10_s_and_60_s_batches(
        broker: Mosquitto, influxd: InfluxD, database: str, influxql: InfluxQL,
        topic_root: str, tmp_path: Path) -> None:
    """One simulated hour of 6 machines (minor stops, long unspecified stops, failures,
    breaks) sent as 10 s and as 60 s batches through Mosquitto, the ingest worker and
    InfluxDB: every stored component sums to the same per machine."""
    sums = ", ".join(f'sum("{f}")' for f in (*FLOAT_FIELDS, *INT_FIELDS))
    stored = []
    corrections = []
    for flush_s in (10, 60):
        sim = simulate(machines=6, sim_seconds=3600, topic_root=f"{topic_root}-{flush_s}",
                       flush_s=flush_s)
        name = f"{database}_{flush_s}"
        with InfluxQL(url=influxd.url, database=name) as client:
            client.create_database()

            async def main(sim: Simulated = sim, name: str = name,
                           client: InfluxQL = client, flush_s: int = flush_s) -> None:
                worker = IngestWorker(config=ingest_config(
                    broker_port=broker.port, influx_url=influxd.url, database=name,
                    topic_root=f"{topic_root}-{flush_s}", spool_dir=tmp_path / str(flush_s)),
                    plant=sim.plant)
                async with worker:
                    await worker.connected.wait()
                    await publish(broker.port, sim.messages)
                    assert await asyncio.to_thread(wait_for_batches, client,
                                                   sim.batches) == sim.batches

            asyncio.run(main())
            stored.append({s.tags["machine"]: [round(v, 6) for v in s.values[0][1:]]
                           for s in client.query(f'SELECT {sums} FROM "oee_components" '
                                                 'GROUP BY "machine"')})
            corrections.append(client.scalar(
                'SELECT count("minor_stops") FROM "oee_components" '
                "WHERE \"correction\" = 'minor_stop'") or 0)
            client.query(f'DROP DATABASE "{name}"')
    ten, sixty = stored
    assert len(ten) == 6
    minor_stops = len(FLOAT_FIELDS) + INT_FIELDS.index("minor_stops")
    assert sum(row[minor_stops] for row in ten.values()) > 0  # there were minor stops
    assert corrections[0] > corrections[1] > 0  # stops across batches were judged whole
    assert ten == sixty
