"""An `AlertRule` as Grafana's alert-rule model, built with Grafana's own Python SDK
(grafana-foundation-sdk, generated from Grafana's schemas): field names, enums
(no-data and error states, reducers, threshold types, reduce modes) and constraints
(title length) are Grafana's, checked by the type checker and when the rule is built.

The SDK has no InfluxDB query model, so the InfluxQL query is a small `Dataquery`
variant here (the fields Grafana's InfluxDB data source reads from a raw query).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from grafana_foundation_sdk.builders import alerting as rules
from grafana_foundation_sdk.builders import expr
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as alerting_models
from grafana_foundation_sdk.models import dashboard as dashboard_models

from plantstream.dashboards._grafana import DATASOURCE_TYPE, DATASOURCE_UID, FOLDER_UID

if TYPE_CHECKING:
    from plantstream.dashboards.alerts import AlertRule, Node

__all__ = ["rule_model"]

EXPRESSIONS = "__expr__"


class InfluxQLQuery(cogvariants.Dataquery):
    """A raw InfluxQL target of the provisioned InfluxDB data source."""

    def __init__(self, *, ref_id: str, query: str) -> None:
        self.ref_id = ref_id
        self.query = query

    def to_json(self) -> dict[str, object]:
        return {"refId": self.ref_id, "query": self.query, "rawQuery": True,
                "resultFormat": "time_series", "intervalMs": 1000, "maxDataPoints": 43200,
                "datasource": {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}}


class _Built(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, query: cogvariants.Dataquery) -> None:
        self._query = query

    def build(self) -> cogvariants.Dataquery:
        return self._query


def _range(from_s: int, to_s: int) -> alerting_models.RelativeTimeRange:
    return alerting_models.RelativeTimeRange(from_val=from_s, to=to_s)


def _expressions_source() -> dashboard_models.DataSourceRef:
    return dashboard_models.DataSourceRef(type_val=EXPRESSIONS, uid=EXPRESSIONS)


def _node(node: Node) -> rules.Query:
    from plantstream.dashboards.alerts import MathExpr, Query, Reduce, Threshold

    if isinstance(node, Query):
        return (rules.Query(node.ref).datasource_uid(DATASOURCE_UID)
                .relative_time_range(_range(node.from_s, node.to_s))
                .model(_Built(InfluxQLQuery(ref_id=node.ref, query=node.query))))
    model: cogbuilder.Builder[Any]
    if isinstance(node, Reduce):
        reduce = (expr.TypeReduce().ref_id(node.ref).expression(node.expression)
                  .reducer(node.reducer).datasource(_expressions_source()))
        if node.mode == "dropNN":
            reduce = reduce.settings(expr.ExprTypeReduceSettings().mode("dropNN"))
        model = reduce
    elif isinstance(node, Threshold):
        op: Literal["gt", "lt"] = node.op
        model = (expr.TypeThreshold().ref_id(node.ref).expression(node.expression)
                 .datasource(_expressions_source())
                 .conditions([expr.ExprTypeThresholdConditions().evaluator(
                     expr.ExprTypeThresholdConditionsEvaluator().type(op)
                     .params([float(node.value)]))]))
    elif isinstance(node, MathExpr):
        model = (expr.TypeMath().ref_id(node.ref).expression(node.expression)
                 .datasource(_expressions_source()))
    else:  # pragma: no cover - the Node union is closed
        raise TypeError(node)
    return (rules.Query(node.ref).datasource_uid(EXPRESSIONS)
            .relative_time_range(_range(0, 0)).model(model))


def rule_model(rule: AlertRule) -> dict[str, Any]:
    """The rule as Grafana's provisioning API and provisioning files take it."""
    built = (rules.Rule(rule.title).uid(rule.uid).org_id(1).folder_uid(FOLDER_UID)
             .rule_group(f"plantstream-{rule.group}").condition(rule.condition)
             .queries([_node(n) for n in rule.nodes])
             .no_data_state(rule.no_data).exec_err_state("Error")
             .for_val(f"{rule.for_s // 60}m")
             .annotations({"summary": rule.summary, "description": rule.runbook,
                           "runbook_url": f"/d/{rule.dashboard_uid}?viewPanel={rule.panel_id}",
                           "__dashboardUid__": rule.dashboard_uid,
                           "__panelId__": str(rule.panel_id)})
             .labels({"plantstream": "true", **rule.labels})
             .is_paused(False)).build()
    out: dict[str, Any] = json.loads(json.dumps(built, cls=JSONEncoder))
    return out
