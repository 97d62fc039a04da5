"""Where ingest writes line protocol: InfluxDB v1 `/write` or v2 `/api/v2/write`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from plantstream.store.config import InfluxConfig
from plantstream.store.influx_v1 import InfluxV1Sink
from plantstream.store.influx_v2 import InfluxV2Sink

__all__ = ["SINKS", "InfluxV1Sink", "InfluxV2Sink", "Sink", "build_sink"]


class Sink(Protocol):
    url: str

    async def write(self, body: bytes) -> None: ...

    async def query(self, q: str) -> list[dict[str, Any]]: ...

    async def delete(self, *, measurement: str, tags: Mapping[str, str], start_ms: int,
                     stop_ms: int) -> None: ...

    async def ensure_database(self) -> None: ...

    async def aclose(self) -> None: ...


SINKS: dict[str, type[InfluxV1Sink] | type[InfluxV2Sink]] = {"v1": InfluxV1Sink, "v2": InfluxV2Sink}


def build_sink(config: InfluxConfig) -> Sink:
    return SINKS[config.api](config=config)
