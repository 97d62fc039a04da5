"""Operator dashboards: provisioned Grafana dashboards over InfluxQL, every panel's
query runnable here against the real InfluxDB (no Grafana server needed to prove it).

`build_all` gives the dashboard models in a language (`build_every_language`: in
English and Chinese, one folder each), `build_rules` the alert rules (thresholds from
the plant configuration), `export` writes the provisioning tree, `push` sends it to a
Grafana through its HTTP API, `preview` renders PNG previews of the panels with
matplotlib from the same queries' results; `evaluate.run_rule` evaluates a rule
against InfluxDB the way Grafana does.
"""

from plantstream.dashboards._grafana import (
    DATASOURCE_NAME,
    DATASOURCE_UID,
    FOLDER_TITLE,
    FOLDER_UID,
    FOLDERS,
    SCHEMA_VERSION,
)
from plantstream.dashboards.alerts import AlertRule, build_rules
from plantstream.dashboards.catalog import DASHBOARDS, build_all, build_every_language
from plantstream.dashboards.execute import TargetResult, run_dashboard, run_variables
from plantstream.dashboards.macros import ALL, TimeRange, render
from plantstream.dashboards.provisioning import datasource_model, export, provisioning_files
from plantstream.dashboards.settings import DashboardSettings, load_settings
from plantstream.dashboards.validate import problems

__all__ = [
    "ALL",
    "DASHBOARDS",
    "DATASOURCE_NAME",
    "DATASOURCE_UID",
    "FOLDERS",
    "FOLDER_TITLE",
    "FOLDER_UID",
    "SCHEMA_VERSION",
    "AlertRule",
    "DashboardSettings",
    "TargetResult",
    "TimeRange",
    "build_all",
    "build_every_language",
    "build_rules",
    "datasource_model",
    "export",
    "load_settings",
    "problems",
    "provisioning_files",
    "render",
    "run_dashboard",
    "run_variables",
]
