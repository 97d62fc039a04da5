"""Indicators, benchmarks, scores and classes of "Each Mu is a Hero" (pure: no I/O).

Every indicator is a ratio of two summed inputs; a benchmark is the same ratio of the
inputs summed over the benchmark group (sum / sum, never an average of enterprise
ratios) or a configured value. docs/each-mu.md gives every formula and a worked
example. An enterprise with a missing input is not evaluable, with the missing inputs
named; it is never scored as zero.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from plantstream.reports.mu.config import CLASSES, IndicatorName, Jurisdiction, rank_counts

__all__ = [
    "DEFINITIONS",
    "BenchmarkResult",
    "EnterpriseInputs",
    "EnterpriseResult",
    "Evaluation",
    "IndicatorDefinition",
    "IndicatorResult",
    "NextClass",
    "evaluate",
    "next_class",
]

SCORE_DECIMALS = 6


@dataclass(frozen=True, slots=True)
class IndicatorDefinition:
    name: IndicatorName
    label: str
    unit: str
    numerator: str  # input name
    denominator: str  # input name
    divisor: float  # the numerator is divided by this first (yuan -> 10,000 yuan)


DEFINITIONS: Final[Mapping[str, IndicatorDefinition]] = {d.name: d for d in (
    IndicatorDefinition("tax_per_mu", "Tax paid per mu", "10,000 yuan/mu", "tax_paid_yuan",
                        "land_area_mu", 10_000.0),
    IndicatorDefinition("value_added_per_mu", "Industrial value added per mu",
                        "10,000 yuan/mu", "value_added_yuan", "land_area_mu", 10_000.0),
    IndicatorDefinition("value_added_per_tce", "Value added per tonne of standard coal",
                        "10,000 yuan/tce", "value_added_yuan", "controlled_tce", 10_000.0),
    IndicatorDefinition("value_added_per_emission",
                        "Value added per tonne of main pollutant emissions", "10,000 yuan/t",
                        "value_added_yuan", "emissions_t", 10_000.0),
    IndicatorDefinition("rd_share", "R&D expenditure / main business revenue", "share",
                        "rd_expenditure_yuan", "main_revenue_yuan", 1.0),
    IndicatorDefinition("labour_productivity", "Value added per employee",
                        "10,000 yuan/person", "value_added_yuan", "employees", 10_000.0),
)}


@dataclass(frozen=True, slots=True, kw_only=True)
class EnterpriseInputs:
    """One enterprise's inputs summed over the evaluation period; None = missing.

    `employees` is the average of the monthly head counts; `emissions_t` the weighted sum
    of the jurisdiction's main pollutants in tonnes; `controlled_tce` the measured
    controlled consumption (the dual-control basis). `missing` names, per input, what
    exactly is missing (e.g. "site-a 2026-03 tax_paid_yuan").
    """

    enterprise: str
    name: str = ""
    industry: str = ""
    land_area_mu: float | None = None
    tax_paid_yuan: float | None = None
    value_added_yuan: float | None = None
    main_revenue_yuan: float | None = None
    rd_expenditure_yuan: float | None = None
    employees: float | None = None
    emissions_t: float | None = None
    controlled_tce: float | None = None
    missing: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def value(self, name: str) -> float | None:
        value: float | None = getattr(self, name)
        return value


@dataclass(frozen=True, slots=True, kw_only=True)
class IndicatorResult:
    indicator: IndicatorName
    value: float | None  # None: missing input, or no emissions at all
    benchmark: float | None
    ratio: float | None  # value / benchmark before the cap
    points: float | None  # weight x min(max(ratio, 0), cap); None: not evaluable
    weight: float
    cap: float
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class EnterpriseResult:
    enterprise: str
    group: str  # the benchmark group ("" = the whole jurisdiction)
    evaluable: bool
    missing: tuple[str, ...]
    indicators: tuple[IndicatorResult, ...]
    score: float | None
    klass: str | None
    rank: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchmarkResult:
    group: str
    indicator: IndicatorName
    value: float | None
    source: str  # "aggregate" or "configured"
    numerator_total: float  # in the indicator's unit (yuan already divided)
    denominator_total: float
    enterprises: int  # evaluable enterprises summed


@dataclass(frozen=True, kw_only=True)  # no slots: a cached look-up by id
class Evaluation:
    jurisdiction: Jurisdiction
    enterprises: tuple[EnterpriseResult, ...]  # evaluable by rank, then not evaluable by id
    benchmarks: tuple[BenchmarkResult, ...]
    class_counts: Mapping[str, int]
    # the least score of each class: the threshold, or (rank shares) the lowest score
    # ranked into the class this period (None: the class is empty)
    class_bars: Mapping[str, float | None]

    def result(self, enterprise: str) -> EnterpriseResult | None:
        return self._by_id.get(enterprise)

    @functools.cached_property
    def _by_id(self) -> dict[str, EnterpriseResult]:
        return {r.enterprise: r for r in self.enterprises}


@dataclass(frozen=True, slots=True, kw_only=True)
class NextClass:
    """What moves an enterprise to the next better class."""

    target_class: str
    bar_score: float
    points_needed: float
    indicator: IndicatorName  # the largest weighted gap
    weighted_gap_points: float  # weight x cap - points of that indicator
    value_now: float | None
    value_needed: float | None  # that indicator alone reaching the bar; None: beyond its cap
    gaps: tuple[tuple[IndicatorName, float], ...]  # every indicator's weighted gap


def _group(jurisdiction: Jurisdiction, inputs: EnterpriseInputs) -> str:
    return inputs.industry if jurisdiction.benchmark_group == "industry" else ""


def _needed(jurisdiction: Jurisdiction) -> list[str]:
    names: list[str] = []
    for weight in jurisdiction.indicators:
        d = DEFINITIONS[weight.indicator]
        for name in (d.numerator, d.denominator):
            if name not in names:
                names.append(name)
    return names


# a zero denominator leaves the indicator undefined (not evaluable), except emissions:
# an enterprise without main-pollutant emissions gets the indicator's full points
_ZERO_IS_MISSING = {"land_area_mu", "controlled_tce", "main_revenue_yuan", "employees"}


def _missing(jurisdiction: Jurisdiction, inputs: EnterpriseInputs) -> list[str]:
    out: list[str] = []
    if jurisdiction.benchmark_group == "industry" and not inputs.industry:
        out.append("industry (the enterprise's industry code, for the industry benchmark)")
    for name in _needed(jurisdiction):
        value = inputs.value(name)
        if value is None:
            out.extend(inputs.missing.get(name) or (name,))
        elif name in _ZERO_IS_MISSING and value <= 0:
            out.append(f"{name} is {value:g} (a ratio needs a positive {name})")
    return out


def _round(value: float) -> float:
    rounded = round(value, SCORE_DECIMALS)
    return 0.0 if rounded == 0 else rounded


def evaluate(inputs: Sequence[EnterpriseInputs], jurisdiction: Jurisdiction) -> Evaluation:
    """Indicators, benchmarks, scores, classes and ranks of a jurisdiction's enterprises."""
    ids = [i.enterprise for i in inputs]
    if len(set(ids)) != len(ids):
        raise ValueError("an enterprise is given twice")
    missing = {i.enterprise: _missing(jurisdiction, i) for i in inputs}
    groups: dict[str, list[EnterpriseInputs]] = defaultdict(list)
    for i in inputs:
        groups[_group(jurisdiction, i)].append(i)

    benchmarks: list[BenchmarkResult] = []
    bench_of: dict[tuple[str, str], float | None] = {}
    no_emissions: set[str] = set()
    for group in sorted(groups):
        members = [i for i in groups[group] if not missing[i.enterprise]]
        for weight in jurisdiction.indicators:
            d = DEFINITIONS[weight.indicator]
            num = math.fsum(i.value(d.numerator) or 0.0 for i in members) / d.divisor
            den = math.fsum(i.value(d.denominator) or 0.0 for i in members)
            value: float | None
            if weight.benchmark is not None:
                value, source = weight.benchmark, "configured"
            else:
                value = num / den if den > 0 and 0 < num / den < math.inf else None
                source = "aggregate"
            bench_of[(group, weight.indicator)] = value
            if value is None and d.denominator == "emissions_t" and (
                    den == 0 or (num > 0 and num / den == math.inf)):
                # nobody emits (or the total is below any float ratio): every member gets
                # the full points
                no_emissions.add(group)
            benchmarks.append(BenchmarkResult(group=group, indicator=weight.indicator,
                                              value=value, source=source, numerator_total=num,
                                              denominator_total=den, enterprises=len(members)))
    for i in inputs:
        group = _group(jurisdiction, i)
        for weight in jurisdiction.indicators:
            if weight.indicator == "value_added_per_emission" and group in no_emissions:
                continue
            if bench_of[(group, weight.indicator)] is None and not missing[i.enterprise]:
                missing[i.enterprise].append(
                    f"benchmark of {weight.indicator} in group {group or 'all'!r} is "
                    "undefined (no evaluable enterprise with a positive total)")

    results: dict[str, tuple[list[IndicatorResult], float | None]] = {}
    for i in inputs:
        group = _group(jurisdiction, i)
        evaluable = not missing[i.enterprise]
        figures: list[IndicatorResult] = []
        for weight in jurisdiction.indicators:
            d = DEFINITIONS[weight.indicator]
            benchmark = bench_of[(group, weight.indicator)]
            top, bottom = i.value(d.numerator), i.value(d.denominator)
            figure = top / d.divisor / bottom \
                if top is not None and bottom is not None and bottom > 0 else None
            note = ""
            if figure is not None and not math.isfinite(figure):  # a denominator near 0
                figure, note = None, "value beyond the float range: counted at the cap"
            ratio = figure / benchmark if figure is not None and benchmark else None
            if ratio is not None and not math.isfinite(ratio):
                ratio, note = None, "ratio beyond the float range: counted at the cap"
            points: float | None = None
            if evaluable and note:
                points = weight.weight * weight.cap
            elif evaluable and ratio is not None:
                points = weight.weight * min(max(ratio, 0.0), weight.cap)
            elif evaluable and d.denominator == "emissions_t" and bottom == 0:
                points = weight.weight * weight.cap
                note = "no main-pollutant emissions: full points (the cap)"
            figures.append(IndicatorResult(
                indicator=weight.indicator, value=figure, benchmark=benchmark, ratio=ratio,
                points=points, weight=weight.weight, cap=weight.cap, note=note))
        score = _round(math.fsum(f.points or 0.0 for f in figures)) if evaluable else None
        results[i.enterprise] = (figures, score)

    ranked = sorted((i.enterprise for i in inputs if not missing[i.enterprise]),
                    key=lambda e: (-(results[e][1] or 0.0), e))
    classes: dict[str, str] = {}
    bars: dict[str, float | None] = {}
    if jurisdiction.classes.method == "thresholds":
        t = jurisdiction.classes.thresholds
        bars = {"A": t["A"], "B": t["B"], "C": t["C"], "D": 0.0}
        for e in ranked:
            value = results[e][1] or 0.0
            classes[e] = next((c for c in ("A", "B", "C") if value >= t[c]), "D")
    else:
        counts = rank_counts(jurisdiction.classes.shares, len(ranked))
        position = 0
        for c in CLASSES:
            in_class = ranked[position:position + counts[c]]
            for e in in_class:
                classes[e] = c
            bars[c] = results[in_class[-1]][1] if in_class else None
            position += counts[c]
    counts_out: dict[str, int] = {c: sum(1 for v in classes.values() if v == c) for c in CLASSES}
    by_id = {i.enterprise: i for i in inputs}
    out: list[EnterpriseResult] = []
    for rank, e in enumerate(ranked, start=1):
        figures, score = results[e]
        out.append(EnterpriseResult(enterprise=e, group=_group(jurisdiction, by_id[e]),
                                    evaluable=True, missing=(), indicators=tuple(figures),
                                    score=score, klass=classes[e], rank=rank))
    for e in sorted(set(ids) - set(ranked)):
        figures, _ = results[e]
        out.append(EnterpriseResult(enterprise=e, group=_group(jurisdiction, by_id[e]),
                                    evaluable=False, missing=tuple(missing[e]),
                                    indicators=tuple(figures), score=None, klass=None,
                                    rank=None))
    return Evaluation(jurisdiction=jurisdiction, enterprises=tuple(out),
                      benchmarks=tuple(benchmarks), class_counts=counts_out, class_bars=bars)


def next_class(result: EnterpriseResult, evaluation: Evaluation) -> NextClass | None:
    """The next better class, the points it needs, and the indicator with the largest
    weighted gap (weight x cap - points: the points it can still add) with the value it
    alone would need. None for class A, a not evaluable enterprise, or an empty class."""
    if result.klass is None or result.score is None or result.klass == "A":
        return None
    target = CLASSES[CLASSES.index(result.klass) - 1]  # type: ignore[arg-type]
    bar = evaluation.class_bars.get(target)
    if bar is None:
        return None
    needed = _round(max(bar - result.score, 0.0))
    gaps = tuple((f.indicator, _round(f.weight * f.cap - (f.points or 0.0)))
                 for f in result.indicators)
    best = max(range(len(gaps)), key=lambda k: (gaps[k][1], -k))
    figure = result.indicators[best]
    value_needed = None
    if figure.benchmark is not None and figure.ratio is not None:
        ratio_needed = min(max(figure.ratio, 0.0), figure.cap) + needed / figure.weight
        if ratio_needed <= figure.cap:
            value_needed = ratio_needed * figure.benchmark
    return NextClass(target_class=target, bar_score=bar, points_needed=needed,
                     indicator=figure.indicator, weighted_gap_points=gaps[best][1],
                     value_now=figure.value, value_needed=value_needed, gaps=gaps)
