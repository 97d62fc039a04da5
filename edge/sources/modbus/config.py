"""Modbus source configuration: devices and their register maps (no pymodbus here)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from plantstream.edge.readings import CounterKind
from plantstream.edge.sources.modbus._mapping import int_keyed
from plantstream.edge.sources.modbus._registers import WordOrder
from plantstream.wire import Id

__all__ = [
    "CounterRegister",
    "Counters",
    "MeterRegister",
    "ModbusConfig",
    "ModbusDevice",
    "ModbusMachine",
    "ProductRegister",
    "SignalRegister",
    "StateRegister",
    "Table",
]

Table = Literal["holding", "input"]
Address = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Words = Literal[1, 2]  # 16- or 32-bit
UNKNOWN_STATE = 30000


class StateRegister(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    address: Address
    table: Table = "holding"
    map: dict[str, Annotated[int, msgspec.Meta(ge=0)]] = {}  # raw value -> state code
    unmapped: Annotated[int, msgspec.Meta(ge=0)] = UNKNOWN_STATE
    # the state while the register cannot be read (None: keep the last state read)
    on_failure: Annotated[int, msgspec.Meta(ge=0)] | None = UNKNOWN_STATE

    def __post_init__(self) -> None:
        int_keyed(self.map, "map")


class ProductRegister(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    address: Address
    table: Table = "holding"
    map: dict[str, Id] = {}  # product number -> product id

    def __post_init__(self) -> None:
        int_keyed(self.map, "map")


class CounterRegister(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    address: Address
    table: Table = "holding"
    words: Words = 1
    word_order: WordOrder = "big"

    @property
    def modulus(self) -> int:
        return 1 << (16 * self.words)


class Counters(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    good: CounterRegister | None = None
    scrap: CounterRegister | None = None
    rework: CounterRegister | None = None
    startup_rejects: CounterRegister | None = None  # scrap made while running up

    def items(self) -> list[tuple[CounterKind, CounterRegister]]:
        kinds: tuple[CounterKind, ...] = ("good", "scrap", "rework", "startup_rejects")
        return [(kind, reg) for kind in kinds if (reg := getattr(self, kind)) is not None]


class MeterRegister(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    carrier: Id
    unit: Id
    address: Address
    table: Table = "holding"
    words: Words = 2
    word_order: WordOrder = "big"
    scale: Annotated[float, msgspec.Meta(gt=0)] = 1.0  # physical units per count
    modulus: Annotated[int, msgspec.Meta(ge=2)] | None = None  # default: 2**16 or 2**32
    # the register rule (docs/analytics.md "Registers"): the largest backward step that
    # is read-out noise, in counts; the meter's maximum rate in its unit per hour (kW
    # for kWh): a faster rise is an impossible jump, flagged and not counted
    jitter_counts: Annotated[int, msgspec.Meta(ge=0)] = 3
    max_rate_per_h: Annotated[float, msgspec.Meta(gt=0)] | None = None

    def __post_init__(self) -> None:
        if self.modulus is not None and self.modulus > 1 << (16 * self.words):
            raise ValueError(
                f"`modulus`: {self.modulus} is larger than a {16 * self.words}-bit register")

    @property
    def effective_modulus(self) -> int:
        return self.modulus if self.modulus is not None else 1 << (16 * self.words)


class SignalRegister(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    signal: Id
    address: Address
    table: Table = "holding"
    words: Words = 1
    word_order: WordOrder = "big"
    signed: bool = False
    scale: float = 1.0  # value = raw * scale + offset
    offset: float = 0.0
    deadband: Annotated[float, msgspec.Meta(ge=0)] | None = None


class ModbusMachine(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: Id
    default_product: Id
    state: StateRegister | None = None
    product: ProductRegister | None = None
    counters: Counters = Counters()
    meters: list[MeterRegister] = []
    signals: list[SignalRegister] = []


class ModbusDevice(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    host: str
    machines: list[ModbusMachine]
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 502
    device_id: Annotated[int, msgspec.Meta(ge=0, le=255)] = 1
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    poll_interval_s: Annotated[float, msgspec.Meta(ge=0.05, le=3600)] = 1.0
    # unmapped registers one request may read over between two mapped ones (0: only
    # adjacent registers share a request; raise it if the device allows such reads)
    max_gap: Annotated[int, msgspec.Meta(ge=0, le=120)] = 0


class ModbusConfig(msgspec.Struct, tag="modbus", tag_field="type",
                   forbid_unknown_fields=True, frozen=True):
    devices: list[ModbusDevice]
    name: Id = "modbus"

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for device in self.devices:
            for machine in device.machines:
                if machine.id in seen:
                    raise ValueError(
                        f"`id`: machine {machine.id!r} is mapped twice")
                seen.add(machine.id)
