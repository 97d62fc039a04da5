"""InfluxDB credentials in the report configuration (`[influx] username/password`)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from plantstream.errors import ConfigError, StoreError
from plantstream.reports import load_report_config
from tests.deploy.compose_local import AuthInfluxD


def _with_influx_keys(config_path: Path, keys: str) -> None:
    text = config_path.read_text()
    assert "[influx]\n" in text
    config_path.write_text(text.replace("[influx]\n", f"[influx]\n{keys}\n", 1))


def test_credentials_are_read_kept_secret_and_outside_the_config_hash(
        config_path: Path) -> None:
    base = load_report_config(config_path).config_hash
    _with_influx_keys(config_path, 'username = "reader"\npassword = "s3cret-Passw0rd"')
    loaded = load_report_config(config_path)
    influx = loaded.config.influx
    assert influx.username == "reader" and influx.password is not None
    assert influx.password.reveal() == "s3cret-Passw0rd"
    assert "s3cret" not in repr(influx) and "s3cret" not in f"{influx.password}"
    assert loaded.config_hash == base  # where the data lives is not what the figures are


def test_the_read_path_authenticates_with_them(config_path: Path, tmp_path: Path) -> None:
    """`InfluxSettings.client()` (the report API, `reports energy|check`, the energy
    rollups) reads an InfluxDB with authentication on as the configured user."""
    with AuthInfluxD(data_dir=tmp_path / "influxd") as influx:
        admin = ("admin", "adm1n-Passw0rd")
        for q in (f"CREATE USER admin WITH PASSWORD '{admin[1]}' WITH ALL PRIVILEGES",
                  'CREATE DATABASE "plantstream"',
                  "CREATE USER reader WITH PASSWORD 'r3ader-Passw0rd'",
                  'GRANT READ ON "plantstream" TO reader'):
            assert httpx.post(f"{influx.url}/query", data={"q": q}, auth=admin).is_success
        text = re.sub(r'url = ".*"', f'url = "{influx.url}"', config_path.read_text(), count=1)
        config_path.write_text(re.sub(r'database = ".*"', 'database = "plantstream"', text,
                                      count=1))
        anonymous = load_report_config(config_path).config.influx
        with anonymous.client() as client, pytest.raises(StoreError) as refused:
            client.query("SHOW MEASUREMENTS")
        assert refused.value.status == 401  # the fault: authentication is on
        _with_influx_keys(config_path, 'username = "reader"\npassword = "r3ader-Passw0rd"')
        reader = load_report_config(config_path).config.influx
        with reader.client() as client:
            assert client.query("SHOW MEASUREMENTS") == []


@pytest.mark.parametrize("keys", ['username = "reader"', 'password = "p"',
                                  'user = "reader"'])
def test_half_or_misspelt_credentials_are_refused(config_path: Path, keys: str) -> None:
    _with_influx_keys(config_path, keys)
    with pytest.raises(ConfigError, match="influx"):
        load_report_config(config_path)
