"""The published OpenAPI spec (docs/openapi.json) is the one the server serves."""

from __future__ import annotations

import json
from pathlib import Path

from plantstream.reports import load_report_config
from plantstream.reports.server import create_app
from plantstream.store.influxql import InfluxQL
from tests.reports.dataset import write_configs

DOCS = Path(__file__).resolve().parents[2] / "docs"


def served_spec(tmp_path: Path) -> dict[str, object]:
    config = write_configs(tmp_path, url="http://127.0.0.1:9", database="unused")
    with InfluxQL(url="http://127.0.0.1:9", database="unused") as client:
        return create_app(loaded=load_report_config(config), client=client).openapi()


def test_published_openapi_is_current(tmp_path: Path) -> None:
    spec = served_spec(tmp_path)
    published = json.loads((DOCS / "openapi.json").read_text())
    assert published == json.loads(json.dumps(spec)), (
        "regenerate: plantstream reports openapi --config FILE > docs/openapi.json")
    paths = spec["paths"]
    assert isinstance(paths, dict)
    assert {"/v1/reports/energy", "/v1/sites/{site}/realtime", "/v1/whoami"} <= set(paths)
    security = spec["components"]["securitySchemes"]  # type: ignore[index]
    assert security["HTTPBearer"]["scheme"] == "bearer"
