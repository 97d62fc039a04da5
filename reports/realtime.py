"""The monitoring-platform feed of one site: interval values (15 minutes by default)
per carrier for a local day, daily totals of its month to date and monthly totals of
its year to date, in physical units and kgce (DOMAIN.md section 4)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import msgspec

from plantstream.reports.compute import resolve_scope
from plantstream.reports.config import LoadedConfig
from plantstream.reports.errors import ReportInputError
from plantstream.reports.periods import local_midnight_ms
from plantstream.reports.source import Source, daily_carrier_totals, interval_energy

__all__ = ["Feed", "FeedValue", "realtime_feed"]


class FeedValue(msgspec.Struct, frozen=True):
    start: str  # local ISO 8601 start of the interval, day or month
    carrier: str
    unit: str
    quantity: float
    kgce: float


class Feed(msgspec.Struct, frozen=True):
    site: str
    day: str
    timezone: str
    interval_min: int
    intervals: list[FeedValue]
    daily_totals: list[FeedValue]  # the days of the month up to `day`, inclusive
    monthly_totals: list[FeedValue]  # the months of the year up to `day`'s month


def realtime_feed(loaded: LoadedConfig, source: Source, *, site: str, day: dt.date) -> Feed:
    scope = resolve_scope(loaded, site)
    if scope.type != "site":
        raise ReportInputError(field="site", reason=f"{site!r} is an enterprise, not a site",
                               status=404)
    zone = scope.zone
    minutes = loaded.config.realtime_interval_min
    table = loaded.coefficients
    roles = loaded.config.carriers

    def value(start: str, carrier: str, quantity: float) -> FeedValue:
        row = table.carrier(roles.coefficient_of.get(carrier, carrier))
        if row is None:
            raise ReportInputError(field="carrier",
                                   reason=f"carrier {carrier!r} has no coefficient")
        return FeedValue(start=start, carrier=carrier, unit=row.unit, quantity=quantity,
                         kgce=quantity * row.kgce_per_unit)

    day_end = day + dt.timedelta(days=1)
    intervals = [
        value(dt.datetime.fromtimestamp(t / 1000, tz=zone).isoformat(), carrier, quantity)
        for t, carrier, quantity, _ in interval_energy(
            source.client, site, local_midnight_ms(day, zone), local_midnight_ms(day_end, zone),
            minutes, zone)]
    year_start = dt.date(day.year, 1, 1)
    month_start = dt.date(day.year, day.month, 1)
    # earlier months from the configured source (rollups, when used); the month of `day`
    # from the raw points, which rollups computed overnight do not hold yet
    per_day = daily_carrier_totals(source, [site], local_midnight_ms(year_start, zone),
                                   local_midnight_ms(month_start, zone), zone)
    per_day.update(daily_carrier_totals(Source(client=source.client, kind="raw"), [site],
                                        local_midnight_ms(month_start, zone),
                                        local_midnight_ms(day_end, zone), zone))
    daily = [value(dt.datetime.combine(d, dt.time(0), tzinfo=zone).isoformat(), c, q)
             for (d, c), q in sorted(per_day.items()) if d >= month_start]
    by_month: dict[tuple[dt.date, str], float] = defaultdict(float)
    for (d, c), q in per_day.items():
        by_month[(dt.date(d.year, d.month, 1), c)] += q
    monthly = [value(dt.datetime.combine(m, dt.time(0), tzinfo=zone).isoformat(), c, q)
               for (m, c), q in sorted(by_month.items())]
    return Feed(site=site, day=day.isoformat(), timezone=zone.key, interval_min=minutes,
                intervals=intervals, daily_totals=daily, monthly_totals=monthly)
