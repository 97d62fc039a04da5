"""Shared helpers for the integration tests: simulated batches with ground truth,
publishing, waiting for InfluxDB, and comparing what is stored with the truth."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiomqtt

from plantstream.config import MqttConfig, PlantConfig
from plantstream.devstack.plant import demo_plant
from plantstream.edge.batcher import Batcher
from plantstream.edge.sources.simulator import MachineTruth, Simulator
from plantstream.ingest.config import InfluxConfig, IngestConfig, SpoolConfig
from plantstream.store.influxql import InfluxQL
from plantstream.topics import Topics
from plantstream.wire import Batch, encode

START_MS = 1_795_700_000_000 - 1_795_700_000_000 % 60_000  # a past, minute-aligned time

REGISTER_COUNT = {"electricity": 0.001, "natural_gas": 0.01, "steam_1_0mpa": 1.0}
ELEMENT_FIELD = {"APT": "apt_s", "ASUT": "asut_s", "ADET": "adet_s", "ADOT": "adot_s",
                 "PLANNED_DOWN": "planned_down_s"}


@dataclass
class Simulated:
    plant: PlantConfig
    messages: list[tuple[str, bytes]]  # (topic, payload) in publishing order
    truth: dict[str, MachineTruth]
    batches: int


def simulate(*, machines: int, sim_seconds: int, topic_root: str, seed: int = 3,
             flush_s: int = 10) -> Simulated:
    """Run the simulator and batcher in-process (no agent) into wire-format messages."""
    plant, sims = demo_plant(machines, seed=seed)
    topics = Topics(root=topic_root)
    messages: list[tuple[str, bytes]] = []
    truth: dict[str, MachineTruth] = {}
    end = START_MS + sim_seconds * 1000

    async def run() -> None:
        for gateway in plant.gateways:
            sim = Simulator(config=sims[gateway.id], start_ms=START_MS)
            batcher = Batcher(flush_interval_ms=flush_s * 1000, start_ms=START_MS)
            closed = batcher.add(await sim.poll(end)) + batcher.close_until(end)
            topic = topics.gateway(site=gateway.site, gateway=gateway.id).batch
            for seq, interval in enumerate(closed):
                batch = Batch(v=1, site=gateway.site, gateway=gateway.id, seq=seq,
                              t_start_ms=interval.t_start_ms, t_end_ms=interval.t_end_ms,
                              machines=interval.machines)
                messages.append((topic, encode(batch)))
            truth.update(sim.truth)

    asyncio.run(run())
    return Simulated(plant=plant, messages=messages, truth=truth, batches=len(messages))


def ingest_config(*, broker_port: int, influx_url: str, database: str, topic_root: str,
                  spool_dir: Path, worker: str = "w1", api: str = "v1",
                  **influx: object) -> IngestConfig:
    return IngestConfig(
        plant="(test)", mqtt=MqttConfig(port=broker_port, topic_root=topic_root),
        influx=InfluxConfig(url=influx_url, database=database, api=api, **influx),  # type: ignore[arg-type]
        worker=f"{topic_root}-{worker}",
        spool=SpoolConfig(directory=str(spool_dir)))


async def publish(port: int, messages: list[tuple[str, bytes]], *, qos: int = 1) -> None:
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5,
                              max_inflight_messages=200) as client:
        client.pending_calls_threshold = 10_000
        window = 100
        for i in range(0, len(messages), window):
            await asyncio.gather(*(client.publish(t, p, qos=qos)
                                   for t, p in messages[i:i + window]))


async def wait_until(condition: Callable[[], bool], *, timeout_s: float,
                     what: Callable[[], str], interval_s: float = 0.05) -> None:
    """Wait for `condition` with a deadline; on timeout fail with `what()` (the evidence),
    never pass silently and never wait unbounded."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout_s} s: {what()}")
        await asyncio.sleep(interval_s)


def wait_for_batches(influx: InfluxQL, expected: int, *, timeout_s: float = 60.0) -> int:
    deadline = time.monotonic() + timeout_s
    stored = 0
    while time.monotonic() < deadline:
        stored = int(influx.scalar('SELECT count("seq") FROM "batch"') or 0)
        if stored >= expected:
            return stored
        time.sleep(0.2)
    return stored


def assert_matches_truth(influx: InfluxQL, simulated: Simulated) -> None:
    """Seconds per element and part counts exactly, energy to one register count."""
    element_of = {s.code: s.element for s in simulated.plant.states}
    fields = list(ELEMENT_FIELD.values())
    stored = {s.tags["machine"]: dict(zip(fields, s.values[0][1:], strict=True))
              for s in influx.query("SELECT " + ", ".join(f'sum("{f}")' for f in fields)
                                    + ' FROM "oee_components" GROUP BY "machine"')}
    assert set(stored) == set(simulated.truth)
    for machine, truth in simulated.truth.items():
        expected: dict[str, float] = defaultdict(float)
        for code, ms in truth.state_ms.items():
            expected[ELEMENT_FIELD[element_of[code]]] += ms / 1000.0
        for field in fields:
            assert abs(stored[machine][field] - expected[field]) < 1e-6, (machine, field)
    parts: dict[tuple[str, str, str], int] = {}
    for s in influx.query('SELECT sum("good"), sum("scrap"), sum("rework"), '
                          'sum("startup_rejects") FROM "production" '
                          'GROUP BY "machine", "product"'):
        for kind, n in zip(("good", "scrap", "rework", "startup_rejects"), s.values[0][1:],
                           strict=True):
            if n:
                parts[(s.tags["machine"], s.tags["product"], kind)] = int(n)
    assert parts == {(m, p, k): n for m, t in simulated.truth.items()
                     for (p, k), n in t.parts.items() if n}
    energy = {(s.tags["machine"], s.tags["carrier"]): s.values[0][1] for s in influx.query(
        'SELECT sum("quantity") FROM "energy" GROUP BY "machine", "carrier"')}
    for machine, truth in simulated.truth.items():
        for carrier, value in truth.energy_at_reading.items():
            tolerance = REGISTER_COUNT[carrier] + 1e-9
            assert abs(energy[(machine, carrier)] - value) <= tolerance, (
                machine, carrier, energy[(machine, carrier)], value)
