"""The Siemens S7 source: a tag map per machine, read with multi-variable requests.

Each PLC (S7-300/400/1200/1500, ISO-on-TCP port 102, by rack/slot or TSAP) is polled by
its own task every `poll_interval_s`. Its tags (data blocks, merkers, inputs, outputs)
are merged into blocks and packed into as few read requests as the negotiated PDU size
allows. A PLC that refuses, times out or goes away is reconnected with exponential
backoff; meanwhile its machines are in their `state.on_failure` state (default 30000,
unknown) and their analog signals are missing samples (None). Failures are counted in
`errors` and logged, never raised out of `poll`. Counters and meters are raw values
with their modulus (rollover is the batcher's job).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plantstream.edge.sources._polled import PolledSource
from plantstream.edge.sources.modbus._buffer import ReadingBuffer
from plantstream.edge.sources.s7.config import (
    Counters,
    CounterTag,
    MeterTag,
    ProductTag,
    S7Config,
    S7Machine,
    S7Plc,
    SignalTag,
    StateTag,
)
from plantstream.errors import ServiceError

if TYPE_CHECKING:
    from plantstream.edge.sources.s7._plc import Plc

__all__ = [
    "CounterTag",
    "Counters",
    "MeterTag",
    "ProductTag",
    "S7Config",
    "S7Machine",
    "S7Plc",
    "S7Source",
    "SignalTag",
    "StateTag",
]


def _plc_class() -> type[Plc]:
    # python-snap7 is imported when an S7 source starts, not when the configuration is
    # loaded: gateways without S7 PLCs do not need the `s7` extra
    from plantstream.edge.sources.s7._plc import Plc

    return Plc


class S7Source(PolledSource["Plc"]):
    """A `Source` reading Siemens S7 PLCs; `errors` counts failed connections and reads."""

    kind = "s7"

    def __init__(self, *, config: S7Config, start_ms: int) -> None:
        super().__init__(name=config.name, start_ms=start_ms)
        self.config = config

    def _open(self, buffer: ReadingBuffer) -> list[Plc]:
        plc_class = _plc_class()
        return [plc_class(p, buffer=buffer) for p in self.config.plcs]

    @property
    def connects(self) -> int:
        return sum(plc.connects for plc in self.devices)

    async def check(self) -> None:
        """Connect to every PLC and read every tag once, apart from the running source;
        raise `ServiceError` naming each PLC that failed."""
        from snap7.error import S7Error

        plc_class = _plc_class()
        problems = []
        for config in self.config.plcs:
            plc = plc_class(config, buffer=ReadingBuffer(horizon_ms=0))
            try:
                await plc.connect()
                await plc.cycle()
            except (S7Error, OSError, TimeoutError) as exc:
                plc.record_error("connection", exc)
            finally:
                await plc.close()
            if plc.errors:
                problems.append(f"{plc.label}: {plc.last_error}")
        if problems:
            raise ServiceError(service=f"s7 source {self.name}", reason="; ".join(problems))
