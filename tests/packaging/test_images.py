"""Each image is built from exactly what its Dockerfile copies out of the build context
its .dockerignore lets through, and the one list of package folders agrees with both.

No container engine runs here, so the build is simulated: the context is filtered as
Docker filters it, the Dockerfile's COPY lines are applied, the package is installed
the way the Dockerfile installs it (lock first, then the package without dependencies)
and its CLI is imported. The edge image's context holds no server package.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
FOLDERS: dict[str, str] = tomllib.loads(
    (ROOT / "pyproject.toml").read_text())["tool"]["plantstream"]["packages"]
# what each image holds of the package folders (dev tooling stays out of both)
IMAGE_FOLDERS = {
    "edge": {"core", "edge"},
    "server": set(FOLDERS) - {"devstack", "bench"},
}


def _context(role: str) -> list[str]:
    """Files of the repository that Docker sends as the build context (git-tracked
    files stand in for the working tree), filtered by the role's .dockerignore."""
    rules = [line.strip() for line in
             (DOCKER / f"{role}.Dockerfile.dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    sent = []
    for path in tracked:
        included = False
        for rule in rules:  # the last matching rule wins, as in Docker
            negate = rule.startswith("!")
            pattern = rule.lstrip("!").rstrip("/")
            pattern = pattern.removeprefix("**/")
            hit = (fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/")
                   or any(fnmatch.fnmatch(part, pattern) for part in path.split("/")))
            if hit:
                included = negate
        if included:
            sent.append(path)
    return sent


def _build_stage(role: str) -> list[tuple[str, str]]:
    """The (source, destination) of each COPY from the context into /src."""
    text = (DOCKER / f"{role}.Dockerfile").read_text()
    stage = text.split("\nFROM ")[1]  # the build stage: from the first FROM to the next
    return re.findall(r"^COPY (?!--)(\S+(?: \S+)*) (\S+)$", stage, re.M)


def _simulated_build_dir(role: str, tmp_path: Path) -> Path:
    context = set(_context(role))
    src = tmp_path / "src"
    src.mkdir()
    for sources, dest in _build_stage(role):
        for source in sources.split():
            files = [p for p in context if p == source or p.startswith(source + "/")]
            assert files, f"{role}.Dockerfile copies {source}, which the context lacks"
            if dest.startswith("/"):
                continue  # the lock, copied outside the source tree
            for file in files:
                inside = Path(file) if dest in ("./", ".") else (
                    Path(dest) / Path(file).relative_to(source))
                (src / inside).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / file, src / inside)
    return src


def _wheel(src: Path, out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(out), str(src)],
                   check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = out.glob("plantstream-*.whl")
    return wheel


@pytest.mark.parametrize("role", ["edge", "server"])
def test_image_copies_exactly_its_package_folders(role: str) -> None:
    copied = {source for sources, _ in _build_stage(role) for source in sources.split()}
    assert copied & set(FOLDERS) == IMAGE_FOLDERS[role], (
        f"{role}.Dockerfile copies {sorted(copied & set(FOLDERS))}; "
        f"expected {sorted(IMAGE_FOLDERS[role])}")
    assert f"requirements/{role}.txt" in copied
    sent_folders = {path.split("/")[0] for path in _context(role)} & set(FOLDERS)
    assert sent_folders == IMAGE_FOLDERS[role], f"{role} .dockerignore sends {sent_folders}"


@pytest.mark.parametrize("role", ["edge", "server"])
def test_image_build_tools_are_the_locked_ones(role: str) -> None:
    locked = dict(re.findall(r"^(setuptools|wheel)==(\S+)", (ROOT / "requirements" /
                                                             "dev.txt").read_text(), re.M))
    dockerfile = (DOCKER / f"{role}.Dockerfile").read_text()
    for tool, version in locked.items():
        assert f"{tool}=={version}" in dockerfile, f"{role}.Dockerfile: {tool} != lock"


@pytest.mark.slow
def test_server_image_builds_and_runs_its_cli(tmp_path: Path) -> None:
    wheel = _wheel(_simulated_build_dir("server", tmp_path), tmp_path / "dist")
    packages = {name.split("/")[1] for name in zipfile.ZipFile(wheel).namelist()
                if name.startswith("plantstream/") and name.count("/") >= 2}
    expected = {FOLDERS[f].split(".")[1] for f in IMAGE_FOLDERS["server"] if f != "core"}
    assert expected <= packages and not {"devstack", "bench"} & packages, packages
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, timeout=300)
    probe = ("import plantstream, sys; from plantstream.cli import main; "
             f"assert plantstream.__file__.startswith({str(target)!r}), plantstream.__file__; "
             "sys.exit(main(['reports', 'schema']))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(target)},
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"$schema"' in result.stdout or '"properties"' in result.stdout


@pytest.mark.slow
def test_edge_image_builds_from_the_lock_without_server_dependencies(tmp_path: Path) -> None:
    src = _simulated_build_dir("edge", tmp_path)
    assert {p.name for p in src.iterdir() if p.is_dir()} == {"core", "edge"}
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q"]
    tools = re.findall(r"pip install (setuptools==\S+ wheel==\S+)",
                       (DOCKER / "edge.Dockerfile").read_text())[0].split()
    for step in (["-r", str(ROOT / "requirements" / "edge.txt"), *tools],
                 ["--no-deps", "--no-build-isolation", str(src)]):
        install = subprocess.run([*pip, *step], capture_output=True, text=True, timeout=600,
                                 check=False)
        assert install.returncode == 0, install.stderr[-2000:]
    python = str(env_dir / "bin" / "python")
    probe = ("import importlib.util as u, sys, plantstream.edge.agent, plantstream.edge.cli; "
             "bad = [m for m in ('numpy', 'numba', 'influxdb_client', 'fastapi', 'matplotlib',"
             " 'plantstream.analytics', 'plantstream.ingest', 'plantstream.store') "
             "if u.find_spec(m)]; "
             "assert not bad, bad; assert 'numpy' not in sys.modules; print('ok')")
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True,
                            cwd=tmp_path, check=False)
    assert result.stdout.strip() == "ok", result.stderr
    cli = subprocess.run([str(env_dir / "bin" / "plantstream"), "edge", "check", "--help"],
                         capture_output=True, text=True, cwd=tmp_path, check=False)
    assert cli.returncode == 0 and "--config" in cli.stdout, cli.stderr
    unavailable = subprocess.run([str(env_dir / "bin" / "plantstream"), "reports", "serve"],
                                 capture_output=True, text=True, cwd=tmp_path, check=False)
    assert unavailable.returncode == 2 and "plantstream[server]" in unavailable.stderr
