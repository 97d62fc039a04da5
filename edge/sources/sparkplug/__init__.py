"""The Sparkplug B source: PlantStream as a Sparkplug 3.0 host on the plant broker.

Subscribes to `spBv1.0/<group>/#` and turns the edge nodes and devices named in the
map into machines: NBIRTH/DBIRTH give metric names, aliases and datatypes (and current
values), NDATA/DDATA values are stamped with their metric timestamps, an NDEATH whose
bdSeq matches the node's birth (or a DDEATH) puts the machine in its failure state
(unknown) from the death on. `seq` is checked per edge node; a gap, or data from a node
or device that was not born, sends an NCMD "Node Control/Rebirth" (at most one per
`rebirth_holdoff_s`). As primary host it publishes the retained STATE birth and sets
the STATE death as its MQTT will. Malformed messages are counted and logged with the
topic, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self

from plantstream.edge.readings import Reading
from plantstream.edge.sources.modbus._buffer import ReadingBuffer
from plantstream.edge.sources.sparkplug.config import (
    CounterMetric,
    Counters,
    MeterMetric,
    ProductMetric,
    SignalMetric,
    SparkplugConfig,
    SparkplugMachine,
    StateMetric,
)
from plantstream.errors import ServiceError

if TYPE_CHECKING:
    from plantstream.edge.sources.sparkplug._host import Host

__all__ = [
    "CounterMetric",
    "Counters",
    "MeterMetric",
    "ProductMetric",
    "SignalMetric",
    "SparkplugConfig",
    "SparkplugMachine",
    "SparkplugSource",
    "StateMetric",
]


class SparkplugSource:
    """A `Source` fed by Sparkplug B edge nodes; `errors` counts broker failures and
    malformed messages, `host.counters` the rest."""

    def __init__(self, *, config: SparkplugConfig, start_ms: int) -> None:
        self.config = config
        self.name = config.name
        self._buffer = ReadingBuffer(horizon_ms=start_ms)
        # the agent keeps intervals open this long for historical (replayed) values
        self.lateness_ms = int(config.history_window_s * 1000)
        self.connected = asyncio.Event()
        self.connects = 0
        self.broker_errors = 0  # failed connections to the broker
        self._host: Host | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def host(self) -> Host:
        if self._host is None:
            from plantstream.edge.sources.sparkplug._host import Host  # protobuf: when used

            self._host = Host(self.config, buffer=self._buffer)
        return self._host

    @property
    def errors(self) -> int:
        """Broker failures and malformed messages so far."""
        malformed = self._host.counters.malformed if self._host is not None else 0
        return self.broker_errors + malformed

    @property
    def pending(self) -> int:
        return len(self._buffer)

    async def check(self, *, timeout_s: float = 10.0) -> None:
        """For `plantstream edge check` (on an entered source): the broker took the
        subscription within `timeout_s`, else `ServiceError`."""
        try:
            await asyncio.wait_for(self.connected.wait(), timeout=timeout_s)
        except TimeoutError:
            mqtt = self.config.mqtt
            raise ServiceError(service=f"sparkplug source {self.name}",
                               reason=f"broker {mqtt.host}:{mqtt.port} not reached in "
                                      f"{timeout_s:.0f} s ({self.broker_errors} failed "
                                      "attempts)") from None

    async def __aenter__(self) -> Self:
        from plantstream.edge.sources.sparkplug import _session  # aiomqtt: when used

        self.host  # noqa: B018 - build the host (and import protobuf) before the session
        self._task = asyncio.create_task(_session.supervise(self), name=f"sparkplug-{self.name}")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def poll(self, until_ms: int) -> Sequence[Reading]:
        return self._buffer.take(until_ms)
