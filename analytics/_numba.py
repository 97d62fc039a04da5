"""The one place numba options live.

Kernels are compiled with `cache=True` (compile once per machine, not per process),
`nogil=True` (callers may run them in threads) and never `fastmath` (it assumes no
NaN, and NaN means "missing sample" here). `error_model="numpy"` makes a division by
zero give inf/NaN instead of raising, like numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

from numba import njit

__all__ = ["NJIT_OPTIONS", "kernel"]

NJIT_OPTIONS: Final[dict[str, Any]] = {
    "cache": True,
    "nogil": True,
    "fastmath": False,
    "error_model": "numpy",
    "boundscheck": False,
}

F = TypeVar("F", bound=Callable[..., Any])


def kernel(function: F) -> F:
    """Compile `function` as a PlantStream kernel (nopython, the options above)."""
    compiled: F = njit(**NJIT_OPTIONS)(function)
    return compiled
