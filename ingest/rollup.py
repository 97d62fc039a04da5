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

import argparse
import asyncio
import contextlib
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

import httpx

from plantstream.config import PlantConfig
from plantstream.errors import StoreError
from plantstream.influxql import InfluxQL
from plantstream.ingest._rollup_sums import kpi_lines, query_sums, with_aggregates
from plantstream.ingest._rollup_windows import (
    GRANULARITIES,
    MEASUREMENTS,
    Granularity,
    Windowing,
)
from plantstream.ingest.config import InfluxConfig, RollupConfig, load_ingest_config
from plantstream.signals import stop_event
from plantstream.wire import Batch

__all__ = ["GRANULARITIES", "MEASUREMENTS", "RollupJob", "RollupReport", "dirty_lines",
           "dirty_minute_lines", "register_rollup"]

log = logging.getLogger(__name__)

DIRTY: Final = "rollup_dirty"
WATERMARK: Final = "rollup_watermark"
DEFAULT_LATE_AFTER_S: Final = 30.0
_MINUTE_MS: Final = 60_000
_MINUTE_CHUNK_MS: Final = 6 * 3_600_000  # one GROUP BY time(1m) query per 6 h
_MAX_DIRTY_MINUTES: Final = 1440  # a batch never spans a day; a guard against nonsense


def is_late(batch: Batch, received_ms: int, *,
            late_after_s: float = DEFAULT_LATE_AFTER_S) -> bool:
    return batch.backlog or received_ms - batch.t_end_ms > late_after_s * 1000


def dirty_lines(batch: Batch, plant: PlantConfig, received_ms: int, *,
                late_after_s: float = DEFAULT_LATE_AFTER_S) -> list[str]:
    """`rollup_dirty` points for a late batch (backlog, or received more than
    `late_after_s` after its t_end); [] for a batch on time.

    One point per minute window the batch touches (tag site, timestamp = minute start,
    field `token` random): the job derives the hour, shift and day windows from it.
    Write these with the batch's own points, in the same request. `plant` is checked
    for the site (a batch of an unknown site is never marked).
    """
    if not is_late(batch, received_ms, late_after_s=late_after_s):
        return []
    if plant.site(batch.site) is None:
        return []
    token = secrets.randbits(62)
    first = batch.t_start_ms - batch.t_start_ms % _MINUTE_MS
    minutes = range(first, batch.t_end_ms, _MINUTE_MS)[:_MAX_DIRTY_MINUTES]
    return [f"{DIRTY},site={batch.site} token={token}i,received_ms={received_ms}i,"
            f"gateway=\"{batch.gateway}\",seq={batch.seq}i {t}" for t in minutes]


def dirty_minute_lines(batch: Batch, times_ms: Iterable[int], received_ms: int) -> list[str]:
    """`rollup_dirty` points for the minutes of `times_ms` (points a batch writes into
    earlier windows, e.g. a minor stop's classification when it ends), whether or not
    the batch is late."""
    token = secrets.randbits(62)
    minutes = sorted({t - t % _MINUTE_MS for t in times_ms})
    return [f"{DIRTY},site={batch.site} token={token}i,received_ms={received_ms}i,"
            f"gateway=\"{batch.gateway}\",seq={batch.seq}i {t}" for t in minutes]


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
        auth = (influx.username, password) if influx.username and password else None
        self._http = httpx.Client(timeout=influx.timeout_s, auth=auth)
        self._write_url = f"{influx.url.rstrip('/')}/write"
        self._params = {"db": influx.database, "precision": "ms"}
        if influx.retention_policy:
            self._params["rp"] = influx.retention_policy

    def close(self) -> None:
        self.query.close()
        self._http.close()

    def __enter__(self) -> RollupJob:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ storage

    def _write(self, lines: list[str]) -> None:
        for i in range(0, len(lines), 5000):
            body = "\n".join(lines[i:i + 5000]).encode()
            try:
                r = self._http.post(self._write_url, params=self._params, content=body)
            except httpx.HTTPError as exc:
                raise StoreError(url=self._write_url, status=None, reason=str(exc)) from None
            if r.status_code != 204:
                raise StoreError(url=self._write_url, status=r.status_code,
                                 reason=r.text[:300])

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


def register_rollup(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `plantstream ingest rollup` to the `ingest` command group."""
    parser = commands.add_parser(
        "rollup", help="roll up KPIs per minute, hour, shift and day (and dirty windows)")
    parser.add_argument("--config", required=True, help="ingest configuration (TOML)")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--interval", type=float, default=None,
                        help="seconds between passes (default: [rollup] interval_s)")
    parser.set_defaults(handler=_rollup)


def _rollup(args: argparse.Namespace) -> int:
    config, plant = load_ingest_config(args.config)
    interval = float(args.interval) if args.interval else config.rollup.interval_s
    with RollupJob(influx=config.influx, plant=plant, settings=config.rollup) as job:
        if args.once:
            report = job.run_once()
            print(f"rolled {report.rolled} recomputed {report.recomputed} "
                  f"markers_done={report.markers_done} points={report.points}")
            return 0
        async def forever() -> None:
            stop = stop_event()
            while not stop.is_set():
                try:
                    report = await asyncio.to_thread(job.run_once)
                    log.info("rollup: %d points, %d dirty markers done", report.points,
                             report.markers_done)
                except StoreError as exc:
                    log.warning("rollup: InfluxDB not reachable (%s); retrying", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)

        asyncio.run(forever())
    return 0
