"""InfluxDB v1 HTTP `/write` sink: line protocol, gzip, millisecond precision."""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from typing import Any

import httpx

from plantstream.errors import StoreError
from plantstream.store.config import InfluxConfig

__all__ = ["InfluxV1Sink"]


class InfluxV1Sink:
    def __init__(self, *, config: InfluxConfig) -> None:
        self.config = config
        self.url = config.url.rstrip("/")
        auth = ((config.username, config.password.reveal())
                if config.username and config.password else None)
        self._http = httpx.AsyncClient(timeout=config.timeout_s, auth=auth)
        self._params = {"db": config.database, "precision": "ms"}
        if config.retention_policy:
            self._params["rp"] = config.retention_policy

    async def aclose(self) -> None:
        await self._http.aclose()

    async def write(self, body: bytes) -> None:
        """Write one body of line protocol; raise `StoreError` if it was not stored."""
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.config.compress:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        try:
            r = await self._http.post(f"{self.url}/write", params=self._params, content=body,
                                      headers=headers)
        except httpx.HTTPError as exc:
            raise StoreError(url=self.url, status=None,
                             reason=f"{type(exc).__name__}: {exc}") from None
        if r.status_code != 204:
            raise StoreError(url=self.url, status=r.status_code, reason=r.text[:300])

    async def ensure_database(self) -> None:
        """Create the database, or, as a user without admin privilege (403: the compose
        stack's `ingest` may only read and write its database), check that it exists."""
        r = await self._query(f'CREATE DATABASE "{self.config.database}"')
        if r.status_code == 403:
            shown = await self._query("SHOW DATABASES")
            if shown.status_code == 200 and self.config.database in {
                    row[0] for result in shown.json().get("results", [])
                    for series in result.get("series", []) for row in series["values"]}:
                return
            raise StoreError(url=self.url, status=403, reason=(
                f"may not create database {self.config.database!r}, and it is not among "
                f"this user's databases: {r.text[:200]}"))
        if r.status_code != 200:
            raise StoreError(url=self.url, status=r.status_code, reason=r.text[:300])

    async def query(self, q: str) -> list[dict[str, Any]]:
        """Run InfluxQL statements (`;`-separated) in one request; their `results`."""
        try:
            r = await self._http.post(f"{self.url}/query", data={
                "db": self.config.database, "q": q, "epoch": "ms",
                **({"rp": self.config.retention_policy} if self.config.retention_policy
                   else {})})
        except httpx.HTTPError as exc:
            raise StoreError(url=self.url, status=None,
                             reason=f"{type(exc).__name__}: {exc}") from None
        if r.status_code != 200:
            raise StoreError(url=self.url, status=r.status_code, reason=r.text[:300])
        results: list[dict[str, Any]] = r.json().get("results", [])
        for result in results:
            if "error" in result:
                raise StoreError(url=self.url, status=400, reason=str(result["error"])[:300])
        return results

    async def delete(self, *, measurement: str, tags: Mapping[str, str], start_ms: int,
                     stop_ms: int) -> None:
        """Delete the points of one series set in [start_ms, stop_ms)."""
        where = " AND ".join(f"\"{k}\" = '{v}'" for k, v in tags.items())
        await self.query(f'DELETE FROM "{measurement}" WHERE {where} AND '
                         f"time >= {start_ms}ms AND time < {stop_ms}ms")

    async def _query(self, statement: str) -> httpx.Response:
        try:
            return await self._http.post(f"{self.url}/query", data={"q": statement})
        except httpx.HTTPError as exc:
            raise StoreError(url=self.url, status=None, reason=str(exc)) from None
