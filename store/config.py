"""Where the data lives: the InfluxDB connection settings every reader and writer takes."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec

from plantstream.config import Secret

__all__ = ["InfluxConfig"]


class InfluxConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    url: str = "http://127.0.0.1:8086"
    api: Literal["v1", "v2"] = "v1"
    database: str = "plantstream"  # v1: database
    retention_policy: str | None = None
    username: str | None = None
    password: Secret | None = None
    org: str | None = None  # v2
    bucket: str | None = None  # v2
    token: Secret | None = None  # v2
    # compress write bodies; unset: off on loopback (compressing costs the worker and
    # influxd CPU and saves nothing there), on towards any other host
    gzip: bool | None = None

    @property
    def compress(self) -> bool:
        if self.gzip is not None:
            return self.gzip
        host = urlsplit(self.url).hostname or ""
        return not (host == "localhost" or host == "::1" or host.startswith("127."))
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
