"""Grafana alert rules as code: which condition of the plant pages an operator, with
thresholds from the plant configuration (`Site.limits`, `Line.oee_target`,
`PlantConfig.ingest_limits`) rendered into each rule.

A rule is Grafana's unified-alerting model: InfluxQL queries over a relative time
range, server-side expressions (reduce, math, threshold) and a condition, evaluated
every group interval, firing after the pending period (`for`). `AlertRule.model()`
is the JSON Grafana's provisioning API takes; `provisioning.py` writes the same rules
as a file-provisioning YAML. `build_rules` refuses, at build time, a rule that does
not fit Grafana's model (see `AlertRule.__post_init__`) or names a dashboard panel
that does not exist.

`plantstream.dashboards.evaluate` evaluates these rules against InfluxDB the way
Grafana does; the tests prove each rule on a simulated shift with incidents.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from plantstream.config import PlantConfig
from plantstream.dashboards import energy, gateways, machine, overview
from plantstream.dashboards._common import OEE
from plantstream.dashboards._grafana import FOLDER_TITLE, dashboard_uid
from plantstream.dashboards.catalog import build_all
from plantstream.dashboards.overview import warning_levels
from plantstream.dashboards.settings import DashboardSettings
from plantstream.dashboards.validate import expected_columns
from plantstream.i18n import N_, Lang, translator

__all__ = [
    "CONTACT_POINT",
    "GROUPS",
    "WARNING_CODES",
    "AlertRule",
    "MathExpr",
    "Query",
    "Reduce",
    "Threshold",
    "build_rules",
    "contact_points",
    "notification_policy",
    "rule_groups",
]

CONTACT_POINT: Final = "PlantStream operators"
# rule group -> evaluation interval in seconds (every rule of a group shares it)
GROUPS: Final[dict[str, int]] = {"gateways": 60, "production": 60, "energy": 60,
                                  "ingest": 60}
WARNING_CODES: Final = {"green": 0, "yellow": 1, "orange": 2, "red": 3}
METER_LOOKBACK_S: Final = 2 * 3600  # a meter silent longer than this drops out (resolves)
LONG_STOP_WINDOW_S: Final = 300
OEE_WINDOW_S: Final = 3600
OEE_MIN_PLANNED_S: Final = 1800  # an hour with less planned busy time is not judged

Reducer = Literal["last", "max", "min", "mean", "sum", "count"]
Comparison = Literal["gt", "lt"]
NoDataState = Literal["OK", "NoData", "Alerting"]
_REF = re.compile(r"^[A-Z][A-Za-z0-9_]*$")
_MATH_REF = re.compile(r"\$\{?([A-Za-z]\w*)\}?")


@dataclass(frozen=True, slots=True, kw_only=True)
class Query:
    """An InfluxQL query over [now - from_s, now - to_s]; exactly one value column."""

    ref: str
    query: str
    from_s: int
    to_s: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Reduce:
    """One number per series. `strict`: a null or NaN anywhere gives NaN (Grafana's
    default); `dropNN`: nulls and NaNs are dropped first."""

    ref: str
    expression: str
    reducer: Reducer = "last"
    mode: Literal["strict", "dropNN"] = "strict"


@dataclass(frozen=True, slots=True, kw_only=True)
class Threshold:
    ref: str
    expression: str
    op: Comparison
    value: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MathExpr:
    """Grafana math over reduced numbers: `$X`, numbers, < > <= >= == !=, && ||.
    Series are joined on labels (equal, or one a subset of the other)."""

    ref: str
    expression: str

    @property
    def refs(self) -> list[str]:
        return _MATH_REF.findall(self.expression)


Node = Query | Reduce | Threshold | MathExpr


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRule:
    uid: str
    title: str
    group: str
    nodes: tuple[Node, ...]
    condition: str
    summary: str
    action: str  # what the operator does
    dashboard_uid: str
    panel: str  # the title of the panel to open
    panel_id: int = 0  # filled by build_rules from the dashboard
    for_s: int = 0
    no_data: NoDataState = "OK"
    labels: Mapping[str, str] = field(default_factory=dict)
    threshold_source: str = ""  # the configuration key the threshold comes from
    lang: Lang = "en"  # the language of title, summary, action and panel


    def __post_init__(self) -> None:
        problems = []
        if not re.match(r"^[a-zA-Z0-9_-]{1,40}$", self.uid):
            problems.append("uid must be 1-40 letters, digits, - or _")
        if self.group not in GROUPS:
            problems.append(f"unknown group {self.group!r}")
        refs = [n.ref for n in self.nodes]
        if len(set(refs)) != len(refs) or not all(_REF.match(r) for r in refs):
            problems.append(f"refIds not unique letters: {refs}")
        if self.condition not in refs:
            problems.append(f"condition {self.condition!r} is not one of {refs}")
        if not any(isinstance(n, Query) for n in self.nodes):
            problems.append("no data source query")
        seen: set[str] = set()
        for n in self.nodes:
            used = ([n.expression] if isinstance(n, Reduce | Threshold)
                    else n.refs if isinstance(n, MathExpr) else [])
            missing = [r for r in used if r not in seen]
            if missing:
                problems.append(f"{n.ref} refers to {missing}, not defined before it")
            seen.add(n.ref)
            if isinstance(n, Query):
                try:
                    columns = expected_columns(n.query)
                except ValueError as exc:
                    problems.append(f"{n.ref}: {exc}")
                else:
                    if len(columns) != 1:
                        # Grafana makes one frame per column with the same labels: an
                        # evaluation error ("duplicate results with labels")
                        problems.append(f"{n.ref}: {len(columns)} columns, alerting needs 1")
                if "$timeFilter" not in n.query:
                    problems.append(f"{n.ref}: no $timeFilter")
                if "$__interval" in n.query or "$__interval_ms" in n.query:
                    problems.append(f"{n.ref}: $__interval in an alert query")
                if n.from_s <= n.to_s:
                    problems.append(f"{n.ref}: empty relative time range")
            if isinstance(n, Reduce) and not isinstance(
                    next((x for x in self.nodes if x.ref == n.expression), None), Query):
                problems.append(f"{n.ref}: reduce of something other than a query")
        if self.for_s < 0 or self.for_s % 60:
            problems.append("pending period (for) must be whole minutes")
        if not self.summary or not self.action:
            problems.append("summary and operator action are required")
        if problems:
            raise ValueError(f"alert rule {self.uid}: " + "; ".join(problems))

    def node(self, ref: str) -> Node:
        return next(n for n in self.nodes if n.ref == ref)

    @property
    def queries(self) -> list[Query]:
        return [n for n in self.nodes if isinstance(n, Query)]

    @property
    def interval_s(self) -> int:
        return GROUPS[self.group]

    @property
    def runbook(self) -> str:
        _ = translator(self.lang)
        return _("Open {dashboard} > {panel}. {action}").format(
            dashboard=self.dashboard_title, panel=self.panel, action=self.action)

    @property
    def dashboard_title(self) -> str:
        title = _DASHBOARD_TITLES.get(self.dashboard_uid)
        return self.dashboard_uid if title is None else translator(self.lang)(title)

    def model(self) -> dict[str, Any]:
        """The rule as Grafana's provisioning API and provisioning files take it,
        built with grafana-foundation-sdk (`_alert_model`)."""
        from plantstream.dashboards._alert_model import rule_model

        return rule_model(self)


# dashboard uid (in every language) -> its short name in the runbook line
_DASHBOARD_TITLES: dict[str, str] = {
    dashboard_uid(uid, lang): title for lang in ("en", "zh-CN") for uid, title in (
        (overview.UID, N_("Plant overview")), (machine.UID, N_("Machine")),
        (energy.UID, N_("Energy and dual control")),
        (gateways.UID, N_("Gateways and ingest")))}


def _q(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _minutes(seconds: float, lang: Lang) -> str:
    _ = translator(lang)
    return _("{minutes} min").format(minutes=f"{seconds / 60:g}")


def _gateway_rules(plant: PlantConfig) -> list[AlertRule]:
    lang: Lang = plant.alert_lang
    _ = translator(lang)
    rules = []
    limits = {site.id: site.limits for site in plant.sites}  # every gateway's site exists
    for gw in plant.gateways:
        silent_s = int(limits[gw.site].gateway_silent_s)
        rules.append(AlertRule(
            uid=f"ps-gw-silent-{gw.id}"[:40],
            title=_("Gateway {gateway} silent").format(gateway=gw.id),
            group="gateways", condition="C", no_data="Alerting",
            nodes=(Query(ref="A", from_s=silent_s, query=(
                       'SELECT count("seq") AS "batches" FROM "batch" WHERE '
                       f'"gateway" = {_q(gw.id)} AND $timeFilter')),
                   Reduce(ref="B", expression="A"),
                   Threshold(ref="C", expression="B", op="lt", value=1)),
            summary=_("No batch from gateway {gateway} (site {site}) for {duration}.").format(
                gateway=gw.id, site=gw.site, duration=_minutes(silent_s, lang)),
            action=_("Check the gateway's power, its 5G link and `systemctl status "
                     "plantstream-edge` on it; its disk queue keeps the data, nothing is "
                     "lost until the queue is full (shed samples)."),
            dashboard_uid=dashboard_uid(gateways.UID, lang), panel=_("Gateways: last batch"),
            labels={"site": gw.site, "gateway": gw.id, "severity": "critical"},
            threshold_source=f"sites[{gw.site}].limits.gateway_silent_s", lang=lang))
    for site in plant.sites:
        age = site.limits.backlog_age_s
        rules.append(AlertRule(
            uid=f"ps-gw-backlog-{site.id}"[:40],
            title=_("Gateway backlog too old ({site})").format(site=site.id),
            group="gateways", condition="C",
            nodes=(Query(ref="A", from_s=600, query=(
                       'SELECT max("backlog_age_s") AS "backlog age" FROM "gateway_health" '
                       f'WHERE "site" = {_q(site.id)} AND $timeFilter GROUP BY "gateway"')),
                   Reduce(ref="B", expression="A"),
                   Threshold(ref="C", expression="B", op="gt", value=age)),
            summary=_("A gateway of {site} reports a disk-queue backlog older than "
                      "{duration}: its uplink is down or too slow.").format(
                site=site.id, duration=_minutes(age, lang)),
            action=_("Check the gateway's uplink (5G signal, broker reachability, PUBACK "
                     "failures in its health); the backlog drains by itself once the link "
                     "is back."),
            dashboard_uid=dashboard_uid(gateways.UID, lang), panel=_("Backlog"),
            labels={"site": site.id, "severity": "warning"},
            threshold_source=f"sites[{site.id}].limits.backlog_age_s", lang=lang))
    return rules


def _production_rules(plant: PlantConfig) -> list[AlertRule]:
    lang: Lang = plant.alert_lang
    _ = translator(lang)
    rules = []
    for site in plant.sites:
        minutes = site.limits.long_stop_min
        rules.append(AlertRule(
            uid=f"ps-long-stop-{site.id}"[:40],
            title=_("Machine stopped too long ({site})").format(site=site.id),
            group="production", condition="C",
            for_s=int(minutes * 60) - LONG_STOP_WINDOW_S,
            nodes=(Query(ref="A", from_s=LONG_STOP_WINDOW_S, query=(
                       'SELECT sum("adet_s") / sum("pbt_s") AS "ADET share" FROM '
                       f'"oee_components" WHERE "site" = {_q(site.id)} AND $timeFilter '
                       'GROUP BY "line", "machine"')),
                   Reduce(ref="B", expression="A"),
                   Threshold(ref="C", expression="B", op="gt", value=0.99)),
            summary=_("A machine of {site} has been in a downtime element (ADET) for "
                      "{minutes} minutes of planned busy time.").format(
                site=site.id, minutes=f"{minutes:g}"),
            action=_("Call maintenance for the machine; record the stop reason on the "
                     "terminal so the state code says why."),
            dashboard_uid=dashboard_uid(overview.UID, lang), panel=_("Machine states now"),
            labels={"site": site.id, "severity": "critical"},
            threshold_source=f"sites[{site.id}].limits.long_stop_min", lang=lang))
    for line in plant.lines:
        where = f'"line" = {_q(line.id)} AND $timeFilter'
        rules.append(AlertRule(
            uid=f"ps-oee-{line.id}"[:40],
            title=_("OEE of line {line} below target").format(line=line.id),
            group="production", condition="C",
            nodes=(Query(ref="A", from_s=OEE_WINDOW_S, query=(
                       f'SELECT {OEE} AS "oee" FROM "oee_components" WHERE {where}')),
                   Query(ref="P", from_s=OEE_WINDOW_S, query=(
                       f'SELECT sum("pbt_s") AS "planned busy" FROM "oee_components" '
                       f'WHERE {where}')),
                   Reduce(ref="B", expression="A"),
                   Reduce(ref="Q", expression="P"),
                   MathExpr(ref="C", expression=(
                       f"$B < {line.oee_target:g} && $Q >= {OEE_MIN_PLANNED_S}"))),
            summary=_("OEE of line {line} over the last hour is below its target "
                      "{target} (hours with under 30 min planned busy time are not "
                      "judged).").format(line=line.id, target=f"{line.oee_target:.0%}"),
            action=_("In the line's row, low availability means stops (see Six big "
                     "losses), low performance a slow machine, low quality scrap; click "
                     "through to the machine."),
            dashboard_uid=dashboard_uid(overview.UID, lang), panel=_("OEE by line"),
            labels={"site": line.site, "line": line.id, "severity": "warning"},
            threshold_source=f"lines[{line.id}].oee_target", lang=lang))
    return rules


def _energy_rules(plant: PlantConfig) -> list[AlertRule]:
    lang: Lang = plant.alert_lang
    _ = translator(lang)
    rules = []
    for site in plant.sites:
        level = site.limits.dual_control_level
        level_name = warning_levels(lang)[WARNING_CODES[level]][0]
        where = f'"site" = {_q(site.id)} AND $timeFilter'
        rules.append(AlertRule(
            uid=f"ps-dual-control-{site.id}"[:40],
            title=_("Dual-control warning {level} or worse ({site})").format(
                level=level_name, site=site.id),
            group="energy", condition="C",
            nodes=(Query(ref="A", from_s=2 * 86_400, query=(
                       'SELECT last("warning_code") AS "warning" FROM "dual_control" '
                       f'WHERE {where}')),
                   Reduce(ref="B", expression="A"),
                   Threshold(ref="C", expression="B", op="gt",
                             value=WARNING_CODES[level] - 0.5)),
            summary=_("The dual-control warning of {site} is {level} or worse: the year's "
                      "consumption is heading over the quota or the intensity "
                      "target.").format(site=site.id, level=level_name),
            action=_("Tell the energy manager; review the year-to-date trajectory and the "
                     "largest consumers before the regulator's next report."),
            dashboard_uid=dashboard_uid(energy.UID, lang), panel=_("Dual-control warning"),
            labels={"site": site.id, "severity": "warning"},
            threshold_source=f"sites[{site.id}].limits.dual_control_level", lang=lang))
        silent_min = int(site.limits.meter_silent_s // 60)
        rules.append(AlertRule(
            uid=f"ps-meter-silent-{site.id}"[:40],
            title=_("Energy meter silent ({site})").format(site=site.id),
            group="energy", condition="C",
            nodes=(Query(ref="A", from_s=METER_LOOKBACK_S, query=(
                       f'SELECT moving_average(count("quantity"), {silent_min}) AS "readings" '
                       f'FROM "energy" WHERE {where} '
                       'GROUP BY time(1m), "machine", "carrier" fill(0)')),
                   # batches of the last (silent - 2) minutes: inside A's window, so a
                   # gateway that stopped altogether never looks like a silent meter
                   Query(ref="G", from_s=(silent_min - 2) * 60, query=(
                       'SELECT count("pbt_s") AS "batches" FROM "oee_components" '
                       f'WHERE {where} GROUP BY "machine"')),
                   Reduce(ref="B", expression="A"),
                   Reduce(ref="H", expression="G"),
                   MathExpr(ref="C", expression="$B < 0.001 && $H > 0")),
            summary=_("An energy meter of {site} sent no reading for {duration} while its "
                      "machine's gateway kept reporting.").format(
                site=site.id, duration=_minutes(silent_min * 60, lang)),
            action=_("Check the meter's wiring, Modbus address and the gateway's source "
                     "errors; energy of the gap is not measured (its coverage shows it)."),
            dashboard_uid=dashboard_uid(machine.UID, lang), panel=_("Energy"),
            labels={"site": site.id, "severity": "warning"},
            threshold_source=f"sites[{site.id}].limits.meter_silent_s", lang=lang))
        jitter = site.limits.meter_jitter_per_15min
        rules.append(AlertRule(
            uid=f"ps-meter-reset-{site.id}"[:40],
            title=_("Energy meter reset, impossible jump or jitter ({site})").format(
                site=site.id),
            group="energy", condition="C",
            nodes=(Query(ref="A", from_s=900, query=(
                       'SELECT sum("resets") + sum("rejected") AS "resets and rejected" '
                       f'FROM "energy" WHERE {where} GROUP BY "machine", "carrier"')),
                   Query(ref="J", from_s=900, query=(
                       'SELECT sum("jitter") AS "jitter" FROM "energy" '
                       f'WHERE {where} GROUP BY "machine", "carrier"')),
                   Reduce(ref="B", expression="A"),
                   Reduce(ref="K", expression="J"),
                   MathExpr(ref="C", expression=f"$B > 0 || $K > {jitter}")),
            summary=_("An energy meter of {site} was reset (or replaced), made a physically "
                      "impossible jump (not counted), or stepped back more than {jitter} "
                      "times (jitter) in the last 15 minutes.").format(site=site.id,
                                                                       jitter=jitter),
            action=_("Confirm with maintenance whether the meter was replaced or reset; an "
                     "impossible jump or heavy jitter is a faulty meter, wiring or register "
                     "read-out: check the raw registers (the energy of a rejected step is "
                     "not counted and shows in the regulator report's data quality)."),
            dashboard_uid=dashboard_uid(machine.UID, lang), panel=_("Energy"),
            labels={"site": site.id, "severity": "warning"},
            threshold_source=f"sites[{site.id}].limits.meter_jitter_per_15min "
                             "(any reset or rejected jump)", lang=lang))
    return rules


def _ingest_rules(plant: PlantConfig) -> list[AlertRule]:
    lang: Lang = plant.alert_lang
    _ = translator(lang)
    limits = plant.ingest_limits
    return [
        AlertRule(
            uid="ps-dead-letters", title=_("Dead letters arriving"), group="ingest",
            condition="C",
            nodes=(Query(ref="A", from_s=600, query=(
                       'SELECT sum("count") AS "dead letters" FROM "dead_letter" '
                       'WHERE $timeFilter GROUP BY "reason"')),
                   Reduce(ref="B", expression="A"),
                   Threshold(ref="C", expression="B", op="gt",
                             value=limits.dead_letters_per_10min)),
            summary=_("Ingest rejected messages in the last 10 minutes (by reason); their "
                      "data is not in the database."),
            action=_("Read the latest dead letters (topic, reason, detail): a gateway with "
                     "a wrong configuration or version, an unknown machine in the plant "
                     "registry, or a clock far off."),
            dashboard_uid=dashboard_uid(gateways.UID, lang), panel=_("Dead letters by reason"),
            labels={"severity": "warning"},
            threshold_source="ingest_limits.dead_letters_per_10min", lang=lang),
        AlertRule(
            uid="ps-ingest-lag", title=_("Ingest lagging"), group="ingest", condition="C",
            nodes=(Query(ref="A", from_s=300, query=(
                       'SELECT max("lag_s") AS "ingest lag" FROM "ingest_health" '
                       'WHERE $timeFilter GROUP BY "worker"')),
                   Reduce(ref="B", expression="A"),
                   Threshold(ref="C", expression="B", op="gt", value=limits.lag_s)),
            summary=_("The newest data an ingest worker wrote is more than {duration} "
                      "old.").format(duration=_minutes(limits.lag_s, lang)),
            action=_("Check the worker's write latency and spool depth (InfluxDB slow or "
                     "down?) and whether gateways are draining a backlog; scale ingest out "
                     "if it is CPU-bound."),
            dashboard_uid=dashboard_uid(gateways.UID, lang),
            panel=_("Write latency, lag and spool"),
            labels={"severity": "warning"}, threshold_source="ingest_limits.lag_s", lang=lang),
    ]


def build_rules(plant: PlantConfig, settings: DashboardSettings | None = None
                ) -> list[AlertRule]:
    """Every alert rule of the plant in its `alert_lang`, each linked to an existing panel
    of that language's dashboards."""
    models = {m["uid"]: m for m in build_all(settings or DashboardSettings(),
                                               plant.alert_lang).values()}
    rules = [*_gateway_rules(plant), *_production_rules(plant), *_energy_rules(plant),
             *_ingest_rules(plant)]
    out = []
    for rule in rules:
        dashboard = models.get(rule.dashboard_uid)
        if dashboard is None:
            raise ValueError(f"alert rule {rule.uid}: no dashboard {rule.dashboard_uid}")
        ids = [p["id"] for p in dashboard["panels"] if p["title"] == rule.panel]
        if len(ids) != 1:
            raise ValueError(f"alert rule {rule.uid}: no panel {rule.panel!r} on "
                             f"{rule.dashboard_uid}")
        out.append(_with_panel(rule, int(ids[0])))
    uids = [r.uid for r in out]
    if len(set(uids)) != len(uids):
        raise ValueError(f"alert rule uids not unique: {uids}")
    return out


def _with_panel(rule: AlertRule, panel_id: int) -> AlertRule:
    return dataclasses.replace(rule, panel_id=panel_id)


def contact_points() -> list[dict[str, Any]]:
    """The operators' contact point: an example webhook and e-mail, for the operator
    to fill (placeholders in the reserved .invalid domain deliver nothing)."""
    return [{"orgId": 1, "name": CONTACT_POINT, "receivers": [
        {"uid": "plantstream-webhook", "type": "webhook", "disableResolveMessage": False,
         "settings": {"url": "https://alerts.example.invalid/plantstream",
                      "httpMethod": "POST"}},
        {"uid": "plantstream-email", "type": "email", "disableResolveMessage": False,
         "settings": {"addresses": "operators@example.invalid",
                      "singleEmail": True}}]}]


def notification_policy() -> dict[str, Any]:
    """Route every PlantStream alert to the operators, grouped by rule and site;
    critical ones are repeated more often."""
    return {"orgId": 1, "receiver": CONTACT_POINT,
            "group_by": ["grafana_folder", "alertname", "site"],
            "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h",
            "routes": [{"receiver": CONTACT_POINT,
                        "object_matchers": [["plantstream", "=", "true"],
                                            ["severity", "=", "critical"]],
                        "repeat_interval": "1h"}]}


def rule_groups(rules: Sequence[AlertRule]) -> list[dict[str, Any]]:
    """Rules grouped as the provisioning file lists them."""
    groups: dict[str, list[AlertRule]] = {}
    for rule in rules:
        groups.setdefault(rule.group, []).append(rule)
    out = []
    for name, members in groups.items():
        out.append({"orgId": 1, "name": f"plantstream-{name}", "folder": FOLDER_TITLE,
                    "interval": f"{GROUPS[name]}s",
                    "rules": [_provisioned(r.model()) for r in members]})
    return out


def _provisioned(model: dict[str, Any]) -> dict[str, Any]:
    """API model -> file-provisioning rule (no org, folder or group keys per rule)."""
    return {k: v for k, v in model.items() if k not in ("orgID", "folderUID", "ruleGroup")}
