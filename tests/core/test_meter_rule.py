"""The one register rule (`plantstream.meter_rule`): the worked examples of its
docstring and docs/analytics.md. The edge batcher calls it; the analytics kernel is
compared with it on random readings (tests/analytics/test_kernels.py)."""

from __future__ import annotations

import pytest

from plantstream.meter_rule import meter_step


def walk(raws: list[int], **options: object) -> tuple[int, list[str], int]:
    """(total consumption, step kinds, final base) over a 16-bit register."""
    base, total, kinds = raws[0], 0, []
    for raw in raws[1:]:
        step = meter_step(base, raw, modulus=2**16, **options)  # type: ignore[arg-type]
        total += step.consumption
        kinds.append(step.kind)
        base = step.base
    return total, kinds, base


@pytest.mark.parametrize(("raws", "options", "want"), [
    ([30000, 29999, 30005, 30010], {}, (10, ["jitter", "step", "step"], 30010)),
    ([30000, 29999, 29998, 29999], {}, (0, ["jitter", "jitter", "jitter"], 30000)),
    ([65530, 65534, 2, 7], {}, (13, ["step", "rollover", "step"], 7)),
    ([65535, 0, 65535, 2], {}, (3, ["rollover", "jitter", "step"], 2)),
    ([20000, 3], {}, (3, ["reset"], 3)),
    ([40000, 30000, 30004], {}, (4, ["backward", "step"], 30004)),
    ([1000, 9000, 9010], {"max_delta": 500}, (10, ["jump", "step"], 9010)),
    ([30000, 29990], {"jitter": 10}, (0, ["jitter"], 30000)),
    ([30000, 29990], {"jitter": 0}, (0, ["backward"], 29990)),
])
def test_worked_examples(raws: list[int], options: dict[str, object],
                         want: tuple[int, list[str], int]) -> None:
    assert walk(raws, **options) == want


def test_without_modulus_a_drop_is_never_a_rollover() -> None:
    step = meter_step(900.0, 10.0, modulus=None)
    assert (step.kind, step.consumption) == ("reset", 10.0)
