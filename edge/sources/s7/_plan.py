"""Grouping tags into S7 read requests: few blocks, packed into as few PDUs as fit.

A block is one address item of a multi-variable read ("read n bytes of DB10 from byte
4"); a request carries up to `MAX_ITEMS` items as long as the request and its reply
fit the PDU size negotiated with the PLC (the reply is what runs out first).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from plantstream.edge.sources.s7._address import AREA_CODES, Location

__all__ = ["MAX_ITEMS", "Block", "pack", "plan_blocks", "slice_of"]

MAX_ITEMS = 20  # address items per read request (what S7 CPUs accept)
HEADER = 14  # S7 header (12) + function code and item count (2), request and reply
ITEM_SPEC = 12  # one address item in a request
ITEM_HEADER = 4  # return code, transport size, length: before each item's data in a reply


@dataclass(frozen=True, slots=True)
class Block:
    area: int  # S7 area code (0x84 data block, 0x83 merkers, 0x81 inputs, 0x82 outputs)
    db: int
    start: int
    size: int

    def holds(self, location: Location) -> bool:
        return (AREA_CODES[location.area], location.db) == (self.area, self.db) and (
            self.start <= location.byte and location.byte + location.size <= self.start
            + self.size)


def max_block(pdu_size: int) -> int:
    """The largest block one reply can carry."""
    return pdu_size - HEADER - ITEM_HEADER


def plan_blocks(locations: Iterable[Location], *, max_gap: int, pdu_size: int) -> list[Block]:
    """Cover every location with few blocks: locations of one area (and data block) at
    most `max_gap` unmapped bytes apart share a block no larger than a reply carries."""
    limit = max_block(pdu_size)
    spans = sorted({(AREA_CODES[loc.area], loc.db, loc.byte, loc.size) for loc in locations})
    blocks: list[Block] = []
    for area, db, start, size in spans:
        if blocks:
            last = blocks[-1]
            end = max(last.start + last.size, start + size)
            if ((last.area, last.db) == (area, db) and start <= last.start + last.size + max_gap
                    and end - last.start <= limit):
                blocks[-1] = Block(area, db, last.start, end - last.start)
                continue
        blocks.append(Block(area, db, start, size))
    return blocks


def pack(blocks: Sequence[Block], *, pdu_size: int) -> list[list[Block]]:
    """Blocks grouped into read requests whose request and reply fit `pdu_size`."""
    requests: list[list[Block]] = []
    request_used = reply_used = HEADER
    for block in blocks:
        reply_cost = ITEM_HEADER + block.size + block.size % 2  # items are padded to even
        if (not requests or len(requests[-1]) == MAX_ITEMS
                or request_used + ITEM_SPEC > pdu_size or reply_used + reply_cost > pdu_size):
            requests.append([])
            request_used = reply_used = HEADER
        requests[-1].append(block)
        request_used += ITEM_SPEC
        reply_used += reply_cost
    return requests


def slice_of(data: dict[Block, bytes], blocks: Sequence[Block],
             location: Location) -> bytes | None:
    """The bytes of `location` from the blocks read (None: its block could not be read)."""
    for block in blocks:
        if block.holds(location):
            payload = data.get(block)
            if payload is None:
                return None
            offset = location.byte - block.start
            return payload[offset:offset + location.size]
    raise KeyError(f"{location} is in no planned block")
