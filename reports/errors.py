"""Errors of the report part (rooted in `PlantStreamError`)."""

from __future__ import annotations

from plantstream.errors import PlantStreamError

__all__ = ["ReportInputError"]


class ReportInputError(PlantStreamError):
    """A report request that cannot be answered: `field` names what, `reason` says why.

    The API maps it to a 4xx answer (`status`, 422 by default, 404 for unknown scopes).
    """

    def __init__(self, *, field: str, reason: str, status: int = 422) -> None:
        self.field = field
        self.reason = reason
        self.status = status
        super().__init__(f"{field}: {reason}")
