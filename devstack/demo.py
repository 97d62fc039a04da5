"""`plantstream demo`: a whole plant on a local stack, shown live.

Starts Mosquitto and InfluxDB on free loopback ports (state under --state-dir), writes
the configuration files a real deployment would use, starts an ingest worker as its
own process, runs the simulated gateways with a clock faster than the wall clock, and
shows progress and per-line OEE and energy read back from InfluxDB. It ends with a
summary and stops every process it started.

`run_pipeline` is the same path in one process, for tests and previews.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import os
import subprocess
import sys
import time
import unicodedata
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from plantstream.config import MqttConfig, PlantConfig, to_toml
from plantstream.devstack.history import History, write_history
from plantstream.devstack.plant import demo_plant
from plantstream.devstack.services import InfluxD, Mosquitto, deferred_stop
from plantstream.edge.agent import EdgeAgent
from plantstream.edge.clock import Clock
from plantstream.edge.config import ClockConfig, EdgeConfig, GatewaySettings
from plantstream.edge.sources.simulator import MachineTruth, SimulatorConfig
from plantstream.errors import ServiceError
from plantstream.i18n import Lang, date_label, month_label, translator
from plantstream.ingest.config import InfluxConfig, IngestConfig, SpoolConfig
from plantstream.ingest.worker import IngestWorker
from plantstream.store.influxql import InfluxQL
from plantstream.tasks import stack_dump, stop_tasks

__all__ = ["PipelineResult", "run_demo", "run_pipeline", "simulation_start"]

FLUSH_INTERVAL_S = 10
HISTORY_BATCH_MS = 8 * 3_600_000  # the synthetic history: one batch per shift

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PipelineResult:
    plant: PlantConfig
    t_start_ms: int
    t_end_ms: int
    truth: dict[str, MachineTruth]  # machine -> ground truth up to its gateway's horizon
    horizon_ms: dict[str, int]  # machine -> everything before this is in closed batches
    batches: int
    samples: int
    shed_samples: int = 0  # raw samples the gateways' bounded queues shed
    shed_batches: int = 0  # whole batches shed (only when no samples were left to shed)
    outages: int = 0  # link outages the gateways' uplinks saw (a fault test's evidence)


def simulation_start(sim_seconds: float, *, timezone: str = "Asia/Shanghai",
                     now_ms: int | None = None) -> int:
    """The latest local shift start (00:00, 08:00, 16:00) from which `sim_seconds` of
    simulated time still end in the past, so no batch is ever in the future."""
    tz = ZoneInfo(timezone)
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    latest = dt.datetime.fromtimestamp((now_ms - sim_seconds * 1000) / 1000, tz)
    shift_hour = latest.hour - latest.hour % 8
    start = latest.replace(hour=shift_hour, minute=0, second=0, microsecond=0)
    return int(start.timestamp() * 1000)


def _edge_configs(plant: PlantConfig, sims: dict[str, SimulatorConfig], *, mqtt: MqttConfig,
                  state_dir: Path, speedup: float, start_ms: int) -> list[EdgeConfig]:
    return [EdgeConfig(
        gateway=GatewaySettings(id=gw.id, site=gw.site, flush_interval_s=FLUSH_INTERVAL_S,
                                state_dir=str(state_dir / "edge" / gw.id),
                                health_interval_s=max(0.5, 30.0 / speedup)),
        mqtt=mqtt, sources=[sims[gw.id]],
        clock=ClockConfig(speedup=speedup, start_ms=start_ms)) for gw in plant.gateways]


async def _gateways_until(agents: Sequence[EdgeAgent], end_ms: int,
                          on_tick: Callable[[], None] | None = None,
                          drain_timeout_s: float = 60.0) -> None:
    """Let the gateways run until each has closed every interval before `end_ms`,
    then stop them and wait (bounded) until the broker has acknowledged everything."""
    for agent in agents:
        agent.finish_at(end_ms)
    clock = agents[0].clock
    # the simulated end plus a generous margin: a gateway that stops advancing fails
    # loudly, naming where it stopped, instead of hanging
    deadline = time.monotonic() + clock.wall_seconds_until(end_ms) + 120.0
    while min(a.horizon_ms for a in agents) < end_ms:
        if on_tick is not None:
            on_tick()
        if time.monotonic() > deadline:
            stuck = {a.config.gateway.id: a.horizon_ms for a in agents if a.horizon_ms < end_ms}
            raise ServiceError(service="edge", reason=f"gateways stopped advancing: {stuck}"
                               f" (end {end_ms})")
        await asyncio.sleep(0.2)
    await asyncio.gather(*(a.stop(drain_timeout_s=drain_timeout_s) for a in agents))


async def _stored_batches(influx: InfluxQL) -> int:
    value = await asyncio.to_thread(influx.scalar, 'SELECT count("seq") FROM "batch"')
    return int(value or 0)


async def wait_until_stored(influx: InfluxQL, expected: int, *, settle_s: float = 5.0,
                            on_progress: Callable[[int], None] | None = None) -> int:
    """Wait until `expected` batches are stored, or the count stopped growing for
    `settle_s` (something was lost: the caller reports it). Returns the count."""
    stored, last_change = -1, time.monotonic()
    while True:
        now_stored = await _stored_batches(influx)
        if on_progress:
            on_progress(now_stored)
        if now_stored >= expected:
            return now_stored
        if now_stored != stored:
            stored, last_change = now_stored, time.monotonic()
        elif time.monotonic() - last_change > settle_s:
            return stored
        await asyncio.sleep(0.2)


async def _run_pipeline_once(*, broker_port: int, influx_url: str, database: str, topic_root: str,
                       state_dir: Path, machines: int = 6, sim_seconds: float = 8 * 3600,
                       speedup: float = 2000.0, seed: int = 1,
                       start_ms: int | None = None,
                       during: Callable[[], Awaitable[None]] | None = None,
                       gateway_settings: dict[str, Any] | None = None,
                       keepalive_s: int = 30, drain_timeout_s: float = 60.0,
                       meter_devices: bool = False) -> PipelineResult:
    """Simulated gateways -> real Mosquitto -> ingest -> real InfluxDB, in one process.
    Returns when every closed batch is stored, with the simulator's ground truth.

    `during` runs while the gateways stream (fault tests kill or freeze services
    there); `gateway_settings` overrides fields of every gateway's [gateway] table;
    `meter_devices` adds a meter without a machine state per line (`demo_plant`)."""
    plant, sims = demo_plant(machines, seed=seed, meter_devices=meter_devices)
    start = start_ms if start_ms is not None else simulation_start(sim_seconds)
    mqtt = MqttConfig(port=broker_port, topic_root=topic_root, keepalive_s=keepalive_s)
    ingest = IngestConfig(plant="(in-process)", mqtt=mqtt,
                          influx=InfluxConfig(url=influx_url, database=database),
                          worker=f"ingest-{topic_root}",
                          spool=SpoolConfig(directory=str(state_dir / "ingest")))
    clock = Clock(speedup=speedup, start_ms=start)
    configs = _edge_configs(plant, sims, mqtt=mqtt, state_dir=state_dir, speedup=speedup,
                            start_ms=start)
    if gateway_settings:
        configs = [msgspec.structs.replace(c, gateway=msgspec.structs.replace(
            c.gateway, **gateway_settings)) for c in configs]
    async with IngestWorker(config=ingest, plant=plant) as worker:
        try:
            await asyncio.wait_for(worker.connected.wait(), timeout=60)
        except TimeoutError:
            raise ServiceError(service="ingest", reason="not connected to the broker in 60 s"
                               ) from None
        async with contextlib.AsyncExitStack() as stack:
            agents = [await stack.enter_async_context(EdgeAgent(config=c, clock=clock))
                      for c in configs]
            streaming = _gateways_until(agents, start + int(sim_seconds * 1000),
                                        drain_timeout_s=drain_timeout_s)
            if during is None:
                await streaming
            else:
                await asyncio.gather(streaming, during())
            shed = sum(a.shed_samples for a in agents)  # before the queues close
            shed_batches = sum(a.queue.shed_batches for a in agents)
            outages = sum(a.uplink.stats.outages for a in agents)
        closed = sum(a.closed_batches for a in agents)
        with InfluxQL(url=influx_url, database=database) as influx:
            stored = await wait_until_stored(influx, closed)
            if stored < closed:
                log.error("only %d of %d batches were stored", stored, closed)
    truth: dict[str, MachineTruth] = {}
    horizon: dict[str, int] = {}
    for agent in agents:
        for source in agent.sources:
            for machine, machine_truth in getattr(source, "truth", {}).items():
                truth[machine] = machine_truth
                horizon[machine] = agent.horizon_ms
    return PipelineResult(plant=plant, t_start_ms=start,
                          t_end_ms=max(a.horizon_ms for a in agents), truth=truth,
                          horizon_ms=horizon, batches=closed,
                          samples=sum(a.closed_samples for a in agents),
                          shed_samples=shed, shed_batches=shed_batches, outages=outages)


async def run_pipeline(*, broker_port: int, influx_url: str, database: str, topic_root: str,
                       state_dir: Path, machines: int = 6, sim_seconds: float = 8 * 3600,
                       speedup: float = 2000.0, seed: int = 1,
                       start_ms: int | None = None,
                       during: Callable[[], Awaitable[None]] | None = None,
                       gateway_settings: dict[str, Any] | None = None,
                       keepalive_s: int = 30, drain_timeout_s: float = 60.0,
                       meter_devices: bool = False) -> PipelineResult:
    """`_run_pipeline_once` under a wall-clock budget. A run that overruns it is a bug:
    every task's stack is logged at error level first, then the run is cancelled and
    fails with a `ServiceError` (no retry: a retry would hide the stall)."""
    budget_s = sim_seconds / speedup + drain_timeout_s + 90.0
    run = asyncio.ensure_future(_run_pipeline_once(
        broker_port=broker_port, influx_url=influx_url, database=database,
        topic_root=topic_root, state_dir=state_dir, machines=machines,
        sim_seconds=sim_seconds, speedup=speedup, seed=seed, start_ms=start_ms,
        during=during, gateway_settings=gateway_settings, keepalive_s=keepalive_s,
        drain_timeout_s=drain_timeout_s, meter_devices=meter_devices))
    try:
        done, _ = await asyncio.wait({run}, timeout=budget_s)
    except BaseException:  # our caller gave up: never leave the run behind
        await stop_tasks([run], timeout_s=30.0, rounds=1)
        raise
    if run in done:
        return run.result()
    log.error("pipeline stalled: not done after %.0f s; every task's stack:\n%s", budget_s,
              stack_dump(asyncio.all_tasks()))
    await stop_tasks([run], timeout_s=30.0, rounds=2)
    raise ServiceError(service="pipeline",
                       reason=f"stalled: not done after {budget_s:.0f} s (task stacks logged)")


def _row(label: str, text: str) -> str:
    """A progress line under a heading: `label` in a column 10 cells wide (a Chinese
    character takes two), then `text`."""
    cells = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in label)
    return f"  {label}{' ' * max(10 - cells, 0)} {text}"


def _started_line(name: str, address: str, pid: int | None, lang: Lang) -> str:
    """What is printed when a service started (its name is the program's, not translated)."""
    _ = translator(lang)
    return _row(name, f"{address}  " + _("(pid {pid})").format(pid=pid))


@contextlib.contextmanager
def _services(args: argparse.Namespace, state_dir: Path) -> Iterator[tuple[int, str]]:
    """The broker and database given on the command line, or local ones started (and
    stopped at exit) under `state_dir`."""
    lang: Lang = getattr(args, "lang", "en")
    with contextlib.ExitStack() as stack:

        def start(service: Mosquitto | InfluxD, address: str) -> None:
            stack.callback(service.stop)  # first: a signal during start() stops it too
            service.start()
            print(_started_line(service.name, address, service.pid, lang))

        port = int(args.mqtt_port) if args.mqtt_port else 0
        if not port:
            broker = Mosquitto(data_dir=state_dir / "mosquitto")
            start(broker, f"127.0.0.1:{broker.port}")
            port = broker.port
        url = str(args.influx_url) if args.influx_url else ""
        if not url:
            influx = InfluxD(data_dir=state_dir / "influxdb")
            start(influx, influx.url)
            url = influx.url
        yield port, url


def _write_toml(path: Path, value: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_toml(value))
    return path


def _start_ingest(config_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    log_file = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
    process: subprocess.Popen[bytes] | None = None
    try:
        with deferred_stop():  # a stop signal waits until the child's handle is kept
            process = subprocess.Popen(
                [sys.executable, "-m", "plantstream.cli", "-v", "ingest", "run", "--config",
                 str(config_path)], stdout=log_file, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        log_file.close()
        deadline = time.monotonic() + 30
        while "subscribed" not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ServiceError(service="ingest", reason=f"did not start; see {log_path}")
            time.sleep(0.1)
    except BaseException:  # did not start, or a signal stopped the demo meanwhile
        log_file.close()
        if process is not None:
            process.kill()
            process.wait()
        raise
    return process


def run_demo(args: argparse.Namespace) -> int:
    """`plantstream demo` (arguments from `plantstream.devstack.cli`)."""
    from plantstream.devstack.view import LiveView, print_summary

    state_dir: Path = args.state_dir.resolve()
    sim_seconds = args.duration * args.speedup
    plant, sims = demo_plant(args.machines, seed=args.seed)
    start_ms = simulation_start(sim_seconds, timezone=plant.sites[0].timezone)
    run_id = time.strftime("%Y%m%dT%H%M%S")
    lang: Lang = args.lang
    _ = translator(lang)
    print(_("PlantStream demo: {machines} machines on {lines} lines, {hours} h of plant time "
            "in {seconds} s").format(machines=len(plant.machines), lines=len(plant.lines),
                                     hours=f"{sim_seconds / 3600:.1f}",
                                     seconds=f"{args.duration:.0f}"))
    print(_("starting services under {path}").format(path=state_dir))
    with _services(args, state_dir) as (port, influx_url):
        mqtt = MqttConfig(port=port)
        config_dir = state_dir / "config"
        _write_toml(config_dir / "plant.toml", plant)
        ingest_path = _write_toml(config_dir / "ingest.toml", IngestConfig(
            plant="plant.toml", mqtt=mqtt,
            influx=InfluxConfig(url=influx_url, database=args.database),
            spool=SpoolConfig(directory=str(state_dir / "ingest"))))
        edge_configs = _edge_configs(plant, sims, mqtt=mqtt,
                                     state_dir=state_dir / f"run-{run_id}",
                                     speedup=args.speedup, start_ms=start_ms)
        for config in edge_configs:
            _write_toml(config_dir / f"edge-{config.gateway.id}.toml", config)
        history = _write_history(plant, sims, influx_url=influx_url, database=args.database,
                                 live_start_ms=start_ms, seed=args.seed, lang=lang)
        ingest = _start_ingest(ingest_path, state_dir / "ingest.log")
        try:  # (at once: a signal from here on stops the ingest worker too)
            print(_row(_("ingest"), _("pid {pid}, log {path}").format(
                pid=ingest.pid, path=state_dir / "ingest.log")))
            print(_row(_("configs"), str(config_dir)))
            with InfluxQL(url=influx_url, database=args.database) as influx:
                view = LiveView(plant=plant, influx=influx, start_ms=start_ms,
                                sim_seconds=sim_seconds, lang=args.lang)
                result = asyncio.run(_run_gateways(edge_configs, start_ms, sim_seconds,
                                                   args.speedup, influx, view))
                print_summary(plant=plant, influx=influx, start_ms=start_ms,
                              end_ms=result[0], batches=result[1], samples=result[2],
                              wall_s=result[3], database=args.database, influx_url=influx_url,
                              state_dir=state_dir, lang=args.lang)
                _every_role(plant, influx=influx, config_dir=config_dir,
                            out_dir=state_dir / "out", history=history, start_ms=start_ms,
                            end_ms=result[0], lang=args.lang)
        finally:
            ingest.terminate()
            try:
                ingest.wait(timeout=15)
            except subprocess.TimeoutExpired:
                ingest.kill()
                ingest.wait()
    print(_("stopped every process the demo started"))
    return 0


def _write_history(plant: PlantConfig, sims: dict[str, SimulatorConfig], *, influx_url: str,
                   database: str, live_start_ms: int, seed: int, lang: Lang = "en") -> History:
    """The months before the live shift, synthetic and labelled (devstack/history.py):
    from 1 January (or the start of last month, early in the year) to the live start."""
    _ = translator(lang)
    zone = ZoneInfo(plant.sites[0].timezone)
    live_day = dt.datetime.fromtimestamp(live_start_ms / 1000, zone).date()
    last_month = (live_day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    first_day = min(live_day.replace(month=1, day=1), last_month)
    print(_("writing a SYNTHETIC history (labelled; devstack/history.py) from {day} to the "
            "live shift, through ingest's component code ...").format(
        day=date_label(first_day, lang)), flush=True)
    started = time.monotonic()
    with InfluxQL(url=influx_url, database=database) as influx:
        influx.create_database()
        with influx.writer() as writer:
            history = write_history(
                plant, sims, writer, first_day=first_day, end_ms=live_start_ms,
                batch_ms=HISTORY_BATCH_MS, seed=seed,
                on_day=lambda day, points: print(
                    _row(_("history"), month_label(day.year, day.month, lang) + " ..."),
                    flush=True) if day.day == 1 else None)
    print(_row(_("history"), _("{batches} batches, {points} points, {kwh} kWh in {seconds} s")
               .format(batches=f"{history.batches:,}", points=f"{history.points:,}",
                       kwh=f"{history.kwh:,.0f}",
                       seconds=f"{time.monotonic() - started:.1f}")))
    return history


def _every_role(plant: PlantConfig, *, influx: InfluxQL, config_dir: Path, out_dir: Path,
                history: History, start_ms: int, end_ms: int, lang: Lang = "en") -> None:
    """After the live shift: the regulator's report and the operator's dashboards, in
    `lang` (the previews, the report PDF and what is printed about them)."""
    from plantstream.dashboards.macros import TimeRange
    from plantstream.dashboards.preview import preview
    from plantstream.dashboards.settings import DashboardSettings
    from plantstream.devstack.regulator import (
        REPORT_PORT,
        dual_control_days,
        regulator_view,
        write_report_config,
    )
    from plantstream.reports.labels import level_label

    zone = ZoneInfo(plant.sites[0].timezone)
    live_day = dt.datetime.fromtimestamp(start_ms / 1000, zone).date()
    history_start = dt.datetime.fromtimestamp(history.start_ms / 1000, zone).date()
    year_start = max(live_day.replace(month=1, day=1), history_start)
    period = (live_day.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    config_path, token_path = write_report_config(config_dir, plant=plant, influx=influx,
                                                  year=live_day.year, ytd_end=live_day,
                                                  lang=lang)
    days = dual_control_days(year_start, live_day - dt.timedelta(days=1))
    _ = translator(lang)
    month = month_label(int(period[:4]), int(period[5:]), lang)
    print(_("regulator view: {days} daily dual-control points, the {period} report ...")
          .format(days=len(days), period=month), flush=True)
    started = time.monotonic()
    view = regulator_view(config_path, token_path, plant=plant, out_dir=out_dir,
                          period=period, days=days)
    print(_row(_("report"), _("{seconds} s; dashboard previews ...").format(
        seconds=f"{time.monotonic() - started:.1f}")), flush=True)
    settings = DashboardSettings(timezone=zone.key)
    pictures = preview(out_dir / "previews", influx, settings=settings,
                       time_range=TimeRange(start_ms, end_ms), lang=lang)
    enterprise = plant.enterprise.id
    level = level_label(view.warning_level, lang) if view.warning_level else _("n/a")
    print()
    print(_("Operator's view: dashboard previews (matplotlib, from the panels' own queries):"))
    for picture in pictures:
        print(f"  {picture}")
    print(_("Regulator's view: the {period} energy-intensity and dual-control report of "
            "{enterprise} (warning level {level}):").format(
        period=month_label(int(period[:4]), int(period[5:]), lang), enterprise=enterprise,
        level=level))
    print(f"  {view.pdf}")
    print(f"  {view.json}  " + _("(content sha256 {digest})").format(digest=view.digest))
    print("  " + _("pull it from the report API (demo token in {path}; quota, grades and "
                   "financials are demo values):").format(path=token_path))
    print(f"    .venv/bin/plantstream stack --state-dir {out_dir.parent} &   # "
          + _("if stopped"))
    print(f"    .venv/bin/plantstream reports serve --config {config_path} "
          f"--port {REPORT_PORT} &")
    print(f'    curl -fsS -H "Authorization: Bearer $(cat {token_path})" '
          f'"http://127.0.0.1:{REPORT_PORT}/v1/reports/energy?scope={enterprise}'
          f'&period={period}&format=pdf" -o {enterprise}-{period}.pdf')


async def _run_gateways(configs: list[EdgeConfig], start_ms: int, sim_seconds: float,
                        speedup: float, influx: InfluxQL,
                        view: object) -> tuple[int, int, int, float]:
    from plantstream.devstack.view import LiveView

    assert isinstance(view, LiveView)
    clock = Clock(speedup=speedup, start_ms=start_ms)
    wall0 = time.monotonic()
    async with contextlib.AsyncExitStack() as stack:
        agents = [await stack.enter_async_context(EdgeAgent(config=c, clock=clock))
                  for c in configs]
        with view.live() as refresh:
            await _gateways_until(agents, start_ms + int(sim_seconds * 1000),
                                  on_tick=lambda: refresh(agents))
            closed = sum(a.closed_batches for a in agents)
            stored = await wait_until_stored(
                influx, closed, settle_s=15.0,
                on_progress=lambda n: refresh(agents, stored=n))
            if stored < closed:
                raise ServiceError(service="ingest",
                                   reason=f"only {stored} of {closed} batches stored")
    wall_s = time.monotonic() - wall0
    return (max(a.horizon_ms for a in agents), closed,
            sum(a.closed_samples for a in agents), wall_s)
