"""One S7 PLC: its python-snap7 client, its machines' tags, its polling loop.

Imported when an S7 source starts, never by loading a configuration. Reads use
python-snap7's AsyncClient for the connection (ISO-on-TCP, COTP, PDU negotiation) and
its protocol encoder for multi-variable read requests (`build_multi_read_request`);
the per-item return codes of the reply are decoded here, so an item the PLC refuses
fails only the tags inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Callable, Sequence

from snap7 import AsyncClient
from snap7.error import S7Error

from plantstream.edge.readings import AnalogReading, CounterReading, MeterReading, StateReading
from plantstream.edge.sources.modbus._buffer import Deadband, ReadingBuffer, raise_if_cancelled
from plantstream.edge.sources.modbus._mapping import int_keyed, product_of, state_of
from plantstream.edge.sources.s7._address import Location, decode, unsigned
from plantstream.edge.sources.s7._plan import Block, pack, plan_blocks, slice_of
from plantstream.edge.sources.s7.config import S7Machine, S7Plc

__all__ = ["Plc"]

log = logging.getLogger(__name__)

_BYTE_LENGTH_SIZES = (0x00, 0x03, 0x06, 0x07, 0x09)  # transport sizes counted in bytes


class _Machine:
    """One machine's tags with its decoding state (maps, deadbands)."""

    def __init__(self, config: S7Machine, *, period_ms: int) -> None:
        self.config = config
        self.period_ms = period_ms
        self.state_map = int_keyed(config.state.map, "map") if config.state else {}
        self.product_map = int_keyed(config.product.map, "map") if config.product else {}
        self.deadbands = [Deadband(s.deadband) for s in config.signals]

    def locations(self) -> list[Location]:
        cfg = self.config
        tags = [t for t in (cfg.state, cfg.product) if t is not None]
        return ([t.location for t in tags] + [t.location for _, t in cfg.counters.items()]
                + [m.location for m in cfg.meters] + [s.location for s in cfg.signals])


def parse_items(raw: bytes, count: int) -> list[bytes | None]:
    """The data of each item of a read reply; None for an item the PLC refused."""
    items: list[bytes | None] = []
    offset = 0
    for i in range(count):
        if offset + 4 > len(raw):
            raise S7Error(f"read reply truncated at item {i}")
        code, transport, length = struct.unpack(">BBH", raw[offset:offset + 4])
        offset += 4
        size = length if transport in _BYTE_LENGTH_SIZES else length // 8
        if code != 0xFF:
            items.append(None)
            size = 0  # a refused item carries no data
        else:
            if offset + size > len(raw):
                raise S7Error(f"read reply truncated in item {i}")
            items.append(bytes(raw[offset:offset + size]))
        offset += size + (size % 2 if i < count - 1 else 0)  # items are padded to even
    return items


class Plc:
    """One PLC: connect (with backoff), read every tag each poll, decode into readings."""

    def __init__(self, config: S7Plc, *, buffer: ReadingBuffer,
                 clock: Callable[[], int] | None = None) -> None:
        self.config = config
        self.buffer = buffer
        self.clock = clock  # epoch ms a poll is stamped with (default: the wall clock)
        self.errors = 0
        self.connects = 0
        self.requests = 0  # read requests sent (each one PDU exchange)
        self.last_error = ""
        self.failing = False
        self.label = f"{config.host}:{config.port}"
        period_ms = int(config.poll_interval_s * 1000)
        self.machines = [_Machine(m, period_ms=period_ms) for m in config.machines]
        self.client: AsyncClient | None = None
        self.blocks: list[Block] = []
        self.requests_plan: list[list[Block]] = []

    def record_error(self, what: str, exc: BaseException | str) -> None:
        self.errors += 1
        self.last_error = f"{what}: {exc}"
        level = logging.DEBUG if self.failing else logging.WARNING
        log.log(level, "s7 %s: %s failed: %s", self.label, what, exc)
        self.failing = True

    async def connect(self) -> None:
        cfg = self.config
        client = AsyncClient()
        client.pdu_length = cfg.pdu_size
        client.local_tsap = cfg.local_tsap
        if cfg.remote_tsap is not None:  # the client derives the TSAP from these three
            client.connection_type = cfg.remote_tsap >> 8
            rack, slot = (cfg.remote_tsap >> 5) & 0x7, cfg.remote_tsap & 0x1F
        else:
            rack, slot = cfg.rack, cfg.slot
        try:
            await asyncio.wait_for(client.connect(cfg.host, rack, slot, cfg.port),
                                   timeout=cfg.timeout_s * 2)
        except BaseException:
            with contextlib.suppress(Exception):
                await client.disconnect()
            raise
        self.client = client
        self.connects += 1
        pdu = client.get_pdu_length()
        locations = [loc for m in self.machines for loc in m.locations()]
        self.blocks = plan_blocks(locations, max_gap=cfg.max_gap, pdu_size=pdu)
        self.requests_plan = pack(self.blocks, pdu_size=pdu)
        log.info("s7 %s: connected, PDU %d bytes, %d tags in %d blocks, %d request(s) a poll",
                 self.label, pdu, len(locations), len(self.blocks), len(self.requests_plan))

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), timeout=self.config.timeout_s)

    async def read_all(self) -> dict[Block, bytes]:
        """Every planned block (a refused one is left out); S7Error, OSError or
        TimeoutError when the connection failed."""
        client = self.client
        if client is None:
            raise S7Error("not connected")
        data: dict[Block, bytes] = {}
        for request_blocks in self.requests_plan:
            request = client.protocol.build_multi_read_request(
                [(b.area, b.db, b.start, b.size) for b in request_blocks])
            # the library's own request/response exchange (lock, sequence check)
            response = await asyncio.wait_for(client._send_receive(request),
                                               timeout=self.config.timeout_s)
            self.requests += 1
            items = parse_items(response.get("raw_data", b""), len(request_blocks))
            for block, item in zip(request_blocks, items, strict=True):
                if item is None or len(item) < block.size:
                    self.record_error("read", f"PLC refused {block}")
                else:
                    data[block] = item
        return data

    async def run(self) -> None:
        """Poll forever: reconnect with exponential backoff while the PLC is away."""
        cfg = self.config
        delay = cfg.reconnect_min_s
        next_at = time.monotonic()
        try:
            while True:
                if self.client is None:
                    try:
                        await self.connect()
                        delay = cfg.reconnect_min_s
                        next_at = time.monotonic()
                    except (S7Error, OSError, TimeoutError) as exc:
                        self.record_error("connection", exc)
                        self.unreadable_all()
                        raise_if_cancelled()
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, cfg.reconnect_max_s)
                        continue
                try:
                    await self.cycle()
                except (S7Error, OSError, TimeoutError) as exc:
                    self.record_error("read", exc)
                    self.unreadable_all()
                    await self.close()
                    continue  # reconnect at once, then back off
                except Exception:  # a bug in a cycle must not stop the polling
                    self.errors += 1
                    log.exception("s7 %s: polling cycle failed", self.label)
                raise_if_cancelled()
                next_at += cfg.poll_interval_s
                wait = next_at - time.monotonic()
                if wait < 0:  # a slow cycle: skip the missed ticks, keep the phase
                    next_at += cfg.poll_interval_s * (int(-wait / cfg.poll_interval_s) + 1)
                    wait = next_at - time.monotonic()
                await asyncio.sleep(wait)
        finally:
            await self.close()

    async def cycle(self) -> None:
        """Read every tag once and turn it into readings."""
        errors_before = self.errors
        data = await self.read_all()
        t_ms = self.buffer.stamp(self.clock() if self.clock is not None else None)
        for machine in self.machines:
            self._decode(machine, data, t_ms)
        if self.failing and self.errors == errors_before:
            log.info("s7 %s: reading again", self.label)
            self.failing = False

    def _value(self, data: dict[Block, bytes], location: Location) -> bytes | None:
        return slice_of(data, self.blocks, location)

    def _decode(self, machine: _Machine, data: dict[Block, bytes], t_ms: int) -> None:
        cfg = machine.config
        signals = [self._signal(data, s.location, s.scale, s.offset) for s in cfg.signals]
        registers: dict[str, bytes | None] = {}
        if cfg.state is not None:
            registers["state"] = self._value(data, cfg.state.location)
        if cfg.product is not None:
            registers["product"] = self._value(data, cfg.product.location)
        for kind, tag in cfg.counters.items():
            registers[kind] = self._value(data, tag.location)
        for i, meter in enumerate(cfg.meters):
            registers[f"meter{i}"] = self._value(data, meter.location)
        if any(raw is None for raw in registers.values()):  # all or nothing, like Modbus
            self._unreadable(machine, t_ms, signals)
            return
        if cfg.state is not None:
            raw_state = decode(registers["state"] or b"", cfg.state.location)
            self.buffer.add(StateReading(machine=cfg.id, t_ms=t_ms, state=state_of(
                int(raw_state), machine.state_map, cfg.state.unmapped)))
        product = cfg.default_product
        if cfg.product is not None:
            product = product_of(int(decode(registers["product"] or b"", cfg.product.location)),
                                 machine.product_map, cfg.default_product)
        for kind, tag in cfg.counters.items():
            self.buffer.add(CounterReading(
                machine=cfg.id, t_ms=t_ms, kind=kind, product=product,
                raw=unsigned(registers[kind] or b"", tag.location), modulus=tag.modulus))
        for i, meter in enumerate(cfg.meters):
            modulus = meter.effective_modulus
            raw = unsigned(registers[f"meter{i}"] or b"", meter.location)
            self.buffer.add(MeterReading(machine=cfg.id, t_ms=t_ms, carrier=meter.carrier,
                                         unit=meter.unit, raw=raw % modulus, scale=meter.scale,
                                         modulus=modulus, period_ms=machine.period_ms))
        self._add_signals(machine, t_ms, signals)

    def _signal(self, data: dict[Block, bytes], location: Location, scale: float,
                offset: float) -> float | None:
        raw = self._value(data, location)
        if raw is None:
            return None
        value = float(decode(raw, location))
        if value != value or value in (float("inf"), float("-inf")):  # NaN, inf: missing
            return None
        return value * scale + offset

    def _add_signals(self, machine: _Machine, t_ms: int, values: Sequence[float | None]) -> None:
        for signal, deadband, value in zip(machine.config.signals, machine.deadbands, values,
                                           strict=True):
            if deadband.admit(value):
                self.buffer.add(AnalogReading(machine=machine.config.id, t_ms=t_ms,
                                              signal=signal.signal, value=value))

    def _unreadable(self, machine: _Machine, t_ms: int,
                    signals: Sequence[float | None] | None = None) -> None:
        """Its failure state and the signal values read (default: all missing)."""
        state = machine.config.state
        if state is not None and state.on_failure is not None:
            self.buffer.add(StateReading(machine=machine.config.id, t_ms=t_ms,
                                         state=state.on_failure))
        self._add_signals(machine, t_ms, signals if signals is not None
                          else [None] * len(machine.config.signals))

    def unreadable_all(self) -> None:
        t_ms = self.buffer.stamp()
        for machine in self.machines:
            self._unreadable(machine, t_ms)
