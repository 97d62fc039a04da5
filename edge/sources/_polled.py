"""What every polled source shares (Modbus TCP, S7): one task per device polling into
one reading buffer, errors counted across reconnections and restarts, bounded exit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from plantstream.edge.readings import Reading
from plantstream.edge.sources.modbus._buffer import ReadingBuffer

__all__ = ["PolledDevice", "PolledSource"]


class PolledDevice(Protocol):
    label: str
    errors: int

    async def run(self) -> None: ...


D = TypeVar("D", bound=PolledDevice)


class PolledSource(Generic[D]):
    """A `Source` of devices each polled by a task of its own; `errors` counts failed
    connections and reads, all devices, past runs included."""

    kind = "polled"  # the task names' prefix

    def __init__(self, *, name: str, start_ms: int) -> None:
        self.name = name
        self._buffer = ReadingBuffer(horizon_ms=start_ms)
        self.devices: list[D] = []  # while entered
        self._past_errors = 0
        self._tasks: list[asyncio.Task[None]] = []

    def _open(self, buffer: ReadingBuffer) -> list[D]:
        """The devices of the configuration, writing into `buffer`."""
        raise NotImplementedError

    @property
    def errors(self) -> int:
        return self._past_errors + sum(device.errors for device in self.devices)

    @property
    def pending(self) -> int:
        """Readings buffered and not yet handed out by `poll`."""
        return len(self._buffer)

    async def __aenter__(self) -> Self:
        self.devices = self._open(self._buffer)
        self._tasks = [asyncio.create_task(device.run(), name=f"{self.kind}-{device.label}")
                       for device in self.devices]
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
        self.devices = []

    async def poll(self, until_ms: int) -> Sequence[Reading]:
        return self._buffer.take(until_ms)
