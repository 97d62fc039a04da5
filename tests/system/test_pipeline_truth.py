"""End to end against real Mosquitto and InfluxDB: what the database holds equals what
the simulated machines really did (their ground truth).

Seconds per time element and part counts must match exactly; energy to one register
count (the meters are integer registers, the truth is the exact integral). A batch
dropped anywhere shows up as missing seconds and parts; a batch counted twice as extra.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from plantstream.devstack.demo import PipelineResult, run_pipeline
from plantstream.devstack.services import InfluxD, Mosquitto
from plantstream.store.influxql import InfluxQL

pytestmark = [pytest.mark.services, pytest.mark.slow]

ELEMENT_FIELD = {"APT": "apt_s", "ASUT": "asut_s", "ADET": "adet_s", "ADOT": "adot_s",
                 "PLANNED_DOWN": "planned_down_s"}
REGISTER_COUNT = {"electricity": 0.001, "natural_gas": 0.01, "steam_1_0mpa": 1.0}


@pytest.fixture(scope="module")
def shift(broker: Mosquitto, influxd: InfluxD, tmp_path_factory: pytest.TempPathFactory,
          ) -> Iterator[tuple[PipelineResult, InfluxQL]]:
    import asyncio

    database = "truth_shift"
    result = asyncio.run(run_pipeline(
        broker_port=broker.port, influx_url=influxd.url, database=database,
        topic_root="truth", state_dir=tmp_path_factory.mktemp("pipeline"), machines=6,
        sim_seconds=4 * 3600, speedup=4000.0, seed=11, meter_devices=True))
    with InfluxQL(url=influxd.url, database=database) as influx:
        yield result, influx


def _by_machine(influx: InfluxQL, query: str) -> dict[str, list[object]]:
    return {s.tags["machine"]: s.values[0][1:] for s in influx.query(query)}


def test_time_elements_equal_ground_truth(shift: tuple[PipelineResult, InfluxQL]) -> None:
    result, influx = shift
    fields = list(ELEMENT_FIELD.values())
    stored = _by_machine(influx, "SELECT " + ", ".join(f'sum("{f}")' for f in fields)
                         + ', sum("interval_s") FROM "oee_components" GROUP BY "machine"')
    element_of = {s.code: s.element for s in result.plant.states}
    timed = {m: t for m, t in result.truth.items() if not t.meter_only}
    assert set(stored) == set(timed)  # a meter on its own has no time components
    for machine, truth in timed.items():
        expected: dict[str, float] = defaultdict(float)
        for code, ms in truth.state_ms.items():
            expected[ELEMENT_FIELD[element_of[code]]] += ms / 1000.0
        row = dict(zip([*fields, "interval_s"], stored[machine], strict=True))
        for field in fields:
            assert row[field] == pytest.approx(expected[field], abs=1e-6), (machine, field)
        span_s = (result.horizon_ms[machine] - result.t_start_ms) / 1000.0
        assert row["interval_s"] == pytest.approx(span_s, abs=1e-6)
        assert sum(expected.values()) == pytest.approx(span_s, abs=1e-6)


def test_part_counts_equal_ground_truth(shift: tuple[PipelineResult, InfluxQL]) -> None:
    result, influx = shift
    stored: dict[tuple[str, str, str], int] = {}
    for s in influx.query('SELECT sum("good"), sum("scrap"), sum("rework"), '
                          'sum("startup_rejects") FROM "production" '
                          'GROUP BY "machine", "product"'):
        good, scrap, rework, startup = s.values[0][1:]
        for kind, n in (("good", good), ("scrap", scrap), ("rework", rework),
                        ("startup_rejects", startup)):
            if n:
                stored[(s.tags["machine"], s.tags["product"], kind)] = int(n)
    expected = {(m, product, kind): n for m, t in result.truth.items()
                for (product, kind), n in t.parts.items() if n}
    assert sum(expected.values()) > 500  # a real shift's worth of parts
    assert stored == expected


def test_startup_rejects_show_as_reduced_yield(shift: tuple[PipelineResult, InfluxQL]
                                               ) -> None:
    """The simulator's start-up rejects travel as their own count and come out as the
    six big losses' reduced yield (and as scrap in the quality ratio)."""
    result, influx = shift
    truth = sum(n for t in result.truth.values() for (_, kind), n in t.parts.items()
                if kind == "startup_rejects")
    assert truth > 0
    su, pru_su_s, sq = influx.query('SELECT sum("su"), sum("pru_su_s"), sum("sq") '
                                    'FROM "oee_components"')[0].values[0][1:]
    assert su == truth
    assert pru_su_s > 0
    scrap = sum(n for t in result.truth.values() for (_, kind), n in t.parts.items()
                if kind in ("scrap", "startup_rejects"))
    assert sq == scrap


def test_energy_equals_ground_truth(shift: tuple[PipelineResult, InfluxQL]) -> None:
    result, influx = shift
    stored = {(s.tags["machine"], s.tags["carrier"]): s.values[0][1] for s in influx.query(
        'SELECT sum("quantity") FROM "energy" GROUP BY "machine", "carrier"')}
    expected = {(m, carrier): kwh for m, t in result.truth.items()
                for carrier, kwh in t.energy_at_reading.items()}
    assert stored.keys() == expected.keys()
    assert {c for _, c in expected} >= {"electricity", "natural_gas", "steam_1_0mpa"}
    meters_alone = {m for m, t in result.truth.items() if t.meter_only}
    assert meters_alone and all((m, "electricity") in stored for m in meters_alone)
    for key, value in expected.items():
        assert stored[key] == pytest.approx(value, abs=REGISTER_COUNT[key[1]]), key


def test_every_batch_stored_once_in_sequence(shift: tuple[PipelineResult, InfluxQL]) -> None:
    result, influx = shift
    total = 0
    for s in influx.query('SELECT count("seq"), min("seq"), max("seq") FROM "batch" '
                          'GROUP BY "gateway"'):
        count, low, high = s.values[0][1:]
        assert (low, high) == (0, count - 1), s.tags  # no gap in the sequence numbers
        total += count
    assert total == result.batches
    rollovers = influx.scalar('SELECT sum("rollovers") FROM "energy"')
    assert rollovers and rollovers > 0  # the small registers did wrap and were handled
    jitter = influx.scalar('SELECT sum("jitter") FROM "energy"')
    assert jitter and jitter > 0  # meters stepped back a count and added nothing


def test_kgce_follows_the_coefficient_table(shift: tuple[PipelineResult, InfluxQL]) -> None:
    _, influx = shift
    for s in influx.query('SELECT sum("quantity"), sum("kgce") FROM "energy" GROUP BY "carrier"'):
        quantity, kgce = s.values[0][1:]
        factor = {"electricity": 0.1229, "natural_gas": 1.2143, "steam_1_0mpa": 0.1086}
        assert kgce == pytest.approx(quantity * factor[s.tags["carrier"]], rel=1e-9)


def test_pipeline_state_dir_holds_the_queues(tmp_path: Path) -> None:
    """The gateways' disk queues are empty after a drained run (nothing left behind)."""
    import asyncio
    import sqlite3

    broker = Mosquitto(data_dir=tmp_path / "m")
    influx = InfluxD(data_dir=tmp_path / "i")
    broker.start()
    influx.start()
    try:
        result = asyncio.run(run_pipeline(
            broker_port=broker.port, influx_url=influx.url, database="drained",
            topic_root="drained", state_dir=tmp_path / "state", machines=3,
            sim_seconds=1800, speedup=4000.0))
    finally:
        influx.stop()
        broker.stop()
    queues = list((tmp_path / "state" / "edge").glob("*/queue.sqlite"))
    assert len(queues) == len(result.plant.gateways)
    for path in queues:
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT count(*) FROM batches WHERE acked_ms IS NULL"
                              ).fetchone()[0] == 0
            assert int(db.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()[0]) > 0
