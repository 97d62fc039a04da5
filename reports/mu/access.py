"""Who may pull a jurisdiction's evaluation: a regulator whose scope covers every
enterprise of the jurisdiction (the enterprise id, or every site of it). A report over
a jurisdiction ranks and benchmarks all its enterprises, so a partial scope would see
figures of enterprises outside it: that is refused (403), as is a jurisdiction with no
enterprise in the scope (unknown or not, so the answer reveals nothing)."""

from __future__ import annotations

from plantstream.reports.auth import AuthError
from plantstream.reports.config import LoadedConfig, Regulator

__all__ = ["authorize_jurisdiction"]


def authorize_jurisdiction(loaded: LoadedConfig, regulator: Regulator,
                           jurisdiction_id: str) -> None:
    allowed = set(regulator.scope)
    plants = [p for p in loaded.plants if p.enterprise.jurisdiction == jurisdiction_id]
    outside = [p for p in plants if p.enterprise.id not in allowed
               and not all(s.id in allowed for s in p.sites)]
    if not plants or outside:
        detail = (f"{len(outside)} of its {len(plants)} enterprises are" if plants
                  else "none of its enterprises is")
        raise AuthError(403, "out_of_scope",
                        f"jurisdiction {jurisdiction_id!r}: {detail} outside the scope of "
                        f"regulator {regulator.id}")
