"""The demo's regulator view on a real InfluxDB: the synthetic history goes through
ingest's component code, and the report built on it agrees with what is stored."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from plantstream.config import to_toml
from plantstream.devstack.history import synthetic_days, write_history
from plantstream.devstack.plant import demo_plant
from plantstream.devstack.regulator import dual_control_days, regulator_view, write_report_config
from plantstream.store.influxql import InfluxQL

ZONE = ZoneInfo("Asia/Shanghai")
SHIFT_MS = 8 * 3_600_000


def _ms(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), tzinfo=ZONE).timestamp() * 1000)


def test_history_accounts_for_every_second_and_is_deterministic() -> None:
    plant, sims = demo_plant(3)
    end_ms = _ms(dt.date(2026, 3, 3)) + SHIFT_MS
    first = list(synthetic_days(plant, sims, first_day=dt.date(2026, 3, 1), end_ms=end_ms,
                                batch_ms=SHIFT_MS))
    again = list(synthetic_days(plant, sims, first_day=dt.date(2026, 3, 1), end_ms=end_ms,
                                batch_ms=SHIFT_MS))
    assert first == again
    batches = [b for day in first for b in day]
    assert len(batches) == 7 * len(plant.gateways)  # two days and one shift, per gateway
    for batch in batches:
        assert batch.t_end_ms - batch.t_start_ms == SHIFT_MS
        for machine in batch.machines:
            times = [c.t_ms for c in machine.changes]
            assert times == sorted(times) and all(batch.t_start_ms < t < batch.t_end_ms
                                                  for t in times)
            assert all(m.covered_ms == SHIFT_MS and m.delta >= 0 for m in machine.meters)
    with pytest.raises(ValueError, match="divide a day"):
        next(synthetic_days(plant, sims, first_day=dt.date(2026, 3, 1), end_ms=end_ms,
                            batch_ms=7 * 3_600_000))


@pytest.mark.slow
def test_regulator_view_report_agrees_with_the_stored_history(
        influxql: InfluxQL, tmp_path: Path) -> None:
    plant, sims = demo_plant(6)
    live_day = dt.date(2026, 11, 3)
    with influxql.writer() as writer:
        history = write_history(plant, sims, writer, first_day=dt.date(2026, 10, 1),
                                end_ms=_ms(live_day), batch_ms=SHIFT_MS)
    stored_kwh = influxql.scalar("SELECT sum(\"quantity\") FROM \"energy\" WHERE "
                                 "\"carrier\" = 'electricity'")
    assert abs(stored_kwh - history.kwh) < 1e-6 * history.kwh
    pbt = influxql.scalar('SELECT sum("interval_s") FROM "oee_components"')
    assert pbt == pytest.approx(6 * (_ms(live_day) - _ms(dt.date(2026, 10, 1))) / 1000)

    (tmp_path / "plant.toml").write_bytes(to_toml(plant))
    config_path, token_path = write_report_config(tmp_path, plant=plant, influx=influxql,
                                                  year=2026, ytd_end=live_day)
    assert token_path.stat().st_mode & 0o777 == 0o600
    days = dual_control_days(dt.date(2026, 10, 1), live_day - dt.timedelta(days=1))
    assert days[0] == dt.date(2026, 10, 27) and days[-1] == dt.date(2026, 11, 2)
    view = regulator_view(config_path, token_path, plant=plant, out_dir=tmp_path / "out",
                          period="2026-10", days=days)

    assert influxql.scalar('SELECT count("warning_code") FROM "dual_control"') == len(days)
    report = json.loads(view.json.read_text())
    october = (f"time >= {_ms(dt.date(2026, 10, 1))}ms AND "
               f"time < {_ms(dt.date(2026, 11, 1))}ms")
    kgce = influxql.scalar(f'SELECT sum("kgce") FROM "energy" WHERE {october}')
    assert report["energy"]["total_comprehensive_tce"] == pytest.approx(kgce / 1000, rel=1e-9)
    assert view.warning_level in ("yellow", "orange", "red")  # the demo quota is tight
    assert report["dual_control"]["warning_level"] == view.warning_level
    text = subprocess.run(["pdftotext", str(view.pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Demo Precision Parts" in text and "2026-10" in text
    # `plantstream demo --lang zh-CN`: the demo regulator reads Chinese, so its PDF is
    zh = tmp_path / "zh"
    zh.mkdir()
    (zh / "plant.toml").write_bytes(to_toml(plant))
    zh_config, zh_token = write_report_config(zh, plant=plant, influx=influxql, year=2026,
                                              ytd_end=live_day, lang="zh-CN")
    zh_view = regulator_view(zh_config, zh_token, plant=plant, out_dir=zh / "out",
                             period="2026-10", days=days[-1:])
    assert zh_view.digest == view.digest  # the same report: the JSON has no language
    zh_text = subprocess.run(["pdftotext", str(zh_view.pdf), "-"], capture_output=True,
                             text=True, check=True).stdout
    assert "综合能源消费量" in zh_text and "2026年10月" in zh_text and "预警等级" in zh_text
    assert "Energy report" not in zh_text
