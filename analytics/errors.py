"""Errors the analytics core raises on purpose (rooted in `PlantStreamError`)."""

from __future__ import annotations

from plantstream.errors import PlantStreamError

__all__ = ["AnalyticsInputError", "DataImportError"]


class AnalyticsInputError(PlantStreamError, ValueError):
    """An argument a public analytics function cannot accept; `field` names it."""

    def __init__(self, *, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class DataImportError(PlantStreamError):
    """A data file (financial CSV, limit grades) that cannot be imported.

    `row` is the 1-based line number in the file (the header is line 1), `column` the
    column name; either is empty / None when the problem is about the whole file.
    """

    def __init__(self, *, source: str, row: int | None, column: str, reason: str) -> None:
        self.source = source
        self.row = row
        self.column = column
        self.reason = reason
        where = ", ".join(p for p in (f"row {row}" if row is not None else "",
                                      f"column {column!r}" if column else "") if p)
        super().__init__(f"{source}: {where + ': ' if where else ''}{reason}")
