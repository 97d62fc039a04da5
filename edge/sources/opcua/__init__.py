"""The OPC UA source: a subscription to the node ids of each machine's map.

One client per source subscribes (data change) to every configured node; each
notification becomes a reading stamped with the server's source timestamp when it
has one (else the time it arrived), buffered until `poll(until_ms)` hands it out. A
supervisor task reconnects with exponential backoff when the server goes away and
re-subscribes; the current values sent on subscription are the new baselines (the
batcher turns counters and meters into deltas with rollover). A bad value for an
analog signal, or losing the server, is a missing sample (None); failures are counted
in `errors`, never raised out of `poll`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

from plantstream.edge.readings import (
    AnalogReading,
    CounterKind,
    CounterReading,
    MeterReading,
    Reading,
    StateReading,
)
from plantstream.edge.sources.modbus._buffer import Deadband, ReadingBuffer
from plantstream.edge.sources.modbus._mapping import int_keyed, product_of, state_of
from plantstream.edge.sources.opcua.config import (
    CounterNode,
    Counters,
    MeterNode,
    OpcUaConfig,
    OpcUaMachine,
    ProductNode,
    SignalNode,
    StateNode,
)

__all__ = [
    "CounterNode",
    "Counters",
    "MeterNode",
    "OpcUaConfig",
    "OpcUaMachine",
    "OpcUaSource",
    "ProductNode",
    "SignalNode",
    "StateNode",
]

log = logging.getLogger(__name__)

Role = Literal["state", "product", "counter", "meter", "signal"]


@dataclass(slots=True)
class _Binding:
    """What a node means: one role for one machine."""

    machine: _Machine
    role: Role
    kind: CounterKind | None = None
    modulus: int = 0
    meter: MeterNode | None = None
    signal: SignalNode | None = None
    deadband: Deadband | None = None


class _Machine:
    def __init__(self, config: OpcUaMachine, *, period_ms: int) -> None:
        self.config = config
        self.period_ms = period_ms
        self.product = config.default_product
        self.state_map = int_keyed(config.state.map, "map") if config.state else {}
        self.product_map = int_keyed(config.product.map, "map") if config.product else {}

    def bindings(self) -> list[tuple[str, _Binding]]:
        cfg = self.config
        out: list[tuple[str, _Binding]] = []
        if cfg.state is not None:
            out.append((cfg.state.node, _Binding(self, "state")))
        if cfg.product is not None:
            out.append((cfg.product.node, _Binding(self, "product")))
        kinds: tuple[CounterKind, ...] = ("good", "scrap", "rework", "startup_rejects")
        for kind in kinds:
            counter: CounterNode | None = getattr(cfg.counters, kind)
            if counter is not None:
                out.append((counter.node, _Binding(self, "counter", kind=kind,
                                                   modulus=1 << counter.bits)))
        for meter in cfg.meters:
            modulus = meter.modulus if meter.modulus is not None else 1 << meter.bits
            out.append((meter.node, _Binding(self, "meter", modulus=modulus, meter=meter)))
        for signal in cfg.signals:
            out.append((signal.node, _Binding(self, "signal", signal=signal,
                                              deadband=Deadband(signal.deadband))))
        return out


def _epoch_ms(moment: dt.datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # asyncua 1.x: naive UTC
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


class OpcUaSource:
    """A `Source` subscribed to an OPC UA server; `errors` counts failures."""

    def __init__(self, *, config: OpcUaConfig, start_ms: int) -> None:
        self.config = config
        self.name = config.name
        self.errors = 0
        self.connected = asyncio.Event()  # set while subscribed
        self.connects = 0  # successful (re)connections
        self._buffer = ReadingBuffer(horizon_ms=start_ms)
        period_ms = int(config.publishing_interval_s * 1000)
        self._machines = [_Machine(m, period_ms=period_ms) for m in config.machines]
        self._by_text: dict[str, list[_Binding]] = {}
        for machine in self._machines:
            for node, binding in machine.bindings():
                self._by_text.setdefault(node, []).append(binding)
        self._by_node: dict[str, list[_Binding]] = {}  # keyed as asyncua writes node ids
        self._task: asyncio.Task[None] | None = None

    @property
    def node_texts(self) -> list[str]:
        """Every mapped node id, as configured."""
        return list(self._by_text)

    @property
    def pending(self) -> int:
        """Readings buffered and not yet handed out by `poll`."""
        return len(self._buffer)

    async def check(self) -> None:
        """Reach the server and look up every node; `ServiceError` if not."""
        from plantstream.edge.sources.opcua import _session  # asyncua: only when used

        await _session.check(self)

    async def __aenter__(self) -> Self:
        from plantstream.edge.sources.opcua import _session  # asyncua: only when used

        self._by_node = {_session.normalized(text): bindings
                         for text, bindings in self._by_text.items()}
        self._task = asyncio.create_task(_session.supervise(self), name=f"opcua-{self.name}")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def poll(self, until_ms: int) -> Sequence[Reading]:
        return self._buffer.take(until_ms)

    def connection_lost(self) -> None:
        """Until the next values: every machine in its failure state, every analog
        signal a missing sample."""
        t_ms = self._buffer.stamp()
        for bindings in self._by_text.values():
            for b in bindings:
                if b.role in ("state", "signal"):
                    self._apply(b, None, t_ms, "(connection lost)")

    # -- asyncua subscription handler ------------------------------------------------

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        key = node.nodeid.to_string()
        value: Any = None
        source_ms: int | None = None
        good = True
        with contextlib.suppress(AttributeError):
            data_value = data.monitored_item.Value
            source_ms = _epoch_ms(data_value.SourceTimestamp)
            good = data_value.StatusCode is None or data_value.StatusCode.is_good()
        value = val if good else None
        t_ms = self._buffer.stamp(source_ms)
        for binding in self._by_node.get(key, []):
            self._apply(binding, value, t_ms, key)

    def status_change_notification(self, status: Any) -> None:
        log.info("opcua %s: subscription status %s", self.name, status)

    def _apply(self, b: _Binding, value: Any, t_ms: int, key: str) -> None:
        machine = b.machine
        mid = machine.config.id
        if b.role == "signal" and b.signal is not None and b.deadband is not None:
            number = _number(value)
            scaled = None if number is None else number * b.signal.scale + b.signal.offset
            if b.deadband.admit(scaled):
                self._buffer.add(AnalogReading(machine=mid, t_ms=t_ms, signal=b.signal.signal,
                                               value=scaled))
            return
        if b.role == "product":
            if isinstance(value, str):
                machine.product = product_of(value, machine.product_map,
                                             machine.config.default_product)
            elif (number := _integer(value)) is not None:
                machine.product = product_of(number, machine.product_map,
                                             machine.config.default_product)
            return
        raw = _integer(value)
        state = machine.config.state
        if raw is None and b.role == "state" and state is not None:
            if state.on_failure is not None:
                self._buffer.add(StateReading(machine=mid, t_ms=t_ms, state=state.on_failure))
            return
        if raw is None:
            self.errors += 1
            log.debug("opcua %s: %s: no usable value %r", self.name, key, value)
            return
        if b.role == "state" and machine.config.state is not None:
            self._buffer.add(StateReading(machine=mid, t_ms=t_ms, state=state_of(
                raw, machine.state_map, machine.config.state.unmapped)))
        elif b.role == "counter" and b.kind is not None:
            self._buffer.add(CounterReading(machine=mid, t_ms=t_ms, kind=b.kind,
                                            product=machine.product, raw=raw % b.modulus,
                                            modulus=b.modulus))
        elif b.role == "meter" and b.meter is not None:
            self._buffer.add(MeterReading(machine=mid, t_ms=t_ms, carrier=b.meter.carrier,
                                          unit=b.meter.unit, raw=raw % b.modulus,
                                          scale=b.meter.scale, modulus=b.modulus,
                                          period_ms=machine.period_ms,
                                          max_rate_per_h=b.meter.max_rate_per_h,
                                          jitter=b.meter.jitter_counts))


def _number(value: Any) -> float | None:
    """A numeric node value as a float; NaN and non-numbers are missing (None)."""
    if isinstance(value, bool | int):
        return float(value)
    if isinstance(value, float) and value == value:  # not NaN
        return value
    return None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value:  # not NaN
        return round(value)
    return None
