"""The state model: which ISO 22400 time element a machine state code counts as.

A model is exact codes (`StateDef`, from the plant configuration) plus optional code
ranges (`StateRange`, e.g. the UMH-style category ranges in `UMH_RANGES`). An exact
code wins over a range; a narrower range wins over a wider one. A code nothing maps
is *unknown*: it counts as a loss (ADET, and `unknown_s`), never excluded.

Default (`PlantConfig.states`, `plantstream.config.DEFAULT_STATE_MODEL`): exact codes
only. `StateModel.umh()` adds the category ranges below under those exact codes.

| codes | category | element |
|---|---|---|
| 10000-29999 | active (full / reduced speed) | APT |
| 30000-39999 | unknown | unknown (ADET + unknown_s) |
| 40000-59999 | unspecified stop, microstop | ADET, minor-stop candidate |
| 60000-99999 | material (starved, blocked, jams) | ADOT |
| 100000-139999 | process: setup, changeover, cleaning | ASUT |
| 140000-149999 | operator absent | ADOT |
| 150000-159999 | operator break | PLANNED_DOWN |
| 160000-169999 | planning: no shift | NOT_PLANNED |
| 170000-179999 | planning: no order | ADOT |
| 180000-209999 | technical: failures, external interference | ADET |
| 210000-219999 | technical: planned maintenance | PLANNED_DOWN |
| 220000-229999 | technical: other stops | ADET |
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec
import numpy as np
import numpy.typing as npt

from plantstream.analytics import _kernels as K
from plantstream.analytics.errors import AnalyticsInputError
from plantstream.config import Element, StateDef, load_toml

__all__ = [
    "ELEMENT_COLUMN",
    "UMH_RANGES",
    "StateModel",
    "StateModelConfig",
    "StateRange",
    "StateRangeDef",
    "StateTable",
    "load_state_model",
]

ELEMENT_COLUMN: Final[dict[Element, int]] = {
    "APT": K.COL_APT, "ASUT": K.COL_ASUT, "ADET": K.COL_ADET, "ADOT": K.COL_ADOT,
    "PLANNED_DOWN": K.COL_PLANNED_DOWN, "NOT_PLANNED": K.COL_NOT_PLANNED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class StateRange:
    """Codes `low..high` (inclusive) map to `element`; `element=None` means unknown."""

    low: int
    high: int
    name: str
    element: Element | None
    minor_stop_candidate: bool = False

    def __post_init__(self) -> None:
        if self.low > self.high or self.low < 0:
            raise AnalyticsInputError(field=f"state range {self.name}",
                                      reason=f"bad range {self.low}..{self.high}")


UMH_RANGES: Final[tuple[StateRange, ...]] = (
    StateRange(low=10000, high=29999, name="active", element="APT"),
    StateRange(low=30000, high=39999, name="unknown", element=None),
    StateRange(low=40000, high=59999, name="unspecified_stop", element="ADET",
               minor_stop_candidate=True),
    StateRange(low=60000, high=99999, name="material", element="ADOT"),
    StateRange(low=100000, high=139999, name="process_setup", element="ASUT"),
    StateRange(low=140000, high=149999, name="operator_absent", element="ADOT"),
    StateRange(low=150000, high=159999, name="operator_break", element="PLANNED_DOWN"),
    StateRange(low=160000, high=169999, name="no_shift", element="NOT_PLANNED"),
    StateRange(low=170000, high=179999, name="no_order", element="ADOT"),
    StateRange(low=180000, high=209999, name="technical_failure", element="ADET"),
    StateRange(low=210000, high=219999, name="planned_maintenance", element="PLANNED_DOWN"),
    StateRange(low=220000, high=229999, name="technical_other", element="ADET"),
)


@dataclass(frozen=True, slots=True)
class StateTable:
    """The model compiled for the kernels: sorted disjoint inclusive code ranges."""

    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    column: npt.NDArray[np.int8]
    minor: npt.NDArray[np.int8]


class StateModel:
    """Maps state codes to time elements; unknown codes are a loss (ADET), counted."""

    def __init__(self, states: Iterable[StateDef],
                 ranges: Sequence[StateRange] = ()) -> None:
        self._by_code = {s.code: s for s in states}
        self._ranges = tuple(ranges)
        self._table = self._compile()

    @classmethod
    def umh(cls, states: Iterable[StateDef] = ()) -> StateModel:
        """UMH-style category ranges, with `states` (exact codes) taking precedence."""
        return cls(states, UMH_RANGES)

    @property
    def ranges(self) -> tuple[StateRange, ...]:
        return self._ranges

    def element(self, code: int) -> tuple[Element, bool]:
        """`(element, known)` of a state code."""
        state = self._by_code.get(code)
        if state is not None:
            return state.element, True
        match = self._range(code)
        if match is None or match.element is None:
            return "ADET", False
        return match.element, True

    def minor_stop_candidate(self, code: int) -> bool:
        state = self._by_code.get(code)
        if state is not None:
            return state.minor_stop_candidate
        match = self._range(code)
        return bool(match and match.minor_stop_candidate)

    def table(self) -> StateTable:
        return self._table

    def _range(self, code: int) -> StateRange | None:
        best: StateRange | None = None
        for r in self._ranges:
            if r.low <= code <= r.high and (best is None
                                            or r.high - r.low < best.high - best.low):
                best = r
        return best

    def _compile(self) -> StateTable:
        # elementary integer intervals [b_i, b_{i+1}) between every range edge and code
        edges = {c for code in self._by_code for c in (code, code + 1)}
        for r in self._ranges:
            edges.update((r.low, r.high + 1))
        bounds = sorted(edges)
        rows: list[tuple[int, int, int, int]] = []  # low, high, column, minor
        for lo, hi in itertools.pairwise(bounds):
            if lo in self._by_code and hi == lo + 1:
                state = self._by_code[lo]
                col, minor = ELEMENT_COLUMN[state.element], state.minor_stop_candidate
            else:
                match = self._range(lo)
                if match is None:
                    continue
                col = (K.COL_UNKNOWN if match.element is None
                       else ELEMENT_COLUMN[match.element])
                minor = match.minor_stop_candidate
            if rows and rows[-1][1] == lo - 1 and rows[-1][2:] == (col, int(minor)):
                rows[-1] = (rows[-1][0], hi - 1, col, int(minor))
            else:
                rows.append((lo, hi - 1, col, int(minor)))
        return StateTable(
            low=np.array([r[0] for r in rows], dtype=np.float64),
            high=np.array([r[1] for r in rows], dtype=np.float64),
            column=np.array([r[2] for r in rows], dtype=np.int8),
            minor=np.array([r[3] for r in rows], dtype=np.int8))


class StateRangeDef(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A code range in a state-model file; `element` absent means unknown (a loss)."""

    low: int
    high: int
    name: str
    element: Element | None = None
    minor_stop_candidate: bool = False


class StateModelConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A state-model file: exact codes, code ranges, and whether the UMH-style
    category ranges (`UMH_RANGES`) apply under them."""

    umh_ranges: bool = False
    states: list[StateDef] = []
    ranges: list[StateRangeDef] = []

    def model(self) -> StateModel:
        ranges = [StateRange(low=r.low, high=r.high, name=r.name, element=r.element,
                             minor_stop_candidate=r.minor_stop_candidate)
                  for r in self.ranges]
        return StateModel(self.states, [*ranges, *(UMH_RANGES if self.umh_ranges else ())])


def load_state_model(path: str | Path) -> StateModel:
    """Read a state-model TOML file (`StateModelConfig`); errors name the key."""
    return load_toml(path, StateModelConfig).model()
