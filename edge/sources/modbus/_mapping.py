"""Mapping raw device values to state codes and product ids (Modbus and OPC UA)."""

from __future__ import annotations

from typing import TypeVar

V = TypeVar("V")

__all__ = ["int_keyed", "product_of", "state_of"]


def int_keyed(mapping: dict[str, V], where: str) -> dict[int, V]:
    """TOML table keys are strings: `{ "1" = 10000 }` -> `{1: 10000}`; a key that is not
    an integer is a validation error naming the field `where`."""
    out: dict[int, V] = {}
    for key, value in mapping.items():
        try:
            out[int(key)] = value
        except ValueError:
            raise ValueError(f"`{where}`: key {key!r} is not an integer") from None
    return out


def state_of(raw: int, mapping: dict[int, int], unmapped: int) -> int:
    """The state code for a raw state value: mapped, else `unmapped` when a map is
    configured, else the raw value itself (the device speaks state codes)."""
    if not mapping:
        return raw
    return mapping.get(raw, unmapped)


def product_of(raw: int | str, mapping: dict[int, str], default: str) -> str:
    """The product id for a raw product value: mapped; a string value as is; else the
    number as text (0 or an empty string: the default product)."""
    if isinstance(raw, str):
        return raw or default
    if raw in mapping:
        return mapping[raw]
    return str(raw) if raw else default
