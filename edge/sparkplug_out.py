"""Sparkplug B out: the edge agent also publishes its machines as a Sparkplug B edge node.

With `[sparkplug]` in the agent's configuration, an existing Sparkplug host (Ignition,
a SCADA or MES) sees the gateway as edge node `<edge_node>` (default: the gateway id) in
group `<group>`, and each machine as a device of it. PlantStream's own batches remain the
path into InfluxDB; this is a parallel, live view.

Per machine (device), metrics appear as their readings do (a new metric re-issues the
device's DBIRTH): `State` (Int32 state code), `Product` (String), `Counts/good|scrap|
rework` (UInt64, the raw counter register), `Energy/<carrier>` (Double, physical units,
property engUnit) and `Signals/<signal>` (Double; a missing sample is null). NBIRTH carries
`bdSeq` and `Node Control/Rebirth`; the MQTT will is the NDEATH with the same `bdSeq`
(persisted in the state directory and incremented per connection); DDATA carries
changes by alias with their reading timestamps; an NCMD `Node Control/Rebirth` makes it
publish NBIRTH and every DBIRTH again. aiomqtt and protobuf are imported when it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from plantstream.config import MqttConfig
from plantstream.edge.readings import (
    AnalogReading,
    CounterReading,
    MeterReading,
    Reading,
    StateReading,
)

if TYPE_CHECKING:
    import aiomqtt

__all__ = ["SparkplugEdgeNode", "SparkplugOut"]

log = logging.getLogger(__name__)

SparkplugId = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[^/+#]+$")]

# Sparkplug B datatypes (Tahu sparkplug_b.proto)
INT32, UINT64, DOUBLE, BOOLEAN, STRING = 3, 8, 10, 11, 12


class SparkplugOut(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    group: SparkplugId
    edge_node: SparkplugId | None = None  # default: the gateway id
    mqtt: MqttConfig | None = None  # the Sparkplug broker; default: the agent's [mqtt]
    reconnect_min_s: Annotated[float, msgspec.Meta(ge=0.01, le=60)] = 0.5
    reconnect_max_s: Annotated[float, msgspec.Meta(ge=0.01, le=600)] = 30.0


@dataclass(slots=True)
class _Metric:
    alias: int
    datatype: int
    value: float | int | str | None
    t_ms: int
    unit: str | None = None


@dataclass(slots=True)
class _Device:
    metrics: dict[str, _Metric] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    born: bool = False  # its DBIRTH went out with every metric it has


class SparkplugEdgeNode:
    """Publishes the agent's readings as a Sparkplug B edge node; `run()` is its task."""

    def __init__(self, *, config: SparkplugOut, mqtt: MqttConfig, node_id: str,
                 state_dir: Path) -> None:
        self.config = config
        self.mqtt = config.mqtt or mqtt
        self.node_id = config.edge_node or node_id
        self.prefix = f"spBv1.0/{config.group}"
        self._bd_seq_path = state_dir / "sparkplug-bdseq"
        self.bd_seq = 0
        self.seq = 0
        self.devices: dict[str, _Device] = {}
        self._next_alias = 2  # 0: bdSeq, 1: Node Control/Rebirth
        self._wake = asyncio.Event()
        self.connected = asyncio.Event()
        self.births = 0  # NBIRTHs published
        self.rebirth_requests = 0
        self.errors = 0

    # -- readings in ------------------------------------------------------------------

    def observe(self, readings: Sequence[Reading]) -> None:
        """Take the agent's readings (never blocks; the task publishes them)."""
        for r in readings:
            if isinstance(r, StateReading):
                self._set(r.machine, "State", INT32, r.state, r.t_ms)
            elif isinstance(r, CounterReading):
                self._set(r.machine, "Product", STRING, r.product, r.t_ms)
                self._set(r.machine, f"Counts/{r.kind}", UINT64, r.raw, r.t_ms)
            elif isinstance(r, MeterReading):
                self._set(r.machine, f"Energy/{r.carrier}", DOUBLE, r.raw * r.scale, r.t_ms,
                          unit=r.unit)
            elif isinstance(r, AnalogReading):
                self._set(r.machine, f"Signals/{r.signal}", DOUBLE, r.value, r.t_ms)
        if readings:
            self._wake.set()

    def _set(self, machine: str, name: str, datatype: int, value: float | int | str | None,
             t_ms: int, unit: str | None = None) -> None:
        device = self.devices.setdefault(machine, _Device())
        metric = device.metrics.get(name)
        if metric is None:
            device.metrics[name] = _Metric(self._next_alias, datatype, value, t_ms, unit)
            self._next_alias += 1
            device.born = False  # a new metric: the device is born again with it
            return
        if metric.value != value:
            metric.value, metric.t_ms = value, t_ms
            device.changed.add(name)

    # -- payloads -----------------------------------------------------------------------

    def _next_seq(self) -> int:
        seq, self.seq = self.seq, (self.seq + 1) % 256
        return seq

    def _payload(self, pb: Any, now_ms: int, seq: int | None) -> Any:
        payload = pb.Payload(timestamp=now_ms)
        if seq is not None:
            payload.seq = seq
        return payload

    def _add_metric(self, payload: Any, name: str | None, metric: _Metric, *,
                    birth: bool) -> None:
        out = payload.metrics.add()
        if name is not None:
            out.name = name
        out.alias = metric.alias
        out.timestamp = metric.t_ms
        if birth:
            out.datatype = metric.datatype
            if metric.unit is not None:
                out.properties.keys.append("engUnit")
                unit = out.properties.values.add()
                unit.type = STRING
                unit.string_value = metric.unit
        if metric.value is None:
            out.is_null = True
        elif metric.datatype == STRING:
            out.string_value = str(metric.value)
        elif metric.datatype == DOUBLE:
            out.double_value = float(metric.value)
        elif metric.datatype == INT32:
            out.int_value = int(metric.value) & 0xFFFFFFFF
        else:
            out.long_value = int(metric.value)

    def _node_metrics(self, pb: Any, payload: Any, now_ms: int) -> None:
        bd = payload.metrics.add()
        bd.name, bd.alias, bd.timestamp, bd.datatype, bd.long_value = (
            "bdSeq", 0, now_ms, UINT64, self.bd_seq)

    def _nbirth(self, pb: Any, now_ms: int) -> bytes:
        self.seq = 0
        payload = self._payload(pb, now_ms, self._next_seq())
        self._node_metrics(pb, payload, now_ms)
        rebirth = payload.metrics.add()
        rebirth.name, rebirth.alias, rebirth.timestamp, rebirth.datatype = (
            "Node Control/Rebirth", 1, now_ms, BOOLEAN)
        rebirth.boolean_value = False
        return bytes(payload.SerializeToString())

    def _ndeath(self, pb: Any, now_ms: int) -> bytes:
        payload = self._payload(pb, now_ms, None)
        self._node_metrics(pb, payload, now_ms)
        return bytes(payload.SerializeToString())

    # -- the task -----------------------------------------------------------------------

    async def run(self) -> None:
        """Publish forever: (re)connect with backoff, births, data, rebirths."""
        import aiomqtt

        delay = self.config.reconnect_min_s
        while True:
            try:
                await self._session()
                delay = self.config.reconnect_min_s
            except aiomqtt.MqttError as exc:
                self.errors += 1
                log.warning("sparkplug out %s: %s; retrying in %.1f s", self.node_id, exc, delay)
            self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.config.reconnect_max_s)

    def _next_bd_seq(self) -> int:
        try:
            previous = int(self._bd_seq_path.read_text().strip())
            bd_seq = (previous + 1) % 256
        except (OSError, ValueError):
            bd_seq = 0
        self._bd_seq_path.parent.mkdir(parents=True, exist_ok=True)
        self._bd_seq_path.write_text(str(bd_seq))
        return bd_seq

    async def _session(self) -> None:
        import aiomqtt

        from plantstream.edge.sources.modbus._buffer import now_ms
        from plantstream.edge.sources.sparkplug._payload import REBIRTH, decode_payload, pb
        from plantstream.mqtt import mqtt_client

        self.bd_seq = self._next_bd_seq()
        will = aiomqtt.Will(f"{self.prefix}/NDEATH/{self.node_id}",
                            self._ndeath(pb, now_ms()), qos=1, retain=False)
        async with mqtt_client(self.mqtt, identifier=f"spb-{self.config.group}-{self.node_id}",
                               will=will, clean_start=True) as client:
            await client.subscribe(f"{self.prefix}/NCMD/{self.node_id}", qos=1)
            rebirth = asyncio.Event()
            rebirth.set()  # the first births

            async def commands() -> None:
                async for message in client.messages:
                    try:
                        payload = decode_payload(bytes(message.payload))  # type: ignore[arg-type]
                    except Exception:
                        self.errors += 1
                        log.warning("sparkplug out %s: unreadable NCMD", self.node_id)
                        continue
                    if any(m.name == REBIRTH and m.boolean_value for m in payload.metrics):
                        self.rebirth_requests += 1
                        rebirth.set()
                        self._wake.set()

            reader = asyncio.create_task(commands(), name="sparkplug-out-ncmd")
            try:
                self.connected.set()
                while True:
                    if rebirth.is_set():
                        rebirth.clear()
                        await client.publish(f"{self.prefix}/NBIRTH/{self.node_id}",
                                             self._nbirth(pb, now_ms()), qos=0)
                        self.births += 1
                        for device in self.devices.values():
                            device.born = False
                    await self._publish_devices(client, pb, now_ms())
                    if reader.done():
                        reader.result()  # the connection failed: raise its error
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):  # a clean end: NDEATH, then disconnect
                    await asyncio.wait_for(client.publish(
                        f"{self.prefix}/NDEATH/{self.node_id}", self._ndeath(pb, now_ms()),
                        qos=1), timeout=2.0)
                raise
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await reader

    async def _publish_devices(self, client: aiomqtt.Client, pb: Any, now: int) -> None:
        for machine, device in list(self.devices.items()):
            if not device.born:
                payload = self._payload(pb, now, self._next_seq())
                for name, metric in device.metrics.items():
                    self._add_metric(payload, name, metric, birth=True)
                await client.publish(f"{self.prefix}/DBIRTH/{self.node_id}/{machine}",
                                     payload.SerializeToString(), qos=0)
                device.born = True
                device.changed.clear()
            elif device.changed:
                payload = self._payload(pb, now, self._next_seq())
                for name in sorted(device.changed, key=lambda n: device.metrics[n].alias):
                    self._add_metric(payload, None, device.metrics[name], birth=False)
                device.changed.clear()
                await client.publish(f"{self.prefix}/DDATA/{self.node_id}/{machine}",
                                     payload.SerializeToString(), qos=0)
