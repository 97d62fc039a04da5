"""S7 addresses and data types: parsing "DB10.4" / "M20.3" / "I0" / "Q8", decoding bytes.

Pure functions, no python-snap7: the configuration validates addresses with them.
S7 stores numbers big-endian; INT and DINT are two's complement, REAL is IEEE 754.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Literal

__all__ = ["AREA_CODES", "SIZES", "Area", "Location", "S7Type", "decode", "parse_address",
           "unsigned"]

S7Type = Literal["BOOL", "BYTE", "INT", "DINT", "WORD", "DWORD", "REAL"]
Area = Literal["DB", "M", "I", "Q"]

SIZES: dict[S7Type, int] = {"BOOL": 1, "BYTE": 1, "INT": 2, "WORD": 2, "DINT": 4, "DWORD": 4,
                            "REAL": 4}
# S7 protocol area codes (process inputs, process outputs, merkers, data blocks)
AREA_CODES: dict[Area, int] = {"I": 0x81, "Q": 0x82, "M": 0x83, "DB": 0x84}

_ADDRESS = re.compile(r"^(?:DB(?P<db>\d{1,5})\.(?:DB[XBWD])?|(?P<area>[MIQ])[BWDX]?)"
                      r"(?P<byte>\d{1,5})(?:\.(?P<bit>[0-7]))?$")


@dataclass(frozen=True, slots=True)
class Location:
    """Where a value lives: area, DB number (0 outside data blocks), byte, bit, type."""

    area: Area
    db: int
    byte: int
    bit: int
    type: S7Type

    @property
    def size(self) -> int:
        return SIZES[self.type]

    @property
    def bits(self) -> int:
        return 1 if self.type == "BOOL" else 8 * self.size

    def __str__(self) -> str:
        where = f"DB{self.db}.{self.byte}" if self.area == "DB" else f"{self.area}{self.byte}"
        return f"{where}.{self.bit}" if self.type == "BOOL" else where


def parse_address(text: str, s7_type: S7Type) -> Location:
    """`DB10.4` (data block 10, byte 4), `DB10.DBW4` (Step 7 spelling), `M20`, `MW20`,
    `I0`, `Q8`; a BOOL needs a bit (`DB10.4.3`, `M20.1`), other types must not have one.
    ValueError naming the problem otherwise."""
    match = _ADDRESS.match(text.strip().upper())
    if match is None:
        raise ValueError(f"`address`: {text!r} is not an S7 address (DB10.4, DB10.4.3, M20, "
                         "I0.1, Q8)")
    bit = match["bit"]
    if s7_type == "BOOL" and bit is None:
        raise ValueError(f"`address`: {text!r}: a BOOL needs a bit number (for example .0)")
    if s7_type != "BOOL" and bit is not None:
        raise ValueError(f"`address`: {text!r}: only a BOOL has a bit number, not {s7_type}")
    byte = int(match["byte"])
    if byte > 65535:
        raise ValueError(f"`address`: {text!r}: byte offset above 65535")
    if match["db"] is not None:
        db = int(match["db"])
        if not 1 <= db <= 65535:
            raise ValueError(f"`address`: {text!r}: data block numbers are 1 to 65535")
        return Location("DB", db, byte, int(bit or 0), s7_type)
    area: Area = match["area"]  # type: ignore[assignment]
    return Location(area, 0, byte, int(bit or 0), s7_type)


def unsigned(data: bytes | bytearray, location: Location) -> int:
    """The raw bits of an integer type (BOOL 0/1) as an unsigned number."""
    if location.type == "BOOL":
        return (data[0] >> location.bit) & 1
    if location.type == "REAL":
        raise ValueError(f"{location}: a REAL is not an integer register")
    return int.from_bytes(data[:location.size], "big", signed=False)


def decode(data: bytes | bytearray, location: Location) -> float | int:
    """The value: BOOL 0/1, BYTE/WORD/DWORD unsigned, INT/DINT signed, REAL a float."""
    if location.type == "REAL":
        value: float = struct.unpack(">f", bytes(data[:4]))[0]
        return value
    if location.type in ("INT", "DINT"):
        return int.from_bytes(data[:location.size], "big", signed=True)
    return unsigned(data, location)
