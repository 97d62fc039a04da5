"""Modbus registers: decoding words into numbers, grouping registers into requests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["MAX_READ", "Block", "WordOrder", "decode_unsigned", "plan_blocks", "to_signed"]

WordOrder = Literal["big", "little"]


def decode_unsigned(words: Sequence[int], word_order: WordOrder) -> int:
    """The unsigned integer held by 16-bit `words`; "big": the first word is the most
    significant (high word first), "little": the first word is the least significant."""
    ordered = words if word_order == "big" else list(reversed(words))
    value = 0
    for word in ordered:
        value = (value << 16) | (word & 0xFFFF)
    return value


def to_signed(value: int, bits: int) -> int:
    """Two's complement reading of an unsigned `bits`-wide value."""
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


@dataclass(frozen=True, slots=True)
class Block:
    """One read request: `count` registers of `table` from `start`."""

    table: str
    start: int
    count: int


MAX_READ = 125  # registers per read request (the Modbus limit for function codes 3, 4)


def plan_blocks(spans: Iterable[tuple[str, int, int]], *, max_gap: int,
                max_count: int = MAX_READ) -> list[Block]:
    """Cover `(table, address, words)` spans with few read requests: spans of one table
    that overlap, touch or are at most `max_gap` registers apart share a request of at
    most `max_count` registers."""
    blocks: list[Block] = []
    for table, address, words in sorted(set(spans)):
        if blocks:
            last = blocks[-1]
            end = max(last.start + last.count, address + words)
            if (last.table == table and address <= last.start + last.count + max_gap
                    and end - last.start <= max_count):
                blocks[-1] = Block(table, last.start, end - last.start)
                continue
        blocks.append(Block(table, address, words))
    return blocks
