"""The shift every dashboard test reads (package scope: one shift for all of them);
how it is made is in `shift.py`."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from plantstream.devstack.demo import run_pipeline, simulation_start
from plantstream.devstack.services import InfluxD, Mosquitto
from plantstream.store.influxql import InfluxQL
from tests.dashboards.shift import (
    MACHINES,
    SIM_SECONDS,
    Shift,
    cut_off_gateway_health,
    dual_control_lines,
    each_mu_lines,
    publish_faults,
)


@pytest.fixture(scope="package")
def shift(broker: Mosquitto, influxd: InfluxD, tmp_path_factory: pytest.TempPathFactory,
          ) -> Iterator[Shift]:
    database = f"dashboards_{uuid.uuid4().hex[:8]}"
    topic_root = f"dash-{uuid.uuid4().hex[:8]}"
    state = tmp_path_factory.mktemp("dashboards")
    # a shift that ended at least two days ago: on a loaded machine the simulated
    # clock runs on while the gateways stop, and must not reach the future
    start_ms = simulation_start(SIM_SECONDS + 2 * 86_400)
    result = asyncio.run(run_pipeline(
        broker_port=broker.port, influx_url=influxd.url, database=database,
        topic_root=topic_root, state_dir=state / "pipeline", machines=MACHINES,
        sim_seconds=SIM_SECONDS, speedup=2000.0, seed=1, start_ms=start_ms))
    with InfluxQL(url=influxd.url, database=database) as client:
        try:
            cut_off = asyncio.run(cut_off_gateway_health(
                result, state_dir=state / "cut-off", topic_root=topic_root))
            asyncio.run(publish_faults(result, broker_port=broker.port,
                                        influx_url=influxd.url, database=database,
                                        topic_root=topic_root, cut_off=cut_off))
            r = httpx.post(f"{influxd.url}/write", params={"db": database, "precision": "ms"},
                           content="\n".join(dual_control_lines(result, client)).encode())
            assert r.status_code == 204, r.text
            r = httpx.post(f"{influxd.url}/write", params={"db": database, "precision": "ms"},
                           content="\n".join(each_mu_lines(
                               influxd.url, state, result.t_start_ms)).encode())
            assert r.status_code == 204, r.text
            yield Shift(result=result, client=client, database=database, cut_off=cut_off,
                        wall_end_ms=int(time.time() * 1000) + 1000)
        finally:
            with contextlib.suppress(Exception):
                client.query(f'DROP DATABASE "{database}"')
