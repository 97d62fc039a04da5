"""Schema v2 of `sample`: one point per machine and instant, a field per signal; signals
sampled at different instants stay exact."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from plantstream.analytics import StateModel
from plantstream.config import Enterprise, Gateway, Line, Machine, PlantConfig, Site
from plantstream.devstack.services import InfluxD
from plantstream.ingest.points import batch_lines, machines_sample_lines
from plantstream.store.influxql import InfluxQL
from plantstream.store.samples import count_samples
from plantstream.store.writer import LineWriter
from plantstream.wire import Batch, MachineInterval, SignalSamples

T0 = 1_700_000_000_000
PLANT = PlantConfig(enterprise=Enterprise(id="e", name="E"), sites=[Site(id="s")],
                    lines=[Line(id="l", site="s")], gateways=[Gateway(id="g", site="s")],
                    machines=[Machine(id="m1", line="l", gateway="g"),
                              Machine(id="m2", line="l", gateway="g")])


def _batch(m1: list[SignalSamples], m2: list[SignalSamples]) -> Batch:
    return Batch(v=1, site="s", gateway="g", seq=1, t_start_ms=T0, t_end_ms=T0 + 1000,
                 machines=[MachineInterval(machine="m1", state_at_start=10000, samples=m1),
                           MachineInterval(machine="m2", state_at_start=10000, samples=m2)])


def _store(influxd: InfluxD, database: str, batch: Batch) -> list[str]:
    lines = [line for line in batch_lines(batch, PLANT, StateModel(PLANT.states),
                                          received_ms=T0 + 1000)
             if line.startswith("sample,")]
    with LineWriter(url=influxd.url, database=database) as writer:
        writer.write(lines)
    return lines


def test_signals_at_the_same_instants_share_one_point(
        influxd: InfluxD, database: str, influxql: InfluxQL) -> None:
    lines = _store(influxd, database, _batch(
        [SignalSamples(signal="temp", offsets_ms=[0, 500], values=[20.0, 21.0]),
         SignalSamples(signal="power_kw", offsets_ms=[0, 500], values=[3.0, 4.5])],
        [SignalSamples(signal="temp", offsets_ms=[0, 500], values=[30.0, 31.0])]))
    assert len(lines) == 4  # 2 machines x 2 instants, not 6 points
    rows = influxql.query('SELECT "temp", "power_kw" FROM "sample" '
                          "WHERE \"machine\" = 'm1'")[0].values
    assert rows == [[T0, 20.0, 3.0], [T0 + 500, 21.0, 4.5]]
    assert count_samples(influxql) == 6


def test_signals_sampled_at_different_instants_stay_exact(
        influxd: InfluxD, database: str, influxql: InfluxQL) -> None:
    _store(influxd, database, _batch(
        [SignalSamples(signal="temp", offsets_ms=[0, 500], values=[20.0, None]),
         SignalSamples(signal="power_kw", offsets_ms=[250, 500, 750], values=[3.0, 4.0, 5.0]),
         SignalSamples(signal="temp", offsets_ms=[900], values=[22.0])],  # named twice
        []))
    rows = influxql.query('SELECT "temp", "power_kw" FROM "sample"')[0].values
    assert rows == [[T0, 20.0, None], [T0 + 250, None, 3.0], [T0 + 500, None, 4.0],
                    [T0 + 750, None, 5.0], [T0 + 900, 22.0, None]]
    assert count_samples(influxql) == 5  # the missing (None) sample is not written
    assert influxql.scalar('SELECT mean("power_kw") FROM "sample" WHERE "machine" = '
                           "'m1'") == 4.0


# Bulk formatting (`_grid_lines`) writes values as msgspec's JSON text; the row-by-row
# path writes repr(). Both must be the same points, and InfluxDB must read back the
# very same floats, extremes included.
EXTREMES = [0.1, -0.0, 1e-05, 1e22, 5e-324, 1.7976931348623157e308, -2.2250738585072014e-308,
            123456789.123456789, 50.0, -7.0]
_value = st.one_of(st.sampled_from(EXTREMES),
                   st.floats(allow_nan=False, allow_infinity=False))


def _points(lines: list[str]) -> list[tuple[str, dict[str, float], int]]:
    out = []
    for line in lines:
        head, fields, stamp = line.split(" ")
        out.append((head, {k: float(v) for k, v in
                           (f.split("=") for f in fields.split(","))}, int(stamp)))
    return sorted(out, key=repr)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), signals=st.integers(1, 4), instants=st.integers(1, 5),
       machines=st.integers(1, 3))
def test_bulk_formatting_writes_the_points_of_row_by_row_formatting(
        data: st.DataObject, signals: int, instants: int, machines: int) -> None:
    offsets = sorted(data.draw(st.sets(st.integers(0, 999), min_size=instants,
                                       max_size=instants)))
    block = [(f"sample,machine=m{m} ",
              [SignalSamples(signal=f"s{j}", offsets_ms=offsets,
                             values=data.draw(st.lists(_value, min_size=instants,
                                                       max_size=instants)))
               for j in range(signals)]) for m in range(machines)]
    bulk = machines_sample_lines(block, T0)
    row_by_row = [f"{prefix}{','.join(f'{s.signal}={s.values[i]!r}' for s in sigs)} "
                  f"{T0 + off}" for prefix, sigs in block for i, off in enumerate(offsets)]
    assert _points(bulk) == _points(row_by_row)


def test_bulk_formatted_values_read_back_exactly(
        influxd: InfluxD, database: str, influxql: InfluxQL) -> None:
    n = len(EXTREMES)
    offsets = list(range(n))
    lines = _store(influxd, database, _batch(
        [SignalSamples(signal="a", offsets_ms=offsets, values=EXTREMES),
         SignalSamples(signal="b", offsets_ms=offsets, values=EXTREMES[::-1])],
        [SignalSamples(signal="a", offsets_ms=offsets, values=EXTREMES),
         SignalSamples(signal="b", offsets_ms=offsets, values=EXTREMES[::-1])]))
    assert len(lines) == 2 * n  # one grid for both machines
    rows = influxql.query('SELECT "a", "b" FROM "sample" WHERE "machine" = \'m2\'')[0].values
    assert rows == [[T0 + i, a, b] for i, (a, b) in
                    enumerate(zip(EXTREMES, EXTREMES[::-1], strict=True))]
