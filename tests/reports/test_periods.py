"""Periods, canonical JSON, token checks: no services needed."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plantstream.reports import ReportInputError, parse_period, seal, verify
from plantstream.reports.canonical import canonical_bytes


@pytest.mark.parametrize(("text", "kind", "start", "end"), [
    ("2026-10-05", "day", dt.date(2026, 10, 5), dt.date(2026, 10, 6)),
    ("2026-12", "month", dt.date(2026, 12, 1), dt.date(2027, 1, 1)),
    ("2026-Q4", "quarter", dt.date(2026, 10, 1), dt.date(2027, 1, 1)),
    ("2026-Q1", "quarter", dt.date(2026, 1, 1), dt.date(2026, 4, 1)),
    ("2028", "year", dt.date(2028, 1, 1), dt.date(2029, 1, 1)),
    ("2026-10-01..2026-10-15", "custom", dt.date(2026, 10, 1), dt.date(2026, 10, 16)),
])
def test_periods(text: str, kind: str, start: dt.date, end: dt.date) -> None:
    period = parse_period(text)
    assert (period.kind, period.start, period.end) == (kind, start, end)


@pytest.mark.parametrize("text", ["2026-13", "2026-02-30", "2026-Q5", "1999", "October",
                                  "2026-10-15..2026-10-01", ""])
def test_bad_periods_say_why(text: str) -> None:
    with pytest.raises(ReportInputError) as info:
        parse_period(text)
    assert info.value.field == "period" and info.value.reason


def test_leap_day_last_year() -> None:
    assert parse_period("2028-02-29").shifted_years(-1).start == dt.date(2027, 2, 28)


@given(st.recursive(st.none() | st.booleans() | st.integers(-10**9, 10**9)
                    | st.floats(allow_nan=False, allow_infinity=False, width=64,
                                min_value=-1e12, max_value=1e12) | st.text(max_size=5),
                    lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.text(max_size=5), children, max_size=4), max_leaves=20))
def test_seal_verifies_and_is_key_order_free(value: object) -> None:
    body = {"figures": value, "b": 1, "a": 2.5}
    document, digest = seal(body)
    assert verify(document)
    assert seal({"a": 2.5, "figures": value, "b": 1}) == (document, digest)
    assert canonical_bytes(body) != document  # the hash is not part of what it covers


def test_floats_are_written_at_six_decimals() -> None:
    assert canonical_bytes({"x": 0.1 + 0.2, "y": -1e-9, "z": 2.0}) == b'{"x":0.3,"y":0.0,"z":2.0}'
