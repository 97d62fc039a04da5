"""OPC UA source configuration: the server and each machine's node map (no asyncua here)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from plantstream.edge.sources.modbus._mapping import int_keyed
from plantstream.wire import Id

__all__ = [
    "CounterNode",
    "Counters",
    "MeterNode",
    "OpcUaConfig",
    "OpcUaMachine",
    "ProductNode",
    "SignalNode",
    "StateNode",
]

# an OPC UA node id as text: "ns=2;s=Mill01.State", "ns=2;i=1042", "i=2258", "nsu=urn:x;s=a"
NodeIdText = Annotated[str, msgspec.Meta(pattern=(
    r"^(?:(?:ns=\d+|nsu=[^;]+);)?"
    r"(?:i=\d+|s=.+|g=[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}|b=[A-Za-z0-9+/=]+)$"))]
Bits = Literal[16, 32, 64]
UNKNOWN_STATE = 30000


class StateNode(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    node: NodeIdText
    map: dict[str, Annotated[int, msgspec.Meta(ge=0)]] = {}  # raw value -> state code
    unmapped: Annotated[int, msgspec.Meta(ge=0)] = UNKNOWN_STATE
    # the state while the node is bad or the server is lost (None: keep the last state)
    on_failure: Annotated[int, msgspec.Meta(ge=0)] | None = UNKNOWN_STATE

    def __post_init__(self) -> None:
        int_keyed(self.map, "map")


class ProductNode(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    node: NodeIdText
    map: dict[str, Id] = {}  # product number -> product id (a string value is the id)

    def __post_init__(self) -> None:
        int_keyed(self.map, "map")


class CounterNode(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    node: NodeIdText
    bits: Bits = 32  # the counter wraps at 2**bits


class Counters(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    good: CounterNode | None = None
    scrap: CounterNode | None = None
    rework: CounterNode | None = None
    startup_rejects: CounterNode | None = None  # scrap made while running up


class MeterNode(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    carrier: Id
    unit: Id
    node: NodeIdText
    scale: Annotated[float, msgspec.Meta(gt=0)] = 1.0  # physical units per count
    bits: Bits = 32
    modulus: Annotated[int, msgspec.Meta(ge=2)] | None = None  # default 2**bits
    # the register rule (docs/analytics.md "Registers"): the largest backward step that
    # is read-out noise, in counts; the meter's maximum rate in its unit per hour (kW
    # for kWh): a faster rise is an impossible jump, flagged and not counted
    jitter_counts: Annotated[int, msgspec.Meta(ge=0)] = 3
    max_rate_per_h: Annotated[float, msgspec.Meta(gt=0)] | None = None


class SignalNode(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    signal: Id
    node: NodeIdText
    scale: float = 1.0  # value = raw * scale + offset
    offset: float = 0.0
    deadband: Annotated[float, msgspec.Meta(ge=0)] | None = None


class OpcUaMachine(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: Id
    default_product: Id
    state: StateNode | None = None
    product: ProductNode | None = None
    counters: Counters = Counters()
    meters: list[MeterNode] = []
    signals: list[SignalNode] = []


class OpcUaConfig(msgspec.Struct, tag="opcua", tag_field="type",
                  forbid_unknown_fields=True, frozen=True):
    url: Annotated[str, msgspec.Meta(pattern=r"^opc\.tcp://")]
    machines: list[OpcUaMachine]
    name: Id = "opcua"
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 4.0
    publishing_interval_s: Annotated[float, msgspec.Meta(ge=0.01, le=60)] = 0.5
    watchdog_s: Annotated[float, msgspec.Meta(ge=0.1, le=60)] = 1.0  # connection check
    reconnect_min_s: Annotated[float, msgspec.Meta(ge=0.01, le=60)] = 0.5
    reconnect_max_s: Annotated[float, msgspec.Meta(ge=0.01, le=600)] = 30.0

    def __post_init__(self) -> None:
        ids = [m.id for m in self.machines]
        if len(set(ids)) != len(ids):
            raise ValueError("`id`: a machine is mapped twice")
