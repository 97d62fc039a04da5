"""Real services for the tests: Mosquitto and InfluxDB processes on free loopback ports.

The broker and the database are shared by the session (starting influxd takes a
second); every test gets its own topic root and its own database, so tests never see
each other's data. Fault tests that kill a service start their own.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from plantstream.devstack.services import InfluxD, Mosquitto, VictoriaMetrics
from plantstream.store.influxql import InfluxQL

_counter = itertools.count()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    service = Mosquitto(data_dir=tmp_path_factory.mktemp("mosquitto"))
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxD]:
    service = InfluxD(data_dir=tmp_path_factory.mktemp("influxd"))
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    service = VictoriaMetrics(data_dir=tmp_path_factory.mktemp("victoria"))
    service.start()
    yield service
    service.stop()


@pytest.fixture
def topic_root() -> str:
    """A topic root of this test's own: `t<n>-<random>` replaces `plantstream`."""
    return f"t{next(_counter)}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def database(influxd: InfluxD) -> Iterator[str]:
    name = f"test_{next(_counter)}_{uuid.uuid4().hex[:8]}"
    with InfluxQL(url=influxd.url, database=name) as client:
        client.create_database()
        yield name
        client.query(f'DROP DATABASE "{name}"')


@pytest.fixture
def influxql(influxd: InfluxD, database: str) -> Iterator[InfluxQL]:
    with InfluxQL(url=influxd.url, database=database) as client:
        yield client


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path
