"""InfluxDB v2 `/api/v2/write` sink through influxdb-client (org / bucket / token).

The same line protocol as the v1 sink. influxdb-client's async client needs aiohttp;
the synchronous WriteApi in a worker thread keeps the dependency set small and is not
the bottleneck (one call per micro-batch).
"""

from __future__ import annotations

import asyncio
from typing import cast

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError

from plantstream.errors import StoreError
from plantstream.store.config import InfluxConfig

__all__ = ["InfluxV2Sink"]


class InfluxV2Sink:
    def __init__(self, *, config: InfluxConfig) -> None:
        if not (config.org and config.bucket):
            raise StoreError(url=config.url, status=None,
                             reason="influx.api = 'v2' needs influx.org and influx.bucket")
        self.config = config
        self.url = config.url.rstrip("/")
        self._client = InfluxDBClient(
            url=self.url, token=config.token.reveal() if config.token else "",
            org=config.org, timeout=int(config.timeout_s * 1000),
            enable_gzip=config.gzip)
        self._write = self._client.write_api(write_options=SYNCHRONOUS)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)

    async def write(self, body: bytes) -> None:
        await asyncio.to_thread(self._write_sync, body)

    def _write_sync(self, body: bytes) -> None:
        try:
            self._write.write(bucket=self.config.bucket or "", org=self.config.org or "",
                              record=body,
                              write_precision=cast(WritePrecision, WritePrecision.MS))
        except ApiException as exc:
            raise StoreError(url=self.url, status=exc.status, reason=str(exc.body)[:300]) from None
        except (HTTPError, OSError) as exc:
            raise StoreError(url=self.url, status=None, reason=str(exc)) from None

    async def ensure_database(self) -> None:
        """Buckets are created by the operator (or compose init); nothing to do here."""
