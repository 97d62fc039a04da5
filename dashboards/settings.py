"""What the dashboards need to know about a deployment: one frozen, validated struct.

Read from TOML with `plantstream.config.load_toml` (unknown keys are errors naming the
key); every field has a default that matches the compose stack in deploy/.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from plantstream.config import load_toml

__all__ = ["DashboardSettings", "LimitGradeSettings", "load_settings"]


class LimitGradeSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Limit-standard grades of one product (kgce per unit; grade 1 is the strictest).

    A missing grade is left out of the list's tail; the panel draws one threshold per
    defined grade. Values are configuration (from the product's limit standard), not
    telemetry.
    """

    product: str
    kgce_per_unit: list[Annotated[float, msgspec.Meta(gt=0)]]

    def __post_init__(self) -> None:
        if not 1 <= len(self.kgce_per_unit) <= 5:
            raise msgspec.ValidationError("needs 1 to 5 grades - at `$.kgce_per_unit`")
        if any(b < a for a, b in zip(self.kgce_per_unit, self.kgce_per_unit[1:], strict=False)):
            raise msgspec.ValidationError(
                "grades must not get stricter as the grade number grows - at `$.kgce_per_unit`")


class DashboardSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # the data source `push` creates (InfluxQL over the v1 API); the provisioning file
    # takes both from Grafana's environment instead (INFLUXDB_URL, INFLUXDB_DATABASE)
    influx_url: str = "http://influxdb:8086"
    database: str = "plantstream"
    # the plant's time zone: shift and day boundaries, the dashboards' clock
    timezone: str = "Asia/Shanghai"
    # the smallest $__interval Grafana may use: the edge flush interval
    min_interval_s: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 10
    # unit-product consumption panel: which product's limit grades to draw
    limit_grades: list[LimitGradeSettings] = msgspec.field(default_factory=lambda: [
        LimitGradeSettings(product="P-100", kgce_per_unit=[0.05, 0.08, 0.12])])


def load_settings(path: str | None) -> DashboardSettings:
    """The settings in `path` (TOML), or the defaults when `path` is None."""
    return DashboardSettings() if path is None else load_toml(path, DashboardSettings)
