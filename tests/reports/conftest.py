"""The hand-computed dataset in a real InfluxDB, and the report configuration for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from plantstream.devstack.services import InfluxD
from plantstream.reports import LoadedConfig, Source, load_report_config
from plantstream.store.influxql import InfluxQL
from tests.reports.dataset import lines, write_configs, write_points


@pytest.fixture
def config_path(influxd: InfluxD, database: str, tmp_path: Path) -> Path:
    write_points(influxd.url, database, lines())
    return write_configs(tmp_path, url=influxd.url, database=database)


@pytest.fixture
def loaded(config_path: Path) -> LoadedConfig:
    return load_report_config(config_path)


@pytest.fixture
def source(influxql: InfluxQL, config_path: Path) -> Source:
    return Source(client=influxql, kind="raw")
