"""The v1 sink as a least-privileged InfluxDB user (the compose stack's `ingest`)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from plantstream.config import Secret
from plantstream.errors import StoreError
from plantstream.store.config import InfluxConfig
from plantstream.store.influx_v1 import InfluxV1Sink
from tests.deploy.compose_local import AuthInfluxD

ADMIN = ("admin", "adm1n-Passw0rd")


@pytest.fixture(scope="module")
def auth_influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with AuthInfluxD(data_dir=tmp_path_factory.mktemp("auth-influxd")) as influx:
        for q in (f"CREATE USER admin WITH PASSWORD '{ADMIN[1]}' WITH ALL PRIVILEGES",
                  'CREATE DATABASE "plantstream"',
                  "CREATE USER ingest WITH PASSWORD 'ingest-Passw0rd'",
                  'GRANT ALL ON "plantstream" TO ingest'):
            assert httpx.post(f"{influx.url}/query", data={"q": q}, auth=ADMIN).is_success
        yield influx.url


def _sink(url: str, database: str) -> InfluxV1Sink:
    return InfluxV1Sink(config=InfluxConfig(url=url, database=database, username="ingest",
                                            password=Secret("ingest-Passw0rd")))


async def test_a_user_who_may_not_create_its_existing_database_starts(
        auth_influxd: str) -> None:
    sink = _sink(auth_influxd, "plantstream")
    try:
        await sink.ensure_database()  # 403 to CREATE DATABASE, but it is there
        await sink.write(b"probe value=1 1700000000000")
    finally:
        await sink.aclose()


async def test_a_missing_database_it_may_not_create_is_an_error(auth_influxd: str) -> None:
    sink = _sink(auth_influxd, "elsewhere")
    try:
        with pytest.raises(StoreError, match="may not create database 'elsewhere'"):
            await sink.ensure_database()
    finally:
        await sink.aclose()
