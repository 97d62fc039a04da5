"""Properties of the pure scoring (plantstream.reports.mu.scoring) and config checks."""

from __future__ import annotations

import dataclasses
import math
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import hypothesis
import msgspec
import pytest
from hypothesis import strategies as st

from plantstream.errors import ConfigError
from plantstream.reports.mu import EnterpriseInputs, evaluate, load_each_mu, next_class
from plantstream.reports.mu.config import Classes, IndicatorWeight, Jurisdiction

EXAMPLE = Path(__file__).resolve().parents[2] / "reports" / "mu" / "example.toml"

INDICATORS = [IndicatorWeight(indicator="tax_per_mu", weight=30.0, cap=1.5),
              IndicatorWeight(indicator="value_added_per_mu", weight=20.0, cap=1.5),
              IndicatorWeight(indicator="value_added_per_tce", weight=20.0, cap=2.0),
              IndicatorWeight(indicator="value_added_per_emission", weight=10.0, cap=1.5),
              IndicatorWeight(indicator="rd_share", weight=10.0, cap=1.5),
              IndicatorWeight(indicator="labour_productivity", weight=10.0, cap=1.5)]


def jurisdiction(classes: Classes | None = None,
                 group: str = "industry") -> Jurisdiction:
    return Jurisdiction(id="j", name="J", indicators=INDICATORS, benchmark_group=group,  # type: ignore[arg-type]
                        classes=classes or Classes(method="thresholds",
                                                   thresholds={"A": 100, "B": 80, "C": 60}),
                        pollutants={"cod": 1.0})


money = st.floats(min_value=1.0, max_value=1e9, allow_nan=False)


@st.composite
def enterprise(draw: st.DrawFn, name: str, industry: str) -> EnterpriseInputs:
    return EnterpriseInputs(
        enterprise=name, industry=industry,
        land_area_mu=draw(st.floats(min_value=0.5, max_value=5000)),
        tax_paid_yuan=draw(money), value_added_yuan=draw(money),
        main_revenue_yuan=draw(money), rd_expenditure_yuan=draw(money),
        employees=draw(st.floats(min_value=1, max_value=1e5)),
        emissions_t=draw(st.floats(min_value=0, max_value=1e4)),
        controlled_tce=draw(st.floats(min_value=0.1, max_value=1e6)))


@st.composite
def jurisdiction_inputs(draw: st.DrawFn) -> list[EnterpriseInputs]:
    n = draw(st.integers(min_value=1, max_value=12))
    return [draw(enterprise(f"e{i:02d}", draw(st.sampled_from(["C1", "C2"]))))
            for i in range(n)]


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(inputs=jurisdiction_inputs(), outsider=enterprise("zz-outsider", "C9"),
                  changed=enterprise("zz-outsider", "C9"))
def test_a_score_ignores_enterprises_outside_its_benchmark_group(
        inputs: list[EnterpriseInputs], outsider: EnterpriseInputs,
        changed: EnterpriseInputs) -> None:
    j = jurisdiction()
    before = evaluate([*inputs, outsider], j)
    after = evaluate([*inputs, changed], j)
    for e in inputs:
        a, b = before.result(e.enterprise), after.result(e.enterprise)
        assert a is not None and b is not None
        assert (a.score, a.klass, a.indicators) == (b.score, b.klass, b.indicators)


shares = st.lists(st.integers(min_value=0, max_value=20), min_size=4, max_size=4).filter(
    lambda xs: sum(xs) > 0)


@hypothesis.settings(max_examples=80, deadline=None)
@hypothesis.given(inputs=jurisdiction_inputs(), weights=shares)
def test_rank_shares_give_the_configured_counts(inputs: list[EnterpriseInputs],
                                                weights: list[int]) -> None:
    total = sum(weights)
    # shares with two decimals summing to exactly 1 (the rest goes to D)
    parts = [Decimal(w * 100 // total) / 100 for w in weights[:3]]
    parts.append(Decimal(1) - sum(parts))
    share = {c: float(p) for c, p in zip("ABCD", parts, strict=True)}
    evaluation = evaluate(inputs, jurisdiction(Classes(method="rank_shares", shares=share)))
    n = len(inputs)
    assert all(r.evaluable for r in evaluation.enterprises)  # complete inputs
    cumulative, bound_before, expected = Decimal(0), 0, {}
    for c, p in zip("ABCD", parts, strict=True):
        cumulative += p
        bound = int((cumulative * n).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        expected[c] = min(bound, n) - bound_before
        bound_before = min(bound, n)
    assert dict(evaluation.class_counts) == expected
    ranked = [r for r in evaluation.enterprises if r.evaluable]
    assert [r.rank for r in ranked] == list(range(1, n + 1))
    assert [r.klass for r in ranked] == sorted(r.klass or "" for r in ranked)
    scores = [r.score or 0.0 for r in ranked]
    assert scores == sorted(scores, reverse=True)


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(inputs=jurisdiction_inputs())
def test_doubling_every_enterprises_land_halves_every_per_mu_indicator(
        inputs: list[EnterpriseInputs]) -> None:
    j = jurisdiction()
    doubled = [dataclasses.replace(e, land_area_mu=2 * (e.land_area_mu or 0.0))
               for e in inputs]
    before, after = evaluate(inputs, j), evaluate(doubled, j)
    for e in inputs:
        a, b = before.result(e.enterprise), after.result(e.enterprise)
        assert a is not None and b is not None
        for fa, fb in zip(a.indicators, b.indicators, strict=True):
            if fa.indicator.endswith("_per_mu"):
                assert fa.value is not None and fb.value == fa.value / 2
                assert fa.benchmark is not None and fb.benchmark == fa.benchmark / 2
            else:
                assert fb.value == fa.value
        assert b.score == pytest.approx(a.score, abs=2e-6)


def test_missing_input_is_never_zero() -> None:
    complete = EnterpriseInputs(enterprise="a", industry="C1", land_area_mu=10,
                                tax_paid_yuan=1e6, value_added_yuan=1e7,
                                main_revenue_yuan=5e7, rd_expenditure_yuan=1e6, employees=50,
                                emissions_t=2, controlled_tce=100)
    no_tax = dataclasses.replace(complete, enterprise="b", tax_paid_yuan=None,
                                 missing={"tax_paid_yuan": ("site-b 2026-03 tax_paid_yuan",)})
    zero_energy = dataclasses.replace(complete, enterprise="c", controlled_tce=0.0)
    evaluation = evaluate([complete, no_tax, zero_energy], jurisdiction())
    b, c = evaluation.result("b"), evaluation.result("c")
    assert b is not None and c is not None
    assert (b.evaluable, b.score, b.klass, b.missing) == \
        (False, None, None, ("site-b 2026-03 tax_paid_yuan",))
    assert not c.evaluable and "controlled_tce is 0" in c.missing[0]
    only = evaluation.result("a")
    assert only is not None and only.score == 100.0  # alone: its own benchmark, ratio 1
    assert next_class(b, evaluation) is None


def test_configured_benchmark_replaces_the_aggregate() -> None:
    fixed = Jurisdiction(id="j", name="J", indicators=[
        IndicatorWeight(indicator="tax_per_mu", weight=100.0, cap=2.0, benchmark=5.0)],
        classes=Classes(method="thresholds", thresholds={"A": 100, "B": 50, "C": 25}),
        benchmark_group="jurisdiction")
    e = EnterpriseInputs(enterprise="a", land_area_mu=10, tax_paid_yuan=400_000)  # 4 / mu
    evaluation = evaluate([e], fixed)
    [result] = evaluation.enterprises
    assert result.indicators[0].benchmark == 5.0 and result.score == 80.0
    assert result.klass == "B"
    lever = next_class(result, evaluation)
    assert lever is not None and lever.value_needed == 5.0 and lever.points_needed == 20.0


def test_the_example_configuration_loads_and_says_it_is_an_example() -> None:
    config = load_each_mu(EXAMPLE)
    assert config.note.startswith("EXAMPLE")
    for j in config.jurisdictions:
        assert math.isclose(sum(i.weight for i in j.indicators), 100.0)


@pytest.mark.parametrize(("patch", "key"), [
    ('classes = { method = "thresholds", thresholds = { A = 60.0, B = 80.0, C = 40.0 } }',
     "classes.thresholds"),
    ('classes = { method = "rank_shares", shares = { A = 0.5, B = 0.5, C = 0.5, D = 0.0 } }',
     "classes.shares"),
    ('classes = { method = "thresholds", thresholds = { A = 90.0, B = 80.0, C = 70.0 } }\n'
     "weight_typo = 1", "weight_typo"),
])
def test_bad_configuration_is_an_error_naming_the_key(tmp_path: Path, patch: str,
                                                      key: str) -> None:
    text = f"""
[[jurisdictions]]
id = "j"
name = "J"
{patch}
[[jurisdictions.indicators]]
indicator = "tax_per_mu"
weight = 100.0
cap = 1.5
"""
    path = tmp_path / "each-mu.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_each_mu(path)
    assert key in str(info.value)


def test_config_struct_round_trips() -> None:
    config = load_each_mu(EXAMPLE)
    assert msgspec.convert(msgspec.to_builtins(config), type(config)) == config
