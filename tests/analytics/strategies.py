"""Hypothesis strategies shared by the analytics property tests."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import strategies as st

CODES = [10000.0, 20000.0, 15000.0, 30000.0, 35000.0, 40000.0, 50000.0, 45000.0, 60000.0,
         110000.0, 150000.0, 160000.0, 170000.0, 190000.0, 215000.0, 220000.0, 5.0,
         999999.0, math.nan]


@dataclass
class Series:
    times: list[int]
    values: list[float]
    segments: list[int]
    seg_start: list[int]
    seg_end: list[int]


@st.composite
def windows(draw: st.DrawFn, lo: int = -1000, hi: int = 21000) -> list[int]:
    return sorted(draw(st.sets(st.integers(lo, hi), min_size=2, max_size=8)))


@st.composite
def series(draw: st.DrawFn, values: st.SearchStrategy[float], max_series: int = 3,
           max_samples: int = 25, t_hi: int = 20000, allow_duplicates: bool = True
           ) -> Series:
    n_series = draw(st.integers(1, max_series))
    times: list[int] = []
    vals: list[float] = []
    segments = [0]
    seg_start: list[int] = []
    seg_end: list[int] = []
    for _ in range(n_series):
        ts = draw(st.lists(st.integers(0, t_hi), max_size=max_samples))
        ts = sorted(ts) if allow_duplicates else sorted(set(ts))
        vs = [draw(values) for _ in ts]
        times += ts
        vals += vs
        segments.append(len(times))
        seg_start.append(draw(st.integers(-500, ts[0] if ts else t_hi)))
        seg_end.append(draw(st.integers((ts[-1] + 1) if ts else seg_start[-1] + 1,
                                        t_hi + 2000)))
    return Series(times=times, values=vals, segments=segments, seg_start=seg_start,
                  seg_end=seg_end)


@st.composite
def calendars(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    points = sorted(draw(st.sets(st.integers(-1000, 21000), max_size=6)))
    kinds = [draw(st.integers(0, 2)) for _ in points]
    return [-(2**63), *points], [0, *kinds]
