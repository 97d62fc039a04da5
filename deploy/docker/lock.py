"""Pin an extra of plantstream to the exact versions installed in this environment.

    .venv/bin/python deploy/docker/lock.py edge   > deploy/docker/requirements-edge.txt
    .venv/bin/python deploy/docker/lock.py server > deploy/docker/requirements-server.txt

Walks the installed distributions' metadata from `plantstream[EXTRA]` (markers evaluated
for Linux, CPython 3.11, the container's platform), so the images install exactly
what the test suite ran against, with `==` pins, and nothing the extra does not need.
"""

from __future__ import annotations

import sys
from importlib import metadata

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

TARGET = {**default_environment(), "sys_platform": "linux", "platform_system": "Linux",
          "os_name": "posix", "python_version": "3.11", "implementation_name": "cpython",
          "platform_python_implementation": "CPython"}


def closure(root: str, extras: set[str]) -> dict[str, str]:
    pins: dict[str, str] = {}
    todo: list[tuple[str, set[str]]] = [(root, extras)]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, wanted = todo.pop()
        key = (canonicalize_name(name), frozenset(wanted))
        if key in seen:
            continue
        seen.add(key)
        dist = metadata.distribution(name)
        if canonicalize_name(name) != canonicalize_name(root):
            pins[dist.metadata["Name"]] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker and not any(
                    req.marker.evaluate({**TARGET, "extra": e}) for e in (wanted or {""})):
                continue
            todo.append((req.name, set(req.extras)))
    return pins


def main(extra: str) -> int:
    pins = closure("plantstream", {extra})
    print(f"# plantstream[{extra}]: exact pins from the tested environment;"
          f" regenerate with deploy/docker/lock.py {extra}")
    for name in sorted(pins, key=str.lower):
        print(f"{name}=={pins[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
