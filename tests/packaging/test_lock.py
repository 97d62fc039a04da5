"""The virtualenv is exactly the lock: what the tests ran against is what a newcomer gets."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK_LINE = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)\s*(?:;\s*([^#]+?))?\s*(?:#.*)?$")
NOT_LOCKED = {"plantstream", "pip"}  # the project itself; the venv's own installer


def _lock(name: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements" / f"{name}.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = LOCK_LINE.match(line)
        assert match, f"requirements/{name}.txt: not an exact pin: {line!r}"
        package, version, marker = match.groups()
        if marker is None or Marker(marker).evaluate():
            pins[canonicalize_name(package)] = version
    return pins


def test_every_lock_pins_exact_versions_and_nests() -> None:
    edge, server, dev = _lock("edge"), _lock("server"), _lock("dev")
    edge_full = _lock("edge-full")  # a gateway with S7 PLCs or Sparkplug B nodes
    assert edge and server and dev
    assert set(edge_full) - set(edge) == {"python-snap7", "protobuf"}
    for smaller, larger in ((edge, server), (server, dev), (edge, edge_full),
                            (edge_full, dev)):
        for package, version in smaller.items():  # one resolution across install sets
            assert larger.get(package) == version, (package, version, larger.get(package))
    assert not {"numpy", "numba", "llvmlite", "fastapi", "influxdb-client"} & set(edge)


def test_the_virtualenv_is_the_dev_lock() -> None:
    pins = _lock("dev")
    installed = {canonicalize_name(d.metadata["Name"]): d.version
                 for d in metadata.distributions()}
    drift = {name: (version, pins.get(name)) for name, version in installed.items()
             if name not in NOT_LOCKED and pins.get(name) != version}
    missing = set(pins) - set(installed)
    assert not drift, f"installed (version, locked) differ from requirements/dev.txt: {drift}"
    assert not missing, f"locked but not installed: {sorted(missing)}"
