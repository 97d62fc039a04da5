"""InfluxQL over the v1 `/query` API: InfluxDB 1.x natively, 2.x / 3.x via v1 compat.

The one read path of the platform (demo summary, dashboards' proofs, reports, tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from plantstream.errors import StoreError
from plantstream.store.writer import LineWriter

__all__ = ["InfluxQL", "Series"]


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, v, strict=True)) for v in self.values]

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [v[i] for v in self.values]


class InfluxQL:
    """A small synchronous InfluxQL client; `epoch="ms"` timestamps by default."""

    def __init__(self, *, url: str, database: str, username: str | None = None,
                 password: str | None = None, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self._credentials = (username, password) if username and password else None
        self._timeout_s = timeout_s
        self._http = httpx.Client(timeout=timeout_s, auth=self._credentials)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> InfluxQL:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, q: str, *, epoch: str = "ms") -> list[Series]:
        """Run one or more statements; return the series of all of them."""
        try:
            r = self._http.post(f"{self.url}/query",
                                data={"db": self.database, "q": q, "epoch": epoch})
        except httpx.HTTPError as exc:
            raise StoreError(url=self.url, status=None, reason=str(exc)) from None
        if r.status_code != 200:
            raise StoreError(url=self.url, status=r.status_code, reason=r.text[:500])
        out: list[Series] = []
        for result in r.json().get("results", []):
            if "error" in result:
                raise StoreError(url=self.url, status=200, reason=f"{result['error']} in {q!r}")
            for s in result.get("series", []):
                out.append(Series(name=s.get("name", ""), tags=s.get("tags", {}) or {},
                                  columns=s["columns"], values=s.get("values", [])))
        return out

    def writer(self) -> LineWriter:
        """A line-protocol writer to the same database with the same credentials."""
        username, password = self._credentials or (None, None)
        return LineWriter(url=self.url, database=self.database, username=username,
                          password=password, timeout_s=self._timeout_s)

    def create_database(self) -> None:
        self.query(f'CREATE DATABASE "{self.database}"')

    def scalar(self, q: str) -> Any:
        """The first value of the first row (None if the query returned nothing)."""
        series = self.query(q)
        if not series or not series[0].values:
            return None
        return series[0].values[0][1]
