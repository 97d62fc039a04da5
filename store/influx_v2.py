"""InfluxDB v2 `/api/v2/write` sink through influxdb-client (org / bucket / token).

The same line protocol as the v1 sink. influxdb-client's async client needs aiohttp;
the synchronous WriteApi in a worker thread keeps the dependency set small and is not
the bottleneck (one call per micro-batch).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any, cast

import httpx
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
            enable_gzip=config.compress)
        self._write = self._client.write_api(write_options=SYNCHRONOUS)
        headers = {"Authorization": f"Token {config.token.reveal()}"} if config.token else {}
        self._http = httpx.AsyncClient(timeout=config.timeout_s, headers=headers)

    async def aclose(self) -> None:
        await self._http.aclose()
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

    async def query(self, q: str) -> list[dict[str, Any]]:
        """InfluxQL through the v1 compatibility `/query` API (the bucket's DBRP mapping)."""
        try:
            r = await self._http.post(f"{self.url}/query", data={
                "db": self.config.bucket or "", "q": q, "epoch": "ms"})
        except httpx.HTTPError as exc:
            raise StoreError(url=self.url, status=None,
                             reason=f"{type(exc).__name__}: {exc}") from None
        if r.status_code != 200:
            raise StoreError(url=self.url, status=r.status_code, reason=r.text[:300])
        try:
            results: list[dict[str, Any]] = r.json().get("results", [])
        except ValueError:
            raise StoreError(url=self.url, status=r.status_code,
                             reason="no InfluxQL /query API here") from None
        for result in results:
            if "error" in result:
                raise StoreError(url=self.url, status=400, reason=str(result["error"])[:300])
        return results

    async def delete(self, *, measurement: str, tags: Mapping[str, str], start_ms: int,
                     stop_ms: int) -> None:
        """`/api/v2/delete` with a predicate on the measurement and tags."""
        predicate = " AND ".join([f'_measurement="{measurement}"',
                                  *(f'{k}="{v}"' for k, v in tags.items())])
        start = dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC)
        stop = dt.datetime.fromtimestamp((stop_ms - 1) / 1000, dt.UTC)

        def run() -> None:
            try:
                self._client.delete_api().delete(start, stop, predicate,
                                                  bucket=self.config.bucket or "",
                                                  org=self.config.org or "")
            except ApiException as exc:
                raise StoreError(url=self.url, status=exc.status,
                                 reason=str(exc.body)[:300]) from None
            except (HTTPError, OSError) as exc:
                raise StoreError(url=self.url, status=None, reason=str(exc)) from None

        await asyncio.to_thread(run)
