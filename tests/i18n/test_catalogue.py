"""One message catalogue: every marked user-facing string has a zh-CN entry, every entry
is still used, and placeholders survive translation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from plantstream.i18n import (
    LOCALE_DIR,
    catalogue,
    date_label,
    format_number,
    month_label,
    negotiate,
    parse_lang,
    translator,
)
from plantstream.i18n.extract import USER_FACING, marked_messages

PLACEHOLDER = re.compile(r"\{[^{}]*\}")
CJK = re.compile(r"[\u3400-\u9fff]")


def test_user_facing_folders_are_packages() -> None:
    import tomllib

    from plantstream.i18n.extract import SOURCE_ROOT

    folders = tomllib.loads((SOURCE_ROOT / "pyproject.toml").read_text())["tool"][
        "plantstream"]["packages"]
    assert set(USER_FACING) <= set(folders)


def test_every_marked_string_has_a_chinese_translation() -> None:
    table = catalogue("zh-CN")
    missing = {m: where for m, where in marked_messages().items() if m not in table}
    assert not missing, "no zh-CN entry in " + str(LOCALE_DIR) + ":\n" + "\n".join(
        f"  {where}: {m!r}" for m, where in sorted(missing.items(), key=lambda i: i[1]))


def test_every_catalogue_entry_is_used_and_keeps_its_placeholders() -> None:
    marked = marked_messages()
    table = catalogue("zh-CN")
    unused = sorted(set(table) - set(marked))
    assert not unused, f"catalogue entries no code marks (remove them): {unused}"
    for message, translation in table.items():
        assert sorted(PLACEHOLDER.findall(message)) == sorted(PLACEHOLDER.findall(translation)), (
            message, translation)
        assert CJK.search(translation) or not re.search("[A-Za-z]{3,}", message), (
            f"{message!r} is 'translated' without Chinese: {translation!r}")


def test_languages_and_formats() -> None:
    assert parse_lang("zh_CN") == parse_lang("ZH-cn") == parse_lang("zh-Hans") == "zh-CN"
    with pytest.raises(ValueError, match="unsupported language"):
        parse_lang("fr")
    assert negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert negotiate("fr, en;q=0.5, zh;q=0.7") == "zh-CN"
    assert negotiate("fr") == "en" and negotiate(None) == "en" and negotiate("zh;q=0") == "en"
    assert month_label(2026, 10, "zh-CN") == "2026年10月"
    assert month_label(2026, 10, "en") == "2026-10"
    import datetime as dt

    assert date_label(dt.date(2026, 10, 5), "zh-CN") == "2026年10月5日"
    assert format_number(1234567.891, "zh-CN") == "1,234,567.89"
    assert translator("en")("Energy report") == "Energy report"


def test_marks_inside_f_strings_are_found(tmp_path: Path) -> None:
    """Babel's extractor does not look inside f-strings on Python 3.11; the catalogue
    upkeep does (the dashboards' column aliases are marked there)."""
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "x.py").write_text(
        "def f(_):\n"
        "    return (_(\"plain\"), f'SELECT a AS \"{_(\"in an f-string\")}\"',\n"
        "            f\"{_('single quoted')} and {x!r}\", '_(\"not a call\")')\n")
    for folder in USER_FACING[1:]:
        (tmp_path / folder).mkdir()
    found = marked_messages(tmp_path)
    assert set(found) == {"plain", "in an f-string", "single quoted"}
    assert found["in an f-string"] == "reports/x.py:2"


def test_report_labels_in_both_languages() -> None:
    import datetime as dt

    from plantstream.reports.labels import (
        basis_label,
        data_source_label,
        field_label,
        level_label,
        period_label,
    )

    assert level_label("red", "en") == "RED" and level_label("red", "zh-CN") == "红"
    assert [level_label(x, "zh-CN") for x in ("green", "yellow", "orange")] == ["绿", "黄", "橙"]
    assert basis_label("equivalent", "zh-CN") == "当量值"
    assert basis_label("table 2026.1 (equal_value)", "zh-CN") == \
        "系数表 2026.1，等价值（按发电煤耗）"
    assert basis_label("table 2026.1", "en") == "table 2026.1"
    q4 = (dt.date(2026, 10, 1), dt.date(2027, 1, 1))
    assert period_label("quarter", *q4, "zh-CN") == "2026年第4季度"
    assert period_label("custom", dt.date(2026, 10, 1), dt.date(2026, 10, 16), "zh-CN") == \
        "2026年10月1日 至 2026年10月15日"
    assert field_label("energy.carriers[natural_gas].kgce", "zh-CN") == \
        "能源消费 / 分品种 / 天然气 / 折标准煤量（千克标准煤）"
    assert field_label("products[P-100].grades.2", "en") == \
        "products / P-100 / limit grades, kgce per unit / 2"
    assert data_source_label("energy, production (raw batch points)", "zh-CN") == \
        "energy, production（原始批次数据点）"
