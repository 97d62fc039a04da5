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

from typing import TYPE_CHECKING

from plantstream.edge.sources._polled import PolledSource
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


class ModbusSource(PolledSource["Device"]):
    """A `Source` reading Modbus TCP devices; `errors` counts failed requests."""

    kind = "modbus"

    def __init__(self, *, config: ModbusConfig, start_ms: int) -> None:
        super().__init__(name=config.name, start_ms=start_ms)
        self.config = config

    def _open(self, buffer: ReadingBuffer) -> list[Device]:
        device_class = _device_class()
        return [device_class(d, buffer=buffer) for d in self.config.devices]

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
