"""The alert rules as Grafana models: provisioning files that parse, thresholds taken
from the plant configuration, every rule linked to an existing panel, and a rule that
does not fit Grafana's model refused when it is built. No services needed."""

from __future__ import annotations

import math

import msgspec
import pytest
import yaml

from plantstream.config import Line, PlantConfig, SiteLimits, convert, load_plant
from plantstream.dashboards import DashboardSettings, build_all, provisioning_files
from plantstream.dashboards.alerts import (
    CONTACT_POINT,
    AlertRule,
    MathExpr,
    Query,
    Reduce,
    Threshold,
    build_rules,
)
from plantstream.dashboards.evaluate import _math, _reduce
from plantstream.dashboards.provisioning import DEFAULT_PLANT
from plantstream.errors import ConfigError

PLANT = load_plant(DEFAULT_PLANT)
FILES = provisioning_files(DashboardSettings(), PLANT)


def test_provisioned_rules_parse_and_sit_in_the_plantstream_folder() -> None:
    rules = yaml.safe_load(FILES["provisioning/alerting/rules.yaml"])
    assert rules["apiVersion"] == 1
    provisioned = [r for g in rules["groups"] for r in g["rules"]]
    assert {g["folder"] for g in rules["groups"]} == {"PlantStream"}
    assert all(g["interval"] == "60s" for g in rules["groups"])
    assert [r["uid"] for r in provisioned] == [r.uid for r in build_rules(PLANT)]
    for rule in provisioned:
        refs = [d["refId"] for d in rule["data"]]
        assert rule["condition"] in refs
        assert rule["annotations"]["summary"] and "Open " in rule["annotations"]["description"]
        for d in rule["data"]:
            assert d["datasourceUid"] in ("plantstream-influxql", "__expr__")
    points = yaml.safe_load(FILES["provisioning/alerting/contact-points.yaml"])
    (point,) = points["contactPoints"]
    assert point["name"] == CONTACT_POINT
    assert {r["type"] for r in point["receivers"]} == {"webhook", "email"}
    assert all(".invalid" in str(r["settings"]) for r in point["receivers"])  # to fill in
    (policy,) = yaml.safe_load(FILES["provisioning/alerting/policies.yaml"])["policies"]
    assert policy["receiver"] == CONTACT_POINT


def test_every_rule_names_an_existing_panel() -> None:
    panels = {(m["uid"], p["id"]): p["title"] for m in build_all(DashboardSettings()).values()
              for p in m["panels"]}
    for rule in build_rules(PLANT):
        model = rule.model()
        key = (model["annotations"]["__dashboardUid__"], int(model["annotations"]["__panelId__"]))
        assert panels[key] == rule.panel
        assert rule.panel in rule.runbook


def test_thresholds_come_from_the_plant_configuration() -> None:
    strict = msgspec.structs.replace(
        PLANT, sites=[msgspec.structs.replace(s, limits=SiteLimits(
            gateway_silent_s=120, backlog_age_s=60, long_stop_min=20, meter_silent_s=600,
            meter_jitter_per_15min=7, dual_control_level="red")) for s in PLANT.sites],
        lines=[msgspec.structs.replace(x, oee_target=0.72) for x in PLANT.lines])
    rules = {r.uid: r for r in build_rules(strict)}
    site, line, gateway = PLANT.sites[0].id, PLANT.lines[0].id, PLANT.gateways[0].id
    assert rules[f"ps-gw-silent-{gateway}"].queries[0].from_s == 120
    assert rules[f"ps-gw-silent-{gateway}"].no_data == "Alerting"  # silence is no data
    backlog = rules[f"ps-gw-backlog-{site}"].node("C")
    assert isinstance(backlog, Threshold) and backlog.value == 60
    assert rules[f"ps-long-stop-{site}"].for_s == 20 * 60 - 300
    oee = rules[f"ps-oee-{line}"].node("C")
    assert isinstance(oee, MathExpr) and "$B < 0.72" in oee.expression
    dual = rules[f"ps-dual-control-{site}"].node("C")
    assert isinstance(dual, Threshold) and dual.value == 2.5  # red is code 3
    assert "count(\"quantity\"), 10)" in rules[f"ps-meter-silent-{site}"].queries[0].query
    meter = rules[f"ps-meter-reset-{site}"].node("C")
    assert isinstance(meter, MathExpr) and meter.expression == "$B > 0 || $K > 7"
    defaults = {r.uid: r for r in build_rules(PLANT)}
    assert "$K > 120" in str(defaults[f"ps-meter-reset-{site}"].node("C"))
    assert "$B < 0.6 " in str(defaults[f"ps-oee-{line}"].node("C"))


def test_limits_are_validated_like_any_configuration() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"id": "l", "site": "s", "oee_target": 1.5}, Line)
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"gateway_silence_s": 60}, SiteLimits)
    with pytest.raises(ConfigError) as caught:
        convert({**msgspec.to_builtins(PLANT), "ingest_limits": {"lag": 1}}, PlantConfig,
                source="plant.toml")
    assert caught.value.key == "ingest_limits.lag"


def _rule(**changes: object) -> AlertRule:
    base: dict[str, object] = dict(
        uid="ps-test", title="t", group="ingest", condition="C", summary="s", action="a",
        dashboard_uid="plantstream-gateways", panel="Backlog",
        nodes=(Query(ref="A", from_s=60, query='SELECT max("lag_s") AS "lag" FROM '
                     '"ingest_health" WHERE $timeFilter'),
               Reduce(ref="B", expression="A"),
               Threshold(ref="C", expression="B", op="gt", value=1)))
    return AlertRule(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(("changes", "message"), [
    ({"condition": "D"}, "condition 'D'"),
    ({"nodes": (Query(ref="A", from_s=60, query='SELECT max("lag_s") AS "lag", '
                      'max("spool_depth") AS "spool" FROM "ingest_health" WHERE $timeFilter'),
                Reduce(ref="B", expression="A"),
                Threshold(ref="C", expression="B", op="gt", value=1))}, "alerting needs 1"),
    ({"nodes": (Query(ref="A", from_s=60, query='SELECT max("lag_s") FROM "ingest_health" '
                      'WHERE $timeFilter'),)}, "without AS"),
    ({"nodes": (Query(ref="A", from_s=60, query='SELECT max("lag_s") AS "lag" FROM '
                      '"ingest_health"'),)}, "no \\$timeFilter"),
    ({"nodes": (Threshold(ref="C", expression="B", op="gt", value=1),)}, "not defined before"),
    ({"for_s": 90}, "whole minutes"),
    ({"group": "nightly"}, "unknown group"),
])
def test_a_rule_grafana_would_refuse_fails_at_build_time(changes: dict[str, object],
                                                         message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _rule(**changes)


def test_a_rule_pointing_at_a_missing_panel_fails_at_build_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from plantstream.dashboards import alerts

    monkeypatch.setattr(alerts, "_ingest_rules", lambda plant: [_rule(panel="No such panel")])
    with pytest.raises(ValueError, match="no panel 'No such panel'"):
        build_rules(PLANT)


def test_evaluator_follows_grafana_reduce_and_math() -> None:
    strict, dropped = Reduce(ref="B", expression="A"), Reduce(ref="B", expression="A",
                                                              mode="dropNN")
    assert math.isnan(_reduce(strict, [1.0, None, 3.0]))  # strict: a null poisons it
    assert _reduce(dropped, [1.0, None, 3.0]) == 3.0
    assert math.isnan(_reduce(strict, []))  # last of nothing
    assert _reduce(Reduce(ref="B", expression="A", reducer="sum"), []) == 0.0
    assert _math("$B < 0.6 && $Q >= 1800", {"B": 0.5, "Q": 3600}) == 1.0
    assert _math("$B < 0.6 && $Q >= 1800", {"B": 0.5, "Q": 600}) == 0.0
    assert _math("$B < 0.6 && $Q >= 1800", {"B": 0.9, "Q": math.nan}) == 0.0  # short circuit
    assert math.isnan(_math("$B < 0.6 && $Q >= 1800", {"B": 0.5, "Q": math.nan}))
    assert _math("$B > 1 || $Q > 1", {"B": math.nan, "Q": 0.0}) == 1.0  # Go: NaN != 0


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_alert_rules_in_the_plants_language_zh_cn() -> None:
    chinese = msgspec.structs.replace(PLANT, alert_lang="zh-CN")
    english, rules = build_rules(PLANT), build_rules(chinese)
    assert [r.uid for r in rules] == [r.uid for r in english]  # the same rules, not new ones
    panels = {(m["uid"], p["id"]): p["title"]
              for m in build_all(DashboardSettings(), "zh-CN").values() for p in m["panels"]}
    for rule, en in zip(rules, english, strict=True):
        model = rule.model()
        annotations = model["annotations"]
        for text in (model["title"], annotations["summary"], annotations["description"]):
            assert _has_chinese(text), (rule.uid, text)
        assert not _has_chinese(en.title + en.summary + en.runbook)
        assert annotations["__dashboardUid__"] == f"{en.dashboard_uid}-zh-cn"
        assert annotations["runbook_url"].startswith(f"/d/{en.dashboard_uid}-zh-cn?viewPanel=")
        title = panels[(annotations["__dashboardUid__"], int(annotations["__panelId__"]))]
        assert title == rule.panel and _has_chinese(title)
        assert f"“{title}”" in annotations["description"]
        assert model["data"] == en.model()["data"]  # same queries and thresholds
        assert model["labels"] == en.model()["labels"]
    # one language per plant: the provisioning file holds each rule once
    files = provisioning_files(DashboardSettings(), chinese)
    provisioned = [r for g in yaml.safe_load(files["provisioning/alerting/rules.yaml"])["groups"]
                   for r in g["rules"]]
    assert sorted(r["uid"] for r in provisioned) == sorted(r.uid for r in english)
    assert all(_has_chinese(r["title"]) for r in provisioned)


def test_alert_language_is_validated() -> None:
    with pytest.raises(ConfigError) as caught:
        convert({**msgspec.to_builtins(PLANT), "alert_lang": "fr"}, PlantConfig,
                source="plant.toml")
    assert caught.value.key == "alert_lang"
