"""One message catalogue: every marked user-facing string has a zh-CN entry, every entry
is still used, and placeholders survive translation."""

from __future__ import annotations

import re

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
