"""The one rule for cumulative registers (energy, gas, steam and water meters, part
counters): consumption between two readings.

Pure Python, no dependencies: the edge batcher (`edge.batcher`) uses it directly; the
analytics kernel (`analytics._kernels.register_deltas`) mirrors it in numba and a
property test checks both give the same result on random readings.

State: the *base*, the highest reading counted so far (the high-water mark). For a
reading `raw` after base `base` (both in register units), with `back = base - raw`:

=====================  ========================================  ===========  ========
kind                   when                                      consumption  new base
=====================  ========================================  ===========  ========
``step``               raw >= base                               raw - base   raw
``jitter``             0 < back <= jitter, or a rise of all but  0            base
                       `jitter` of the range (back across the
                       wrap: base 0, raw modulus - 1)
``rollover``           the register rolls over (`modulus`) and   raw +        raw
                       back > modulus / 2 (consistent with       modulus -
                       wrapping at the top)                      base
``reset``              otherwise, raw <= back (it fell to less   raw          raw
                       than half of the base: restarted at 0)
``backward``           any other drop (flagged, not counted)     0            raw
``jump``               the consumption of a step, rollover or    0            raw
                       reset is above `max_delta` (more than
                       the meter's maximum power over the
                       interval: flagged, not counted)
=====================  ========================================  ===========  ========

A jitter step never adds: the base stays at the high-water mark, so a meter that reads
one count low now and then adds nothing. A flagged step (``backward``, ``jump``)
re-bases on the new reading (a replaced meter counts on from its new reading). With
`max_delta` set, one bad reading costs nothing either way: a spike up is a ``jump``
and the return a ``backward`` step or a reset too large to be real (a ``jump``); a dip
down is a ``backward`` step (or a reset) and the return a ``jump``. Without it, a
spike up is counted: configure the meter's maximum rate where misreads happen.

Worked examples (16-bit register, modulus 65536, jitter 3):

* 30000, 29999, 30005, 30010 -> 0 (jitter), 5, 5: **10**, base 30000 -> 30010;
* 65535, 0, 65535, 2 -> 1 (rollover), 0 (jitter back across the wrap), 2: **3**;
* 65530, 65534, 2, 7 -> 4, 4 (rollover: 2 + 65536 - 65534), 5: **13**;
* 20000, 3 -> a wrap would be 45539 (> 32768, not plausible), 3 <= 19997: a reset, **3**;
* 40000, 30000 -> 10000 back, no wrap, 30000 > 10000: ``backward``, **0**, base 30000;
* 1000, 9000 with `max_delta` 500 -> ``jump``, **0**, base 9000;
* the edge and analytics give the same numbers: both use this rule (a property test
  compares the numba mirror with it on random readings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Generic, Literal, TypeVar

__all__ = ["DEFAULT_JITTER", "KINDS", "MeterStep", "StepKind", "meter_step"]

StepKind = Literal["step", "jitter", "rollover", "reset", "backward", "jump"]
KINDS: Final[tuple[StepKind, ...]] = ("step", "jitter", "rollover", "reset", "backward",
                                      "jump")
DEFAULT_JITTER: Final = 3  # register units: a backward step this small is jitter

N = TypeVar("N", int, float)  # integer counts at the edge, floats in analytics


@dataclass(frozen=True, slots=True)
class MeterStep(Generic[N]):
    consumption: N
    base: N  # the base for the next reading
    kind: StepKind


def meter_step(base: N, raw: N, *, modulus: N | None = None,
               jitter: float = DEFAULT_JITTER,
               max_delta: float | None = None) -> MeterStep[N]:
    """Consumption from `base` (the high-water mark) to the reading `raw`.

    `modulus`: where the register rolls over to 0 (2**16, 1e6...; None: never).
    `jitter`: the largest backward step that is read-out noise (>= 0).
    `max_delta`: the most the meter can really advance over this step (its maximum
    power times the time since the base reading); None: no limit.
    """
    zero = raw - raw
    d = raw - base  # the same operations as the numba mirror, so floats round alike
    kind: StepKind
    if d >= 0 and modulus is not None and modulus - d <= jitter:
        return MeterStep(zero, base, "jitter")  # a count back across the wrap (0 -> top)
    if d >= 0:
        delta, kind = d, "step"
    elif -d <= jitter:
        return MeterStep(zero, base, "jitter")
    elif modulus is not None and -d > 0.5 * modulus:
        delta, kind = d + modulus, "rollover"
    elif raw <= -d:
        delta, kind = raw, "reset"
    else:
        return MeterStep(zero, raw, "backward")
    if max_delta is not None and delta > max_delta:
        return MeterStep(zero, raw, "jump")
    return MeterStep(delta, raw, kind)
