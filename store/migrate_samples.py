"""`plantstream ingest migrate-samples`: move a site's raw samples from schema v1 to v2.

Schema v1 stored one `sample` point per sample (tag `signal`, field `value`); schema v2
stores one point per machine and instant with a field per signal (docs/schema.md). The
two shapes are different series of the same measurement, so they coexist: this one-off
command reads the v1 series machine by machine and time chunk by time chunk, writes them
as v2 points (idempotent: a second run rewrites identical points), and when every chunk
is written drops the v1 series (`DROP SERIES ... WHERE "signal" != ''`). Run it once
after the ingest workers are on v2; until it finishes, v1 data is read with v1 queries.
"""

from __future__ import annotations

from collections import defaultdict

from plantstream.store.influxql import InfluxQL
from plantstream.store.writer import LineWriter

__all__ = ["migrate_samples"]

_DAY_MS = 86_400_000


def migrate_samples(influx: InfluxQL, writer: LineWriter, *, chunk_ms: int = _DAY_MS,
                    drop: bool = True) -> tuple[int, int]:
    """Rewrite every v1 `sample` point as v2; return (v1 samples read, v2 points written)."""
    bounds = influx.query('SELECT first("value") FROM "sample" WHERE "signal" != \'\'; '
                          'SELECT last("value") FROM "sample" WHERE "signal" != \'\'')
    if len(bounds) < 2 or not bounds[0].values:
        return 0, 0
    first_ms, last_ms = int(bounds[0].values[0][0]), int(bounds[1].values[0][0])
    machines = [row[1] for s in influx.query(
        'SHOW TAG VALUES FROM "sample" WITH KEY = "machine" WHERE "signal" != \'\'')
        for row in s.values]
    read = written = 0
    start = first_ms - first_ms % chunk_ms
    while start <= last_ms:
        stop = start + chunk_ms
        for machine in machines:
            rows: dict[tuple[str, str, int], dict[str, float]] = defaultdict(dict)
            for s in influx.query(
                    f'SELECT "value" FROM "sample" WHERE "signal" != \'\' AND '
                    f'"machine" = \'{machine}\' AND time >= {start}ms AND time < {stop}ms '
                    'GROUP BY "site", "line", "signal"'):
                site, line, signal = s.tags["site"], s.tags["line"], s.tags["signal"]
                for t, value in s.values:
                    if value is not None:
                        rows[(site, line, int(t))][signal] = float(value)
                        read += 1
            lines = [f"sample,site={site},line={line},machine={machine} "
                     f"{','.join(f'{k}={v!r}' for k, v in fields.items())} {t}"
                     for (site, line, t), fields in sorted(rows.items(), key=lambda r: r[0][2])]
            writer.write(lines)
            written += len(lines)
        start = stop
    if drop:
        influx.query('DROP SERIES FROM "sample" WHERE "signal" != \'\'')
    return read, written
