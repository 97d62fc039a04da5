"""The Sparkplug B host logic: births, deaths, sequence numbers, aliases, mapping.

No MQTT here: `handle(topic, payload)` turns one message into readings in the buffer
and returns the edge nodes that must be asked to rebirth; `_session.py` does the I/O.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from plantstream.edge.readings import (
    AnalogReading,
    CounterKind,
    CounterReading,
    MeterReading,
    StateReading,
)
from plantstream.edge.sources.modbus._buffer import Deadband, ReadingBuffer, now_ms
from plantstream.edge.sources.modbus._mapping import int_keyed, product_of, state_of
from plantstream.edge.sources.sparkplug._payload import (
    BD_SEQ,
    NAMESPACE,
    DecodeError,
    decode_payload,
    metric_value,
    signal_name,
)
from plantstream.edge.sources.sparkplug.config import (
    MeterMetric,
    SignalMetric,
    SparkplugConfig,
    SparkplugMachine,
)

__all__ = ["Host", "HostCounters"]

log = logging.getLogger(__name__)

Role = Literal["state", "product", "counter", "meter", "signal"]
Place = tuple[str, str | None]  # (edge node, device or None)


@dataclass(slots=True)
class _Binding:
    role: Role
    kind: CounterKind | None = None
    modulus: int = 0
    meter: MeterMetric | None = None
    signal: SignalMetric | None = None
    deadband: Deadband | None = None


class _Machine:
    def __init__(self, config: SparkplugMachine) -> None:
        self.config = config
        self.product = config.default_product
        self.state_map = int_keyed(config.state.map, "map") if config.state else {}
        self.product_map = int_keyed(config.product.map, "map") if config.product else {}
        self.bindings: dict[str, list[_Binding]] = {}
        self.raw_deadbands: dict[str, Deadband] = {}  # unmapped metrics kept as signals
        if config.state is not None:
            self._bind(config.state.metric, _Binding("state"))
        if config.product is not None:
            self._bind(config.product.metric, _Binding("product"))
        for kind, counter in config.counters.items():
            self._bind(counter.metric, _Binding("counter", kind=kind, modulus=1 << counter.bits))
        for meter in config.meters:
            self._bind(meter.metric, _Binding("meter", modulus=meter.effective_modulus,
                                              meter=meter))
        for signal in config.signals:
            self._bind(signal.metric, _Binding("signal", signal=signal,
                                               deadband=Deadband(signal.deadband)))

    def _bind(self, metric: str, binding: _Binding) -> None:
        self.bindings.setdefault(metric, []).append(binding)


@dataclass(slots=True)
class _Node:
    born: bool = False
    bd_seq: int | None = None
    seq: int | None = None
    aliases: dict[int, str] = field(default_factory=dict)  # node-wide, devices included
    datatypes: dict[str, int] = field(default_factory=dict)
    devices: set[str] = field(default_factory=set)  # devices born in this node session
    rebirth_requested_at: float = float("-inf")


@dataclass(slots=True)
class HostCounters:
    """What the host saw go wrong (or historical), for health and tests."""

    messages: int = 0  # Sparkplug B messages of the group decoded
    malformed: int = 0
    seq_gaps: int = 0
    data_before_birth: int = 0
    stale_deaths: int = 0  # NDEATHs whose bdSeq is not the current session's
    rebirth_requests: int = 0
    unknown_aliases: int = 0
    historical: int = 0  # historical metric values taken
    historical_dropped: int = 0  # historical values older than the closed batches
    deaths: int = 0
    births: int = 0


class Host:
    def __init__(self, config: SparkplugConfig, *, buffer: ReadingBuffer,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.buffer = buffer
        self.counters = HostCounters()
        self._clock = clock
        self.nodes: dict[str, _Node] = {}
        self.machines: dict[Place, _Machine] = {
            (m.edge_node, m.device): _Machine(m) for m in config.machines}
        self.last_malformed = ""

    # -- one message ----------------------------------------------------------------

    def handle(self, topic: str, data: bytes) -> list[str]:
        """Apply one message; the edge nodes to send a rebirth request to."""
        parts = topic.split("/")
        if len(parts) < 4 or parts[0] != NAMESPACE or parts[1] != self.config.group:
            return []  # not ours (STATE of other hosts, other groups)
        kind, node_id = parts[2], parts[3]
        device = parts[4] if len(parts) == 5 else None
        if kind in ("NCMD", "DCMD"):
            return []  # commands (ours included) are for the edge nodes
        if len(parts) > 5 or (kind.startswith("D") and device is None) or (
                kind.startswith("N") and device is not None) or kind not in (
                "NBIRTH", "NDEATH", "NDATA", "DBIRTH", "DDEATH", "DDATA"):
            self.malformed(topic, "not a Sparkplug B topic")
            return []
        try:
            payload = decode_payload(data)
        except DecodeError as exc:
            self.malformed(topic, f"not a Sparkplug B payload: {exc}")
            return []
        self.counters.messages += 1
        arrival = now_ms()
        node = self.nodes.setdefault(node_id, _Node())
        if kind == "NDEATH":
            self._node_death(node_id, node, payload, arrival)
            return []
        if kind == "NBIRTH":
            self._node_birth(node_id, node, payload, arrival)
            return []
        if not node.born or (kind == "DDATA" and device not in node.devices):
            self.counters.data_before_birth += 1
            log.info("sparkplug %s: %s from %s/%s before its birth: rebirth requested",
                     self.config.name, kind, node_id, device or "")
            return self._rebirth(node_id, node)
        if not payload.HasField("seq"):
            self.malformed(topic, "no seq")
            return []
        expected = ((node.seq or 0) + 1) % 256
        if payload.seq != expected:
            self.counters.seq_gaps += 1
            log.warning("sparkplug %s: %s: seq %d, expected %d: rebirth requested",
                        self.config.name, topic, payload.seq, expected)
            node.born = False  # nothing from this session is trusted until the rebirth
            return self._rebirth(node_id, node)
        node.seq = payload.seq
        if kind == "DBIRTH" and device is not None:
            node.devices.add(device)
            self._learn(node, payload)
            self._apply_all((node_id, device), node, payload, arrival)
        elif kind == "DDEATH" and device is not None:
            node.devices.discard(device)
            self._dead((node_id, device), arrival)
        else:
            self._apply_all((node_id, device), node, payload, arrival)
        return []

    def _node_birth(self, node_id: str, node: _Node, payload: Any, arrival: int) -> None:
        fresh = _Node(born=True, seq=payload.seq if payload.HasField("seq") else 0,
                      rebirth_requested_at=node.rebirth_requested_at)
        for metric in payload.metrics:
            if metric.name == BD_SEQ:
                value = metric_value(metric, metric.datatype)
                fresh.bd_seq = int(value) if isinstance(value, int | float) else None
        self.nodes[node_id] = fresh
        self.counters.births += 1
        self._learn(fresh, payload)
        log.info("sparkplug %s: NBIRTH %s (bdSeq %s)", self.config.name, node_id, fresh.bd_seq)
        self._apply_all((node_id, None), fresh, payload, arrival)

    def _node_death(self, node_id: str, node: _Node, payload: Any, arrival: int) -> None:
        bd_seq = None
        for metric in payload.metrics:
            if metric.name == BD_SEQ:
                value = metric_value(metric, metric.datatype)
                bd_seq = int(value) if isinstance(value, int | float) else None
        if not node.born or bd_seq != node.bd_seq:
            self.counters.stale_deaths += 1
            log.info("sparkplug %s: NDEATH %s with bdSeq %s ignored (session bdSeq %s)",
                     self.config.name, node_id, bd_seq, node.bd_seq)
            return
        node.born = False
        node.devices.clear()
        self.counters.deaths += 1
        log.info("sparkplug %s: NDEATH %s: its machines are unknown", self.config.name, node_id)
        for place in self.machines:
            if place[0] == node_id:
                self._dead(place, arrival)

    def _rebirth(self, node_id: str, node: _Node) -> list[str]:
        now = self._clock()
        if now - node.rebirth_requested_at < self.config.rebirth_holdoff_s:
            return []
        node.rebirth_requested_at = now
        self.counters.rebirth_requests += 1
        return [node_id]

    def malformed(self, topic: str, reason: str) -> None:
        self.counters.malformed += 1
        self.last_malformed = f"{topic}: {reason}"
        log.warning("sparkplug %s: malformed message on %s: %s", self.config.name, topic, reason)

    @staticmethod
    def _learn(node: _Node, payload: Any) -> None:
        """Names, aliases and datatypes from a birth."""
        for metric in payload.metrics:
            if not metric.name:
                continue
            if metric.HasField("alias"):
                node.aliases[metric.alias] = metric.name
            if metric.HasField("datatype"):
                node.datatypes[metric.name] = metric.datatype

    # -- values ---------------------------------------------------------------------

    def _apply_all(self, place: Place, node: _Node, payload: Any, arrival: int) -> None:
        machine = self.machines.get(place)
        if machine is None:
            return
        sent = payload.timestamp if payload.HasField("timestamp") else None
        for metric in payload.metrics:
            name: str | None = metric.name or None
            if name is None and metric.HasField("alias"):
                name = node.aliases.get(metric.alias)
            if not name:
                self.counters.unknown_aliases += 1
                continue
            if name == BD_SEQ or name.startswith(("Node Control/", "Properties/")):
                continue
            datatype = metric.datatype if metric.HasField("datatype") else node.datatypes.get(
                name)
            t = metric.timestamp if metric.HasField("timestamp") else (sent or arrival)
            if metric.is_historical:
                if t < self.buffer.horizon_ms:  # its batch is closed already
                    self.counters.historical_dropped += 1
                    continue
                self.counters.historical += 1
            self._apply(machine, name, metric_value(metric, datatype), self.buffer.stamp(t))

    def _apply(self, machine: _Machine, name: str, value: int | float | str | None,
               t_ms: int) -> None:
        mid = machine.config.id
        bindings = machine.bindings.get(name)
        if bindings is None:
            if self.config.keep_unmapped and not isinstance(value, str):
                deadband = machine.raw_deadbands.setdefault(name, Deadband(None))
                number = None if value is None else float(value)
                if deadband.admit(number):
                    self.buffer.add(AnalogReading(machine=mid, t_ms=t_ms,
                                                  signal=signal_name(name), value=number))
            return
        for b in bindings:
            if b.role == "signal" and b.signal is not None and b.deadband is not None:
                number = None if value is None or isinstance(value, str) else float(value)
                if number is not None and number != number:  # NaN: missing
                    number = None
                scaled = None if number is None else number * b.signal.scale + b.signal.offset
                if b.deadband.admit(scaled):
                    self.buffer.add(AnalogReading(machine=mid, t_ms=t_ms,
                                                  signal=b.signal.signal, value=scaled))
            elif b.role == "product":
                if isinstance(value, str):
                    machine.product = product_of(value, machine.product_map,
                                                 machine.config.default_product)
                elif value is not None:
                    machine.product = product_of(round(value), machine.product_map,
                                                 machine.config.default_product)
            elif value is None or isinstance(value, str) or value != value:
                if b.role == "state":
                    self._failure_state(machine, t_ms)
            elif b.role == "state" and machine.config.state is not None:
                self.buffer.add(StateReading(machine=mid, t_ms=t_ms, state=state_of(
                    round(value), machine.state_map, machine.config.state.unmapped)))
            elif b.role == "counter" and b.kind is not None:
                self.buffer.add(CounterReading(machine=mid, t_ms=t_ms, kind=b.kind,
                                               product=machine.product,
                                               raw=round(value) % b.modulus, modulus=b.modulus))
            elif b.role == "meter" and b.meter is not None:
                self.buffer.add(MeterReading(machine=mid, t_ms=t_ms, carrier=b.meter.carrier,
                                             unit=b.meter.unit, raw=round(value) % b.modulus,
                                             scale=b.meter.scale, modulus=b.modulus,
                                             period_ms=int(b.meter.period_s * 1000)))

    def _failure_state(self, machine: _Machine, t_ms: int) -> None:
        state = machine.config.state
        if state is not None and state.on_failure is not None:
            self.buffer.add(StateReading(machine=machine.config.id, t_ms=t_ms,
                                         state=state.on_failure))

    def _dead(self, place: Place, arrival: int) -> None:
        """A death: the machine's failure state, every analog signal missing."""
        machine = self.machines.get(place)
        if machine is None:
            return
        t_ms = self.buffer.stamp(arrival)
        self._failure_state(machine, t_ms)
        for signal in machine.config.signals:
            self._apply(machine, signal.metric, None, t_ms)

    def connection_lost(self) -> None:
        """The broker is gone: every machine unknown, every node to be born again."""
        arrival = now_ms()
        for place in self.machines:
            self._dead(place, arrival)
        for node in self.nodes.values():
            node.born = False
            node.devices.clear()
