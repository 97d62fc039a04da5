"""The Modbus TCP source: a register map per machine, polled on the source's own schedule.

Each device (one TCP endpoint and device id) is polled by its own task every
`poll_interval_s`; readings are buffered with the time they were read and handed to
the agent by `poll(until_ms)`. A device that times out or refuses is reconnected on
the next cycle; every failed request or connection attempt is counted in `errors`
and logged, never raised out of `poll`; a machine that could not be read is in its
`state.on_failure` state (default 30000, unknown) and an analog signal that could not
be read is a missing sample (value None). Counters and meters are passed on as raw registers with
their modulus (rollover is the batcher's job); a deadband applies to analog signals only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self

from plantstream.edge.readings import Reading
from plantstream.edge.sources.modbus._buffer import ReadingBuffer
from plantstream.edge.sources.modbus.config import (
    CounterRegister,
    Counters,
    MeterRegister,
    ModbusConfig,
    ModbusDevice,
    ModbusMachine,
    ProductRegister,
    SignalRegister,
    StateRegister,
)
from plantstream.errors import ServiceError

if TYPE_CHECKING:
    from plantstream.edge.sources.modbus._device import Device

__all__ = [
    "CounterRegister",
    "Counters",
    "MeterRegister",
    "ModbusConfig",
    "ModbusDevice",
    "ModbusMachine",
    "ModbusSource",
    "ProductRegister",
    "SignalRegister",
    "StateRegister",
]

def _device_class() -> type[Device]:
    # pymodbus is imported when a Modbus source starts, not when the agent's
    # configuration is loaded: gateways without Modbus devices do not pay for it
    from plantstream.edge.sources.modbus._device import Device

    return Device


class ModbusSource:
    """A `Source` reading Modbus TCP devices; `errors` counts failed requests."""

    def __init__(self, *, config: ModbusConfig, start_ms: int) -> None:
        self.config = config
        self.name = config.name
        self._buffer = ReadingBuffer(horizon_ms=start_ms)
        self._devices: list[Device] = []  # while entered
        self._past_errors = 0
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def errors(self) -> int:
        """Failed connections and requests so far, all devices."""
        return self._past_errors + sum(device.errors for device in self._devices)

    @property
    def pending(self) -> int:
        """Readings buffered and not yet handed out by `poll`."""
        return len(self._buffer)

    async def check(self) -> None:
        """Connect to every device and read its whole map once, apart from the running
        source; raise `ServiceError` naming each device that failed."""
        device_class = _device_class()
        problems = []
        for config in self.config.devices:
            device = device_class(config, buffer=ReadingBuffer(horizon_ms=0))
            device.open()
            try:
                await device.cycle()
            finally:
                device.client.close()
            if device.errors:
                problems.append(f"{device.label}: {device.last_error}")
        if problems:
            raise ServiceError(service=f"modbus source {self.name}", reason="; ".join(problems))

    async def __aenter__(self) -> Self:
        device_class = _device_class()
        self._devices = [device_class(d, buffer=self._buffer) for d in self.config.devices]
        self._tasks = [asyncio.create_task(device.run(), name=f"modbus-{device.label}")
                       for device in self._devices]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._past_errors = self.errors
        self._devices = []

    async def poll(self, until_ms: int) -> Sequence[Reading]:
        return self._buffer.take(until_ms)
