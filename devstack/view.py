"""The demo's live terminal view and closing summary, read back from InfluxDB.

Every figure shown comes from a query against the database, not from counters in
memory, so what the demo shows is what is stored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from plantstream.analytics import TimeComponents, kpis
from plantstream.config import PlantConfig
from plantstream.edge.agent import EdgeAgent
from plantstream.i18n import Lang, translator
from plantstream.i18n.terms import carrier_name, unit_name
from plantstream.store.influxql import InfluxQL
from plantstream.store.samples import count_samples

__all__ = ["LiveView", "line_figures", "print_summary"]

Refresh = Callable[..., None]


def _pct(value: float | None) -> str:
    return "  n/a" if value is None else f"{value * 100:5.1f}%"


def line_figures(influx: InfluxQL, start_ms: int,
                 end_ms: int | None = None) -> dict[str, dict[str, Any]]:
    """Per line: KPIs (ratios of summed components) and energy per carrier."""
    window = f"time >= {start_ms}ms" + (f" AND time < {end_ms}ms" if end_ms else "")
    out: dict[str, dict[str, Any]] = {}
    for s in influx.query(
            'SELECT sum("apt_s"), sum("pbt_s"), sum("pru_pq_s"), sum("gq"), sum("pq"), '
            'sum("sq"), sum("rq"), sum("pru_gq_s") FROM "oee_components" '
            f"WHERE {window} GROUP BY \"line\""):
        _, apt, pbt, pru_pq, gq, pq, sq, rq, pru_gq = s.values[0]
        tc = TimeComponents(apt_s=apt or 0.0, pbt_s=pbt or 0.0, pru_pq_s=pru_pq or 0.0,
                            pru_gq_s=pru_gq or 0.0, gq=int(gq or 0), pq=int(pq or 0),
                            sq=int(sq or 0), rq=int(rq or 0))
        out.setdefault(s.tags["line"], {})["kpis"] = kpis(tc)
        out[s.tags["line"]]["components"] = tc
    for s in influx.query('SELECT sum("quantity"), sum("kgce") FROM "energy" '
                          f'WHERE {window} GROUP BY "line", "carrier"'):
        _, quantity, kgce = s.values[0]
        energy = out.setdefault(s.tags["line"], {}).setdefault("energy", {})
        energy[s.tags["carrier"]] = (quantity or 0.0, kgce or 0.0)
    return out


def _oee_table(plant: PlantConfig, figures: dict[str, dict[str, Any]], lang: Lang) -> Table:
    _ = translator(lang)
    table = Table(title=_("OEE per line (ISO 22400, from InfluxDB)"))
    for index, name in enumerate((_("line"), _("availability"), _("performance"),
                                  _("quality"), _("OEE"), _("good"), _("scrap"), _("rework"))):
        table.add_column(name, justify="left" if index == 0 else "right")
    for line in plant.lines:
        f = figures.get(line.id, {})
        k = f.get("kpis")
        tc: TimeComponents | None = f.get("components")
        table.add_row(f"{line.id} {line.name}", _pct(k.availability if k else None),
                      _pct(k.effectiveness if k else None), _pct(k.quality if k else None),
                      _pct(k.oee if k else None), f"{tc.gq:,}" if tc else "-",
                      f"{tc.sq:,}" if tc else "-", f"{tc.rq:,}" if tc else "-")
    return table


def _energy_table(plant: PlantConfig, figures: dict[str, dict[str, Any]],
                  units: dict[str, str], lang: Lang) -> Table:
    _ = translator(lang)
    table = Table(title=_("energy per line and carrier (standard coal equivalent)"))
    for index, name in enumerate((_("line"), _("carrier"), _("quantity"), _("kgce"))):
        table.add_column(name, justify="left" if index < 2 else "right")
    total = 0.0
    for line in plant.lines:
        for carrier, (quantity, kgce) in sorted(figures.get(line.id, {}).get("energy", {}).items()):
            table.add_row(line.id, carrier_name(carrier, lang),
                          f"{quantity:,.1f} {unit_name(units.get(carrier, ''), lang)}",
                          f"{kgce:,.1f}")
            total += kgce
    table.add_row(_("all"), "", "", f"{total:,.1f}", style="bold")
    return table


def _units() -> dict[str, str]:
    from plantstream.analytics import load_coefficients

    return {name: c.unit for name, c in load_coefficients().carriers.items()}


class LiveView:
    def __init__(self, *, plant: PlantConfig, influx: InfluxQL, start_ms: int,
                 sim_seconds: float, lang: Lang = "en") -> None:
        self.plant = plant
        self.lang = lang
        self.influx = influx
        self.start_ms = start_ms
        self.sim_seconds = sim_seconds
        self.tz = ZoneInfo(plant.sites[0].timezone)
        self._last_query = 0.0
        self._figures: dict[str, dict[str, Any]] = {}
        self._rate_mark = (time.monotonic(), 0, 0)
        self._rates = (0.0, 0.0)
        self._last_print = 0.0
        self._units = _units()

    def _status(self, agents: Sequence[EdgeAgent], stored: int | None) -> str:
        horizon = min(a.horizon_ms for a in agents)
        done = min(1.0, (horizon - self.start_ms) / 1000 / self.sim_seconds)
        published = sum(a.uplink.stats.published_batches for a in agents)
        samples = sum(a.closed_samples for a in agents)
        now = time.monotonic()
        mark_t, mark_batches, mark_samples = self._rate_mark
        if now - mark_t >= 1.0:
            self._rates = ((published - mark_batches) / (now - mark_t),
                           (samples - mark_samples) / (now - mark_t))
            self._rate_mark = (now, published, samples)
        local = dt.datetime.fromtimestamp(horizon / 1000, self.tz).strftime("%Y-%m-%d %H:%M")
        queued = sum(len(a.queue) for a in agents)
        _ = translator(self.lang)
        text = _("plant time {local} ({zone})  [{done}%]  batches published {published} "
                 "({batch_rate} msg/s), queued {queued}  samples {samples} "
                 "({sample_rate}/s)").format(
            local=local, zone=self.tz.key, done=f"{done * 100:5.1f}", published=f"{published:,}",
            batch_rate=f"{self._rates[0]:,.0f}", queued=queued, samples=f"{samples:,}",
            sample_rate=f"{self._rates[1]:,.0f}")
        if stored is not None:
            closed = sum(a.closed_batches for a in agents)
            text += "\n" + _("waiting for ingest: {stored} of {closed} batches stored").format(
                stored=f"{stored:,}", closed=f"{closed:,}")
        return text

    @contextlib.contextmanager
    def live(self) -> Iterator[Refresh]:
        console = Console()
        interactive = sys.stdout.isatty()

        def render(agents: Sequence[EdgeAgent], stored: int | None = None) -> Group:
            if time.monotonic() - self._last_query >= 1.0:
                self._figures = line_figures(self.influx, self.start_ms)
                self._last_query = time.monotonic()
            return Group(self._status(agents, stored),
                         _oee_table(self.plant, self._figures, self.lang),
                         _energy_table(self.plant, self._figures, self._units, self.lang))

        if interactive:
            with Live(console=console, refresh_per_second=4, transient=False) as live:
                yield lambda agents, stored=None: live.update(render(agents, stored))
        else:
            def refresh(agents: Sequence[EdgeAgent], stored: int | None = None) -> None:
                if time.monotonic() - self._last_print >= 5.0:
                    self._last_print = time.monotonic()
                    print(self._status(agents, stored), flush=True)
            yield refresh


def print_summary(*, plant: PlantConfig, influx: InfluxQL, start_ms: int, end_ms: int,
                  batches: int, samples: int, wall_s: float, database: str, influx_url: str,
                  state_dir: Path, lang: Lang = "en") -> None:
    _ = translator(lang)
    console = Console(width=None if sys.stdout.isatty() else 110)
    tz = ZoneInfo(plant.sites[0].timezone)
    span = (dt.datetime.fromtimestamp(start_ms / 1000, tz).strftime("%Y-%m-%d %H:%M"),
            dt.datetime.fromtimestamp(end_ms / 1000, tz).strftime("%H:%M %Z"))
    figures = line_figures(influx, start_ms, end_ms)
    console.print()
    console.print(_("[bold]Summary[/bold]: plant time {start} to {end}, {batches} batches and "
                    "{samples} raw samples in {seconds} s ({sample_rate} samples/s, "
                    "{batch_rate} batches/s)").format(
        start=span[0], end=span[1], batches=f"{batches:,}", samples=f"{samples:,}",
        seconds=f"{wall_s:.0f}", sample_rate=f"{samples / max(wall_s, 1e-9):,.0f}",
        batch_rate=f"{batches / max(wall_s, 1e-9):,.0f}"))
    console.print(_oee_table(plant, figures, lang))
    console.print(_energy_table(plant, figures, _units(), lang))
    counts = {"sample": count_samples(influx)}  # schema v2: a field per signal
    counts |= {s.name: s.values[0][1] for s in influx.query(
        'SELECT count("code") FROM "state"; '
        'SELECT count("apt_s") FROM "oee_components"; SELECT count("quantity") FROM "energy"; '
        'SELECT count("good") FROM "production"')}
    console.print(_("Data: InfluxDB {url}, database [bold]{database}[/bold] (files under "
                    "{path}).").format(url=influx_url, database=database,
                                       path=state_dir / "influxdb"))
    console.print(_("Measurements: {counts}").format(counts=", ".join(
        _("{name} {n} points").format(name=name, n=f"{n:,}") for name, n in counts.items())))
    console.print(_("Example InfluxQL (restart the stack with `{command}`):").format(
        command=f"plantstream stack --state-dir {state_dir}"))
    console.print(f"  SELECT sum(\"apt_s\") / sum(\"pbt_s\") AS availability FROM "
                  f"\"oee_components\" WHERE time >= {start_ms}ms GROUP BY \"line\"")
    console.print(f"  SELECT sum(\"kgce\") FROM \"energy\" WHERE time >= {start_ms}ms "
                  f"GROUP BY time(1h), \"carrier\" tz('{tz.key}')")
