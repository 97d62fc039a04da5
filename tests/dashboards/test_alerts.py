"""Every provisioned alert rule, evaluated the way Grafana evaluates it
(`dashboards.evaluate`: query over its relative range, reduce, math / threshold,
pending period, every group interval), against the real InfluxDB:

* on a normal simulated shift, no rule fires;
* on the same shift with scripted incidents (tests/dashboards/incidents.py), each
  rule fires for its incident, with the incident's labels, inside the incident's
  window, and for nothing else.

Telemetry rules are evaluated every minute through the simulated shift; the rules on
measurements stamped with the wall clock (gateway health, ingest health, dead letters)
every minute through the wall-clock phase after it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from plantstream.dashboards.alerts import AlertRule, build_rules
from plantstream.dashboards.evaluate import Firing, run_rule
from plantstream.devstack.services import InfluxD, Mosquitto
from plantstream.store.influxql import InfluxQL
from tests.dashboards.incidents import Scenario, build_scenario

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture(scope="module")
def scenario(broker: Mosquitto, influxd: InfluxD, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Scenario]:
    tag = uuid.uuid4().hex[:8]
    built = build_scenario(broker_port=broker.port, influx_url=influxd.url,
                           state_dir=Path(tmp_path_factory.mktemp("alerts")),
                           topic_root=f"alerts-{tag}", normal_db=f"alerts_normal_{tag}",
                           incident_db=f"alerts_incidents_{tag}")
    try:
        yield built
    finally:
        for client in (built.normal, built.incidents):
            client.query(f'DROP DATABASE "{client.database}"')
            client.close()


WALL_CLOCK = ("gateway_health", "ingest_health", "dead_letter")  # stamped on receipt / report


def _times(rule: AlertRule, scenario: Scenario) -> list[int]:
    wall = any(f'"{m}"' in q.query for q in rule.queries for m in WALL_CLOCK)
    return scenario.wall_times if wall else scenario.shift_times


def _run_all(scenario: Scenario, client: InfluxQL) -> dict[str, list[Firing]]:
    rules = build_rules(scenario.plant)
    with InfluxQL(url=client.url, database=client.database) as own:
        return {rule.uid: run_rule(rule, own, _times(rule, scenario)) for rule in rules}


@pytest.fixture(scope="module")
def fired(scenario: Scenario) -> dict[str, dict[str, list[Firing]]]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        normal = pool.submit(_run_all, scenario, scenario.normal)
        incidents = pool.submit(_run_all, scenario, scenario.incidents)
        return {"normal": normal.result(), "incidents": incidents.result()}


def test_the_scenario_covers_every_rule(scenario: Scenario) -> None:
    rules = {r.uid for r in build_rules(scenario.plant)}
    expected = {i.rule for i in scenario.expected}
    # gw-line-1 and gw-line-3 stay connected; line-1 (one of its two presses down for an
    # hour) and line-2 stay above their OEE target of 30 %: these rules must stay quiet
    assert rules - expected == {"ps-gw-silent-gw-line-1", "ps-gw-silent-gw-line-3",
                                "ps-oee-line-1", "ps-oee-line-2"}


def test_no_rule_fires_on_a_normal_shift(fired: dict[str, dict[str, list[Firing]]]) -> None:
    firing = {uid: [(f.label_map, f.periods) for f in instances]
              for uid, instances in fired["normal"].items() if instances}
    assert firing == {}


def test_each_rule_fires_for_its_incident_and_nothing_else(
        scenario: Scenario, fired: dict[str, dict[str, list[Firing]]]) -> None:
    found = fired["incidents"]
    for incident in scenario.expected:
        matching = [f for f in found[incident.rule]
                    if incident.labels.items() <= f.label_map.items()]
        assert matching, f"{incident.rule} {incident.labels} did not fire"
    for uid, instances in found.items():
        for firing in instances:
            where = [i for i in scenario.expected
                     if i.rule == uid and i.labels.items() <= firing.label_map.items()]
            assert where, f"{uid} fired for {firing.label_map} without an incident"
            incident = where[0]
            for start, end in firing.periods:
                assert incident.start_ms <= start < incident.end_ms, (uid, firing)
                assert end is None or end <= incident.end_ms, (uid, firing)


def test_the_meter_rule_fires_per_meter_for_resets_jumps_and_heavy_jitter(
        scenario: Scenario, fired: dict[str, dict[str, list[Firing]]]) -> None:
    """A reset (furnace-01 gas), one rejected impossible jump (cnc-01) and jitter above
    the site's limit (press-01) fire, each for its meter only; press-02's jitter at the
    limit and the simulator's normal jitter (a count back now and then) do not."""
    rule = f"ps-meter-reset-{scenario.plant.sites[0].id}"
    meters = sorted((f.label_map["machine"], f.label_map["carrier"])
                    for f in fired["incidents"][rule])
    assert meters == [("cnc-01", "electricity"), ("furnace-01", "natural_gas"),
                      ("press-01", "electricity")]
    assert fired["normal"][rule] == []
    (normal,) = scenario.normal.query('SELECT sum("jitter") AS "jitter" FROM "energy" '
                                      "WHERE time > 0")
    assert normal.values[0][1] > 0  # the normal shift has jitter, below the limit


def test_the_long_stop_waits_for_its_pending_period(
        scenario: Scenario, fired: dict[str, dict[str, list[Firing]]]) -> None:
    """press-01 broke down at t0+30min: its rule fires after long_stop_min (45 min) of
    ADET, not before (5 min window + 40 min pending), and resolves when it runs again."""
    firing = [f for f in fired["incidents"]["ps-long-stop-suzhou-1"]]
    assert len(firing) == 1 and len(firing[0].periods) == 1
    start, end = firing[0].periods[0]
    t0 = scenario.t0_ms
    assert t0 + (30 + 45) * 60_000 <= start <= t0 + (30 + 47) * 60_000
    assert end is not None and end <= t0 + (90 + 2) * 60_000
