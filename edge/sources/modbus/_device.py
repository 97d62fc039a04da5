"""One Modbus TCP device: its pymodbus client, its machines' register maps, its polling loop."""

from __future__ import annotations

import asyncio
import logging
import time

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from plantstream.edge.readings import (
    AnalogReading,
    CounterReading,
    MeterReading,
    StateReading,
)
from plantstream.edge.sources.modbus._buffer import (
    Deadband,
    ReadingBuffer,
    raise_if_cancelled,
)
from plantstream.edge.sources.modbus._mapping import int_keyed, product_of, state_of
from plantstream.edge.sources.modbus._registers import (
    WordOrder,
    decode_unsigned,
    plan_blocks,
    to_signed,
)
from plantstream.edge.sources.modbus.config import (
    ModbusDevice,
    ModbusMachine,
)

__all__ = ["Device"]

log = logging.getLogger(__name__)


class _DeviceDown(Exception):
    """The connection to a device failed: skip the rest of this cycle."""


class _RequestRefused(Exception):
    """The device answered a request with an error (bad address, busy...)."""


class _Machine:
    """One machine's register map with its decoding state (deadbands, maps)."""

    def __init__(self, config: ModbusMachine, *, period_ms: int, max_gap: int) -> None:
        self.config = config
        self.period_ms = period_ms
        self.state_map = int_keyed(config.state.map, "map") if config.state else {}
        self.product_map = int_keyed(config.product.map, "map") if config.product else {}
        self.deadbands = [Deadband(s.deadband) for s in config.signals]
        spans: list[tuple[str, int, int]] = [(r.table, r.address, 1)
                                             for r in (config.state, config.product) if r]
        spans += [(r.table, r.address, r.words) for _, r in config.counters.items()]
        spans += [(r.table, r.address, r.words) for r in config.meters]
        spans += [(r.table, r.address, r.words) for r in config.signals]
        self.blocks = plan_blocks(spans, max_gap=max_gap)


class Device:
    """One TCP endpoint: its client, its machines, its polling loop."""

    def __init__(self, config: ModbusDevice, *, buffer: ReadingBuffer) -> None:
        self.config = config
        self.buffer = buffer
        self.errors = 0
        self.last_error = ""
        self.label = f"{config.host}:{config.port}/{config.device_id}"
        self.machines = [_Machine(m, period_ms=int(config.poll_interval_s * 1000),
                                  max_gap=config.max_gap) for m in config.machines]
        self._client: AsyncModbusTcpClient | None = None  # made in `run` (needs a loop)
        self.failing = False

    @property
    def client(self) -> AsyncModbusTcpClient:
        if self._client is None:
            raise RuntimeError(f"modbus {self.label}: not running")
        return self._client

    def _error(self, what: str, exc: BaseException | str) -> None:
        self.errors += 1
        self.last_error = f"{what}: {exc}"
        if not self.failing:
            log.warning("modbus %s: %s failed: %s", self.label, what, exc)
        else:
            log.debug("modbus %s: %s failed: %s", self.label, what, exc)
        self.failing = True

    def open(self) -> None:
        self._client = AsyncModbusTcpClient(self.config.host, port=self.config.port,
                                            timeout=self.config.timeout_s, retries=0,
                                            reconnect_delay=0)  # we reconnect ourselves

    async def run(self) -> None:
        period = self.config.poll_interval_s
        self.open()
        next_at = time.monotonic()
        try:
            while True:
                try:
                    await self.cycle()
                except Exception:  # a bug in a cycle must not stop the polling
                    self.errors += 1
                    log.exception("modbus %s: polling cycle failed", self.label)
                raise_if_cancelled()
                next_at += period
                delay = next_at - time.monotonic()
                if delay < 0:  # a slow cycle: skip the missed ticks, keep the phase
                    next_at += period * (int(-delay / period) + 1)
                    delay = next_at - time.monotonic()
                await asyncio.sleep(delay)
        finally:
            self.client.close()

    async def cycle(self) -> None:
        """Read every machine of this device once."""
        ok = True
        done = 0
        try:
            if not self.client.connected:
                connected = await asyncio.wait_for(self.client.connect(),
                                                   timeout=self.config.timeout_s * 2)
                if not connected:
                    raise _DeviceDown("connection refused or timed out")
            for machine in self.machines:
                ok = await self._read_machine(machine) and ok
                done += 1
        except (_DeviceDown, ModbusException, OSError, TimeoutError) as exc:
            ok = False
            self.client.close()
            self._error("connection", exc)
            t_ms = self.buffer.stamp()
            for machine in self.machines[done:]:  # the machines not read in this cycle
                self._unreadable(machine, t_ms)
        if ok and self.failing:
            log.info("modbus %s: reading again", self.label)
            self.failing = False

    async def _read(self, table: str, address: int, words: int) -> list[int]:
        """One request: `_DeviceDown` if the connection failed, `_RequestRefused` if the
        device answered with an exception response."""
        call = (self.client.read_holding_registers if table == "holding"
                else self.client.read_input_registers)
        try:
            response = await call(address, count=words, device_id=self.config.device_id)
            raise_if_cancelled()
        except (ConnectionError, OSError, TimeoutError) as exc:
            raise _DeviceDown(str(exc)) from exc
        except ModbusException as exc:
            raise _DeviceDown(str(exc)) from exc
        if response.isError():
            raise _RequestRefused(f"{table} register {address}: {response}")
        registers = list(response.registers)
        if len(registers) < words:
            raise _RequestRefused(f"{table} register {address}: short response")
        return registers[:words]

    async def _read_machine(self, machine: _Machine) -> bool:
        """Read one machine (one request per block of registers); returns False if a
        request was refused (a connection failure raises `_DeviceDown` to the cycle)."""
        cfg = machine.config
        ok = True
        image: dict[tuple[str, int], int] = {}  # (table, address) -> register
        for block in machine.blocks:
            try:
                words = await self._read(block.table, block.start, block.count)
            except _RequestRefused as exc:
                ok = False
                self._error(f"machine {cfg.id}", exc)
                continue
            image.update(((block.table, block.start + i), w) for i, w in enumerate(words))

        def value(table: str, address: int, words: int, order: WordOrder) -> int | None:
            try:
                return decode_unsigned([image[(table, address + i)] for i in range(words)],
                                       order)
            except KeyError:  # its request was refused
                return None

        state_raw = value(cfg.state.table, cfg.state.address, 1, "big") if cfg.state else None
        product_raw = (value(cfg.product.table, cfg.product.address, 1, "big")
                       if cfg.product else None)
        counter_raw = [(kind, reg, value(reg.table, reg.address, reg.words, reg.word_order))
                       for kind, reg in cfg.counters.items()]
        meter_raw = [(reg, value(reg.table, reg.address, reg.words, reg.word_order))
                     for reg in cfg.meters]
        complete = ((state_raw is not None or cfg.state is None)
                    and (product_raw is not None or cfg.product is None)
                    and all(raw is not None for _, _, raw in counter_raw)
                    and all(raw is not None for _, raw in meter_raw))
        values: list[float | None] = []
        for signal in cfg.signals:
            raw = value(signal.table, signal.address, signal.words, signal.word_order)
            if raw is None:
                values.append(None)
                continue
            number = to_signed(raw, 16 * signal.words) if signal.signed else raw
            values.append(number * signal.scale + signal.offset)
        # stamp and buffer in one step (no await): nothing lands behind a returned horizon
        t_ms = self.buffer.stamp()
        if not complete:  # state, counters and meters: all or nothing
            self._unreadable(machine, t_ms, values)
            return ok
        product = (product_of(product_raw, machine.product_map, cfg.default_product)
                   if product_raw is not None else cfg.default_product)
        if state_raw is not None and cfg.state is not None:
            self.buffer.add(StateReading(machine=cfg.id, t_ms=t_ms, state=state_of(
                state_raw, machine.state_map, cfg.state.unmapped)))
        for kind, reg, raw in counter_raw:
            if raw is not None:
                self.buffer.add(CounterReading(machine=cfg.id, t_ms=t_ms, kind=kind,
                                               product=product, raw=raw, modulus=reg.modulus))
        for meter, raw in meter_raw:
            if raw is not None:
                modulus = meter.effective_modulus
                self.buffer.add(MeterReading(machine=cfg.id, t_ms=t_ms, carrier=meter.carrier,
                                             unit=meter.unit, raw=raw % modulus,
                                             scale=meter.scale, modulus=modulus,
                                             period_ms=machine.period_ms,
                                             max_rate_per_h=meter.max_rate_per_h,
                                             jitter=meter.jitter_counts))
        self._add_signals(machine, t_ms, values)
        return ok

    def _add_signals(self, machine: _Machine, t_ms: int, values: list[float | None]) -> None:
        for signal, deadband, value in zip(machine.config.signals, machine.deadbands, values,
                                           strict=True):
            if deadband.admit(value):
                self.buffer.add(AnalogReading(machine=machine.config.id, t_ms=t_ms,
                                              signal=signal.signal, value=value))

    def _unreadable(self, machine: _Machine, t_ms: int,
                    values: list[float | None] | None = None) -> None:
        """The machine could not be read: its failure state, the signal values read
        (default: all missing)."""
        state = machine.config.state
        if state is not None and state.on_failure is not None:
            self.buffer.add(StateReading(machine=machine.config.id, t_ms=t_ms,
                                         state=state.on_failure))
        self._add_signals(machine, t_ms,
                          values if values is not None else [None] * len(machine.config.signals))
