"""The PlantStream dashboards: an explicit registry, file name -> builder, each built in
every language from one definition (texts through the message catalogue)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plantstream.dashboards import energy, gateways, jurisdiction, machine, overview
from plantstream.dashboards.settings import DashboardSettings
from plantstream.i18n import LANGS, Lang

__all__ = ["DASHBOARDS", "build_all", "build_every_language"]

DASHBOARDS: dict[str, Callable[[DashboardSettings, Lang], dict[str, Any]]] = {
    "plant-overview.json": overview.build,
    "machine.json": machine.build,
    "energy-dual-control.json": energy.build,
    "gateways-ingest.json": gateways.build,
    "jurisdiction-each-mu.json": jurisdiction.build,
}


def build_all(settings: DashboardSettings, lang: Lang = "en") -> dict[str, dict[str, Any]]:
    """file name -> dashboard model (Grafana JSON) in `lang`."""
    return {name: build(settings, lang) for name, build in DASHBOARDS.items()}


def build_every_language(settings: DashboardSettings) -> dict[Lang, dict[str, dict[str, Any]]]:
    """language -> file name -> dashboard model: what is provisioned and pushed."""
    return {lang: build_all(settings, lang) for lang in LANGS}
