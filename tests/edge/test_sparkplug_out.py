"""Sparkplug B out: the edge agent as a Sparkplug edge node, read by a third-party host.

The host is pysparkplug (tests/peers/spb_host.py, its own process and virtualenv): it
decodes every message with its own protobuf code and resolves aliases and datatypes
from the births it saw.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from plantstream.config import convert
from plantstream.devstack.services import Mosquitto
from plantstream.edge.agent import EdgeAgent
from plantstream.edge.config import EdgeConfig
from tests.edge.test_sparkplug import ROOT, EdgeNodeProcess

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]

HOST_SCRIPT = ROOT / "tests" / "peers" / "spb_host.py"
EXPECTED = {  # every metric of a simulated machine with gas, and its Sparkplug datatype
    "State": "INT32", "Product": "STRING", "Counts/good": "UINT64", "Counts/scrap": "UINT64",
    "Counts/rework": "UINT64", "Counts/startup_rejects": "UINT64",
    "Energy/electricity": "DOUBLE", "Energy/natural_gas": "DOUBLE",
    "Signals/power_kw": "DOUBLE"}


def messages(host: EdgeNodeProcess, kind: str, device: str | None = None) -> list[Any]:
    return [line for line in host.lines if line.get("event") == "message"
            and line["type"] == kind and (device is None or line["device"] == device)]


def bd_seq(message: dict[str, Any]) -> int:
    return int(next(m["value"] for m in message["metrics"] if m["name"] == "bdSeq"))


async def test_agent_is_a_sparkplug_edge_node(broker: Mosquitto, topic_root: str,
                                              state_dir: Path) -> None:
    group = f"plant-{uuid.uuid4().hex[:8]}"
    host = EdgeNodeProcess(script=HOST_SCRIPT)
    await host.start()
    try:
        await host.send({"op": "subscribe", "port": broker.port, "group": group})
        config = convert({
            "gateway": {"id": "gw-7", "site": "site-1", "flush_interval_s": 1,
                        "state_dir": str(state_dir), "health_interval_s": 60},
            "mqtt": {"port": broker.port, "topic_root": topic_root},
            # no breaks: on the wall clock, a run at 04:00, 12:00 or 20:00 local time
            # would find the machine on its break (state 160000) at birth
            "sources": [{"type": "simulator", "seed": 3, "breaks": [], "machines": [{
                "id": "press-01", "products": {"P-100": 2.0}, "gas_m3_per_h": 4.0}]}],
            "sparkplug": {"group": group},
        }, EdgeConfig, source="test")

        def full_birth(line: dict[str, Any]) -> bool:
            return (line.get("type") == "DBIRTH"
                    and {m["name"] for m in line["metrics"]} >= set(EXPECTED))

        async with EdgeAgent(config=config) as agent:
            birth = await host.wait_for(full_birth)
            # every metric, with its datatype, read back by the third-party host
            assert {m["name"]: m["datatype"] for m in birth["metrics"]} == EXPECTED
            values = {m["name"]: m["value"] for m in birth["metrics"]}
            assert values["State"] == 10000 and values["Product"] == "P-100"
            assert isinstance(values["Energy/electricity"], float)
            assert birth["node"] == "gw-7" and birth["device"] == "press-01"
            # DDATA by alias only: the library names them from the DBIRTH
            data = await host.wait_for(lambda line: line.get("type") == "DDATA" and any(
                m["name"] == "Signals/power_kw" for m in line["metrics"]))
            assert all(m["name"] in EXPECTED and m["datatype"] == EXPECTED[m["name"]]
                       for m in data["metrics"])
            (nbirth,) = messages(host, "NBIRTH")
            assert nbirth["seq"] == 0
            # a rebirth requested by the host: NBIRTH (same session bdSeq) and DBIRTH again
            births = len(messages(host, "DBIRTH"))
            await host.send({"op": "rebirth", "node": "gw-7"})
            await host.wait_for(lambda _line: len(messages(host, "NBIRTH")) == 2
                                and len(messages(host, "DBIRTH")) > births)
            assert agent.sparkplug is not None and agent.sparkplug.rebirth_requests == 1
            assert bd_seq(messages(host, "NBIRTH")[1]) == bd_seq(nbirth)
            assert await agent.stop(drain_timeout_s=10)
        (death,) = [await host.wait_for(lambda line: line.get("type") == "NDEATH")]
        assert bd_seq(death) == bd_seq(nbirth)  # the death names the session it ends
        # seq runs 0..255 over NBIRTH, DBIRTH and DDATA without a gap
        seqs = [line["seq"] for line in host.lines if line.get("event") == "message"
                and line["type"] in ("NBIRTH", "DBIRTH", "DDATA")]
        rebirth = seqs.index(0, 1)
        for run in (seqs[:rebirth], seqs[rebirth:]):
            assert run == [i % 256 for i in range(len(run))]
    finally:
        await host.stop()
