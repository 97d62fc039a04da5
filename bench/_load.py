"""The ingest benchmark's load generator and plant (run in a process of its own).

Deterministic: every gateway publishes, for each `interval_ms` slot of the wall clock,
one wire-format v1 batch of `machines` machines x `signals` signals x `samples`
samples (values from a fixed table), QoS 1 with aiomqtt. A slot is held back (the
gateway sends it later) while more than `window` batches are published but not
yet stored (the parent polls InfluxDB and shares the stored count): a closed loop, so
the run measures the ingest's capacity with a bounded queue, not a growing backlog.

The naive load is one JSON message per sample on its own topic, as fast as one QoS 1
aiomqtt client can publish, for a bounded number of seconds.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized

import aiomqtt
import msgspec

from plantstream.config import Enterprise, Gateway, Line, Machine, PlantConfig, Site
from plantstream.topics import Topics
from plantstream.wire import (
    Batch,
    CounterDelta,
    MachineInterval,
    MeterDelta,
    SignalSamples,
    encode,
)

__all__ = ["LoadShape", "backlog", "bench_plant", "generate_batches", "generate_naive"]

SITE = "bench-site"


@dataclass(frozen=True, slots=True)
class LoadShape:
    gateways: int = 10
    machines: int = 50  # per gateway
    signals: int = 10
    samples: int = 10  # per signal and batch
    interval_ms: int = 100  # divides a minute

    @property
    def samples_per_batch(self) -> int:
        return self.machines * self.signals * self.samples

    def gateway(self, g: int) -> str:
        return f"gw-{g:02d}"

    def machine(self, g: int, m: int) -> str:
        return f"m-{g:02d}-{m:02d}"


def bench_plant(shape: LoadShape) -> PlantConfig:
    return PlantConfig(
        enterprise=Enterprise(id="bench", name="Benchmark"),
        sites=[Site(id=SITE)],
        lines=[Line(id=f"line-{g:02d}", site=SITE) for g in range(shape.gateways)],
        gateways=[Gateway(id=shape.gateway(g), site=SITE) for g in range(shape.gateways)],
        machines=[Machine(id=shape.machine(g, m), line=f"line-{g:02d}",
                          gateway=shape.gateway(g), ideal_cycle_s={"part": 1.0})
                  for g in range(shape.gateways) for m in range(shape.machines)])


def _batch(shape: LoadShape, g: int, seq: int, t_start: int) -> Batch:
    return Batch(v=1, site=SITE, gateway=shape.gateway(g), seq=seq, t_start_ms=t_start,
                 t_end_ms=t_start + shape.interval_ms,
                 machines=list(_machines(shape, g, seq % _VARIANTS)))


_VARIANTS = 32  # distinct sample tables per gateway (built once: the load stays cheap)


@functools.cache
def _machines(shape: LoadShape, g: int, seq: int) -> tuple[MachineInterval, ...]:
    step = shape.interval_ms // shape.samples
    offsets = [i * step for i in range(shape.samples)]
    machines = []
    for m in range(shape.machines):
        signals = [SignalSamples(
            signal=f"s{s}", offsets_ms=offsets,
            values=[round(50.0 + 10.0 * math.sin((seq + i + s + m) * 0.1), 3)
                    for i in range(shape.samples)]) for s in range(shape.signals)]
        machines.append(MachineInterval(
            machine=shape.machine(g, m), state_at_start=10000,
            counts=[CounterDelta(product="part", good=1)],
            meters=[MeterDelta(carrier="electricity", unit="kWh", delta=0.01,
                               raw_start=float(seq), raw_end=seq + 0.01,
                               covered_ms=shape.interval_ms)],
            samples=signals))
    return tuple(machines)


def backlog(shape: LoadShape, root: str, messages: int, *, t_end_ms: int,
            seq0: int = 1_000_000) -> list[tuple[str, bytes]]:
    """`messages` encoded batches (topic, payload), round robin over the gateways, in
    consecutive intervals that end at `t_end_ms`."""
    topics = Topics(root=root)
    names = [topics.gateway(site=SITE, gateway=shape.gateway(g)).batch
             for g in range(shape.gateways)]
    per_gateway = -(-messages // shape.gateways)
    t0 = t_end_ms - per_gateway * shape.interval_ms
    return [(names[i % shape.gateways],
             encode(_batch(shape, i % shape.gateways, seq0 + i // shape.gateways,
                           t0 + (i // shape.gateways) * shape.interval_ms)))
            for i in range(messages)]


async def _generate(port: int, root: str, shape: LoadShape, seconds: float, window: int,
                    published: Synchronized[int], stored: Synchronized[int]) -> None:
    topics = Topics(root=root)
    names = [topics.gateway(site=SITE, gateway=shape.gateway(g)).batch
             for g in range(shape.gateways)]
    last_end = [0] * shape.gateways
    seq = [0] * shape.gateways
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-load",
                              protocol=aiomqtt.ProtocolVersion.V5,
                              max_queued_outgoing_messages=10_000) as client:
        deadline = time.monotonic() + seconds
        now = int(time.time() * 1000)
        last_end = [now - now % shape.interval_ms] * shape.gateways
        while time.monotonic() < deadline:
            now = int(time.time() * 1000)
            t_end = now - now % shape.interval_ms
            for g in range(shape.gateways):
                # a slot the generator fell behind on is published late, not skipped
                while last_end[g] < t_end and published.value - stored.value < window:
                    last_end[g] += shape.interval_ms
                    seq[g] += 1
                    payload = encode(_batch(shape, g, seq[g], last_end[g] - shape.interval_ms))
                    await client.publish(names[g], payload, qos=1)
                    with published.get_lock():
                        published.value += 1
            await asyncio.sleep(0.005)


def generate_batches(port: int, root: str, shape: LoadShape, seconds: float, window: int,
                     published: Synchronized[int], stored: Synchronized[int],
                     cpu_s: Synchronized[float] | None = None) -> None:
    """Process entry point: publish batches for `seconds`; its CPU seconds to `cpu_s`
    (the generator shares the machine with what it measures)."""
    asyncio.run(_generate(port, root, shape, seconds, window, published, stored))
    if cpu_s is not None:
        cpu_s.value = time.process_time()


async def _naive(port: int, topic: str, seconds: float, published: Synchronized[int]) -> None:
    encoder = msgspec.json.Encoder()
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-naive-load",
                              protocol=aiomqtt.ProtocolVersion.V5,
                              max_queued_outgoing_messages=100_000) as client:
        deadline = time.monotonic() + seconds
        i = 0
        while time.monotonic() < deadline:
            for _ in range(100):
                i += 1
                message = {"machine": f"m-{i % 50:02d}", "signal": f"s{i % 10}",
                           "value": round(50.0 + 10.0 * math.sin(i * 0.1), 3),
                           "t_ms": int(time.time() * 1000)}
                await client.publish(topic, encoder.encode(message), qos=1)
            with published.get_lock():
                published.value = i


def generate_naive(port: int, topic: str, seconds: float, published: Synchronized[int]) -> None:
    """Process entry point: one message per sample on `topic` for `seconds`."""
    asyncio.run(_naive(port, topic, seconds, published))
