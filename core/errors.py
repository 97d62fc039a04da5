"""One error hierarchy for the whole platform, carrying structured fields."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "PlantStreamError",
    "ServiceError",
    "StoreError",
    "WireError",
]


class PlantStreamError(Exception):
    """Root of every error PlantStream raises on purpose."""


class ConfigError(PlantStreamError):
    """Invalid configuration; `key` is the dotted path of the offending key."""

    def __init__(self, *, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        super().__init__(f"{source}: invalid configuration at `{key}`: {reason}")


class WireError(PlantStreamError):
    """A message that does not follow the wire format; what goes to the dead letters."""

    def __init__(
        self,
        *,
        reason: str,
        detail: str,
        topic: str = "",
        gateway: str = "",
        seq: int | None = None,
    ) -> None:
        self.reason = reason  # a short, bounded code: "bad_json", "t_end_before_t_start"...
        self.detail = detail
        self.topic = topic
        self.gateway = gateway
        self.seq = seq
        super().__init__(f"{reason}: {detail} (topic={topic!r} gateway={gateway!r} seq={seq})")


class StoreError(PlantStreamError):
    """The time-series store refused or could not take a write or a query."""

    def __init__(self, *, url: str, status: int | None, reason: str) -> None:
        self.url = url
        self.status = status
        self.reason = reason
        super().__init__(f"{url}: {reason}" + (f" (HTTP {status})" if status else ""))


class ServiceError(PlantStreamError):
    """A local service (mosquitto, influxd) could not be started or reached."""

    def __init__(self, *, service: str, reason: str) -> None:
        self.service = service
        self.reason = reason
        super().__init__(f"{service}: {reason}")
