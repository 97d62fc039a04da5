"""KPI rollups against a real pipeline run (Mosquitto + ingest + InfluxDB).

Every rollup point must equal the sums of the raw `oee_components` / `energy` points
queried directly, and its ratios must equal `plantstream.analytics.kpis` over those
sums. Late batches mark their windows dirty; the next run recomputes them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from plantstream.analytics import TimeComponents, kpis
from plantstream.cli import main
from plantstream.config import to_toml
from plantstream.devstack.demo import PipelineResult, run_pipeline
from plantstream.devstack.plant import demo_plant
from plantstream.devstack.services import InfluxD, Mosquitto
from plantstream.ingest.config import InfluxConfig, IngestConfig
from plantstream.ingest.points import dirty_lines
from plantstream.rollups.kpi import RollupJob
from plantstream.store.influxql import InfluxQL
from plantstream.wire import Batch

pytestmark = [pytest.mark.services]

FIELDS = ("interval_s", "pbt_s", "apt_s", "asut_s", "adet_s", "adot_s", "planned_down_s",
          "pru_pq_s", "pru_gq_s", "pq", "gq", "sq", "rq")
H = 3_600_000


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _write(url: str, database: str, lines: list[str]) -> None:
    r = httpx.post(f"{url}/write", params={"db": database, "precision": "ms"},
                   content="\n".join(lines).encode())
    assert r.status_code == 204, r.text


def _raw(influx: InfluxQL, where: str) -> dict[str, Any]:
    sums = ", ".join(f'sum("{f}") AS "{f}"' for f in FIELDS)
    series = influx.query(f'SELECT {sums} FROM "oee_components" WHERE {where}')
    assert series, where
    return series[0].rows()[0]


def _kpi_rows(influx: InfluxQL, measurement: str, where: str) -> list[dict[str, Any]]:
    series = influx.query(f'SELECT * FROM "{measurement}" WHERE {where}')
    return series[0].rows() if series else []


def _components(row: dict[str, Any]) -> TimeComponents:
    return TimeComponents(**{f: row[f] or 0 for f in FIELDS})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def run(broker: Mosquitto, influxd: InfluxD, tmp_path_factory: pytest.TempPathFactory,
        ) -> Iterator[tuple[PipelineResult, InfluxQL, RollupJob, int]]:
    database = f"rollup_{uuid.uuid4().hex[:8]}"
    result = asyncio.run(run_pipeline(
        broker_port=broker.port, influx_url=influxd.url, database=database,
        topic_root=f"rollup-{uuid.uuid4().hex[:6]}",
        state_dir=tmp_path_factory.mktemp("rollup"), machines=4, sim_seconds=1200,
        speedup=4000.0, seed=5))
    now_ms = result.t_end_ms + 2 * 86_400_000  # every window of the run has closed
    with InfluxQL(url=influxd.url, database=database) as influx, \
            RollupJob(influx=InfluxConfig(url=influxd.url, database=database),
                      plant=result.plant) as job:
        report = job.run_once(now_ms=now_ms)
        assert report.points > 0
        yield result, influx, job, now_ms
        influx.query(f'DROP DATABASE "{database}"')


def test_hourly_rollups_equal_raw_sums_per_machine_line_site(
        run: tuple[PipelineResult, InfluxQL, RollupJob, int]) -> None:
    result, influx, _, _ = run
    site = result.plant.sites[0].id
    t0 = result.t_start_ms
    window = f"time >= {t0}ms AND time < {t0 + H}ms"
    groups: list[tuple[str, str, str]] = [(m.line, m.id, f"\"machine\" = '{m.id}'")
                                          for m in result.plant.machines]
    groups += [(ln.id, "_all", f"\"line\" = '{ln.id}'") for ln in result.plant.lines]
    groups.append(("_all", "_all", f"\"site\" = '{site}'"))
    assert len({g[0] for g in groups if g[1] != "_all"}) < len(result.plant.machines)
    for line, machine, where in groups:
        raw = _raw(influx, f"{where} AND {window}")
        rows = _kpi_rows(influx, "kpi_1h",
                         f"\"line\" = '{line}' AND \"machine\" = '{machine}' AND {window}")
        assert len(rows) == 1 and rows[0]["time"] == t0, (line, machine)
        point = rows[0]
        assert point["pbt_s"] > 0
        for f in FIELDS:
            assert _close(point[f], raw[f] or 0), (line, machine, f)
        expected = kpis(_components(raw))
        for ratio in ("availability", "effectiveness", "quality", "oee", "value_adding"):
            assert _close(point[ratio], getattr(expected, ratio)), (line, machine, ratio)


def test_minute_shift_and_day_rollups_add_up_to_the_raw_total(
        run: tuple[PipelineResult, InfluxQL, RollupJob, int]) -> None:
    result, influx, _, _ = run
    everything = "time >= 0ms"
    raw = _raw(influx, everything)
    raw_minutes = influx.query(
        f'SELECT count("pbt_s") FROM "oee_components" WHERE "machine" = '
        f"'{result.plant.machines[0].id}' AND time >= {result.t_start_ms}ms "
        f"AND time < {result.t_end_ms}ms GROUP BY time(1m) fill(none)")
    machine_minutes = _kpi_rows(influx, "kpi_1m",
                                f"\"machine\" = '{result.plant.machines[0].id}'")
    assert len(machine_minutes) == len(raw_minutes[0].values) >= 19
    for measurement in ("kpi_1m", "kpi_1h", "kpi_shift", "kpi_1d"):
        total = _kpi_rows(influx, measurement, "\"line\" = '_all'")
        for f in ("pbt_s", "apt_s", "pru_pq_s", "gq", "pq"):
            assert _close(sum(r[f] for r in total), raw[f]), (measurement, f)
    energy = influx.query('SELECT sum("kgce"), sum("kgco2") FROM "energy"')[0].values[0]
    days = _kpi_rows(influx, "kpi_1d", "\"line\" = '_all'")
    assert energy[1] > 0
    assert _close(sum(r["kgce"] for r in days), energy[1])
    assert _close(sum(r["kgco2"] for r in days), energy[2])
    assert any(r.get("electricity_quantity") for r in days)


def test_a_second_run_is_a_no_op_and_a_recompute_overwrites(
        run: tuple[PipelineResult, InfluxQL, RollupJob, int]) -> None:
    result, influx, job, now_ms = run
    before = _kpi_rows(influx, "kpi_1h", "time >= 0ms")
    report = job.run_once(now_ms=now_ms)
    assert sum(report.rolled.values()) == 0 and report.points == 0
    site = result.plant.sites[0].id
    assert job.roll(site, "1h", [(result.t_start_ms, result.t_start_ms + H)]) > 0
    assert _kpi_rows(influx, "kpi_1h", "time >= 0ms") == before


def test_a_late_batch_makes_the_next_run_recompute_its_windows(
        run: tuple[PipelineResult, InfluxQL, RollupJob, int], influxd: InfluxD) -> None:
    result, influx, job, now_ms = run
    machine = result.plant.machines[0]
    site = result.plant.sites[0].id
    late_t = result.t_start_ms + 5 * 60_000 + 1  # inside minute 5 of the first hour
    batch = Batch(v=1, site=site, gateway=machine.gateway, seq=10**9, t_start_ms=late_t,
                  t_end_ms=late_t + 9_000, machines=[], backlog=True)
    markers = dirty_lines(batch, result.plant, received_ms=now_ms)
    assert len(markers) == 1
    _write(influxd.url, influx.database, [
        f"oee_components,site={site},line={machine.line},machine={machine.id} "
        f"interval_s=9.0,pbt_s=9.0,apt_s=9.0,pru_pq_s=4.5,pru_gq_s=4.5,pq=3i,gq=3i,"
        f"sq=0i,rq=0i {late_t}", *markers])
    hour = f"\"machine\" = '{machine.id}' AND time = {result.t_start_ms}ms"
    before = _kpi_rows(influx, "kpi_1h", hour)[0]
    report = job.run_once(now_ms=now_ms + 1000)
    assert report.recomputed == {"1m": 1, "1h": 1, "shift": 1, "1d": 1}
    assert report.markers_done == 1
    after = _kpi_rows(influx, "kpi_1h", hour)[0]
    assert _close(after["apt_s"], before["apt_s"] + 9.0)
    assert after["gq"] == before["gq"] + 3
    raw = _raw(influx, f"\"machine\" = '{machine.id}' AND time >= {result.t_start_ms}ms AND "
                       f"time < {result.t_start_ms + H}ms")
    assert _close(after["apt_s"], raw["apt_s"])
    assert _close(after["oee"], kpis(_components(raw)).oee)
    minute = _kpi_rows(influx, "kpi_1m", f"\"machine\" = '{machine.id}' AND "
                                         f"time = {late_t - 1}ms")[0]
    assert minute["batches"] == 7  # six 10 s batches plus the late one
    assert not job.pending_markers(now_ms + 2000)
    again = job.run_once(now_ms=now_ms + 2000)
    assert sum(again.recomputed.values()) == 0 and again.markers_done == 0


def test_on_time_batches_mark_nothing_late_ones_each_minute() -> None:
    plant, _ = demo_plant(1)
    t = 1_790_000_000_000 - 1_790_000_000_000 % 60_000
    batch = Batch(v=1, site=plant.sites[0].id, gateway=plant.gateways[0].id, seq=1,
                  t_start_ms=t + 50_000, t_end_ms=t + 70_000, machines=[])
    assert dirty_lines(batch, plant, received_ms=t + 70_000 + 29_000) == []
    late = dirty_lines(batch, plant, received_ms=t + 70_000 + 31_000)
    assert [line.rsplit(" ", 1)[1] for line in late] == [str(t), str(t + 60_000)]
    backlog = msgspec.structs.replace(batch, backlog=True)
    assert len(dirty_lines(backlog, plant, received_ms=t + 70_000)) == 2
    other_site = msgspec.structs.replace(backlog, site="elsewhere")
    assert dirty_lines(other_site, plant, received_ms=t + 70_000) == []


def _utc_ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


def test_days_and_shifts_start_at_local_midnight_via_the_cli(
        influxd: InfluxD, influxql: InfluxQL, database: str, tmp_path: Path) -> None:
    plant, _ = demo_plant(1)  # Asia/Shanghai: local midnight is 16:00 UTC
    m = plant.machines[0]
    tags = f"site={plant.sites[0].id},line={m.line},machine={m.id}"
    points = {"2026-11-20T15:59:50": (10.0, 10.0, 2), "2026-11-20T16:00:00": (10.0, 5.0, 1),
              "2026-11-20T23:59:50": (10.0, 10.0, 4), "2026-11-21T00:00:00": (10.0, 2.5, 1),
              "2026-11-21T01:00:00": (0.0, 0.0, 0)}  # not planned: every ratio undefined
    _write(influxd.url, database, [
        f"oee_components,{tags} interval_s=10.0,pbt_s={pbt},apt_s={apt},pru_pq_s={pq * 2.0},"
        f"pru_gq_s={pq * 2.0},pq={pq}i,gq={pq}i {_utc_ms(t)}"
        for t, (pbt, apt, pq) in points.items()])
    (tmp_path / "plant.toml").write_bytes(to_toml(plant))
    config = IngestConfig(plant="plant.toml", influx=InfluxConfig(url=influxd.url,
                                                                  database=database))
    (tmp_path / "ingest.toml").write_bytes(to_toml(config))
    assert main(["rollups", "kpi", "--config", str(tmp_path / "ingest.toml"), "--once"]) == 0

    machine = f"\"machine\" = '{m.id}'"
    days = {r["time"]: r for r in _kpi_rows(influxql, "kpi_1d", machine)}
    assert sorted(days) == [_utc_ms("2026-11-19T16:00:00"), _utc_ms("2026-11-20T16:00:00")]
    assert days[_utc_ms("2026-11-19T16:00:00")]["pbt_s"] == 10.0
    second = days[_utc_ms("2026-11-20T16:00:00")]
    assert second["pbt_s"] == 30.0 and second["window_s"] == 86_400.0
    assert _close(second["availability"], 17.5 / 30.0)
    shifts = {r["time"]: r["pbt_s"] for r in _kpi_rows(influxql, "kpi_shift", machine)}
    assert shifts == {_utc_ms("2026-11-20T08:00:00"): 10.0,  # 16:00-24:00 local
                      _utc_ms("2026-11-20T16:00:00"): 20.0,  # 00:00-08:00 local
                      _utc_ms("2026-11-21T00:00:00"): 10.0}  # 08:00-16:00 local
    undefined = _kpi_rows(influxql, "kpi_1m", f"{machine} AND "
                                               f"time = {_utc_ms('2026-11-21T01:00:00')}ms")
    assert len(undefined) == 1 and undefined[0]["pbt_s"] == 0.0
    for ratio in ("availability", "effectiveness", "quality", "oee"):
        assert undefined[0].get(ratio) is None  # undefined is absent, never 0


