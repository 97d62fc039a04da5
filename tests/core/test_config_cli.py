"""Configuration errors name the key; the CLI fails clearly on bad arguments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from plantstream.config import Secret, config_hash, load_plant
from plantstream.devstack.plant import demo_plant
from plantstream.edge.config import load_edge_config
from plantstream.errors import ConfigError

SAMPLE = Path(__file__).resolve().parents[2] / "edge" / "sources" / "simulator" / "sample.toml"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "plantstream.cli", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_unknown_key_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "plant.toml"
    path.write_text('[enterprise]\nid = "e"\nname = "E"\n[[sites]]\nid = "s"\ntimezon = "UTC"\n'
                    "lines = []\ngateways = []\nmachines = []\n")
    with pytest.raises(ConfigError) as info:
        load_plant(path)
    assert info.value.key == "sites[0].timezon"


def test_machine_on_unknown_line_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "plant.toml"
    path.write_text('[enterprise]\nid = "e"\nname = "E"\n[[sites]]\nid = "s"\n'
                    '[[lines]]\nid = "l1"\nsite = "s"\n[[gateways]]\nid = "g"\nsite = "s"\n'
                    '[[machines]]\nid = "m"\nline = "l2"\ngateway = "g"\n')
    with pytest.raises(ConfigError, match="unknown line 'l2'") as info:
        load_plant(path)
    assert info.value.key == "machines[0].line"


def test_edge_flush_interval_must_divide_a_minute(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text('[gateway]\nid = "g"\nsite = "s"\nflush_interval_s = 7\n[mqtt]\n'
                    + SAMPLE.read_text())
    with pytest.raises(ConfigError) as info:
        load_edge_config(path)
    assert info.value.key == "gateway.flush_interval_s"


def test_secrets_never_show() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret) and "hunter2" not in f"{secret}"
    assert secret.reveal() == "hunter2"


def test_config_hash_is_stable_and_sensitive() -> None:
    plant, _ = demo_plant(6)
    again, _ = demo_plant(6)
    other, _ = demo_plant(7)
    assert config_hash(plant) == config_hash(again) != config_hash(other)


def test_cli_help_on_every_subcommand() -> None:
    for args in (["--help"], ["demo", "--help"], ["edge", "run", "--help"],
                 ["edge", "check", "--help"], ["ingest", "run", "--help"],
                 ["ingest", "check", "--help"]):
        result = _cli(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert "usage: plantstream" in result.stdout


def test_cli_rejects_wrong_arguments_clearly(tmp_path: Path) -> None:
    result = _cli("demo", "--duration", "-5")
    assert result.returncode == 2 and "must be positive" in result.stderr
    result = _cli("edge", "run", "--config", str(tmp_path / "missing.toml"))
    assert result.returncode == 2 and "file not found" in result.stderr
    result = _cli("frobnicate")
    assert result.returncode == 2 and "invalid choice" in result.stderr
    result = _cli("bench", "ingest", "--max-messages", "20000")  # the worker's own bound
    assert result.returncode == 2 and "must be at most 10000" in result.stderr
    result = _cli("bench", "ingest", "--workers", "0")
    assert result.returncode == 2 and "must be 1 or more" in result.stderr


def test_edge_check_reports_an_unreachable_broker(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text('[gateway]\nid = "g"\nsite = "s"\n[mqtt]\nport = 1\nkeepalive_s = 5\n'
                    + SAMPLE.read_text())
    result = _cli("edge", "check", "--config", str(path))
    assert result.returncode == 1
    assert "config  ok" in result.stdout and "broker  FAIL" in result.stdout


@pytest.mark.parametrize(("old", "new"), [
    (["report", "energy", "--site", "s"], ["reports", "energy", "--site", "s"]),
    (["-v", "ingest", "rollup", "--once"], ["-v", "rollups", "kpi", "--once"]),
    (["reports", "rollup", "--site", "s"], ["rollups", "energy", "--site", "s"]),
    (["reports", "dual-control"], ["rollups", "dual-control"]),
    (["reports", "serve"], ["reports", "serve"]),
    (["ingest", "run", "--config", "rollup"], ["ingest", "run", "--config", "rollup"]),
])
def test_old_command_spellings_are_aliases_with_a_notice(
        old: list[str], new: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from plantstream.cli import resolve_alias

    assert resolve_alias(old) == new
    notice = capsys.readouterr().err
    assert ("deprecated" in notice) == (old != new)


def test_an_old_spelling_runs_the_new_command(capsys: pytest.CaptureFixture[str]) -> None:
    from plantstream.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["ingest", "rollup", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr()
    assert "plantstream rollups kpi" in out.out and "deprecated" in out.err
