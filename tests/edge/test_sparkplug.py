"""The Sparkplug B source on a real Mosquitto, fed by a third-party edge node.

The edge node is pysparkplug (tests/peers/spb_node.py) in its own process and
virtualenv, so what the source decodes was encoded by another implementation of
Eclipse Tahu's sparkplug_b.proto, not by ours.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import msgspec
import pytest

from plantstream.config import MqttConfig, convert
from plantstream.devstack.services import Mosquitto, free_port
from plantstream.edge.agent import EdgeAgent
from plantstream.edge.config import EdgeConfig, GatewaySettings
from plantstream.edge.readings import (
    AnalogReading,
    CounterReading,
    Reading,
    StateReading,
)
from plantstream.edge.sources import build_source
from plantstream.edge.sources.sparkplug import SparkplugConfig, SparkplugSource
from plantstream.edge.sources.sparkplug._payload import decode_payload, metric_value
from plantstream.errors import ConfigError, ServiceError
from plantstream.topics import Topics
from plantstream.wire import Batch
from tests.edge.sourcing import PATIENCE_S, batch_readings, collect_until, now_ms

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
PEER_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
NODE_SCRIPT = ROOT / "tests" / "peers" / "spb_node.py"

NODE = "line-2"
DEVICE = "press-01"


def m(name: str | None, datatype: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "value": value, **extra}


BIRTH = [  # the device's metrics, with aliases, as its DBIRTH declares them
    m("Status/State", "INT32", 1, alias=1),
    m("Status/Product", "STRING", "P-100", alias=2),
    m("Counts/Good", "UINT32", 4_294_967_290, alias=3),  # 6 before the 32-bit rollover
    m("Counts/Scrap", "UINT16", 10, alias=4),
    m("Energy/Wh", "UINT64", 1_000, alias=5),
    m("Hydraulic/Pressure", "FLOAT", 120.5, alias=6),
    m("Motor/Temp C", "DOUBLE", 40.0, alias=7),  # unmapped: kept as a raw signal
    m("Status/Alarm Code", "INT16", -2, alias=8),  # unmapped, signed
]


class EdgeNodeProcess:
    """pysparkplug's EdgeNode (or, with `script`, another pysparkplug driver) in a child
    process, driven line by line over stdin."""

    def __init__(self, script: Path = NODE_SCRIPT) -> None:
        self.script = script
        self.process: asyncio.subprocess.Process | None = None
        self.lines: list[dict[str, Any]] = []
        self.done: dict[str, int] = {}  # commands acknowledged, by op
        self._new_line = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not PEER_PYTHON.exists():
            pytest.fail(f"{PEER_PYTHON} is missing: `make setup` creates it "
                        "(requirements/peers.txt)")
        self.process = await asyncio.create_subprocess_exec(
            str(PEER_PYTHON), "-W", "ignore", str(self.script), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            message = json.loads(line)
            self.lines.append(message)
            if "ok" in message:
                self.done[message["ok"]] = self.done.get(message["ok"], 0) + 1
            self._new_line.set()

    async def _until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(PATIENCE_S):
            while not condition():
                errors = [line["error"] for line in self.lines if "error" in line]
                if errors:
                    pytest.fail(f"edge node: {errors}")
                self._new_line.clear()
                await self._new_line.wait()

    async def wait_for(self, test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        await self._until(lambda: any(test(line) for line in self.lines))
        return next(line for line in self.lines if test(line))

    async def send(self, *commands: dict[str, Any]) -> None:
        """Send commands (pipelined) and wait until the node has carried out all."""
        assert self.process is not None and self.process.stdin is not None
        expected = dict(self.done)
        for command in commands:
            expected[command["op"]] = expected.get(command["op"], 0) + 1
            self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        await self._until(lambda: all(self.done.get(op, 0) >= n for op, n in expected.items()))

    def ncmds(self) -> list[dict[str, Any]]:
        return [line["metrics"] for line in self.lines if line.get("event") == "ncmd"]

    async def kill(self) -> None:
        """SIGKILL: the broker publishes the node's will (NDEATH)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        assert await self.process.wait() == -signal.SIGKILL
        await self.stop()

    async def stop(self) -> None:
        if self.process is not None:
            if self.process.returncode is None:
                assert self.process.stdin is not None
                self.process.stdin.close()
                try:
                    async with asyncio.timeout(10):
                        await self.process.wait()
                except TimeoutError:
                    self.process.kill()
                    await self.process.wait()
            if self._reader is not None:
                await self._reader
        self.process = None


@pytest.fixture
async def edge_node() -> AsyncIterator[EdgeNodeProcess]:
    node = EdgeNodeProcess()
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


@pytest.fixture
def group() -> str:
    return f"plant-{uuid.uuid4().hex[:8]}"


def spb_config(broker: Mosquitto, group: str, **extra: Any) -> SparkplugConfig:
    machine = {
        "id": "press-01", "default_product": "P-000", "edge_node": NODE, "device": DEVICE,
        "state": {"metric": "Status/State", "map": {"1": 10000, "2": 190000}},
        "product": {"metric": "Status/Product"},
        "counters": {"good": {"metric": "Counts/Good", "bits": 32},
                     "scrap": {"metric": "Counts/Scrap", "bits": 16}},
        "meters": [{"carrier": "electricity", "unit": "kWh", "metric": "Energy/Wh",
                    "scale": 0.001, "bits": 64}],
        "signals": [{"signal": "pressure_bar", "metric": "Hydraulic/Pressure",
                     "deadband": 1.0}],
    }
    return convert({"type": "sparkplug", "group": group, "host_id": f"host-{group}",
                    "mqtt": {"port": broker.port}, "machines": [machine],
                    "rebirth_holdoff_s": 0, "reconnect_min_s": 0.05, **extra},
                   SparkplugConfig, source="test")


async def start_source(broker: Mosquitto, group: str, *, start_ms: int | None = None,
                       **extra: Any) -> SparkplugSource:
    source = build_source(spb_config(broker, group, **extra),
                          start_ms=now_ms() - 1000 if start_ms is None else start_ms)
    assert isinstance(source, SparkplugSource)
    await source.__aenter__()
    async with asyncio.timeout(PATIENCE_S):
        await source.connected.wait()
    return source


async def connect_node(node: EdgeNodeProcess, broker: Mosquitto, group: str) -> None:
    await node.send({"op": "connect", "port": broker.port, "group": group, "node": NODE,
                     "node_metrics": [m("Node/Uptime", "INT64", 1)],
                     "devices": {DEVICE: BIRTH}})


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(PATIENCE_S):
        while not condition():
            await asyncio.sleep(0.01)


def has(kind: type[Reading], test: Callable[[Any], bool]) -> Callable[[list[Reading]], bool]:
    return lambda seen: any(isinstance(r, kind) and test(r) for r in seen)


async def test_birth_and_data_map_to_kpi_readings(broker: Mosquitto, group: str,
                                                  edge_node: EdgeNodeProcess) -> None:
    """DBIRTH names, aliases and datatypes; DDATA by name and by alias only, with metric
    timestamps; counter and energy rollovers; unmapped metrics as raw signals; the
    retained STATE birth of the primary host."""
    source = await start_source(broker, group)
    seen: list[Reading] = []
    try:
        async with aiomqtt.Client("127.0.0.1", broker.port) as watcher:
            await watcher.subscribe(f"spBv1.0/STATE/host-{group}", qos=1)
            async with asyncio.timeout(PATIENCE_S):
                retained = await anext(watcher.messages)
            assert isinstance(retained.payload, bytes) and retained.retain
            state = json.loads(retained.payload)
        assert state["online"] is True and isinstance(state["timestamp"], int)

        await connect_node(edge_node, broker, group)
        await collect_until(source, seen, has(CounterReading, lambda r: r.kind == "good"))
        first = {(type(r).__name__, getattr(r, "kind", getattr(r, "signal", ""))): r
                 for r in seen}
        assert first[("StateReading", "")].state == 10000
        good = first[("CounterReading", "good")]
        assert (good.raw, good.modulus, good.product) == (4_294_967_290, 2**32, "P-100")
        assert first[("CounterReading", "scrap")].modulus == 2**16
        meter = first[("MeterReading", "")]
        assert (meter.raw, meter.scale, meter.unit) == (1_000, 0.001, "kWh")
        assert first[("AnalogReading", "pressure_bar")].value == 120.5
        assert first[("AnalogReading", "Motor_Temp_C")].value == 40.0  # unmapped, kept
        assert first[("AnalogReading", "Status_Alarm_Code")].value == -2.0  # INT16 signed

        # the edge node stamps when it sampled (after what was handed out: not re-stamped)
        t_event = now_ms()
        await edge_node.send({"op": "update_device", "device": DEVICE, "metrics": [
            m("Status/Product", "STRING", "P-200", timestamp=t_event),
            m("Status/State", "INT32", 2, timestamp=t_event),
            m("Hydraulic/Pressure", "FLOAT", 121.0, timestamp=t_event)]})  # in the deadband
        await until(lambda: source.pending >= 1)  # arrived before the next poll's horizon
        await collect_until(source, seen, has(StateReading, lambda r: r.state == 190000))
        failure = next(r for r in seen if isinstance(r, StateReading) and r.state == 190000)
        assert failure.t_ms == t_event  # the metric's timestamp, not the arrival time
        # alias-only DDATA (no names, no datatypes): resolved from the DBIRTH
        await edge_node.send({"op": "update_device_aliases", "device": DEVICE, "metrics": [
            m(None, "UINT32", 4, alias=3),  # 4294967290 -> 4: +10 across 2**32
            m(None, "UINT16", 13, alias=4),  # +3
            m(None, "UINT64", 1_512, alias=5),  # +512 Wh
            m(None, "FLOAT", 125.0, alias=6)]})
        await collect_until(source, seen, has(AnalogReading, lambda r: r.value == 125.0))
        counters = source.host.counters
        assert (counters.malformed, counters.seq_gaps, counters.data_before_birth,
                counters.unknown_aliases) == (0, 0, 0, 0)
    finally:
        await source.__aexit__(None, None, None)

    pressures = [r.value for r in seen if isinstance(r, AnalogReading)
                 and r.signal == "pressure_bar"]
    assert pressures == [120.5, 125.0]
    closed = batch_readings(seen)
    machines = [x for interval in closed for x in interval.machines]
    totals = {(c.product, kind): 0 for x in machines for c in x.counts
              for kind in ("good", "scrap")}
    for x in machines:
        for c in x.counts:
            totals[(c.product, "good")] += c.good
            totals[(c.product, "scrap")] += c.scrap
    assert {k: v for k, v in totals.items() if v} == {("P-200", "good"): 10,
                                                      ("P-200", "scrap"): 3}
    assert sum(x.delta for y in machines for x in y.meters) == pytest.approx(0.512)
    assert [c.state for x in machines for c in x.changes] == [190000]


async def test_death_mid_shift_is_unknown_and_rebirth_with_a_new_bd_seq(
        broker: Mosquitto, group: str, edge_node: EdgeNodeProcess) -> None:
    """The edge node dies (killed: the broker publishes its will NDEATH, whose bdSeq
    matches the birth): the machine is unknown from the death on, not running; a new
    node process is born with its own bdSeq and the machine runs again."""
    source = await start_source(broker, group)
    seen: list[Reading] = []
    try:
        await connect_node(edge_node, broker, group)
        await collect_until(source, seen, has(StateReading, lambda r: r.state == 10000))
        bd_seq = source.host.nodes[NODE].bd_seq
        assert bd_seq is not None
        await edge_node.kill()
        await collect_until(source, seen, has(StateReading, lambda r: r.state == 30000))
        assert source.host.counters.deaths == 1  # the will, matched by its bdSeq
        assert has(AnalogReading, lambda r: r.signal == "pressure_bar" and r.value is None)(
            seen)
        # a clean reconnect of a new process: NBIRTH, DBIRTH; the clean end of the old
        # session and the library's will carry the next bdSeq: told apart by bdSeq
        await edge_node.start()
        await connect_node(edge_node, broker, group)
        # (the library reports connected before its births are out: wait for them)
        await collect_until(source, seen, lambda s: source.host.counters.births >= 2)
        await edge_node.send({"op": "reconnect"})
        await collect_until(source, seen, lambda s: source.host.counters.births >= 3)
        states = [r.state for r in seen if isinstance(r, StateReading)]
        assert states[-1] == 10000
    finally:
        await source.__aexit__(None, None, None)
    counters = source.host.counters
    assert counters.births == 3
    # pysparkplug's clean NDEATH names the bdSeq of its next session, not of the birth:
    # it is not this session's death and must not be taken as one
    assert counters.stale_deaths == 1 and counters.deaths == 1
    states = [r.state for r in seen if isinstance(r, StateReading)]
    death = states.index(30000)
    assert set(states[:death]) == {10000}
    closed = batch_readings(seen)
    changes = [c.state for i in closed for x in i.machines for c in x.changes]
    assert 30000 in changes  # the time between death and rebirth is unknown


async def test_seq_gap_requests_a_rebirth(broker: Mosquitto, group: str,
                                          edge_node: EdgeNodeProcess) -> None:
    """A lost message (the node's seq jumps): an NCMD Node Control/Rebirth is seen on the
    broker and by the edge node's library, which rebirths; data flows again."""
    source = await start_source(broker, group)
    seen: list[Reading] = []
    try:
        async with aiomqtt.Client("127.0.0.1", broker.port) as watcher:
            await watcher.subscribe(f"spBv1.0/{group}/NCMD/{NODE}", qos=0)
            await connect_node(edge_node, broker, group)
            await collect_until(source, seen, has(StateReading, lambda r: r.state == 10000))
            await edge_node.send({"op": "skip_seq"})
            await edge_node.send({"op": "update_device", "device": DEVICE,
                                  "metrics": [m("Status/State", "INT32", 2)]})
            async with asyncio.timeout(PATIENCE_S):
                message = await anext(watcher.messages)
            assert isinstance(message.payload, bytes)
            request = decode_payload(message.payload)
            assert [(x.name, metric_value(x, x.datatype)) for x in request.metrics] == [
                ("Node Control/Rebirth", 1)]
        assert source.host.counters.seq_gaps == 1
        await edge_node.wait_for(lambda line: line.get("event") == "ncmd")
        assert edge_node.ncmds() == [{"Node Control/Rebirth": True}]
        # the data after the gap was not trusted; after the rebirth it flows again
        await collect_until(source, seen, lambda s: source.host.counters.births >= 2)
        await edge_node.send({"op": "update_device", "device": DEVICE,
                              "metrics": [m("Status/State", "INT32", 2)]})
        await collect_until(source, seen, has(StateReading, lambda r: r.state == 190000))
    finally:
        await source.__aexit__(None, None, None)


async def test_data_before_birth_requests_a_rebirth(broker: Mosquitto, group: str,
                                                    edge_node: EdgeNodeProcess) -> None:
    """The host starts while a node is mid-session: its DDATA comes before any birth the
    host saw; it is not used, a rebirth is requested, the births follow."""
    await connect_node(edge_node, broker, group)  # born before the host listens
    source = await start_source(broker, group)
    seen: list[Reading] = []
    try:
        # a DDATA as the node sends it mid-session (sent apart from the node's own state,
        # so the births that follow still carry state 1)
        await edge_node.send({"op": "publish", "type": "DDATA", "device": DEVICE, "seq": 5,
                              "metrics": [m("Status/State", "INT32", 2)]})
        await edge_node.wait_for(lambda line: line.get("event") == "ncmd")
        assert source.host.counters.data_before_birth >= 1
        await collect_until(source, seen, has(StateReading, lambda r: r.state == 10000))
        assert not has(StateReading, lambda r: r.state == 190000)(seen)  # not trusted
    finally:
        await source.__aexit__(None, None, None)


async def test_historical_replay_goes_to_its_past_interval(broker: Mosquitto, group: str,
                                                         edge_node: EdgeNodeProcess) -> None:
    """After an outage the node replays what it stored with is_historical: values whose
    batches are still open go in at their own (past) timestamps; values older than
    the closed batches are counted and dropped, never re-stamped as current."""
    start = now_ms() - 60_000  # the agent's open interval starts a minute ago
    source = await start_source(broker, group, start_ms=start)
    seen: list[Reading] = []
    try:
        await connect_node(edge_node, broker, group)
        await until(lambda: source.host.counters.births >= 1)  # nothing handed out yet
        past = now_ms() - 30_000
        await edge_node.send({"op": "update_device", "device": DEVICE, "metrics": [
            m("Status/State", "INT32", 2, timestamp=past, is_historical=True),
            m("Counts/Good", "UINT32", 4_294_967_295, timestamp=past + 1000,
              is_historical=True),
            m("Status/State", "INT32", 1, timestamp=past + 5000, is_historical=True),
            m("Status/State", "INT32", 2, timestamp=start - 10_000, is_historical=True)]})
        counters = source.host.counters
        await until(lambda: counters.historical + counters.historical_dropped >= 4)
        assert (counters.historical, counters.historical_dropped) == (3, 1)
        await collect_until(source, seen, has(StateReading, lambda r: r.t_ms == past + 5000))
    finally:
        await source.__aexit__(None, None, None)
    replayed = [r for r in seen if r.t_ms in (past, past + 1000, past + 5000)]
    assert [(type(r).__name__, r.t_ms) for r in replayed] == [
        ("StateReading", past), ("CounterReading", past + 1000), ("StateReading", past + 5000)]
    assert all(r.t_ms >= start for r in seen)
    closed = batch_readings(sorted(seen, key=lambda r: r.t_ms))
    # the replayed failure opens the batch of its own (past) second; the replayed restart
    # is a change in the batch five seconds later
    assert closed[0].t_start_ms <= past < closed[0].t_start_ms + 1000
    assert closed[0].machines[0].state_at_start == 190000
    restart = [(i.t_start_ms, c.state) for i in closed for x in i.machines for c in x.changes
               if c.t_ms == past + 5000]
    assert restart == [(past + 5000 - (past + 5000) % 1000, 10000)]


async def test_agent_holds_its_batches_open_for_the_history_window(
        broker: Mosquitto, group: str, topic_root: str, tmp_path: Path,
        edge_node: EdgeNodeProcess) -> None:
    """In a running agent, intervals close `history_window_s` after their end, so a
    replay after a short outage goes into its own past batch (on the wire); a value
    older than the window is counted and dropped."""
    config = EdgeConfig(
        gateway=GatewaySettings(id="gw-spb", site="site-spb", flush_interval_s=1,
                                state_dir=str(tmp_path / "edge")),
        mqtt=MqttConfig(port=broker.port, topic_root=topic_root),
        sources=[spb_config(broker, group, history_window_s=8.0)])
    batches: list[Batch] = []
    decoder = msgspec.json.Decoder(Batch)

    async def read(client: aiomqtt.Client) -> None:
        async for message in client.messages:
            batches.append(decoder.decode(message.payload))  # type: ignore[arg-type]

    async with aiomqtt.Client("127.0.0.1", broker.port) as reader:
        await reader.subscribe(Topics(root=topic_root).all_batches, qos=1)
        reading = asyncio.create_task(read(reader))
        try:
            async with EdgeAgent(config=config) as agent:
                assert agent.hold_ms == 8_000
                source = agent.sources[0]
                assert isinstance(source, SparkplugSource)
                await connect_node(edge_node, broker, group)
                await until(lambda: source.host.counters.births >= 1
                            and agent.horizon_ms > agent.start_ms + 1_000)
                # the agent's closed batches end about 8 s before now
                assert now_ms() - agent.horizon_ms >= 7_000
                replayed = now_ms() - 2_000  # its batch is still open (held back 8 s)
                old = agent.horizon_ms - 2_000  # its batch is closed
                await edge_node.send({"op": "update_device", "device": DEVICE, "metrics": [
                    m("Status/State", "INT32", 2, timestamp=old, is_historical=True),
                    m("Status/State", "INT32", 2, timestamp=replayed, is_historical=True),
                    m("Status/State", "INT32", 1, timestamp=replayed + 500,
                      is_historical=True)]})
                counters = source.host.counters
                await until(lambda: counters.historical + counters.historical_dropped >= 3)
                assert (counters.historical, counters.historical_dropped) == (2, 1)
                assert await agent.stop(drain_timeout_s=PATIENCE_S)
                closed = agent.closed_batches
            await until(lambda: len({b.seq for b in batches}) >= closed)
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
    # the failure at its own (past) time, and the restart half a second later
    timeline = {(b.t_start_ms, x.state_at_start) for b in batches for x in b.machines}
    timeline |= {(c.t_ms, c.state) for b in batches for x in b.machines for c in x.changes}
    assert (replayed, 190000) in timeline and (replayed + 500, 10000) in timeline


async def test_malformed_messages_are_counted_never_raised(broker: Mosquitto,
                                                           group: str) -> None:
    source = await start_source(broker, group)
    try:
        async with aiomqtt.Client("127.0.0.1", broker.port) as rogue:
            await rogue.publish(f"spBv1.0/{group}/NBIRTH/{NODE}", b"\xff\xff\xff not protobuf")
            await rogue.publish(f"spBv1.0/{group}/DDATA/{NODE}", b"")  # no device
            await rogue.publish(f"spBv1.0/{group}/NBIRTH/{NODE}/a/b", b"")
        await until(lambda: source.host.counters.malformed >= 3)
        assert source.connected.is_set()  # still subscribed
        assert NODE in source.host.last_malformed
    finally:
        await source.__aexit__(None, None, None)
    assert source.errors >= 3


async def test_check_reaches_the_broker_or_says_why(broker: Mosquitto, group: str) -> None:
    """What `plantstream edge check` runs: the live broker passes, a dead port fails."""
    source = await start_source(broker, group)
    try:
        await source.check()
    finally:
        await source.__aexit__(None, None, None)
    dead = SparkplugSource(config=convert(
        {"type": "sparkplug", "group": group, "machines": [],
         "mqtt": {"port": free_port()}, "reconnect_min_s": 0.05}, SparkplugConfig,
        source="test"), start_ms=now_ms())
    async with dead:
        with pytest.raises(ServiceError, match="not reached"):
            await dead.check(timeout_s=1.0)
    assert dead.broker_errors >= 1


@pytest.mark.parametrize(("patch", "key"), [
    ({"bogus": 1}, "bogus"),
    ({"group": "a/b"}, "group"),
    ({"machines": [{"id": "m", "default_product": "p", "edge_node": "n"},
                   {"id": "m2", "default_product": "p", "edge_node": "n"}]}, "device"),
])
def test_config_errors_name_the_key(patch: dict[str, Any], key: str) -> None:
    base: dict[str, Any] = {"type": "sparkplug", "group": "g", "machines": []}
    with pytest.raises(ConfigError) as err:
        convert({**base, **patch}, SparkplugConfig, source="test")
    assert key in str(err.value)
