"""`pip install .[edge]` into an empty virtualenv: the agent runs, no numpy, no numba."""

from __future__ import annotations

import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_edge_extra_installs_without_server_dependencies(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".venv-peers", ".git", "build", ".plantstream", "*.egg-info", "__pycache__",
        ".*_cache"))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"{source}[edge]"],
        capture_output=True, text=True, timeout=600, check=False)
    assert install.returncode == 0, install.stderr[-2000:]
    installed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"],
                               capture_output=True, text=True, check=True).stdout.lower()
    for server_only in ("numpy", "numba", "influxdb-client", "fastapi", "matplotlib"):
        assert f"{server_only}==" not in installed, server_only
    assert "aiomqtt==" in installed and "plantstream==" in installed
    probe = ("import sys, plantstream.edge.agent, plantstream.edge.cli; "
             "assert 'numpy' not in sys.modules and 'numba' not in sys.modules; print('ok')")
    result = subprocess.run([str(python), "-c", probe], capture_output=True, text=True,
                            cwd=tmp_path, check=False)
    assert result.stdout.strip() == "ok", result.stderr
    cli = subprocess.run([str(env_dir / "bin" / "plantstream"), "edge", "check", "--help"],
                         capture_output=True, text=True, cwd=tmp_path, check=False)
    assert cli.returncode == 0 and "--config" in cli.stdout
