"""Every panel target of every dashboard, substituted the way Grafana substitutes it,
runs against the real InfluxDB after a simulated shift and returns the columns the
panel expects, with values."""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.image
import pytest

from plantstream.cli import main
from plantstream.dashboards import ALL, DashboardSettings, build_all, run_dashboard, run_variables
from plantstream.dashboards.catalog import build_every_language
from plantstream.dashboards.execute import TargetResult
from plantstream.i18n import LANGS, Lang
from tests.dashboards.shift import CUT_OFF_GATEWAY, Shift

pytestmark = [pytest.mark.services, pytest.mark.slow]

MODELS = build_all(DashboardSettings())
# both languages: the Chinese dashboards' queries carry Chinese column aliases
EVERY_LANGUAGE = build_every_language(DashboardSettings())
# what an operator selects: All, several values, or one machine
SELECTIONS: dict[str, list[dict[str, Sequence[str] | str]]] = {
    "plant-overview.json": [{"site": ALL, "line": ALL, "machine": ALL},
                            {"site": ["suzhou-1"], "line": ["line-1", "line-3"],
                             "machine": ALL}],
    "machine.json": [{"site": ALL, "line": ALL, "machine": "press-01"}],
    "energy-dual-control.json": [{"site": ALL, "line": ALL, "machine": ALL},
                                 {"site": ["suzhou-1"], "line": ["line-3"],
                                  "machine": ALL}],
    "gateways-ingest.json": [{"site": ALL, "gateway": ALL},
                             {"site": ALL, "gateway": [CUT_OFF_GATEWAY, "gw-line-1"]}],
    "jurisdiction-each-mu.json": [{"jurisdiction": "county-x"}],
}


def _window(name: str, shift: Shift) -> Any:
    # gateway and ingest health are stamped with the wall clock, after the shift
    return shift.wall_range if name == "gateways-ingest.json" else shift.shift_range


def assert_has_columns(result: TargetResult) -> None:
    assert result.series, f"{result.title}: no rows for {result.query}"
    for series in result.series:
        assert series.values, f"{result.title}: empty series {series.tags}"
        missing = [c for c in result.columns if c not in series.columns]
        assert not missing, f"{result.title}: columns {missing} missing in {series.columns}"
        assert set(result.tags) <= set(series.tags) or set(result.tags) <= set(series.columns)
    for column in result.columns:
        values = [v for s in result.series for v in s.column(column)]
        assert any(v is not None for v in values), f"{result.title}: {column} all null"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", sorted(SELECTIONS))
def test_every_panel_returns_its_columns(shift: Shift, name: str, lang: Lang) -> None:
    model = EVERY_LANGUAGE[lang][name]
    for selection in SELECTIONS[name]:
        results = run_dashboard(model, shift.client, time_range=_window(name, shift),
                                selection=selection)
        assert len(results) == sum(len(p["targets"]) for p in model["panels"])
        for result in results:
            assert not re.search(r"\$[\w{]|\[\[", result.query), result.query  # all replaced
            assert_has_columns(result)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", sorted(SELECTIONS))
def test_template_variables_offer_the_plant(shift: Shift, name: str, lang: Lang) -> None:
    offered = run_variables(EVERY_LANGUAGE[lang][name], shift.client, SELECTIONS[name][0])
    plant = shift.result.plant
    expected: Mapping[str, set[str]] = {
        "site": {s.id for s in plant.sites}, "line": {m.line for m in plant.machines},
        "machine": {m.id for m in plant.machines}, "gateway": {g.id for g in plant.gateways},
        "jurisdiction": {"county-x"}}
    assert offered
    for variable, values in offered.items():
        assert set(values) == expected[variable], variable


def test_preview_draws_every_dashboard(shift: Shift, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`plantstream dashboards preview` writes one PNG per dashboard from the same
    queries' results, and says it is a preview."""
    end = dt.datetime.fromtimestamp(shift.wall_end_ms / 1000, dt.UTC)
    hours = (shift.wall_end_ms - shift.result.t_start_ms) / 3_600_000
    assert main(["dashboards", "preview", str(tmp_path), "--influx-url",
                 shift.client.url, "--database", shift.database, "--end", end.isoformat(),
                 "--hours", f"{hours:.6f}"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(MODELS) and all("preview" in line for line in out)
    paths = sorted(tmp_path.glob("*.png"))
    assert [p.name for p in paths] == sorted(n.replace(".json", ".png") for n in MODELS)
    for path in paths:
        image = matplotlib.image.imread(path)
        assert image.shape[1] == 1440 and image.shape[0] > 600  # 18 in at 80 dpi
        assert image.std() > 0.05  # something was drawn, not a blank page


def test_chinese_preview_draws_with_the_cjk_font(shift: Shift, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`--lang zh-CN` draws the Chinese dashboards: with the CJK font, the picture
    differs from the English one (the texts) and nothing falls back to empty boxes."""
    end = dt.datetime.fromtimestamp(shift.wall_end_ms / 1000, dt.UTC)
    hours = (shift.wall_end_ms - shift.result.t_start_ms) / 3_600_000
    common = ["--influx-url", shift.client.url, "--database", shift.database,
              "--end", end.isoformat(), "--hours", f"{hours:.6f}"]
    with warnings.catch_warnings():
        # matplotlib warns "Glyph ... missing from font(s)" for a character it cannot draw
        warnings.simplefilter("error")
        assert main(["dashboards", "preview", str(tmp_path / "zh"), "--lang", "zh-CN",
                     *common]) == 0
    assert main(["dashboards", "preview", str(tmp_path / "en"), *common]) == 0
    capsys.readouterr()
    name = "plant-overview.png"
    chinese = matplotlib.image.imread(tmp_path / "zh" / name)
    english = matplotlib.image.imread(tmp_path / "en" / name)
    assert chinese.shape[1] == 1440 and chinese.std() > 0.05
    assert chinese.shape != english.shape or (chinese != english).any()
    assert sorted(p.name for p in (tmp_path / "zh").glob("*.png")) == \
        sorted(n.replace(".json", ".png") for n in MODELS)
