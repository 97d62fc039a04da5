"""One simulated shift in the real InfluxDB for every dashboard test: how it is made.

The shift comes through the real pipeline (`plantstream.devstack.demo.run_pipeline`: simulated
gateways -> Mosquitto -> ingest -> InfluxDB). After it, on the same broker and
database, with a real ingest worker of its own:

* a real edge agent of gateway `gw-line-2` runs with its uplink cut off (its broker
  port is closed), so batches pile up in its disk queue; the health report it would
  publish when the link returns (`EdgeAgent.health()`) is published to the broker;
* malformed batches are published, so ingest writes dead letters with their reasons;
* the `dual_control` measurement, which the analytics / report side is to write once
  a day (docs/dashboards.md), is written from `analytics.dual_control_status`, one
  point per day of the year so far.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from plantstream.analytics import dual_control_status
from plantstream.config import MqttConfig
from plantstream.dashboards.macros import TimeRange
from plantstream.devstack.demo import PipelineResult
from plantstream.devstack.plant import demo_plant
from plantstream.devstack.services import free_port
from plantstream.edge.agent import EdgeAgent
from plantstream.edge.clock import Clock
from plantstream.edge.config import ClockConfig, EdgeConfig, GatewaySettings
from plantstream.ingest.config import InfluxConfig, IngestConfig
from plantstream.ingest.worker import IngestWorker
from plantstream.mqtt import mqtt_client
from plantstream.reports import Source, load_report_config
from plantstream.reports.mu.report import build_jurisdiction_report, parse_each_mu_period
from plantstream.rollups.each_mu import each_mu_lines as lines_of
from plantstream.store.influxql import InfluxQL
from plantstream.topics import Topics
from plantstream.wire import Health, encode
from tests.reports.dataset import write_points
from tests.reports.mu_dataset import lines, write_configs

MACHINES = 3  # one machine per line: the whole plant path at a third of the cost
SIM_SECONDS = 8 * 3600
CUT_OFF_GATEWAY = "gw-line-2"
BAD_PAYLOADS = (b"{not json", b"\x00\x01 binary garbage", b'{"v": 1}')
WARNING_CODE = {"green": 0, "yellow": 1, "orange": 2, "red": 3}


@dataclass(frozen=True, slots=True)
class Shift:
    result: PipelineResult
    client: InfluxQL
    database: str
    cut_off: Health  # the cut-off gateway's health report, from the real agent
    wall_end_ms: int  # health points are in wall-clock time, after the simulated shift

    @property
    def site(self) -> str:
        return self.result.plant.sites[0].id

    @property
    def timezone(self) -> str:
        return self.result.plant.sites[0].timezone

    @property
    def shift_end_ms(self) -> int:
        return self.result.t_start_ms + SIM_SECONDS * 1000

    @property
    def shift_range(self) -> TimeRange:
        """The simulated shift (gateways that overshoot its end write beyond it)."""
        return TimeRange(self.result.t_start_ms, self.shift_end_ms)

    @property
    def wall_range(self) -> TimeRange:
        """From the shift's start to after the last health point (wall clock)."""
        return TimeRange(self.result.t_start_ms, self.wall_end_ms)


async def cut_off_gateway_health(result: PipelineResult, *, state_dir: Path,
                                  topic_root: str) -> Health:
    """Run gateway `CUT_OFF_GATEWAY` with nothing listening on its broker port until its
    disk queue holds a backlog; return the health it reports (backlog from its queue)."""
    _, sims = demo_plant(MACHINES, seed=1)
    gateway = next(g for g in result.plant.gateways if g.id == CUT_OFF_GATEWAY)
    config = EdgeConfig(
        gateway=GatewaySettings(id=gateway.id, site=gateway.site, flush_interval_s=10,
                                state_dir=str(state_dir), health_interval_s=30.0),
        mqtt=MqttConfig(port=free_port(), topic_root=topic_root),  # nobody listens: cut off
        sources=[sims[gateway.id]],
        clock=ClockConfig(speedup=2000.0, start_ms=result.t_start_ms + SIM_SECONDS * 1000))
    clock = Clock(speedup=2000.0, start_ms=result.t_start_ms + SIM_SECONDS * 1000)
    async with EdgeAgent(config=config, clock=clock) as agent:
        async with asyncio.timeout(120):  # the cut-off gateway queues and sees its outage
            while len(agent.queue) < 30 or agent.uplink.stats.outages < 1:
                await asyncio.sleep(0.1)
        return agent.health()


async def publish_faults(result: PipelineResult, *, broker_port: int, influx_url: str,
                          database: str, topic_root: str, cut_off: Health) -> None:
    """Through a real ingest worker: dead letters, and the cut-off gateway's health."""
    mqtt = MqttConfig(port=broker_port, topic_root=topic_root)
    ingest = IngestConfig(plant="(in-process)", mqtt=mqtt, group="dashboards-faults",
                          influx=InfluxConfig(url=influx_url, database=database),
                          worker=f"faults-{topic_root}")
    topics = Topics(root=topic_root)
    site = result.plant.sites[0].id
    async with IngestWorker(config=ingest, plant=result.plant) as worker:
        await worker.connected.wait()
        async with mqtt_client(mqtt, identifier=f"faults-pub-{topic_root}") as client:
            batch_topic = topics.gateway(site=site, gateway="gw-line-1").batch
            # one at a time: dead letters of one reason received in the same millisecond
            # share a point key in InfluxDB (reported to the lead)
            messages = [(batch_topic, p) for p in BAD_PAYLOADS] + [
                (topics.gateway(site=site, gateway=CUT_OFF_GATEWAY).health, encode(cut_off))]
            for n, (topic, payload) in enumerate(messages, start=1):
                await client.publish(topic, payload, qos=1)
                deadline = time.monotonic() + 60
                while worker.stats.messages < n:
                    if time.monotonic() > deadline:
                        raise TimeoutError("ingest did not take the fault messages")
                    await asyncio.sleep(0.01)


def dual_control_lines(result: PipelineResult, client: InfluxQL) -> list[str]:
    """One `dual_control` point per day, 1 January to the shift's day, from the analytics
    API. The plant's daily consumption is three times the simulated shift's."""
    site = result.plant.sites[0]
    tz = ZoneInfo(site.timezone)
    end_ms = result.t_start_ms + SIM_SECONDS * 1000
    shift_tce = float(client.scalar(
        f'SELECT sum("kgce") FROM "energy" WHERE time >= {result.t_start_ms}ms '
        f'AND time < {end_ms}ms') or 0.0) / 1000.0
    daily_tce = 3.0 * shift_tce
    last_day = dt.datetime.fromtimestamp((end_ms - 1) / 1000, tz).date()
    year = last_day.year
    days_in_year = (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days
    quota = daily_tce * days_in_year / 1.04  # the run rate ends 4 % above the quota
    value_added_per_day = 60_000.0  # yuan, at comparable prices (a financial input)
    lines = []
    day = dt.date(year, 1, 1)
    while day <= last_day:
        months = [daily_tce * (calendar.monthrange(year, m)[1] if m < day.month else day.day)
                  for m in range(1, day.month + 1)]
        ytd_days = day.timetuple().tm_yday
        intensity = sum(months) / (ytd_days * value_added_per_day / 10_000.0)
        status = dual_control_status(year=year, as_of=day, monthly_tce=months,
                                     annual_quota_tce=quota, intensity=intensity,
                                     intensity_target=intensity * 1.02)
        t_ms = int(dt.datetime.combine(day, dt.time(), tz).timestamp() * 1000)
        lines.append(
            f"dual_control,site={site.id} ytd_tce={status.ytd_tce!r},"
            f"annual_quota_tce={status.annual_quota_tce!r},"
            f"allowance_to_date_tce={status.allowance_to_date_tce!r},"
            f"projected_year_end_tce={status.projected_year_end_tce!r},"
            f"projection_ratio={status.projection_ratio!r},intensity={intensity!r},"
            f"intensity_target={status.intensity_target!r},"
            f"intensity_ratio={status.intensity_ratio!r},"
            f"warning_code={WARNING_CODE[status.warning_level]}i,"
            f"warning_level=\"{status.warning_level}\" {t_ms}")
        day += dt.timedelta(days=1)
    return lines


def each_mu_lines(influx_url: str, directory: Path, t_ms: int) -> list[str]:
    """The `each_mu` points of the hand-computed jurisdiction (tests/reports/mu_dataset.py),
    evaluated from its own database and stamped `t_ms` (inside the shift's year)."""
    database = f"each_mu_{uuid.uuid4().hex[:8]}"
    with InfluxQL(url=influx_url, database=database) as client:
        client.create_database()
        try:
            write_points(influx_url, database, lines())
            loaded = load_report_config(write_configs(directory, url=influx_url,
                                                      database=database))
            report = build_jurisdiction_report(
                loaded, Source(client=client, kind="raw"), jurisdiction_id="county-x",
                period=parse_each_mu_period("2026-01"), today=dt.date(2026, 2, 1))
        finally:
            client.query(f'DROP DATABASE "{database}"')
    return lines_of(report, t_ms)
