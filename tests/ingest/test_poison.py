"""Nothing ingest accepts is refused by InfluxDB, no message blocks the pipeline, no input
crashes a worker, dead letters are counted exactly, and a changed batch for an interval
already stored is a `conflict` (issue 14). Real Mosquitto and InfluxDB throughout."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiomqtt
import httpx
import msgspec
import pytest

from plantstream.devstack.services import InfluxD, Mosquitto
from plantstream.ingest import worker as worker_module
from plantstream.ingest.worker import IngestWorker
from plantstream.store.influxql import InfluxQL
from plantstream.wire import (
    Batch,
    CounterDelta,
    Health,
    MeterDelta,
    SignalSamples,
    StateChange,
    encode,
)
from tests.harness import (
    START_MS,
    Simulated,
    assert_matches_truth,
    ingest_config,
    publish,
    simulate,
)

pytestmark = pytest.mark.services

DAY_MS = 86_400_000
MEASUREMENTS = ("batch", "oee_components", "production", "energy", "state", "sample")


def _shifted(batch: Batch, t_start_ms: int, **changes: object) -> Batch:
    """The batch moved to another interval (state changes, and when the state at the
    start began, moved with it)."""
    dt = t_start_ms - batch.t_start_ms
    machines = [msgspec.structs.replace(
        m, changes=[msgspec.structs.replace(c, t_ms=c.t_ms + dt) for c in m.changes],
        state_since_ms=None if m.state_since_ms is None else max(0, m.state_since_ms + dt))
        for m in batch.machines]
    return msgspec.structs.replace(batch, t_start_ms=t_start_ms,
                                   t_end_ms=batch.t_end_ms + dt, machines=machines,
                                   **changes)


def _with_machine(batch: Batch, **changes: object) -> Batch:
    return msgspec.structs.replace(
        batch, machines=[msgspec.structs.replace(batch.machines[0], **changes),
                         *batch.machines[1:]])


async def _run(sim: Simulated, kwargs: dict[str, object],
               work: Callable[[IngestWorker], Awaitable[None]]) -> IngestWorker:
    worker = IngestWorker(config=ingest_config(**kwargs), plant=sim.plant)  # type: ignore[arg-type]
    async with worker:
        await asyncio.wait_for(worker.connected.wait(), 30)
        await work(worker)
        await worker.stop(timeout_s=10)
    return worker


async def _collect_letters(port: int, topic_root: str, expected: int, *,
                           publishing: Callable[[], Awaitable[None]],
                           timeout_s: float = 30.0) -> list[dict[str, object]]:
    letters: list[dict[str, object]] = []
    async with aiomqtt.Client("127.0.0.1", port) as watcher:
        await watcher.subscribe(f"{topic_root}/v1/deadletter/#", qos=1)
        await publishing()
        try:
            async with asyncio.timeout(timeout_s):
                async for message in watcher.messages:
                    assert isinstance(message.payload, bytes)
                    letter = json.loads(message.payload)
                    letter["_on"] = str(message.topic)
                    letters.append(letter)
                    if len(letters) == expected:
                        break
        except TimeoutError:
            pass
    return letters


def _wait_batches(influxql: InfluxQL, expected: int, *, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    stored = 0
    while time.monotonic() < deadline:
        stored = int(influxql.scalar('SELECT count("seq") FROM "batch"') or 0)
        if stored >= expected:
            break
        time.sleep(0.2)
    return stored


def _stored_between(influxql: InfluxQL, t0: int, t1: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for measurement in MEASUREMENTS:
        for series in influxql.query(f'SELECT count(*) FROM "{measurement}" '
                                     f"WHERE time >= {t0}ms AND time < {t1}ms"):
            n = max(int(v) for v in series.values[0][1:] if v is not None)
            if n:
                counts[measurement] = n
    return counts


def _poison(sim: Simulated, topic_root: str) -> list[tuple[str, bytes, str]]:
    """(topic, payload, reason): each value InfluxDB refused or that is implausible, each
    in an interval of its own one day after the simulated data."""
    topic, payload = sim.messages[0]
    template = msgspec.json.decode(payload, type=Batch)
    base = START_MS + DAY_MS
    slot = iter(range(base, base + 100 * 10_000, 10_000))
    m0 = template.machines[0]
    meter = m0.meters[0]
    big = 2**63

    def at(**changes: object) -> Batch:
        return _shifted(template, next(slot), **changes)

    def raw(batch: Batch, old: bytes, new: bytes) -> bytes:
        encoded = encode(batch)
        assert old in encoded
        return encoded.replace(old, new, 1)

    seq_2_63 = at(seq=7)
    seq_2_64 = at(seq=7)
    cases: list[tuple[str, Batch | bytes, str]] = [
        (topic, raw(seq_2_63, b'"seq":7', f'"seq":{big}'.encode()), "invalid_field"),
        (topic, raw(seq_2_64, b'"seq":7', f'"seq":{2**64}'.encode()), "invalid_field"),
    ]
    good_big = _with_machine(at(), counts=[CounterDelta(product="P-100", good=7)])
    cases.append((topic, raw(good_big, b'"good":7', f'"good":{big}'.encode()),
                  "invalid_field"))
    state_big = _with_machine(at(), state_at_start=7)
    cases.append((topic, raw(state_big, b'"state_at_start":7', f'"state_at_start":{big}'.encode()),
                  "invalid_field"))
    gas = MeterDelta(carrier="natural_gas", unit="m3", delta=1e308, raw_start=0.0,
                     raw_end=1e308, covered_ms=10_000)
    cases += [
        (topic, _with_machine(at(), meters=[gas]), "implausible_rate"),
        (topic, _with_machine(at(), samples=[SignalSamples(
            signal="power_kw", offsets_ms=[10**13, 5], values=[1.0, 2.0])]),
         "sample_outside_interval"),  # InfluxDB: "time outside range"
        (topic, _with_machine(at(), samples=[SignalSamples(
            signal="power_kw", offsets_ms=[3 * 10**11, 5], values=[1.0, 2.0])]),
         "sample_outside_interval"),
        (topic, _shifted(template, 0), "timestamp_too_old"),
        (topic, _with_machine(at(), meters=[msgspec.structs.replace(meter, delta=1e300)]),
         "implausible_rate"),
        (topic, _with_machine(at(), counts=[CounterDelta(product="P-100", good=10**9)]),
         "implausible_rate"),
    ]
    health = Health(v=1, site=template.site, gateway=template.gateway, t_ms=START_MS,
                    rtt_ms=1.0, outages=0, outage_s=0.0, backlog_batches=0, backlog_age_s=0.0,
                    shed_samples=0, source_errors=0, published_batches=7)
    health_topic = topic.rsplit("/", 1)[0] + "/health"
    out = [(t, p if isinstance(p, bytes) else encode(p), r) for t, p, r in cases]
    out.append((health_topic, encode(health).replace(b'"published_batches":7',
                                                     f'"published_batches":{big}'.encode()),
                "invalid_field"))
    out.append((health_topic, encode(msgspec.structs.replace(health, t_ms=0)),
                "timestamp_too_old"))
    # a topic so long (65,533 bytes) that `deadletter/<site>/<gateway>`, 5 bytes longer,
    # would exceed MQTT's 65,535
    short = f"{topic_root}/v1//{template.gateway}/batch"
    long_topic = f"{topic_root}/v1/{'s' * (65_533 - len(short))}/{template.gateway}/batch"
    assert len(long_topic.encode()) == 65_533
    out.append((long_topic, encode(at()), "unexpected_topic"))
    return out


def test_poison_values_are_dead_lettered_and_block_nothing(
        broker: Mosquitto, influxd: InfluxD, database: str, influxql: InfluxQL,
        topic_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every value InfluxDB refused (integers beyond int64, infinite kgCO2, a sample far
    outside its interval, int64 health) or that is implausible (1970, 1e300 kWh in 10 s),
    a topic too long for its dead-letter topic, and a message whose handling raises, is
    dead-lettered with a reason; the worker carries on, the good batches around them are
    all stored, and nothing of a rejected batch is."""
    sim = simulate(machines=3, sim_seconds=600, topic_root=topic_root)
    poison = _poison(sim, topic_root)
    # a bug that only one message triggers: any exception is that message's dead letter
    template = msgspec.json.decode(sim.messages[0][1], type=Batch)
    unlucky = _shifted(template, START_MS + DAY_MS + 500 * 10_000, seq=424_242)
    poison.append((sim.messages[0][0], encode(unlucky), "internal_error"))
    real = worker_module.batch_components

    def buggy(batch: Batch, *args: object, **kwargs: object) -> object:
        if batch.seq == 424_242:
            raise ZeroDivisionError("a bug")
        return real(batch, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(worker_module, "batch_components", buggy)
    mixed: list[tuple[str, bytes]] = []
    for i, message in enumerate(sim.messages):
        if i < len(poison):
            mixed.append(poison[i][:2])
        mixed.append(message)
    kwargs = dict(broker_port=broker.port, influx_url=influxd.url, database=database,
                  topic_root=topic_root, spool_dir=tmp_path)
    letters: list[dict[str, object]] = []
    stored: list[int] = []

    async def work(worker: IngestWorker) -> None:
        letters.extend(await _collect_letters(
            broker.port, topic_root, len(poison),
            publishing=lambda: publish(broker.port, mixed)))
        stored.append(await asyncio.to_thread(_wait_batches, influxql, sim.batches,
                                              timeout_s=30))

    worker = asyncio.run(_run(sim, kwargs, work))
    assert stored == [sim.batches], "good batches were blocked"
    assert sorted(str(x["reason"]) for x in letters) == sorted(r for _, _, r in poison)
    assert worker.stats.dead_letters == len(poison)
    long_letter = next(x for x in letters if len(str(x["topic"])) > 60_000)
    assert long_letter["_on"] == f"{topic_root}/v1/deadletter/_/_"
    assert_matches_truth(influxql, sim)
    base = START_MS + DAY_MS
    assert _stored_between(influxql, base, base + DAY_MS) == {}  # no part of a poison batch
    assert _stored_between(influxql, 0, START_MS) == {}  # nothing in 1970
    assert _stored_between(influxql, START_MS + 30 * DAY_MS, 2**62 // 10**6) == {}  # nor 2036
    assert influxql.scalar('SELECT max("published_batches") FROM "gateway_health"') is None


def test_a_line_influxdb_rejects_dead_letters_its_message_whole(
        broker: Mosquitto, influxd: InfluxD, database: str, influxql: InfluxQL,
        topic_root: str, tmp_path: Path) -> None:
    """A batch whose lines InfluxDB refuses for a reason ingest cannot foresee (here a
    field type conflict: `state.code` already a string in that shard) is found by
    bisecting the body and dead-lettered with the database's error; every other batch is
    stored, nothing of the refused batch remains, and the spool stays empty."""
    sim = simulate(machines=3, sim_seconds=600, topic_root=topic_root)
    template = msgspec.json.decode(sim.messages[0][1], type=Batch)
    poison_t0 = START_MS - 10 * DAY_MS  # a shard (week) of its own
    m0 = template.machines[0]
    line = sim.plant.line_of(m0.machine)
    response = httpx.post(f"{influxd.url}/write", params={"db": database, "precision": "ms"},
                          content=f'state,site=elsewhere,line={line},machine=other '
                                  f'code="text" {poison_t0 - 60_000}')
    assert response.status_code == 204
    poison = _shifted(template, poison_t0, seq=10**6)
    half = len(sim.messages) // 2
    messages = [*sim.messages[:half], (sim.messages[0][0], encode(poison)),
                *sim.messages[half:]]
    kwargs = dict(broker_port=broker.port, influx_url=influxd.url, database=database,
                  topic_root=topic_root, spool_dir=tmp_path)
    letters: list[dict[str, object]] = []
    stored: list[int] = []
    spooled: list[int] = []

    async def work(worker: IngestWorker) -> None:
        letters.extend(await _collect_letters(
            broker.port, topic_root, 1, publishing=lambda: publish(broker.port, messages)))
        stored.append(await asyncio.to_thread(_wait_batches, influxql, sim.batches,
                                              timeout_s=30))
        spooled.append(worker.spool.depth)

    asyncio.run(_run(sim, kwargs, work))
    assert [x["reason"] for x in letters] == ["store_rejected"]
    assert "field type conflict" in str(letters[0]["detail"])
    assert letters[0]["seq"] == 10**6
    assert stored == [sim.batches] and spooled == [0]
    assert_matches_truth(influxql, sim)
    assert _stored_between(influxql, poison_t0, poison_t0 + DAY_MS) == {}


def test_three_thousand_dead_letters_are_counted_exactly(
        broker: Mosquitto, influxd: InfluxD, database: str, influxql: InfluxQL,
        topic_root: str, tmp_path: Path) -> None:
    sim = simulate(machines=1, sim_seconds=10, topic_root=topic_root)
    topic = sim.messages[0][0]
    bad = [(topic, f"not json {i}".encode()) for i in range(3000)]
    kwargs = dict(broker_port=broker.port, influx_url=influxd.url, database=database,
                  topic_root=topic_root, spool_dir=tmp_path)
    counted: list[int] = []

    async def work(worker: IngestWorker) -> None:
        await publish(broker.port, bad)
        deadline = time.monotonic() + 60
        while worker.stats.dead_letters < len(bad) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert worker.stats.dead_letters == len(bad)
        total = 0
        while time.monotonic() < deadline:
            total = int(influxql.scalar('SELECT sum("count") FROM "dead_letter"') or 0)
            if total >= len(bad):
                break
            await asyncio.sleep(0.2)
        counted.append(total)

    asyncio.run(_run(sim, kwargs, work))
    assert counted == [len(bad)]


def test_a_changed_batch_for_a_stored_interval_is_a_conflict(
        broker: Mosquitto, influxd: InfluxD, database: str, influxql: InfluxQL,
        topic_root: str, tmp_path: Path) -> None:
    """A second, different batch for the same gateway and interval (a gateway whose seq
    restarted) is dead-lettered as `conflict` and what is stored stays; a redelivery of
    the stored batch (marked backlog on the way) is no conflict."""
    sim = simulate(machines=3, sim_seconds=600, topic_root=topic_root)
    topic, payload = sim.messages[4]
    first = msgspec.json.decode(payload, type=Batch)
    m0 = first.machines[0]
    microstop = StateChange(t_ms=first.t_end_ms - 1, state=50000)
    changed = _with_machine(msgspec.structs.replace(first, seq=0),
                            changes=[*m0.changes, microstop],
                            counts=[*m0.counts, CounterDelta(product="ONLY-IN-V2", good=3)])
    redelivery = msgspec.structs.replace(first, backlog=True)
    kwargs = dict(broker_port=broker.port, influx_url=influxd.url, database=database,
                  topic_root=topic_root, spool_dir=tmp_path)
    letters: list[dict[str, object]] = []

    async def work(worker: IngestWorker) -> None:
        await publish(broker.port, sim.messages)
        assert await asyncio.to_thread(_wait_batches, influxql, sim.batches,
                                       timeout_s=30) == sim.batches
        later = [(topic, encode(changed)), (topic, encode(redelivery))]
        letters.extend(await _collect_letters(broker.port, topic_root, 1,
                                              publishing=lambda: publish(broker.port, later)))
        deadline = time.monotonic() + 30
        while worker.stats.messages < sim.batches + 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    worker = asyncio.run(_run(sim, kwargs, work))
    assert [(x["reason"], x["seq"]) for x in letters] == [("conflict", 0)]
    assert worker.stats.messages == sim.batches + 2  # the redelivery was handled too:
    assert worker.stats.dead_letters == 1  # no conflict
    assert_matches_truth(influxql, sim)  # the first version, untouched
    assert not influxql.query('SELECT * FROM "production" WHERE "product" = \'ONLY-IN-V2\'')


def test_a_spooled_body_influxdb_refuses_is_written_but_its_refused_lines(
        influxd: InfluxD, database: str, influxql: InfluxQL, topic_root: str,
        tmp_path: Path) -> None:
    """A body spooled while InfluxDB was away and refused on replay (its messages are
    acknowledged already): bisected by line, the rest written, each refused line counted
    as a `store_rejected` dead-letter point; the spool moves on."""
    sim = simulate(machines=1, sim_seconds=10, topic_root=topic_root)
    config = ingest_config(broker_port=1, influx_url=influxd.url, database=database,
                           topic_root=topic_root, spool_dir=tmp_path)
    good = [f"probe,n={i} value={i}.0 {START_MS + i}" for i in range(7)]
    bad = f"probe,n=bad value={2**64}i {START_MS}"

    async def main() -> int:
        worker = IngestWorker(config=config, plant=sim.plant)
        try:
            assert worker.spool.append("\n".join([*good[:3], bad, *good[3:]]).encode())
            replay = asyncio.create_task(worker._replay_forever())
            worker._replay_wake.set()
            deadline = time.monotonic() + 30
            while worker.spool.depth and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            replay.cancel()
            return worker.spool.depth
        finally:
            await worker.sink.aclose()
            worker.spool.close()

    assert asyncio.run(main()) == 0
    assert influxql.scalar('SELECT count("value") FROM "probe"') == len(good)
    rows = influxql.query('SELECT "count", "detail" FROM "dead_letter" '
                          "WHERE \"reason\" = 'store_rejected'")[0].rows()
    assert [r["count"] for r in rows] == [1] and "unable to parse" in rows[0]["detail"]
