"""KPI rollups per minute, local hour, shift and local day, with dirty-window recompute.

`plantstream ingest rollup` is a stateless job (see docs/rollups.md):

1. it reads the pending dirty markers (`rollup_dirty`, written by ingest beside a late
   batch's points, see `dirty_lines`);
2. per site and granularity it rolls up every window that closed (end at or before
   now − grace) since its watermark (`rollup_watermark`, kept in InfluxDB, so the job
   can be restarted anywhere), then advances the watermark;
3. it rolls up again every window of a pending marker that is already behind the
   watermark, then marks the marker done (`done` = the marker's `token`).

A marker re-marked while the job works gets a new random token, so it stays pending
and the next run recomputes it: no late batch is missed and no lock is needed.
Rollup points are keyed by (measurement, site, line, machine, window start), so a
recompute overwrites them (idempotent).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Final

from plantstream.config import PlantConfig
from plantstream.ingest.config import RollupConfig
from plantstream.ingest.points import DIRTY
from plantstream.rollups._sums import kpi_lines, query_sums, with_aggregates
from plantstream.rollups._windows import (
    GRANULARITIES,
    MEASUREMENTS,
    Granularity,
    Windowing,
)
from plantstream.store.config import InfluxConfig
from plantstream.store.influxql import InfluxQL
from plantstream.store.writer import LineWriter

__all__ = ["GRANULARITIES", "MEASUREMENTS", "RollupJob", "RollupReport"]

log = logging.getLogger(__name__)

WATERMARK: Final = "rollup_watermark"
_MINUTE_MS: Final = 60_000
_MINUTE_CHUNK_MS: Final = 6 * 3_600_000  # one GROUP BY time(1m) query per 6 h


@dataclass(slots=True)
class RollupReport:
    """What one run did: windows rolled per granularity, markers cleared, points."""

    rolled: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GRANULARITIES, 0))
    recomputed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GRANULARITIES, 0))
    markers_done: int = 0
    points: int = 0


class RollupJob:
    """One rollup pass per `run_once`; all state lives in InfluxDB."""

    def __init__(self, *, influx: InfluxConfig, plant: PlantConfig,
                 settings: RollupConfig | None = None) -> None:
        self.settings = settings or RollupConfig()
        self.plant = plant
        password = influx.password.reveal() if influx.password else None
        self.query = InfluxQL(url=influx.url, database=influx.database,
                              username=influx.username, password=password,
                              timeout_s=influx.timeout_s)
        self.windowing = {s.id: Windowing.of(s.timezone, self.settings.shift_starts)
                          for s in plant.sites}
        self.writer = LineWriter.from_config(influx)

    def close(self) -> None:
        self.query.close()
        self.writer.close()

    def __enter__(self) -> RollupJob:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ storage

    def _write(self, lines: list[str]) -> None:
        self.writer.write(lines)

    def watermarks(self) -> dict[tuple[str, str], int]:
        """(site, granularity) -> every window ending at or before it is rolled up."""
        out: dict[tuple[str, str], int] = {}
        for s in self.query.query(f'SELECT last("until_ms") AS "until_ms" FROM "{WATERMARK}" '
                                  'GROUP BY "site", "granularity"'):
            if s.values and s.values[0][1] is not None:
                out[(s.tags.get("site", ""), s.tags.get("granularity", ""))] = int(
                    s.values[0][1])
        return out

    def pending_markers(self, now_ms: int) -> dict[str, dict[int, int]]:
        """site -> {minute start: token} of markers not yet done."""
        since = now_ms - int(self.settings.lookback_s * 1000)
        out: dict[str, dict[int, int]] = defaultdict(dict)
        for s in self.query.query(f'SELECT "token", "done" FROM "{DIRTY}" '
                                  f'WHERE time >= {since}ms GROUP BY "site"'):
            site = s.tags.get("site", "")
            for row in s.rows():
                if row["token"] is not None and row["token"] != row["done"]:
                    out[site][int(row["time"])] = int(row["token"])
        return out

    def _earliest(self, site: str) -> int | None:
        site_q = site.replace("'", "\\'")
        series = self.query.query(
            f"SELECT first(\"pbt_s\") FROM \"oee_components\" WHERE \"site\" = '{site_q}'")
        if not series or not series[0].values:
            return None
        return int(series[0].values[0][0])

    # ------------------------------------------------------------------ rolling

    def roll(self, site: str, granularity: Granularity,
             windows: list[tuple[int, int]]) -> int:
        """Compute and write the KPI points of `windows`; returns the points written."""
        if not windows:
            return 0
        if granularity == "1m":  # contiguous ranges, split into minutes by the database
            ranges: list[tuple[int, int]] = []
            for a, b in windows:
                if ranges and ranges[-1][1] == a and b - ranges[-1][0] <= _MINUTE_CHUNK_MS:
                    ranges[-1] = (ranges[-1][0], b)
                else:
                    ranges.append((a, b))
            cells = query_sums(self.query, site, ranges, minute_buckets=True)
        else:
            cells = query_sums(self.query, site, windows)
        ends = dict(windows)
        lines = list(kpi_lines(MEASUREMENTS[granularity], site, with_aggregates(cells), ends))
        self._write(lines)
        return len(lines)

    def run_once(self, *, now_ms: int | None = None) -> RollupReport:
        now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        horizon = now_ms - int(self.settings.grace_s * 1000)
        report = RollupReport()
        pending = self.pending_markers(now_ms)  # read first: later marks stay pending
        marks = self.watermarks()
        for site, windowing in self.windowing.items():
            for g in GRANULARITIES:
                mark = marks.get((site, g))
                if mark is None:
                    earliest = self._earliest(site)
                    if earliest is None:
                        continue
                    mark = windowing.window_of(g, earliest)[0]
                windows = windowing.windows_between(g, mark, horizon)
                step = 1440 if g == "1m" else 200
                for i in range(0, len(windows), step):
                    chunk = windows[i:i + step]
                    report.points += self.roll(site, g, chunk)
                    report.rolled[g] += len(chunk)
                    mark = chunk[-1][1]
                    self._write([f'{WATERMARK},site={site},granularity={g} '
                                 f"until_ms={mark}i {now_ms}"])
                marks[(site, g)] = mark
            report.points += self._recompute(site, windowing, pending.get(site, {}), marks,
                                             report)
        return report

    def _recompute(self, site: str, windowing: Windowing, markers: dict[int, int],
                   marks: dict[tuple[str, str], int], report: RollupReport) -> int:
        if not markers:
            return 0
        points = 0
        for g in GRANULARITIES:
            mark = marks.get((site, g))
            if mark is None:
                continue
            windows = sorted({w for t in markers
                              for w in [windowing.window_of(g, t)] if w[1] <= mark})
            points += self.roll(site, g, windows)
            report.recomputed[g] += len(windows)
        self._write([f"{DIRTY},site={site} done={token}i {t}" for t, token in markers.items()])
        report.markers_done += len(markers)
        log.info("rollup %s: recomputed %s for %d dirty minutes", site, report.recomputed,
                 len(markers))
        return points


# --------------------------------------------------------------------------- the CLI
