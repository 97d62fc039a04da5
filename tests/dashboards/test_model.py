"""The dashboards are valid Grafana dashboard models; the provisioning files in
deploy/grafana are exactly what `export` writes; Grafana's substitution is mimicked
faithfully. No services needed."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from plantstream.dashboards import (
    ALL,
    DATASOURCE_UID,
    FOLDER_UID,
    DashboardSettings,
    TimeRange,
    build_all,
    problems,
    provisioning_files,
    render,
)
from plantstream.dashboards.catalog import DASHBOARDS, build_every_language
from plantstream.dashboards.macros import grafana_interval, panel_range, variables_used
from plantstream.dashboards.settings import LimitGradeSettings, load_settings
from plantstream.dashboards.validate import expected_columns, group_by_tags, targets
from plantstream.errors import ConfigError
from plantstream.i18n import LANGS, Lang

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
MODELS = build_all(DashboardSettings())
EVERY_LANGUAGE = build_every_language(DashboardSettings())
UIDS = frozenset(str(m["uid"]) for m in MODELS.values())
CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_dashboard_is_a_valid_model(name: str, lang: Lang) -> None:
    model = EVERY_LANGUAGE[lang][name]
    # links resolve within the same language's dashboards
    uids = frozenset(str(m["uid"]) for m in EVERY_LANGUAGE[lang].values())
    assert problems(model, known_uids=uids) == []
    assert model["timezone"] == "Asia/Shanghai"
    assert model["schemaVersion"] >= 36
    defined = {v["name"] for v in model["templating"]["list"]}
    used = set().union(*(variables_used(t["query"]) for _, t in targets(model)))
    assert used == defined  # every variable defined is used, and the other way round
    assert all(t["datasource"]["uid"] == DATASOURCE_UID for _, t in targets(model))
    # the bar linking all four of one language
    assert model["links"][0]["tags"] == model["tags"] == (
        ["plantstream"] if lang == "en" else ["plantstream-zh-cn"])


def _shown(model: dict[str, Any]) -> list[str]:
    texts = [model["title"], model["description"]]
    texts += [v["label"] for v in model["templating"]["list"]]
    for panel in model["panels"]:
        texts += [panel["title"], panel["description"]]
        for target in panel["targets"]:
            texts += expected_columns(target["query"])
        defaults = panel["fieldConfig"]["defaults"]
        texts += [o["text"] for m in defaults.get("mappings", []) for o in m["options"].values()]
        for override in panel["fieldConfig"]["overrides"]:
            for prop in override["properties"]:
                if prop["id"] == "mappings":
                    texts += [o["text"] for m in prop["value"] for o in m["options"].values()]
                if prop["id"] == "links":
                    texts += [link["title"] for link in prop["value"]]
    return [t for t in texts if t]


def test_chinese_dashboards_are_the_english_ones_in_chinese() -> None:
    """Same panels, queries (but for their aliases), layout and variables; every text a
    reader sees in Chinese, with the official terms; distinct uids, links to the
    Chinese machine dashboard."""
    for name, english in MODELS.items():
        chinese = EVERY_LANGUAGE["zh-CN"][name]
        assert chinese["uid"] == english["uid"] + "-zh-cn"
        assert [p["gridPos"] for p in chinese["panels"]] == \
            [p["gridPos"] for p in english["panels"]]
        assert [re.sub(r'AS "[^"]*"', "AS", t["query"]) for _, t in targets(chinese)] == \
            [re.sub(r'AS "[^"]*"', "AS", t["query"]) for _, t in targets(english)]
        assert [v["name"] for v in chinese["templating"]["list"]] == \
            [v["name"] for v in english["templating"]["list"]]
        english_only = [text for text in _shown(chinese) if not CJK.search(text)
                        and re.search("[A-Za-z]{3,}", text.replace("PlantStream", ""))]
        assert not english_only, (name, english_only)
        assert json.dumps(chinese, ensure_ascii=False).count("/d/plantstream-machine-zh-cn/") \
            == json.dumps(english).count("/d/plantstream-machine/")
        # a table's GROUP BY tag columns are headed in Chinese too (displayName)
        for panel, target in targets(chinese):
            if target.get("resultFormat") != "table":
                continue
            headers = {o["matcher"]["options"]: prop["value"]
                       for o in panel["fieldConfig"]["overrides"] for prop in o["properties"]
                       if prop["id"] == "displayName"}
            for tag in group_by_tags(target["query"]):
                assert CJK.search(headers.get(tag, "")), (name, panel["title"], tag)
    shown = {name: " ".join(_shown(m)) for name, m in EVERY_LANGUAGE["zh-CN"].items()}
    for term in ("设备综合效率", "时间开动率", "性能开动率", "合格品率", "六大损失", "故障停机",
                 "小停机", "换型调整", "计划停机", "绿", "黄", "橙", "红"):
        assert term in shown["plant-overview.json"], term
    for term in ("能耗双控", "吨标准煤", "年度指标", "单位产品能耗", "预警等级"):
        assert term in shown["energy-dual-control.json"], term
    energy = json.dumps(EVERY_LANGUAGE["zh-CN"]["energy-dual-control.json"],
                        ensure_ascii=False)
    assert '"electricity": {"text": "电力"' in energy and '"kWh": {"text": "千瓦时"' in energy


def test_dashboards_cover_the_issue() -> None:
    titles = {name: {p["title"] for p in m["panels"]} for name, m in MODELS.items()}
    assert {"OEE by line", "Machine states now", "Six big losses", "Output and scrap",
            "Energy today", "Dual control"} <= titles["plant-overview.json"]
    assert {"State", "OEE cascade (ISO 22400)", "Counts by product", "Power", "Energy",
            "Minor stops"} <= titles["machine.json"]
    assert {"Consumption by carrier", "Energy intensity against target",
            "Year to date against quota"} <= titles["energy-dual-control.json"]
    assert {"Freshness (lag)", "Backlog", "Outages and shed data", "Dead letters by reason",
            "Ingest rate", "Write latency, lag and spool"} <= titles["gateways-ingest.json"]


def _broken(mutate: Any) -> list[str]:
    model = copy.deepcopy(MODELS["plant-overview.json"])
    mutate(model)
    return problems(model, known_uids=UIDS)


def test_validation_finds_what_grafana_would_reject() -> None:
    def set_(path: list[Any], value: Any) -> Any:
        def mutate(model: dict[str, Any]) -> None:
            node = model
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        return mutate

    assert any("schemaVersion" in p for p in _broken(lambda m: m.pop("schemaVersion")))
    assert any("ids" in p for p in _broken(set_(["panels", 1, "id"], 1)))
    assert any("overlaps" in p for p in _broken(set_(["panels", 1, "gridPos", "x"], 2)))
    assert any("24-column" in p for p in _broken(set_(["panels", 0, "gridPos", "w"], 30)))
    assert any("not the provisioned" in p for p in _broken(
        set_(["panels", 2, "targets", 0, "datasource"], {"type": "influxdb", "uid": "other"})))
    assert any("$shift" in p for p in _broken(set_(
        ["panels", 0, "targets", 0, "query"],
        'SELECT sum("apt_s") AS "a" FROM "oee_components" WHERE "shift" =~ /^$shift$/')))
    assert any("without AS" in p for p in _broken(set_(
        ["panels", 0, "targets", 0, "query"], 'SELECT sum("apt_s") FROM "oee_components"')))
    assert any("unknown dashboard" in p for p in _broken(set_(
        ["panels", 7, "fieldConfig", "overrides", 1, "properties", 0, "value", 0, "url"],
        "/d/nowhere/x")))


def test_deploy_files_are_what_export_writes() -> None:
    files = provisioning_files(DashboardSettings())
    for relative, content in files.items():
        assert (DEPLOY / relative).read_text(encoding="utf-8") == content, relative
    on_disk = {str(p.relative_to(DEPLOY)) for p in DEPLOY.rglob("*") if p.is_file()}
    assert on_disk == set(files)


def test_provisioning_yaml_points_at_the_dashboards() -> None:
    files = provisioning_files(DashboardSettings())
    source = yaml.safe_load(files["provisioning/datasources/plantstream.yaml"])
    (ds,) = source["datasources"]
    assert (ds["uid"], ds["type"], ds["jsonData"]["version"]) == (
        DATASOURCE_UID, "influxdb", "InfluxQL")
    assert (ds["url"], ds["user"], ds["jsonData"]["dbName"]) == (
        "$INFLUXDB_URL", "$INFLUXDB_USER", "$INFLUXDB_DATABASE")  # from compose's environment
    assert ds["secureJsonData"]["password"] == "$__file{/run/secrets/influxdb-reader-password}"
    english, chinese = yaml.safe_load(files["provisioning/dashboards/plantstream.yaml"])[
        "providers"]
    assert (english["folder"], english["folderUid"]) == ("PlantStream", FOLDER_UID)
    assert (chinese["folder"], chinese["folderUid"]) == ("PlantStream（中文）",
                                                         "plantstream-zh-cn")
    # side by side: a provider reads its path recursively, so neither holds the other
    assert english["options"]["path"] == "/var/lib/grafana/dashboards/en"
    assert chinese["options"]["path"] == "/var/lib/grafana/dashboards/zh-CN"
    for lang, directory in (("en", "en"), ("zh-CN", "zh-CN")):
        for name, model in EVERY_LANGUAGE[lang].items():  # type: ignore[index]
            assert json.loads(files[f"dashboards/{directory}/{name}"]) == model
    uids = [m["uid"] for models in EVERY_LANGUAGE.values() for m in models.values()]
    assert len(set(uids)) == len(uids) == 2 * len(DASHBOARDS)


def test_limit_grades_become_thresholds() -> None:
    settings = DashboardSettings(limit_grades=[
        LimitGradeSettings(product="P-300", kgce_per_unit=[0.2, 0.3])])
    energy = build_all(settings)["energy-dual-control.json"]
    (grades,) = [p for p in energy["panels"] if p["title"].startswith("Unit-product")]
    steps = grades["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 0.2, 0.3]
    assert "P-300" in grades["title"]


# -------------------------------------------------------------- Grafana's substitution

VARIABLES = MODELS["plant-overview.json"]["templating"]["list"]
MACHINE_VARIABLES = MODELS["machine.json"]["templating"]["list"]
RANGE = TimeRange(1_700_000_000_000, 1_700_028_800_000)


def test_time_filter_and_interval_as_grafana_sends_them() -> None:
    q = render('SELECT sum("x") AS "x" FROM m WHERE $timeFilter GROUP BY time($__interval)',
               time_range=RANGE, interval_ms=60_000, variables=[], selection={})
    assert q == ('SELECT sum("x") AS "x" FROM m WHERE time >= 1700000000000ms and '
                 'time <= 1700028800000ms GROUP BY time(1m)')
    assert grafana_interval(RANGE, max_data_points=1000) == 30_000  # 8 h / 1000 = 28.8 s
    assert grafana_interval(RANGE, max_data_points=1000, min_interval="5m") == 300_000
    assert grafana_interval(TimeRange(0, 86_400_000), max_data_points=100) == 900_000


def test_variables_as_grafana_sends_them() -> None:
    q = '"site" =~ /^$site$/ AND "line" =~ /^${line}$/ AND "machine" =~ /^[[machine]]$/'

    def sub(variables: Any = VARIABLES, **selection: Any) -> str:
        return render(q, time_range=RANGE, interval_ms=1000, variables=variables,
                      selection=selection)

    assert sub(site=ALL, line=ALL, machine=ALL) == \
        '"site" =~ /^.*$/ AND "line" =~ /^.*$/ AND "machine" =~ /^.*$/'
    assert sub(site=["a.b"], line=["l-1", "l/2"], machine=ALL) == \
        '"site" =~ /^a\\.b$/ AND "line" =~ /^(l-1|l\\/2)$/ AND "machine" =~ /^.*$/'
    # a single-value variable without All goes in as it is
    assert sub(MACHINE_VARIABLES, site=ALL, line=ALL, machine="press.01").endswith(
        '"machine" =~ /^press.01$/')
    with pytest.raises(ValueError, match="no All"):
        sub(MACHINE_VARIABLES, site=ALL, line=ALL, machine=ALL)
    with pytest.raises(ValueError, match="undefined variable"):
        render("$nope", time_range=RANGE, interval_ms=1, variables=[], selection={})


def test_relative_time_is_in_the_plant_time_zone() -> None:
    # 2023-11-15 06:13:20 UTC = 14:13:20 in Shanghai
    end = 1_700_028_800_000
    day = panel_range(TimeRange(0, end), "now/d", "Asia/Shanghai")
    assert day == TimeRange(1_699_977_600_000, end)  # 2023-11-15 00:00 +08:00
    year = panel_range(TimeRange(0, end), "now/y", "Asia/Shanghai")
    assert year.from_ms == 1_672_502_400_000  # 2023-01-01 00:00 +08:00
    assert panel_range(TimeRange(0, end), "6h", "UTC") == TimeRange(end - 21_600_000, end)


def test_expected_columns_are_the_aliases() -> None:
    assert expected_columns('SELECT sum("a") / sum("b") AS "ratio", last("e") AS "e" '
                            'FROM "m" WHERE x') == ["ratio", "e"]
    assert expected_columns('SHOW TAG VALUES FROM "m" WITH KEY = "site"') == ["key", "value"]
    with pytest.raises(ValueError):
        expected_columns('SELECT sum("a"), sum("b") AS "b" FROM "m"')


def test_settings_file_is_validated(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('timezone = "Asia/Urumqi"\n[[limit_grades]]\nproduct = "P-200"\n'
                    'kgce_per_unit = [0.1, 0.2]\n')
    settings = load_settings(str(good))
    assert settings.timezone == "Asia/Urumqi" and settings.limit_grades[0].product == "P-200"
    assert all(m["timezone"] == "Asia/Urumqi" for m in build_all(settings).values())
    typo = tmp_path / "typo.toml"
    typo.write_text('time_zone = "Asia/Shanghai"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(str(typo))
    assert "time_zone" in caught.value.key
    stricter = tmp_path / "stricter.toml"
    stricter.write_text('[[limit_grades]]\nproduct = "P"\nkgce_per_unit = [0.2, 0.1]\n')
    with pytest.raises(ConfigError, match="stricter"):
        load_settings(str(stricter))
