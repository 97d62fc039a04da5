"""The PlantStream dashboards: an explicit registry, file name -> builder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plantstream.dashboards import energy, gateways, jurisdiction, machine, overview
from plantstream.dashboards.settings import DashboardSettings

__all__ = ["DASHBOARDS", "build_all"]

DASHBOARDS: dict[str, Callable[[DashboardSettings], dict[str, Any]]] = {
    "plant-overview.json": overview.build,
    "machine.json": machine.build,
    "energy-dual-control.json": energy.build,
    "gateways-ingest.json": gateways.build,
    "jurisdiction-each-mu.json": jurisdiction.build,
}


def build_all(settings: DashboardSettings) -> dict[str, dict[str, Any]]:
    """file name -> dashboard model (Grafana JSON)."""
    return {name: build(settings) for name, build in DASHBOARDS.items()}
