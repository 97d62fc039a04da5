"""A normal shift and the same shift with scripted incidents, in two InfluxDB databases,
for proving the alert rules (test_alerts.py).

The normal shift comes through the real pipeline (simulated gateways -> Mosquitto ->
ingest -> InfluxDB, six machines, five hours at 2000x). The incident database is a
copy of it (`SELECT * INTO`, raw samples left out) with, in simulated time (t0 = shift start):

* long stop: press-01 (line-1) in a breakdown (ADET) from t0+30min to t0+1h30;
* meter silent: press-02's electricity meter sends nothing from t0+1h45 to t0+2h30
  while its gateway keeps reporting;
* meter reset: furnace-01's natural-gas meter goes backwards once at t0+2h;
* impossible jump: cnc-01's electricity meter makes one rejected (impossible) step at t0+1h;
* jittering meter: press-01's electricity meter steps back more than
  `meter_jitter_per_15min` times in the batch at t0+3h; press-02's steps back exactly
  that many times in the 15 minutes from t0+3h30 (at the threshold: no alert);
* slow line: line-3 produces at a quarter of its speed from t0+2h30 to t0+4h30;
* gateway cut off: gw-line-2 sends nothing from t0+4h; a real edge agent of it runs
  from t0+4h with its broker port closed and the health it reports (a backlog in its
  disk queue; health and backlog age carry the wall clock) reaches InfluxDB through a
  real ingest worker in the wall-clock phase;
* quota crossed: the `dual_control` points (written by the report side once a day)
  grade the year orange, where the normal database's are green;

and, in wall-clock time after the pipeline (ingest health and dead letters carry the
wall clock), through a real ingest worker: a burst of bad payloads (dead letters), then
a gateway whose batches are an hour old (ingest lag). The normal database gets the same
real ingest worker running idle.

The pipeline's own `ingest_health` and `gateway_health` points are dropped from both
databases: they measure the simulation's 2000x time compression on a loaded test machine
(data hours "behind" the wall clock, wall-clock seconds of queueing), not ingest or a link.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec

from plantstream.analytics import dual_control_status
from plantstream.config import MqttConfig, PlantConfig, SiteLimits
from plantstream.devstack.demo import PipelineResult, run_pipeline, simulation_start
from plantstream.devstack.plant import demo_plant
from plantstream.devstack.services import free_port
from plantstream.edge.agent import EdgeAgent
from plantstream.edge.clock import Clock
from plantstream.edge.config import ClockConfig, EdgeConfig, GatewaySettings
from plantstream.ingest.config import InfluxConfig, IngestConfig
from plantstream.ingest.worker import IngestWorker
from plantstream.mqtt import mqtt_client
from plantstream.store.influxql import InfluxQL
from plantstream.topics import Topics
from plantstream.wire import encode

MACHINES = 6
SIM_SECONDS = 5 * 3600
H = 3_600_000
MIN = 60_000
COPIED = ("batch", "oee_components", "state", "production", "energy", "dead_letter")
BAD_PAYLOADS = (b"{not json", b"\x00\x01 garbage", b'{"v": 1}', b"{still not json")
WARNING_CODE = {"green": 0, "yellow": 1, "orange": 2, "red": 3}


@dataclass(frozen=True, slots=True)
class Incident:
    """Where an alert instance may fire: rule uid, labels it must carry, the window
    [start, end) of evaluation times in which it must start firing and end."""

    rule: str
    labels: dict[str, str]
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class Scenario:
    result: PipelineResult
    plant: PlantConfig  # the pipeline's plant with the alert limits used here
    normal: InfluxQL
    incidents: InfluxQL
    t0_ms: int
    wall_start_ms: int  # the wall-clock phase (dead letters, ingest health)
    wall_end_ms: int
    expected: list[Incident]

    @property
    def shift_times(self) -> list[int]:
        """Evaluation times every minute, from 10 min into the shift to its end."""
        return list(range(self.t0_ms + 10 * MIN, self.t0_ms + SIM_SECONDS * 1000 + 1, MIN))

    @property
    def wall_times(self) -> list[int]:
        start = self.wall_start_ms - self.wall_start_ms % MIN
        return list(range(start, self.wall_end_ms + 12 * MIN, MIN))


def alert_plant(plant: PlantConfig) -> PlantConfig:
    """The demo plant with the thresholds the scenario is built for (the rules read
    them from here, as from any plant.toml)."""
    # gateways report backlog age in wall-clock seconds (2 s here: the simulated cut-off
    # lasts seconds of wall time)
    limits = SiteLimits(gateway_silent_s=300, backlog_age_s=2, long_stop_min=45,
                        meter_silent_s=900, dual_control_level="orange")
    return msgspec.structs.replace(
        plant, sites=[msgspec.structs.replace(s, limits=limits) for s in plant.sites],
        lines=[msgspec.structs.replace(x, oee_target=0.3) for x in plant.lines])


def _write(client: InfluxQL, lines: list[str]) -> None:
    for i in range(0, len(lines), 5000):
        r = httpx.post(f"{client.url}/write", params={"db": client.database, "precision": "ms"},
                       content="\n".join(lines[i:i + 5000]).encode(), timeout=30)
        assert r.status_code == 204, r.text


def _field(name: str, value: Any, integers: set[str]) -> str:
    if isinstance(value, str):
        return f'{name}="{value}"'
    if isinstance(value, bool):
        return f"{name}={'true' if value else 'false'}"
    if name in integers:
        return f"{name}={int(value)}i"
    return f"{name}={float(value)!r}"


def _rewrite(client: InfluxQL, measurement: str, where: str, tags: list[str],
             change: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
    """Read the points matching `where`, change each, write them back (same key)."""
    tag_list = ", ".join(f'"{t}"' for t in tags)
    # written back with the types the database holds (JSON does not tell 1 from 1.0)
    integers = {row["fieldKey"] for series in client.query(f'SHOW FIELD KEYS FROM "{measurement}"')
                for row in series.rows() if row["fieldType"] == "integer"}
    lines = []
    for s in client.query(f'SELECT * FROM "{measurement}" WHERE {where} GROUP BY {tag_list}'):
        for row in s.rows():
            row = change(dict(row))
            t = row.pop("time")
            fields = ",".join(_field(k, v, integers) for k, v in row.items() if v is not None)
            tag_text = ",".join(f"{k}={v}" for k, v in sorted(s.tags.items()))
            lines.append(f"{measurement},{tag_text} {fields} {t}")
    _write(client, lines)
    return len(lines)


def _window(t0: int, start_h: float, end_h: float) -> str:
    return f"time >= {t0 + int(start_h * H)}ms AND time < {t0 + int(end_h * H)}ms"


def _long_stop(row: dict[str, Any]) -> dict[str, Any]:
    busy = row["pbt_s"]
    return {**row, "apt_s": 0.0, "asut_s": 0.0, "adot_s": 0.0, "adet_s": busy,
            "unknown_s": 0.0, "minor_stop_s": 0.0, "minor_stops": 0, "pq": 0, "gq": 0,
            "sq": 0, "rq": 0, "pru_pq_s": 0.0, "pru_gq_s": 0.0}


def _slow(row: dict[str, Any]) -> dict[str, Any]:
    if row.get("pq") is None:  # a minor-stop correction point carries no counts
        return row
    old = row["pq"] or 0
    counts = {k: (row[k] or 0) // 4 for k in ("gq", "sq", "rq")}
    new = sum(counts.values())
    ratio = new / old if old else 0.0
    return {**row, **counts, "pq": new, "pru_pq_s": row["pru_pq_s"] * ratio,
            "pru_gq_s": row["pru_pq_s"] * ratio * (counts["gq"] / new if new else 0.0)}


def dual_control_lines(result: PipelineResult, client: InfluxQL, *, over_quota: float
                       ) -> list[str]:
    """One point per day of the year so far; the run rate ends the year at
    `over_quota` x the quota (0.85: green; 1.04: orange)."""
    site = result.plant.sites[0]
    tz = ZoneInfo(site.timezone)
    end_ms = result.t_start_ms + SIM_SECONDS * 1000
    shift_tce = float(client.scalar(
        f'SELECT sum("kgce") FROM "energy" WHERE time >= {result.t_start_ms}ms '
        f'AND time < {end_ms}ms') or 0.0) / 1000.0
    daily = 3.0 * shift_tce
    last_day = dt.datetime.fromtimestamp((end_ms - 1) / 1000, tz).date()
    year = last_day.year
    days = (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days
    quota = daily * days / over_quota
    lines = []
    day = last_day - dt.timedelta(days=3)
    while day <= last_day:
        months = [daily * (((dt.date(year, m + 1, 1) if m < 12 else dt.date(year + 1, 1, 1))
                            - dt.date(year, m, 1)).days if m < day.month else day.day)
                  for m in range(1, day.month + 1)]
        status = dual_control_status(year=year, as_of=day, monthly_tce=months,
                                     annual_quota_tce=quota)
        t_ms = int(dt.datetime.combine(day, dt.time(), tz).timestamp() * 1000)
        lines.append(f"dual_control,site={site.id} ytd_tce={status.ytd_tce!r},"
                     f"annual_quota_tce={status.annual_quota_tce!r},"
                     f"projection_ratio={status.projection_ratio!r},"
                     f"warning_code={WARNING_CODE[status.warning_level]}i,"
                     f'warning_level="{status.warning_level}" {t_ms}')
        day += dt.timedelta(days=1)
    return lines


async def _cut_off_health(result: PipelineResult, *, state_dir: Path, topic_root: str,
                          start_ms: int) -> bytes:
    """The health gw-line-2 reports after running from `start_ms` with its uplink cut
    (at 100x: 30 batches queue in 3 s of wall clock, the clock its backlog age uses)."""
    _, sims = demo_plant(MACHINES, seed=1)
    gateway = next(g for g in result.plant.gateways if g.id == "gw-line-2")
    config = EdgeConfig(
        gateway=GatewaySettings(id=gateway.id, site=gateway.site, flush_interval_s=10,
                                state_dir=str(state_dir), health_interval_s=30.0),
        mqtt=MqttConfig(port=free_port(), topic_root=topic_root),  # nobody listens
        sources=[sims[gateway.id]], clock=ClockConfig(speedup=100.0, start_ms=start_ms))
    async with EdgeAgent(config=config, clock=Clock(speedup=100.0, start_ms=start_ms)) as agent:
        deadline = time.monotonic() + 60
        while len(agent.queue) < 30 or agent.uplink.stats.outages < 1:
            assert time.monotonic() < deadline, "the cut-off gateway queued nothing"
            await asyncio.sleep(0.05)
        health = agent.health()
    # the fault happened
    assert health.backlog_batches >= 30 and health.outages >= 1 and health.backlog_age_s > 2
    return encode(health)


async def _wall_phase(result: PipelineResult, *, broker_port: int, influx_url: str,
                      database: str, topic_root: str, state_dir: Path, faults: bool,
                      health_payload: bytes | None, lag_limit_s: float) -> None:
    """A real ingest worker on `database`: with `faults`, bad payloads, the cut-off
    gateway's health and an hour-old gateway; otherwise idle until it reported."""
    mqtt = MqttConfig(port=broker_port, topic_root=topic_root)
    worker_name = f"alerts-{database}"
    ingest = IngestConfig(plant="(in-process)", mqtt=mqtt, group=f"g-{database}",
                          influx=InfluxConfig(url=influx_url, database=database),
                          worker=worker_name)
    topics = Topics(root=topic_root)
    site = result.plant.sites[0].id
    with InfluxQL(url=influx_url, database=database) as client:
        def lag() -> float:
            value = client.scalar(
                f'SELECT max("lag_s") FROM "ingest_health" WHERE "worker" = \'{worker_name}\'')
            return -1.0 if value is None else float(value)

        async with IngestWorker(config=ingest, plant=result.plant) as worker:
            await worker.connected.wait()
            deadline = time.monotonic() + 90
            if faults:
                async with mqtt_client(mqtt, identifier=f"pub-{database}") as pub:
                    messages = [(topics.gateway(site=site, gateway="gw-line-1").batch, p)
                                for p in BAD_PAYLOADS]
                    assert health_payload is not None
                    messages.append((topics.gateway(site=site, gateway="gw-line-2").health,
                                     health_payload))
                    for n, (topic, payload) in enumerate(messages, start=1):
                        await pub.publish(topic, payload, qos=1)
                        while worker.stats.messages < n:
                            assert time.monotonic() < deadline, "ingest took nothing"
                            await asyncio.sleep(0.01)
                while worker.stats.dead_letters < len(BAD_PAYLOADS):  # the fault happened
                    assert time.monotonic() < deadline, "no dead letters"
                    await asyncio.sleep(0.01)
                # a gateway an hour behind: its clock started an hour ago
                _, sims = demo_plant(MACHINES, seed=1)
                gw = next(g for g in result.plant.gateways if g.id == "gw-line-3")
                start = int(time.time() * 1000) - H
                config = EdgeConfig(
                    gateway=GatewaySettings(id=gw.id, site=gw.site, flush_interval_s=10,
                                            state_dir=str(state_dir / "late"),
                                            health_interval_s=600.0),
                    mqtt=mqtt, sources=[sims[gw.id]],
                    clock=ClockConfig(speedup=20.0, start_ms=start))
                async with EdgeAgent(config=config, clock=Clock(speedup=20.0, start_ms=start)):
                    while await asyncio.to_thread(lag) < lag_limit_s:
                        assert time.monotonic() < deadline, "ingest never reported the lag"
                        await asyncio.sleep(0.2)
            else:
                while await asyncio.to_thread(lag) < 0:
                    assert time.monotonic() < deadline, "ingest never reported its health"
                    await asyncio.sleep(0.2)


def build_scenario(*, broker_port: int, influx_url: str, state_dir: Path, topic_root: str,
                   normal_db: str, incident_db: str) -> Scenario:
    t0 = simulation_start(SIM_SECONDS + 2 * 86_400)
    result = asyncio.run(run_pipeline(
        broker_port=broker_port, influx_url=influx_url, database=normal_db,
        topic_root=topic_root, state_dir=state_dir / "pipeline", machines=MACHINES,
        sim_seconds=SIM_SECONDS, speedup=2000.0, seed=1, start_ms=t0))
    plant = alert_plant(result.plant)
    normal = InfluxQL(url=influx_url, database=normal_db)
    incidents = InfluxQL(url=influx_url, database=incident_db)
    normal.query('DROP MEASUREMENT "ingest_health"')
    normal.query('DROP MEASUREMENT "gateway_health"')
    incidents.query(f'CREATE DATABASE "{incident_db}"')
    # what the rules read (the raw `sample` points, most of the shift, are not copied)
    sources = ", ".join(f'"{normal_db}"."autogen"."{m}"' for m in COPIED)
    normal.query(f'SELECT * INTO "{incident_db}"."autogen".:MEASUREMENT FROM {sources} '
                 'GROUP BY *')
    _write(normal, dual_control_lines(result, normal, over_quota=0.85))
    _write(incidents, dual_control_lines(result, normal, over_quota=1.04))

    comp = ["site", "line", "machine"]
    assert _rewrite(incidents, "oee_components",
                    f"\"machine\" = 'press-01' AND {_window(t0, 0.5, 1.5)}", comp, _long_stop) > 300
    assert _rewrite(incidents, "state", f"\"machine\" = 'press-01' AND {_window(t0, 0.5, 1.5)}",
                    comp, lambda row: {**row, "code": 190000, "element": "ADET"}) > 0
    incidents.query("DELETE FROM \"production\" WHERE \"machine\" = 'press-01' AND "
                    f"{_window(t0, 0.5, 1.5)}")
    incidents.query("DELETE FROM \"energy\" WHERE \"machine\" = 'press-02' AND "
                    f"\"carrier\" = 'electricity' AND {_window(t0, 1.75, 2.5)}")
    reset_at = t0 + 2 * H
    assert _rewrite(incidents, "energy", "\"machine\" = 'furnace-01' AND "
                    f"\"carrier\" = 'natural_gas' AND time = {reset_at}ms", [*comp, "carrier"],
                    lambda row: {**row, "resets": 1}) == 1
    jump_at = t0 + H
    assert _rewrite(incidents, "energy", "\"machine\" = 'cnc-01' AND "
                    f"\"carrier\" = 'electricity' AND time = {jump_at}ms", [*comp, "carrier"],
                    lambda row: {**row, "rejected": 1}) == 1
    jitter_limit = plant.sites[0].limits.meter_jitter_per_15min
    jitter_at = t0 + 3 * H
    assert _rewrite(incidents, "energy", "\"machine\" = 'press-01' AND "
                    f"\"carrier\" = 'electricity' AND time = {jitter_at}ms",
                    [*comp, "carrier"], lambda row: {**row, "jitter": jitter_limit + 1}) == 1
    # press-02: no jitter from t0+3h15 to t0+3h45 but `jitter_limit` steps at t0+3h30, so
    # every 15-minute window holds at most the threshold
    at_limit = t0 + int(3.5 * H)
    assert _rewrite(incidents, "energy", "\"machine\" = 'press-02' AND "
                    f"\"carrier\" = 'electricity' AND {_window(t0, 3.25, 3.75)}",
                    [*comp, "carrier"],
                    lambda row: {**row, "jitter": jitter_limit if row["time"] == at_limit
                                 else 0}) > 10
    (steps,) = incidents.query('SELECT sum("jitter") AS "jitter" FROM "energy" WHERE '
                               "\"machine\" = 'press-02' AND \"carrier\" = 'electricity' "
                               f"AND {_window(t0, 3.25, 3.75)}")
    assert steps.values[0][1] == jitter_limit  # the point at t0+3h30 exists
    assert _rewrite(incidents, "oee_components", f"\"line\" = 'line-3' AND "
                    f"{_window(t0, 2.5, 4.5)}", comp, _slow) > 1000
    cut = t0 + 4 * H
    for measurement in ("oee_components", "state", "production", "energy"):
        incidents.query(f"DELETE FROM \"{measurement}\" WHERE \"line\" = 'line-2' "
                        f"AND time >= {cut}ms")
    incidents.query(f"DELETE FROM \"batch\" WHERE \"gateway\" = 'gw-line-2' AND time >= {cut}ms")
    wall_start = int(time.time() * 1000)
    lag_limit = plant.ingest_limits.lag_s

    async def wall_clock_phase() -> None:
        async def with_incidents() -> None:
            health = await _cut_off_health(result, state_dir=state_dir / "cut-off",
                                           topic_root=topic_root, start_ms=cut)
            await _wall_phase(result, broker_port=broker_port, influx_url=influx_url,
                              database=incident_db, topic_root=f"{topic_root}-i",
                              state_dir=state_dir / "wall-incidents", faults=True,
                              health_payload=health, lag_limit_s=lag_limit)

        await asyncio.gather(
            _wall_phase(result, broker_port=broker_port, influx_url=influx_url,
                        database=normal_db, topic_root=f"{topic_root}-n",
                        state_dir=state_dir / "wall-normal", faults=False,
                        health_payload=None, lag_limit_s=lag_limit),
            with_incidents())

    asyncio.run(wall_clock_phase())
    wall_end = int(time.time() * 1000)
    site = plant.sites[0].id
    end = t0 + SIM_SECONDS * 1000 + MIN
    expected = [
        Incident("ps-long-stop-suzhou-1", {"machine": "press-01"}, t0 + H // 2,
                 t0 + 3 * H // 2 + 2 * MIN),
        Incident("ps-meter-silent-suzhou-1", {"machine": "press-02", "carrier": "electricity"},
                 t0 + int(1.75 * H), t0 + int(2.5 * H) + 2 * MIN),
        Incident("ps-meter-reset-suzhou-1", {"machine": "furnace-01", "carrier": "natural_gas"},
                 reset_at, reset_at + 16 * MIN),
        Incident("ps-meter-reset-suzhou-1", {"machine": "cnc-01", "carrier": "electricity"},
                 jump_at, jump_at + 16 * MIN),
        Incident("ps-meter-reset-suzhou-1", {"machine": "press-01", "carrier": "electricity"},
                 jitter_at, jitter_at + 16 * MIN),
        Incident("ps-oee-line-3", {"line": "line-3"}, t0 + int(2.5 * H), end),
        Incident("ps-gw-silent-gw-line-2", {"gateway": "gw-line-2"}, cut, end),
        Incident("ps-gw-backlog-suzhou-1", {"gateway": "gw-line-2"}, wall_start,
                 wall_end + 12 * MIN),
        Incident("ps-dual-control-suzhou-1", {"site": site}, t0, end),
        Incident("ps-dead-letters", {"reason": "bad_json"}, wall_start, wall_end + 12 * MIN),
        Incident("ps-dead-letters", {"reason": "invalid_field"}, wall_start,
                 wall_end + 12 * MIN),
        Incident("ps-ingest-lag", {"worker": f"alerts-{incident_db}"}, wall_start,
                 wall_end + 12 * MIN),
    ]
    return Scenario(result=result, plant=plant, normal=normal, incidents=incidents, t0_ms=t0,
                    wall_start_ms=wall_start, wall_end_ms=wall_end, expected=expected)
