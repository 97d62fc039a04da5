"""Synchronous line-protocol writes to the v1 `/write` API (InfluxDB 1.x natively, 2.x /
3.x through their v1 compatibility API).

The write path of everything that is not the ingest hot path: rollup jobs, the daily
dual-control point, the demo's backfill and the benchmarks' baselines. Ingest writes
through the async sinks (`plantstream.store.sinks`).
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from plantstream.errors import StoreError
from plantstream.store.config import InfluxConfig

__all__ = ["LineWriter"]


class LineWriter:
    """Writes lines in bodies of `chunk_lines`; raises `StoreError` for any refusal."""

    def __init__(self, *, url: str, database: str, username: str | None = None,
                 password: str | None = None, retention_policy: str | None = None,
                 timeout_s: float = 30.0, chunk_lines: int = 5000) -> None:
        self.url = f"{url.rstrip('/')}/write"
        self.chunk_lines = chunk_lines
        auth = (username, password) if username and password else None
        self._http = httpx.Client(timeout=timeout_s, auth=auth)
        self._params = {"db": database, "precision": "ms"}
        if retention_policy:
            self._params["rp"] = retention_policy

    @classmethod
    def from_config(cls, config: InfluxConfig) -> LineWriter:
        return cls(url=config.url, database=config.database, username=config.username,
                   password=config.password.reveal() if config.password else None,
                   retention_policy=config.retention_policy, timeout_s=config.timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LineWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, lines: Sequence[str]) -> None:
        for i in range(0, len(lines), self.chunk_lines):
            self.write_body("\n".join(lines[i:i + self.chunk_lines]).encode())

    def write_body(self, body: bytes) -> None:
        try:
            r = self._http.post(self.url, params=self._params, content=body)
        except httpx.HTTPError as exc:
            raise StoreError(url=self.url, status=None, reason=str(exc)) from None
        if r.status_code != 204:
            raise StoreError(url=self.url, status=r.status_code, reason=r.text[:300])
