"""Edge sources: one small interface, one folder each, an explicit registry.

A source is an async context manager (enter connects, exit closes) with one call,
`poll(until_ms)`, returning every reading with a timestamp before `until_ms` not yet
returned. Store-and-forward is the framework's job, not the source's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Protocol, Self

from plantstream.edge.readings import Reading
from plantstream.edge.sources.modbus import ModbusConfig, ModbusSource
from plantstream.edge.sources.opcua import OpcUaConfig, OpcUaSource
from plantstream.edge.sources.s7 import S7Config, S7Source
from plantstream.edge.sources.simulator import Simulator, SimulatorConfig
from plantstream.edge.sources.sparkplug import SparkplugConfig, SparkplugSource

__all__ = ["SOURCES", "Source", "SourceConfig", "build_source"]


class Source(Protocol):
    """A source of readings. Optional: `lateness_ms` (int), how long after their end the
    agent should keep intervals open for this source's late readings (a Sparkplug
    source's history window); absent: 0."""

    name: str

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None: ...

    async def poll(self, until_ms: int) -> Sequence[Reading]: ...


# All source configurations, a tagged union on `type`.
SourceConfig = SimulatorConfig | ModbusConfig | OpcUaConfig | S7Config | SparkplugConfig

# type tag -> factory(config, start_ms) -> Source
SOURCES: dict[str, Callable[[SourceConfig, int], Source]] = {
    "simulator": lambda config, start_ms: Simulator(config=config, start_ms=start_ms),  # type: ignore[arg-type]
    "modbus": lambda config, start_ms: ModbusSource(config=config, start_ms=start_ms),  # type: ignore[arg-type]
    "opcua": lambda config, start_ms: OpcUaSource(config=config, start_ms=start_ms),  # type: ignore[arg-type]
    "s7": lambda config, start_ms: S7Source(config=config, start_ms=start_ms),  # type: ignore[arg-type]
    "sparkplug": lambda config, start_ms: SparkplugSource(config=config, start_ms=start_ms),  # type: ignore[arg-type]
}


def build_source(config: SourceConfig, *, start_ms: int) -> Source:
    return SOURCES[type(config).__struct_config__.tag](config, start_ms)  # type: ignore[index]
