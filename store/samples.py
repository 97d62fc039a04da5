"""Reading raw samples in their schema v2 shape (docs/schema.md).

`sample` holds one point per machine and sample instant with a field per signal, so a
count of samples is the sum of the counts of every field: `SELECT count(*)` answers one
column per signal (`count_<signal>`), added up here.
"""

from __future__ import annotations

from plantstream.store.influxql import InfluxQL

__all__ = ["count_samples"]


def count_samples(influx: InfluxQL, where: str = "") -> int:
    """Raw samples stored in `sample` (all signals), optionally `WHERE <where>`."""
    condition = f" WHERE {where}" if where else ""
    total = 0
    for series in influx.query(f'SELECT count(*) FROM "sample"{condition}'):
        for row in series.values:
            total += sum(int(v) for v in row[1:] if v is not None)
    return total
