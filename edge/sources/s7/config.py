"""S7 source configuration: PLCs and each machine's tag map (no python-snap7 here).

The vocabulary is the Modbus source's (state with a value map, product, counters,
meters, signals with scale and deadband); a tag is an S7 address plus a data type.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from plantstream.edge.readings import CounterKind
from plantstream.edge.sources.modbus._mapping import int_keyed
from plantstream.edge.sources.s7._address import Location, S7Type, parse_address
from plantstream.wire import Id

__all__ = [
    "CounterTag",
    "Counters",
    "MeterTag",
    "ProductTag",
    "S7Config",
    "S7Machine",
    "S7Plc",
    "SignalTag",
    "StateTag",
]

IntegerType = Literal["BOOL", "BYTE", "INT", "DINT", "WORD", "DWORD"]
RegisterType = Literal["BYTE", "INT", "DINT", "WORD", "DWORD"]  # counters, meters
Address = Annotated[str, msgspec.Meta(min_length=2, max_length=24)]
Tsap = Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)]
UNKNOWN_STATE = 30000


class _Tag(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    address: Address

    @property
    def location(self) -> Location:
        return parse_address(self.address, self._type())

    def _type(self) -> S7Type:
        return self.type  # type: ignore[attr-defined, no-any-return]  # each tag has one

    def __post_init__(self) -> None:
        parse_address(self.address, self._type())


class StateTag(_Tag, frozen=True):
    type: IntegerType = "INT"
    map: dict[str, Annotated[int, msgspec.Meta(ge=0)]] = {}  # raw value -> state code
    unmapped: Annotated[int, msgspec.Meta(ge=0)] = UNKNOWN_STATE
    # the state while the PLC cannot be read (None: keep the last state read)
    on_failure: Annotated[int, msgspec.Meta(ge=0)] | None = UNKNOWN_STATE

    def __post_init__(self) -> None:
        super().__post_init__()
        int_keyed(self.map, "map")


class ProductTag(_Tag, frozen=True):
    type: IntegerType = "INT"
    map: dict[str, Id] = {}  # product number -> product id

    def __post_init__(self) -> None:
        super().__post_init__()
        int_keyed(self.map, "map")


class CounterTag(_Tag, frozen=True):
    type: RegisterType = "DINT"  # wraps at 2**bits (a DINT counts on past 2**31 as unsigned)

    @property
    def modulus(self) -> int:
        return 1 << self.location.bits


class Counters(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    good: CounterTag | None = None
    scrap: CounterTag | None = None
    rework: CounterTag | None = None
    startup_rejects: CounterTag | None = None  # scrap made while running up

    def items(self) -> list[tuple[CounterKind, CounterTag]]:
        kinds: tuple[CounterKind, ...] = ("good", "scrap", "rework", "startup_rejects")
        return [(kind, tag) for kind in kinds if (tag := getattr(self, kind)) is not None]


class MeterTag(_Tag, frozen=True):
    carrier: Id
    unit: Id
    type: RegisterType = "DWORD"
    scale: Annotated[float, msgspec.Meta(gt=0)] = 1.0  # physical units per count
    modulus: Annotated[int, msgspec.Meta(ge=2)] | None = None  # default 2**bits

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.modulus is not None and self.modulus > 1 << self.location.bits:
            raise ValueError(
                f"`modulus`: {self.modulus} is larger than a {self.type} can hold")

    @property
    def effective_modulus(self) -> int:
        return self.modulus if self.modulus is not None else 1 << self.location.bits


class SignalTag(_Tag, frozen=True):
    signal: Id
    type: S7Type = "INT"
    scale: float = 1.0  # value = raw * scale + offset
    offset: float = 0.0
    deadband: Annotated[float, msgspec.Meta(ge=0)] | None = None


class S7Machine(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: Id
    default_product: Id
    state: StateTag | None = None
    product: ProductTag | None = None
    counters: Counters = Counters()
    meters: list[MeterTag] = []
    signals: list[SignalTag] = []


class S7Plc(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    host: str
    machines: list[S7Machine]
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 102
    rack: Annotated[int, msgspec.Meta(ge=0, le=7)] = 0
    slot: Annotated[int, msgspec.Meta(ge=0, le=31)] = 1  # S7-300: 2; S7-1200/1500: 1
    # TSAPs instead of rack/slot (LOGO!, S7-200 SMART, CPs): remote_tsap = 0x0301...
    remote_tsap: Tsap | None = None
    local_tsap: Tsap = 0x0100
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 2.0  # per request
    poll_interval_s: Annotated[float, msgspec.Meta(ge=0.05, le=3600)] = 1.0
    pdu_size: Annotated[int, msgspec.Meta(ge=240, le=960)] = 480  # asked for; PLC decides
    # unmapped bytes a read may span between two tags of one area (always readable in S7:
    # they lie between two bytes that exist)
    max_gap: Annotated[int, msgspec.Meta(ge=0, le=400)] = 32
    reconnect_min_s: Annotated[float, msgspec.Meta(ge=0.01, le=60)] = 0.5
    reconnect_max_s: Annotated[float, msgspec.Meta(ge=0.01, le=600)] = 30.0


class S7Config(msgspec.Struct, tag="s7", tag_field="type", forbid_unknown_fields=True,
               frozen=True):
    plcs: list[S7Plc]
    name: Id = "s7"

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for plc in self.plcs:
            for machine in plc.machines:
                if machine.id in seen:
                    raise ValueError(f"`id`: machine {machine.id!r} is mapped twice")
                seen.add(machine.id)
