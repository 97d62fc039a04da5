"""Errors of `plantstream dashboards`: what went wrong talking to Grafana, and why."""

from __future__ import annotations

from plantstream.errors import PlantStreamError

__all__ = [
    "GrafanaAuthError",
    "GrafanaError",
    "GrafanaPermissionError",
    "GrafanaRequestError",
    "GrafanaUnreachable",
]


class GrafanaError(PlantStreamError):
    """A Grafana HTTP API call failed; `step` says what push was doing."""

    def __init__(self, *, url: str, step: str, reason: str, status: int | None = None) -> None:
        self.url = url
        self.step = step
        self.reason = reason
        self.status = status
        super().__init__(f"{url}: {step}: {reason}" + (f" (HTTP {status})" if status else ""))


class GrafanaUnreachable(GrafanaError):
    """Bad URL, nothing listening, DNS, TLS or a timeout."""


class GrafanaAuthError(GrafanaError):
    """HTTP 401: the token (or user and password) was refused."""


class GrafanaPermissionError(GrafanaError):
    """HTTP 403: authenticated, but not allowed to do this step."""


class GrafanaRequestError(GrafanaError):
    """Any other refusal (bad input, server error)."""
