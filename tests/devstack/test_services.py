"""The service fixtures start real processes, answer, and stop by PID."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plantstream.devstack.services import InfluxD, Mosquitto
from plantstream.errors import ServiceError
from plantstream.store.influxql import InfluxQL


def test_influxd_answers_and_stores(influxql: InfluxQL) -> None:
    influxql.query(f'CREATE RETENTION POLICY "probe" ON "{influxql.database}" '
                   "DURATION 1d REPLICATION 1")
    names = [row[0] for s in influxql.query("SHOW RETENTION POLICIES") for row in s.values]
    assert "probe" in names


def test_service_stops_by_pid(tmp_path: Path) -> None:
    broker = Mosquitto(data_dir=tmp_path / "m")
    broker.start()
    pid = broker.pid
    assert pid is not None
    os.kill(pid, 0)  # alive
    broker.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_failed_start_reports_the_log(tmp_path: Path) -> None:
    first = InfluxD(data_dir=tmp_path / "a")
    first.start()
    try:
        clash = InfluxD(data_dir=tmp_path / "b", port=first.port)
        with pytest.raises(ServiceError, match="already in use"):
            clash.start(timeout_s=5)
    finally:
        first.stop()


def test_a_service_keeps_its_port_on_the_same_data_directory(tmp_path: Path) -> None:
    """Configuration written against a local service stays true when it starts again
    (the demo's report configuration, then `plantstream stack`)."""
    first = Mosquitto(data_dir=tmp_path / "broker")
    first.start()
    first.stop()
    again = Mosquitto(data_dir=tmp_path / "broker")
    assert again.port == first.port
    taken = Mosquitto(data_dir=tmp_path / "broker")
    taken.start()
    try:  # its port is in use now: another service on that directory gets another port
        assert Mosquitto(data_dir=tmp_path / "broker").port != taken.port
    finally:
        taken.stop()
