"""The demo's progress lines follow `--lang`: the service start lines, the synthetic
history's lines (written to a real InfluxDB) and their column alignment."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from zoneinfo import ZoneInfo

import pytest

from plantstream.devstack.demo import _row, _started_line, _write_history
from plantstream.devstack.plant import demo_plant
from plantstream.devstack.services import InfluxD


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _cells(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_service_start_lines_follow_the_language() -> None:
    english = _started_line("influxd", "http://127.0.0.1:8086", 4242, "en")
    assert re.match(r"^\s+influxd\s.*\(pid \d+\)", english)  # what test_signals waits for
    chinese = _started_line("influxd", "http://127.0.0.1:8086", 4242, "zh-CN")
    assert "influxd" in chinese and "进程号 4242" in chinese and "(pid" not in chinese


def test_rows_align_by_display_width() -> None:
    rows = [_row("history", "x"), _row("历史数据", "x"), _row("mosquitto", "x")]
    assert len({_cells(row[:row.rindex("x")]) for row in rows}) == 1


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_history_progress_lines_follow_the_language(
        lang: str, influxd: InfluxD, database: str, capsys: pytest.CaptureFixture[str]) -> None:
    plant, sims = demo_plant(1, seed=1)
    zone = ZoneInfo(plant.sites[0].timezone)
    # early in January: the history is last December and these days (about five weeks)
    live_start_ms = int(dt.datetime(2026, 1, 3, 8, tzinfo=zone).timestamp() * 1000)
    history = _write_history(plant, sims, influx_url=influxd.url, database=database,
                             live_start_ms=live_start_ms, seed=1, lang=lang)  # type: ignore[arg-type]
    assert history.batches > 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 3  # heading, a line per month, the totals
    if lang == "zh-CN":
        assert all(_has_chinese(line) for line in lines), lines
        assert "2025年12月1日" in lines[0] and any("2026年1月" in x for x in lines)
    else:
        assert not any(_has_chinese(line) for line in lines)
        assert "2025-12-01" in lines[0] and any("2026-01 ..." in x for x in lines)
