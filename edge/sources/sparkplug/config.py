"""Sparkplug B source configuration: the plant broker, the group, each machine's metrics.

No MQTT or protobuf here. A machine is one Sparkplug edge node, or one device of an
edge node; its map names metrics with the Modbus source's vocabulary.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from plantstream.config import MqttConfig
from plantstream.edge.readings import CounterKind
from plantstream.edge.sources.modbus._mapping import int_keyed
from plantstream.wire import Id

__all__ = [
    "CounterMetric",
    "Counters",
    "MeterMetric",
    "ProductMetric",
    "SignalMetric",
    "SparkplugConfig",
    "SparkplugMachine",
    "StateMetric",
]

# a Sparkplug topic element: no "/", "+" or "#"
SparkplugId = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[^/+#]+$")]
MetricName = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Bits = Literal[16, 32, 64]
UNKNOWN_STATE = 30000


class StateMetric(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    metric: MetricName
    map: dict[str, Annotated[int, msgspec.Meta(ge=0)]] = {}  # raw value -> state code
    unmapped: Annotated[int, msgspec.Meta(ge=0)] = UNKNOWN_STATE
    # the state from a death (NDEATH/DDEATH), a null value or a lost broker on
    # (None: keep the last state)
    on_failure: Annotated[int, msgspec.Meta(ge=0)] | None = UNKNOWN_STATE

    def __post_init__(self) -> None:
        int_keyed(self.map, "map")


class ProductMetric(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    metric: MetricName
    map: dict[str, Id] = {}  # product number -> product id (a String metric is the id)

    def __post_init__(self) -> None:
        int_keyed(self.map, "map")


class CounterMetric(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    metric: MetricName
    bits: Bits = 32  # wraps at 2**bits


class Counters(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    good: CounterMetric | None = None
    scrap: CounterMetric | None = None
    rework: CounterMetric | None = None
    startup_rejects: CounterMetric | None = None  # scrap made while running up

    def items(self) -> list[tuple[CounterKind, CounterMetric]]:
        kinds: tuple[CounterKind, ...] = ("good", "scrap", "rework", "startup_rejects")
        return [(kind, c) for kind in kinds if (c := getattr(self, kind)) is not None]


class MeterMetric(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    carrier: Id
    unit: Id
    metric: MetricName
    scale: Annotated[float, msgspec.Meta(gt=0)] = 1.0  # physical units per count
    bits: Bits = 32
    modulus: Annotated[int, msgspec.Meta(ge=2)] | None = None  # default 2**bits
    # how often the edge node publishes the meter (for the batch's completeness figure)
    period_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 1.0

    @property
    def effective_modulus(self) -> int:
        return self.modulus if self.modulus is not None else 1 << self.bits


class SignalMetric(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    signal: Id
    metric: MetricName
    scale: float = 1.0  # value = raw * scale + offset
    offset: float = 0.0
    deadband: Annotated[float, msgspec.Meta(ge=0)] | None = None


class SparkplugMachine(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: Id
    default_product: Id
    edge_node: SparkplugId
    device: SparkplugId | None = None  # None: the edge node's own metrics
    state: StateMetric | None = None
    product: ProductMetric | None = None
    counters: Counters = Counters()
    meters: list[MeterMetric] = []
    signals: list[SignalMetric] = []


class SparkplugConfig(msgspec.Struct, tag="sparkplug", tag_field="type",
                      forbid_unknown_fields=True, frozen=True):
    group: SparkplugId  # subscribes to spBv1.0/<group>/#
    machines: list[SparkplugMachine]
    name: Id = "sparkplug"
    mqtt: MqttConfig = MqttConfig()  # the plant broker the edge nodes publish to
    # the Sparkplug 3.0 primary host id: STATE birth/death on spBv1.0/STATE/<host_id>
    # (None: this agent is not a primary host and publishes no STATE)
    host_id: SparkplugId | None = "plantstream"
    # numeric metrics of a mapped node or device that no map names become raw signals
    keep_unmapped: bool = True
    # at most one rebirth request per edge node in this time
    rebirth_holdoff_s: Annotated[float, msgspec.Meta(ge=0, le=600)] = 5.0
    reconnect_min_s: Annotated[float, msgspec.Meta(ge=0.01, le=60)] = 0.5
    # the agent closes its batches this long after their end, so that what an edge node
    # replays after an outage this short (`is_historical` metrics, store and forward)
    # lands in its own past batches; older values are counted (`historical_dropped`).
    # The price: batches leave the gateway this much later. 0: close at once.
    history_window_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 60.0
    reconnect_max_s: Annotated[float, msgspec.Meta(ge=0.01, le=600)] = 30.0

    def __post_init__(self) -> None:
        ids: set[str] = set()
        places: set[tuple[str, str | None]] = set()
        for machine in self.machines:
            if machine.id in ids:
                raise ValueError(f"`id`: machine {machine.id!r} is mapped twice")
            place = (machine.edge_node, machine.device)
            if place in places:
                raise ValueError(f"`device`: {machine.edge_node}/{machine.device} is mapped to"
                                 " two machines")
            ids.add(machine.id)
            places.add(place)
