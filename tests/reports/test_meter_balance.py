"""A site's main incoming meter against its sub-meters, through the real path: edge
batcher -> Mosquitto -> ingest worker -> InfluxDB -> the regulator report. The main meter's
energy is kept apart (`energy_main`), never added to the site's totals, and the report's
data quality flags a site whose sub-meters differ from it by more than the tolerance."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import pytest

from plantstream.config import load_plant
from plantstream.devstack.services import InfluxD, Mosquitto
from plantstream.edge.batcher import Batcher
from plantstream.edge.readings import MeterReading, StateReading
from plantstream.errors import ConfigError
from plantstream.ingest.worker import IngestWorker
from plantstream.reports import Source, build_report, load_report_config, report_json
from plantstream.reports.model import Report
from plantstream.reports.pdf import report_pdf
from plantstream.reports.periods import parse_period
from plantstream.store.influxql import InfluxQL
from plantstream.topics import Topics
from plantstream.wire import Batch, encode
from tests.harness import ingest_config, publish, wait_for_batches

ZONE = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 11, 10)
DAY_MS = int(dt.datetime.combine(DAY, dt.time(), tzinfo=ZONE).timestamp() * 1000)

PLANT = """
[enterprise]
id = "ent-m"
name = "Meter Works"
jurisdiction = "prov-zj"

[[sites]]
id = "site-m"
name = "Meter Works Huzhou"

[[lines]]
id = "line-1"
site = "site-m"

[[gateways]]
id = "gw-m"
site = "site-m"

[[machines]]
id = "press"
line = "line-1"
gateway = "gw-m"

[[machines]]
id = "oven"
line = "line-1"
gateway = "gw-m"

[[machines]]
id = "incoming"
line = "line-1"
gateway = "gw-m"
main_meter = true
"""

# kWh per minute: the sub-meters add up to 15, the main meter reads 15.6 (4 % of
# losses and unmetered loads: |15 / 15.6 - 1| = 3.85 %)
PER_MINUTE = {"press": 10.0, "oven": 5.0, "incoming": 15.6}
MINUTES = 24 * 60


def _report_toml(url: str, database: str, extra: str = "") -> str:
    return (f'plants = ["plant.toml"]\n{extra}\n'
            f'[influx]\nurl = "{url}"\ndatabase = "{database}"\n')


def _messages(topic_root: str) -> list[tuple[str, bytes]]:
    readings: list[StateReading | MeterReading] = [StateReading("press", DAY_MS, 10000)]
    for minute in range(MINUTES + 1):
        for machine, kwh in PER_MINUTE.items():
            # 0.1 kWh counts on a 32-bit register
            readings.append(MeterReading(machine, DAY_MS + minute * 60_000, "electricity",
                                         "kWh", round(minute * kwh * 10), 0.1, 2**32, 60_000))
    readings.sort(key=lambda r: r.t_ms)
    batcher = Batcher(flush_interval_ms=60_000, start_ms=DAY_MS)
    closed = batcher.add(readings) + batcher.close_until(DAY_MS + (MINUTES + 1) * 60_000)
    topic = Topics(root=topic_root).gateway(site="site-m", gateway="gw-m").batch
    return [(topic, encode(Batch(v=1, site="site-m", gateway="gw-m", seq=i,
                                 t_start_ms=c.t_start_ms, t_end_ms=c.t_end_ms,
                                 machines=c.machines))) for i, c in enumerate(closed)]


@pytest.mark.services
def test_main_meter_is_kept_apart_and_checked_against_the_sub_meters(
        broker: Mosquitto, influxd: InfluxD, database: str, influxql: InfluxQL,
        topic_root: str, tmp_path: Path) -> None:
    (tmp_path / "plant.toml").write_text(PLANT)
    plant = load_plant(tmp_path / "plant.toml")
    assert plant.main_meters == {"incoming"}
    messages = _messages(topic_root)

    async def main() -> None:
        worker = IngestWorker(config=ingest_config(
            broker_port=broker.port, influx_url=influxd.url, database=database,
            topic_root=topic_root, spool_dir=tmp_path / "spool"), plant=plant)
        async with worker:
            await worker.connected.wait()
            await publish(broker.port, messages)
            stored = await asyncio.to_thread(wait_for_batches, influxql, len(messages),
                                             timeout_s=120)
            assert stored == len(messages)

    asyncio.run(main())
    # the main meter's energy is apart: the sums over `energy` are the sub-meters'
    sub = {s.tags["machine"]: s.values[0][1] for s in influxql.query(
        'SELECT sum("quantity") FROM "energy" GROUP BY "machine"')}
    assert set(sub) == {"press", "oven"}
    main = influxql.scalar('SELECT sum("quantity") FROM "energy_main"')
    assert main == pytest.approx(MINUTES * PER_MINUTE["incoming"])

    def report(extra: str = "") -> Report:
        config = tmp_path / "reports.toml"
        config.write_text(_report_toml(influxd.url, database, extra))
        loaded = load_report_config(config)
        return build_report(loaded, Source(client=influxql, kind="raw"), scope_id="site-m",
                            period=parse_period(DAY.isoformat()),
                            today=DAY + dt.timedelta(days=2))

    passing = report()
    # a step counts where its later reading falls: the one read at 00:00 the next day
    # belongs to that day
    day_minutes = MINUTES - 1
    sub_kwh = day_minutes * (PER_MINUTE["press"] + PER_MINUTE["oven"])
    quantities = {c.carrier: c.quantity for c in passing.energy.carriers}
    assert quantities == {"electricity": pytest.approx(sub_kwh)}  # the main meter not added
    quality = passing.data_quality
    [balance] = quality.meter_balance
    assert (balance.site, balance.carrier, balance.main_meters) == (
        "site-m", "electricity", ["incoming"])
    assert balance.main_quantity == pytest.approx(day_minutes * PER_MINUTE["incoming"])
    assert balance.sub_quantity == pytest.approx(sub_kwh)
    assert balance.deviation == pytest.approx(1 - 15.0 / 15.6)
    assert balance.tolerance == 0.05 and balance.passes and quality.passes_meter_balance
    # the main meter is not a sub-meter without data
    assert {m.machine for m in quality.meters} == {"press", "oven"}

    # a tighter tolerance, for electricity only: the site is flagged
    failing = report("meter_balance_tolerance = 0.10\n"
                     "meter_balance_tolerances = { electricity = 0.02 }\n")
    [balance] = failing.data_quality.meter_balance
    assert balance.tolerance == 0.02 and not balance.passes
    assert not failing.data_quality.passes_meter_balance
    # and the PDF says so, in both languages
    _, digest = report_json(failing)
    checks: list[tuple[Literal["en", "zh-CN"], list[str]]] = [
        ("en", ["main meter site-m/electricity", "sub-meters 21,585 of 22,448",
                "tolerance 2%", "fail"]),
        ("zh-CN", ["总表 site-m/电力", "分表 21,585 / 总表 22,448"])]
    for lang, expected in checks:
        pdf = tmp_path / f"report-{lang}.pdf"
        pdf.write_bytes(report_pdf(failing, digest, lang))
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                              capture_output=True, text=True, timeout=60).stdout
        for words in expected:
            assert words in text, (lang, words)


def test_a_tolerance_for_an_unknown_carrier_is_refused_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "plant.toml").write_text(PLANT)
    config = tmp_path / "reports.toml"
    config.write_text(_report_toml("http://127.0.0.1:9", "unused",
                                   "meter_balance_tolerances = { electrcity = 0.02 }\n"))
    with pytest.raises(ConfigError) as caught:
        load_report_config(config)
    assert "meter_balance_tolerances.electrcity" in str(caught.value)
